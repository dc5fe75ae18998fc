//! The delivery ledger: an SQLite file (WAL mode) that makes a send resumable
//! and exactly-once.
//!
//! The recipient list of a digest is frozen into it when the digest's first
//! send starts. Each message is marked `sending` (committed) before it is
//! handed to the relay and `sent` with the relay's reply after, so a crash at
//! any instant leaves every row in a state the next run can act on: `sent`
//! rows are skipped, `sending` rows are reported as ambiguous (the relay may
//! have the message) instead of being sent twice.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::subscribers::matching_key;

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

/// Why and since when an address is not mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub reason: String,
    pub created_at: String,
}

/// Every suppression by matching key. Ledgers written before keys were
/// matched case-insensitively hold some addresses as typed: they are folded here.
fn suppressed_keys(connection: &Connection) -> Result<HashMap<String, Suppression>> {
    let mut statement = connection.prepare_cached("SELECT address, reason, created_at FROM suppressions")?;
    let rows = statement.query_map([], |row| {
        Ok((matching_key(&row.get::<_, String>(0)?), Suppression { reason: row.get(1)?, created_at: row.get(2)? }))
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
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
    pub address: String,
    pub name: Option<String>,
    pub state: State,
    pub attempts: u32,
    pub reply: Option<String>,
}

/// The ledger file.
pub struct Ledger {
    connection: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS digests (
    digest_id TEXT PRIMARY KEY,
    frozen_at TEXT NOT NULL,
    recipients INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    digest_id TEXT NOT NULL,
    address TEXT NOT NULL,
    name TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    message_id TEXT,
    reply TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (digest_id, address)
);
-- No index on state: each message changes its row's state twice, and an
-- index on it made every commit write three or four pages instead of one.
-- The queries by state run once a run and read one digest's rows through
-- the unique index above.
DROP INDEX IF EXISTS deliveries_state;
CREATE TABLE IF NOT EXISTS suppressions (
    address TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
);
";

/// Records the outcome of an attempt.
const MARK: &str = "UPDATE deliveries SET state = ?2, reply = ?3, updated_at = ?4 WHERE id = ?1";

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Ledger {
    /// Opens (creating when needed) the ledger at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Ledger> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        let connection =
            Connection::open(path).with_context(|| format!("failed to open the ledger `{}`", path.display()))?;
        // WAL with synchronous=NORMAL: every commit survives a crash of
        // newsroom's process at any instant, the case the exactly-once promise
        // covers. An OS crash or power loss of this machine can undo the
        // commits since the WAL was last synced; a message whose `sending`
        // or `sent` mark is undone is pending again and may be sent twice.
        // FULL would close that window with an fsync per commit (the cost is
        // in BENCHMARKS.md, "The ledger's cost").
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.execute_batch(SCHEMA).context("failed to create the ledger tables")?;
        Ok(Ledger { connection })
    }

    /// Every suppression of the ledger at `path`, none if there is no
    /// ledger yet (a preview before any send must not create one).
    pub fn suppressions_at(path: &Path) -> Result<HashMap<String, Suppression>> {
        if !path.exists() {
            return Ok(HashMap::new());
        }
        Ledger::open(path)?.suppressions()
    }

    /// Whether the digest's recipient list is frozen already.
    pub fn is_frozen(&self, digest_id: &str) -> Result<bool> {
        Ok(self
            .connection
            .query_row("SELECT 1 FROM digests WHERE digest_id = ?1", [digest_id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Freezes the recipient list of a digest (once; later calls keep the first list).
    pub fn freeze<'a>(
        &mut self,
        digest_id: &str,
        recipients: impl Iterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<usize> {
        let tx = self.connection.transaction()?;
        let already = tx
            .query_row("SELECT recipients FROM digests WHERE digest_id = ?1", [digest_id], |r| r.get::<_, i64>(0))
            .optional()?;
        if let Some(count) = already {
            return Ok(count as usize);
        }
        let now = now_text();
        let mut count = 0;
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO deliveries (digest_id, address, name, state, updated_at) VALUES (?1, ?2, ?3, 'pending', ?4)",
            )?;
            for (address, name) in recipients {
                count += insert.execute(params![digest_id, address, name, now])?;
            }
        }
        tx.execute(
            "INSERT INTO digests (digest_id, frozen_at, recipients) VALUES (?1, ?2, ?3)",
            params![digest_id, now, count as i64],
        )?;
        tx.commit()?;
        Ok(count)
    }

    /// Prepares a run: `sending` rows left by a crash become `ambiguous` (or
    /// `pending` with `resend_ambiguous`, together with earlier ambiguous rows);
    /// transient failures become `pending`; permanent failures too with
    /// `retry_failed`; suppressed addresses become `suppressed`.
    pub fn recover(&mut self, digest_id: &str, resend_ambiguous: bool, retry_failed: bool) -> Result<usize> {
        let tx = self.connection.transaction()?;
        let now = now_text();
        let crashed = tx.execute(
            "UPDATE deliveries SET state = 'ambiguous', reply = 'interrupted while sending (the relay may have accepted it)', updated_at = ?2
             WHERE digest_id = ?1 AND state = 'sending'",
            params![digest_id, now],
        )?;
        if resend_ambiguous {
            tx.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'ambiguous'",
                params![digest_id, now],
            )?;
        }
        tx.execute("UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'failed_transient'", params![digest_id, now])?;
        if retry_failed {
            tx.execute("UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'failed_permanent'", params![digest_id, now])?;
        }
        // Matched in Rust by the subscribers' matching key: SQLite's lower()
        // folds ASCII only.
        let suppressed = suppressed_keys(&tx)?;
        if !suppressed.is_empty() {
            let pending: Vec<(i64, String)> = tx
                .prepare("SELECT id, address FROM deliveries WHERE digest_id = ?1 AND state = 'pending'")?
                .query_map([digest_id], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut mark = tx.prepare("UPDATE deliveries SET state = 'suppressed', updated_at = ?2 WHERE id = ?1")?;
            for (id, address) in pending {
                if suppressed.contains_key(&matching_key(&address)) {
                    mark.execute(params![id, now])?;
                }
            }
        }
        tx.commit()?;
        Ok(crashed)
    }

    /// The rows still to send, in list order.
    pub fn pending(&self, digest_id: &str) -> Result<Vec<Recipient>> {
        self.rows(digest_id, Some(State::Pending))
    }

    /// Rows of a digest, all or in one state.
    pub fn rows(&self, digest_id: &str, state: Option<State>) -> Result<Vec<Recipient>> {
        let mut statement = self.connection.prepare(
            "SELECT id, address, name, state, attempts, reply FROM deliveries
             WHERE digest_id = ?1 AND (?2 IS NULL OR state = ?2) ORDER BY id",
        )?;
        let rows = statement.query_map(params![digest_id, state.map(State::as_str)], |row| {
            let state: String = row.get(3)?;
            Ok(Recipient {
                id: row.get(0)?,
                address: row.get(1)?,
                name: row.get(2)?,
                state: State::parse(&state).unwrap_or(State::Ambiguous),
                attempts: row.get::<_, i64>(4)? as u32,
                reply: row.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Marks a row `sending` and counts the attempt; committed before the message leaves.
    pub fn mark_sending(&self, id: i64, message_id: &str) -> Result<()> {
        self.mark_outcome_and_sending(None, id, message_id)
    }

    /// Records the outcome of an earlier attempt (`outcome`: row, state,
    /// reply) and marks row `id` `sending`, in one transaction: a worker that
    /// has just had a message accepted writes that together with its next
    /// message's `sending` mark, one commit a message instead of two. Either
    /// both changes are durable or neither is; if neither, the earlier row is
    /// still `sending` (reported ambiguous after a crash, never resent) and
    /// row `id` has not been sent.
    pub fn mark_outcome_and_sending(
        &self,
        outcome: Option<(i64, State, &str)>,
        id: i64,
        message_id: &str,
    ) -> Result<()> {
        let now = now_text();
        self.in_transaction(|connection| {
            if let Some((done, state, reply)) = outcome {
                connection.prepare_cached(MARK)?.execute(params![done, state.as_str(), reply, now])?;
            }
            connection
                .prepare_cached(
                    "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, message_id = ?2, updated_at = ?3 WHERE id = ?1",
                )?
                .execute(params![id, message_id, now])?;
            Ok(())
        })
    }

    /// Runs `changes` in one transaction, committed if they all succeed and
    /// rolled back otherwise. BEGIN and COMMIT are cached statements
    /// (rusqlite's `Transaction` parses them again each time, a tenth of a
    /// message's ledger cost).
    fn in_transaction(&self, changes: impl FnOnce(&Connection) -> rusqlite::Result<()>) -> Result<()> {
        let connection = &self.connection;
        connection.prepare_cached("BEGIN")?.execute([])?;
        let result = changes(connection).and_then(|()| connection.prepare_cached("COMMIT")?.execute([]).map(drop));
        if result.is_err() && !connection.is_autocommit() {
            let _ = connection.execute_batch("ROLLBACK");
        }
        Ok(result?)
    }

    /// Records the outcome of an attempt.
    pub fn mark(&self, id: i64, state: State, reply: &str) -> Result<()> {
        self.connection.prepare_cached(MARK)?.execute(params![id, state.as_str(), reply, now_text()])?;
        Ok(())
    }

    /// Counts per state.
    pub fn counts(&self, digest_id: &str) -> Result<Vec<(State, usize)>> {
        let mut statement =
            self.connection.prepare("SELECT state, COUNT(*) FROM deliveries WHERE digest_id = ?1 GROUP BY state")?;
        let found: Vec<(String, i64)> =
            statement.query_map([digest_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
        Ok(State::ALL
            .iter()
            .map(|state| (*state, found.iter().find(|(s, _)| s == state.as_str()).map_or(0, |(_, n)| *n as usize)))
            .collect())
    }

    /// The `limit` most common replies of failed and ambiguous rows, each
    /// with its recipient's address taken out ([`reply_pattern`]), so that
    /// one refusal given to many recipients counts as one: state, reply,
    /// count, most common first.
    pub fn common_failures(&self, digest_id: &str, limit: usize) -> Result<Vec<(State, String, usize)>> {
        let mut counts: HashMap<(State, String), usize> = HashMap::new();
        let mut statement = self.connection.prepare(
            "SELECT state, address, reply FROM deliveries WHERE digest_id = ?1
             AND state IN ('failed_permanent', 'failed_transient', 'ambiguous')",
        )?;
        let rows = statement.query_map([digest_id], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, Option<String>>(2)?))
        })?;
        for row in rows {
            let (state, address, reply) = row?;
            let state = State::parse(&state).unwrap_or(State::Ambiguous);
            *counts.entry((state, reply_pattern(reply.as_deref().unwrap_or(""), &address))).or_default() += 1;
        }
        let mut common: Vec<(State, String, usize)> =
            counts.into_iter().map(|((state, reply), count)| (state, reply, count)).collect();
        common.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| (a.0, &a.1).cmp(&(b.0, &b.1))));
        common.truncate(limit);
        Ok(common)
    }

    /// Records that an address must never be mailed again, under its
    /// matching key, so any spelling of it is suppressed. False when it was already.
    pub fn suppress(&self, address: &str, reason: &str) -> Result<bool> {
        if self.suppression(address)?.is_some() {
            return Ok(false);
        }
        let changed = self.connection.execute(
            "INSERT OR IGNORE INTO suppressions (address, reason, created_at) VALUES (?1, ?2, ?3)",
            params![matching_key(address), reason, now_text()],
        )?;
        Ok(changed > 0)
    }

    /// The suppression of an address in any spelling: its reason and when it was recorded.
    pub fn suppression(&self, address: &str) -> Result<Option<Suppression>> {
        Ok(suppressed_keys(&self.connection)?.remove(&matching_key(address)))
    }

    /// Every suppression, by matching key.
    pub fn suppressions(&self) -> Result<HashMap<String, Suppression>> {
        suppressed_keys(&self.connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_while_sending_leaves_an_ambiguous_row_not_a_pending_one() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        ledger.freeze("d", [("a@x.org", None), ("b@x.org", Some("B"))].into_iter()).unwrap();
        let rows = ledger.pending("d").unwrap();
        ledger.mark_sending(rows[0].id, "<m@x>").unwrap();
        ledger.mark(rows[1].id, State::FailedTransient, "451").unwrap();
        drop(ledger);
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        assert_eq!(ledger.recover("d", false, false).unwrap(), 1);
        let states: Vec<State> = ledger.rows("d", None).unwrap().iter().map(|r| r.state).collect();
        assert_eq!(states, [State::Ambiguous, State::Pending]);
        // Freezing again keeps the first list.
        assert_eq!(ledger.freeze("d", [("c@x.org", None)].into_iter()).unwrap(), 2);
    }

    #[test]
    fn suppressed_addresses_are_not_sent() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        ledger.freeze("d", [("a@x.org", None), ("b@x.org", None)].into_iter()).unwrap();
        assert!(ledger.suppress("a@x.org", "unsubscribe").unwrap());
        ledger.recover("d", false, false).unwrap();
        let pending: Vec<String> = ledger.pending("d").unwrap().into_iter().map(|r| r.address).collect();
        assert_eq!(pending, ["b@x.org"]);
    }

    #[test]
    fn replies_are_compared_without_their_recipient() {
        assert_eq!(reply_pattern("550 5.1.1 <Bob@x.org>: unknown", "bob@x.org"), "550 5.1.1 <address>: unknown");
        assert_eq!(reply_pattern("554 5.7.1 Relay access denied", "bob@x.org"), "554 5.7.1 Relay access denied");
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        ledger.freeze("d", [("a@x.org", None), ("b@x.org", None), ("c@x.org", None)].into_iter()).unwrap();
        let rows = ledger.pending("d").unwrap();
        ledger.mark(rows[0].id, State::FailedPermanent, "550 <a@x.org> unknown").unwrap();
        ledger.mark(rows[1].id, State::FailedPermanent, "550 <b@x.org> unknown").unwrap();
        ledger.mark(rows[2].id, State::FailedTransient, "451 later").unwrap();
        assert_eq!(
            ledger.common_failures("d", 10).unwrap(),
            [
                (State::FailedPermanent, "550 <address> unknown".to_string(), 2),
                (State::FailedTransient, "451 later".into(), 1)
            ]
        );
        assert_eq!(ledger.common_failures("d", 1).unwrap().len(), 1);
    }

    /// `unsubscribe BOB@Birds.Test` suppresses `bob@birds.test` on the list:
    /// one entry, whatever the spelling, and a row frozen in another case.
    #[test]
    fn suppressions_match_any_spelling_of_an_address() {
        let dir = tempfile::tempdir().unwrap();
        let mut ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        ledger.freeze("d", [("bob@birds.test", None), ("Eve@birds.test", None)].into_iter()).unwrap();
        assert!(ledger.suppress("BOB@birds.test", "unsubscribe").unwrap());
        assert!(!ledger.suppress("bob@birds.test", "unsubscribe").unwrap(), "a second entry for one address");
        assert!(ledger.suppress("eve@birds.test", "unsubscribe").unwrap());
        assert_eq!(ledger.suppressions().unwrap().len(), 2);
        assert!(ledger.suppression("Bob@Birds.test").unwrap().is_some());
        ledger.recover("d", false, false).unwrap();
        assert!(ledger.pending("d").unwrap().is_empty(), "{:?}", ledger.pending("d").unwrap());
    }
}
