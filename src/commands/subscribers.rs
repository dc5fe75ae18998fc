//! `newsroom subscribers …`: the store's subscribers, by hand.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use super::{Out, print_json, print_merge_problems};
use crate::cli::{ListFormat, SubscribersCommand};
use newsroom::error::UsageError;
use newsroom::site::Site;
use newsroom::store::import::Sample;
use newsroom::store::subscribers::Added;
use newsroom::store::{EventKind, Session, Store, SubscriberStatus};
use newsroom::subscriber::{matching_key, normalise_address};
use newsroom::subscribers::{Row, shield_cell};

/// How many addresses of one kind an import names before "and N more".
const SHOWN: usize = 20;

pub fn run(out: &mut Out, site: &Site, command: SubscribersCommand, now: DateTime<Utc>) -> Result<ExitCode> {
    // The site's list, merged first as `send` would: what these commands
    // see and change is the list the next send mails.
    let reading = matches!(
        command,
        SubscribersCommand::List { .. } | SubscribersCommand::Show { .. } | SubscribersCommand::Export { .. }
    );
    if reading {
        // Nothing is written: the merge is rolled back, and a site with no
        // store yet gets none.
        let session = Session::open_to_read(site)?;
        return session.with_list_merged(now, |store, merged| {
            print_merge_problems(&merged)?;
            read(out, site, store, command)
        });
    }
    let session = Session::open(site)?;
    let mut stderr = std::io::stderr().lock();
    for notice in &session.notices {
        writeln!(stderr, "note: {notice}")?;
    }
    // Not before importing that same file, nor before a dry run (which
    // changes nothing).
    let list = session.list();
    let skip = matches!(&command, SubscribersCommand::Import { file, dry_run } if *dry_run || list.as_ref().is_some_and(|(list, _)| site.root.join(file) == *list));
    if !skip && let Some(merged) = session.merge_list(now)? {
        print_merge_problems(&merged)?;
        if let Some(changes) = merged.changes() {
            writeln!(stderr, "note: {} merged first: {changes}", site.config.digest.subscribers_path().display())?;
        }
    }
    drop(stderr);
    change(out, site, session.store(), command, now)
}

/// `list`, `show`, `export`.
fn read(out: &mut Out, site: &Site, store: &Store, command: SubscribersCommand) -> Result<ExitCode> {
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
                    // Shielded as `export` shields: a spreadsheet may open this too.
                    for s in &subscribers {
                        let (address, name) = (shield_cell(&s.address), shield_cell(s.name.as_deref().unwrap_or("")));
                        writer.write_record([
                            &*address,
                            &*name,
                            s.status.as_str(),
                            s.source.as_str(),
                            &s.changed_at,
                        ])?;
                    }
                    writer.flush()?;
                }
                ListFormat::Table => {
                    let width = subscribers.iter().map(|s| s.address.chars().count()).max().unwrap_or(0).max(7);
                    writeln!(out, "{:<width$}  {:<12}  {:<6}  {:<24}  NAME", "ADDRESS", "STATUS", "SOURCE", "CHANGED")?;
                    for s in &subscribers {
                        let name = s.name.as_deref().unwrap_or("");
                        writeln!(
                            out,
                            "{:<width$}  {:<12}  {:<6}  {:<24}  {name}",
                            s.address,
                            s.status.as_str(),
                            s.source.as_str(),
                            s.changed_at
                        )?;
                    }
                    writeln!(out, "{} subscriber(s)", subscribers.len())?;
                }
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
            if !subscriber.attributes.is_empty() {
                writeln!(out, "attributes:")?;
                for (column, value) in &subscriber.attributes {
                    writeln!(out, "  {column}: {value}")?;
                }
            }
            let events = store.events(subscriber.id)?;
            // Returned mail, by the event it made (bounced: the one that changed the status).
            let returned: Vec<String> =
                [EventKind::Bounced, EventKind::HardBounce, EventKind::SoftBounce, EventKind::Complained]
                    .into_iter()
                    .map(|kind| format!("{} {}", events.iter().filter(|e| e.kind == kind).count(), kind.as_str()))
                    .collect();
            writeln!(out, "returned:  {}", returned.join(", "))?;
            writeln!(out, "history:")?;
            for event in events {
                let channel = event.channel.map(|c| format!(" ({})", c.as_str())).unwrap_or_default();
                let digest = event.digest_id.map(|d| format!(" [{d}]")).unwrap_or_default();
                let detail = event.detail.map(|d| format!(": {d}")).unwrap_or_default();
                writeln!(out, "  {} {}{channel}{digest}{detail}", event.at, event.kind.as_str())?;
            }
        }
        SubscribersCommand::Export { file, raw } => {
            let count = match &file {
                Some(path) => {
                    let path = site.root.join(path);
                    let written = std::fs::File::create(&path)
                        .with_context(|| format!("failed to create `{}`", path.display()))?;
                    store.export(written, raw)?
                }
                None => store.export(&mut *out, raw)?,
            };
            if let Some(path) = file {
                writeln!(std::io::stderr(), "exported {count} subscriber(s) to {}", path.display())?;
            }
        }
        _ => unreachable!("the commands that change the store are in `change`"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `add`, `remove`, `import`, `forget`.
fn change(
    out: &mut Out,
    site: &Site,
    store: &Store,
    command: SubscribersCommand,
    now: DateTime<Utc>,
) -> Result<ExitCode> {
    let address = |text: &str| normalise_address(text).map_err(UsageError::Argument);
    match command {
        SubscribersCommand::Add { address: text, name, resubscribe } => {
            // As a subscriber file's name is read: one line, and not longer
            // than a header can carry.
            let name = name.as_deref().and_then(|name| newsroom::subscriber::clean_name(name).0);
            if let Some(long) = name.as_deref().filter(|name| newsroom::subscriber::capped_name(name).1) {
                return Err(UsageError::Argument(format!(
                    "--name is {} characters long; a name may have at most {}",
                    long.chars().count(),
                    newsroom::subscriber::MAX_NAME_CHARS
                ))
                .into());
            }
            let (subscriber, added) = store.add(&address(&text)?, name.as_deref(), resubscribe, now)?;
            let said = match added {
                Added::New => "added".to_string(),
                Added::AlreadySubscribed => "was subscribed already".to_string(),
                Added::Resubscribed => "resubscribed (recorded as an event)".to_string(),
                Added::Subscribed => "subscribed".to_string(),
                Added::KeptOptedOut(status) => {
                    return Err(UsageError::Argument(format!(
                        "{} is {status}: nothing changed; `--resubscribe` undoes an opt-out, only when the reader asked for it",
                        subscriber.address
                    ))
                    .into());
                }
            };
            writeln!(out, "{}: {said}", subscriber.address)?;
        }
        SubscribersCommand::Remove { address: text } => {
            let address = address(&text)?;
            // The site's list is merged before every send: a row it still
            // has would add the address back. The row is what to delete.
            if let Some(list) = site.subscriber_list().filter(|list| list.is_file()) {
                let key = matching_key(&address);
                let mut listed = None;
                newsroom::subscribers::for_each_row(newsroom::subscribers::open(&list)?, &list, |row| {
                    if let Row::Subscriber(row, _) = row
                        && listed.is_none()
                        && matching_key(&row.email) == key
                    {
                        listed = Some(row.line);
                    }
                });
                if let Some(line) = listed {
                    return Err(UsageError::Argument(format!(
                        "{address} is on line {line} of {}, which every send merges: delete that row (the next merge removes it), or run `newsroom unsubscribe {address}` if the reader asked to stop",
                        list.strip_prefix(&site.root).unwrap_or(&list).display()
                    ))
                    .into());
                }
            }
            if !store.remove(&address, now)? {
                writeln!(out, "{address} is not in the store")?;
                return Ok(ExitCode::from(1));
            }
            let status = store.subscriber(&address)?.map(|s| s.status.to_string()).unwrap_or_default();
            writeln!(out, "{address}: {status}")?;
        }
        SubscribersCommand::Import { file, dry_run } => {
            let report = store.import(&site.root.join(&file), &file, dry_run, now)?;
            return print_import(out, &file, dry_run, &report);
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
        _ => unreachable!("the commands that read the store are in `read`"),
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
    // Each row it could not read is listed below; the file's own problems
    // (its header) and every warning go to standard error, as `check` says them.
    let mut stderr = std::io::stderr().lock();
    for diagnostic in report.diagnostics.iter().filter(|d| d.line <= 1 || !d.is_error()) {
        writeln!(stderr, "{diagnostic}")?;
    }
    let verb = if dry_run { "would change" } else { "changed" };
    let left_alone = report.left_alone().map(|rows| format!("; {rows}")).unwrap_or_default();
    writeln!(out, "{} {verb}: {}{left_alone}", file.display(), report.changes().unwrap_or_else(|| "nothing".into()))?;
    let named = |out: &mut Out, what: &str, (addresses, total): (Vec<String>, usize)| -> Result<()> {
        if total == 0 {
            return Ok(());
        }
        writeln!(out, "{what}:")?;
        for address in addresses.iter().take(SHOWN) {
            writeln!(out, "  {address}")?;
        }
        if total > SHOWN {
            writeln!(out, "  … and {} more", total - SHOWN)?;
        }
        Ok(())
    };
    let sample = |sample: &Sample<String>| (sample.iter().take(SHOWN).cloned().collect(), sample.len());
    let with_status = |sample: &Sample<(String, SubscriberStatus)>, how: &str| {
        (sample.iter().take(SHOWN).map(|(a, s)| format!("{a}: {how}{s}")).collect(), sample.len())
    };
    named(out, "added", sample(&report.added))?;
    named(out, "updated", sample(&report.updated))?;
    named(out, "status changed", with_status(&report.status_changed, "now "))?;
    named(out, "removed (no longer in the file)", sample(&report.removed))?;
    named(
        out,
        "kept opted out (only `subscribers add --resubscribe` undoes an opt-out)",
        with_status(&report.kept_opted_out, ""),
    )?;
    named(out, "kept pending (not confirmed yet)", sample(&report.kept_pending))?;
    let all = |lines: Vec<String>| {
        let total = lines.len();
        (lines, total)
    };
    named(
        out,
        "forgotten on request, not imported",
        all(report.forgotten.iter().map(|l| format!("line {l}")).collect()),
    )?;
    named(
        out,
        "rows skipped",
        all(report.skipped.iter().map(|row| format!("line {}: {}", row.line, row.reason)).collect()),
    )?;
    let invalid = report.skipped.iter().any(|row| !row.reason.starts_with("duplicate"));
    Ok(if invalid { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
