//! "The limit": the least work a build of these posts needs, as a floor for `newsroom build`.
//!
//! `cargo run --release --example limit -- POSTS_DIR` walks POSTS_DIR for .md/.mdx files and,
//! on all cores, reads each one, splits off the `---` front matter, parses it with serde_yaml
//! into a `Value` and renders the body to HTML with pulldown-cmark. It prints the number of
//! posts and the total HTML bytes (so the work cannot be optimised away). Nothing else.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use pulldown_cmark::{Options, Parser, html};
use rayon::prelude::*;
use walkdir::WalkDir;

/// The same allocator as newsroom, so the comparison is of the work, not of the allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    let Some(dir) = std::env::args().nth(1) else { bail!("usage: limit POSTS_DIR") };
    let files: Vec<PathBuf> = WalkDir::new(&dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .filter(|p| matches!(p.extension().and_then(|x| x.to_str()), Some("md" | "mdx")))
        .collect();

    let options =
        Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let total: usize = files
        .par_iter()
        .map(|path| -> Result<usize> {
            let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let (front, body) = split_front_matter(&text);
            let mut bytes = 0;
            if let Some(front) = front {
                // A post whose front matter does not parse still gets rendered.
                if let Ok(v) = serde_yaml::from_str::<serde_yaml::Value>(front) {
                    bytes += usize::from(!v.is_null());
                }
            }
            let mut out = String::with_capacity(body.len() * 3 / 2);
            html::push_html(&mut out, Parser::new_ext(body, options));
            Ok(bytes + out.len())
        })
        .try_reduce(|| 0, |a, b| Ok(a + b))?;
    println!("{} posts, {} HTML bytes", files.len(), total);
    Ok(())
}

/// Splits `---\n<yaml>\n---\n<body>`; without an opening `---` line the whole text is the body.
fn split_front_matter(text: &str) -> (Option<&str>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(rest) = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n")) else {
        return (None, text);
    };
    let mut pos = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            return (Some(&rest[..pos]), &rest[pos + line.len()..]);
        }
        pos += line.len();
    }
    (None, text)
}
