//! `newsroom store migrate` and `newsroom store copy`: the store itself.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;

use super::Out;
use crate::cli::StoreCommand;
use newsroom::error::UsageError;
use newsroom::site::{Site, StoreLocation, postgres_url};
use newsroom::store::{Session, Store, copy};

pub fn run(out: &mut Out, site: &Site, command: StoreCommand) -> Result<ExitCode> {
    match command {
        StoreCommand::Migrate { check } => migrate(out, site, check),
        StoreCommand::Copy { from, to } => copy(out, &from, &to),
    }
}

fn migrate(out: &mut Out, site: &Site, check: bool) -> Result<ExitCode> {
    let location = site.store_location();
    let before = Store::schema_version_at(&location)?;
    let current = Store::SCHEMA_VERSION;
    let shown = describe(&location);
    if check {
        return Ok(match before {
            Some(version) if version >= current => {
                writeln!(out, "store {shown}: schema version {version}, up to date")?;
                ExitCode::SUCCESS
            }
            Some(version) => {
                writeln!(out, "store {shown}: schema version {version}; migrations to {current} are due")?;
                ExitCode::FAILURE
            }
            None => {
                writeln!(
                    out,
                    "store {shown}: not created yet; `newsroom store migrate` creates it at version {current}"
                )?;
                ExitCode::FAILURE
            }
        });
    }
    let session = Session::open(site)?;
    for notice in session.notices {
        eprintln!("note: {notice}");
    }
    match before {
        Some(version) if version == current => writeln!(out, "store {shown}: schema version {current}, up to date")?,
        Some(version) => writeln!(out, "store {shown}: schema version {current} (was {version})")?,
        None => writeln!(out, "store {shown}: created at schema version {current}")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn copy(out: &mut Out, from: &str, to: &str) -> Result<ExitCode> {
    let (from, to) = (location(from), location(to));
    if from == to {
        return Err(UsageError::Argument(format!("--from and --to are the same store ({})", describe(&from))).into());
    }
    if let StoreLocation::File(path) = &from
        && !path.is_file()
    {
        return Err(UsageError::Argument(format!("--from: no store at `{}`", path.display())).into());
    }
    let source = Store::open_at(&from)?;
    let destination = Store::open_at(&to)?;
    let report = copy::copy(&source, &destination).map_err(|error| UsageError::Argument(format!("{error:#}")))?;
    writeln!(out, "copied {} to {}:", describe(&from), describe(&to))?;
    for (table, rows) in &report.tables {
        writeln!(out, "  {table}: {rows}")?;
    }
    writeln!(out, "new subscribers' ids start after {}", report.highest_subscriber_id)?;
    Ok(ExitCode::SUCCESS)
}

/// A store named on the command line: a postgres:// URL, or a SQLite file
/// (relative to the current folder, as a shell user means it).
fn location(text: &str) -> StoreLocation {
    match postgres_url(text) {
        Some(url) => StoreLocation::Postgres(url),
        None => StoreLocation::File(PathBuf::from(text)),
    }
}

fn describe(location: &StoreLocation) -> String {
    match location {
        StoreLocation::File(path) => format!("`{}`", path.display()),
        StoreLocation::Postgres(url) => format!("`{}`", newsroom::store::db::redact(url)),
    }
}
