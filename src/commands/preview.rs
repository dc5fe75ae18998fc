//! `newsroom digest preview`: the dry run, with the opt-outs the ledger holds.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Out, digest_month, nothing_to_send};
use crate::cli::PreviewArgs;
use newsroom::delivery::ledger::Ledger;
use newsroom::digest::preview;
use newsroom::site::Site;
use newsroom::subscribers::{Subscriber, matching_key};

/// Writes the preview, then says what it wrote and every problem.
pub fn run(out: &mut Out, site: &Site, args: PreviewArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let month = digest_month(args.month.month.as_deref(), now)?;
    let dir = args.out.unwrap_or_else(|| site.root.join("preview"));
    // What `send` will skip, the preview skips too: the ledger's opt-outs.
    let suppressions = Ledger::suppressions_at(&site.ledger_path())?;
    let suppressed = |subscriber: &Subscriber| {
        suppressions.get(&matching_key(&subscriber.email)).map(|suppression| {
            format!("suppressed in the ledger: {} since {}", suppression.reason, suppression.created_at)
        })
    };
    let report = preview::preview(site, month, &dir, now, &suppressed)?;
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &report.diagnostics {
        writeln!(stderr, "{diagnostic}")?;
    }
    for warning in &report.warnings {
        writeln!(stderr, "warning: {warning}")?;
    }
    match &report.dir {
        None => writeln!(out, "{}", nothing_to_send(month, &report.scheduled, "nothing to send, nothing written"))?,
        Some(dir) => writeln!(
            out,
            "previewed the {} digest ({} post(s)) in {}: {} message(s), {} subscriber row(s) skipped (see manifest.csv)",
            month.label(),
            report.posts,
            dir.display(),
            report.messages,
            report.skipped
        )?,
    }
    let failed = report.diagnostics.iter().any(|d| d.is_error());
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
