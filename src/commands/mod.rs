//! The commands: each one file, a short list of stage calls, and the only
//! place that prints. Standard output goes through [`Out`], whose writes
//! return errors instead of panicking: `newsroom digest status | head`
//! ends with exit status 0 when `head` closes the pipe, as ripgrep does.

mod build;
mod check;
mod inbound;
mod init;
mod preview;
mod reference;
mod send;
mod serve;
mod status;
mod store;
mod subscribers;
mod unsubscribe;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::cli::{Cli, Command, DigestCommand};
use newsroom::diagnostics::Diagnostic;
use newsroom::digest::Month;
use newsroom::edition::{Cadence, Edition};
use newsroom::error::UsageError;
use newsroom::site::Site;

/// Standard output, locked, for one command's report.
pub type Out = std::io::StdoutLock<'static>;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let now = newsroom::clock::now()?;
    let mut out = std::io::stdout().lock();
    // Commands that need no site folder.
    match &cli.command {
        Command::Init(args) => return init::run(&mut out, args.dir.as_deref().unwrap_or(&cli.site_dir), args, now),
        Command::Completions { shell } => return reference::completions(&mut out, *shell),
        Command::Secret => {
            let secret = newsroom::email::message::new_secret()
                .map_err(|e| anyhow::anyhow!("the system gave no randomness for a secret: {e}"))?;
            writeln!(out, "{secret}")?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { out: dir } => return reference::man(&mut out, dir.as_deref()),
        _ => {}
    }
    let json = match &cli.command {
        Command::Check(args) => args.json,
        Command::Build(args) => args.json.json,
        Command::Digest(DigestCommand::Status(args)) => args.json.json,
        _ => false,
    };
    let site = match Site::open(&cli.site_dir) {
        Ok(site) => site,
        // In JSON the configuration's problems are a report like any other.
        Err(problems) if json => {
            let diagnostics: Vec<Diagnostic> = problems.0.iter().map(|p| p.to_diagnostic()).collect();
            print_json(&mut out, &Problems::new(diagnostics, problems.0.len()))?;
            return Ok(ExitCode::from(2));
        }
        Err(problems) => return Err(problems.into()),
    };
    // Settings with a new name: `check` lists them with every other
    // problem; the other commands say so on standard error and go on.
    if !matches!(cli.command, Command::Check(_)) {
        for deprecated in site.deprecations() {
            eprintln!("{deprecated}");
        }
    }
    match cli.command {
        Command::Build(args) => build::run(&mut out, &site, args, now),
        Command::Check(args) => check::run(&mut out, &site, args.json, now),
        Command::Digest(DigestCommand::Preview(args)) => preview::run(&mut out, &site, args, now),
        Command::Digest(DigestCommand::Send(args)) => send::run(&mut out, &site, args, now),
        Command::Digest(DigestCommand::Status(args)) => status::run(&mut out, &site, args, now),
        Command::Unsubscribe { address } => unsubscribe::run(&mut out, &site, &address, now),
        Command::Subscribers(command) => subscribers::run(&mut out, &site, command, now),
        Command::Serve(args) => serve::run(&mut out, &site, args),
        Command::Inbound(args) => inbound::run(&mut out, &site, args, now),
        Command::Store(command) => store::run(&mut out, &site, command),
        Command::Init(_) | Command::Completions { .. } | Command::Man { .. } | Command::Secret => {
            unreachable!("handled above")
        }
    }
}

/// The part of every `--json` report that lists problems: each with its
/// place, and the counts. A configuration that cannot be read gives this alone.
#[derive(Serialize)]
pub struct Problems {
    errors: usize,
    warnings: usize,
    configuration_errors: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Problems {
    pub fn new(diagnostics: Vec<Diagnostic>, configuration_errors: usize) -> Problems {
        let (errors, warnings) = newsroom::diagnostics::counts(&diagnostics);
        Problems { errors, warnings, configuration_errors, diagnostics }
    }
}

pub fn print_json(out: &mut Out, report: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// What merging the site's subscriber file found wrong with it, to
/// standard error, one `path:line:col: severity: message` a line as
/// `check` prints them: every command that merges the file says so, so a
/// row the merge could not read is never a silent absence from the list.
pub fn print_merge_problems(merged: &newsroom::store::import::ImportReport) -> Result<()> {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &merged.diagnostics {
        writeln!(stderr, "{diagnostic}")?;
    }
    Ok(())
}

/// The edition a digest command is about: `--edition`, `--month` (a
/// monthly one), or the latest of the site's cadence whose period has
/// ended (`digest.send_at`): for the monthly default, the previous month;
/// for `per_post`, the latest post's. A malformed name is a usage error
/// (exit status 2).
pub fn digest_edition(chosen: &crate::cli::MonthArg, site: &Site, now: DateTime<Utc>) -> Result<Edition> {
    let usage = |message: String| anyhow::Error::from(UsageError::Argument(message));
    let edition = match (chosen.edition.as_deref(), chosen.month.as_deref()) {
        (Some(name), _) => Edition::parse(name).map_err(usage)?,
        (None, Some(month)) => Edition::monthly(month.parse().map_err(usage)?),
        (None, None) => {
            let editions = &site.config.digest.editions;
            let latest = match editions.cadence() {
                // A per-post site's latest edition is its latest post's.
                Cadence::PerPost => newsroom::digest::assemble::latest_post_edition(site, now)?,
                cadence => Edition::last_ended(cadence, now, &editions.send_at, editions.week_starts),
            };
            latest.unwrap_or_else(|| Edition::monthly(Month::previous(now)))
        }
    };
    Ok(edition)
}

/// What to say of an edition without posts to send: scheduled ones, or none.
pub fn nothing_to_send(edition: &Edition, scheduled: &newsroom::content::Scheduled, what: &str) -> String {
    let (label, path) = (edition.label(), edition.web_path());
    if scheduled.count > 0 {
        format!("no posts published in {label} ({path}) yet: {scheduled}; {what}")
    } else {
        format!("no posts in {label} ({path}): {what}")
    }
}
