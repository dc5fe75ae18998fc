//! Atom 1.0 through `atom_syndication`: a self link, absolute ids, RFC 3339
//! `published` and `updated`, an author on every entry (the site author as
//! fallback), the excerpt as an HTML summary; a `related` link to the feeds page.

use atom_syndication::{Category, Content, Entry as AtomEntry, Feed, Generator, Link, Person, Text};

use super::{ATOM_TYPE, Entry, FeedSpec, page};
use crate::config::FeedContent;

/// The Atom document of a feed set.
pub fn to_string(spec: &FeedSpec<'_>) -> anyhow::Result<String> {
    let feed = Feed {
        title: Text::plain(spec.title.clone()),
        id: spec.home_url.clone(),
        updated: spec.updated,
        authors: vec![Person { name: spec.author.name.clone(), email: spec.author.email.clone(), ..Person::default() }],
        generator: Some(Generator { value: "newsroom".into(), ..Generator::default() }),
        links: vec![
            Link { href: spec.atom_url(), rel: "self".into(), mime_type: Some(ATOM_TYPE.into()), ..Link::default() },
            Link {
                href: spec.home_url.clone(),
                rel: "alternate".into(),
                mime_type: Some("text/html".into()),
                ..Link::default()
            },
            Link {
                href: spec.feeds_page_url.clone(),
                rel: page::LINK_REL.into(),
                mime_type: Some("text/html".into()),
                title: Some(page::LINK_TITLE.into()),
                ..Link::default()
            },
        ],
        rights: Some(spec.copyright.clone()).filter(|c| !c.is_empty()).map(Text::plain),
        subtitle: Some(Text::plain(spec.description.clone())),
        lang: Some(spec.language.clone()),
        entries: spec.entries.iter().map(|entry| entry_of(spec, entry)).collect(),
        ..Feed::default()
    };
    let bytes = feed.write_to(Vec::new())?;
    Ok(String::from_utf8(bytes)?)
}

fn entry_of(spec: &FeedSpec<'_>, entry: &Entry<'_>) -> AtomEntry {
    let post = entry.post;
    AtomEntry {
        title: Text::plain(post.title.clone()),
        id: post.permalink.clone(),
        updated: post.updated.max(post.date),
        published: Some(post.date),
        authors: entry
            .authors(&spec.author)
            .into_iter()
            .map(|a| Person { name: a.name, email: a.email, uri: a.url, ..Person::default() })
            .collect(),
        categories: post
            .tags
            .iter()
            .map(|t| Category { term: t.slug.clone(), label: Some(t.label.clone()), ..Category::default() })
            .collect(),
        links: vec![Link {
            href: post.permalink.clone(),
            rel: "alternate".into(),
            mime_type: Some("text/html".into()),
            ..Link::default()
        }],
        summary: Some(Text::html(entry.rendered.excerpt_html.clone())),
        content: match spec.content {
            FeedContent::Full => entry.rendered.content_html.clone().map(|html| Content {
                value: Some(html),
                content_type: Some("html".into()),
                ..Content::default()
            }),
            FeedContent::Excerpt => None,
        },
        ..AtomEntry::default()
    }
}
