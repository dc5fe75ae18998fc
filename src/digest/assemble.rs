//! A month's digest put together, once, for every use: the web version
//! `build` writes, and the email `preview` writes and `send` transmits.
//!
//! The month's listed posts go in oldest first (ties broken by permalink);
//! a post whose rendering failed (its file changed or vanished since it was
//! loaded) is left out and named, never half-shown; every rendering
//! problem is kept for the command to report.

use std::path::PathBuf;

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::template::DigestTemplate;
use super::{Digest, DigestInput, Month};
use crate::content::{self, Post, Scheduled};
use crate::diagnostics::Diagnostic;
use crate::markdown::{Parts, RenderedPost};
use crate::render;
use crate::site::Site;

/// A month's posts, in digest order, each with its rendering.
pub struct MonthPosts<'a> {
    pub month: Month,
    pub posts: Vec<(&'a Post, RenderedPost)>,
    /// Posts left out because their rendering failed.
    pub skipped: Vec<PathBuf>,
    /// Every problem the renderings had (a skipped post's errors among them).
    pub diagnostics: Vec<Diagnostic>,
}

impl MonthPosts<'_> {
    /// What [`Digest::render`] takes.
    pub fn input(&self) -> DigestInput<'_> {
        DigestInput { month: self.month, posts: self.posts.iter().map(|(post, rendered)| (*post, rendered)).collect() }
    }
}

/// Puts a month's rendered posts in digest order and leaves out those whose
/// rendering failed. The one place where that is decided.
pub fn assemble<'a>(month: Month, rendered: impl IntoIterator<Item = (&'a Post, RenderedPost)>) -> MonthPosts<'a> {
    let mut assembled = MonthPosts { month, posts: Vec::new(), skipped: Vec::new(), diagnostics: Vec::new() };
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

/// A month's email digest, as `preview` and `send` need it.
pub struct MonthDigest {
    /// `None` when the month has no published post.
    pub digest: Option<Digest>,
    /// The month's posts dated after now.
    pub scheduled: Scheduled,
    /// Errors of the posts that could not be loaded, and every problem
    /// of the month's posts' renderings.
    pub diagnostics: Vec<Diagnostic>,
}

/// Loads the site's posts, renders the month's listed ones for email
/// (HTML and text), assembles them and renders the digest once.
pub fn month_digest(site: &Site, month: Month, now: DateTime<Utc>) -> Result<MonthDigest> {
    let loaded = content::load(site)?;
    let mut diagnostics: Vec<Diagnostic> = loaded.diagnostics.iter().filter(|d| d.is_error()).cloned().collect();
    let scheduled = Scheduled::of(loaded.posts.iter().filter(|post| Month::of(post.date) == month), now);
    let posts: Vec<&Post> =
        loaded.posts.iter().filter(|post| post.is_listed(now) && Month::of(post.date) == month).collect();
    if posts.is_empty() {
        return Ok(MonthDigest { digest: None, scheduled, diagnostics });
    }
    let template = DigestTemplate::load(&site.root)?;
    let links = render::post_links(site, &loaded.posts);
    let rendered = render::render_posts(site, &posts, &loaded.kept, &links, Parts::EMAIL);
    let assembled = assemble(month, posts.into_iter().zip(rendered));
    diagnostics.extend(assembled.diagnostics.iter().cloned());
    let digest = if assembled.posts.is_empty() {
        None
    } else {
        Some(Digest::render(&site.config, &template, &assembled.input())?)
    };
    Ok(MonthDigest { digest, scheduled, diagnostics })
}
