//! `newsroom build`: build the site's output, then say what was written
//! and what went wrong.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Out, Problems, print_json};
use crate::cli::BuildArgs;
use newsroom::build::{self, BuildOptions};
use newsroom::content::Scheduled;
use newsroom::digest::assemble::NOT_IN_ANY_DIGEST;
use newsroom::site::Site;

pub fn run(out: &mut Out, site: &Site, args: BuildArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let options = BuildOptions { out_dir: args.out.map(|out| site.root.join(out)), keep_going: args.keep_going };
    let report = build::build(site, &options, now)?;
    let code = if !report.written || !report.skipped.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS };
    if args.json.json {
        /// `build --json`: what was written, and every problem.
        #[derive(Serialize)]
        struct BuildJson<'a> {
            written: bool,
            out_dir: &'a Path,
            listed_posts: usize,
            feed_sets: usize,
            digest_archives: usize,
            digest_archives_kept: usize,
            assets_copied: usize,
            assets_reused: usize,
            skipped: &'a [std::path::PathBuf],
            scheduled: &'a Scheduled,
            #[serde(flatten)]
            problems: Problems,
        }
        let json = BuildJson {
            written: report.written,
            out_dir: &report.out_dir,
            listed_posts: report.listed_posts,
            feed_sets: report.feed_sets,
            digest_archives: report.digest_archives,
            digest_archives_kept: report.digest_archives_kept,
            assets_copied: report.assets_copied,
            assets_reused: report.assets_reused,
            skipped: &report.skipped,
            scheduled: &report.scheduled,
            problems: Problems::new(report.diagnostics.clone(), 0),
        };
        print_json(out, &json)?;
        return Ok(code);
    }
    let mut stderr = std::io::stderr().lock();
    for diagnostic in report.diagnostics.iter().filter(|d| d.is_error()) {
        writeln!(stderr, "{diagnostic}")?;
    }
    if !report.written {
        writeln!(
            stderr,
            "build stopped: {} error(s) in {} post(s); nothing was written (fix them, or use --keep-going to skip those posts)",
            report.errors(),
            report.skipped.len()
        )?;
        return Ok(code);
    }
    for skipped in &report.skipped {
        writeln!(stderr, "skipped {}", skipped.display())?;
    }
    // A post no digest will carry is said here, not left to `check`: the
    // operator who builds may never run it, and the post would reach no
    // reader by email, silently.
    let left_out: Vec<_> = report.diagnostics.iter().filter(|d| d.message.ends_with(NOT_IN_ANY_DIGEST)).collect();
    for diagnostic in &left_out {
        writeln!(stderr, "{diagnostic}")?;
    }
    let others = report.warnings() - left_out.len();
    if others > 0 {
        writeln!(stderr, "{others} warning(s); run `newsroom check` to see them")?;
    }
    writeln!(
        out,
        "built {} post(s) into {}: {} feed set(s), {} digest archive page(s){}, {} file(s) copied{}{}{}",
        report.listed_posts,
        report.out_dir.display(),
        report.feed_sets,
        report.digest_archives,
        if report.digest_archives_kept == 0 {
            String::new()
        } else {
            format!(" ({} unchanged, kept from the previous build)", report.digest_archives_kept)
        },
        report.assets_copied,
        if report.assets_reused == 0 {
            String::new()
        } else {
            format!(", {} unchanged file(s) kept from the previous build", report.assets_reused)
        },
        if report.skipped.is_empty() { String::new() } else { format!(", {} post(s) skipped", report.skipped.len()) },
        if report.scheduled.count == 0 { String::new() } else { format!("; {}", report.scheduled) },
    )?;
    Ok(code)
}
