//! Topics (issue 29, point 1): `topics:` in newsroom.yaml, a feed set per
//! topic written by `build` and read back with feed-rs, the feeds page
//! listing them, and `check`'s warning for a topic no post reaches. The
//! posts a topic's feeds should hold are worked out here from the main
//! JSON Feed's tags, not with newsroom's own matching.

use std::collections::BTreeSet;

use crate::support::*;

/// A tag as a slug: lower-case, each run of other characters one `-`.
fn slug(tag: &str) -> String {
    let mut out = String::new();
    for c in tag.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[test]
fn each_topic_has_a_feed_set_of_exactly_the_posts_with_its_tags() {
    let site = build_example_site();
    let public = site.path().join("public");
    let main: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(public.join("feed.json")).unwrap()).unwrap();
    let items = main["items"].as_array().unwrap();
    assert!(items.len() < 20, "the main feed holds every post of the example ({} items)", items.len());
    let topics = [
        ("releases", "Releases", &["release", "announcement"][..]),
        ("community", "Community", &["community", "events", "meetup"][..]),
        ("guides", "Guides", &["tutorial", "getting-started"][..]),
    ];
    for (key, title, tags) in topics {
        let expected: BTreeSet<String> = items
            .iter()
            .filter(|item| {
                item["tags"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|tag| tags.contains(&slug(tag.as_str().unwrap()).as_str())))
            })
            .map(|item| item["url"].as_str().unwrap().to_string())
            .collect();
        assert!(!expected.is_empty(), "{key}: the example has posts of every topic");
        assert!(expected.len() < items.len(), "{key}: a topic is not every post");
        for file in ["feed.xml", "atom.xml", "feed.json"] {
            let path = public.join(format!("topics/{key}/{file}"));
            let feed = parse_feed(&path);
            let links: BTreeSet<String> = feed
                .entries
                .iter()
                .map(|entry| {
                    entry
                        .links
                        .first()
                        .unwrap_or_else(|| panic!("{}: an entry without a link", path.display()))
                        .href
                        .clone()
                })
                .collect();
            assert_eq!(links, expected, "{}", path.display());
            let feed_title = feed.title.map(|t| t.content).unwrap_or_default();
            assert_eq!(feed_title, format!("Lantern Community Blog — {title}"), "{}", path.display());
        }
    }
    // The feeds page lists each topic's set under its title and description.
    let page = parse_html(&public.join("feeds/index.html"));
    for (key, title, _) in topics {
        let selector = scraper::Selector::parse(&format!("section#topic-{key}")).unwrap();
        let section = page.select(&selector).next().unwrap_or_else(|| panic!("no section for topic {key}"));
        let text: String = section.text().collect();
        assert!(text.contains(title), "{key}: {text}");
        assert!(text.contains(&format!("https://lantern.example.org/blog/topics/{key}/feed.xml")), "{key}: {text}");
    }
}

#[test]
fn check_warns_of_a_topic_no_post_reaches_and_refuses_a_bad_one() {
    let site = copy_example_site();
    edit_config(site.path(), &[("    tags: [tutorial, getting-started]\n", "    tags: [tutorials]\n")]);
    let output = run(site.path(), &["check"]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "a warning is not an error: {text}");
    let config = std::fs::read_to_string(site.path().join("newsroom.yaml")).unwrap();
    let line = config.lines().position(|line| line == "  guides:").unwrap() + 1;
    let placed = |needle: &str, text: &str| {
        text.lines().find(|l| l.contains(needle)).is_some_and(|l| l.starts_with(&format!("newsroom.yaml:{line}:")))
    };
    assert!(placed("warning: topics.guides: no post has any of its tags (tutorials)", &text), "{text}");
    assert!(!text.contains("topics.releases"), "{text}");

    edit_config(site.path(), &[("  guides:\n", "  Guides!:\n")]);
    let output = run(site.path(), &["check"]);
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!output.status.success(), "{text}");
    assert!(placed("error: topics: `Guides!` is not a topic key", &text), "{text}");
}

/// The README's reference of `newsroom.yaml` (topics included) is a
/// configuration newsroom reads without a problem.
#[test]
fn the_readmes_configuration_reference_parses() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme.find("## Configuration: `newsroom.yaml`").expect("the section")..];
    let start = section.find("```yaml\n").expect("a yaml block") + "```yaml\n".len();
    let block = &section[start..start + section[start..].find("```").unwrap()];
    let config = newsroom::config::Config::parse(block, std::path::Path::new("README.md"))
        .unwrap_or_else(|errors| panic!("the README's reference does not parse:\n{errors}"));
    assert_eq!(
        config.topics.get("releases").map(|topic| topic.tags.clone()),
        Some(vec!["release".into(), "announcement".into()])
    );
}
