//! `digest send --due`: which editions of the site's cadence are due — the
//! one command a timer runs (issue 28, point 7).
//!
//! An edition is due when its period has ended (`digest.send_at`) and it
//! is not in the store's ledger. The first `--due` of a cadence sends only
//! its latest ended edition (as `--month` defaults to the previous month:
//! never the blog's whole history); after that, every edition since the
//! last one the ledger holds, oldest first — or, with `digest.catch_up:
//! combine` (the default), the latest of them alone, which carries the
//! posts of the others ([`crate::digest::assemble::Selection`]). Deciding
//! reads only the ledger's list of digests (one row a digest), never its
//! deliveries.
//!
//! An edition whose send a crash (or a stop, or a relay down) left with
//! rows to send is finished first: it is in the ledger, so it is not due,
//! but its other recipients have not had it ([`Due::resumed`]). Only the
//! latest edition sent can be such: `--due` sends oldest first and goes on
//! to the next only when one has no row left, so this reads that one
//! digest's rows, and no other's.
//!
//! The first `--due` of a cadence records where the cadence began (the
//! first day of the period it looked at, [`begin`]): from then on no post
//! dated in a period passed over is lost, even before an edition was sent.

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::config::CatchUp;
use crate::edition::{Cadence, Edition};
use crate::site::Site;
use crate::store::Store;

/// What `--due` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub cadence: Cadence,
    /// The editions to send, oldest first.
    pub editions: Vec<Edition>,
    /// Ended editions not sent that the one edition due carries
    /// (`catch_up: combine`), oldest first.
    pub combined: Vec<Edition>,
    /// The latest edition of the cadence the ledger holds.
    pub last_sent: Option<Edition>,
    /// `last_sent`, when its send left rows to send: sent before the
    /// editions due.
    pub resumed: Option<Edition>,
    /// The latest edition of the cadence whose period has ended.
    pub last_ended: Option<Edition>,
}

/// The editions of the site's cadence that are due at `now`.
pub fn due(site: &Site, now: DateTime<Utc>) -> Result<Due> {
    let frozen: Vec<String> =
        Store::frozen_digests_of(site)?.unwrap_or_default().into_iter().map(|digest| digest.digest_id).collect();
    let mut due = due_given(site, &frozen, now);
    if let Some(sent) = &due.last_sent
        && Store::rows_left_of(site, &sent.id())?
    {
        due.resumed = Some(sent.clone());
    }
    Ok(due)
}

/// [`due`], given the ids of the digests the ledger holds (and nothing
/// [`Due::resumed`]).
pub fn due_given(site: &Site, frozen: &[String], now: DateTime<Utc>) -> Due {
    let settings = &site.config.digest.editions;
    let cadence = settings.cadence();
    let last_ended = Edition::last_ended(cadence, now, &settings.send_at, settings.week_starts);
    // Editions of this cadence (and, for weeks, of the site's first day).
    let ours = |edition: &Edition| last_ended.as_ref().is_some_and(|last| last.same_calendar(edition));
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
    let mut combined = Vec::new();
    if settings.catch_up == CatchUp::Combine && editions.len() > 1 {
        let last = editions.pop().expect("more than one");
        combined = std::mem::replace(&mut editions, vec![last]);
    }
    Due { cadence, editions, combined, last_sent, resumed: None, last_ended }
}

/// Records where the site's cadence began, the first time `--due` finds
/// an edition of it to send: the first day of that edition's period.
pub fn begin(site: &Site, due: &Due, now: DateTime<Utc>) -> Result<()> {
    let Some(first) = due.combined.first().or(due.editions.first()) else { return Ok(()) };
    let Some((since, _)) = first.window() else { return Ok(()) };
    let (store, _notices) = Store::for_site(site)?;
    store.begin_cadence(due.cadence.as_str(), since, now)?;
    Ok(())
}
