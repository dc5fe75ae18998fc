//! The example site at the repository root: its feeds, read back with
//! feed-rs item for item, snapshotted, and rebuilt byte for byte.

use crate::support::*;

/// The listed posts of the example site, newest first, as a reader sees them:
/// (title, permalink, publication instant in UTC, authors). Written down by
/// hand from the posts, not from newsroom's output.
const EXPECTED: [(&str, &str, &str, &[&str]); 11] = [
    (
        "Lantern community newsletter — October 2026",
        "2026/10/28/newsletter-october-2026",
        "2026-10-28T00:00:00Z",
        &["Priya Raman"],
    ),
    (
        "Building a developer portal in an afternoon",
        "2026/10/13/portal-in-an-afternoon",
        "2026-10-13T00:00:00Z",
        &["Sam Guest"],
    ),
    ("Fix-It October is back", "2026/10/02/fix-it-october", "2026-10-02T00:00:00Z", &["Ada Fernández"]),
    // Front matter date (29th) wins for the date; the permalink keeps the file name's date, as Docusaurus does.
    (
        "Docs sprint recap: 146 pages in two days",
        "2026/09/28/docs-sprint-recap",
        "2026-09-29T00:00:00Z",
        &["Priya Raman"],
    ),
    (
        "Contributor spotlight: Mateus Oliveira",
        "2026/09/22/contributor-spotlight",
        "2026-09-22T00:00:00Z",
        &["Kenji Watanabe"],
    ),
    (
        "Q&A: \"What's next for Lantern?\"",
        "2026/09/15/qa-whats-next",
        "2026-09-15T07:30:00Z",
        &["Kenji Watanabe", "Priya Raman"],
    ),
    (
        "Lantern 2.0: a new plugin SDK, live previews and a fresh look",
        "releases/lantern-2-0",
        "2026-09-04T00:00:00Z",
        &["Ada Fernández"],
    ),
    (
        "Recap: Lantern Meetup Harbour City, August 2026",
        "2026/08/27/meetup-recap-harbour-city",
        "2026-08-27T00:00:00Z",
        &["Priya Raman"],
    ),
    (
        "How to write a good excerpt for your post",
        "2026/08/20/how-to-write-an-excerpt",
        "2026-08-20T00:00:00Z",
        &["Ada Fernández"],
    ),
    ("Lantern 1.9 is out", "2026/08/12/lantern-1-9-released", "2026-08-12T00:00:00Z", &["Ada Fernández"]),
    (
        "Welcome to the Lantern Community Blog",
        "2026/08/03/welcome-to-the-lantern-blog",
        "2026-08-03T00:00:00Z",
        &["Jordan Blake"],
    ),
];

#[test]
fn every_feed_reads_back_item_for_item() {
    let site = build_example_site();
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(&site.path().join("public").join(file));
        assert_eq!(feed.entries.len(), EXPECTED.len(), "{file}");
        for (entry, (title, path, date, authors)) in feed.entries.iter().zip(EXPECTED) {
            let where_ = format!("{file}: {title}");
            assert_eq!(entry.title.as_ref().map(|t| t.content.as_str()), Some(title), "{where_}");
            let link = format!("https://lantern.example.org/blog/{path}");
            assert_eq!(entry.links.first().map(|l| l.href.as_str()), Some(link.as_str()), "{where_}");
            assert_eq!(entry.id, link, "{where_}: id/guid");
            let published = entry.published.unwrap_or_else(|| panic!("{where_}: no date"));
            assert_eq!(published.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), date, "{where_}");
            let names: Vec<&str> = entry.authors.iter().map(|a| a.name.as_deref().unwrap_or_default()).collect();
            assert_eq!(names, authors, "{where_}");
            // RSS description and Atom summary carry the excerpt; JSON Feed's content_html does.
            let summary = if file == "feed.json" {
                entry.content.as_ref().and_then(|c| c.body.clone())
            } else {
                entry.summary.as_ref().map(|s| s.content.clone())
            }
            .unwrap_or_default();
            assert!(summary.contains("<p>"), "{where_}: summary is the excerpt HTML: {summary}");
        }
    }
}

#[test]
fn excerpts_stop_at_the_marker_and_keep_what_is_above_it() {
    let site = build_example_site();
    let feed = parse_feed(&site.path().join("public/feed.json"));
    let excerpt = |path: &str| {
        let entry = feed.entries.iter().find(|e| e.id.ends_with(path)).unwrap_or_else(|| panic!("{path}"));
        entry.content.as_ref().and_then(|c| c.body.clone()).unwrap()
    };
    // The marker inside the fenced code block is text; the real one comes later.
    let tutorial = excerpt("how-to-write-an-excerpt");
    assert!(tutorial.contains("&lt;!--truncate--&gt;"), "{tutorial}");
    assert!(tutorial.contains("The marker itself never shows up anywhere"), "{tutorial}");
    // A reference definition at the very end of the post resolves above the marker.
    assert!(excerpt("lantern-1-9-released").contains(r#"href="https://lantern.example.org/docs""#));
    // The YouTube iframe is a linked thumbnail; the image is absolute.
    let meetup = excerpt("meetup-recap-harbour-city");
    assert!(meetup.contains(r#"<a href="https://www.youtube.com/watch?v=dQw4w9WgXcQ"><img src="https://img.youtube.com/vi/dQw4w9WgXcQ/hqdefault.jpg""#), "{meetup}");
    assert!(!meetup.contains("<iframe"));
    assert!(
        excerpt("contributor-spotlight")
            .contains(r#"src="https://lantern.example.org/blog/2026-09-22-contributor-spotlight/spotlight.png""#)
    );
}

#[test]
fn drafts_and_unlisted_posts_appear_nowhere() {
    let site = build_example_site();
    let mut feeds = 0;
    for entry in walkdir::WalkDir::new(site.path().join("public")) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && entry.path().extension().is_some_and(|e| e == "xml" || e == "json") {
            feeds += 1;
            let text = std::fs::read_to_string(entry.path()).unwrap();
            for hidden in ["plugin-sdk-deep-dive", "lanternconf-speaker-preview"] {
                assert!(!text.contains(hidden), "{} mentions {hidden}", entry.path().display());
            }
        }
    }
    // The walk found the feeds (15 sets of an XML pair and a JSON file), so
    // the loop above looked at something.
    assert!(feeds >= 45, "only {feeds} feed files");
    // And the hidden posts are there to hide: they are in the posts folder,
    // one a draft, one unlisted.
    let posts =
        std::fs::read_dir(site.path().join("posts")).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>();
    for hidden in ["plugin-sdk-deep-dive", "lanternconf-speaker-preview"] {
        assert!(posts.iter().any(|name| name.to_string_lossy().contains(hidden)), "{hidden} is not in posts/");
    }
}

#[test]
fn referenced_files_are_copied_at_their_relative_path() {
    let site = build_example_site();
    for file in
        ["assets/lantern-banner.png", "assets/meetup-2026.png", "2026-09-22-contributor-spotlight/spotlight.png"]
    {
        let copied = std::fs::read(site.path().join("public").join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(copied, std::fs::read(site.path().join("posts").join(file)).unwrap(), "{file}");
    }
}

#[test]
fn tag_feeds_hold_only_their_tag() {
    let site = build_example_site();
    let dir = site.path().join("public/tags/getting-started");
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(&dir.join(file));
        let titles: Vec<String> = feed.entries.iter().map(|e| e.title.clone().unwrap().content).collect();
        assert_eq!(
            titles,
            ["Building a developer portal in an afternoon", "How to write a good excerpt for your post"],
            "{file}"
        );
    }
}

#[test]
fn feeds_match_their_snapshots() {
    let site = build_example_site();
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let text = std::fs::read_to_string(site.path().join("public").join(file)).unwrap();
        insta::assert_snapshot!(format!("example_{file}"), text);
    }
}

#[test]
fn check_output_matches_its_snapshot() {
    let site = copy_example_site();
    let output = run(site.path(), &["check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    insta::assert_snapshot!("example_check", stdout(&output));
}

#[test]
fn two_builds_of_the_same_input_are_byte_identical() {
    let site = copy_example_site();
    let first = site.path().join("first");
    let second = site.path().join("second");
    for out in [&first, &second] {
        let output = run(site.path(), &["build", "--out", out.to_str().unwrap()]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let (a, b) = (file_tree(&first), file_tree(&second));
    assert!(a.len() > 40, "expected the full output, got {} files", a.len());
    assert_eq!(a, b);
}

#[test]
fn a_failed_build_leaves_the_previous_output_untouched() {
    let site = copy_example_site();
    assert!(run(site.path(), &["build"]).status.success());
    let before = file_tree(&site.path().join("public"));
    std::fs::write(site.path().join("posts/2026-10-30-broken.md"), "---\ntitle: [unclosed\n---\nText\n").unwrap();
    let output = run(site.path(), &["build"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("posts/2026-10-30-broken.md:3:1: error: front matter is not valid YAML"),
        "{}",
        stderr(&output)
    );
    assert_eq!(file_tree(&site.path().join("public")), before);
    // With --keep-going the good posts are published and the bad one named.
    let output = run(site.path(), &["build", "--keep-going"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("skipped posts/2026-10-30-broken.md"), "{}", stderr(&output));
    assert_eq!(parse_feed(&site.path().join("public/feed.xml")).entries.len(), EXPECTED.len());
}

/// `feeds.content: full` adds the whole post in every format, after the
/// excerpt; `feeds.xslt: true` adds the stylesheet and its processing instruction.
#[test]
fn full_content_and_xslt_options() {
    let site = copy_example_site();
    let config = std::fs::read_to_string(site.path().join("newsroom.yaml")).unwrap();
    let config = config.replace("content: excerpt", "content: full").replace("xslt: false", "xslt: true");
    assert!(config.contains("content: full") && config.contains("xslt: true"));
    std::fs::write(site.path().join("newsroom.yaml"), config).unwrap();
    assert!(run(site.path(), &["build"]).status.success());
    let public = site.path().join("public");
    let rss = std::fs::read_to_string(public.join("feed.xml")).unwrap();
    assert!(rss.contains(r#"<?xml-stylesheet type="text/xsl" href="feed.xsl"?>"#));
    assert!(public.join("feed.xsl").is_file());
    let description = rss.find("<description><![CDATA[<p>Welcome to the October").unwrap();
    let encoded = rss.find("<content:encoded>").unwrap();
    assert!(description < encoded, "description must come before content:encoded");
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(&public.join(file));
        let entry = feed.entries.iter().find(|e| e.id.ends_with("how-to-write-an-excerpt")).unwrap();
        let body = entry.content.as_ref().and_then(|c| c.body.clone()).unwrap_or_default();
        // Text from below the marker is in the full content, its headings
        // with the ids the post's page gives them.
        assert!(body.contains("<h2 id=\""), "{file}: {body}");
        assert!(body.len() > 2000, "{file}: the whole post, not the excerpt");
    }
}

/// A link to another post's file becomes that post's permalink in the
/// feeds (its rendering waits for every permalink), an email autolink a
/// `mailto:` link (not a missing file), and the posts around them, rendered
/// as they load, keep their own links.
#[test]
fn links_between_posts_become_permalinks() {
    let site = TempSite::new();
    site.post("2026-01-01-first.md", "---\ntitle: First\n---\n\nSee [the image](./pic.png).\n\n<!--truncate-->\n\nMore.\n")
        .post("2026-01-02-second.md", "---\ntitle: Second\n---\n\nAfter [the first](./2026-01-01-first.md#more), write <ada@example.org>.\n\n<!--truncate-->\n")
        .post("pic.png", b"\x89PNG");
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!stderr(&output).contains("warning"), "{}", stderr(&output));
    let feed: serde_json::Value = serde_json::from_str(&site.read("public/feed.json")).unwrap();
    let html = |title: &str| {
        let items = feed["items"].as_array().unwrap();
        let item = items.iter().find(|i| i["title"] == title).unwrap_or_else(|| panic!("{title} in {feed}"));
        item["content_html"].as_str().unwrap().to_string()
    };
    let second = html("Second");
    assert!(second.contains(r#"href="https://test.example.org/blog/2026/01/01/first#more""#), "{second}");
    assert!(second.contains(r#"href="mailto:ada@example.org""#), "{second}");
    let first = html("First");
    assert!(first.contains(r#"href="https://test.example.org/blog/pic.png""#), "{first}");
    assert_eq!(std::fs::read(site.path().join("public/pic.png")).unwrap(), b"\x89PNG");
}

/// A post without a truncate marker has the description or its first
/// paragraph as its excerpt, but every local file it references, below
/// that paragraph too, is published with it.
#[test]
fn files_of_a_post_without_a_marker_are_published() {
    let site = TempSite::new();
    site.post(
        "2026-01-01-no-marker/index.md",
        "---\ntitle: No marker\n---\nThe first paragraph.\n\n![diagram](./diagram.png) and [the slides](slides/deck.pdf).\n",
    );
    site.post("2026-01-01-no-marker/diagram.png", "png");
    site.post("2026-01-01-no-marker/slides/deck.pdf", "pdf");
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    for file in ["diagram.png", "slides/deck.pdf"] {
        let published = site.path().join("public/2026-01-01-no-marker").join(file);
        assert!(published.is_file(), "{} was not published", published.display());
    }
    let feed = parse_feed(&site.path().join("public/feed.xml"));
    let summary = feed.entries[0].summary.as_ref().unwrap().content.clone();
    assert!(summary.contains("The first paragraph.") && !summary.contains("diagram"), "{summary}");
}
