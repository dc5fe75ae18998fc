//! Property tests: for arbitrary titles, authors and bodies, every feed parses
//! back with feed-rs and carries the same titles, and every URL in the HTML is
//! absolute; the excerpt never cuts inside code.

use chrono::{FixedOffset, TimeZone};
use newsroom::config::Config;
use newsroom::content::{Author, Body, Post, Tag};
use newsroom::feed::{Entry, FeedSpec, write_all};
use newsroom::markdown::{LinkContext, render_post};
use proptest::prelude::*;

fn config() -> Config {
    Config::parse("site:\n  title: Prop\n  url: https://prop.example.org\n", std::path::Path::new("newsroom.yaml"))
        .unwrap()
}

fn post(index: usize, title: String, author: String, body: String) -> (Post, Body) {
    let date = FixedOffset::east_opt(0).unwrap().with_ymd_and_hms(2026, 1, 1 + index as u32, 0, 0, 0).unwrap();
    let post = Post {
        source: format!("posts/2026-01-0{index}-p.md").into(),
        folder: String::new(),
        mdx: false,
        title,
        description: None,
        date,
        updated: date,
        permalink: format!("https://prop.example.org/blog/2026/01/0{}/p", index + 1),
        tags: vec![Tag::new("prop tag")],
        authors: vec![Author { name: author, ..Author::default() }],
        image: None,
        draft: false,
        unlisted: false,
        path: format!("posts/2026-01-0{index}-p.md").into(),
        heading: None,
        body_len: body.len(),
        body_line: 4,
    };
    (post, Body { text: body, line: 4 })
}

/// Text as people type it, including markup characters, entities and CDATA ends.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 <>&\"'\\]\\[\\]>é漢!#*_`(){}/:.-]{1,40}")
        .unwrap()
        .prop_map(|s| s.trim().to_string())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn body() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        text(),
        Just("<!--truncate-->".to_string()),
        Just("```\n<!--truncate-->\n```".to_string()),
        Just("[rel](./a.png) ![img](../b.png) <a href=\"c/d\">x</a>".to_string()),
        Just("<img src=\"/e.png\" srcset=\"f.png 2x, /g.png 1x\">".to_string()),
        Just("<script>alert(1)</script><iframe src=\"https://www.youtube.com/embed/x\"></iframe>".to_string()),
        Just("- a\n- b".to_string()),
        Just("]]>".to_string()),
    ];
    proptest::collection::vec(pieces, 1..8).prop_map(|parts| parts.join("\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_feed_parses_back_with_absolute_urls(
        posts in proptest::collection::vec((text(), text(), body()), 1..4)
    ) {
        let config = config();
        let (posts, bodies): (Vec<Post>, Vec<Body>) = posts.into_iter().enumerate().map(|(i, (t, a, b))| post(i, t, a, b)).unzip();
        let links = Default::default();
        let rendered: Vec<_> = posts
            .iter()
            .zip(&bodies)
            .map(|(p, b)| render_post(p, b, &LinkContext { base_url: "https://prop.example.org/blog/", folder: "", post_links: &links }, true))
            .collect();
        let entries: Vec<Entry> = posts.iter().zip(&rendered).map(|(post, rendered)| Entry { post, rendered }).collect();
        let spec = FeedSpec::new(&config, "Prop".into(), config.blog_url(), config.blog_url(), entries, posts[0].date);
        let files = write_all(&spec).unwrap();
        for (name, text) in [("rss", &files.rss), ("atom", &files.atom), ("json", &files.json)] {
            let feed = feed_rs::parser::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{name}: {e}\n{text}")))?;
            prop_assert_eq!(feed.entries.len(), posts.len());
            for entry in &feed.entries {
                let post = posts.iter().find(|p| p.permalink == entry.id).unwrap();
                prop_assert_eq!(entry.title.as_ref().map(|t| t.content.trim().to_string()), Some(post.title.clone()), "{}", name);
            }
        }
        for rendered in &rendered {
            for html in [&rendered.excerpt_html, rendered.content_html.as_ref().unwrap()] {
                for attribute in ["href=\"", "src=\""] {
                    for part in html.split(attribute).skip(1) {
                        let url = part.split('"').next().unwrap();
                        prop_assert!(url.starts_with("https://") || url.starts_with("http://") || url.starts_with('#'), "{} in {}", url, html);
                    }
                }
                prop_assert!(!html.contains("<script") && !html.contains("<iframe"), "{}", html);
            }
        }
    }
}
