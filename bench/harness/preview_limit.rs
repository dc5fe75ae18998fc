//! The limit `newsroom digest preview` is measured against (bench/preview.sh):
//! writing the same number of files of the same size, with the same names,
//! into a fresh folder on every core (as preview does, with rayon), plus a
//! manifest line per file. It renders nothing and personalises nothing, so
//! `(preview - limit) / N` is what building each message costs on top of
//! the file system.
//!
//! `preview_limit MESSAGE_FILE OUT_DIR N`: OUT_DIR must not exist.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        bail!("usage: preview_limit MESSAGE_FILE OUT_DIR N");
    }
    let bytes = fs::read(&args[0]).with_context(|| format!("reading {}", args[0]))?;
    let out = PathBuf::from(&args[1]);
    let n: usize = args[2].parse().context("N must be a number")?;
    let messages = out.join("messages");
    fs::create_dir_all(&messages)?;
    (1..=n).into_par_iter().try_for_each(|i| {
        let path = messages.join(format!("{i:05}-sub{i:06}@example.org.eml"));
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))
    })?;
    let mut manifest = std::io::BufWriter::new(fs::File::create(out.join("manifest.csv"))?);
    for i in 1..=n {
        writeln!(manifest, "sub{i:06}@example.org,ready,<digest-2026-10.{i:032x}@news.example.org>,{},", bytes.len())?;
    }
    manifest.flush()?;
    Ok(())
}
