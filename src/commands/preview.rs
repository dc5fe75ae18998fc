//! `newsroom digest preview`: the dry run, over the store with the
//! subscriber file merged as a send would merge it, nothing saved.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Out, digest_edition, nothing_to_send};
use crate::cli::PreviewArgs;
use newsroom::digest::assemble::Selection;
use newsroom::digest::preview;
use newsroom::site::{Input, Site};
use newsroom::store::Session;

/// Writes the preview, then says what it wrote and every problem.
pub fn run(out: &mut Out, site: &Site, args: PreviewArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let edition = digest_edition(&args.month, site, now)?;
    let dir = site.root.join(args.out.unwrap_or_else(|| "preview".into()));
    if site.config.digest.subscribers.is_some() {
        site.require(&[Input::Subscribers])?;
    }
    // The store as a send will find it; without one yet, one in memory, so
    // that a preview creates nothing.
    let session = Session::open_to_read(site)?;
    let store = session.store();
    let view = session.view_list(now)?;
    // What a send would carry now: a digest being sent, the posts its
    // first send recorded; one not sent yet, those its cadence passed over too.
    let report = preview::preview(site, &edition, &dir, now, &view, &Selection::of_store(store, &edition)?)?;
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &report.diagnostics {
        writeln!(stderr, "{diagnostic}")?;
    }
    for warning in &report.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    match &report.dir {
        None => writeln!(out, "{}", nothing_to_send(&edition, &report.scheduled, "nothing to send, nothing written"))?,
        Some(dir) => writeln!(
            out,
            "previewed the {} digest ({} post(s)) in {}: {} message(s), {} subscriber row(s) skipped (see manifest.csv)",
            edition.label(),
            report.posts,
            dir.display(),
            report.messages,
            report.skipped
        )?,
    }
    let failed = report.diagnostics.iter().any(|d| d.is_error());
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
