//! Feeds: the rendered posts as RSS 2.0, Atom 1.0 and JSON Feed 1.1.
//!
//! One [`FeedSpec`] describes one feed set (the site's, or one tag's): its
//! metadata and its entries, newest first with ties broken by permalink. The
//! three writers serialise the same spec through their own crates (rss,
//! atom_syndication, serde_json), so the three formats always carry the same
//! items in the same order. Feed-level dates come from the newest post, never
//! from the clock, so unchanged input gives byte-identical output. Every
//! set links to the feeds page ([`page`]), which lists them all in plain HTML.

pub mod atom;
pub mod json;
pub mod page;
pub mod rss;

use chrono::{DateTime, FixedOffset};

use crate::config::{Config, FeedContent, SiteAuthor};
use crate::content::{Author, Post};
use crate::markdown::RenderedPost;

/// The file names of one feed set, inside its folder.
pub const RSS_FILE: &str = "feed.xml";
pub const ATOM_FILE: &str = "atom.xml";
pub const JSON_FILE: &str = "feed.json";
/// The media types of the three formats, in `type` attributes.
pub const RSS_TYPE: &str = "application/rss+xml";
pub const ATOM_TYPE: &str = "application/atom+xml";
pub const JSON_TYPE: &str = "application/feed+json";
/// The stylesheet that makes `feed.xml` readable in a browser (`feeds.xslt`).
pub const XSLT_FILE: &str = "feed.xsl";
/// The built-in stylesheet.
pub const XSLT: &str = include_str!("feed.xsl");

/// One post as a feed entry.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    pub post: &'a Post,
    pub rendered: &'a RenderedPost,
}

impl Entry<'_> {
    /// The post's authors, or the site author when it names none.
    pub fn authors(&self, site: &SiteAuthor) -> Vec<Author> {
        if self.post.authors.is_empty() {
            vec![Author { name: site.name.clone(), email: site.email.clone(), ..Author::default() }]
        } else {
            self.post.authors.clone()
        }
    }
}

/// Everything one feed set says, in every format.
#[derive(Debug, Clone)]
pub struct FeedSpec<'a> {
    pub title: String,
    pub description: String,
    /// The HTML page the feed stands for (the blog, or a tag's page), absolute.
    pub home_url: String,
    /// The folder URL the three files are published at, ending in `/`.
    pub feed_base_url: String,
    /// The feeds page, which lists every feed set ([`page::url`]).
    pub feeds_page_url: String,
    pub language: String,
    pub copyright: String,
    pub author: SiteAuthor,
    /// Whether entries carry the whole post besides the excerpt.
    pub content: FeedContent,
    pub xslt: bool,
    /// Newest first, ties broken by permalink.
    pub entries: Vec<Entry<'a>>,
    /// The newest entry's date (publication or update), or `fallback_updated` for an empty feed.
    pub updated: DateTime<FixedOffset>,
}

impl<'a> FeedSpec<'a> {
    /// A feed set of `entries` (any order) with the site's metadata.
    pub fn new(
        config: &Config,
        title: String,
        home_url: String,
        feed_base_url: String,
        mut entries: Vec<Entry<'a>>,
        fallback_updated: DateTime<FixedOffset>,
    ) -> Self {
        sort_newest_first(&mut entries);
        if config.feeds.limit > 0 {
            entries.truncate(config.feeds.limit);
        }
        let updated = entries.iter().map(|e| e.post.updated.max(e.post.date)).max().unwrap_or(fallback_updated);
        FeedSpec {
            title,
            description: config.site.description.clone(),
            home_url,
            feed_base_url,
            feeds_page_url: page::url(config),
            language: config.site.language.clone(),
            copyright: config.site.copyright.clone(),
            author: site_author(config),
            content: config.feeds.content,
            xslt: config.feeds.xslt,
            entries,
            updated,
        }
    }

    pub fn rss_url(&self) -> String {
        format!("{}{RSS_FILE}", self.feed_base_url)
    }
    pub fn atom_url(&self) -> String {
        format!("{}{ATOM_FILE}", self.feed_base_url)
    }
    pub fn json_url(&self) -> String {
        format!("{}{JSON_FILE}", self.feed_base_url)
    }
}

/// The feed-level author: `site.author`, or the site's title as a name.
pub fn site_author(config: &Config) -> SiteAuthor {
    config
        .site
        .author
        .clone()
        .filter(|a| !a.name.trim().is_empty())
        .unwrap_or_else(|| SiteAuthor { name: config.site.title.clone(), email: None })
}

/// Newest first; equal dates ordered by permalink so output never depends on file order.
pub fn sort_newest_first(entries: &mut [Entry<'_>]) {
    entries.sort_by(|a, b| newest_first(a.post, b.post));
}

/// The order of feed entries: newest first, equal dates by permalink.
pub fn newest_first(a: &Post, b: &Post) -> std::cmp::Ordering {
    b.date.cmp(&a.date).then_with(|| a.permalink.cmp(&b.permalink))
}

/// The posts that some feed set carries: the newest `limit` of the site,
/// of each topic and of each tag (all of them when the limit is 0). `build` keeps only these
/// posts' renderings once their month's archive page is written.
pub fn feed_members<'a>(config: &Config, posts: &[&'a Post]) -> std::collections::HashSet<&'a std::path::Path> {
    let newest = |mut chosen: Vec<&'a Post>| {
        if config.feeds.limit > 0 && chosen.len() > config.feeds.limit {
            chosen.select_nth_unstable_by(config.feeds.limit - 1, |a, b| newest_first(a, b));
            chosen.truncate(config.feeds.limit);
        }
        chosen
    };
    let mut members: std::collections::HashSet<&'a std::path::Path> =
        newest(posts.to_vec()).into_iter().map(|p| p.source.as_path()).collect();
    if config.feeds.tags {
        let mut by_tag: std::collections::HashMap<&str, Vec<&'a Post>> = std::collections::HashMap::new();
        for post in posts {
            for tag in &post.tags {
                by_tag.entry(&tag.slug).or_default().push(post);
            }
        }
        for tagged in by_tag.into_values() {
            members.extend(newest(tagged).into_iter().map(|p| p.source.as_path()));
        }
    }
    for topic in &config.topics.topics {
        let claimed = posts.iter().copied().filter(|post| post.is_of(topic));
        members.extend(newest(claimed.collect()).into_iter().map(|p| p.source.as_path()));
    }
    members
}

/// The three serialised documents of one feed set.
#[derive(Debug, Clone)]
pub struct FeedFiles {
    pub rss: String,
    pub atom: String,
    pub json: String,
}

/// Serialises a feed set in all three formats.
pub fn write_all(spec: &FeedSpec<'_>) -> anyhow::Result<FeedFiles> {
    Ok(FeedFiles { rss: rss::to_string(spec)?, atom: atom::to_string(spec)?, json: json::to_string(spec)? })
}
