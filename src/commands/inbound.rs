//! `newsroom inbound`: read returned mail, record what it says, and say
//! what became of each message.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Out;
use crate::cli::InboundArgs;
use newsroom::email::message::{SECRET_FOR_INBOUND, SecretPolicy, UnsubscribeSecret};
use newsroom::inbound::mailbox::{self, Body, Incoming, OVERSIZED_FOLDER, UNRECOGNISED_FOLDER};
use newsroom::inbound::{self, Intake, MAX_MESSAGE_BYTES, Outcome};
use newsroom::site::Site;
use newsroom::store::inbound::Applied;
use newsroom::store::{Session, Store};

/// sysexits.h's EX_TEMPFAIL: an MTA keeps the message and tries again.
const EX_TEMPFAIL: u8 = 75;
/// sysexits.h's EX_DATAERR: the MTA returns the message to its sender
/// (a bounce of a bounce goes nowhere). A message over the limit will
/// never fit, so it is not one to retry.
const EX_DATAERR: u8 = 65;

pub fn run(out: &mut Out, site: &Site, args: InboundArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let secret = UnsubscribeSecret::from_env(SecretPolicy::Required(SECRET_FOR_INBOUND))?.into_bytes();
    let intake = Intake::new(&site.config, secret);
    let from_stdin = args.stdin.is_some();
    let session = match Session::open(site) {
        Ok(session) => session,
        Err(error) if from_stdin => {
            eprintln!("error: {error:#}\nthe message was not recorded; the MTA keeps it and tries again");
            return Ok(ExitCode::from(EX_TEMPFAIL));
        }
        Err(error) => return Err(error),
    };
    let maildir = args.maildir.as_ref().map(|dir| site.root.join(dir));
    // One message at a time, whatever the source: memory holds one message.
    let messages: Box<dyn Iterator<Item = Result<Incoming>>> = match (&maildir, &args.mbox) {
        (Some(dir), _) => {
            Box::new(mailbox::maildir(dir)?.into_iter().map(|path| mailbox::maildir_message(&path, MAX_MESSAGE_BYTES)))
        }
        (_, Some(file)) => Box::new(mailbox::mbox(&site.root.join(file), MAX_MESSAGE_BYTES)?),
        _ => {
            let incoming = mailbox::stdin(MAX_MESSAGE_BYTES)?;
            if let Body::Oversized(size) = incoming.body {
                eprintln!(
                    "error: standard input: a message of {size} bytes, more than the {} MiB a returned message may have; \
                     none of it was kept, and the MTA returns it (exit {EX_DATAERR}, EX_DATAERR)",
                    MAX_MESSAGE_BYTES >> 20
                );
                return Ok(ExitCode::from(EX_DATAERR));
            }
            Box::new(std::iter::once(Ok(incoming)))
        }
    };
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = 0;
    let mut read = 0;
    // The site's subscriber file, merged the first time a message names an
    // address the store does not hold ([`inbound::handle_merging`]).
    let mut merged = false;
    let mut merge = |_: &Store| -> Result<bool> {
        if std::mem::replace(&mut merged, true) {
            return Ok(false);
        }
        match session.merge_list(now)? {
            Some(report) => {
                super::print_merge_problems(&report)?;
                Ok(true)
            }
            None => Ok(false),
        }
    };
    for incoming in messages {
        read += 1;
        let incoming = match incoming {
            Ok(incoming) => incoming,
            Err(error) => {
                eprintln!("error: {error:#}; left in place");
                failed += 1;
                // An mbox that cannot be read further gives nothing more.
                if args.mbox.is_some() {
                    break;
                }
                continue;
            }
        };
        let raw = match &incoming.body {
            Body::Read(raw) => raw,
            Body::Oversized(size) => {
                let moved = match (&maildir, &incoming.path) {
                    (Some(dir), Some(path)) => match mailbox::move_to_folder(dir, OVERSIZED_FOLDER, path) {
                        Ok(_) => format!("moved to {OVERSIZED_FOLDER} unread"),
                        Err(error) => {
                            eprintln!("error: {}: {error:#}", incoming.name);
                            failed += 1;
                            "left in place unread".to_string()
                        }
                    },
                    _ => "skipped unread".to_string(),
                };
                *counts.entry("oversized (not read)".into()).or_default() += 1;
                writeln!(
                    out,
                    "{}: oversized, {moved}: {size} bytes, more than the {} MiB a returned message may have",
                    incoming.name,
                    MAX_MESSAGE_BYTES >> 20
                )?;
                continue;
            }
        };
        let outcome = match inbound::handle_merging(session.store(), &intake, raw, now, &mut merge) {
            Ok(outcome) => outcome,
            Err(error) if from_stdin => {
                eprintln!(
                    "error: {}: {error:#}\nthe message was not recorded; the MTA keeps it and tries again",
                    incoming.name
                );
                return Ok(ExitCode::from(EX_TEMPFAIL));
            }
            Err(error) => {
                eprintln!("error: {}: {error:#}; left in place", incoming.name);
                failed += 1;
                continue;
            }
        };
        let mut line = describe(&outcome);
        let mut label = label(&outcome);
        match (&outcome, &maildir, &incoming.path) {
            // Recorded (committed above): now it may leave the inbox.
            (Outcome::Handled { .. }, Some(dir), Some(path)) => {
                if let Err(error) = mailbox::move_to_done(dir, path) {
                    eprintln!("error: {}: recorded, but {error:#}; the next run moves it", incoming.name);
                    failed += 1;
                }
            }
            // Read once: the next run does not read it again.
            (Outcome::Unrecognised(why), Some(dir), Some(path)) => {
                match mailbox::move_to_folder(dir, UNRECOGNISED_FOLDER, path) {
                    Ok(_) => {
                        line = format!("unrecognised, moved to {UNRECOGNISED_FOLDER}: {why}");
                        label = format!("unrecognised (moved to {UNRECOGNISED_FOLDER})");
                    }
                    Err(error) => {
                        eprintln!("error: {}: {error:#}", incoming.name);
                        failed += 1;
                    }
                }
            }
            (Outcome::Unrecognised(_), None, _) if from_stdin => keep_unrecognised(site, raw)?,
            _ => {}
        }
        *counts.entry(label).or_default() += 1;
        writeln!(out, "{}: {line}", incoming.name)?;
    }
    let summary: Vec<String> = counts.iter().map(|(label, count)| format!("{count} {label}")).collect();
    writeln!(
        out,
        "inbound: {read} message{}{}{}",
        if read == 1 { "" } else { "s" },
        if summary.is_empty() { String::new() } else { format!(": {}", summary.join(", ")) },
        if failed > 0 { format!("; {failed} could not be handled") } else { String::new() }
    )?;
    if counts.keys().any(|label| label.starts_with("unverified")) {
        writeln!(
            out,
            "note: unverified requests change nothing; `digest status` lists them. Act on one with `newsroom unsubscribe ADDRESS` once you know it is the reader's"
        )?;
    }
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// An unrecognised message from a pipe has nowhere to stay: it is kept in
/// a Maildir beside the store, durably, before the MTA is told it is done.
fn keep_unrecognised(site: &Site, raw: &[u8]) -> Result<()> {
    let store = site.store_path();
    let dir = store.parent().unwrap_or(&site.root).join("inbound-unrecognised");
    let kept = mailbox::deliver(&dir, raw)?;
    eprintln!("note: the unrecognised message is kept as `{}`", kept.display());
    Ok(())
}

fn label(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Handled { applied: Applied::AlreadyHandled, .. } => "handled before".into(),
        Outcome::Handled { class, applied: Applied::Unverified(_), .. } => {
            format!("unverified {} (not acted on)", class.as_str())
        }
        Outcome::Handled { class, .. } => class.as_str().into(),
        Outcome::Unrecognised(_) => "unrecognised (left in place)".into(),
    }
}

/// One line for a message: what it is, about whom, and what changed.
fn describe(outcome: &Outcome) -> String {
    let (class, status, detail, attribution, applied) = match outcome {
        Outcome::Handled { class, status, detail, attribution, applied } => {
            (class, status, detail, attribution, applied)
        }
        Outcome::Unrecognised(why) => return format!("unrecognised, left in place: {why}"),
    };
    let mut line = class.as_str().to_string();
    if let Some(status) = status {
        line.push_str(&format!(" {status}"));
    }
    match (&attribution.address, attribution.by) {
        (Some(address), Some(by)) => line.push_str(&format!(" of {address} (found by {by})")),
        (Some(address), None) => line.push_str(&format!(" of {address}, not a subscriber")),
        (None, _) => line.push_str(", names no subscriber"),
    }
    let effect = match applied {
        Applied::AlreadyHandled => "handled before: nothing changed".to_string(),
        Applied::StatusChanged(status) => format!("now {status}"),
        Applied::Recorded { bounces: Some(count) } => format!("recorded (bounce {count} under the policy)"),
        Applied::Recorded { bounces: None } => "recorded".to_string(),
        Applied::Nothing => "nothing to change".to_string(),
        Applied::Unverified(why) => {
            // The record names the address; the line has it already.
            let why = attribution.address.as_ref().and_then(|a| why.strip_prefix(&format!("{a}: "))).unwrap_or(why);
            format!("unverified, not acted on: {why}")
        }
    };
    line.push_str(&format!(": {effect}"));
    if !detail.is_empty() {
        line.push_str(&format!(" — {detail}"));
    }
    line
}
