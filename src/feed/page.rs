//! The feeds page, `public/feeds/index.html`: every feed set with its three
//! addresses, in plain HTML.
//!
//! It exists because the XSLT view of `feed.xml` is going away: Chromium
//! shows nothing (or a notice that XSLT is being removed) where the
//! stylesheet used to show a page. This one needs no XSLT, no JavaScript and
//! nothing from another address, so it reads the same in every browser. The
//! feeds point at it with a `related` link (see [`LINK_REL`]).
//!
//! A reader who came for the news may not use a feed reader at all: when
//! the site runs `newsroom serve` with sign-up (`serve.public_url`), the
//! page offers the monthly digest by email too.

use chrono::{DateTime, FixedOffset};
use maud::{DOCTYPE, Markup, html};

use super::{ATOM_TYPE, FeedSpec, JSON_TYPE, RSS_TYPE};
use crate::config::Config;

/// The page's folder under `public/`.
pub const DIR: &str = "feeds";
/// The page's file name inside [`DIR`].
pub const FILE: &str = "index.html";
/// The relation the feeds link the page with. Not `alternate`: the feeds
/// already have an `alternate` of type `text/html` (the blog), and RFC 4287
/// §4.1.1 allows only one per type. `related` is one of the five relations
/// RFC 4287 §4.2.7.2 defines, and the W3C Feed Validator accepts it on Atom
/// links and on RSS's `atom:link` alike.
pub const LINK_REL: &str = "related";
/// The title of the feeds' link to the page.
pub const LINK_TITLE: &str = "Every feed of this site, and how to subscribe";

/// The page's absolute URL: its folder, which hosts serve as `index.html`
/// (like the digest archive pages).
pub fn url(config: &Config) -> String {
    format!("{}{DIR}/", config.blog_url())
}

/// One tag's feed set, as the page lists it.
#[derive(Debug, Clone, Copy)]
pub struct TagFeeds<'a> {
    /// The tag's slug: its folder name and, as `tag-<slug>`, its section's id.
    pub slug: &'a str,
    /// The tag as posts write it.
    pub label: &'a str,
    pub spec: &'a FeedSpec<'a>,
}

/// What the page shows of one feed set, computed before any HTML.
struct SetLinks<'a> {
    /// The set's section id, for links to one tag's feeds.
    id: Option<String>,
    label: &'a str,
    /// The page the set stands for: the blog, or the tag's page.
    home_url: &'a str,
    /// (format name, media type, absolute URL), in the order the page lists them.
    formats: [(&'static str, &'static str, String); 3],
    /// The newest post's date; `None` for a set without posts.
    newest: Option<DateTime<FixedOffset>>,
}

impl<'a> SetLinks<'a> {
    fn new(id: Option<String>, label: &'a str, spec: &'a FeedSpec<'a>) -> Self {
        SetLinks {
            id,
            label,
            home_url: &spec.home_url,
            formats: [
                ("RSS", RSS_TYPE, spec.rss_url()),
                ("Atom", ATOM_TYPE, spec.atom_url()),
                ("JSON Feed", JSON_TYPE, spec.json_url()),
            ],
            newest: spec.entries.first().map(|entry| entry.post.date),
        }
    }
}

/// The feeds page: the site-wide feed set, every topic's (`topics:`) and
/// every tag's (`tags` is empty when `feeds.tags` is off), each with its
/// RSS, Atom and JSON Feed URLs. A topic's `slug` is its key, its `label`
/// its title.
pub fn feeds_page(config: &Config, site: &FeedSpec, topics: &[TagFeeds], tags: &[TagFeeds]) -> Markup {
    let site_title = &config.site.title;
    let blog_url = config.blog_url();
    let site_set = SetLinks::new(None, "All posts", site);
    let tag_sets: Vec<SetLinks> =
        tags.iter().map(|tag| SetLinks::new(Some(format!("tag-{}", tag.slug)), tag.label, tag.spec)).collect();
    let topic_sets: Vec<(SetLinks, &str)> = topics
        .iter()
        .map(|set| {
            let description = config.topics.get(set.slug).map_or("", |topic| topic.description.as_str());
            (SetLinks::new(Some(format!("topic-{}", set.slug)), set.label, set.spec), description)
        })
        .collect();
    html! {
        (DOCTYPE)
        html lang=(config.site.language) {
            (head(site_title, &site_set))
            body {
                header {
                    p class="site" { a href=(blog_url) { (site_title) } }
                    h1 { "Feeds" }
                }
                main {
                    (about())
                    section {
                        h2 { "All posts" }
                        (formats(&site_set))
                    }
                    @if let Some(signup_url) = config.signup_url() {
                        (by_email(&signup_url))
                    }
                    @if !topic_sets.is_empty() {
                        section {
                            h2 { "By topic" }
                            p { "Each of these feeds holds the posts of one topic: the posts with any of its tags." }
                            @for (set, description) in &topic_sets {
                                section id=[set.id.as_deref()] {
                                    h3 { (set.label) }
                                    @if !description.is_empty() {
                                        p { (description) }
                                    }
                                    (formats(set))
                                }
                            }
                        }
                    }
                    @if !tag_sets.is_empty() {
                        section {
                            h2 { "By tag" }
                            p { "Each of these feeds holds only the posts with one tag." }
                            @for set in &tag_sets {
                                section id=[set.id.as_deref()] {
                                    h3 { a href=(set.home_url) { (set.label) } }
                                    (formats(set))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The head: title, autodiscovery links to the site-wide feeds, the style.
fn head(site_title: &str, site_set: &SetLinks) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (site_title) " — Feeds" }
            @for (name, media_type, url) in &site_set.formats {
                link rel="alternate" type=(media_type) title={ (site_title) " (" (name) ")" } href=(url);
            }
            style { (STYLE) }
        }
    }
}

/// What a feed is and how to subscribe, for readers who have never used one.
fn about() -> Markup {
    html! {
        section {
            h2 { "What is a feed?" }
            p {
                "A feed lists the newest posts in a form that feed readers understand. "
                "Subscribe to one and your feed reader shows each new post as it is published: "
                "no account and no email address needed, and you stop by removing the feed."
            }
            p {
                "To subscribe, copy one of the addresses below and paste it into your feed reader. "
                "The three formats carry the same posts; if unsure, use RSS, which every reader understands."
            }
            p {
                "Opening a feed's address in a browser shows its raw text, or nothing: "
                "feeds are written for feed readers, not for browsers."
            }
        }
    }
}

/// The digest by email, for readers without a feed reader.
fn by_email(signup_url: &str) -> Markup {
    html! {
        section {
            h2 { "By email" }
            p {
                "No feed reader? Get the month's posts in one email instead: "
                a href=(signup_url) { "sign up for the monthly digest" }
                ". You confirm from your inbox first, and every message has a link to unsubscribe with one click."
            }
        }
    }
}

/// One set's newest post and its three addresses, each a link showing the URL to copy.
fn formats(set: &SetLinks) -> Markup {
    html! {
        @if let Some(newest) = set.newest {
            p class="newest" {
                "Newest post: "
                time datetime=(newest.format("%Y-%m-%d")) { (newest.format("%B %-d, %Y")) }
            }
        }
        dl {
            @for (name, media_type, url) in &set.formats {
                dt { (name) }
                dd { a href=(url) type=(media_type) { (url) } }
            }
        }
    }
}

/// A strict, readable page in the reader's light or dark colours.
const STYLE: &str = "body { font-family: system-ui, sans-serif; line-height: 1.5; max-width: 46rem; \
margin: 2rem auto; padding: 0 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
dt { font-weight: bold; }
dd { margin: 0; overflow-wrap: anywhere; }
.newest { margin-bottom: .25rem; }";
