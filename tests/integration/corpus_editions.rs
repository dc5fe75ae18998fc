//! Every week, every month and every post (a per-post edition) of the five
//! corpus blogs (../shared/corpus) as `digest preview` writes it (issue 28,
//! tests): one message each, read back by mail-parser and by
//! `../shared/tools/check-eml`.
//!
//! Which editions there are is read from the site's JSON Feed (every post,
//! `feeds.limit: 0`, with the date in the offset it was published with),
//! not from the editions code, and must be the editions whose web version
//! `build` writes. Each message must carry a subject, a text and an HTML
//! part that decode, the one-click unsubscribe headers, a Message-ID of
//! its edition, and a link to each post of its period in both parts.
//!
//! About 800 previews of a debug build, two at a time: ~50 s on two cores.
//! Without ../shared the test prints one line and passes; `.ci/run` sets
//! `NEWSROOM_REQUIRE_CORPUS`, which makes that a failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, FixedOffset};
use mail_parser::MessageParser;

use crate::support::*;

/// The blogs, and the exit status of their previews: babel and jest hold
/// posts with errors (an impossible date, bad MDX), which `preview`
/// reports with 1 after writing the digest, as `.ci/run` expects.
const BLOGS: [(&str, i32); 5] = [("babel", 1), ("backstage", 0), ("jest", 1), ("prettier", 0), ("react-native", 0)];

/// A site of the blog's posts, sending weekly and monthly, to one reader.
fn site(corpus: &Path, blog: &str) -> TempSite {
    let site = TempSite::new();
    let config = format!(
        "site:\n  title: {blog} blog\n  url: https://{blog}.example.org\n  author: {{ name: The {blog} team }}\n\
         posts: {}\nfeeds:\n  limit: 0\n\
         digest:\n  cadences: [weekly, monthly]\n  from: \"The {blog} team <news@{blog}.example.org>\"\n\
         \x20 postal_address: \"The {blog} team, 1 Example Road, Example Town\"\n\
         \x20 unsubscribe_url: \"https://{blog}.example.org/unsubscribe/{{token}}\"\n",
        corpus.join(blog).display()
    );
    std::fs::write(site.path().join("newsroom.yaml"), config).unwrap();
    std::fs::write(site.path().join("subscribers.csv"), "email,name\nada@example.org,Ada\n").unwrap();
    site
}

/// The editions of the posts in the site's JSON Feed: web path (`2021-06`,
/// `weekly/2021-W23`) → the posts' permalinks.
fn editions_of_the_feed(public: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let feed: serde_json::Value = serde_json::from_slice(&std::fs::read(public.join("feed.json")).unwrap()).unwrap();
    let mut editions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for item in feed["items"].as_array().unwrap() {
        let date = DateTime::<FixedOffset>::parse_from_rfc3339(item["date_published"].as_str().unwrap()).unwrap();
        let url = item["url"].as_str().unwrap().to_string();
        let day = date.date_naive();
        let week = day.iso_week();
        editions.entry(day.format("%Y-%m").to_string()).or_default().insert(url.clone());
        editions.entry(format!("weekly/{:04}-W{:02}", week.year(), week.week())).or_default().insert(url);
    }
    editions
}

/// The per-post editions of the posts in the site's JSON Feed: web path
/// (`post/2021-06-04-a-post`, the slug made here of the post's path under
/// the site's URL, each run of characters other than ASCII letters and
/// digits one `-`, lower-cased) → (permalink, title).
fn post_editions_of_the_feed(public: &Path, site_url: &str) -> BTreeMap<String, (String, String)> {
    let feed: serde_json::Value = serde_json::from_slice(&std::fs::read(public.join("feed.json")).unwrap()).unwrap();
    let mut editions = BTreeMap::new();
    for item in feed["items"].as_array().unwrap() {
        let url = item["url"].as_str().unwrap().to_string();
        let path = url.strip_prefix(site_url).unwrap_or(&url).to_ascii_lowercase();
        let slug: Vec<&str> =
            path.split(|c: char| !c.is_ascii_alphanumeric()).filter(|part| !part.is_empty()).collect();
        let title = item["title"].as_str().unwrap().to_string();
        assert!(editions.insert(format!("post/{}", slug.join("-")), (url, title)).is_none(), "two posts, one slug");
    }
    editions
}

/// The editions whose web version `build` wrote, by web path.
fn editions_built(public: &Path) -> BTreeSet<String> {
    let digest = public.join("digest");
    let names = |dir: &Path| -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| dir.join(name).join("index.html").is_file())
            .collect()
    };
    let mut built: BTreeSet<String> = names(&digest).into_iter().filter(|name| name != "weekly").collect();
    built.extend(names(&digest.join("weekly")).into_iter().map(|week| format!("weekly/{week}")));
    built
}

/// The `href`s of the links in `html`.
fn hrefs(html: &str) -> BTreeSet<String> {
    let document = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("a[href]").unwrap();
    document.select(&selector).map(|a| a.value().attr("href").unwrap().to_string()).collect()
}

/// Previews `edition` of `site` into `out`; the message it wrote.
fn preview(site: &Path, edition: &str, out: &Path, status: i32) -> PathBuf {
    let name = if edition.contains('/') { edition.to_string() } else { format!("monthly/{edition}") };
    let output = newsroom(site)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--edition", &name, "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(status), "{name}: {}", stderr(&output));
    assert!(stdout(&output).contains(": 1 message(s)"), "{name}: {}", stdout(&output));
    let message = out.join(edition).join("messages/00001-ada@example.org.eml");
    assert!(message.is_file(), "{name}: no {}", message.display());
    message
}

/// What mail-parser reads in one message of `edition`, carrying `posts`.
fn read_back(path: &Path, blog: &str, edition: &str, posts: &BTreeSet<String>) {
    let id = match edition.split_once('/') {
        Some((cadence, period)) => format!("digest-{cadence}-{period}."),
        None => format!("digest-{edition}."),
    };
    let edition = format!("{blog} {edition}");
    let bytes = std::fs::read(path).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap_or_else(|| panic!("{edition}: mail-parser"));
    let subject = message.subject().unwrap_or_default();
    assert!(!subject.trim().is_empty(), "{edition}: no subject");
    assert!(message.message_id().is_some_and(|m| m.starts_with(&id)), "{edition}: {:?}", message.message_id());
    for header in ["List-Unsubscribe", "List-Unsubscribe-Post", "List-Id"] {
        assert!(message.header(header).is_some(), "{edition}: no {header}");
    }
    let text = message.body_text(0).unwrap_or_else(|| panic!("{edition}: no text part"));
    let html = message.body_html(0).unwrap_or_else(|| panic!("{edition}: no HTML part"));
    let links = hrefs(&html);
    for post in posts {
        assert!(text.contains(post.as_str()), "{edition}: {post} not in the text part");
        assert!(links.contains(post), "{edition}: no link to {post} in the HTML part");
    }
}

#[test]
fn every_week_month_and_post_of_the_corpus_previews_to_messages_mail_readers_read() {
    let Some(corpus) = corpus() else { return };
    let check_eml = corpus.join("../tools/check-eml");
    let mut messages: Vec<PathBuf> = Vec::new();
    let sites: Vec<TempSite> = BLOGS.iter().map(|(blog, _)| site(&corpus, blog)).collect();
    for ((blog, status), site) in BLOGS.iter().zip(&sites) {
        let build = run(site.path(), &["build", "--keep-going"]);
        assert_eq!(build.status.code(), Some(*status), "{blog}: {}", stderr(&build));
        let public = site.path().join("public");
        let editions = editions_of_the_feed(&public);
        let weeks = editions.keys().filter(|e| e.starts_with("weekly/")).count();
        assert!(weeks >= 15 && editions.len() - weeks >= 15, "{blog}: {} weeks of {}", weeks, editions.len());
        assert_eq!(editions_built(&public), editions.keys().cloned().collect(), "{blog}: the editions build wrote");
        // And each post as its own edition (`cadence: per_post`).
        let per_post = post_editions_of_the_feed(&public, &format!("https://{blog}.example.org/blog/"));
        let mut editions = editions.clone();
        editions.extend(per_post.iter().map(|(edition, (url, _))| (edition.clone(), BTreeSet::from([url.clone()]))));
        let out = site.path().join("preview");
        // Two at a time: the machine's two cores.
        let all: Vec<(&String, &BTreeSet<String>)> = editions.iter().collect();
        let written: Vec<PathBuf> = std::thread::scope(|scope| {
            let halves: Vec<_> = all
                .chunks(all.len().div_ceil(2))
                .map(|half| {
                    let (site, out) = (site.path(), &out);
                    scope.spawn(move || {
                        half.iter()
                            .map(|(edition, posts)| {
                                let message = preview(site, edition, out, *status);
                                read_back(&message, blog, edition, posts);
                                message
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            halves.into_iter().flat_map(|half| half.join().unwrap()).collect()
        });
        assert_eq!(written.len(), editions.len());
        // A post's message is titled as the post is.
        for (edition, (_, title)) in &per_post {
            let bytes = std::fs::read(out.join(edition).join("messages/00001-ada@example.org.eml")).unwrap();
            let message = MessageParser::default().parse(&bytes).unwrap();
            assert_eq!(message.subject(), Some(title.as_str()), "{blog} {edition}");
        }
        println!(
            "corpus editions: {blog}: {weeks} weeks, {} months, {} posts",
            editions.len() - weeks - per_post.len(),
            per_post.len()
        );
        messages.extend(written);
    }
    let output = std::process::Command::new(&check_eml).args(&messages).output().unwrap();
    let said = stdout(&output);
    assert!(output.status.success(), "check-eml: {said}{}", stderr(&output));
    let summary = format!("{} messages checked, 0 problems", messages.len());
    assert!(said.contains(&summary), "{said}");
    // The count, for BENCHMARKS.md and the curious (`--nocapture`).
    println!("corpus editions: {summary}");
}
