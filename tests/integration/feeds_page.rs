//! The feeds page, `public/feeds/index.html` (issue 14 point 16): every feed
//! set with its addresses in plain HTML, for browsers that no longer run the
//! XSLT view, and the feeds' links to it. The page is read back with scraper
//! (html5ever, a browser's parser), the feeds with feed-rs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use scraper::{ElementRef, Html, Selector};

use crate::support::*;

const BLOG_URL: &str = "https://lantern.example.org/blog/";
const PAGE_URL: &str = "https://lantern.example.org/blog/feeds/";
const FEED_TYPES: [(&str, &str); 3] =
    [("feed.xml", "application/rss+xml"), ("atom.xml", "application/atom+xml"), ("feed.json", "application/feed+json")];

fn select<'a>(page: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    page.select(&Selector::parse(selector).unwrap()).collect()
}

fn attr<'a>(element: &ElementRef<'a>, name: &str) -> &'a str {
    element.value().attr(name).unwrap_or_else(|| panic!("no {name} on {}", element.html()))
}

/// Every feed file `build` wrote, relative to `public`.
fn feed_files(public: &Path) -> BTreeSet<PathBuf> {
    walkdir::WalkDir::new(public)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| FEED_TYPES.iter().any(|(name, _)| e.file_name() == *name))
        .map(|e| e.path().strip_prefix(public).unwrap().to_path_buf())
        .collect()
}

/// The media type a feed's file name stands for.
fn media_type_of(path: &Path) -> &'static str {
    let name = path.file_name().unwrap();
    FEED_TYPES.iter().find(|(file, _)| name == *file).map(|(_, media_type)| *media_type).unwrap()
}

/// The page's feed links (`a` with a `type`), each checked: an absolute
/// https URL under `blog_url` naming a file of the output whose format is
/// the link's type. Returns the files, relative to `public`.
fn listed_feed_files(page: &Html, public: &Path, blog_url: &str) -> Vec<PathBuf> {
    select(page, "main a[type]")
        .iter()
        .map(|link| {
            let href = attr(link, "href");
            let url = url::Url::parse(href).unwrap_or_else(|e| panic!("{href} is not an absolute URL: {e}"));
            assert_eq!(url.scheme(), "https", "{href}");
            assert_eq!(link.text().collect::<String>(), href, "the link shows the URL to copy");
            let file = output_file(public, blog_url, href);
            assert!(file.is_file(), "{href} names {}, which build did not write", file.display());
            let relative = file.strip_prefix(public).unwrap().to_path_buf();
            assert_eq!(attr(link, "type"), media_type_of(&relative), "{href}");
            relative
        })
        .collect()
}

#[test]
fn the_page_lists_every_feed_set_written_with_urls_that_exist() {
    let site = build_example_site();
    let public = site.path().join("public");
    let page = parse_html(&public.join("feeds/index.html"));

    let listed = listed_feed_files(&page, &public, BLOG_URL);
    let unique: BTreeSet<PathBuf> = listed.iter().cloned().collect();
    assert_eq!(unique.len(), listed.len(), "a feed listed twice: {listed:?}");
    let written = feed_files(&public);
    assert!(written.len() > 3, "the example has tag feeds: {written:?}");
    assert_eq!(unique, written, "listed (left) and written (right) feeds differ");

    // A section per topic and per tag folder, headed by the topic's title
    // or the tag as posts write it.
    let dirs = |folder: &str, prefix: &str| -> BTreeSet<String> {
        std::fs::read_dir(public.join(folder))
            .unwrap()
            .map(|e| format!("{prefix}-{}", e.unwrap().file_name().to_string_lossy()))
            .collect()
    };
    let mut set_dirs = dirs("tags", "tag");
    set_dirs.extend(dirs("topics", "topic"));
    let sections: BTreeSet<String> = select(&page, "section[id]").iter().map(|s| attr(s, "id").to_string()).collect();
    assert_eq!(sections, set_dirs);
    let heading = select(&page, "#topic-guides h3").first().map(|h| h.text().collect::<String>());
    assert_eq!(heading.as_deref(), Some("Guides"));
    let heading = select(&page, "#tag-getting-started h3").first().map(|h| h.text().collect::<String>());
    assert_eq!(heading.as_deref(), Some("Getting Started"));
    let headings: Vec<String> = select(&page, "main h2").iter().map(|h| h.text().collect()).collect();
    assert_eq!(headings, ["What is a feed?", "All posts", "By email", "By topic", "By tag"]);
}

/// With `serve.public_url` set (and what a confirmation needs), the page
/// offers the digest by email, linking serve's sign-up form; without it,
/// it says nothing of email (issue 26 point 10; before: never).
#[test]
fn the_page_offers_the_digest_by_email_when_serve_takes_sign_ups() {
    let signup_links = |site: &Path| {
        let page = parse_html(&site.join("public/feeds/index.html"));
        let links: Vec<String> =
            select(&page, "main a").iter().filter_map(|a| a.value().attr("href")).map(str::to_string).collect();
        links.into_iter().filter(|href| href.contains("subscribe")).collect::<Vec<_>>()
    };
    let site = build_example_site();
    let links = signup_links(site.path());
    assert_eq!(links, ["https://lantern.example.org/newsletter/subscribe"]);
    let page = parse_html(&site.path().join("public/feeds/index.html"));
    let by_email = select(&page, "main section").into_iter().find(|s| s.text().any(|t| t == "By email")).unwrap();
    let said: String = by_email.text().collect();
    assert!(said.contains("sign up for the monthly digest"), "{said}");

    let site = copy_example_site();
    edit_config(site.path(), &[("serve:\n  public_url: https://lantern.example.org/newsletter\n", "")]);
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let links = signup_links(site.path());
    assert!(links.is_empty(), "{links:?}");
    let page = parse_html(&site.path().join("public/feeds/index.html"));
    let headings: Vec<String> = select(&page, "main h2").iter().map(|h| h.text().collect()).collect();
    assert!(!headings.iter().any(|h| h == "By email"), "{headings:?}");
}

#[test]
fn the_page_has_autodiscovery_links_a_language_and_nothing_from_elsewhere() {
    let site = build_example_site();
    let public = site.path().join("public");
    let page = parse_html(&public.join("feeds/index.html"));

    let alternates: Vec<(&str, &str)> =
        select(&page, "head link[rel=alternate]").iter().map(|l| (attr(l, "type"), attr(l, "href"))).collect();
    let site_wide: Vec<(&str, String)> =
        FEED_TYPES.iter().map(|(file, media_type)| (*media_type, format!("{BLOG_URL}{file}"))).collect();
    assert_eq!(alternates, site_wide.iter().map(|(t, u)| (*t, u.as_str())).collect::<Vec<_>>());
    for link in select(&page, "head link[rel=alternate]") {
        assert!(attr(&link, "title").starts_with("Lantern Community Blog ("), "{}", link.html());
    }

    assert_eq!(select(&page, "html").first().map(|h| attr(h, "lang")), Some("en"));
    let title: String = select(&page, "head title").first().unwrap().text().collect();
    assert!(title.starts_with("Lantern Community Blog"), "{title}");
    // No scripts and nothing loaded from anywhere: the page reads offline.
    assert!(select(&page, "script, [src], link[rel=stylesheet], link[rel=preload], iframe, object").is_empty());
    assert!(select(&page, "*").iter().all(|e| e.value().attrs().all(|(name, _)| !name.starts_with("on"))));
}

#[test]
fn every_feed_links_to_the_page() {
    let site = build_example_site();
    let public = site.path().join("public");
    assert!(output_file(&public, BLOG_URL, PAGE_URL).is_file());
    for file in feed_files(&public) {
        let path = public.join(&file);
        let feed = parse_feed(&path);
        if media_type_of(&file) == "application/feed+json" {
            // JSON Feed has no link field: the page is named in `user_comment`, for people.
            let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let comment = json["user_comment"].as_str().unwrap_or_default();
            assert!(comment.ends_with(&format!(": {PAGE_URL}")), "{}: {comment}", file.display());
            continue;
        }
        let related: Vec<_> = feed.links.iter().filter(|l| l.rel.as_deref() == Some("related")).collect();
        assert_eq!(related.len(), 1, "{}: {:?}", file.display(), feed.links);
        assert_eq!(related[0].href, PAGE_URL, "{}", file.display());
        assert_eq!(related[0].media_type.as_deref(), Some("text/html"), "{}", file.display());
        // The self link is still there.
        let own_url = format!("{BLOG_URL}{}", file.display());
        assert!(
            feed.links.iter().any(|l| l.rel.as_deref() == Some("self") && l.href == own_url),
            "{}: {:?}",
            file.display(),
            feed.links
        );
    }
}

/// `feeds.tags: false` lists the site-wide set only; a `site.url` with a
/// path and a `blog_path` with slashes around it give URLs under both.
#[test]
fn without_tag_feeds_and_under_a_path() {
    let site = copy_example_site();
    edit_config(
        site.path(),
        &[
            ("url: https://lantern.example.org", "url: https://example.org/community/"),
            ("blog_path: /blog", "blog_path: /news/"),
            ("tags: true", "tags: false"),
        ],
    );
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let public = site.path().join("public");
    let blog_url = "https://example.org/community/news/";
    assert!(!public.join("tags").exists());

    let page = parse_html(&public.join("feeds/index.html"));
    let listed: BTreeSet<PathBuf> = listed_feed_files(&page, &public, blog_url).into_iter().collect();
    // The main set, and the topics' (written whatever `feeds.tags` says).
    let mut sets = vec![String::new()];
    sets.extend(["community", "guides", "releases"].map(|key| format!("topics/{key}/")));
    let expected: BTreeSet<PathBuf> = sets
        .iter()
        .flat_map(|set| FEED_TYPES.iter().map(move |(file, _)| PathBuf::from(format!("{set}{file}"))))
        .collect();
    assert_eq!(listed, expected);
    assert_eq!(listed, feed_files(&public));
    assert!(select(&page, "section[id^=tag-]").is_empty(), "no tag sections");
    let alternates: Vec<&str> = select(&page, "head link[rel=alternate]").iter().map(|l| attr(l, "href")).collect();
    assert_eq!(alternates.len(), 3);
    assert!(alternates.iter().all(|href| output_file(&public, blog_url, href).is_file()), "{alternates:?}");

    let page_url = format!("{blog_url}feeds/");
    let feed = parse_feed(&public.join("atom.xml"));
    assert!(feed.links.iter().any(|l| l.rel.as_deref() == Some("related") && l.href == page_url), "{:?}", feed.links);
}

#[test]
fn the_page_matches_its_snapshot() {
    let site = build_example_site();
    let text = std::fs::read_to_string(site.path().join("public/feeds/index.html")).unwrap();
    // One element per line, for a reviewable diff.
    insta::assert_snapshot!("example_feeds_page", text.replace("><", ">\n<"));
}
