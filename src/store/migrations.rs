//! The store's schema, as numbered migrations, each applied once in its
//! own transaction and recorded in SQLite's `user_version`.
//!
//! Hand-written rather than a crate: `rusqlite_migration`'s current release
//! needs rusqlite 0.40 (newsroom builds 0.41, and two would link two
//! SQLites), and what it would do here is this list and a loop. Migration 1
//! is the ledger as every earlier release wrote it (each statement `IF NOT
//! EXISTS`), so a ledger file from before the store opens as version 1 and
//! moves on from there with nothing lost.

use anyhow::{Context, Result};
use rusqlite::{Connection, Transaction};

use crate::subscribers::matching_key;

/// One migration: its SQL, then, where data must be moved with newsroom's
/// own rules (address matching keys), a step in Rust in the same transaction.
type Migration = (&'static str, Option<fn(&Transaction) -> Result<()>>);

/// The migrations, in order: migration `n` takes the schema from version
/// `n - 1` to `n`. Append only; never edit one that has shipped.
const MIGRATIONS: &[Migration] = &[
    (
        // 1: the delivery ledger, as releases before the store wrote it.
        "
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
    ",
        None,
    ),
    // 2: subscribers, their consent history, forgotten addresses. The
    // ledger's suppressions become unsubscribed subscribers with the event
    // that says where they came from; deliveries name their subscriber.
    (
        "
    CREATE TABLE subscribers (
        id INTEGER PRIMARY KEY,
        address TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        name TEXT,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        changed_at TEXT NOT NULL,
        -- The subscriber file a csv-sourced subscriber came from: a row gone
        -- from that file, and only that file, removes it.
        list TEXT
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        channel TEXT,
        detail TEXT,
        digest_id TEXT
    );
    CREATE INDEX events_subscriber ON events(subscriber_id);
    CREATE TABLE forgotten (
        key_hash TEXT PRIMARY KEY,
        at TEXT NOT NULL
    );
    CREATE TABLE store_keys (
        name TEXT PRIMARY KEY,
        value BLOB NOT NULL
    );
    ALTER TABLE deliveries ADD COLUMN subscriber_id INTEGER;
    ",
        Some(suppressions_become_subscribers),
    ),
    // 3: the returned mail `newsroom inbound` has handled, by the SHA-256 of
    // its bytes: the same message read again changes nothing.
    (
        "
    CREATE TABLE inbound_messages (
        hash TEXT PRIMARY KEY,
        at TEXT NOT NULL,
        class TEXT NOT NULL,
        subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,
        status TEXT,
        detail TEXT
    );
    CREATE INDEX events_at ON events(at);
    ",
        None,
    ),
    // 4: subscriber ids are never used again. Without AUTOINCREMENT SQLite
    // gives a new row the largest id plus one, so after `forget` erased the
    // newest subscriber, the next one got its id, and every token signed
    // for the forgotten reader (an unsubscribe link, a VERP return path in
    // a bounce still on its way) named the new one. The table is rebuilt
    // as SQLite documents (foreign keys off around it, checked after).
    (
        "
    CREATE TABLE subscribers_new (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        address TEXT NOT NULL,
        key TEXT NOT NULL UNIQUE,
        name TEXT,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        attributes TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        confirmed_at TEXT,
        changed_at TEXT NOT NULL,
        list TEXT
    );
    INSERT INTO subscribers_new (id, address, key, name, status, source, attributes, created_at, confirmed_at, changed_at, list)
        SELECT id, address, key, name, status, source, attributes, created_at, confirmed_at, changed_at, list FROM subscribers;
    DROP TABLE subscribers;
    ALTER TABLE subscribers_new RENAME TO subscribers;
    ",
        None,
    ),
];

/// Migration 2's data: each suppression of the ledger becomes an
/// unsubscribed subscriber (matched by newsroom's key, as every lookup is)
/// with the event that says where it came from; then the table goes.
fn suppressions_become_subscribers(transaction: &Transaction) -> Result<()> {
    let rows: Vec<(String, String, String)> = transaction
        .prepare("SELECT address, reason, created_at FROM suppressions ORDER BY created_at, address")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (address, reason, created_at) in rows {
        let inserted = transaction.execute(
            "INSERT INTO subscribers (address, key, status, source, created_at, changed_at)
             VALUES (?1, ?2, 'unsubscribed', 'cli', ?3, ?3) ON CONFLICT (key) DO NOTHING",
            rusqlite::params![address, matching_key(&address), created_at],
        )?;
        if inserted > 0 {
            transaction.execute(
                "INSERT INTO events (subscriber_id, at, kind, channel, detail) VALUES (?1, ?2, 'unsubscribed', 'cli', ?3)",
                rusqlite::params![
                    transaction.last_insert_rowid(),
                    created_at,
                    format!("recorded in the ledger before the store ({reason})")
                ],
            )?;
        }
    }
    transaction.execute_batch("DROP TABLE suppressions")?;
    Ok(())
}

/// The schema version this build writes.
pub const CURRENT: usize = MIGRATIONS.len();

/// Brings the database up to [`CURRENT`], one transaction per migration.
/// A database from a newer release (a higher version) is refused, not
/// written to.
pub fn migrate(connection: &mut Connection) -> Result<()> {
    let version: usize = connection.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0))? as usize;
    if version > CURRENT {
        anyhow::bail!(
            "the store is at schema version {version}, newer than this newsroom ({CURRENT}); use the newer release"
        );
    }
    // Off while a table is rebuilt (it has no effect inside a transaction,
    // and on, dropping the old table would delete every event with it);
    // each migration checks the references before it commits.
    let foreign_keys: bool = connection.pragma_query_value(None, "foreign_keys", |row| row.get(0))?;
    connection.pragma_update(None, "foreign_keys", "OFF")?;
    let result = apply(connection, version);
    connection.pragma_update(None, "foreign_keys", foreign_keys)?;
    result
}

fn apply(connection: &mut Connection, version: usize) -> Result<()> {
    for (index, (sql, data)) in MIGRATIONS.iter().enumerate().skip(version) {
        let transaction = connection.transaction()?;
        transaction
            .execute_batch(sql)
            .with_context(|| format!("failed to apply the store's migration {}", index + 1))?;
        if let Some(data) = data {
            data(&transaction)
                .with_context(|| format!("failed to move data in the store's migration {}", index + 1))?;
        }
        let broken: i64 =
            transaction.query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |row| row.get(0))?;
        if broken > 0 {
            anyhow::bail!("the store's migration {} left {broken} broken reference(s); nothing was changed", index + 1);
        }
        transaction.pragma_update(None, "user_version", (index + 1) as i64)?;
        transaction.commit()?;
    }
    Ok(())
}
