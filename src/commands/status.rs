//! `newsroom digest status`: the store's delivery counts, most common failures,
//! and the addresses in a state when asked.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Out, digest_edition, print_json};
use crate::cli::StatusArgs;
use newsroom::delivery;
use newsroom::site::{Site, StoreLocation};
use newsroom::store::State;

pub fn run(out: &mut Out, site: &Site, args: StatusArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let edition = digest_edition(&args.month, site, now)?;
    let list = args.list.as_deref().map(|state| State::parse(state).expect("clap allows only states"));
    let report = delivery::status(site, &edition, list)?;
    if args.json.json {
        print_json(out, &report)?;
    } else {
        print_status(out, site, &report, list)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `digest status` as lines: counts, the most common failures, and the
/// rows asked for with `--list`.
fn print_status(out: &mut Out, site: &Site, report: &delivery::StatusReport, list: Option<State>) -> Result<()> {
    if !report.frozen {
        let why = match site.store_location() {
            StoreLocation::File(path) if !path.exists() => {
                format!("no store at {} (nothing has been sent)", path.display())
            }
            _ => "not sent yet".to_string(),
        };
        writeln!(out, "{}: {why}", report.digest_id)?;
        return print_unverified(out, report);
    }
    writeln!(out, "{}: {} recipients", report.digest_id, report.recipients)?;
    for count in &report.counts {
        let label = if count.state == "sending" { "sending (in doubt if no send is running)" } else { count.state };
        writeln!(out, "  {label}: {}", count.count)?;
    }
    if let Some(frozen_at) = &report.frozen_at {
        let unfinished = if report.unfinished {
            ", before its month ended (sent with --unfinished: posts dated after that are in no digest)"
        } else {
            ""
        };
        writeln!(out, "first sent {frozen_at}{unfinished}")?;
    }
    if !report.returned.is_empty() {
        let counts: Vec<String> = report.returned.iter().map(|r| format!("{} {}", r.count, r.kind.as_str())).collect();
        writeln!(out, "returned mail (bounces and complaints): {}", counts.join(", "))?;
    }
    if !report.common_failures.is_empty() {
        writeln!(out, "most common failures:")?;
        for failure in &report.common_failures {
            writeln!(out, "  {} {}: {}", failure.count, failure.state, failure.reply)?;
        }
    }
    match list {
        Some(state) => {
            writeln!(out, "{} ({}):", state.as_str(), report.rows.len())?;
            for row in &report.rows {
                writeln!(
                    out,
                    "  {} ({} attempt(s)): {}",
                    row.address,
                    row.attempts,
                    row.reply.as_deref().unwrap_or("")
                )?;
            }
        }
        None if report.recipients > 0 => {
            writeln!(out, "(--list STATE lists the addresses in a state; --json gives everything as JSON)")?
        }
        None => {}
    }
    print_unverified(out, report)
}

/// The requests `inbound` did not act on, newest first: the operator's to judge.
fn print_unverified(out: &mut Out, report: &delivery::StatusReport) -> Result<()> {
    if report.unverified_total == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "unverified requests, not acted on ({}; `newsroom unsubscribe ADDRESS` acts on one you know to be the reader's):",
        report.unverified_total
    )?;
    for request in &report.unverified {
        writeln!(out, "  {} {}: {}", request.at, request.class, request.why)?;
    }
    if report.unverified_total > report.unverified.len() {
        writeln!(out, "  … and {} older", report.unverified_total - report.unverified.len())?;
    }
    Ok(())
}
