//! The one way a command opens a site's store, and the one way it merges
//! the site's subscriber file into it.
//!
//! Every command that reads or changes subscribers must see what the next
//! send will mail: the store with the opt-outs `serve` journaled while it
//! was busy, a pre-store ledger taken over, and the site's subscriber file
//! (`digest.subscribers`) merged. That rule was written out at each
//! command, through three APIs; here it is written once, in two shapes:
//!
//! - [`Session::open`]: for a command that changes something (`digest
//!   send`, `unsubscribe`, `inbound`, the `subscribers` commands that
//!   write, `store migrate`, the bookkeeping of `send --due`): the store is
//!   created if need be, and [`Session::merge_list`] merges the file and
//!   keeps the result;
//! - [`Session::open_to_read`]: for one that only reads (`digest preview`,
//!   `subscribers list|show|export`): a store that does not exist yet is
//!   not created (a scratch one stands in), and
//!   [`Session::with_list_merged`] / [`Session::view_list`] see the file
//!   merged inside a transaction that is rolled back;
//! - [`Session::existing`]: for one that reads the store alone (`digest
//!   status`): `None` when there is none, and nothing made to stand in.
//!
//! `serve` alone opens the store without replaying the journal
//! ([`Session::open_as_is`]): its writer replays it as soon as the store
//! answers, and a busy store must not keep the server from starting.
//!
//! Not a session: what `check`, `build` and the decision of `send --due`
//! read ([`Store::frozen_digests_of`] and its siblings) opens the file
//! read-only, without migrating it — they must work on a store another
//! release wrote and never change it — and they read no subscribers.

use std::path::{Path, PathBuf};

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::Store;
use super::import::{ImportReport, ListView};
use crate::site::Site;

/// A site's store, opened for one command.
pub struct Session<'a> {
    site: &'a Site,
    store: Store,
    /// What opening did (a ledger taken over, the journal replayed), for
    /// the command to say.
    pub notices: Vec<String>,
}

impl<'a> Session<'a> {
    /// The site's store to change: created if it does not exist, the
    /// unsubscribes `serve` journaled replayed into it, a ledger from
    /// before the store taken over.
    pub fn open(site: &'a Site) -> Result<Session<'a>> {
        let (store, notices) = Store::for_site(site)?;
        Ok(Session { site, store, notices })
    }

    /// [`Session::open`] without replaying `serve`'s journal: for `serve`,
    /// whose writer replays it itself.
    pub fn open_as_is(site: &'a Site) -> Result<Session<'a>> {
        let (store, notices) = Store::for_site_as_is(site)?;
        Ok(Session { site, store, notices })
    }

    /// The site's store as [`Session::open`] opens it, if it exists;
    /// `None`, and nothing created, when it does not.
    pub fn existing(site: &'a Site) -> Result<Option<Session<'a>>> {
        Ok(Store::existing(site)?.map(|(store, notices)| Session { site, store, notices }))
    }

    /// The site's store to read: [`Session::existing`]; when there is none,
    /// an empty scratch store, so that reading creates nothing.
    pub fn open_to_read(site: &'a Site) -> Result<Session<'a>> {
        match Session::existing(site)? {
            Some(session) => Ok(session),
            None => Ok(Session { site, store: Store::open_scratch()?, notices: Vec::new() }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn into_store(self) -> Store {
        self.store
    }

    /// The site's subscriber file, when it names one: its path, and how
    /// messages name it.
    pub fn list(&self) -> Option<(PathBuf, &Path)> {
        self.site.subscriber_list().map(|path| (path, self.site.config.digest.subscribers_path()))
    }

    /// Merges the site's subscriber file into the store, and keeps it: what
    /// every send does first, so an opt-out the file gained stops the
    /// messages not sent yet. `None` when the site names no file.
    pub fn merge_list(&self, now: DateTime<Utc>) -> Result<Option<ImportReport>> {
        match self.list() {
            Some((path, shown)) => Ok(Some(self.store.import(&path, shown, false, now)?)),
            None => Ok(None),
        }
    }

    /// Runs `read` on the store as it would be with the site's subscriber
    /// file merged, then leaves the store as it was.
    pub fn with_list_merged<T>(
        &self,
        now: DateTime<Utc>,
        read: impl FnOnce(&Store, ImportReport) -> Result<T>,
    ) -> Result<T> {
        let list = self.list();
        self.store.with_merged(list.as_ref().map(|(path, shown)| (path.as_path(), *shown)), now, read)
    }

    /// The subscribers the next send would mail, with the file merged and
    /// nothing changed ([`Store::view_merged`]).
    pub fn view_list(&self, now: DateTime<Utc>) -> Result<ListView> {
        let list = self.list();
        self.store.view_merged(list.as_ref().map(|(path, shown)| (path.as_path(), *shown)), now)
    }
}
