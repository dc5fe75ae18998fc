//! `digest send --due`: which editions of the site's cadence are due — the
//! one command a timer runs (issue 28, point 7).
//!
//! An edition is due when its period has ended (`digest.send_at`) and it
//! is not in the store's ledger. The first `--due` of a cadence sends only
//! its latest ended edition (as `--month` defaults to the previous month:
//! never the blog's whole history); after that, every edition since the
//! last one the ledger holds, oldest first. Deciding reads only the
//! ledger's list of digests (one row a digest), never its deliveries.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::edition::{Cadence, Edition};
use crate::site::Site;
use crate::store::Store;

/// What `--due` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub cadence: Cadence,
    /// The editions to send, oldest first.
    pub editions: Vec<Edition>,
    /// The latest edition of the cadence the ledger holds.
    pub last_sent: Option<Edition>,
    /// The latest edition of the cadence whose period has ended.
    pub last_ended: Option<Edition>,
}

/// The editions of the site's cadence that are due at `now`.
pub fn due(site: &Site, now: DateTime<Utc>) -> Result<Due> {
    let frozen: Vec<String> =
        Store::frozen_digests_of(site)?.unwrap_or_default().into_iter().map(|digest| digest.digest_id).collect();
    Ok(due_given(site, &frozen, now))
}

/// [`due`], given the ids of the digests the ledger holds.
pub fn due_given(site: &Site, frozen: &[String], now: DateTime<Utc>) -> Due {
    let settings = &site.config.digest.editions;
    let cadence = settings.cadence();
    let last_ended = Edition::last_ended(cadence, now, &settings.send_at, settings.week_starts);
    // Editions of this cadence (and, for weeks, of the site's first day).
    let ours = |edition: &Edition| {
        edition.cadence() == cadence
            && edition.window().is_some_and(|(first, _)| {
                Edition::containing(cadence, first, settings.week_starts).as_ref() == Some(edition)
            })
    };
    let last_sent = frozen.iter().filter_map(|id| Edition::from_id(id)).filter(ours).max();
    let mut editions = Vec::new();
    if let Some(last) = &last_ended {
        match &last_sent {
            None => editions.push(last.clone()),
            Some(sent) => {
                let mut next = sent.next();
                while let Some(edition) = next.filter(|edition| edition <= last) {
                    next = edition.next();
                    editions.push(edition);
                }
            }
        }
    }
    Due { cadence, editions, last_sent, last_ended }
}
