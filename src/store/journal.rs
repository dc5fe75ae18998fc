//! The unsubscribe journal: where `newsroom serve` keeps a reader's
//! verified unsubscribe when the store cannot take it within the request's
//! budget (SQLite's write lock held by an import, a PostgreSQL server out
//! of reach). RFC 8058's one-click POST must not fail because the operator
//! is busy: the opt-out is appended to a small file beside the store, one
//! line a request, synced to disk before the reader is answered, and
//! written into the store as soon as it answers again — by serve's writer,
//! and by every command that opens the site's store
//! ([`super::Session::open`]), so a send never mails a reader whose opt-out
//! sits here.
//!
//! Only what a verified token names is kept: a subscriber id, the channel
//! and the time of the request. The file is capped at
//! [`MAX_JOURNAL_BYTES`]; beyond it the request fails as it did before.
//! Replaying is idempotent: an opt-out already in the store changes
//! nothing, and one older than the reader's own later consent (a
//! resubscribe, a confirmed sign-up) is not applied. The lines are removed
//! only after the store's commit.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};

use super::db::params;
use super::subscribers::{COLUMNS, SubscriberRecord, set_status};
use super::{Channel, Event, EventKind, Store, timestamp};
use crate::site::Site;

/// The journal's file name, in the folder of the store's file.
pub const JOURNAL_FILE: &str = "unsubscribe-journal";

/// The journal's largest size: some 20,000 unsubscribes.
pub const MAX_JOURNAL_BYTES: u64 = 1024 * 1024;

/// The site's unsubscribe journal.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    /// Whether the file may hold lines not yet in the store.
    pending: AtomicBool,
}

/// One kept unsubscribe.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    at: String,
    id: i64,
    channel: Channel,
}

impl Journal {
    /// The journal of `site`: beside the store's file ([`Site::store_path`]),
    /// for a PostgreSQL store too.
    pub fn of_site(site: &Site) -> Journal {
        Journal::at(&site.store_path().with_file_name(JOURNAL_FILE))
    }

    /// The journal at `path`.
    pub fn at(path: &Path) -> Journal {
        let pending = std::fs::metadata(path).is_ok_and(|meta| meta.len() > 0);
        Journal { path: path.to_path_buf(), pending: AtomicBool::new(pending) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether lines may wait to be replayed.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Appends the unsubscribe of subscriber `id` through `channel` at
    /// `at`, and returns once it is on disk. Fails when the journal is full.
    pub fn keep(&self, id: i64, channel: Channel, at: DateTime<Utc>) -> Result<()> {
        let line = format!("{} unsubscribe {id} {}\n", timestamp(at), channel.as_str());
        let parent = self.path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        let mut file = OpenOptions::new().append(true).create(true).open(&self.path).with_context(|| self.context())?;
        file.lock().with_context(|| self.context())?;
        let size = file.metadata().with_context(|| self.context())?.len();
        if size + line.len() as u64 > MAX_JOURNAL_BYTES {
            bail!("the unsubscribe journal `{}` is full ({MAX_JOURNAL_BYTES} bytes)", self.path.display());
        }
        file.write_all(line.as_bytes()).and_then(|()| file.sync_data()).with_context(|| self.context())?;
        // A new file's name is durable once its folder is synced.
        if size == 0
            && let Some(parent) = parent
        {
            File::open(parent).and_then(|dir| dir.sync_all()).with_context(|| self.context())?;
        }
        self.pending.store(true, Ordering::Release);
        Ok(())
    }

    /// Writes the kept unsubscribes into `store`, then empties the
    /// journal; returns how many changed a reader. Lines kept while this
    /// ran stay for the next replay.
    pub fn replay(&self, store: &Store) -> Result<usize> {
        let Some(contents) = self.read()? else {
            self.pending.store(false, Ordering::Release);
            return Ok(0);
        };
        if contents.is_empty() {
            self.pending.store(false, Ordering::Release);
            return Ok(0);
        }
        let kept = parse(&contents);
        let changed = store.apply_kept(&kept).with_context(|| {
            format!("the unsubscribes kept in `{}` could not be written to the store", self.path.display())
        })?;
        let file = OpenOptions::new().write(true).open(&self.path).with_context(|| self.context())?;
        file.lock().with_context(|| self.context())?;
        if file.metadata().with_context(|| self.context())?.len() == contents.len() as u64 {
            file.set_len(0).and_then(|()| file.sync_data()).with_context(|| self.context())?;
            self.pending.store(false, Ordering::Release);
        }
        Ok(changed)
    }

    /// The journal's bytes, read under its lock; `None` when there is no file.
    fn read(&self) -> Result<Option<Vec<u8>>> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error).with_context(|| self.context()),
        };
        file.lock_shared().with_context(|| self.context())?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents).with_context(|| self.context())?;
        Ok(Some(contents))
    }

    fn context(&self) -> String {
        format!("failed to write the unsubscribe journal `{}`", self.path.display())
    }
}

/// The journal's complete lines; a line cut by a crash while it was
/// written (never answered) is skipped.
fn parse(contents: &[u8]) -> Vec<Kept> {
    let text = String::from_utf8_lossy(contents);
    text.split_inclusive('\n')
        .filter_map(|line| {
            let mut words = line.strip_suffix('\n')?.split(' ');
            let at = words.next()?;
            DateTime::parse_from_rfc3339(at).ok()?;
            if words.next()? != "unsubscribe" {
                return None;
            }
            let id = words.next()?.parse().ok()?;
            let channel = match words.next()? {
                "one-click" => Channel::OneClick,
                "page" => Channel::Page,
                _ => return None,
            };
            words.next().is_none().then(|| Kept { at: at.to_string(), id, channel })
        })
        .collect()
}

impl Store {
    /// Applies kept unsubscribes, each at its own time, in one
    /// transaction; returns how many changed a reader.
    fn apply_kept(&self, kept: &[Kept]) -> Result<usize> {
        self.in_transaction(|db| {
            let mut changed = 0;
            for one in kept {
                let sql = format!("SELECT {COLUMNS} FROM subscribers WHERE id = ?1");
                let Some(subscriber) = db.query_opt(&sql, params![one.id], SubscriberRecord::from_row)? else {
                    continue;
                };
                let consented_since: i64 = db.query_one(
                    "SELECT COUNT(*) FROM events WHERE subscriber_id = ?1 AND at > ?2
                     AND kind IN ('subscribed', 'confirmed', 'resubscribed')",
                    params![one.id, one.at],
                    |row| row.get(0),
                )?;
                if subscriber.status.is_opt_out() || consented_since > 0 {
                    continue;
                }
                let event = Event::new(EventKind::Unsubscribed, one.channel)
                    .detail(format!("was {}; kept in the journal while the store was busy", subscriber.status));
                set_status(db, one.id, super::SubscriberStatus::Unsubscribed, &event, &one.at)?;
                changed += 1;
            }
            Ok(changed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SubscriberStatus;
    use crate::store::testing::store_tests;

    #[test]
    fn lines_cut_or_foreign_are_skipped() {
        let text = b"2026-11-03T09:00:00.000Z unsubscribe 7 one-click\n2026-11-03T09:00:01.000Z unsubscribe 8 page\nnonsense 9\n2026-11-03T09:00:02.000Z unsubscribe 9 one-cl";
        let kept = parse(text);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0], Kept { at: "2026-11-03T09:00:00.000Z".into(), id: 7, channel: Channel::OneClick });
        assert_eq!(kept[1].channel, Channel::Page);
    }

    store_tests! {
        fn a_kept_unsubscribe_is_replayed_once_and_never_over_a_later_consent(place: &TestPlace) {
            let store = place.open();
            let dir = tempfile::tempdir().unwrap();
            let journal = Journal::at(&dir.path().join(JOURNAL_FILE));
            let ana = store.add("ana@example.org", None, false, Utc::now()).unwrap().0.id;
            let bo = store.add("bo@example.org", None, false, Utc::now()).unwrap().0.id;
            let t0 = Utc::now();
            journal.keep(ana, Channel::OneClick, t0).unwrap();
            journal.keep(ana, Channel::OneClick, t0).unwrap();
            journal.keep(bo, Channel::OneClick, t0).unwrap();
            journal.keep(999, Channel::OneClick, t0).unwrap();
            // Bo came back after the kept request: his consent stands.
            let later = t0 + chrono::Duration::seconds(1);
            store.apply_web(&[crate::store::WebRequest::Unsubscribe(bo, Channel::Page)], t0).unwrap();
            store.apply_web(&[crate::store::WebRequest::Resubscribe(bo)], later).unwrap();
            assert!(journal.is_pending());
            assert_eq!(journal.replay(&store).unwrap(), 1);
            assert!(!journal.is_pending());
            assert_eq!(std::fs::metadata(journal.path()).unwrap().len(), 0);
            let ana_now = store.subscriber("ana@example.org").unwrap().unwrap();
            assert_eq!(ana_now.status, SubscriberStatus::Unsubscribed);
            assert_eq!(ana_now.changed_at, timestamp(t0));
            let unsubscribes = store.events(ana).unwrap().into_iter().filter(|e| e.kind == EventKind::Unsubscribed);
            assert_eq!(unsubscribes.map(|e| e.channel).collect::<Vec<_>>(), [Some(Channel::OneClick)]);
            assert_eq!(store.subscriber("bo@example.org").unwrap().unwrap().status, SubscriberStatus::Subscribed);
            assert_eq!(journal.replay(&store).unwrap(), 0);
        }
    }

    #[test]
    fn a_full_journal_refuses_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        std::fs::write(&path, vec![b'\n'; MAX_JOURNAL_BYTES as usize - 10]).unwrap();
        let error = Journal::at(&path).keep(1, Channel::OneClick, Utc::now()).unwrap_err();
        assert!(format!("{error:#}").contains("is full"), "{error:#}");
    }
}
