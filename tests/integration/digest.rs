//! The monthly digest: preview files read back with mail-parser, one whole
//! message snapshotted, subscriber rows that must be rejected, and names
//! that must not inject headers.

use std::path::Path;

use mail_parser::{MessageParser, MimeHeaders};

use crate::support::*;

fn preview(site: &Path, args: &[&str]) -> std::process::Output {
    let mut command = newsroom(site);
    command.env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET).args(["digest", "preview"]).args(args);
    command.output().unwrap()
}

fn messages(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("messages"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn preview_writes_one_message_per_active_subscriber_that_reads_back() {
    let site = copy_example_site();
    let output = preview(site.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("October 2026 digest (3 post(s))"), "{}", stdout(&output));
    let dir = site.path().join("preview/2026-10");
    let messages = messages(&dir);
    // 12 rows: 2 unsubscribed and 1 bounced are skipped.
    assert_eq!(messages.len(), 9);
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).unwrap();
    assert_eq!(manifest.lines().count(), 1 + 12, "{manifest}");
    assert_eq!(manifest.lines().filter(|l| l.contains(",skipped,")).count(), 3);
    assert!(!site.path().join(".newsroom").exists(), "a preview created the store");

    let mut ids = std::collections::BTreeSet::new();
    for (name, bytes) in &messages {
        let message = MessageParser::default().parse(bytes).unwrap_or_else(|| panic!("{name} does not parse"));
        let to = message.to().and_then(|a| a.first()).unwrap();
        let address = to.address().unwrap();
        assert!(name.ends_with(&format!("-{address}.eml")), "{name} vs {address}");
        assert_eq!(message.from().unwrap().first().unwrap().address(), Some("news@lantern.example.org"));
        assert_eq!(message.reply_to().unwrap().first().unwrap().address(), Some("community@lantern.example.org"));
        assert_eq!(message.subject(), Some("Lantern Community Blog digest: October 2026"));
        assert!(message.date().is_some());
        let id = message.message_id().unwrap();
        assert!(id.starts_with("digest-2026-10.") && id.ends_with("@news.lantern.example.org"), "{id}");
        assert!(manifest.contains(&format!("<{id}>")), "manifest lacks {id}");
        let header = |header: &'static str| -> String {
            message
                .header_raw(header)
                .map(|v| v.trim().replace("\r\n ", " "))
                .unwrap_or_else(|| panic!("{name}: no {header}"))
        };
        assert_eq!(header("List-Id"), "<news.lantern.example.org>");
        assert_eq!(header("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
        let unsubscribe = header("List-Unsubscribe");
        let unsubscribe = unsubscribe.as_str();
        // An opaque token, verified with the preview's secret (the site has
        // no store: the preview numbers the list's subscribers as an import
        // into an empty store would).
        let url = unsubscribe.trim_start_matches('<').split('>').next().unwrap();
        let token = url.strip_prefix("https://lantern.example.org/newsletter/unsubscribe/").expect(url);
        let id =
            newsroom::token::verify(crate::support::SECRET.as_bytes(), "news.lantern.example.org", token).expect(token);
        assert!(ids.insert(id), "two messages name subscriber {id}");
        assert!(!url.contains(address.split('@').next().unwrap()), "{url}");
        // The mailto carries the same token, in the subject (issue 27, point 4).
        assert!(
            unsubscribe.contains(&format!("<mailto:unsubscribe@lantern.example.org?subject=unsubscribe%20{token}>")),
            "{unsubscribe}"
        );
        // multipart/alternative, text first, then HTML.
        assert_eq!(message.content_type().unwrap().ctype(), "multipart");
        assert_eq!(message.content_type().unwrap().subtype(), Some("alternative"));
        let text = message.body_text(0).unwrap();
        let html = message.body_html(0).unwrap();
        assert!(message.text_body[0] < message.html_body[0], "text part must come first");
        for body in [&*text, &*html] {
            assert!(
                body.contains("Fix-It October is back") && body.contains("Building a developer portal in an afternoon")
            );
            assert!(body.contains("https://lantern.example.org/blog/2026/10/28/newsletter-october-2026"));
        }
        let token_url = unsubscribe.trim_start_matches('<').split('>').next().unwrap();
        assert!(text.contains(token_url), "{name}: text lacks the unsubscribe URL");
        assert!(html.contains(&token_url.replace('&', "&amp;")), "{name}: HTML lacks the unsubscribe URL");
        assert!(html.contains("42 Harbour Road"), "postal address");
        assert!(html.contains("https://lantern.example.org/blog/digest/2026-10/"), "view in browser");
        match to.name() {
            Some(name) => assert!(text.contains(&format!("Hi {name},")), "greeting for {name}"),
            None => assert!(text.contains("Hello,"), "neutral greeting"),
        }
    }
}

#[test]
fn one_whole_message_matches_its_snapshot() {
    let site = copy_example_site();
    assert!(preview(site.path(), &["--month", "2026-09"]).status.success());
    let messages = messages(&site.path().join("preview/2026-09"));
    let (_, bytes) = messages.iter().find(|(name, _)| name.contains("zoe.angstrom")).unwrap();
    insta::assert_snapshot!("digest_2026_09_zoe", String::from_utf8_lossy(bytes));
}

#[test]
fn a_month_without_posts_sends_nothing_and_writes_nothing() {
    let site = copy_example_site();
    let output = preview(site.path(), &["--month", "2026-02"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).contains("no posts in February 2026 (2026-02): nothing to send"), "{}", stdout(&output));
    assert!(!site.path().join("preview").exists());
}

#[test]
fn build_writes_the_web_version_of_each_month() {
    let site = copy_example_site();
    assert!(run(site.path(), &["build"]).status.success());
    for month in ["2026-08", "2026-09", "2026-10"] {
        let html = std::fs::read_to_string(site.path().join(format!("public/digest/{month}/index.html"))).unwrap();
        assert!(html.starts_with("<!DOCTYPE html>"), "{month}");
        assert!(!html.contains("unsubscribe?email"), "{month}: the web version has no personal unsubscribe link");
        assert!(!html.contains('\u{E000}'), "{month}: an unfilled slot");
    }
}

/// Names and addresses written to attack the headers: each message must carry
/// exactly the headers newsroom sets, each once.
#[test]
fn no_subscriber_field_can_add_a_header() {
    let site = copy_example_site();
    std::fs::write(
        site.path().join("subscribers.example.csv"),
        "email,name,status\n\
         a@example.org,\"Eve\r\nBcc: victim@example.com\",subscribed\n\
         b@example.org,\"Mallory\nSubject: pwned\",\n\
         c@example.org,\"Quote \"\" and, comma <x@y.z>\",\n\
         d@example.org,Zoë Ünïcødé =?utf-8?q?x?=,\n\
         e@example.org,\"Tab\there\",\n",
    )
    .unwrap();
    let output = preview(site.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let messages = messages(&site.path().join("preview/2026-10"));
    assert_eq!(messages.len(), 5);
    let expected = [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Reply-To",
        "MIME-Version",
        "Content-Type",
    ];
    for (name, bytes) in &messages {
        let message = MessageParser::default().parse(bytes).unwrap();
        let mut names: Vec<String> = message.headers().iter().map(|h| h.name().to_ascii_lowercase()).collect();
        names.sort();
        let mut want: Vec<String> = expected.iter().map(|s| s.to_ascii_lowercase()).collect();
        want.sort();
        assert_eq!(names, want, "{name}");
        assert_eq!(message.to().unwrap().iter().count(), 1, "{name}");
        assert_eq!(message.subject(), Some("Lantern Community Blog digest: October 2026"), "{name}");
    }
    let mallory = MessageParser::default().parse(&messages[1].1).unwrap();
    assert_eq!(mallory.to().unwrap().first().unwrap().name(), Some("Mallory Subject: pwned"));
    let quoted = MessageParser::default().parse(&messages[2].1).unwrap();
    assert_eq!(quoted.to().unwrap().first().unwrap().address(), Some("c@example.org"));
    assert_eq!(quoted.to().unwrap().first().unwrap().name(), Some("Quote \" and, comma <x@y.z>"));
}

/// Bad subscriber rows: each is reported with its line and reason, and every
/// good row still gets its message.
#[test]
fn bad_subscriber_rows_are_reported_and_the_rest_mailed() {
    let site = copy_example_site();
    std::fs::write(
        site.path().join("subscribers.example.csv"),
        "\u{feff}email,name,status\r\n\
         good@example.org,Good,subscribed\r\n\
         not-an-address,Bad,subscribed\r\n\
         good@EXAMPLE.ORG,Duplicate,subscribed\r\n\
         ,Empty,subscribed\r\n\
         maybe@example.org,Maybe,perhaps\r\n\
         \"quoted@example.org\",\"Doe, Jane\",subscribed\r\n\
         crlf@example.org,\"Line\r\nBreak\",subscribed\r\n",
    )
    .unwrap();
    let output = preview(site.path(), &[]);
    let report = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "rejected rows make the run report failure: {report}");
    insta::assert_snapshot!(
        "bad_subscriber_rows",
        report.lines().filter(|l| l.starts_with("subscribers")).collect::<Vec<_>>().join("\n")
    );
    let names: Vec<String> = messages(&site.path().join("preview/2026-10")).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["00001-good@example.org.eml", "00002-quoted@example.org.eml", "00003-crlf@example.org.eml"]);
    // Every row of the file is in the manifest, the skipped ones with their line and reason.
    let manifest = manifest_rows(&site.path().join("preview/2026-10"));
    let rows: Vec<(&str, &str, &str, &str)> =
        manifest.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[4].as_str(), r[5].as_str())).collect();
    assert_eq!(
        rows,
        [
            ("good@example.org", "ready", "", "2"),
            ("quoted@example.org", "ready", "", "7"),
            ("crlf@example.org", "ready", "", "8"),
            ("not-an-address", "skipped", "`not-an-address` is not a valid email address", "3"),
            ("good@example.org", "skipped", "duplicate of line 2 (good@example.org)", "4"),
            ("", "skipped", "empty email address", "5"),
            (
                "maybe@example.org",
                "skipped",
                "unknown status `perhaps` (expected subscribed, unsubscribed, bounced, complained, pending or removed)",
                "6"
            ),
        ]
    );
}

/// manifest.csv read back with the csv crate: every record, header left out.
fn manifest_rows(dir: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(dir.join("manifest.csv")).unwrap();
    assert_eq!(reader.headers().unwrap(), vec!["address", "status", "message_id", "bytes", "reason", "line"]);
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// What `send` skips, the preview skips: an address unsubscribed in the
/// store (in any spelling) gets no message, and the manifest says why.
#[test]
fn preview_honours_the_stores_unsubscribes() {
    let site = copy_example_site();
    let unsubscribed = run(site.path(), &["unsubscribe", "Marcus.Lee@EXAMPLE.com"]);
    assert!(unsubscribed.status.success(), "{}", stderr(&unsubscribed));
    assert_eq!(
        stdout(&unsubscribed),
        "Marcus.Lee@example.com is unsubscribed: no later send will mail it\n\
         the store holds it as marcus.lee@example.com\n"
    );
    let output = preview(site.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let dir = site.path().join("preview/2026-10");
    assert!(messages(&dir).iter().all(|(name, _)| !name.contains("marcus")));
    assert_eq!(messages(&dir).len(), 8);
    let manifest = manifest_rows(&dir);
    let marcus = manifest.iter().find(|r| r[0] == "marcus.lee@example.com").unwrap();
    assert_eq!(marcus[1], "skipped");
    assert!(marcus[4].starts_with("unsubscribed (cli, 20"), "{marcus:?}");
    assert_eq!(marcus[5], "3");
    assert_eq!(manifest.len(), 12, "every row of the file");

    // An address not on the list is recorded, and the user is told.
    let output = run(site.path(), &["unsubscribe", "stranger@example.org"]);
    assert!(output.status.success());
    assert!(stdout(&output).contains("note: no subscriber has this address; recorded anyway"), "{}", stdout(&output));
    let again = run(site.path(), &["unsubscribe", "marcus.lee@example.com"]);
    assert!(stdout(&again).starts_with("marcus.lee@example.com was already unsubscribed"), "{}", stdout(&again));
}

/// A month whose posts are all dated after now is not "no posts".
#[test]
fn a_month_of_scheduled_posts_says_so() {
    let site = copy_example_site();
    for day in ["2027-03-01", "2027-03-15"] {
        std::fs::write(
            site.path().join(format!("posts/{day}-later.md")),
            format!("---\ntitle: Later {day}\n---\nSoon.\n\n<!--truncate-->\n"),
        )
        .unwrap();
    }
    let output = preview(site.path(), &["--month", "2027-03"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output),
        "no posts published in March 2027 (2027-03) yet: 2 post(s) scheduled: the first publishes 2027-03-01 (posts/2027-03-01-later.md); nothing to send, nothing written\n"
    );
    let build = run(site.path(), &["build"]);
    assert!(
        stdout(&build).ends_with("; 2 post(s) scheduled: the first publishes 2027-03-01 (posts/2027-03-01-later.md)\n"),
        "{}",
        stdout(&build)
    );
    let check = run(site.path(), &["check"]);
    assert!(stdout(&check).contains("\n2 post(s) scheduled: the first publishes 2027-03-01"), "{}", stdout(&check));
}

#[test]
fn an_unknown_placeholder_in_the_template_is_an_error_with_its_line() {
    let site = copy_example_site();
    let template = std::fs::read_to_string(site.path().join("templates/digest.md")).unwrap();
    std::fs::write(site.path().join("templates/digest.md"), template.replace("{greeting}", "{greting}")).unwrap();
    let check = run(site.path(), &["check"]);
    assert_eq!(check.status.code(), Some(1));
    let line = template.lines().position(|l| l.trim() == "{greeting}").unwrap() + 1;
    assert!(
        stdout(&check).contains(&format!("templates/digest.md:{line}:1: error: unknown placeholder `{{greting}}`")),
        "{}",
        stdout(&check)
    );
    let preview = preview(site.path(), &[]);
    assert_eq!(preview.status.code(), Some(2), "a template error is a configuration error");
    assert!(!site.path().join("preview").exists());
}

#[test]
fn a_digest_over_gmails_clip_is_a_warning() {
    let site = copy_example_site();
    let long: String =
        (0..1500).map(|n| format!("Paragraph {n} of a very long excerpt that nobody should send.\n\n")).collect();
    std::fs::write(
        site.path().join("posts/2026-10-30-long.md"),
        format!("---\ntitle: Long\n---\n{long}<!--truncate-->\n"),
    )
    .unwrap();
    let output = preview(site.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("Gmail clips messages over 104448 bytes"), "{}", stderr(&output));
}

/// Issue 26, point 11: with nobody subscribed the preview's `digest.txt`
/// showed its personal slots by name ("greeting", "unsubscribe_url"), and
/// the default preheader counted "1 new posts".
#[test]
fn a_preview_for_nobody_says_its_personal_parts_and_one_post_is_one_post() {
    let site = copy_example_site();
    std::fs::write(site.path().join("subscribers.example.csv"), "email,name,status\n").unwrap();
    // August 2026 has four posts; a month of its own with one.
    std::fs::write(
        site.path().join("posts/2026-07-15-alone.md"),
        "---\ntitle: Alone in July\nauthors: priya\n---\n\nThe only post of July.\n\n<!--truncate-->\n\nMore.\n",
    )
    .unwrap();
    let output = preview(site.path(), &["--month", "2026-07"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(site.path().join("preview/2026-07/digest.txt")).unwrap();
    assert!(!text.contains('\u{E000}') && !text.contains('\u{E001}'), "a slot left in digest.txt:\n{text}");
    assert!(!text.contains("unsubscribe_url") && !text.contains("greeting"), "{text}");
    assert!(text.contains("Hello,") && text.contains("[each subscriber's unsubscribe link]"), "{text}");
    assert!(text.contains("This email was sent to [each subscriber's address]."), "{text}");
    let html = std::fs::read_to_string(site.path().join("preview/2026-07/index.html")).unwrap();
    assert!(html.contains("1 new post from Lantern Community Blog in July 2026."), "the preheader");
    assert!(!html.contains("1 new posts"));
}
