//! Subscribers in the store: who they are, where they stand, and the
//! append-only record of every change to that (the consent history a
//! data-protection request or a dispute needs).
//!
//! Every status change is written together with its event, in one
//! transaction. An opt-out (unsubscribed, bounced, complained) is undone
//! only by [`Store::add`] with `resubscribe`, never by a CSV row.
//! [`Store::forget`] erases an address, its name, events and deliveries,
//! and keeps a keyed hash of it so a later import does not bring it back.
//!
//! Just over the house's ~600 lines: each status change writes its event
//! in the same function, so the consent history cannot drift from the
//! table.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::db::{Backend, Db, Param, Row, numbered, params, values};
use super::{Store, timestamp};
use crate::error::UsageError;
use crate::subscriber::matching_key;

pub use crate::subscriber::Status as SubscriberStatus;

/// How a subscriber came to the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A row of the operator's CSV: removed when the row goes.
    Csv,
    /// The sign-up form: never removed by the CSV.
    Web,
    /// `newsroom subscribers add` or `unsubscribe`.
    Cli,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Csv => "csv",
            Source::Web => "web",
            Source::Cli => "cli",
        }
    }

    pub fn parse(text: &str) -> Option<Source> {
        [Source::Csv, Source::Web, Source::Cli].into_iter().find(|s| s.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

/// What happened to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Subscribed,
    ConfirmationSent,
    Confirmed,
    Unsubscribed,
    Bounced,
    Complained,
    Resubscribed,
    Imported,
    Removed,
    /// A soft bounce (RFC 3463 `4.x.x`) that came back, below the policy's count.
    SoftBounce,
    /// A hard bounce below the policy's count, or of an opt-out.
    HardBounce,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Subscribed => "subscribed",
            EventKind::ConfirmationSent => "confirmation_sent",
            EventKind::Confirmed => "confirmed",
            EventKind::Unsubscribed => "unsubscribed",
            EventKind::Bounced => "bounced",
            EventKind::Complained => "complained",
            EventKind::Resubscribed => "resubscribed",
            EventKind::Imported => "imported",
            EventKind::Removed => "removed",
            EventKind::SoftBounce => "soft_bounce",
            EventKind::HardBounce => "hard_bounce",
        }
    }

    pub(super) fn parse(text: &str) -> EventKind {
        [
            EventKind::Subscribed,
            EventKind::ConfirmationSent,
            EventKind::Confirmed,
            EventKind::Unsubscribed,
            EventKind::Bounced,
            EventKind::Complained,
            EventKind::Resubscribed,
            EventKind::Imported,
            EventKind::Removed,
            EventKind::SoftBounce,
            EventKind::HardBounce,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
        .unwrap_or(EventKind::Imported)
    }
}

/// Through what an event came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// RFC 8058 one-click unsubscribe.
    OneClick,
    /// The unsubscribe page's button.
    Page,
    /// Mail to the unsubscribe address.
    Mailto,
    /// The command line.
    Cli,
    /// The operator's CSV.
    Csv,
    /// The sign-up form.
    Web,
    /// A refusal from the relay during a send.
    Relay,
    /// A delivery status notification that came back.
    Dsn,
    /// A complaint (an ARF feedback report) from a mailbox provider.
    Arf,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::OneClick => "one-click",
            Channel::Page => "page",
            Channel::Mailto => "mailto",
            Channel::Cli => "cli",
            Channel::Csv => "csv",
            Channel::Web => "web",
            Channel::Relay => "relay",
            Channel::Dsn => "dsn",
            Channel::Arf => "arf",
        }
    }

    fn parse(text: &str) -> Option<Channel> {
        [
            Channel::OneClick,
            Channel::Page,
            Channel::Mailto,
            Channel::Cli,
            Channel::Csv,
            Channel::Web,
            Channel::Relay,
            Channel::Dsn,
            Channel::Arf,
        ]
        .into_iter()
        .find(|channel| channel.as_str() == text)
    }
}

/// One entry of a subscriber's history.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub at: String,
    pub kind: EventKind,
    pub channel: Option<Channel>,
    /// The relay's reply, a DSN status, the previous status…
    pub detail: Option<String>,
    pub digest_id: Option<String>,
}

impl Event {
    pub fn new(kind: EventKind, channel: Channel) -> Event {
        Event { at: String::new(), kind, channel: Some(channel), detail: None, digest_id: None }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Event {
        self.detail = Some(detail.into());
        self
    }

    pub fn digest(mut self, digest_id: &str) -> Event {
        self.digest_id = Some(digest_id.to_string());
        self
    }
}

/// A subscriber as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SubscriberRecord {
    pub id: i64,
    /// The address as given.
    pub address: String,
    /// The key two spellings of the address share.
    pub key: String,
    pub name: Option<String>,
    pub status: SubscriberStatus,
    pub source: Source,
    /// The CSV's other columns, as (header, value), sorted by header.
    pub attributes: Vec<(String, String)>,
    pub created_at: String,
    pub confirmed_at: Option<String>,
    pub changed_at: String,
}

/// The columns [`SubscriberRecord::from_row`] reads, in order.
pub(super) const COLUMNS: &str =
    "id, address, key, name, status, source, attributes, created_at, confirmed_at, changed_at";
/// How many [`COLUMNS`] there are: the index of a column selected after them.
pub(super) const COLUMN_COUNT: usize = 10;

impl SubscriberRecord {
    pub(super) fn from_row(row: &Row) -> Result<SubscriberRecord> {
        let status: String = row.get(4)?;
        let source: String = row.get(5)?;
        let attributes: String = row.get(6)?;
        Ok(SubscriberRecord {
            id: row.get(0)?,
            address: row.get(1)?,
            key: row.get(2)?,
            name: row.get(3)?,
            status: SubscriberStatus::parse(&status)
                .ok_or_else(|| super::unknown_value("a subscriber status", &status))?,
            source: Source::parse(&source).ok_or_else(|| super::unknown_value("a subscriber source", &source))?,
            attributes: decode_attributes(&attributes),
            created_at: row.get(7)?,
            confirmed_at: row.get(8)?,
            changed_at: row.get(9)?,
        })
    }
}

/// Attributes as stored: a JSON object, keys sorted (serde_json's map is ordered).
pub(super) fn encode_attributes(attributes: &[(String, String)]) -> String {
    if attributes.is_empty() {
        return String::new();
    }
    let map: serde_json::Map<String, serde_json::Value> =
        attributes.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
    serde_json::Value::Object(map).to_string()
}

pub(super) fn decode_attributes(text: &str) -> Vec<(String, String)> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text) {
        Ok(map) => map.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect(),
        Err(_) => Vec::new(),
    }
}

/// What [`Store::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new subscriber.
    New,
    /// Was subscribed already (its name may have been updated).
    AlreadySubscribed,
    /// An opt-out, resubscribed as asked.
    Resubscribed,
    /// An opt-out, left as it is: resubscribing takes `--resubscribe`.
    KeptOptedOut(SubscriberStatus),
    /// Pending or removed, now subscribed.
    Subscribed,
}

/// What [`Store::unsubscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsubscribed {
    /// It was mailed, and is not any more.
    Unsubscribed,
    /// It was an opt-out already; nothing changed.
    Already,
    /// It was not in the store; it is now, unsubscribed, so it is never mailed.
    NotOnTheList,
    /// It was forgotten on request: not stored again, and never mailed
    /// (no import brings it back).
    Forgotten,
}

impl Store {
    /// The subscriber an address names, in any spelling.
    pub fn subscriber(&self, address: &str) -> Result<Option<SubscriberRecord>> {
        by_key(&self.db, &matching_key(address))
    }

    pub fn subscriber_by_id(&self, id: i64) -> Result<Option<SubscriberRecord>> {
        by_id(&self.db, id)
    }

    /// Every subscriber, or those in one status, oldest first.
    pub fn subscribers(&self, status: Option<SubscriberStatus>) -> Result<Vec<SubscriberRecord>> {
        self.db.query(
            &format!("SELECT {COLUMNS} FROM subscribers WHERE status = COALESCE(?1, status) ORDER BY id"),
            params![status.map(SubscriberStatus::as_str)],
            SubscriberRecord::from_row,
        )
    }

    /// A subscriber's history, oldest first.
    pub fn events(&self, subscriber_id: i64) -> Result<Vec<Event>> {
        self.db.query(
            "SELECT at, kind, channel, detail, digest_id FROM events WHERE subscriber_id = ?1 ORDER BY id",
            params![subscriber_id],
            |row| {
                let kind: String = row.get(1)?;
                let channel: Option<String> = row.get(2)?;
                Ok(Event {
                    at: row.get(0)?,
                    kind: EventKind::parse(&kind),
                    channel: channel.as_deref().and_then(Channel::parse),
                    detail: row.get(3)?,
                    digest_id: row.get(4)?,
                })
            },
        )
    }

    /// Adds a subscriber, or subscribes a known one. An opt-out is undone
    /// only with `resubscribe`, and that is recorded as an event.
    pub fn add(
        &self,
        address: &str,
        name: Option<&str>,
        resubscribe: bool,
        now: DateTime<Utc>,
    ) -> Result<(SubscriberRecord, Added)> {
        let at = timestamp(now);
        let key = matching_key(address);
        let forgotten = self.is_forgotten(&key)?;
        if forgotten && !resubscribe {
            return Err(UsageError::Argument(format!(
                "{address} was forgotten on request: nothing changed; `--resubscribe` adds it again, only when the reader asked for it"
            ))
            .into());
        }
        let added = self.in_transaction(|db| {
            let Some(existing) = by_key(db, &key)? else {
                let id = db.query_one(
                    "INSERT INTO subscribers (address, key, name, status, source, created_at, confirmed_at, changed_at)
                     VALUES (?1, ?2, ?3, 'subscribed', 'cli', ?4, ?4, ?4) RETURNING id",
                    params![address, key, name, at],
                    |row| row.get::<i64>(0),
                )?;
                let event = match forgotten {
                    true => Event::new(EventKind::Resubscribed, Channel::Cli).detail("was forgotten on request"),
                    false => Event::new(EventKind::Subscribed, Channel::Cli),
                };
                record(db, id, &event, &at)?;
                return Ok(Added::New);
            };
            if let Some(name) = name {
                db.execute("UPDATE subscribers SET name = ?2 WHERE id = ?1", params![existing.id, name])?;
            }
            let (status, event, added) = match existing.status {
                SubscriberStatus::Subscribed => return Ok(Added::AlreadySubscribed),
                status if status.is_opt_out() && !resubscribe => return Ok(Added::KeptOptedOut(status)),
                status if status.is_opt_out() => (
                    SubscriberStatus::Subscribed,
                    Event::new(EventKind::Resubscribed, Channel::Cli).detail(format!("was {status}")),
                    Added::Resubscribed,
                ),
                status => (
                    SubscriberStatus::Subscribed,
                    Event::new(EventKind::Subscribed, Channel::Cli).detail(format!("was {status}")),
                    Added::Subscribed,
                ),
            };
            set_status(db, existing.id, status, &event, &at)?;
            Ok(added)
        })?;
        if forgotten {
            self.db.execute("DELETE FROM forgotten WHERE key_hash = ?1", params![self.forget_hash(&key)?])?;
        }
        let record = self.subscriber(address)?.expect("added above");
        Ok((record, added))
    }

    /// Records that an address must never be mailed again (an opt-out
    /// through `channel`). An address not in the store is added as
    /// unsubscribed, so that it is never mailed if a list brings it later.
    pub fn unsubscribe(
        &self,
        address: &str,
        channel: Channel,
        digest_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Unsubscribed> {
        let at = timestamp(now);
        let key = matching_key(address);
        let mut event = Event::new(EventKind::Unsubscribed, channel);
        if let Some(digest_id) = digest_id {
            event = event.digest(digest_id);
        }
        if self.is_forgotten(&key)? {
            return Ok(Unsubscribed::Forgotten);
        }
        self.in_transaction(|db| {
            let existing = db.query_opt("SELECT id, status FROM subscribers WHERE key = ?1", params![key], |row| {
                Ok((row.get::<i64>(0)?, row.get::<String>(1)?))
            })?;
            match existing {
                None => {
                    let source = if channel == Channel::Cli { "cli" } else { "web" };
                    let id = db.query_one(
                        "INSERT INTO subscribers (address, key, status, source, created_at, changed_at)
                         VALUES (?1, ?2, 'unsubscribed', ?3, ?4, ?4) RETURNING id",
                        params![address, key, source, at],
                        |row| row.get::<i64>(0),
                    )?;
                    record(db, id, &event, &at)?;
                    Ok(Unsubscribed::NotOnTheList)
                }
                Some((_, status)) if SubscriberStatus::parse(&status).is_some_and(SubscriberStatus::is_opt_out) => {
                    Ok(Unsubscribed::Already)
                }
                Some((id, status)) => {
                    set_status(db, id, SubscriberStatus::Unsubscribed, &event.detail(format!("was {status}")), &at)?;
                    Ok(Unsubscribed::Unsubscribed)
                }
            }
        })
    }

    /// A permanent refusal of the address by the relay (`5.1.x`, no such
    /// mailbox) or a hard bounce: the subscriber is `bounced` and not mailed again.
    pub fn bounce(&self, subscriber_id: i64, event: &Event, now: DateTime<Utc>) -> Result<()> {
        let at = timestamp(now);
        self.in_transaction(|db| {
            let status: Option<String> =
                db.query_opt("SELECT status FROM subscribers WHERE id = ?1", params![subscriber_id], |row| row.get(0))?;
            let Some(status) = status else { return Ok(()) };
            match SubscriberStatus::parse(&status) {
                Some(known) if !known.is_opt_out() => {
                    set_status(db, subscriber_id, SubscriberStatus::Bounced, event, &at)
                }
                Some(_) => Ok(()),
                None => Err(super::unknown_value("a subscriber status", &status)),
            }
        })
    }

    /// Takes a subscriber off the list by hand: `removed`, with its event.
    /// An opt-out stays an opt-out. False when the address is unknown.
    pub fn remove(&self, address: &str, now: DateTime<Utc>) -> Result<bool> {
        let at = timestamp(now);
        let Some(subscriber) = self.subscriber(address)? else {
            return Ok(false);
        };
        if subscriber.status.is_opt_out() || subscriber.status == SubscriberStatus::Removed {
            return Ok(true);
        }
        let event = Event::new(EventKind::Removed, Channel::Cli).detail(format!("was {}", subscriber.status));
        self.in_transaction(|db| set_status(db, subscriber.id, SubscriberStatus::Removed, &event, &at))?;
        Ok(true)
    }

    /// Erases an address on request: the subscriber, its name, attributes,
    /// events and delivery rows are deleted, their pages overwritten
    /// (`secure_delete`), the file compacted; a keyed hash of the address
    /// ([`Store::forget_hash`]) is kept so an import does not bring it
    /// back. False when the address is unknown.
    pub fn forget(&self, address: &str, now: DateTime<Utc>) -> Result<bool> {
        let key = matching_key(address);
        let hash = self.forget_hash(&key)?;
        let at = timestamp(now);
        if let Some(connection) = self.db.sqlite() {
            connection.pragma_update(None, "secure_delete", "ON")?;
        }
        let known = self.in_transaction(|db| {
            let id: Option<i64> =
                db.query_opt("SELECT id FROM subscribers WHERE key = ?1", params![key], |row| row.get(0))?;
            let mut deleted = 0;
            if let Some(id) = id {
                db.execute("DELETE FROM events WHERE subscriber_id = ?1", params![id])?;
                deleted += db.execute("DELETE FROM subscribers WHERE id = ?1", params![id])?;
                db.execute("DELETE FROM deliveries WHERE subscriber_id = ?1", params![id])?;
            }
            // Rows of digests frozen before the store linked them, by address.
            let rows: Vec<(i64, String)> =
                db.query("SELECT id, address FROM deliveries WHERE subscriber_id IS NULL", params![], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
            for (row, address) in rows {
                if matching_key(&address) == key {
                    deleted += db.execute("DELETE FROM deliveries WHERE id = ?1", params![row])?;
                }
            }
            db.execute(
                "INSERT INTO forgotten (key_hash, at) VALUES (?1, ?2) ON CONFLICT (key_hash) DO NOTHING",
                params![hash, at],
            )?;
            Ok(deleted > 0)
        })?;
        match self.db.backend() {
            // The old pages are gone from the file and from the write-ahead log.
            Backend::Sqlite => {
                let connection = self.db.sqlite().expect("a SQLite store");
                connection.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
                connection.execute_batch("VACUUM")?;
                connection.pragma_update(None, "wal_checkpoint", "TRUNCATE")?;
            }
            // The deleted rows' space is reclaimed now rather than at the
            // next autovacuum; the server's WAL archive and backups hold
            // them until they age out (docs/security.md).
            Backend::Postgres => self.db.execute_batch("VACUUM subscribers, events, deliveries")?,
        }
        Ok(known)
    }

    /// Whether an address (by its key) was forgotten.
    pub fn is_forgotten(&self, key: &str) -> Result<bool> {
        let any: bool = self.db.query_one("SELECT EXISTS (SELECT 1 FROM forgotten)", params![], |row| row.get(0))?;
        if !any {
            return Ok(false);
        }
        let hash = self.forget_hash(key)?;
        Ok(self.db.query_opt("SELECT 1 FROM forgotten WHERE key_hash = ?1", params![hash], |_| Ok(()))?.is_some())
    }

    /// Which of `keys` were forgotten on request, in one query.
    pub(super) fn forgotten_among(&self, keys: &[&str]) -> Result<HashSet<String>> {
        let secret = self.store_key("forget")?;
        let hashes: HashMap<String, &str> = keys.iter().map(|key| (keyed_hash(&secret, key), *key)).collect();
        let params: Vec<&dyn Param> = hashes.keys().map(|hash| hash as &dyn Param).collect();
        let found = self.db.query(
            &format!("SELECT key_hash FROM forgotten WHERE key_hash IN ({})", numbered(1, params.len())),
            &params,
            |row| row.get::<String>(0),
        )?;
        Ok(found.iter().filter_map(|hash| hashes.get(hash).map(|key| key.to_string())).collect())
    }

    /// The keyed hash a forgotten address is kept as: HMAC-SHA256 of its
    /// matching key under a random 32-byte key made with the store (table
    /// `store_keys`). It cannot be turned back into the address; someone
    /// who has the database file can test a guessed address against it,
    /// which is what keeping it must allow newsroom to do.
    pub fn forget_hash(&self, key: &str) -> Result<String> {
        Ok(keyed_hash(&self.store_key("forget")?, key))
    }

    /// A random key kept in the store, made on first use.
    fn store_key(&self, name: &str) -> Result<Vec<u8>> {
        let existing: Option<Vec<u8>> =
            self.db.query_opt("SELECT value FROM store_keys WHERE name = ?1", params![name], |row| row.get(0))?;
        if let Some(value) = existing {
            return Ok(value);
        }
        let mut value = vec![0u8; 32];
        getrandom::fill(&mut value).map_err(|e| anyhow::anyhow!("no randomness for the store's key: {e}"))?;
        self.db.execute(
            "INSERT INTO store_keys (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![name, value],
        )?;
        self.db.query_one("SELECT value FROM store_keys WHERE name = ?1", params![name], |row| row.get(0))
    }
}

/// Appends an event at `at` to a subscriber's history.
pub(super) fn record(db: &Db, subscriber_id: i64, event: &Event, at: &str) -> Result<()> {
    record_all(db, &[(subscriber_id, event, at)])
}

/// HMAC-SHA256 of `key` under `secret`, in hex.
fn keyed_hash(secret: &[u8], key: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(key.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Appends many events, each to its subscriber's history at its time, a
/// few hundred a statement.
pub(super) fn record_all(db: &Db, events: &[(i64, &Event, &str)]) -> Result<()> {
    for batch in events.chunks(500) {
        let rows: Vec<_> = batch
            .iter()
            .map(|(id, event, at)| {
                (id, at, event.kind.as_str(), event.channel.map(Channel::as_str), &event.detail, &event.digest_id)
            })
            .collect();
        let params: Vec<&dyn Param> = rows
            .iter()
            .flat_map(|(id, at, kind, channel, detail, digest)| {
                [*id as &dyn Param, *at, kind, channel, *detail, *digest]
            })
            .collect();
        db.execute(
            &format!(
                "INSERT INTO events (subscriber_id, at, kind, channel, detail, digest_id) VALUES {}",
                values(batch.len(), 6)
            ),
            &params,
        )?;
    }
    Ok(())
}

/// The subscriber whose matching key is `key`.
pub(super) fn by_key(db: &Db, key: &str) -> Result<Option<SubscriberRecord>> {
    db.query_opt(&format!("SELECT {COLUMNS} FROM subscribers WHERE key = ?1"), params![key], SubscriberRecord::from_row)
}

/// The subscriber with the store's id `id`.
pub(super) fn by_id(db: &Db, id: i64) -> Result<Option<SubscriberRecord>> {
    db.query_opt(&format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1"), params![id], SubscriberRecord::from_row)
}

/// Changes a subscriber's status and records why, together.
pub(super) fn set_status(db: &Db, subscriber_id: i64, status: SubscriberStatus, event: &Event, at: &str) -> Result<()> {
    let confirmed = matches!(status, SubscriberStatus::Subscribed);
    db.execute(
        "UPDATE subscribers SET status = ?2, changed_at = ?3,
         confirmed_at = CASE WHEN ?4 AND confirmed_at IS NULL THEN ?3 ELSE confirmed_at END WHERE id = ?1",
        params![subscriber_id, status.as_str(), at, confirmed],
    )?;
    record(db, subscriber_id, event, at)
}
