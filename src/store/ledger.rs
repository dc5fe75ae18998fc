//! The delivery ledger, in the store: what makes a send resumable and
//! exactly-once.
//!
//! The recipient list of a digest is frozen into it when the digest's first
//! send starts, each row naming its subscriber. Each message is marked `sending` (committed) before it is
//! handed to the relay and `sent` with the relay's reply after, so a crash at
//! any instant leaves every row in a state the next run can act on: `sent`
//! rows are skipped, `sending` rows are reported as ambiguous (the relay may
//! have the message) instead of being sent twice.
//!
//! Longer than the house's ~600 lines on purpose: the freeze, the claims,
//! the leases and the recovery rules are the states of one table; the
//! exactly-once argument needs them side by side.

use std::collections::HashMap;

use super::Store;
use super::db::{Backend, Db, Param, params};
use crate::subscriber::matching_key;
use anyhow::Result;

/// Where a recipient of a digest stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Pending,
    Sending,
    Sent,
    FailedTransient,
    FailedPermanent,
    Ambiguous,
    Suppressed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Sending => "sending",
            State::Sent => "sent",
            State::FailedTransient => "failed_transient",
            State::FailedPermanent => "failed_permanent",
            State::Ambiguous => "ambiguous",
            State::Suppressed => "suppressed",
        }
    }

    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "pending" => State::Pending,
            "sending" => State::Sending,
            "sent" => State::Sent,
            "failed_transient" => State::FailedTransient,
            "failed_permanent" => State::FailedPermanent,
            "ambiguous" => State::Ambiguous,
            "suppressed" => State::Suppressed,
            _ => return None,
        })
    }

    /// Every state, in the order `status` prints them.
    pub const ALL: [State; 7] = [
        State::Sent,
        State::Pending,
        State::Sending,
        State::FailedTransient,
        State::FailedPermanent,
        State::Ambiguous,
        State::Suppressed,
    ];
}

/// A relay's reply with the recipient's address taken out (any case), so
/// that the replies two recipients got can be compared:
/// `550 5.1.1 <bob@x.org>: unknown` becomes `550 5.1.1 <address>: unknown`.
pub fn reply_pattern(reply: &str, address: &str) -> String {
    let (lower_reply, lower_address) = (reply.to_lowercase(), address.to_lowercase());
    // Lower-casing can change byte lengths outside ASCII: then no match is attempted.
    if address.is_empty() || lower_reply.len() != reply.len() || lower_address.len() != address.len() {
        return reply.to_string();
    }
    let mut out = String::with_capacity(reply.len());
    let mut copied = 0;
    for (at, _) in lower_reply.match_indices(&lower_address) {
        out.push_str(&reply[copied..at]);
        out.push_str("address");
        copied = at + address.len();
    }
    out.push_str(&reply[copied..]);
    out
}

/// One recipient row.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: i64,
    /// The subscriber the row was frozen for (`None` for rows frozen
    /// before the store that name nobody in it, and for `--test-to`).
    pub subscriber_id: Option<i64>,
    pub address: String,
    pub name: Option<String>,
    pub state: State,
    pub attempts: u32,
    pub reply: Option<String>,
}

impl Recipient {
    /// Who the row's message is for.
    pub fn person(&self) -> crate::subscriber::Person<'_> {
        crate::subscriber::Person { id: self.subscriber_id, address: &self.address, name: self.name.as_deref() }
    }
}

/// Records the outcome of an attempt.
const MARK: &str = "UPDATE deliveries SET state = ?2, reply = ?3, updated_at = ?4 WHERE id = ?1";

/// When a row changes, on newsroom's one clock ([`crate::clock`]:
/// `NEWSROOM_NOW` when set), the clock the events are stamped with:
/// `digest send` compares a digest's `frozen_at` with the events since.
fn now_text() -> String {
    crate::clock::now().unwrap_or_else(|_| chrono::Utc::now()).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The system clock, for leases only: they order real processes, whatever
/// newsroom's clock is set to.
fn wall_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What claiming a row for its message found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Marked `sending`: hand the message over.
    Sending,
    /// Its subscriber opted out since the list was frozen: marked
    /// `suppressed`, nothing to send.
    OptedOut,
    /// The row is no longer this sender's: its lease lapsed and another
    /// sender took it. Nothing was changed; nothing to send.
    Lost,
}

/// One worker's request of [`Store::mark_outcomes_and_sending`]: the
/// outcome of its earlier attempt, if it has one to write (row, state,
/// reply), and the row it is about to send, with the message's Message-ID.
#[derive(Debug, Clone, Copy)]
pub struct Mark<'a> {
    pub outcome: Option<(i64, State, &'a str)>,
    pub id: i64,
    pub message_id: &'a str,
}

/// One sender of a digest, as the rows it claims name it: which process,
/// and how long its claims last unless renewed.
#[derive(Debug, Clone)]
pub struct Claimant {
    pub owner: String,
    pub lease: std::time::Duration,
}

impl Claimant {
    /// A sender never seen before: host, process and 48 random bits, so
    /// that a restarted process is a new sender.
    pub fn new(lease: std::time::Duration) -> Claimant {
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let owner = format!(
            "{}:{}:{:012x}",
            if host.is_empty() { "host" } else { &host },
            std::process::id(),
            fastrand::u64(..1 << 48)
        );
        Claimant { owner, lease }
    }

    /// When a claim or renewal made now lapses.
    fn until(&self) -> String {
        let lease = chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::MAX);
        timestamp_after(lease)
    }
}

fn timestamp_after(duration: chrono::Duration) -> String {
    (chrono::Utc::now() + duration).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A row as [`Store::rows`] and [`Store::claim`] select it.
fn read_recipient(row: &super::db::Row) -> Result<Recipient> {
    let state: String = row.get(3)?;
    Ok(Recipient {
        id: row.get(0)?,
        subscriber_id: row.get(6)?,
        address: row.get(1)?,
        name: row.get(2)?,
        state: State::parse(&state).ok_or_else(|| super::unknown_value("a delivery state", &state))?,
        attempts: row.get::<i64>(4)? as u32,
        reply: row.get(5)?,
    })
}

/// [`Store::mark_outcomes_and_sending`] on PostgreSQL for `marks` rows,
/// one statement: `input` has a row per mark (`?1`.. five a mark: the
/// earlier row, its state and reply, the row to claim, its Message-ID),
/// then `?N` now and `?N+1` the owner. `done`, a data-modifying part, runs
/// whether or not it is read; the one UPDATE then marks each row still
/// pending and this sender's `sending`, or `suppressed` if its subscriber
/// opted out, reading the subscriber in the same snapshot. Gives each row
/// marked with `true` (sending) or `false` (suppressed); a row missing from
/// the result was lost.
fn mark_and_claim_postgres(marks: usize) -> String {
    let input: Vec<String> = (0..marks)
        .map(|mark| {
            let n = mark * 5;
            format!(
                "(CAST(?{} AS BIGINT), CAST(?{} AS TEXT), CAST(?{} AS TEXT), CAST(?{} AS BIGINT), CAST(?{} AS TEXT))",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5
            )
        })
        .collect();
    let (now, owner) = (marks * 5 + 1, marks * 5 + 2);
    format!(
        "WITH input (done, outcome, reply, id, message_id) AS (VALUES {}),
         done AS (
             UPDATE deliveries SET state = input.outcome, reply = input.reply, updated_at = ?{now}
             FROM input WHERE deliveries.id = input.done RETURNING 1
         )
         UPDATE deliveries SET
             state = CASE WHEN claim.opted_out THEN 'suppressed' ELSE 'sending' END,
             attempts = deliveries.attempts + CASE WHEN claim.opted_out THEN 0 ELSE 1 END,
             message_id = CASE WHEN claim.opted_out THEN deliveries.message_id ELSE claim.message_id END,
             reply = CASE WHEN claim.opted_out THEN 'opted out during the send' ELSE deliveries.reply END,
             updated_at = ?{now}
         FROM (
             SELECT input.id, input.message_id, COALESCE(subscribers.status != 'subscribed', FALSE) AS opted_out
             FROM input JOIN deliveries ON deliveries.id = input.id
             LEFT JOIN subscribers ON subscribers.id = deliveries.subscriber_id
         ) AS claim
         WHERE deliveries.id = claim.id AND deliveries.owner = ?{owner} AND deliveries.state = 'pending'
         RETURNING deliveries.id, NOT claim.opted_out",
        input.join(", ")
    )
}

/// Claims pending rows (see [`Store::claim_after`]): `?1` digest, `?2`
/// owner, `?3` how many, `?4` the lease's end, `?5` now, `?6` the row
/// after which to look. On SQLite `+digest_id` keeps the planner off the
/// (digest, address) index, so that it walks the rows by id from `?6` and
/// stops at the `?3`th match.
const CLAIM_SQLITE: &str = "UPDATE deliveries SET owner = ?2, lease_until = ?4
     WHERE id IN (SELECT id FROM deliveries WHERE +digest_id = ?1 AND id > ?6 AND state = 'pending'
         AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?5) ORDER BY id LIMIT ?3)
     RETURNING id, address, name, state, attempts, reply, subscriber_id";
const CLAIM_POSTGRES: &str = "UPDATE deliveries SET owner = ?2, lease_until = ?4
     WHERE id IN (SELECT id FROM deliveries WHERE digest_id = ?1 AND id > ?6 AND state = 'pending'
         AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?5) ORDER BY id LIMIT ?3
         FOR UPDATE SKIP LOCKED)
     RETURNING id, address, name, state, attempts, reply, subscriber_id";

/// On PostgreSQL, one freeze at a time: senders that start together each
/// try to freeze the list, and the second must find the first's list, not
/// half of it or a duplicate key. (SQLite's BEGIN IMMEDIATE already
/// serialises writers.)
fn freeze_lock(db: &Db) -> Result<()> {
    if db.backend() == Backend::Postgres {
        db.query_one("SELECT pg_advisory_xact_lock(7237414577312440177)::text", params![], |row| row.get::<String>(0))?;
    }
    Ok(())
}

/// How many recipients a digest was frozen with, if it was.
fn frozen_count(db: &Db, digest_id: &str) -> Result<Option<usize>> {
    let count =
        db.query_opt("SELECT recipients FROM digests WHERE digest_id = ?1", params![digest_id], |r| r.get::<i64>(0))?;
    Ok(count.map(|count| count as usize))
}

/// Records that a digest's list was frozen, with how many recipients and
/// what its first send knew ([`Freezing`]).
fn record_frozen(db: &Db, digest_id: &str, now: &str, count: usize, freezing: &Freezing) -> Result<()> {
    let posts = freezing.posts.as_ref().map(|posts| posts.join("\n"));
    db.execute(
        "INSERT INTO digests (digest_id, frozen_at, recipients, unfinished, posts) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![digest_id, now, count as i64, i64::from(freezing.unfinished), posts],
    )?;
    Ok(())
}

/// What a digest's first send records beside its list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freezing {
    /// Sent before its month ended (`digest send --unfinished`).
    pub unfinished: bool,
    /// The permalinks of the posts it carries, in digest order: later
    /// runs of the same digest send these, and no post published after
    /// is silently left out (`check` and `build` name it).
    pub posts: Option<Vec<String>>,
}

/// A digest whose list is frozen, as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FrozenDigest {
    pub digest_id: String,
    /// When its first send began (RFC 3339).
    pub frozen_at: String,
    pub recipients: usize,
    pub unfinished: bool,
    /// The permalinks of its posts; `None` for a digest frozen by a
    /// release that did not record them.
    pub posts: Option<Vec<String>>,
}

/// A `digests` row, as [`FROZEN_COLUMNS`] selects it.
pub(super) fn read_frozen(row: &super::db::Row) -> Result<FrozenDigest> {
    let posts: Option<String> = row.get(4)?;
    Ok(FrozenDigest {
        digest_id: row.get(0)?,
        frozen_at: row.get(1)?,
        recipients: row.get::<i64>(2)? as usize,
        unfinished: row.get::<i64>(3)? != 0,
        posts: posts.map(|posts| posts.lines().map(str::to_string).filter(|p| !p.is_empty()).collect()),
    })
}

const FROZEN_COLUMNS: &str = "digest_id, frozen_at, recipients, unfinished, posts";

impl Store {
    /// Whether the digest's recipient list is frozen already.
    pub fn is_frozen(&self, digest_id: &str) -> Result<bool> {
        Ok(self.db.query_opt("SELECT 1 FROM digests WHERE digest_id = ?1", params![digest_id], |_| Ok(()))?.is_some())
    }

    /// A frozen digest's record, if it is frozen.
    pub fn frozen_digest(&self, digest_id: &str) -> Result<Option<FrozenDigest>> {
        self.db.query_opt(
            &format!("SELECT {FROZEN_COLUMNS} FROM digests WHERE digest_id = ?1"),
            params![digest_id],
            read_frozen,
        )
    }

    /// Every frozen digest, by id.
    pub fn frozen_digests(&self) -> Result<Vec<FrozenDigest>> {
        self.db.query(&format!("SELECT {FROZEN_COLUMNS} FROM digests ORDER BY digest_id"), params![], read_frozen)
    }

    /// The digest frozen last before `digest_id`, and when: (id, RFC 3339).
    pub fn previous_digest(&self, digest_id: &str) -> Result<Option<(String, String)>> {
        self.db.query_opt(
            "SELECT digest_id, frozen_at FROM digests WHERE digest_id < ?1 ORDER BY digest_id DESC LIMIT 1",
            params![digest_id],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
    }

    /// Freezes the recipient list of a digest (once; later calls keep the first list).
    pub fn freeze<'a>(
        &mut self,
        digest_id: &str,
        recipients: impl Iterator<Item = (Option<i64>, &'a str, Option<&'a str>)>,
    ) -> Result<usize> {
        self.in_transaction(|db| {
            freeze_lock(db)?;
            if let Some(count) = frozen_count(db, digest_id)? {
                return Ok(count);
            }
            let now = now_text();
            let mut count = 0;
            for (subscriber_id, address, name) in recipients {
                count += db.execute(
                    "INSERT INTO deliveries (digest_id, subscriber_id, address, name, state, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'pending', ?5) ON CONFLICT (digest_id, address) DO NOTHING",
                    params![digest_id, subscriber_id, address, name, now],
                )?;
            }
            record_frozen(db, digest_id, &now, count, &Freezing::default())?;
            Ok(count)
        })
    }

    /// Freezes the store's subscribed list as the recipients of a digest,
    /// in one statement (no list in memory); once, like [`Store::freeze`].
    /// Returns how many were frozen.
    pub fn freeze_subscribed(&mut self, digest_id: &str) -> Result<usize> {
        self.freeze_subscribed_with(digest_id, &Freezing::default())
    }

    /// [`Store::freeze_subscribed`], recording `freezing` with the list
    /// (the first time only, like the list).
    pub fn freeze_subscribed_with(&mut self, digest_id: &str, freezing: &Freezing) -> Result<usize> {
        self.in_transaction(|db| {
            freeze_lock(db)?;
            if let Some(count) = frozen_count(db, digest_id)? {
                return Ok(count);
            }
            let now = now_text();
            let count = db.execute(
                "INSERT INTO deliveries (digest_id, subscriber_id, address, name, state, updated_at)
                 SELECT ?1, id, address, name, 'pending', ?2 FROM subscribers WHERE status = 'subscribed' ORDER BY id
                 ON CONFLICT (digest_id, address) DO NOTHING",
                params![digest_id, now],
            )?;
            if count > 0 {
                record_frozen(db, digest_id, &now, count, freezing)?;
            }
            Ok(count)
        })
    }

    /// Prepares a run: `sending` rows left by a crash become `ambiguous` (or
    /// `pending` with `resend_ambiguous`, together with earlier ambiguous rows);
    /// transient failures become `pending`; permanent failures too with
    /// `retry_failed`; rows of subscribers who opted out become `suppressed`.
    ///
    /// On SQLite one sender runs at a time (the digest's lock file), so
    /// every row left `sending` or claimed was left by a sender that is
    /// gone. On PostgreSQL other senders may be running: only rows whose
    /// lease has lapsed are theirs to recover.
    pub fn recover(&mut self, digest_id: &str, resend_ambiguous: bool, retry_failed: bool) -> Result<usize> {
        let exclusive = self.db.backend() == Backend::Sqlite;
        self.in_transaction(|db| {
            let now = now_text();
            // On SQLite everything lapses now: `lease_until < now` for all.
            let lapsed = if exclusive { timestamp_after(chrono::Duration::days(365 * 1000)) } else { wall_text() };
            let crashed = db.execute(
                "UPDATE deliveries SET state = 'ambiguous', reply = 'interrupted while sending (the relay may have accepted it)', updated_at = ?2,
                 owner = NULL, lease_until = NULL
                 WHERE digest_id = ?1 AND state = 'sending' AND (lease_until IS NULL OR lease_until < ?3)",
                params![digest_id, now, lapsed],
            )?;
            db.execute(
                "UPDATE deliveries SET owner = NULL, lease_until = NULL
                 WHERE digest_id = ?1 AND state = 'pending' AND owner IS NOT NULL AND lease_until < ?2",
                params![digest_id, lapsed],
            )?;
            if resend_ambiguous {
                db.execute(
                    "UPDATE deliveries SET state = 'pending', updated_at = ?2, owner = NULL, lease_until = NULL
                     WHERE digest_id = ?1 AND state = 'ambiguous'",
                    params![digest_id, now],
                )?;
            }
            db.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ?2, owner = NULL, lease_until = NULL
                 WHERE digest_id = ?1 AND state = 'failed_transient'",
                params![digest_id, now],
            )?;
            // Rows frozen before the store name no subscriber: linked here by
            // the matching key (in Rust: SQLite's lower() folds ASCII only).
            let unlinked: Vec<(i64, String)> = db.query(
                "SELECT id, address FROM deliveries WHERE digest_id = ?1 AND subscriber_id IS NULL",
                params![digest_id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            for (id, address) in unlinked {
                db.execute(
                    "UPDATE deliveries SET subscriber_id = (SELECT id FROM subscribers WHERE key = ?2) WHERE id = ?1",
                    params![id, matching_key(&address)],
                )?;
            }
            // A refusal that made its subscriber an opt-out (no such
            // mailbox: `bounced`) is not retried: the row keeps its state
            // and the relay's reply, which `digest status` shows.
            if retry_failed {
                db.execute(
                    "UPDATE deliveries SET state = 'pending', updated_at = ?2, owner = NULL, lease_until = NULL
                     WHERE digest_id = ?1 AND state = 'failed_permanent'
                     AND (subscriber_id IS NULL OR subscriber_id NOT IN (SELECT id FROM subscribers WHERE status != 'subscribed'))",
                    params![digest_id, now],
                )?;
            }
            db.execute(
                "UPDATE deliveries SET state = 'suppressed', updated_at = ?2
                 WHERE digest_id = ?1 AND state = 'pending'
                 AND subscriber_id IN (SELECT id FROM subscribers WHERE status != 'subscribed')",
                params![digest_id, now],
            )?;
            Ok(crashed)
        })
    }

    /// The rows still to send, in list order.
    pub fn pending(&self, digest_id: &str) -> Result<Vec<Recipient>> {
        self.rows(digest_id, Some(State::Pending))
    }

    /// Rows of a digest, all or in one state.
    pub fn rows(&self, digest_id: &str, state: Option<State>) -> Result<Vec<Recipient>> {
        self.db.query(
            "SELECT id, address, name, state, attempts, reply, subscriber_id FROM deliveries
             WHERE digest_id = ?1 AND state = COALESCE(?2, state) ORDER BY id",
            params![digest_id, state.map(State::as_str)],
            read_recipient,
        )
    }

    /// Claims up to `limit` pending rows of a digest for `claimant`, in
    /// list order: rows nobody holds, or whose holder's lease has lapsed.
    /// On PostgreSQL the rows are taken `FOR UPDATE SKIP LOCKED`, so
    /// senders claiming at the same instant take different rows and none
    /// waits for another.
    pub fn claim(&self, digest_id: &str, claimant: &Claimant, limit: usize) -> Result<Vec<Recipient>> {
        self.claim_after(digest_id, claimant, limit, 0)
    }

    /// [`Store::claim`] of rows after row `after` only: a sender going
    /// down the list asks from where its last claim ended, which on SQLite
    /// (no index on the state, see migration 1) reads the next rows instead
    /// of the whole digest's. Nothing after it: ask again from 0, for rows
    /// another sender gave back.
    pub fn claim_after(
        &self,
        digest_id: &str,
        claimant: &Claimant,
        limit: usize,
        after: i64,
    ) -> Result<Vec<Recipient>> {
        let sql = match self.db.backend() {
            Backend::Sqlite => CLAIM_SQLITE,
            Backend::Postgres => CLAIM_POSTGRES,
        };
        let now = wall_text();
        let claim = |after: i64| {
            let params = params![digest_id, claimant.owner, limit as i64, claimant.until(), now, after];
            match self.db.backend() {
                // BEGIN IMMEDIATE: the write lock first, so that a writer
                // beside this one (serve) makes it wait, not fail.
                Backend::Sqlite => self.in_transaction(|db| db.query(sql, params, read_recipient)),
                // One statement is a transaction of its own: one round trip, not three.
                Backend::Postgres => self.db.query(sql, params, read_recipient),
            }
        };
        let mut rows = claim(after)?;
        if rows.is_empty() && after > 0 {
            rows = claim(0)?;
        }
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// Extends the lease on every row `claimant` holds; how many.
    pub fn renew(&self, digest_id: &str, claimant: &Claimant) -> Result<usize> {
        self.db.execute(
            "UPDATE deliveries SET lease_until = ?3 WHERE digest_id = ?1 AND owner = ?2 AND state IN ('pending', 'sending')",
            params![digest_id, claimant.owner, claimant.until()],
        )
    }

    /// Gives back the pending rows `claimant` holds (a run that stops
    /// early), for any sender to claim at once.
    pub fn release(&self, digest_id: &str, claimant: &Claimant) -> Result<usize> {
        self.db.execute(
            "UPDATE deliveries SET owner = NULL, lease_until = NULL WHERE digest_id = ?1 AND owner = ?2 AND state = 'pending'",
            params![digest_id, claimant.owner],
        )
    }

    /// Commits of this connection stop waiting for the disk: on PostgreSQL
    /// `synchronous_commit = off`, what the sender's per-message marks
    /// run with. It is the promise SQLite's WAL at `synchronous=NORMAL`
    /// makes: every commit survives a crash of newsroom at any instant
    /// (the server has it), and a crash of the database server or its
    /// machine may undo the last fraction of a second of marks, whose
    /// messages may then be sent twice. Nothing changes on SQLite.
    pub fn commit_without_waiting_for_disk(&self) -> Result<()> {
        if self.db.backend() == Backend::Postgres {
            self.db.execute_batch("SET synchronous_commit = off")?;
        }
        Ok(())
    }

    /// Rows of a digest another sender holds under a live lease, pending or
    /// in flight, and when the first of those leases lapses unless renewed.
    pub fn others_claims(
        &self,
        digest_id: &str,
        claimant: &Claimant,
    ) -> Result<(usize, Option<chrono::DateTime<chrono::Utc>>)> {
        let (count, earliest): (i64, Option<String>) = self.db.query_one(
            "SELECT COUNT(*), MIN(lease_until) FROM deliveries WHERE digest_id = ?1 AND state IN ('pending', 'sending')
             AND owner IS NOT NULL AND owner != ?2 AND lease_until >= ?3",
            params![digest_id, claimant.owner, wall_text()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        let earliest = earliest.and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok()).map(|at| at.to_utc());
        Ok((count as usize, earliest))
    }

    /// Takes over what a sender whose lease lapsed left of a digest while
    /// this one runs: its rows in flight become `ambiguous` (it may have
    /// handed them over: never sent twice), its pending ones anyone's to
    /// claim. Returns how many became ambiguous and how many are now
    /// pending for any sender (this one's own claims aside).
    pub fn take_over_lapsed(&self, digest_id: &str, claimant: &Claimant) -> Result<(usize, usize)> {
        self.in_transaction(|db| {
            let (now, wall) = (now_text(), wall_text());
            let ambiguous = db.execute(
                "UPDATE deliveries SET state = 'ambiguous', reply = 'interrupted while sending (the relay may have accepted it)', updated_at = ?2,
                 owner = NULL, lease_until = NULL
                 WHERE digest_id = ?1 AND state = 'sending' AND owner != ?3 AND lease_until < ?4",
                params![digest_id, now, claimant.owner, wall],
            )?;
            let claimable: i64 = db.query_one(
                "SELECT COUNT(*) FROM deliveries WHERE digest_id = ?1 AND state = 'pending'
                 AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?2)",
                params![digest_id, wall],
                |row| row.get(0),
            )?;
            Ok((ambiguous, claimable as usize))
        })
    }

    /// Rows of a digest another sender holds under a live lease, pending or
    /// in flight: theirs to finish, not this sender's to report as left.
    pub fn held_by_others(&self, digest_id: &str, claimant: &Claimant) -> Result<usize> {
        let count: i64 = self.db.query_one(
            "SELECT COUNT(*) FROM deliveries WHERE digest_id = ?1 AND state IN ('pending', 'sending')
             AND owner IS NOT NULL AND owner != ?2 AND lease_until >= ?3",
            params![digest_id, claimant.owner, wall_text()],
            |row| row.get(0),
        )?;
        Ok(count as usize)
    }

    /// Marks a row `sending` and counts the attempt; committed before the message leaves.
    pub fn mark_sending(&self, id: i64, message_id: &str, claimant: &Claimant) -> Result<Claim> {
        self.mark_outcome_and_sending(None, id, message_id, claimant)
    }

    /// Records the outcome of an earlier attempt (`outcome`: row, state,
    /// reply) and marks row `id` `sending`, in one transaction: a worker that
    /// has just had a message accepted writes that together with its next
    /// message's `sending` mark, one commit a message instead of two. Either
    /// both changes are durable or neither is; if neither, the earlier row is
    /// still `sending` (reported ambiguous after a crash, never resent) and
    /// row `id` has not been sent.
    ///
    /// The row must still be pending and `claimant`'s: a sender whose lease
    /// lapsed while the row waited (a retry's backoff) finds it taken
    /// ([`Claim::Lost`]) instead of sending it a second time. The claim
    /// checks the row's subscriber in the same statement: one who opted
    /// out since the list was frozen (a one-click unsubscribe while the
    /// send runs, taken by any `serve`) is not mailed; the row becomes
    /// `suppressed`.
    pub fn mark_outcome_and_sending(
        &self,
        outcome: Option<(i64, State, &str)>,
        id: i64,
        message_id: &str,
        claimant: &Claimant,
    ) -> Result<Claim> {
        let claims = self.mark_outcomes_and_sending(&[Mark { outcome, id, message_id }], claimant)?;
        Ok(claims[0])
    }

    /// [`Store::mark_outcome_and_sending`] for several workers' rows at once,
    /// all committed together or none (a group commit: one commit for the
    /// marks that arrived while the one before was being written). Gives
    /// each mark's claim, in order.
    pub fn mark_outcomes_and_sending(&self, marks: &[Mark], claimant: &Claimant) -> Result<Vec<Claim>> {
        if marks.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_text();
        if self.db.backend() == Backend::Postgres {
            // One statement, one round trip, atomic like the transaction below.
            let outcomes: Vec<_> = marks
                .iter()
                .map(|mark| match mark.outcome {
                    Some((done, state, reply)) => (Some(done), Some(state.as_str()), Some(reply)),
                    None => (None, None, None),
                })
                .collect();
            let mut params: Vec<&dyn Param> = Vec::with_capacity(marks.len() * 5 + 2);
            for (mark, (done, state, reply)) in marks.iter().zip(&outcomes) {
                params.extend([done as &dyn Param, state, reply, &mark.id, &mark.message_id]);
            }
            params.extend([&now as &dyn Param, &claimant.owner]);
            let rows: HashMap<i64, bool> = self
                .db
                .query(&mark_and_claim_postgres(marks.len()), &params, |row| Ok((row.get(0)?, row.get(1)?)))?
                .into_iter()
                .collect();
            return Ok(marks
                .iter()
                .map(|mark| match rows.get(&mark.id) {
                    Some(true) => Claim::Sending,
                    Some(false) => Claim::OptedOut,
                    None => Claim::Lost,
                })
                .collect());
        }
        self.in_transaction(|db| {
            let mut claims = Vec::with_capacity(marks.len());
            for mark in marks {
                if let Some((done, state, reply)) = mark.outcome {
                    db.execute(MARK, params![done, state.as_str(), reply, now])?;
                }
                let claimed = db.execute(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, message_id = ?2, updated_at = ?3
                     WHERE id = ?1 AND owner = ?4 AND state = 'pending' AND NOT EXISTS (
                         SELECT 1 FROM subscribers WHERE subscribers.id = deliveries.subscriber_id
                         AND subscribers.status != 'subscribed')",
                    params![mark.id, mark.message_id, now, claimant.owner],
                )?;
                if claimed == 1 {
                    claims.push(Claim::Sending);
                    continue;
                }
                let suppressed = db.execute(
                    "UPDATE deliveries SET state = 'suppressed', reply = ?2, updated_at = ?3
                     WHERE id = ?1 AND owner = ?4 AND state = 'pending'",
                    params![mark.id, "opted out during the send", now, claimant.owner],
                )?;
                claims.push(if suppressed == 1 { Claim::OptedOut } else { Claim::Lost });
            }
            Ok(claims)
        })
    }

    /// Records the outcome of an attempt.
    pub fn mark(&self, id: i64, state: State, reply: &str) -> Result<()> {
        self.db.execute(MARK, params![id, state.as_str(), reply, now_text()])?;
        Ok(())
    }

    /// Counts per state.
    pub fn counts(&self, digest_id: &str) -> Result<Vec<(State, usize)>> {
        let found: Vec<(String, i64)> = self.db.query(
            "SELECT state, COUNT(*) FROM deliveries WHERE digest_id = ?1 GROUP BY state",
            params![digest_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(State::ALL
            .iter()
            .map(|state| (*state, found.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n as usize)))
            .collect())
    }

    /// Whether a digest's send left rows to send: pending, failed for now
    /// (every run retries those), or being sent when a sender stopped (the
    /// next run reports them ambiguous). `digest send --due` finishes such
    /// a digest before it sends the next ([`crate::delivery::due`]). Reads
    /// one digest's rows through its `(digest_id, …)` index, and stops at
    /// the first.
    pub fn rows_left(&self, digest_id: &str) -> Result<bool> {
        let found: Option<i64> = self.db.query_opt(
            "SELECT id FROM deliveries WHERE digest_id = ?1 AND state IN ('pending', 'sending', 'failed_transient') LIMIT 1",
            params![digest_id],
            |row| row.get(0),
        )?;
        Ok(found.is_some())
    }

    /// The `limit` most common replies of failed and ambiguous rows, each
    /// with its recipient's address taken out ([`reply_pattern`]), so that
    /// one refusal given to many recipients counts as one: state, reply,
    /// count, most common first.
    pub fn common_failures(&self, digest_id: &str, limit: usize) -> Result<Vec<(State, String, usize)>> {
        let mut counts: HashMap<(State, String), usize> = HashMap::new();
        let rows = self.db.query(
            "SELECT state, address, reply FROM deliveries WHERE digest_id = ?1
             AND state IN ('failed_permanent', 'failed_transient', 'ambiguous')",
            params![digest_id],
            |row| Ok((row.get::<String>(0)?, row.get::<String>(1)?, row.get::<Option<String>>(2)?)),
        )?;
        for (state, address, reply) in rows {
            let state = State::parse(&state).ok_or_else(|| super::unknown_value("a delivery state", &state))?;
            *counts.entry((state, reply_pattern(reply.as_deref().unwrap_or(""), &address))).or_default() += 1;
        }
        let mut common: Vec<(State, String, usize)> =
            counts.into_iter().map(|((state, reply), count)| (state, reply, count)).collect();
        common.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, &a.1).cmp(&(b.0, &b.1))));
        common.truncate(limit);
        Ok(common)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::store::testing::store_tests;
    use crate::store::{Channel, Unsubscribed};

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    /// Unlinked rows, as `--test-to` and ledgers before the store have them.
    fn freeze(store: &mut Store, digest: &str, addresses: &[&str]) {
        store.freeze(digest, addresses.iter().map(|a| (None, *a, None))).unwrap();
    }

    store_tests! {
    /// A delivery state or a subscriber status that a newer newsroom wrote
    /// is an error that says so, not a guess (`ambiguous`, `removed`).
    fn values_a_newer_version_wrote_are_refused_not_guessed(place: &TestPlace) {
        let mut store = place.open();
        freeze(&mut store, "d", &["a@x.org"]);
        store.db.execute("UPDATE deliveries SET state = 'deferred' WHERE digest_id = 'd'", &[]).unwrap();
        let error = store.rows("d", None).unwrap_err().to_string();
        assert!(error.contains("a delivery state `deferred`") && error.contains("a newer version"), "{error}");
        store.add("b@x.org", None, false, now()).unwrap();
        store.db.execute("UPDATE subscribers SET status = 'paused'", &[]).unwrap();
        let error = store.subscriber("b@x.org").unwrap_err().to_string();
        assert!(error.contains("a subscriber status `paused`"), "{error}");
    }

    fn a_crash_while_sending_leaves_an_ambiguous_row_not_a_pending_one(place: &TestPlace) {
        let mut store = place.open();
        store.freeze("d", [(None, "a@x.org", None), (None, "b@x.org", Some("B"))].into_iter()).unwrap();
        // A sender whose lease lapses at once: dead, whichever backend.
        let claimant = Claimant::new(std::time::Duration::from_millis(1));
        let rows = store.claim("d", &claimant, 10).unwrap();
        assert_eq!(store.mark_sending(rows[0].id, "<m@x>", &claimant).unwrap(), Claim::Sending);
        std::thread::sleep(std::time::Duration::from_millis(5));
        store.mark(rows[1].id, State::FailedTransient, "451").unwrap();
        drop(store);
        let mut store = place.open();
        assert_eq!(store.recover("d", false, false).unwrap(), 1);
        let states: Vec<State> = store.rows("d", None).unwrap().iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Ambiguous, State::Pending]);
        // Freezing again keeps the first list.
        freeze(&mut store, "d", &["c@x.org"]);
        assert_eq!(store.rows("d", None).unwrap().len(), 2);
    }

    /// A digest has rows left while one is pending, failed for now or
    /// being sent; sent, refused, ambiguous and suppressed ones are settled.
    fn a_digest_has_rows_left_until_every_row_is_settled(place: &TestPlace) {
        let mut store = place.open();
        assert!(!store.rows_left("d").unwrap(), "a digest not frozen");
        freeze(&mut store, "d", &["a@x.org", "b@x.org"]);
        freeze(&mut store, "e", &["a@x.org"]);
        let rows = store.rows("d", None).unwrap();
        assert!(store.rows_left("d").unwrap(), "pending");
        store.mark(rows[1].id, State::Sent, "250").unwrap();
        for (state, left) in [
            (State::Sending, true),
            (State::FailedTransient, true),
            (State::Pending, true),
            (State::Sent, false),
            (State::FailedPermanent, false),
            (State::Ambiguous, false),
            (State::Suppressed, false),
        ] {
            store.mark(rows[0].id, state, "").unwrap();
            assert_eq!(store.rows_left("d").unwrap(), left, "{state:?}");
        }
        assert!(store.rows_left("e").unwrap(), "another digest's rows are its own");
    }

    /// `unsubscribe BOB@Birds.Test` stops `bob@birds.test`, frozen in
    /// another spelling before the store linked rows to subscribers.
    fn opt_outs_are_not_sent_whatever_the_spelling(place: &TestPlace) {
        let mut store = place.open();
        freeze(&mut store, "d", &["bob@birds.test", "Eve@birds.test", "ann@birds.test"]);
        assert_eq!(store.unsubscribe("BOB@birds.test", Channel::Cli, None, now()).unwrap(), Unsubscribed::NotOnTheList);
        assert_eq!(store.unsubscribe("bob@birds.test", Channel::Cli, None, now()).unwrap(), Unsubscribed::Already);
        store.unsubscribe("eve@birds.test", Channel::Cli, None, now()).unwrap();
        store.recover("d", false, false).unwrap();
        let pending: Vec<String> = store.pending("d").unwrap().into_iter().map(|r| r.address).collect();
        assert_eq!(pending, ["ann@birds.test"]);
    }

    /// An unsubscribe that lands while the send runs stops the messages not
    /// yet claimed: the claim reads the subscriber in the same statement.
    fn a_row_claimed_after_its_subscriber_opted_out_is_not_sent(place: &TestPlace) {
        let mut store = place.open();
        let (ada, _) = store.add("ada@x.org", None, false, now()).unwrap();
        let (bob, _) = store.add("bob@x.org", None, false, now()).unwrap();
        store.freeze("d", [(Some(ada.id), "ada@x.org", None), (Some(bob.id), "bob@x.org", None)].into_iter()).unwrap();
        let claimant = Claimant::new(std::time::Duration::from_secs(60));
        let rows = store.claim("d", &claimant, 10).unwrap();
        store.unsubscribe("bob@x.org", Channel::OneClick, Some("d"), now()).unwrap();
        assert_eq!(store.mark_sending(rows[0].id, "<a@x>", &claimant).unwrap(), Claim::Sending);
        assert_eq!(store.mark_sending(rows[1].id, "<b@x>", &claimant).unwrap(), Claim::OptedOut);
        let states: Vec<State> = store.rows("d", None).unwrap().iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Sending, State::Suppressed]);
    }

    fn replies_are_compared_without_their_recipient(place: &TestPlace) {
        assert_eq!(reply_pattern("550 5.1.1 <Bob@x.org>: unknown", "bob@x.org"), "550 5.1.1 <address>: unknown");
        assert_eq!(reply_pattern("554 5.7.1 Relay access denied", "bob@x.org"), "554 5.7.1 Relay access denied");
        let mut store = place.open();
        freeze(&mut store, "d", &["a@x.org", "b@x.org", "c@x.org"]);
        let rows = store.pending("d").unwrap();
        store.mark(rows[0].id, State::FailedPermanent, "550 <a@x.org> unknown").unwrap();
        store.mark(rows[1].id, State::FailedPermanent, "550 <b@x.org> unknown").unwrap();
        store.mark(rows[2].id, State::FailedTransient, "451 later").unwrap();
        assert_eq!(
            store.common_failures("d", 10).unwrap(),
            [
                (State::FailedPermanent, "550 <address> unknown".to_string(), 2),
                (State::FailedTransient, "451 later".into(), 1)
            ]
        );
        assert_eq!(store.common_failures("d", 1).unwrap().len(), 1);
    }

    /// Several workers' marks in one group commit: each gets its own
    /// claim, in order, and each earlier row its outcome; one mark's row
    /// being opted out or another sender's changes nothing for the others.
    fn a_group_of_marks_is_committed_together_each_with_its_claim(place: &TestPlace) {
        let mut store = place.open();
        let (ada, _) = store.add("ada@x.org", None, false, now()).unwrap();
        let (bob, _) = store.add("bob@x.org", None, false, now()).unwrap();
        let (cy, _) = store.add("cy@x.org", None, false, now()).unwrap();
        let (dee, _) = store.add("dee@x.org", None, false, now()).unwrap();
        let (eve, _) = store.add("eve@x.org", None, false, now()).unwrap();
        let list = [(&ada, "ada@x.org"), (&bob, "bob@x.org"), (&cy, "cy@x.org"), (&dee, "dee@x.org"), (&eve, "eve@x.org")];
        store.freeze("d", list.iter().map(|(s, a)| (Some(s.id), *a, None))).unwrap();
        let (ours, theirs) = (Claimant::new(Duration::from_secs(60)), Claimant::new(Duration::from_secs(60)));
        let rows = store.claim("d", &ours, 4).unwrap();
        assert_eq!(store.claim("d", &theirs, 4).unwrap().len(), 1, "eve's row is the other sender's");
        let eve_row = store.rows("d", None).unwrap()[4].id;
        // Two workers have a message in flight: ada's and bob's.
        assert_eq!(store.mark_sending(rows[0].id, "<a@x>", &ours).unwrap(), Claim::Sending);
        assert_eq!(store.mark_sending(rows[1].id, "<b@x>", &ours).unwrap(), Claim::Sending);
        store.unsubscribe("dee@x.org", Channel::OneClick, Some("d"), now()).unwrap();
        let marks = [
            Mark { outcome: Some((rows[0].id, State::Sent, "250 ok a")), id: rows[2].id, message_id: "<c@x>" },
            Mark { outcome: Some((rows[1].id, State::Sent, "250 ok b")), id: rows[3].id, message_id: "<d@x>" },
            Mark { outcome: None, id: eve_row, message_id: "<e@x>" },
        ];
        assert_eq!(
            store.mark_outcomes_and_sending(&marks, &ours).unwrap(),
            [Claim::Sending, Claim::OptedOut, Claim::Lost]
        );
        let rows = store.rows("d", None).unwrap();
        let states: Vec<(State, Option<&str>, u32)> =
            rows.iter().map(|r| (r.state, r.reply.as_deref(), r.attempts)).collect();
        assert_eq!(
            states,
            [
                (State::Sent, Some("250 ok a"), 1),
                (State::Sent, Some("250 ok b"), 1),
                (State::Sending, None, 1),
                (State::Suppressed, Some("opted out during the send"), 0),
                (State::Pending, None, 0),
            ]
        );
        assert!(store.mark_outcomes_and_sending(&[], &ours).unwrap().is_empty());
    }

    /// Two senders claiming at once take different rows, and between them every row.
    fn senders_claim_different_rows(place: &TestPlace) {
        let mut store = place.open();
        let addresses: Vec<String> = (0..10).map(|n| format!("r{n}@x.org")).collect();
        freeze(&mut store, "d", &addresses.iter().map(String::as_str).collect::<Vec<_>>());
        let other = place.open();
        let (a, b) = (Claimant::new(Duration::from_secs(60)), Claimant::new(Duration::from_secs(60)));
        let first = store.claim("d", &a, 4).unwrap();
        let second = other.claim("d", &b, 100).unwrap();
        assert_eq!((first.len(), second.len()), (4, 6));
        let mut ids: Vec<i64> = first.iter().chain(&second).map(|r| r.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        assert!(store.claim("d", &a, 100).unwrap().is_empty(), "claimed twice");
        // A row is sent only by the sender that holds it.
        assert_eq!(other.mark_sending(first[0].id, "<x@y>", &b).unwrap(), Claim::Lost);
        assert_eq!(store.mark_sending(first[0].id, "<x@y>", &a).unwrap(), Claim::Sending);
        // Released rows are anyone's at once.
        assert_eq!(store.release("d", &a).unwrap(), 3);
        assert_eq!(other.claim("d", &b, 100).unwrap().len(), 3);
    }

    /// A sender that died holds its rows until its lease lapses; then
    /// another takes them, and the dead one, were it only slow, finds
    /// them gone instead of sending them a second time.
    fn a_lapsed_claim_passes_to_another_sender(place: &TestPlace) {
        let mut store = place.open();
        freeze(&mut store, "d", &["a@x.org", "b@x.org"]);
        let slow = Claimant::new(Duration::from_millis(30));
        let rows = store.claim("d", &slow, 10).unwrap();
        let next = Claimant::new(Duration::from_secs(60));
        assert!(store.claim("d", &next, 10).unwrap().is_empty());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(store.claim("d", &next, 10).unwrap().len(), 2);
        assert_eq!(store.mark_sending(rows[0].id, "<a@x>", &slow).unwrap(), Claim::Lost);
        assert_eq!(store.mark_sending(rows[0].id, "<a@x>", &next).unwrap(), Claim::Sending);
        assert_eq!(store.rows("d", None).unwrap()[0].attempts, 1);
    }

    /// Recovery leaves a live sender's rows alone on PostgreSQL, where
    /// others may be running; on SQLite one sender runs at a time (the
    /// lock file), so whatever is left `sending` is a dead run's.
    fn recovery_leaves_a_live_senders_rows_alone(place: &TestPlace) {
        let mut store = place.open();
        freeze(&mut store, "d", &["a@x.org", "b@x.org"]);
        let live = Claimant::new(Duration::from_secs(60));
        let rows = store.claim("d", &live, 1).unwrap();
        store.mark_sending(rows[0].id, "<a@x>", &live).unwrap();
        let recovered = store.recover("d", false, false).unwrap();
        let expected = match store.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => 0,
        };
        assert_eq!(recovered, expected);
    }

    /// Issue 26, point 6: what another sender holds is waited for while its
    /// lease lives, and taken over once it lapses: its row in flight is
    /// ambiguous (never sent twice), its pending rows anyone's to claim.
    fn a_lapsed_senders_rows_are_taken_over_and_a_live_ones_waited_for(place: &TestPlace) {
        let mut store = place.open();
        freeze(&mut store, "d", &["a@x.org", "b@x.org", "c@x.org", "d@x.org"]);
        let (ours, live, dead) = (
            Claimant::new(Duration::from_secs(60)),
            Claimant::new(Duration::from_secs(60)),
            Claimant::new(Duration::from_millis(1)),
        );
        let lived = store.claim("d", &live, 1).unwrap();
        let died = store.claim("d", &dead, 2).unwrap();
        store.mark_sending(died[0].id, "<b@x>", &dead).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        // The live sender's row is held; the dead one's two, lapsed, are not.
        let (held, lapses) = store.others_claims("d", &ours).unwrap();
        assert_eq!(held, 1);
        assert!(lapses.is_some_and(|at| at > chrono::Utc::now()), "{lapses:?}");
        let (ambiguous, claimable) = store.take_over_lapsed("d", &ours).unwrap();
        assert_eq!((ambiguous, claimable), (1, 2), "the dead sender's row in flight, its pending row and d@x.org");
        let states: Vec<State> = store.rows("d", None).unwrap().iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Pending, State::Ambiguous, State::Pending, State::Pending]);
        let taken: Vec<i64> = store.claim("d", &ours, 10).unwrap().iter().map(|r| r.id).collect();
        assert_eq!(taken, [died[1].id, store.rows("d", None).unwrap()[3].id]);
        assert!(!taken.contains(&lived[0].id), "a live lease's row was taken");
        // Our own rows are neither held by others nor taken over.
        assert_eq!(store.others_claims("d", &ours).unwrap().0, 1);
        assert_eq!(store.take_over_lapsed("d", &ours).unwrap(), (0, 0));
    }

    /// Eight senders, each with its own connection, drain one digest at
    /// once: every row sent exactly once.
    fn concurrent_senders_send_each_row_once(place: &TestPlace) {
        let mut store = place.open();
        let addresses: Vec<String> = (0..400).map(|n| format!("r{n}@x.org")).collect();
        freeze(&mut store, "d", &addresses.iter().map(String::as_str).collect::<Vec<_>>());
        let sent: usize = std::thread::scope(|scope| {
            let senders: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        let store = place.open();
                        let claimant = Claimant::new(Duration::from_secs(60));
                        let mut sent = 0;
                        loop {
                            let rows = store.claim("d", &claimant, 7).unwrap();
                            if rows.is_empty() {
                                return sent;
                            }
                            for row in rows {
                                assert_eq!(store.mark_sending(row.id, "<m@x>", &claimant).unwrap(), Claim::Sending);
                                store.mark(row.id, State::Sent, "250 ok").unwrap();
                                sent += 1;
                            }
                        }
                    })
                })
                .collect();
            senders.into_iter().map(|sender| sender.join().unwrap()).sum()
        });
        assert_eq!(sent, 400);
        let rows = store.rows("d", None).unwrap();
        assert!(rows.iter().all(|row| row.state == State::Sent && row.attempts == 1));
    }

    /// Senders that start together each freeze the list: all find the same
    /// one, whole, whichever froze it.
    fn senders_starting_together_freeze_one_list(place: &TestPlace) {
        let store = place.open();
        for n in 0..50 {
            store.add(&format!("r{n}@x.org"), None, false, now()).unwrap();
        }
        let counts: Vec<usize> = std::thread::scope(|scope| {
            let senders: Vec<_> =
                (0..4).map(|_| scope.spawn(|| place.open().freeze_subscribed("d").unwrap())).collect();
            senders.into_iter().map(|sender| sender.join().unwrap()).collect()
        });
        assert_eq!(counts, [50, 50, 50, 50]);
        assert_eq!(store.rows("d", None).unwrap().len(), 50);
    }
    }
}
