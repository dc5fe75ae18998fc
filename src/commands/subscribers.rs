//! `newsroom subscribers …`: the store's subscribers, by hand.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Out, print_json};
use crate::cli::{ListFormat, SubscribersCommand};
use newsroom::error::UsageError;
use newsroom::site::Site;
use newsroom::store::subscribers::Added;
use newsroom::store::{Store, SubscriberStatus};
use newsroom::subscribers::normalise_address;

/// How many addresses of one kind an import names before "and N more".
const SHOWN: usize = 20;

pub fn run(out: &mut Out, site: &Site, command: SubscribersCommand, now: DateTime<Utc>) -> Result<ExitCode> {
    let (store, notices) = Store::for_site(site)?;
    for notice in notices {
        writeln!(std::io::stderr(), "note: {notice}")?;
    }
    let address = |text: &str| normalise_address(text).map_err(UsageError::Argument);
    match command {
        SubscribersCommand::List { status, format } => {
            let status = status.as_deref().and_then(SubscriberStatus::parse);
            let subscribers = store.subscribers(status)?;
            match format {
                ListFormat::Json => print_json(out, &subscribers)?,
                ListFormat::Csv => {
                    let mut writer = csv::Writer::from_writer(&mut *out);
                    writer.write_record(["email", "name", "status", "source", "changed_at"])?;
                    for s in &subscribers {
                        let name = s.name.as_deref().unwrap_or("");
                        writer.write_record([&s.address, name, s.status.as_str(), s.source.as_str(), &s.changed_at])?;
                    }
                    writer.flush()?;
                }
                ListFormat::Table => {
                    for s in &subscribers {
                        let name = s.name.as_deref().unwrap_or("");
                        writeln!(
                            out,
                            "{:<40} {:<12} {:<4} {:<24} {name}",
                            s.address,
                            s.status,
                            s.source.as_str(),
                            s.changed_at
                        )?;
                    }
                    writeln!(out, "{} subscriber(s)", subscribers.len())?;
                }
            }
        }
        SubscribersCommand::Add { address: text, name, resubscribe } => {
            let (subscriber, added) = store.add(&address(&text)?, name.as_deref(), resubscribe, now)?;
            let said = match added {
                Added::New => "added".to_string(),
                Added::AlreadySubscribed => "was subscribed already".to_string(),
                Added::Resubscribed => "resubscribed (recorded as an event)".to_string(),
                Added::Subscribed => "subscribed".to_string(),
                Added::KeptOptedOut(status) => {
                    writeln!(
                        out,
                        "{} is {status}: add --resubscribe to undo that, only if they asked",
                        subscriber.address
                    )?;
                    return Ok(ExitCode::from(1));
                }
            };
            writeln!(out, "{}: {said}", subscriber.address)?;
        }
        SubscribersCommand::Remove { address: text } => {
            let address = address(&text)?;
            if !store.remove(&address, now)? {
                writeln!(out, "{address} is not in the store")?;
                return Ok(ExitCode::from(1));
            }
            let status = store.subscriber(&address)?.map(|s| s.status.to_string()).unwrap_or_default();
            writeln!(out, "{address}: {status}")?;
        }
        SubscribersCommand::Import { file, dry_run } => {
            let report = store.import(&file, &file, dry_run, now)?;
            return print_import(out, &file, dry_run, &report);
        }
        SubscribersCommand::Export { file } => {
            let count = match &file {
                Some(path) => {
                    let written = std::fs::File::create(path)?;
                    store.export(written)?
                }
                None => store.export(&mut *out)?,
            };
            if let Some(path) = file {
                writeln!(std::io::stderr(), "exported {count} subscriber(s) to {}", path.display())?;
            }
        }
        SubscribersCommand::Show { address: text } => {
            let address = address(&text)?;
            let Some(subscriber) = store.subscriber(&address)? else {
                writeln!(out, "{address} is not in the store")?;
                return Ok(ExitCode::from(1));
            };
            writeln!(out, "address:   {}", subscriber.address)?;
            writeln!(out, "name:      {}", subscriber.name.as_deref().unwrap_or(""))?;
            writeln!(out, "status:    {}", subscriber.status)?;
            writeln!(out, "source:    {}", subscriber.source.as_str())?;
            writeln!(out, "created:   {}", subscriber.created_at)?;
            writeln!(out, "confirmed: {}", subscriber.confirmed_at.as_deref().unwrap_or(""))?;
            writeln!(out, "changed:   {}", subscriber.changed_at)?;
            for (column, value) in &subscriber.attributes {
                writeln!(out, "{column}: {value}")?;
            }
            writeln!(out, "history:")?;
            for event in store.events(subscriber.id)? {
                let channel = event.channel.map(|c| format!(" ({})", c.as_str())).unwrap_or_default();
                let digest = event.digest_id.map(|d| format!(" [{d}]")).unwrap_or_default();
                let detail = event.detail.map(|d| format!(": {d}")).unwrap_or_default();
                writeln!(out, "  {} {}{channel}{digest}{detail}", event.at, event.kind.as_str())?;
            }
        }
        SubscribersCommand::Forget { address: text } => {
            let address = address(&text)?;
            let known = store.forget(&address, now)?;
            let what = if known { "erased" } else { "was not in the store; recorded" };
            writeln!(
                out,
                "{address} {what}: no subscriber, name, history or delivery row is kept; a keyed hash of the address is, so that no import brings it back"
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What an import did, or would do: counts, then the addresses and rows
/// that need a look. Exit 1 when rows were invalid.
fn print_import(
    out: &mut Out,
    file: &Path,
    dry_run: bool,
    report: &newsroom::store::import::ImportReport,
) -> Result<ExitCode> {
    let mut stderr = std::io::stderr().lock();
    for diagnostic in report.diagnostics.iter().filter(|d| d.line <= 1) {
        writeln!(stderr, "{diagnostic}")?;
    }
    let verb = if dry_run { "would change" } else { "changed" };
    writeln!(out, "{} {verb}: {}", file.display(), report.changes().unwrap_or_else(|| "nothing".into()))?;
    let named = |out: &mut Out, what: &str, addresses: Vec<String>| -> Result<()> {
        if addresses.is_empty() {
            return Ok(());
        }
        writeln!(out, "{what}:")?;
        for address in addresses.iter().take(SHOWN) {
            writeln!(out, "  {address}")?;
        }
        if addresses.len() > SHOWN {
            writeln!(out, "  … and {} more", addresses.len() - SHOWN)?;
        }
        Ok(())
    };
    named(out, "added", report.added.clone())?;
    named(out, "updated", report.updated.clone())?;
    named(out, "status changed", report.status_changed.iter().map(|(a, s)| format!("{a}: now {s}")).collect())?;
    named(out, "removed (no longer in the file)", report.removed.clone())?;
    named(
        out,
        "kept opted out (only `subscribers add --resubscribe` undoes an opt-out)",
        report.kept_opted_out.iter().map(|(a, s)| format!("{a}: {s}")).collect(),
    )?;
    named(out, "kept pending (not confirmed yet)", report.kept_pending.clone())?;
    named(out, "forgotten on request, not imported", report.forgotten.iter().map(|l| format!("line {l}")).collect())?;
    named(
        out,
        "rows skipped",
        report.skipped.iter().map(|row| format!("line {}: {}", row.line, row.reason)).collect(),
    )?;
    let invalid = report.skipped.iter().any(|row| !row.reason.starts_with("duplicate"));
    Ok(if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
