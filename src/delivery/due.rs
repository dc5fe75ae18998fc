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
//!
//! `per_post` editions are posts, not periods: one is due once its post
//! is published (its date has passed; drafts and unlisted posts never),
//! dated from the day the cadence began, and not carried by an edition
//! sent. The first `--due` sends the posts of the latest post's day only.
//! Each post is its own edition, whatever `catch_up` and `min_posts` say;
//! the one last sent (by when its send began) is the one resumed.

use std::collections::{HashMap, HashSet};

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDate, Utc};

use crate::config::CatchUp;
use crate::content::{self, Post};
use crate::digest::assemble::post_edition;
use crate::edition::{Cadence, Edition};
use crate::site::Site;
use crate::store::{FrozenDigest, Session, Store};

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
    /// The latest edition of the cadence whose period has ended (for
    /// `per_post`: the latest post published).
    pub last_ended: Option<Edition>,
    /// Where the cadence begins if this is its first `--due`: the first
    /// day the first edition due looks at ([`begin`]).
    pub begins: Option<NaiveDate>,
}

/// The editions of the site's cadence that are due at `now`.
pub fn due(site: &Site, now: DateTime<Utc>) -> Result<Due> {
    let frozen = Store::frozen_digests_of(site)?.unwrap_or_default();
    let mut due = if site.config.digest.editions.cadence() == Cadence::PerPost {
        let start = Store::cadence_starts_of(site)?
            .into_iter()
            .find(|(cadence, _)| cadence == Cadence::PerPost.as_str())
            .map(|(_, since)| since);
        per_post_due(site, &content::load(site)?.posts, &frozen, start, now)?
    } else {
        let ids: Vec<String> = frozen.into_iter().map(|digest| digest.digest_id).collect();
        due_given(site, &ids, now)
    };
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
    let begins = combined.first().or(editions.first()).and_then(Edition::window).map(|(first, _)| first);
    Due { cadence, editions, combined, last_sent, resumed: None, last_ended, begins }
}

/// The per-post editions due at `now` among `posts`, given every digest
/// the ledger holds and where the cadence began (see the module's doc).
/// Two posts due whose paths make one edition are an error naming both:
/// sending one would pass the other over for ever.
pub fn per_post_due(
    site: &Site,
    posts: &[Post],
    frozen: &[FrozenDigest],
    start: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<Due> {
    let blog_url = site.config.blog_url();
    let mut listed: Vec<&Post> = posts.iter().filter(|post| post.is_listed(now)).collect();
    listed.sort_by(|a, b| a.date.cmp(&b.date).then_with(|| a.permalink.cmp(&b.permalink)));
    let ours: Vec<&FrozenDigest> = frozen
        .iter()
        .filter(|digest| Edition::from_id(&digest.digest_id).is_some_and(|e| e.cadence() == Cadence::PerPost))
        .collect();
    let sent: HashSet<&str> = ours.iter().map(|digest| digest.digest_id.as_str()).collect();
    let carried: HashSet<&str> =
        ours.iter().flat_map(|digest| digest.posts.iter().flatten()).map(String::as_str).collect();
    let last_sent =
        ours.iter().max_by(|a, b| a.frozen_at.cmp(&b.frozen_at)).and_then(|d| Edition::from_id(&d.digest_id));
    let last_ended = listed.last().map(|post| post_edition(&blog_url, post));
    let since = start.or_else(|| listed.last().map(|post| post.date.date_naive()));
    let mut editions = Vec::new();
    let mut whose: HashMap<Edition, &Post> = HashMap::new();
    for post in listed.iter().filter(|post| since.is_some_and(|since| post.date.date_naive() >= since)) {
        let edition = post_edition(&blog_url, post);
        if let Some(other) = whose.insert(edition.clone(), post) {
            bail!(
                "{} and {} both make the per-post edition {edition}: give one of them a `slug` in its front matter",
                other.source.display(),
                post.source.display()
            );
        }
        if !sent.contains(edition.id().as_str()) && !carried.contains(post.permalink.as_str()) {
            editions.push(edition);
        }
    }
    let begins = if editions.is_empty() { None } else { since };
    Ok(Due { cadence: Cadence::PerPost, editions, combined: Vec::new(), last_sent, resumed: None, last_ended, begins })
}

/// Records where the site's cadence began, the first time `--due` finds
/// an edition of it to send: the first day of that edition's period.
pub fn begin(site: &Site, due: &Due, now: DateTime<Utc>) -> Result<()> {
    let Some(since) = due.begins else { return Ok(()) };
    let session = Session::open(site)?;
    session.store().begin_cadence(due.cadence.as_str(), since, now)?;
    Ok(())
}
