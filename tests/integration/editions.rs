//! Editions (issue 28): the cadence keys of `digest:` are checked where
//! they are written, weekly and daily editions are sent exactly once under
//! ids of their own, a short period's posts carry over (`min_posts`) and a
//! gap goes as one edition (`catch_up: combine`) or one each, and a
//! per-post site mails each post once, when it is published.

use newsroom::edition::Edition;

use crate::support::*;

/// The example site with `keys` added at the top of its `digest:` section.
fn site_with_digest_keys(keys: &str) -> tempfile::TempDir {
    let site = copy_example_site();
    let path = site.path().join("newsroom.yaml");
    let config = std::fs::read_to_string(&path).unwrap();
    assert!(config.contains("\ndigest:\n"), "the example's digest section moved");
    std::fs::write(&path, config.replacen("\ndigest:\n", &format!("\ndigest:\n{keys}"), 1)).unwrap();
    site
}

/// `digest send --due` on `site` at `now`, to the relay at `smtp_url`.
fn send_due(site: &std::path::Path, smtp_url: &str, now: &str) -> std::process::Output {
    newsroom(site)
        .env("NEWSROOM_NOW", now)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", smtp_url)
        .args(["digest", "send", "--due"])
        .output()
        .unwrap()
}

fn line_of(site: &tempfile::TempDir, needle: &str) -> usize {
    let config = std::fs::read_to_string(site.path().join("newsroom.yaml")).unwrap();
    config.lines().position(|line| line.contains(needle)).unwrap() + 1
}

#[test]
fn a_bad_cadence_key_is_an_error_at_its_line_and_column() {
    let site = site_with_digest_keys("  send_at: 9am Europe/Berlin\n");
    let output = run(site.path(), &["check"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let line = line_of(&site, "send_at: 9am");
    let expected = format!("newsroom.yaml:{line}:12: error: digest.send_at: `9am Europe/Berlin` is not a send time");
    assert!(stderr(&output).contains(&expected), "{}", stderr(&output));
}

/// A per-post site: `send --due` mails each post once it is published
/// (the first run only the latest day's, never the history), one message
/// a post, its subject the post's title, its "view in browser" the post's
/// own page — counted at the SMTP server and read back by mail-parser; a
/// scheduled post waits for its date, a draft and an unlisted post never
/// go; `check` no longer warns of the cadence.
#[test]
fn a_per_post_site_mails_each_post_once_when_it_is_published() {
    use crate::smtp_server::{Faults, SmtpServer};
    let site = site_with_digest_keys("  cadence: per_post\n  min_posts: 3\n");
    let check = run(site.path(), &["check"]);
    assert!(check.status.success(), "{}", stderr(&check));
    assert!(!format!("{}{}", stdout(&check), stderr(&check)).contains("per_post"), "{}", stderr(&check));
    let server = SmtpServer::start(Faults::default());
    let due = |now: &str| {
        let output = send_due(site.path(), &server.url(), now);
        assert_eq!(output.status.code(), Some(0), "{now}: {}", stderr(&output));
        stdout(&output)
    };
    // Posts seen by one reader: (edition, subject, view-in-browser link).
    let seen = || -> Vec<(String, String, String)> {
        server
            .received()
            .iter()
            .filter(|m| m.recipient == "marcus.lee@example.com")
            .map(|m| {
                let message = mail_parser::MessageParser::default().parse(&m.data).expect("mail-parser reads it");
                let text = message.body_text(0).expect("a text part").into_owned();
                let view =
                    text.split("View in browser:").nth(1).expect("a web version").split_whitespace().next().unwrap();
                (
                    m.message_id.split('.').next().unwrap().to_string(),
                    message.subject().unwrap().to_string(),
                    view.to_string(),
                )
            })
            .collect()
    };
    let first = due("2026-10-29T12:00:00Z");
    assert!(first.contains("due: post/2026-10-28-newsletter-october-2026"), "{first}");
    assert_eq!(
        seen(),
        [(
            "<digest-post-2026-10-28-newsletter-october-2026".to_string(),
            "Lantern community newsletter — October 2026".to_string(),
            "https://lantern.example.org/blog/2026/10/28/newsletter-october-2026".to_string()
        )],
        "the first run: the latest post only, though min_posts says 3"
    );
    assert_eq!(server.received().len(), 9, "one message to each subscriber");
    assert!(due("2026-10-30T12:00:00Z").contains("nothing is due: every post published since"));
    // Two new posts, one of them scheduled, and a draft.
    let write = |name: &str, front: &str| {
        std::fs::write(
            site.path().join("posts").join(name),
            format!("---\ntitle: {name}\nauthors: [priya]\n{front}---\nThe excerpt of {name}.\n\n<!--truncate-->\n\nThe rest.\n"),
        )
        .unwrap();
    };
    write("2026-11-02-first-of-november.md", "");
    write("2026-11-05-scheduled.md", "date: 2026-11-05T10:00:00Z\n");
    write("2026-11-03-a-draft.md", "draft: true\n");
    let november = due("2026-11-04T12:00:00Z");
    assert!(november.contains("due: post/2026-11-02-first-of-november"), "{november}");
    assert!(!november.contains("scheduled"), "{november}");
    assert_eq!(seen().len(), 2);
    due("2026-11-05T09:59:00Z");
    assert_eq!(seen().len(), 2, "not before its date");
    due("2026-11-05T10:00:00Z");
    due("2026-11-06T10:00:00Z");
    let editions: Vec<String> = seen().into_iter().map(|(edition, _, _)| edition).collect();
    assert_eq!(
        editions,
        [
            "<digest-post-2026-10-28-newsletter-october-2026",
            "<digest-post-2026-11-02-first-of-november",
            "<digest-post-2026-11-05-scheduled"
        ]
    );
    assert_eq!(server.received().len(), 27, "each post once to each of the nine");
}

/// `digest.per_post_content: full` mails the whole post (HTML and text),
/// `excerpt` (the default) what is above the marker.
#[test]
fn a_per_post_message_carries_the_excerpt_or_the_whole_post() {
    for (content, whole) in [("excerpt", false), ("full", true)] {
        let site = site_with_digest_keys(&format!("  cadence: per_post\n  per_post_content: {content}\n"));
        let output = newsroom(site.path())
            .env("NEWSROOM_NOW", NOW)
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
            .args(["digest", "preview", "--edition", "post/2026-10-02-fix-it-october", "--out", "p"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{content}: {}", stderr(&output));
        let dir = site.path().join("p/post/2026-10-02-fix-it-october");
        let text = std::fs::read_to_string(dir.join("digest.txt")).unwrap();
        let post = std::fs::read_to_string(site.path().join("posts/2026-10-02-fix-it-october.md")).unwrap();
        let below = post.rsplit("<!--truncate-->").next().expect("a marker");
        let below_words: String = below
            .lines()
            .find(|line| line.len() > 40 && !line.starts_with(['#', '-', '!', '<', '|']))
            .unwrap()
            .split_whitespace()
            .take(4)
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(text.contains(&below_words), whole, "{content}: `{below_words}` in\n{text}");
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert_eq!(html.contains(&below_words), whole, "{content}: `{below_words}` in the HTML");
        assert!(text.contains("Fix-It October is back"), "{text}");
    }
}

/// `--edition monthly/2026-10` is `--month 2026-10`; a name that is no
/// edition says why.
#[test]
fn editions_are_named_on_the_command_line() {
    let site = copy_example_site();
    let preview = |args: &[&str], out: &str| {
        newsroom(site.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
            .args(["digest", "preview"])
            .args(args)
            .args(["--out", out])
            .current_dir(site.path())
            .output()
            .unwrap()
    };
    let by_month = preview(&["--month", "2026-10"], "a");
    let by_edition = preview(&["--edition", "monthly/2026-10"], "b");
    assert!(by_month.status.success() && by_edition.status.success(), "{}", stderr(&by_edition));
    let read = |dir: &str| file_tree(&site.path().join(dir).join("2026-10"));
    assert!(!read("a").is_empty());
    assert_eq!(read("a"), read("b"));
    for (args, says) in [
        (&["--edition", "post/2026/10/02"][..], "is not an edition"),
        (&["--edition", "weekly/2027-W53"][..], "2027 has no week 53"),
        (&["--edition", "yearly/2026"][..], "is not an edition"),
        (&["--edition", "monthly/2026-10", "--month", "2026-10"][..], "cannot be used with"),
    ] {
        let output = preview(args, "c");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains(says), "{args:?}: {}", stderr(&output));
    }
}

/// A weekly edition goes out once (counted at the SMTP server) under its
/// own ledger key, Message-IDs and return-path period, with the week's
/// posts only; a second run sends nothing; the site's default edition is
/// its latest ended week.
#[test]
fn a_weekly_edition_is_sent_once_with_its_own_ids() {
    use crate::smtp_server::{Faults, SmtpServer};
    let site = site_with_digest_keys("  cadence: weekly\n");
    let config = std::fs::read_to_string(site.path().join("newsroom.yaml")).unwrap();
    std::fs::write(
        site.path().join("newsroom.yaml"),
        config.replacen("\ndelivery:\n", "\ndelivery:\n  return_path: \"bounces+{token}@lantern.example.org\"\n", 1),
    )
    .unwrap();
    let server = SmtpServer::start(Faults::default());
    let send = || {
        newsroom(site.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
            .env("NEWSROOM_SMTP_URL", server.url())
            .args(["digest", "send", "--edition", "weekly/2026-W42"])
            .output()
            .unwrap()
    };
    let first = send();
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).contains("digest-weekly-2026-W42: 9 sent"), "{}", stdout(&first));
    let received = server.received();
    assert_eq!(received.len(), 9);
    for message in &received {
        assert!(message.message_id.starts_with("<digest-weekly-2026-W42."), "{}", message.message_id);
        assert!(message.sender.starts_with("bounces+") && message.sender.contains("-2026421-"), "{}", message.sender);
        let text = String::from_utf8_lossy(&message.data);
        // The week of 12-18 October 2026 holds one post of the example site.
        assert!(text.contains("week 42 of 2026"), "{text}");
        assert!(text.contains("portal-in-an-afternoon") && !text.contains("fix-it-october"), "{text}");
    }
    let again = send();
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(server.received().len(), 9, "nothing sent twice");

    // A week with no post sends nothing and says so.
    let empty = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", server.url())
        .args(["digest", "send"])
        .output()
        .unwrap();
    assert_eq!(empty.status.code(), Some(0), "{}", stderr(&empty));
    assert!(stdout(&empty).contains("no posts in week 46 of 2026"), "{}", stdout(&empty));
    assert_eq!(server.received().len(), 9);
}

/// Every edition a message can link to ("view in browser") is a page
/// `build` writes: the weeks of a weekly site, and its months too when it
/// offers both; each page carries its period's posts only.
#[test]
fn build_writes_the_web_version_of_every_cadences_editions() {
    let site = site_with_digest_keys("  cadences: [weekly, monthly]\n");
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let page = |path: &str| std::fs::read_to_string(site.path().join("public/digest").join(path).join("index.html"));
    let week = page("weekly/2026-W42").expect("the week of 12-18 October");
    assert!(week.contains("portal-in-an-afternoon") && !week.contains("fix-it-october"), "{week}");
    let month = page("2026-10").expect("October, as always");
    assert!(month.contains("portal-in-an-afternoon") && month.contains("fix-it-october"));
    assert!(page("weekly/2026-W46").is_err(), "a week without posts has no page");

    // Each cadence has an index of its editions, newest first, every link
    // one of the pages written (read back by an HTML parser).
    for (index, cadence_dir) in [("", ""), ("weekly", "weekly/")] {
        let html = page(index).unwrap_or_else(|_| panic!("the index of `{index}`"));
        let document = scraper::Html::parse_document(&html);
        let links: Vec<String> = document
            .select(&scraper::Selector::parse("main li a").unwrap())
            .map(|a| a.value().attr("href").unwrap().to_string())
            .collect();
        let written: Vec<String> = std::fs::read_dir(site.path().join("public/digest").join(cadence_dir))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with("20") && (cadence_dir.is_empty() != name.contains('W')))
            .collect();
        let mut expected: Vec<String> = written
            .iter()
            .map(|name| format!("https://lantern.example.org/blog/digest/{cadence_dir}{name}/"))
            .collect();
        expected.sort();
        expected.reverse();
        assert_eq!(links, expected, "`{index}`: every edition written, newest first");
        assert!(links.len() >= 3, "{links:?}");
    }

    // The link a weekly message carries is one of those pages.
    let out = site.path().join("preview");
    let preview = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--edition", "weekly/2026-W42", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(preview.status.success(), "{}", stderr(&preview));
    let html = std::fs::read_to_string(out.join("weekly/2026-W42/index.html")).unwrap();
    assert!(html.contains("https://lantern.example.org/blog/digest/weekly/2026-W42/"), "the archive link");
}

/// `{period}` names the edition's period in the templates, as `{month}`
/// always has (and still does, for any cadence).
#[test]
fn the_period_placeholder_names_the_edition() {
    let site = copy_example_site();
    let template = site.path().join("templates/digest.md");
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("subject: \"{site_title} digest: {month}\""), "the example's subject changed");
    std::fs::write(
        &template,
        text.replace("subject: \"{site_title} digest: {month}\"", "subject: \"{period} / {month}\""),
    )
    .unwrap();
    let out = site.path().join("preview");
    let preview = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--edition", "daily/2026-10-13", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(preview.status.success(), "{}", stderr(&preview));
    let messages = out.join("daily/2026-10-13/messages");
    let first = std::fs::read_dir(&messages).unwrap().next().unwrap().unwrap().path();
    let message = std::fs::read_to_string(first).unwrap();
    assert!(message.contains("Subject: October 13, 2026 / October 13, 2026\r\n"), "{message}");
}

/// `templates/digest-weekly.md` is the weekly editions' template (their
/// messages and web pages); the months keep `templates/digest.md`; `check`
/// reads it as it reads the other.
#[test]
fn a_cadence_may_have_a_template_of_its_own() {
    let site = site_with_digest_keys("  cadences: [weekly, monthly]\n");
    let weekly = site.path().join("templates/digest-weekly.md");
    std::fs::write(
        &weekly,
        "---\nsubject: \"This week: {period}\"\npreheader: \"{new_posts}\"\n---\n\n{greeting} the week.\n",
    )
    .unwrap();
    let preview = |edition: &str| {
        let out = site.path().join("preview");
        let output = newsroom(site.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
            .args(["digest", "preview", "--edition", edition, "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        std::fs::read_to_string(out.join(Edition::parse(edition).unwrap().web_path()).join("digest.txt")).unwrap()
    };
    assert!(preview("weekly/2026-W42").contains("the week."));
    assert!(!preview("monthly/2026-10").contains("the week."));
    let build = run(site.path(), &["build"]);
    assert!(build.status.success(), "{}", stderr(&build));
    let page = std::fs::read_to_string(site.path().join("public/digest/weekly/2026-W42/index.html")).unwrap();
    assert!(page.contains("the week."), "the web version uses it too");

    std::fs::write(&weekly, "---\nsubject: \"{nope}\"\n---\nbody\n").unwrap();
    let check = run(site.path(), &["check"]);
    let all = format!("{}{}", stdout(&check), stderr(&check));
    assert!(all.contains("templates/digest-weekly.md:2:") && all.contains("{nope}"), "{all}");
}

/// `digest send --due` on a weekly site: the first run sends the latest
/// ended week only; a re-run sends nothing; after a gap the default
/// `catch_up: combine` sends one edition for it — each post once, counted
/// at the server.
#[test]
fn send_due_sends_each_ended_week_once_and_nothing_else() {
    use crate::smtp_server::{Faults, SmtpServer};
    let site = site_with_digest_keys("  cadence: weekly\n");
    let server = SmtpServer::start(Faults::default());
    let due = |now: &str| send_due(site.path(), &server.url(), now);
    let weeks_received = || {
        let mut weeks: Vec<String> =
            server.received().iter().map(|m| m.message_id.split('.').next().unwrap().to_string()).collect();
        weeks.dedup();
        weeks
    };
    // Tuesday of week 43: week 42 (12-18 October) has ended; 43 has not.
    let first = due("2026-10-20T12:00:00Z");
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert!(stdout(&first).contains("due: weekly/2026-W42"), "{}", stdout(&first));
    assert_eq!(weeks_received(), ["<digest-weekly-2026-W42"]);
    assert_eq!(server.received().len(), 9);
    let again = due("2026-10-21T12:00:00Z");
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stdout(&again).contains("nothing is due"), "{}", stdout(&again));
    assert_eq!(server.received().len(), 9);

    // The timer was down for two weeks: 43 and 44 are due, and go as one
    // edition (the default `catch_up: combine`): week 44's, carrying 43's.
    let gap = due("2026-11-03T12:00:00Z");
    assert_eq!(gap.status.code(), Some(0), "{}", stderr(&gap));
    assert!(
        stdout(&gap)
            .contains("1 earlier weekly edition(s) not sent (weekly/2026-W43 to weekly/2026-W43) go in the next one"),
        "{}",
        stdout(&gap)
    );
    assert_eq!(weeks_received(), ["<digest-weekly-2026-W42", "<digest-weekly-2026-W44"]);
    assert_eq!(server.received().len(), 18);
    // Every post of those weeks in exactly one of them.
    let mut posts_seen: Vec<(String, String)> = Vec::new();
    for message in server.received().iter().filter(|m| m.recipient == "ada.reader@example.org") {
        let text = String::from_utf8_lossy(&message.data).into_owned();
        for post in ["portal-in-an-afternoon", "lanternconf-speaker-preview", "newsletter-october-2026"] {
            if text.contains(post) {
                posts_seen.push((post.to_string(), message.message_id.clone()));
            }
        }
    }
    let names: Vec<&str> = posts_seen.iter().map(|(post, _)| post.as_str()).collect();
    assert_eq!(names, ["portal-in-an-afternoon", "newsletter-october-2026"], "{posts_seen:?}");
    assert!(stdout(&due("2026-11-04T12:00:00Z")).contains("nothing is due"));
    assert_eq!(server.received().len(), 18);
}

/// The README's weekly site, from `init` to the timer: every line but the
/// `systemctl` one, run by `sh` as written.
#[test]
fn the_readmes_weekly_site_recipe_runs() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let start = readme.find("A weekly site, from `init` to the timer").expect("the recipe");
    let block = &readme[start..];
    let code = &block[block.find("```sh\n").unwrap() + 6..];
    let code = &code[..code.find("```\n").unwrap()];
    let script: String =
        code.lines().filter(|line| !line.contains("systemctl")).map(|line| format!("{line}\n")).collect();
    assert!(script.contains("newsroom init") && script.contains("cadence: weekly"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let binary = assert_cmd::cargo::cargo_bin("newsroom");
    let output = std::process::Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", format!("{}:/usr/bin:/bin", binary.parent().unwrap().display()))
        .env("NEWSROOM_NOW", NOW)
        .env_remove("NEWSROOM_STORE_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{script}\n{}\n{}", stdout(&output), stderr(&output));
    // init dates its example post on the 1st of the previous month: in no
    // ended week at NOW, so the preview says which week it looked at.
    assert!(stdout(&output).contains("week 46 of 2026"), "{}", stdout(&output));
}

/// `digest.min_posts: 2` on a weekly site, with gaps: a week of one post
/// sends nothing and says so, and its post goes in the next edition sent —
/// even before any edition was sent (the cadence's start is recorded by
/// the first `--due`). Every post dated from the start is in exactly one
/// edition, counted at the server; under `catch_up: each` each missed
/// week is its own edition.
#[test]
fn a_short_weeks_posts_carry_over_into_the_next_edition_sent() {
    use crate::smtp_server::{Faults, SmtpServer};
    for catch_up in ["combine", "each"] {
        let site = site_with_digest_keys(&format!("  cadence: weekly\n  min_posts: 2\n  catch_up: {catch_up}\n"));
        let server = SmtpServer::start(Faults::default());
        let due = |now: &str| {
            let output = send_due(site.path(), &server.url(), now);
            assert_eq!(output.status.code(), Some(0), "{catch_up}: {}", stderr(&output));
            stdout(&output)
        };
        // Week 35 (24-30 August) holds one post: nothing sent.
        let first = due("2026-09-01T12:00:00Z");
        assert!(
            first.contains("weekly/2026-W35 has 1 post(s), fewer than digest.min_posts (2): nothing sent"),
            "{catch_up}: {first}"
        );
        assert_eq!(server.received().len(), 0);
        // Week 36 has one more: sent, carrying week 35's.
        due("2026-09-08T12:00:00Z");
        // Weeks 37 (none) and 38 (one post): nothing yet, under either rule.
        due("2026-09-22T12:00:00Z");
        // Weeks 39 and 40 end; by now every post of 37 to 40 is due.
        due("2026-10-06T12:00:00Z");
        let mut editions: Vec<String> =
            server.received().iter().map(|m| m.message_id.split('.').next().unwrap().to_string()).collect();
        editions.dedup();
        let expected: &[&str] = match catch_up {
            "combine" => &["<digest-weekly-2026-W36", "<digest-weekly-2026-W40"],
            // Week 39's post joins 38's: two, sent as week 39; 40's two go alone.
            _ => &["<digest-weekly-2026-W36", "<digest-weekly-2026-W39", "<digest-weekly-2026-W40"],
        };
        assert_eq!(editions, expected, "{catch_up}");
        let mut seen: Vec<&str> = Vec::new();
        let posts = [
            "meetup-recap-harbour-city",
            "lantern-2-0",
            "qa-whats-next",
            "contributor-spotlight",
            "docs-sprint-recap",
            "fix-it-october",
        ];
        for message in server.received().iter().filter(|m| m.recipient == "ada.reader@example.org") {
            let text = String::from_utf8_lossy(&message.data).into_owned();
            seen.extend(posts.iter().filter(|post| text.contains(&format!("/{post}"))));
        }
        assert_eq!(seen, posts, "{catch_up}: each post of weeks 35 to 40 in exactly one edition");
    }
}

/// One address answering `451` for ever: the week it failed in is retried
/// by the next `--due` runs, but never holds back the weeks after it —
/// every other reader gets each week once, counted at the server, and the
/// runs with a failure exit 1.
#[test]
fn an_address_that_always_fails_for_now_does_not_stop_the_next_editions() {
    use crate::smtp_server::{Faults, SmtpServer};
    let site = site_with_digest_keys("  cadence: weekly\n");
    let server = SmtpServer::start(Faults { always_451: Some("ada.reader".into()), ..Faults::default() });
    let due = |now: &str| {
        let output = send_due(site.path(), &server.url(), now);
        (output.status.code(), stdout(&output))
    };
    let weeks_to_others = || {
        let mut weeks: Vec<String> = server
            .received()
            .iter()
            .filter(|m| m.recipient == "marcus.lee@example.com")
            .map(|m| m.message_id.split('.').next().unwrap().to_string())
            .collect();
        weeks.dedup();
        weeks
    };
    let (code, first) = due("2026-10-20T12:00:00Z");
    assert_eq!(code, Some(1), "{first}");
    assert_eq!(weeks_to_others(), ["<digest-weekly-2026-W42"]);
    // Nothing new is due: week 42's failure is retried, and fails again.
    let (code, retry) = due("2026-10-21T12:00:00Z");
    assert_eq!(code, Some(1), "{retry}");
    assert!(retry.contains("weekly/2026-W42: an earlier run did not finish sending it"), "{retry}");
    assert_eq!(weeks_to_others(), ["<digest-weekly-2026-W42"], "nobody else mailed twice");
    // Weeks 43 and 44 have ended: 42 is retried, then 44 (carrying 43)
    // goes to everyone.
    let (code, next) = due("2026-11-03T12:00:00Z");
    assert_eq!(code, Some(1), "{next}");
    assert!(next.contains("due: weekly/2026-W44"), "{next}");
    assert_eq!(weeks_to_others(), ["<digest-weekly-2026-W42", "<digest-weekly-2026-W44"], "{next}");
    // Now week 44 is the one retried; nobody else gets anything again.
    let (code, after) = due("2026-11-04T12:00:00Z");
    assert_eq!(code, Some(1), "{after}");
    assert!(after.contains("weekly/2026-W44: an earlier run did not finish sending it"), "{after}");
    assert_eq!(weeks_to_others(), ["<digest-weekly-2026-W42", "<digest-weekly-2026-W44"], "{after}");
    let to_ada = server.received().iter().filter(|m| m.recipient == "ada.reader@example.org").count();
    assert_eq!(to_ada, 0, "every attempt to the failing address was refused");
}

/// Two posts whose paths make one per-post edition (`slug: x/y` and
/// `slug: x-y`) are refused by name, before anything is sent: sending one
/// would pass the other over for ever.
#[test]
fn two_posts_making_one_per_post_edition_are_refused_by_name() {
    let site = site_with_digest_keys("  cadence: per_post\n");
    for (name, slug) in [("2026-10-29-one.md", "x/y"), ("2026-10-29-two.md", "x-y")] {
        std::fs::write(
            site.path().join("posts").join(name),
            format!("---\ntitle: {name}\nslug: {slug}\n---\nExcerpt.\n\n<!--truncate-->\n\nRest.\n"),
        )
        .unwrap();
    }
    let output = send_due(site.path(), "smtp://127.0.0.1:1", "2026-10-30T00:00:00Z");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("posts/2026-10-29-two.md and posts/2026-10-29-one.md both make the per-post edition post/x-y: give one of them a `slug`"),
        "{}",
        stderr(&output)
    );
}
