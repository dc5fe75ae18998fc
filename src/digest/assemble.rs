//! An edition's digest put together, once, for every use: the web version
//! `build` writes, and the email `preview` writes and `send` transmits.
//!
//! The edition's listed posts go in oldest first (ties broken by permalink);
//! a post whose rendering failed (its file changed or vanished since it was
//! loaded) is left out and named, never half-shown; every rendering
//! problem is kept for the command to report.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, NaiveDate, Utc};

use super::{Digest, DigestInput, Edition, Month};
use crate::config::PerPostContent;
use crate::content::{self, Post, Scheduled};
use crate::diagnostics::Diagnostic;
use crate::edition::Cadence;
use crate::email::template::DigestTemplate;
use crate::markdown::{Parts, RenderedPost};
use crate::render;
use crate::site::Site;
use crate::store::FrozenDigest;

/// An edition's posts, in digest order, each with its rendering.
pub struct EditionPosts<'a> {
    pub edition: Edition,
    pub posts: Vec<(&'a Post, RenderedPost)>,
    /// Posts left out because their rendering failed.
    pub skipped: Vec<PathBuf>,
    /// Every problem the renderings had (a skipped post's errors among them).
    pub diagnostics: Vec<Diagnostic>,
}

impl EditionPosts<'_> {
    /// What [`Digest::render`] takes.
    pub fn input(&self) -> DigestInput<'_> {
        DigestInput {
            edition: self.edition.clone(),
            posts: self.posts.iter().map(|(post, rendered)| (*post, rendered)).collect(),
        }
    }
}

/// Puts an edition's rendered posts in digest order and leaves out those
/// whose rendering failed. The one place where that is decided.
pub fn assemble<'a>(
    edition: Edition,
    rendered: impl IntoIterator<Item = (&'a Post, RenderedPost)>,
) -> EditionPosts<'a> {
    let mut assembled = EditionPosts { edition, posts: Vec::new(), skipped: Vec::new(), diagnostics: Vec::new() };
    for (post, mut rendering) in rendered {
        let failed = rendering.diagnostics.iter().any(Diagnostic::is_error);
        assembled.diagnostics.append(&mut rendering.diagnostics);
        if failed {
            assembled.skipped.push(post.source.clone());
        } else {
            assembled.posts.push((post, rendering));
        }
    }
    assembled.posts.sort_by(|(a, _), (b, _)| a.date.cmp(&b.date).then_with(|| a.permalink.cmp(&b.permalink)));
    assembled
}

/// An edition's email digest, as `preview` and `send` need it.
pub struct EditionDigest {
    /// `None` when the edition has no published post.
    pub digest: Option<Digest>,
    /// The edition's posts dated after now.
    pub scheduled: Scheduled,
    /// Errors of the posts that could not be loaded, and every problem
    /// of the edition's posts' renderings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Which of the site's posts an edition carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Those dated in its own period: a web version, a test copy.
    Period,
    /// Those its first send recorded, on every later run of it (a post
    /// published since is in no digest, which `check` and `build` say).
    Frozen(Vec<String>),
    /// Those dated from `since` to the end of its period that no other
    /// edition of its cadence carries: its period's, and those of every
    /// period passed over since the edition of its cadence sent before it
    /// (fewer posts than `digest.min_posts`, a gap sent as one edition).
    Since { since: NaiveDate, taken: HashSet<String> },
}

impl Selection {
    /// What `edition` carries, given every digest the ledger holds and
    /// where its cadence began (`digest send --due`'s first run): for an
    /// edition not sent yet, its period's posts and, once the cadence has
    /// a start, those of the periods passed over since the edition of its
    /// cadence before it (or since the start), but none another edition
    /// of its cadence carries. With one edition a period, sent in turn,
    /// that is its own period's posts, as it always was.
    pub fn of(edition: &Edition, frozen: &[FrozenDigest], start: Option<NaiveDate>) -> Selection {
        if let Some(sent) = frozen.iter().find(|digest| digest.digest_id == edition.id()) {
            // Frozen by a release that did not record its posts: its
            // period's, as then.
            return sent.posts.clone().map_or(Selection::Period, Selection::Frozen);
        }
        let Some((first, _)) = edition.window() else { return Selection::Period };
        let kin: Vec<(Edition, &FrozenDigest)> = frozen
            .iter()
            .filter_map(|digest| Edition::from_id(&digest.digest_id).map(|sent| (sent, digest)))
            .filter(|(sent, _)| sent.same_calendar(edition))
            .collect();
        let before = kin.iter().map(|(sent, _)| sent).filter(|sent| *sent < edition).max();
        let since = match start {
            // A site that never ran `--due`: each edition is its period, as
            // it always was.
            None => first,
            // Never before the cadence began: the blog's history is not
            // carried into its first edition.
            Some(start) => before.and_then(Edition::window).map_or(start, |(_, after)| after.max(start)).min(first),
        };
        let taken = kin.iter().flat_map(|(_, digest)| digest.posts.iter().flatten().cloned()).collect();
        Selection::Since { since, taken }
    }

    /// [`Selection::of`] with what `store` holds.
    pub fn of_store(store: &crate::store::Store, edition: &Edition) -> Result<Selection> {
        let start = store.cadence_start(edition.cadence().as_str())?;
        Ok(Selection::of(edition, &store.frozen_digests()?, start))
    }

    /// [`Selection::of`] with what the site's store holds, read without
    /// changing it (a test copy touches no store).
    pub fn of_site(site: &Site, edition: &Edition) -> Result<Selection> {
        let frozen = crate::store::Store::frozen_digests_of(site)?.unwrap_or_default();
        let start = crate::store::Store::cadence_starts_of(site)?
            .into_iter()
            .find(|(cadence, _)| cadence == edition.cadence().as_str())
            .map(|(_, since)| since);
        Ok(Selection::of(edition, &frozen, start))
    }

    /// Whether `post` (listed or not) is dated where this selection looks
    /// (for a post's edition: is that post).
    fn dated_in(&self, edition: &Edition, post: &Post, blog_url: &str) -> bool {
        if edition.cadence() == Cadence::PerPost {
            return post_edition(blog_url, post) == *edition;
        }
        let date = post.date.date_naive();
        match self {
            Selection::Period | Selection::Frozen(_) => edition.covers(date),
            Selection::Since { since, .. } => *since <= date && edition.window().is_some_and(|(_, after)| date < after),
        }
    }

    /// Whether the edition carries `post`, a listed post.
    fn carries(&self, edition: &Edition, post: &Post, blog_url: &str) -> bool {
        match self {
            Selection::Frozen(permalinks) => permalinks.contains(&post.permalink),
            Selection::Period => self.dated_in(edition, post, blog_url),
            Selection::Since { taken, .. } => {
                self.dated_in(edition, post, blog_url) && !taken.contains(&post.permalink)
            }
        }
    }
}

/// The per-post edition of `post`: `post/<slug>`, the [`content::slug`]
/// of its permalink's path under the blog's URL. Permalinks are
/// percent-encoded, so the slug is lower-case ASCII letters, digits and
/// `-` — what a ledger key, a Message-ID and a return path carry
/// unchanged. Two posts whose paths make the same slug are refused by
/// `digest send --due` ([`crate::delivery::due`]), never sent as one.
pub fn post_edition(blog_url: &str, post: &Post) -> Edition {
    let path = post.permalink.strip_prefix(blog_url).unwrap_or(&post.permalink);
    let slug = content::slug(path);
    Edition::per_post(if slug.is_empty() { "home" } else { &slug })
}

/// The edition of the latest listed post at `now` (by date, then
/// permalink): what a per-post site's digest commands are about when no
/// edition is named.
pub fn latest_post_edition(site: &Site, now: DateTime<Utc>) -> Result<Option<Edition>> {
    let loaded = content::load(site)?;
    let blog_url = site.config.blog_url();
    Ok(loaded
        .posts
        .iter()
        .filter(|post| post.is_listed(now))
        .max_by(|a, b| a.date.cmp(&b.date).then_with(|| a.permalink.cmp(&b.permalink)))
        .map(|post| post_edition(&blog_url, post)))
}

/// Loads the site's posts, renders the edition's period's listed ones for
/// email (HTML and text), assembles them and renders the digest once.
pub fn edition_digest(site: &Site, edition: &Edition, now: DateTime<Utc>) -> Result<EditionDigest> {
    edition_digest_of(site, edition, now, &Selection::Period)
}

/// [`edition_digest`] of the posts `selection` names. A post a frozen
/// digest names that is gone is named too.
pub fn edition_digest_of(
    site: &Site,
    edition: &Edition,
    now: DateTime<Utc>,
    selection: &Selection,
) -> Result<EditionDigest> {
    let loaded = content::load(site)?;
    let blog_url = site.config.blog_url();
    let mut diagnostics: Vec<Diagnostic> = loaded.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    let scheduled = Scheduled::of(loaded.posts.iter().filter(|post| selection.dated_in(edition, post, &blog_url)), now);
    let posts: Vec<&Post> =
        loaded.posts.iter().filter(|post| post.is_listed(now) && selection.carries(edition, post, &blog_url)).collect();
    let frozen: &[String] = match selection {
        Selection::Frozen(permalinks) => permalinks,
        _ => &[],
    };
    for gone in frozen.iter().filter(|permalink| !posts.iter().any(|p| &p.permalink == *permalink)) {
        diagnostics.push(Diagnostic::warning(
            crate::diagnostics::display_path(&site.root, &site.posts_dir()),
            (1, 1),
            format!(
                "{gone} was in {}'s digest when its first send began, and is no longer a listed post: the rest of its recipients get the digest without it",
                edition.label()
            ),
        ));
    }
    if posts.is_empty() {
        return Ok(EditionDigest { digest: None, scheduled, diagnostics });
    }
    let template = DigestTemplate::load_for(&site.root, edition.cadence())?;
    let links = render::post_links(site, &loaded.posts);
    let full =
        edition.cadence() == Cadence::PerPost && site.config.digest.editions.per_post_content == PerPostContent::Full;
    let mut rendered =
        render::render_posts(site, &posts, &loaded.kept, &links, if full { Parts::ALL } else { Parts::EMAIL });
    if full {
        // `digest.per_post_content: full`: the message carries the whole
        // post where the digest shows an excerpt.
        for rendering in &mut rendered {
            if let Some(html) = rendering.content_html.take() {
                rendering.excerpt_html = html;
            }
            if let Some(text) = rendering.content_text.take() {
                rendering.excerpt_text = Some(text);
            }
        }
    }
    let assembled = assemble(edition.clone(), posts.into_iter().zip(rendered));
    diagnostics.extend(assembled.diagnostics.iter().cloned());
    let digest = if assembled.posts.is_empty() {
        None
    } else {
        Some(Digest::render(&site.config, &template, &assembled.input())?)
    };
    Ok(EditionDigest { digest, scheduled, diagnostics })
}

/// How the warning of [`left_out_of_sent_digests`] ends: `build`, which
/// otherwise only counts warnings, prints these.
pub const NOT_IN_ANY_DIGEST: &str = "this post will not be in any digest";

/// Posts dated in a month whose digest was already sent without them (a
/// post added or back-dated after the send began, or dated later in a
/// month sent with `--unfinished`): each one is in no digest, and a
/// warning names it. Drafts and unlisted posts go in no digest anyway.
pub fn left_out_of_sent_digests(posts: &[Post], frozen: &[FrozenDigest]) -> Vec<Diagnostic> {
    let by_id: std::collections::HashMap<&str, &FrozenDigest> =
        frozen.iter().map(|digest| (digest.digest_id.as_str(), digest)).collect();
    let mut found = Vec::new();
    for post in posts.iter().filter(|post| !post.draft && !post.unlisted) {
        let month = Month::of(post.date);
        let Some(digest) = by_id.get(month.digest_id().as_str()) else { continue };
        let carried = match &digest.posts {
            Some(permalinks) => permalinks.contains(&post.permalink),
            // Frozen by a release that did not record its posts: it
            // carried those published when it was frozen.
            None => DateTime::parse_from_rfc3339(&digest.frozen_at).is_ok_and(|frozen_at| post.date <= frozen_at),
        };
        if !carried {
            found.push(Diagnostic::warning(
                &post.source,
                (1, 1),
                format!(
                    "dated {}, in {}, whose digest ({}) was first sent {} without it: {NOT_IN_ANY_DIGEST}",
                    post.date.format("%Y-%m-%d"),
                    month.label(),
                    digest.digest_id,
                    digest.frozen_at
                ),
            ));
        }
    }
    found
}

/// [`left_out_of_sent_digests`] for the site's store, read without
/// changing it; a store that cannot be read is a warning, not a failure
/// of the command that asked.
pub fn left_out_of_sent_digests_of(site: &Site, posts: &[Post]) -> Vec<Diagnostic> {
    match crate::store::Store::frozen_digests_of(site) {
        Ok(None) => Vec::new(),
        Ok(Some(frozen)) => left_out_of_sent_digests(posts, &frozen),
        Err(error) => vec![Diagnostic::warning(
            crate::config::CONFIG_FILE,
            (1, 1),
            format!("could not read the store to find posts no sent digest carries: {error:#}"),
        )],
    }
}
