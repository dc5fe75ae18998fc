//! RSS 2.0 through the `rss` crate, with the points validators check:
//! `atom:link rel="self"`, permalink guids, RFC 822 dates in `+0000`,
//! `<author>` only for an email address (else `dc:creator`, never both),
//! `description` before `content:encoded`, categories from tags. A second
//! `atom:link`, `rel="related"`, points at the feeds page.

use rss::extension::atom::{AtomExtension, Link};
use rss::extension::dublincore::DublinCoreExtension;
use rss::{Category, Channel, Guid, Item};

use super::{Entry, FeedSpec, RSS_TYPE, XSLT_FILE, page};
use crate::config::FeedContent;

/// The RSS document of a feed set.
pub fn to_string(spec: &FeedSpec<'_>) -> anyhow::Result<String> {
    let channel = Channel {
        title: spec.title.clone(),
        link: spec.home_url.clone(),
        description: spec.description.clone(),
        language: Some(spec.language.clone()),
        copyright: Some(spec.copyright.clone()).filter(|c| !c.is_empty()),
        last_build_date: Some(rfc822(spec.updated)),
        pub_date: Some(rfc822(spec.updated)),
        generator: Some("newsroom".into()),
        docs: Some("https://www.rssboard.org/rss-specification".into()),
        atom_ext: Some(AtomExtension {
            links: vec![
                Link { href: spec.rss_url(), rel: "self".into(), mime_type: Some(RSS_TYPE.into()), ..Link::default() },
                Link {
                    href: spec.feeds_page_url.clone(),
                    rel: page::LINK_REL.into(),
                    mime_type: Some("text/html".into()),
                    title: Some(page::LINK_TITLE.into()),
                    ..Link::default()
                },
            ],
        }),
        items: spec.entries.iter().map(|entry| item(spec, entry)).collect(),
        ..Channel::default()
    };
    let bytes = channel.write_to(Vec::new())?;
    let xml = String::from_utf8(bytes)?;
    Ok(if spec.xslt { with_stylesheet(&xml) } else { xml })
}

fn item(spec: &FeedSpec<'_>, entry: &Entry<'_>) -> Item {
    let post = entry.post;
    let authors = entry.authors(&spec.author);
    let (author, dublin_core_ext) = match authors.as_slice() {
        [only] if only.email.is_some() => {
            (Some(format!("{} ({})", only.email.as_deref().unwrap_or_default(), only.name)), None)
        }
        many => (
            None,
            Some(DublinCoreExtension { creators: many.iter().map(|a| a.name.clone()).collect(), ..Default::default() }),
        ),
    };
    Item {
        title: Some(post.title.clone()),
        link: Some(post.permalink.clone()),
        description: Some(entry.rendered.excerpt_html.clone()),
        author,
        categories: post.tags.iter().map(|t| Category { name: t.label.clone(), domain: None }).collect(),
        guid: Some(Guid { value: post.permalink.clone(), permalink: true }),
        pub_date: Some(rfc822(post.date)),
        content: match spec.content {
            FeedContent::Full => entry.rendered.content_html.clone(),
            FeedContent::Excerpt => None,
        },
        dublin_core_ext,
        ..Item::default()
    }
}

/// `Mon, 20 Dec 2021 00:00:00 +0000`: RFC 822 in UTC, as validators prefer.
pub fn rfc822(date: chrono::DateTime<chrono::FixedOffset>) -> String {
    // chrono's to_rfc2822 does not zero-pad the day; validators want two digits.
    date.with_timezone(&chrono::Utc).format("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

/// Adds the `xml-stylesheet` processing instruction after the XML declaration.
/// The rss crate writes the declaration itself and has no hook for a
/// processing instruction, so it is spliced in at the one fixed place.
fn with_stylesheet(xml: &str) -> String {
    let instruction = format!("<?xml-stylesheet type=\"text/xsl\" href=\"{XSLT_FILE}\"?>");
    match xml.find("?>") {
        Some(end) if xml.starts_with("<?xml") => {
            format!("{}{instruction}{}", &xml[..end + 2], &xml[end + 2..])
        }
        _ => xml.to_string(),
    }
}
