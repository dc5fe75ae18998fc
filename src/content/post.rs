//! What a loaded post is: its metadata ([`Post`]), its Markdown when it is
//! rendered ([`Body`]), its tags ([`PostTag`]), and the posts waiting for
//! their date ([`Scheduled`]). Plain data: loading fills it in, every later
//! stage reads it.

use std::path::PathBuf;

use chrono::{DateTime, FixedOffset, Utc};

use super::authors::Author;
use crate::diagnostics::line_col;

/// One blog post, loaded and validated, not yet rendered. Its body is not
/// held here: see [`super::BodyCache`].
#[derive(Debug, Clone)]
pub struct Post {
    /// The file, relative to the site folder (`posts/2021-12-20-wrapped.md`).
    pub source: PathBuf,
    /// The post's folder relative to the posts folder, `""` or ending in `/`:
    /// relative links in the post resolve against it.
    pub folder: String,
    /// `.mdx` posts get the MDX-lite treatment.
    pub mdx: bool,
    pub title: String,
    pub description: Option<String>,
    /// The publication instant; naive dates are UTC.
    pub date: DateTime<FixedOffset>,
    /// `last_update`, or the publication date.
    pub updated: DateTime<FixedOffset>,
    /// The absolute, percent-encoded URL of the post.
    pub permalink: String,
    pub tags: Vec<PostTag>,
    pub authors: Vec<Author>,
    /// The front matter `image`, absolute.
    pub image: Option<String>,
    pub draft: bool,
    pub unlisted: bool,
    /// The file as found under the posts folder: [`Body::read`] reads it again.
    pub path: PathBuf,
    /// The byte range of a leading `# Heading` the title was taken from; it
    /// is removed from the body.
    pub heading: Option<std::ops::Range<usize>>,
    /// The body's length when the post was loaded: a file that changes
    /// between loading and rendering is noticed.
    pub body_len: usize,
    /// The 1-based file line the body starts on.
    pub body_line: usize,
}

impl Post {
    /// Whether the post goes into feeds and digests: not a draft, not
    /// unlisted, not dated after `now`.
    pub fn is_listed(&self, now: DateTime<Utc>) -> bool {
        !self.draft && !self.unlisted && self.date.with_timezone(&Utc) <= now
    }

    /// Whether the post is of `topic`: one of its tags is the topic's.
    pub fn is_of(&self, topic: &crate::config::Topic) -> bool {
        self.tags.iter().any(|tag| topic.claims(&tag.slug))
    }
}

/// A post's Markdown, read when it is rendered.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// The Markdown after the front matter, `\n` line ends (a leading
    /// heading that became the title removed).
    pub text: String,
    /// The 1-based file line `text` starts on.
    pub line: usize,
}

impl Body {
    /// The file line and column of a byte offset into `text`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let (line, column) = line_col(&self.text, offset);
        (line + self.line - 1, column)
    }
}

/// A post's tag (front matter `tags`) as written, and its slug for URLs and
/// folder names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PostTag {
    pub label: String,
    pub slug: String,
}

impl PostTag {
    pub fn new(label: &str) -> PostTag {
        PostTag { label: label.trim().to_string(), slug: tag_slug(label) }
    }
}

pub use crate::urls::{slug, tag_slug};

/// Posts that are ready but dated after now: left out of feeds and
/// digests until their date, and worth saying so.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scheduled {
    pub count: usize,
    /// The earliest: its date and file.
    pub first: Option<ScheduledPost>,
}

/// One scheduled post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduledPost {
    pub date: DateTime<FixedOffset>,
    pub path: PathBuf,
}

impl Scheduled {
    /// The posts of `posts` that are neither drafts nor unlisted, dated after `now`.
    pub fn of<'a>(posts: impl IntoIterator<Item = &'a Post>, now: DateTime<Utc>) -> Scheduled {
        let mut scheduled = Scheduled::default();
        for post in posts.into_iter().filter(|p| !p.draft && !p.unlisted && p.date.with_timezone(&Utc) > now) {
            scheduled.count += 1;
            if scheduled.first.as_ref().is_none_or(|first| (post.date, &post.source) < (first.date, &first.path)) {
                scheduled.first = Some(ScheduledPost { date: post.date, path: post.source.clone() });
            }
        }
        scheduled
    }
}

impl std::fmt::Display for Scheduled {
    /// `2 post(s) scheduled: the first publishes 2027-03-01 (posts/…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} post(s) scheduled", self.count)?;
        if let Some(first) = &self.first {
            write!(f, ": the first publishes {} ({})", first.date.format("%Y-%m-%d"), first.path.display())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_slugs_collapse_runs_of_other_characters() {
        assert_eq!(tag_slug("Getting Started"), "getting-started");
        assert_eq!(tag_slug("  C++ / Rust!! "), "c-rust");
        assert_eq!(tag_slug("Ünïcode Tag"), "ünïcode-tag");
        assert_eq!(tag_slug("!!!"), "tag");
    }
}
