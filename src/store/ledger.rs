//! The delivery ledger, in the store: what makes a send resumable and
//! exactly-once.
//!
//! The recipient list of a digest is frozen into it when the digest's first
//! send starts, each row naming its subscriber. Each message is marked `sending` (committed) before it is
//! handed to the relay and `sent` with the relay's reply after, so a crash at
//! any instant leaves every row in a state the next run can act on: `sent`
//! rows are skipped, `sending` rows are reported as ambiguous (the relay may
//! have the message) instead of being sent twice.

use std::collections::HashMap;

use super::Store;
use super::db::{Db, params};
use crate::subscribers::matching_key;
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

/// Records the outcome of an attempt.
const MARK: &str = "UPDATE deliveries SET state = ?2, reply = ?3, updated_at = ?4 WHERE id = ?1";

fn now_text() -> String {
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
}

/// How many recipients a digest was frozen with, if it was.
fn frozen_count(db: &Db, digest_id: &str) -> Result<Option<usize>> {
    let count =
        db.query_opt("SELECT recipients FROM digests WHERE digest_id = ?1", params![digest_id], |r| r.get::<i64>(0))?;
    Ok(count.map(|count| count as usize))
}

/// Records that a digest's list was frozen, with how many recipients.
fn record_frozen(db: &Db, digest_id: &str, now: &str, count: usize) -> Result<()> {
    db.execute(
        "INSERT INTO digests (digest_id, frozen_at, recipients) VALUES (?1, ?2, ?3)",
        params![digest_id, now, count as i64],
    )?;
    Ok(())
}

impl Store {
    /// Whether the digest's recipient list is frozen already.
    pub fn is_frozen(&self, digest_id: &str) -> Result<bool> {
        Ok(self.db.query_opt("SELECT 1 FROM digests WHERE digest_id = ?1", params![digest_id], |_| Ok(()))?.is_some())
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
            record_frozen(db, digest_id, &now, count)?;
            Ok(count)
        })
    }

    /// Freezes the store's subscribed list as the recipients of a digest,
    /// in one statement (no list in memory); once, like [`Store::freeze`].
    /// Returns how many were frozen.
    pub fn freeze_subscribed(&mut self, digest_id: &str) -> Result<usize> {
        self.in_transaction(|db| {
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
                record_frozen(db, digest_id, &now, count)?;
            }
            Ok(count)
        })
    }

    /// Prepares a run: `sending` rows left by a crash become `ambiguous` (or
    /// `pending` with `resend_ambiguous`, together with earlier ambiguous rows);
    /// transient failures become `pending`; permanent failures too with
    /// `retry_failed`; rows of subscribers who opted out become `suppressed`.
    pub fn recover(&mut self, digest_id: &str, resend_ambiguous: bool, retry_failed: bool) -> Result<usize> {
        self.in_transaction(|db| {
            let now = now_text();
            let crashed = db.execute(
                "UPDATE deliveries SET state = 'ambiguous', reply = 'interrupted while sending (the relay may have accepted it)', updated_at = ?2
                 WHERE digest_id = ?1 AND state = 'sending'",
                params![digest_id, now],
            )?;
            if resend_ambiguous {
                db.execute(
                    "UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'ambiguous'",
                    params![digest_id, now],
                )?;
            }
            db.execute(
                "UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'failed_transient'",
                params![digest_id, now],
            )?;
            if retry_failed {
                db.execute(
                    "UPDATE deliveries SET state = 'pending', updated_at = ?2 WHERE digest_id = ?1 AND state = 'failed_permanent'",
                    params![digest_id, now],
                )?;
            }
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
            |row| {
                let state: String = row.get(3)?;
                Ok(Recipient {
                    id: row.get(0)?,
                    subscriber_id: row.get(6)?,
                    address: row.get(1)?,
                    name: row.get(2)?,
                    state: State::parse(&state).unwrap_or(State::Ambiguous),
                    attempts: row.get::<i64>(4)? as u32,
                    reply: row.get(5)?,
                })
            },
        )
    }

    /// Marks a row `sending` and counts the attempt; committed before the message leaves.
    pub fn mark_sending(&self, id: i64, message_id: &str) -> Result<Claim> {
        self.mark_outcome_and_sending(None, id, message_id)
    }

    /// Records the outcome of an earlier attempt (`outcome`: row, state,
    /// reply) and marks row `id` `sending`, in one transaction: a worker that
    /// has just had a message accepted writes that together with its next
    /// message's `sending` mark, one commit a message instead of two. Either
    /// both changes are durable or neither is; if neither, the earlier row is
    /// still `sending` (reported ambiguous after a crash, never resent) and
    /// row `id` has not been sent.
    ///
    /// The claim checks the row's subscriber in the same statement: one who
    /// opted out since the list was frozen (a one-click unsubscribe while
    /// the send runs) is not mailed; the row becomes `suppressed`.
    pub fn mark_outcome_and_sending(
        &self,
        outcome: Option<(i64, State, &str)>,
        id: i64,
        message_id: &str,
    ) -> Result<Claim> {
        let now = now_text();
        self.in_transaction(|db| {
            if let Some((done, state, reply)) = outcome {
                db.execute(MARK, params![done, state.as_str(), reply, now])?;
            }
            let claimed = db.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, message_id = ?2, updated_at = ?3
                 WHERE id = ?1 AND NOT EXISTS (
                     SELECT 1 FROM subscribers WHERE subscribers.id = deliveries.subscriber_id
                     AND subscribers.status != 'subscribed')",
                params![id, message_id, now],
            )?;
            if claimed == 1 {
                return Ok(Claim::Sending);
            }
            db.execute(
                "UPDATE deliveries SET state = 'suppressed', reply = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, "opted out during the send", now],
            )?;
            Ok(Claim::OptedOut)
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
            let state = State::parse(&state).unwrap_or(State::Ambiguous);
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
    fn a_crash_while_sending_leaves_an_ambiguous_row_not_a_pending_one(place: &TestPlace) {
        let mut store = place.open();
        store.freeze("d", [(None, "a@x.org", None), (None, "b@x.org", Some("B"))].into_iter()).unwrap();
        let rows = store.pending("d").unwrap();
        assert_eq!(store.mark_sending(rows[0].id, "<m@x>").unwrap(), Claim::Sending);
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
        let rows = store.pending("d").unwrap();
        store.unsubscribe("bob@x.org", Channel::OneClick, Some("d"), now()).unwrap();
        assert_eq!(store.mark_sending(rows[0].id, "<a@x>").unwrap(), Claim::Sending);
        assert_eq!(store.mark_sending(rows[1].id, "<b@x>").unwrap(), Claim::OptedOut);
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
    }
}
