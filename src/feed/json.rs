//! JSON Feed 1.1 (<https://www.jsonfeed.org/version/1.1/>) as serde structs.
//! 1.1 spells authors as a list (`authors`), never 1.0's `author`.
//!
//! JSON Feed has no field for a link to a related page, so the feeds page
//! is named in `user_comment`, the text the spec keeps for people reading
//! the raw JSON (feed readers ignore it).

use serde::Serialize;

use super::{Entry, FeedSpec};
use crate::config::FeedContent;

const VERSION: &str = "https://jsonfeed.org/version/1.1";

#[derive(Serialize)]
struct JsonFeed<'a> {
    version: &'static str,
    title: &'a str,
    home_page_url: &'a str,
    feed_url: String,
    description: &'a str,
    user_comment: String,
    language: &'a str,
    authors: Vec<JsonAuthor>,
    items: Vec<JsonItem<'a>>,
}

#[derive(Serialize)]
struct JsonAuthor {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    avatar: Option<String>,
}

#[derive(Serialize)]
struct JsonItem<'a> {
    id: &'a str,
    url: &'a str,
    title: &'a str,
    content_html: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image: Option<&'a str>,
    date_published: String,
    date_modified: String,
    authors: Vec<JsonAuthor>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<&'a str>,
}

/// The JSON Feed document of a feed set, pretty-printed.
pub fn to_string(spec: &FeedSpec<'_>) -> anyhow::Result<String> {
    let feed = JsonFeed {
        version: VERSION,
        title: &spec.title,
        home_page_url: &spec.home_url,
        feed_url: spec.json_url(),
        description: &spec.description,
        user_comment: format!(
            "This JSON Feed is for feed readers: copy its address into one to follow {}. \
             Every feed of this site, and how to subscribe: {}",
            spec.title, spec.feeds_page_url
        ),
        language: &spec.language,
        authors: vec![JsonAuthor { name: spec.author.name.clone(), url: None, avatar: None }],
        items: spec.entries.iter().map(|entry| item(spec, entry)).collect(),
    };
    let mut text = serde_json::to_string_pretty(&feed)?;
    text.push('\n');
    Ok(text)
}

fn item<'a>(spec: &FeedSpec<'_>, entry: &Entry<'a>) -> JsonItem<'a> {
    let post = entry.post;
    let content_html = match (spec.content, &entry.rendered.content_html) {
        (FeedContent::Full, Some(full)) => full.as_str(),
        _ => entry.rendered.excerpt_html.as_str(),
    };
    JsonItem {
        id: &post.permalink,
        url: &post.permalink,
        title: &post.title,
        content_html,
        summary: post.description.as_deref(),
        image: post.image.as_deref(),
        date_published: rfc3339(post.date),
        date_modified: rfc3339(post.updated.max(post.date)),
        authors: entry
            .authors(&spec.author)
            .into_iter()
            .map(|a| JsonAuthor { name: a.name, url: a.url, avatar: a.image_url })
            .collect(),
        tags: post.tags.iter().map(|t| t.label.as_str()).collect(),
    }
}

fn rfc3339(date: chrono::DateTime<chrono::FixedOffset>) -> String {
    date.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
