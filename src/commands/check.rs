//! `newsroom check`: every problem, printed; nothing written.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Out, Problems, print_json};
use newsroom::check;
use newsroom::content::Scheduled;
use newsroom::site::Site;

pub fn run(out: &mut Out, site: &Site, json: bool, now: DateTime<Utc>) -> Result<ExitCode> {
    let report = check::check(site, now)?;
    let code = if report.configuration_errors > 0 {
        ExitCode::from(2)
    } else if report.errors() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        /// `check --json`: every problem, the posts read and those scheduled.
        #[derive(Serialize)]
        struct CheckJson<'a> {
            posts: usize,
            scheduled: &'a Scheduled,
            #[serde(flatten)]
            problems: Problems,
        }
        let problems = Problems::new(report.diagnostics.clone(), report.configuration_errors);
        print_json(out, &CheckJson { posts: report.posts, scheduled: &report.scheduled, problems })?;
        return Ok(code);
    }
    for diagnostic in &report.diagnostics {
        writeln!(out, "{diagnostic}")?;
    }
    if report.scheduled.count > 0 {
        writeln!(out, "{}", report.scheduled)?;
    }
    for (name, value) in &report.dkim_records {
        writeln!(
            out,
            "DKIM: publish this TXT record (split into strings of 255 characters if your DNS host asks):\n  {name}. IN TXT \"{value}\""
        )?;
    }
    writeln!(out, "{} error(s), {} warning(s)", report.errors(), report.warnings())?;
    Ok(code)
}
