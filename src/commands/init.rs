//! `newsroom init [DIR]`: a starter site, and the commands to run next.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Out;
use crate::cli::InitArgs;
use newsroom::digest::Month;

pub fn run(out: &mut Out, dir: &Path, args: &InitArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let written = newsroom::init::init(dir, &args.title, &args.url, now)?;
    writeln!(out, "created a newsroom site in {}:", dir.display())?;
    for file in &written {
        writeln!(out, "  {}", file.display())?;
    }
    let cd = if dir == Path::new(".") { String::new() } else { format!("  cd {}\n", dir.display()) };
    write!(
        out,
        "\nnext:\n{cd}  newsroom check                      # every problem, before anything is published\n  \
         newsroom build                      # the feeds, into public/\n  \
         newsroom digest preview --month {}  # last month's digest (the example post) as files, in preview/\n\
         Before `newsroom digest send`, set digest.from, digest.postal_address and\n\
         digest.unsubscribe_url in newsroom.yaml. (`cargo install --path .` in\n\
         newsroom's repository puts `newsroom` on your PATH.)\n",
        Month::previous(now)
    )?;
    Ok(ExitCode::SUCCESS)
}
