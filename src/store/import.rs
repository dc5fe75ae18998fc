//! A subscriber file merged into the store, and the store written out as
//! one. The CSV stays a first-class input: the list a site names
//! (`digest.subscribers`) is merged before each preview and send, and any
//! file with `newsroom subscribers import`.
//!
//! The rules ([`decide`]): a new row is added; names and other columns
//! follow the file where it has a value (an empty cell, or a column the
//! file does not have, leaves what the store holds); an opt-out the file says (`unsubscribed`, `bounced`) is
//! applied; an opt-out the store holds is never undone by a row (only
//! `subscribers add --resubscribe` does that); a pending sign-up stays
//! pending until its reader confirms; a subscriber who came from this file
//! and whose row is gone is `removed`; one who signed up on the web or was
//! added by hand is never removed by a file; a forgotten address is not
//! brought back. Every status change is recorded with its event.
//!
//! Rows are read as a stream and merged 500 at a time (one query looks a
//! chunk up, one statement adds its new subscribers and one their
//! events), so a file of a million rows needs memory for a chunk and for
//! each address's key and line ([`Seen`]), by which duplicates are found.
//!
//! A merge that writes commits in batches of about [`BATCH`]: an import
//! of a million rows takes seconds, and the web writer of `serve` (a
//! one-click unsubscribe, a sign-up) must not wait for all of it; on
//! SQLite each commit is followed by a short pause in which a waiting
//! writer takes the lock (the store's busy handler polls every
//! millisecond). What a batch committed stays if the process dies: the
//! merge rules make a second run finish the work without doing any of
//! it twice, and nobody is removed before the whole file has been read.
//! A dry run and the merged views (`preview`, `subscribers list`) stay one
//! transaction, rolled back.
//!
//! Longer than the house's ~600 lines on purpose: the merge's batches,
//! its rules and the rolled-back views share one transaction discipline,
//! which is what makes a second run finish the first one's work.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::db::{Backend, Param, numbered, params, values};
use super::seen::Seen;
use super::subscribers::{
    COLUMN_COUNT, COLUMNS, Channel, Event, EventKind, Source, SubscriberRecord, encode_attributes, record_all,
    set_status,
};
use super::{Store, SubscriberStatus, timestamp};
use crate::diagnostics::Diagnostic;
use crate::subscriber::{Subscriber, matching_key};
use crate::subscribers::{self, EXPORT_COLUMNS, Row, SkippedRow, shield_cell};

/// Rows merged at a time: one query looks them up and one statement adds
/// the new ones, instead of three round trips a row (20,000 new rows took
/// 3.5 s a row at a time on PostgreSQL on the same machine).
const CHUNK: usize = 500;

/// How long a merge's batch holds the store's write lock before it
/// commits and lets other writers in.
const BATCH: std::time::Duration = std::time::Duration::from_millis(50);

/// The store's subscribers of a file read back at a time, to find those
/// whose row is gone.
const PAGE: usize = 10_000;

/// Whether a merge commits as it goes ([`BATCH`]) or is one transaction
/// its caller ends (a dry run, a view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commits {
    Batched,
    Caller,
}

/// How many of each kind of row an [`ImportReport`] names; beyond them it
/// counts. A million new rows named one by one took 60 MB, for a command
/// that prints the first 20.
pub const NAMED: usize = 10_000;

/// A list a report names: the first [`NAMED`], and how many in all.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample<T> {
    first: Vec<T>,
    total: usize,
}

impl<T> Default for Sample<T> {
    fn default() -> Self {
        Sample { first: Vec::new(), total: 0 }
    }
}

impl<T> Sample<T> {
    pub fn push(&mut self, item: T) {
        if self.first.len() < NAMED {
            self.first.push(item);
        }
        self.total += 1;
    }

    /// How many in all, named or only counted.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The ones named: the first [`NAMED`].
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.first.iter()
    }
}

impl<T> Extend<T> for Sample<T> {
    fn extend<I: IntoIterator<Item = T>>(&mut self, items: I) {
        for item in items {
            self.push(item);
        }
    }
}

impl<T> std::ops::Index<usize> for Sample<T> {
    type Output = T;
    fn index(&self, index: usize) -> &T {
        &self.first[index]
    }
}

/// A sample equals a list when it names all of it.
impl<T: PartialEq<U>, U, const N: usize> PartialEq<[U; N]> for Sample<T> {
    fn eq(&self, other: &[U; N]) -> bool {
        self.total == N && self.first.iter().zip(other).all(|(a, b)| a == b)
    }
}

/// What a merge did (or, with `dry_run`, would do), row by row.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ImportReport {
    /// New subscribers.
    pub added: Sample<String>,
    /// Known subscribers whose name or other columns changed.
    pub updated: Sample<String>,
    /// Status changes the file made (an opt-out it says, a removed row back), with the new status.
    pub status_changed: Sample<(String, SubscriberStatus)>,
    /// Subscribers of this file whose row is gone: removed.
    pub removed: Sample<String>,
    /// Rows saying `subscribed` for an opt-out the store holds: left opted out.
    pub kept_opted_out: Sample<(String, SubscriberStatus)>,
    /// Rows for a sign-up not confirmed yet: left pending.
    pub kept_pending: Sample<String>,
    /// Rows of addresses forgotten on request: not brought back.
    pub forgotten: Vec<usize>,
    /// Rows that changed nothing.
    pub unchanged: usize,
    /// Rows that are not subscribers (invalid, empty, duplicates), with their line.
    pub skipped: Vec<SkippedRow>,
    /// Every problem, with its place in the file.
    #[serde(skip)]
    pub diagnostics: Vec<Diagnostic>,
}

impl ImportReport {
    /// `2 added, 1 updated, 1 removed (no longer in the file)`: what the
    /// merge changed, or `None` when it changed nothing.
    pub fn changes(&self) -> Option<String> {
        summary(&[
            (self.added.len(), "added"),
            (self.updated.len(), "updated"),
            (self.status_changed.len(), "opted out or back by the file"),
            (self.removed.len(), "removed (no longer in the file)"),
        ])
    }

    /// `3 kept opted out, 1 invalid row skipped`: the rows the merge did
    /// not take as they were written, or `None`.
    pub fn left_alone(&self) -> Option<String> {
        let invalid = self.skipped.iter().filter(|row| !row.reason.starts_with("duplicate")).count();
        let duplicates = self.skipped.len() - invalid;
        summary(&[
            (self.kept_opted_out.len(), "kept opted out"),
            (self.kept_pending.len(), "kept pending"),
            (self.forgotten.len(), "forgotten, not imported"),
            (invalid, "invalid row(s) skipped"),
            (duplicates, "duplicate row(s) skipped"),
        ])
    }
}

/// The non-zero counts, joined: `2 added, 1 updated`.
fn summary(counts: &[(usize, &str)]) -> Option<String> {
    let parts: Vec<String> =
        counts.iter().filter(|(count, _)| *count > 0).map(|(count, what)| format!("{count} {what}")).collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The list a preview sees: see [`Store::view_merged`]. What a message
/// needs of each subscriber and nothing more: at 100,000 subscribers every
/// record with its key and times, a map of lines and the list to mail made
/// from them took 50 MB.
#[derive(Debug, Default)]
pub struct ListView {
    /// The subscribers mailed, oldest first, each with its line in the
    /// file (0 when it is not in the file).
    pub mailed: Vec<Subscriber>,
    /// Everyone else in the store, oldest first: (line, address, why not mailed).
    pub not_mailed: Vec<(usize, String, String)>,
    pub report: ImportReport,
}

/// `unsubscribed (one-click, 2026-11-20T10:00:00.000Z)`: a status and the
/// event that set it.
fn why_not_mailed(status: SubscriberStatus, latest: Option<&Event>) -> String {
    match latest {
        Some(event) => {
            let via = event.channel.map(|c| format!("{}, ", c.as_str())).unwrap_or_default();
            let detail = event.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
            format!("{status} ({via}{}){detail}", event.at)
        }
        None => status.to_string(),
    }
}

/// What one row does to the subscriber it names (the merge rules as a table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not in the store: added with this status.
    Add(SubscriberStatus),
    /// The file changes the status, with this event.
    Change(SubscriberStatus, EventKind),
    /// The row says `subscribed`; the store holds an opt-out, kept.
    KeepOptedOut,
    /// The row says `subscribed`; the sign-up is not confirmed, kept pending.
    KeepPending,
    /// The status stays.
    Keep,
}

/// The merge rule for a row saying `row` about a subscriber the store holds
/// in `stored` (`None`: not in the store).
pub fn decide(stored: Option<SubscriberStatus>, row: SubscriberStatus) -> Decision {
    use SubscriberStatus::*;
    match (stored, row) {
        (None, row) => Decision::Add(row),
        (Some(stored), row) if stored == row => Decision::Keep,
        // An opt-out is never undone by a row; a second opt-out changes nothing.
        (Some(Unsubscribed | Bounced | Complained), Subscribed) => Decision::KeepOptedOut,
        (Some(Unsubscribed | Bounced | Complained), _) => Decision::Keep,
        (Some(Subscribed), Subscribed) => Decision::Keep,
        (Some(Pending), Subscribed) => Decision::KeepPending,
        // The file's opt-outs apply to anyone not opted out.
        (Some(_), Unsubscribed) => Decision::Change(Unsubscribed, EventKind::Unsubscribed),
        (Some(_), Bounced) => Decision::Change(Bounced, EventKind::Bounced),
        (Some(_), Complained) => Decision::Change(Complained, EventKind::Complained),
        (Some(Subscribed), Removed) => Decision::Change(Removed, EventKind::Removed),
        // A removed subscriber whose row is back is on the list again.
        (Some(Removed), Subscribed) => Decision::Change(Subscribed, EventKind::Imported),
        // `pending` in a file, or `removed` for one not subscribed: nothing to do.
        (Some(_), Pending | Removed) => Decision::Keep,
    }
}

impl Store {
    /// Merges the subscriber file at `path` (`shown` in messages). The
    /// subscribers that came from it and whose row is gone are removed.
    /// With `dry_run` nothing is written and the report says what would change.
    pub fn import(&self, path: &Path, shown: &Path, dry_run: bool, now: DateTime<Utc>) -> Result<ImportReport> {
        let file = subscribers::open(path)?;
        self.merge(file, shown, dry_run, now)
    }

    /// [`Store::import`] of any reader.
    pub fn merge(&self, reader: impl Read, list: &Path, dry_run: bool, now: DateTime<Utc>) -> Result<ImportReport> {
        let commits = if dry_run { Commits::Caller } else { Commits::Batched };
        let locked = commits == Commits::Batched && self.db.backend() == Backend::Postgres;
        if locked {
            // One merge at a time (several senders may start together, each
            // merging the same file): the second sees the first's rows. A
            // session lock, held across the batches' commits.
            self.db.query_one("SELECT pg_advisory_lock(7237414577312440176)::text", params![], |row| {
                row.get::<String>(0)
            })?;
        }
        let result = (|| {
            self.db.begin()?;
            let result = self.merge_in_transaction(reader, list, now, commits).map(|(report, _)| report);
            self.db.end(!dry_run && result.is_ok())?;
            result
        })();
        if locked {
            let unlocked =
                self.db.query_one("SELECT pg_advisory_unlock(7237414577312440176)::text", params![], |row| {
                    row.get::<String>(0)
                });
            if result.is_ok() {
                unlocked?;
            }
        }
        result
    }

    /// The list as a send would find it after merging `file` (the file,
    /// and its name in messages), without changing the store: every
    /// subscriber, why each one not mailed is not (its latest event), the
    /// file's line of each row, and what the merge would do.
    pub fn view_merged(&self, file: Option<(&Path, &Path)>, now: DateTime<Utc>) -> Result<ListView> {
        self.with_merged_lines(file, now, |store, report, lines| {
            let rows = store.db.query(&format!("SELECT {COLUMNS} FROM subscribers ORDER BY id"), params![], |row| {
                let record = SubscriberRecord::from_row(row)?;
                let line = lines.get(&record.key).unwrap_or(0);
                Ok((record, line))
            })?;
            let mut mailed = Vec::new();
            let mut others = Vec::new();
            for (record, line) in rows {
                if record.status == SubscriberStatus::Subscribed {
                    mailed.push(Subscriber {
                        id: Some(record.id),
                        email: record.address,
                        name: record.name,
                        status: record.status,
                        extra: record.attributes,
                        line,
                    });
                } else {
                    others.push((record.id, record.status, line, record.address));
                }
            }
            let not_mailed = others
                .into_iter()
                .map(|(id, status, line, address)| {
                    let latest = store.events(id)?.pop();
                    Ok((line, address, why_not_mailed(status, latest.as_ref())))
                })
                .collect::<Result<_>>()?;
            Ok(ListView { mailed, not_mailed, report })
        })
    }

    /// Runs `read` on the store as it would be after merging `file`, then
    /// leaves the store as it was: what `subscribers list` and `show` see.
    pub fn with_merged<T>(
        &self,
        file: Option<(&Path, &Path)>,
        now: DateTime<Utc>,
        read: impl FnOnce(&Store, ImportReport) -> Result<T>,
    ) -> Result<T> {
        self.with_merged_lines(file, now, |store, report, _| read(store, report))
    }

    /// [`Store::with_merged`], giving `read` each address's line in the
    /// file too (by matching key).
    fn with_merged_lines<T>(
        &self,
        file: Option<(&Path, &Path)>,
        now: DateTime<Utc>,
        read: impl FnOnce(&Store, ImportReport, &Seen) -> Result<T>,
    ) -> Result<T> {
        self.db.begin()?;
        let result = (|| -> Result<T> {
            let (report, lines) = match file {
                Some((path, shown)) => {
                    self.merge_in_transaction(subscribers::open(path)?, shown, now, Commits::Caller)?
                }
                None => Default::default(),
            };
            read(self, report, &lines)
        })();
        self.db.end(false)?;
        result
    }

    /// The merge's work, inside a transaction the caller ends (which
    /// [`Commits::Batched`] commits and opens again as it goes); with each
    /// matching key's first line in the file.
    fn merge_in_transaction(
        &self,
        reader: impl Read,
        list: &Path,
        now: DateTime<Utc>,
        commits: Commits,
    ) -> Result<(ImportReport, Seen)> {
        let at = timestamp(now);
        let list_name = list.to_string_lossy().into_owned();
        let db = &self.db;
        if db.backend() == Backend::Postgres && commits == Commits::Caller {
            // One merge at a time (see [`Store::merge`]), until the caller's transaction ends.
            db.query_one("SELECT pg_advisory_xact_lock(7237414577312440176)::text", params![], |row| {
                row.get::<String>(0)
            })?;
        }
        let mut batch_began = std::time::Instant::now();
        let mut chunk_done = || -> Result<()> {
            if commits == Commits::Batched && batch_began.elapsed() >= BATCH {
                db.commit_and_yield()?;
                crate::failpoint::hit(crate::failpoint::MERGE_BATCH_COMMITTED);
                batch_began = std::time::Instant::now();
            }
            Ok(())
        };
        {
            let mut report = ImportReport::default();
            let (any_forgotten, any_subscriber): (bool, bool) = db.query_one(
                "SELECT EXISTS (SELECT 1 FROM forgotten), EXISTS (SELECT 1 FROM subscribers)",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let known = Known { any_forgotten, any_subscriber };
            let mut failure = None;
            // Each key's first line, by which duplicates are found and the
            // subscribers whose row is gone.
            let mut seen = Seen::default();
            let mut chunk = Vec::with_capacity(CHUNK);
            let problems = subscribers::for_each_row(reader, list, |row| {
                if failure.is_some() {
                    return;
                }
                let Some(admitted) = admit(row, &list_name, &mut seen, &mut report) else { return };
                chunk.push(admitted);
                if chunk.len() == CHUNK
                    && let Err(error) = self
                        .merge_chunk(std::mem::take(&mut chunk), &list_name, known, &at, &mut report)
                        .and_then(|()| chunk_done())
                {
                    failure = Some(error);
                }
            });
            if let Some(error) = failure {
                return Err(error);
            }
            self.merge_chunk(chunk, &list_name, known, &at, &mut report)?;
            report.diagnostics.extend(problems);
            // A file that could not be read (no `email` column) removes nobody.
            if report.diagnostics.iter().any(|d| d.line == 1 && d.is_error()) {
                return Ok((report, seen));
            }
            // The file's subscribers in the store, a page at a time: at a
            // million, all of them at once took more memory than the merge.
            let mut after = 0i64;
            loop {
                let page: Vec<(i64, String, String)> = db.query(
                    "SELECT id, address, key FROM subscribers
                     WHERE list = ?1 AND source = 'csv' AND status = 'subscribed' AND id > ?2
                     ORDER BY id LIMIT ?3",
                    params![list_name, after, PAGE as i64],
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
                )?;
                let Some(last) = page.last().map(|(id, _, _)| *id) else { break };
                after = last;
                let gone = page.into_iter().filter(|(_, _, key)| !seen.contains(key));
                for (id, address, _) in gone {
                    let event =
                        Event::new(EventKind::Removed, Channel::Csv).detail(format!("no longer in {list_name}"));
                    set_status(db, id, SubscriberStatus::Removed, &event, &at)?;
                    report.removed.push(address);
                }
                chunk_done()?;
            }
            Ok((report, seen))
        }
    }

    /// Merges rows of a file into the store (inside [`Store::merge`]'s
    /// transaction): one query looks them up, one statement adds the new
    /// ones and one their events; the rest are changed one by one.
    fn merge_chunk(
        &self,
        chunk: Vec<Admitted>,
        list: &str,
        known: Known,
        at: &str,
        report: &mut ImportReport,
    ) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = chunk.iter().map(|row| row.key.as_str()).collect();
        let forgotten = if known.any_forgotten { self.forgotten_among(&keys)? } else { HashSet::new() };
        // Into a store that held nobody when the merge began, every row is
        // new (one that signed up meanwhile is found by the insert).
        let mut stored = if known.any_subscriber { self.stored(&keys)? } else { HashMap::new() };
        let mut added = Vec::new();
        for row in chunk {
            if forgotten.contains(&row.key) {
                report.forgotten.push(row.subscriber.line);
                continue;
            }
            let stored = stored.remove(&row.key);
            match decide(stored.as_ref().map(|(s, _)| s.status), row.subscriber.status) {
                Decision::Add(status) => added.push((row, status)),
                decision => {
                    let stored = stored.expect("only Add has no stored subscriber");
                    self.merge_known(row.subscriber, stored, decision, list, at, report)?;
                }
            }
        }
        // Rows whose address was added since it was looked up (a sign-up
        // on the web, on PostgreSQL) are merged into what is there now.
        let taken = self.add_all(added, list, at, report)?;
        if !taken.is_empty() {
            let keys: Vec<&str> = taken.iter().map(|(row, _)| row.key.as_str()).collect();
            let mut stored = self.stored(&keys)?;
            for (row, _) in taken {
                // Taken at the insert and gone again before this read (a
                // `forget` between the two statements): not this merge's to guess.
                let stored = stored.remove(&row.key).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} was added and removed again while the merge ran; run it again",
                        row.subscriber.email
                    )
                })?;
                let decision = decide(Some(stored.0.status), row.subscriber.status);
                self.merge_known(row.subscriber, stored, decision, list, at, report)?;
            }
        }
        Ok(())
    }

    /// The subscribers the store holds under `keys`, with the list each came from.
    fn stored(&self, keys: &[&str]) -> Result<HashMap<String, (SubscriberRecord, Option<String>)>> {
        let rows = self.db.query(
            &format!("SELECT {COLUMNS}, list FROM subscribers WHERE key IN ({})", numbered(1, keys.len())),
            &keys.iter().map(|key| key as &dyn Param).collect::<Vec<_>>(),
            |row| Ok((SubscriberRecord::from_row(row)?, row.get::<Option<String>>(COLUMN_COUNT)?)),
        )?;
        Ok(rows.into_iter().map(|(record, list)| (record.key.clone(), (record, list))).collect())
    }

    /// Adds the subscribers of new rows, with their events. Gives back the
    /// rows whose address the store holds after all (added since it was
    /// looked up), untouched.
    fn add_all(
        &self,
        added: Vec<(Admitted, SubscriberStatus)>,
        list: &str,
        at: &str,
        report: &mut ImportReport,
    ) -> Result<Vec<(Admitted, SubscriberStatus)>> {
        if added.is_empty() {
            return Ok(Vec::new());
        }
        struct New<'a> {
            address: &'a str,
            key: &'a str,
            name: Option<&'a str>,
            status: &'static str,
            source: &'static str,
            attributes: String,
            created: &'a str,
            confirmed: Option<&'a str>,
            changed: &'a str,
            list: Option<&'a str>,
        }
        let new: Vec<New> = added
            .iter()
            .map(|(row, status)| {
                let exported = &row.exported;
                let source = exported.source.unwrap_or(Source::Csv);
                New {
                    address: &row.subscriber.email,
                    key: &row.key,
                    name: row.subscriber.name.as_deref(),
                    status: status.as_str(),
                    source: source.as_str(),
                    attributes: encode_attributes(&sorted(row.subscriber.extra.clone())),
                    created: exported.created_at.as_deref().unwrap_or(at),
                    confirmed: exported
                        .confirmed_at
                        .as_deref()
                        .or((*status == SubscriberStatus::Subscribed).then_some(at)),
                    changed: exported.changed_at.as_deref().unwrap_or(at),
                    list: (source == Source::Csv).then_some(list),
                }
            })
            .collect();
        let params: Vec<&dyn Param> = new
            .iter()
            .flat_map(|n| {
                [
                    &n.address as &dyn Param,
                    &n.key,
                    &n.name,
                    &n.status,
                    &n.source,
                    &n.attributes,
                    &n.created,
                    &n.confirmed,
                    &n.changed,
                    &n.list,
                ]
            })
            .collect();
        let ids: HashMap<String, i64> = self
            .db
            .query(
                &format!(
                    "INSERT INTO subscribers (address, key, name, status, source, attributes, created_at, confirmed_at, changed_at, list)
                     VALUES {} ON CONFLICT (key) DO NOTHING RETURNING key, id",
                    values(new.len(), 10)
                ),
                &params,
                |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)),
            )?
            .into_iter()
            .collect();
        let imported: Vec<(i64, Event, &str)> = added
            .iter()
            .zip(&new)
            .filter(|((row, _), _)| ids.contains_key(&row.key))
            .map(|((row, status), new)| {
                let line = row.subscriber.line;
                let detail = if *status == SubscriberStatus::Subscribed {
                    format!("{list}, line {line}")
                } else {
                    format!("{list}, line {line}, as {status}")
                };
                (ids[&row.key], Event::new(EventKind::Imported, Channel::Csv).detail(detail), new.created)
            })
            .collect();
        let events: Vec<(i64, &Event, &str)> = imported.iter().map(|(id, event, at)| (*id, event, *at)).collect();
        record_all(&self.db, &events)?;
        drop(new);
        let (inserted, taken): (Vec<_>, Vec<_>) = added.into_iter().partition(|(row, _)| ids.contains_key(&row.key));
        report.added.extend(inserted.into_iter().map(|(row, _)| row.subscriber.email));
        Ok(taken)
    }

    /// Merges a row about a subscriber the store holds.
    fn merge_known(
        &self,
        subscriber: Subscriber,
        (stored, stored_list): (SubscriberRecord, Option<String>),
        decision: Decision,
        list: &str,
        at: &str,
        report: &mut ImportReport,
    ) -> Result<()> {
        let db = &self.db;
        let line = subscriber.line;
        // A file adds and changes; an empty cell or a column it does
        // not have leaves what the store holds.
        let name = subscriber.name.clone().or(stored.name.clone());
        let mut merged: std::collections::BTreeMap<String, String> = stored.attributes.iter().cloned().collect();
        merged.extend(sorted(subscriber.extra.clone()));
        let attributes = encode_attributes(&merged.into_iter().collect::<Vec<_>>());
        let mut changed = false;
        if stored.name != name || encode_attributes(&stored.attributes) != attributes {
            db.execute(
                "UPDATE subscribers SET name = ?2, attributes = ?3 WHERE id = ?1",
                params![stored.id, name, attributes],
            )?;
            report.updated.push(subscriber.email.clone());
            changed = true;
        }
        // A subscriber this file lists is one of its subscribers from now on.
        if stored.source == Source::Csv && stored_list.as_deref() != Some(list) {
            db.execute("UPDATE subscribers SET list = ?2 WHERE id = ?1", params![stored.id, list])?;
        }
        match decision {
            Decision::Change(status, kind) => {
                let event =
                    Event::new(kind, Channel::Csv).detail(format!("{list}, line {line}, was {}", stored.status));
                set_status(db, stored.id, status, &event, at)?;
                report.status_changed.push((subscriber.email, status));
            }
            Decision::KeepOptedOut => report.kept_opted_out.push((subscriber.email, stored.status)),
            Decision::KeepPending => report.kept_pending.push(subscriber.email),
            Decision::Keep if !changed => report.unchanged += 1,
            Decision::Keep | Decision::Add(_) => {}
        }
        Ok(())
    }

    /// Writes every subscriber as CSV: `email,name,status,source,
    /// created_at,confirmed_at,changed_at`, then each other column any
    /// subscriber has, in name order. Importing it into an empty store and
    /// exporting again gives the same bytes. Unless `raw`, a cell a
    /// spreadsheet would evaluate is shielded ([`shield_cell`]); importing
    /// the export gives its value back.
    pub fn export(&self, out: impl Write, raw: bool) -> Result<usize> {
        let subscribers = self.subscribers(None)?;
        let mut extra: Vec<String> =
            subscribers.iter().flat_map(|s| s.attributes.iter().map(|(k, _)| k.clone())).collect();
        extra.sort();
        extra.dedup();
        let mut writer = csv::Writer::from_writer(out);
        let mut header = vec!["email", "name", "status"];
        header.extend(EXPORT_COLUMNS);
        header.extend(extra.iter().map(String::as_str));
        writer.write_record(&header)?;
        for subscriber in &subscribers {
            let mut row = vec![
                subscriber.address.as_str(),
                subscriber.name.as_deref().unwrap_or(""),
                subscriber.status.as_str(),
                subscriber.source.as_str(),
                &subscriber.created_at,
                subscriber.confirmed_at.as_deref().unwrap_or(""),
                &subscriber.changed_at,
            ];
            for column in &extra {
                row.push(subscriber.attributes.iter().find(|(k, _)| k == column).map_or("", |(_, v)| v.as_str()));
            }
            // A name or column a reader typed on the web must not become a
            // formula in the spreadsheet that opens the export.
            if raw {
                writer.write_record(&row)?;
            } else {
                writer
                    .write_record(row.into_iter().map(shield_cell).collect::<Vec<_>>().iter().map(|c| c.as_bytes()))?;
            }
        }
        writer.flush()?;
        Ok(subscribers.len())
    }
}

/// What the store held when a merge began.
#[derive(Debug, Clone, Copy)]
struct Known {
    any_forgotten: bool,
    any_subscriber: bool,
}

/// A row of the file naming a subscriber no earlier row named, with its
/// matching key and the export's columns taken out of its attributes.
struct Admitted {
    subscriber: Subscriber,
    key: String,
    exported: Exported,
}

/// The subscriber a row names, or `None` for a row that is not one (its
/// problem reported) or repeats an earlier row's address.
fn admit(row: Row, list: &str, seen: &mut Seen, report: &mut ImportReport) -> Option<Admitted> {
    let (mut subscriber, warnings) = match row {
        Row::Subscriber(subscriber, warnings) => (subscriber, warnings),
        Row::Skipped(row, diagnostic) => {
            report.diagnostics.push(diagnostic);
            report.skipped.push(row);
            return None;
        }
    };
    report.diagnostics.extend(warnings);
    let key = matching_key(&subscriber.email);
    let line = subscriber.line;
    if let Some(first) = seen.first_line(&key, line) {
        let reason = format!("duplicate of line {first} ({})", subscriber.email);
        report.diagnostics.push(Diagnostic::warning(list, (line, 1), format!("{reason}; skipped")));
        report.skipped.push(SkippedRow { line, address: subscriber.email, reason });
        return None;
    }
    let exported = take_export_columns(&mut subscriber);
    Some(Admitted { subscriber, key, exported })
}

/// The columns an export adds, read off a row (and out of its attributes).
#[derive(Default)]
struct Exported {
    source: Option<Source>,
    created_at: Option<String>,
    confirmed_at: Option<String>,
    changed_at: Option<String>,
}

fn take_export_columns(subscriber: &mut Subscriber) -> Exported {
    let mut exported = Exported::default();
    subscriber.extra.retain(|(column, value)| {
        let value = value.trim();
        let given = (!value.is_empty()).then(|| value.to_string());
        match column.to_ascii_lowercase().as_str() {
            "source" => exported.source = Source::parse(value),
            "created_at" => exported.created_at = given,
            "confirmed_at" => exported.confirmed_at = given,
            "changed_at" => exported.changed_at = given,
            _ => return true,
        }
        false
    });
    exported
}

fn sorted(mut attributes: Vec<(String, String)>) -> Vec<(String, String)> {
    attributes.sort();
    attributes.retain(|(_, value)| !value.is_empty());
    attributes
}
