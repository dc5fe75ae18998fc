//! The store: one database — a SQLite file (WAL) by default, PostgreSQL
//! when `serve` and `send` run on different machines or several senders
//! share a list ([`db`] speaks both) — that holds the subscribers, their
//! consent history (an append-only table of events), the addresses erased
//! on request, and the delivery ledger that makes `send` exactly-once.
//!
//! Everything that changes who gets the digest writes here: the CSV when it
//! is merged ([`import`]), the command line, and later the web and returned
//! mail; every command that mails or reports reads here. An opt-out in the
//! store is never undone by a CSV row. A command opens the store, and
//! merges the site's subscriber file into it, one way: [`Session`].
//!
//! The schema moves by numbered migrations ([`migrations`]); a ledger file
//! written before the store (`.newsroom/ledger.sqlite`) is one at version 1
//! and is taken over with nothing lost.

mod cadences;
pub mod copy;
pub mod db;
pub mod import;
pub mod inbound;
pub mod journal;
pub mod ledger;
mod migrations;
mod seen;
mod session;
pub mod subscribers;
#[doc(hidden)]
pub mod testing;
pub mod web;

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Connection;

use crate::site::{Site, StoreLocation};
pub use ledger::{Freezing, FrozenDigest, State};
pub use session::Session;
pub use subscribers::{Added, Channel, Event, EventKind, Source, SubscriberRecord, SubscriberStatus, Unsubscribed};
pub use web::{WebOutcome, WebRequest};

pub use crate::config::{DEFAULT_STORE, LEGACY_LEDGER};

/// A value read from the store that this newsroom does not know, such as
/// a status or a delivery state: a newer version wrote it. Guessing (an
/// unknown status read as `removed`, an unknown state as `ambiguous`) would
/// act on a reader's record on a guess, so the command stops and says so.
pub(crate) fn unknown_value(what: &str, value: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "the store holds {what} `{value}`, which newsroom {} does not know: a newer version of newsroom wrote it; \
         upgrade newsroom before using this store",
        env!("CARGO_PKG_VERSION")
    )
}

/// The store's database.
pub struct Store {
    db: db::Db,
    path: PathBuf,
    /// The temporary folder of a scratch store ([`Store::open_scratch`]),
    /// removed when the store is dropped (after the connection: fields
    /// drop in order).
    _scratch: Option<tempfile::TempDir>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store({})", self.path.display())
    }
}

/// An instant as the store writes it: RFC 3339, UTC, milliseconds.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `path` as written under the site's folder, for messages.
fn relative(site: &Site, path: &Path) -> String {
    path.strip_prefix(&site.root).unwrap_or(path).display().to_string()
}

impl Store {
    /// Opens (creating when needed) the store at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        let mut connection =
            Connection::open(path).with_context(|| format!("failed to open the store `{}`", path.display()))?;
        // WAL with synchronous=NORMAL: every commit survives a crash of
        // newsroom's process at any instant, the case the exactly-once promise
        // covers. An OS crash or power loss of this machine can undo the
        // commits since the WAL was last synced; a message whose `sending`
        // or `sent` mark is undone is pending again and may be sent twice.
        // FULL would close that window with an fsync per commit (the cost is
        // in BENCHMARKS.md, "The ledger's cost").
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.busy_handler(Some(db::busy))?;
        let db = db::Db::Sqlite(connection);
        migrations::migrate(&db).with_context(|| format!("the store `{}`", path.display()))?;
        Ok(Store { db, path: path.to_path_buf(), _scratch: None })
    }

    /// The PostgreSQL store at `url`, its schema brought up to date.
    pub fn open_postgres(url: &str) -> Result<Store> {
        let db = db::Db::Postgres(Box::new(db::Postgres::connect(url)?));
        migrations::migrate(&db).with_context(|| format!("the store `{}`", db::redact(url)))?;
        Ok(Store { db, path: PathBuf::from(db::redact(url)), _scratch: None })
    }

    /// The store at `location`, opened (created when needed) and migrated.
    pub fn open_at(location: &StoreLocation) -> Result<Store> {
        match location {
            StoreLocation::File(path) => Store::open(path),
            StoreLocation::Postgres(url) => Store::open_postgres(url),
        }
    }

    /// Another connection to the same store, for work that runs beside
    /// this connection's (a sender's marks beside its claims). `None` for
    /// SQLite, which takes one writer at a time: a second connection would
    /// only wait for the first.
    pub fn another_connection(&self) -> Result<Option<Store>> {
        match &self.db {
            db::Db::Sqlite(_) => Ok(None),
            db::Db::Postgres(pg) => Ok(Some(Store {
                db: db::Db::Postgres(Box::new(db::Postgres::connect(pg.url())?)),
                path: self.path.clone(),
                _scratch: None,
            })),
        }
    }

    /// The schema version this release writes.
    pub const SCHEMA_VERSION: usize = migrations::CURRENT;

    /// The schema version of the store at `location`, without migrating
    /// it: `None` when there is no store there yet.
    pub fn schema_version_at(location: &StoreLocation) -> Result<Option<usize>> {
        let db = match location {
            StoreLocation::File(path) if !path.is_file() => return Ok(None),
            StoreLocation::File(path) => db::Db::Sqlite(
                Connection::open(path).with_context(|| format!("failed to open the store `{}`", path.display()))?,
            ),
            StoreLocation::Postgres(url) => db::Db::Postgres(Box::new(db::Postgres::connect(url)?)),
        };
        if db.backend() == db::Backend::Postgres {
            let exists: bool =
                db.query_one("SELECT to_regclass('newsroom_schema') IS NOT NULL", db::params![], |row| row.get(0))?;
            if !exists {
                return Ok(None);
            }
        }
        Ok(Some(migrations::version(&db)?))
    }

    /// The digests frozen in the site's store, read without creating,
    /// migrating or changing anything (`check` and `build` write nothing
    /// there): `None` when the site has no store yet. A store written by
    /// an older release is read as far as its schema goes.
    pub fn frozen_digests_of(site: &Site) -> Result<Option<Vec<ledger::FrozenDigest>>> {
        let Some((store, version)) = Store::read_only(site, "digests")? else { return Ok(None) };
        let columns = if version >= 6 {
            "digest_id, frozen_at, recipients, unfinished, posts"
        } else {
            "digest_id, frozen_at, recipients, 0, CAST(NULL AS TEXT)"
        };
        Ok(Some(store.db.query(
            &format!("SELECT {columns} FROM digests ORDER BY digest_id"),
            db::params![],
            ledger::read_frozen,
        )?))
    }

    /// Whether the send of `digest_id` left rows to send
    /// ([`Store::rows_left`]), read as [`Store::frozen_digests_of`] reads:
    /// `false` without a store.
    pub fn rows_left_of(site: &Site, digest_id: &str) -> Result<bool> {
        match Store::read_only(site, "deliveries")? {
            Some((store, _)) => store.rows_left(digest_id),
            None => Ok(false),
        }
    }

    /// Where each cadence's editions began ([`Store::cadence_start`]), read
    /// as [`Store::frozen_digests_of`] reads: empty without a store, or one
    /// older than the table.
    pub fn cadence_starts_of(site: &Site) -> Result<Vec<(String, chrono::NaiveDate)>> {
        match Store::read_only(site, "cadence_starts")? {
            Some((store, version)) if version >= 7 => store.cadence_starts(),
            _ => Ok(Vec::new()),
        }
    }

    /// The site's store opened read-only, with its schema version; `None`
    /// when there is none (on PostgreSQL: when `table` is not there).
    fn read_only(site: &Site, table: &str) -> Result<Option<(Store, usize)>> {
        let db = match site.store_location() {
            StoreLocation::File(path) => {
                let path = if path.is_file() { path } else { site.legacy_ledger_path() };
                if !path.is_file() {
                    return Ok(None);
                }
                let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let mut connection = Connection::open_with_flags(&path, flags)
                    .with_context(|| format!("failed to open the store `{}`", path.display()))?;
                connection.busy_handler(Some(db::busy))?;
                db::Db::Sqlite(connection)
            }
            StoreLocation::Postgres(url) => {
                let db = db::Db::Postgres(Box::new(db::Postgres::connect(&url)?));
                // `table` is one of ours, never input.
                let exists: bool =
                    db.query_one(&format!("SELECT to_regclass('{table}') IS NOT NULL"), db::params![], |row| {
                        row.get(0)
                    })?;
                if !exists {
                    return Ok(None);
                }
                db
            }
        };
        let version = migrations::version(&db)?;
        Ok(Some((Store { db, path: PathBuf::new(), _scratch: None }, version)))
    }

    /// Which server holds the store.
    pub fn backend(&self) -> db::Backend {
        self.db.backend()
    }

    /// A store that lives in memory only: what a preview merges a list
    /// into when the site has no store yet, so that nothing is created.
    pub fn open_in_memory() -> Result<Store> {
        let connection = Connection::open_in_memory()?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        let db = db::Db::Sqlite(connection);
        migrations::migrate(&db)?;
        Ok(Store { db, path: PathBuf::from(":memory:"), _scratch: None })
    }

    /// A store in a temporary folder, removed when the store is dropped:
    /// what a preview or a listing merges a list into when the site has no
    /// store yet, so that nothing is created in the site. On disk, not in
    /// memory: a list of 100,000 merged into an in-memory store held ~25 MB
    /// of pages, and SQLite keeps a file's in a cache of 2 MB.
    pub fn open_scratch() -> Result<Store> {
        let dir = tempfile::Builder::new()
            .prefix("newsroom-store-")
            .tempdir()
            .context("failed to create a temporary folder for the store")?;
        let mut store = Store::open(&dir.path().join("newsroom.sqlite"))?;
        // Nothing in it outlives the command: no crash to survive.
        store.db.sqlite().expect("a SQLite store").pragma_update(None, "synchronous", "OFF")?;
        store._scratch = Some(dir);
        Ok(store)
    }

    /// The site's store ([`Site::store_path`]), with the unsubscribes
    /// `serve` kept in its journal while the store was busy written into
    /// it first ([`journal`]): what a command reads there includes every
    /// opt-out a reader was told was done. A ledger from before the
    /// store (`delivery.ledger`, or the default `.newsroom/ledger.sqlite`)
    /// is taken over when the store does not exist yet: checkpointed and
    /// renamed to the store's name, then migrated. What was done is
    /// returned for the command to say.
    fn for_site(site: &Site) -> Result<(Store, Vec<String>)> {
        let (store, mut notices) = Store::for_site_as_is(site)?;
        let journal = journal::Journal::of_site(site);
        if journal.is_pending() {
            let changed = journal.replay(&store)?;
            notices.push(format!(
                "the unsubscribes `serve` kept in `{}` while the store was busy are in the store now ({changed} reader(s) unsubscribed)",
                relative(site, journal.path())
            ));
        }
        Ok((store, notices))
    }

    /// [`Store::for_site`] without replaying the unsubscribe journal: for
    /// `serve`, whose writer replays it as soon as the store answers.
    fn for_site_as_is(site: &Site) -> Result<(Store, Vec<String>)> {
        let path = match site.store_location() {
            StoreLocation::File(path) => path,
            StoreLocation::Postgres(url) => return Ok((Store::open_postgres(&url)?, Vec::new())),
        };
        let mut notices = Vec::new();
        if let Some(legacy) = Store::ledger_to_take_over(site) {
            // The WAL's pages go into the file first, so the rename moves everything.
            Connection::open(&legacy)
                .and_then(|connection| connection.pragma_update(None, "wal_checkpoint", "TRUNCATE"))
                .with_context(|| format!("failed to open `{}`", legacy.display()))?;
            for suffix in ["-wal", "-shm"] {
                let side = PathBuf::from(format!("{}{suffix}", legacy.display()));
                if side.exists() {
                    std::fs::remove_file(&side).with_context(|| format!("failed to remove `{}`", side.display()))?;
                }
            }
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("failed to create the folder `{}`", parent.display()))?;
            }
            std::fs::rename(&legacy, &path)
                .with_context(|| format!("failed to move `{}` to `{}`", legacy.display(), path.display()))?;
            notices.push(format!(
                "the ledger `{}` is now the store `{}`: its deliveries and unsubscribes were kept",
                relative(site, &legacy),
                relative(site, &path)
            ));
        }
        Ok((Store::open(&path)?, notices))
    }

    /// A ledger written before the store, when the store is elsewhere and
    /// does not exist yet.
    fn ledger_to_take_over(site: &Site) -> Option<PathBuf> {
        let StoreLocation::File(path) = site.store_location() else { return None };
        let legacy = site.legacy_ledger_path();
        (legacy != path && !path.exists() && legacy.is_file()).then_some(legacy)
    }

    /// The site's store if it exists, without creating it (a preview or a
    /// status before anything was sent).
    fn existing(site: &Site) -> Result<Option<(Store, Vec<String>)>> {
        let exists = match site.store_location() {
            StoreLocation::File(path) => path.exists(),
            StoreLocation::Postgres(_) => true,
        };
        if exists || Store::ledger_to_take_over(site).is_some() {
            return Store::for_site(site).map(Some);
        }
        Ok(None)
    }

    /// The store's file, or its PostgreSQL URL without the password, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `changes` in one transaction ([`db::Db::transaction`]).
    fn in_transaction<T>(&self, changes: impl FnOnce(&db::Db) -> Result<T>) -> Result<T> {
        self.db.transaction(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A forgotten subscriber's id is never given to another: tokens signed
    /// for it (unsubscribe links, VERP return paths) must name nobody.
    #[test]
    fn a_forgotten_subscribers_id_is_not_given_again() {
        let store = Store::open_in_memory().unwrap();
        let now = chrono::Utc::now();
        store.add("first@example.org", None, false, now).unwrap();
        let (newest, _) = store.add("newest@example.org", None, false, now).unwrap();
        assert!(store.forget("newest@example.org", now).unwrap());
        let (next, _) = store.add("next@example.org", None, false, now).unwrap();
        assert!(next.id > newest.id, "id {} given again", newest.id);
        assert!(store.subscriber_by_id(newest.id).unwrap().is_none());
        // Events still belong to their subscribers after the table was rebuilt.
        assert_eq!(store.events(next.id).unwrap().len(), 1);
    }

    /// A ledger written by the release before the store (a real file, made
    /// with that release's `digest send` and `unsubscribe`: see
    /// tests/fixtures/legacy-ledger/README.md) opens as a store with every
    /// delivery row and every unsubscribe kept.
    #[test]
    fn a_ledger_from_before_the_store_is_migrated_with_nothing_lost() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-ledger/ledger.sqlite");
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("ledger.sqlite");
        std::fs::copy(&fixture, &copy).unwrap();
        type Row = (String, String, String, i64, Option<String>);
        let deliveries = |connection: &Connection| -> Vec<Row> {
            connection
                .prepare("SELECT digest_id, address, state, attempts, reply FROM deliveries ORDER BY id")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        let before = Connection::open(&copy).unwrap();
        let rows = deliveries(&before);
        let suppressed: Vec<String> = before
            .prepare("SELECT address FROM suppressions ORDER BY address")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        drop(before);
        assert!(rows.len() > 10 && !suppressed.is_empty(), "the fixture has too little in it");

        let store = Store::open(&copy).unwrap();
        assert_eq!(deliveries(store.db.sqlite().unwrap()), rows);
        for address in &suppressed {
            let subscriber = store.subscriber(address).unwrap().unwrap_or_else(|| panic!("{address} was lost"));
            assert_eq!(subscriber.status, SubscriberStatus::Unsubscribed, "{address}");
            let events = store.events(subscriber.id).unwrap();
            assert_eq!(events.len(), 1, "{address}");
            assert_eq!(events[0].kind, EventKind::Unsubscribed);
        }
        // Opening again changes nothing.
        drop(store);
        let again = Store::open(&copy).unwrap();
        assert_eq!(again.subscribers(None).unwrap().len(), suppressed.len());
    }
}
