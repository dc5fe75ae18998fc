//! A month is sent once it has ended (issue 26, point 1): a send of a
//! month still running is refused, `--unfinished` sends it anyway and the
//! store says so, later runs of a digest carry the posts its first send
//! carried, and `check` and `build` name every post no sent digest carries.

use std::path::Path;
use std::process::Output;

use crate::smtp_server::{Faults, SmtpServer};
use crate::support::*;

/// `digest send --month MONTH` on `site` through `server`, at `now`.
fn send_at(site: &Path, server: &SmtpServer, now: &str, month: &str, args: &[&str]) -> Output {
    newsroom(site)
        .env("NEWSROOM_NOW", now)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", server.url())
        .args(["digest", "send", "--month", month])
        .args(args)
        .output()
        .unwrap()
}

fn post(site: &Path, name: &str, title: &str, date: &str) {
    std::fs::write(
        site.join("posts").join(name),
        format!("---\ntitle: {title}\ndate: {date}\nauthors: priya\n---\n\nAn excerpt about {title}.\n\n<!--truncate-->\n\nMore.\n"),
    )
    .unwrap();
}

/// Everything a command printed, both streams.
fn said(output: &Output) -> String {
    format!("{}{}", stdout(output), stderr(output))
}

both_backends! {
/// The outside trial's case: `send --month 2026-12` on 2026-12-07 froze
/// the digest, and the post of 2026-12-20 reached nobody, silently.
fn a_month_not_ended_is_refused_unless_unfinished_which_the_store_records() {
    let _store = site_store();
    let server = SmtpServer::start(Faults::default());
    let site = copy_example_site();
    post(site.path(), "2026-11-10-mid-month.md", "Mid-month news", "2026-11-10");

    let refused = send_at(site.path(), &server, NOW, "2026-11", &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("the November 2026 digest (2026-11) is not finished: its month ends 2026-12-01 00:00 UTC"),
        "{message}"
    );
    assert!(message.contains("--test-to ADDRESS") && message.contains("--unfinished"), "{message}");
    assert_eq!(server.count(), 0, "a refused send mailed someone");
    let status = run(site.path(), &["digest", "status", "--month", "2026-11"]);
    assert!(stdout(&status).contains("digest-2026-11: no store") || stdout(&status).contains("not sent yet"), "{}", said(&status));

    // A copy to oneself is any month's.
    let test = send_at(site.path(), &server, NOW, "2026-11", &["--test-to", "me@example.org"]);
    assert_eq!(test.status.code(), Some(0), "{}", said(&test));
    assert_eq!(server.count(), 1);
    assert!(server.received()[0].data.windows(6).any(|w| w == b"[TEST]"), "the copy is not marked [TEST]");

    let sent = send_at(site.path(), &server, NOW, "2026-11", &["--unfinished"]);
    assert_eq!(sent.status.code(), Some(0), "{}", said(&sent));
    let status = run(site.path(), &["digest", "status", "--month", "2026-11"]);
    assert!(stdout(&status).contains("before its month ended (sent with --unfinished"), "{}", said(&status));
    let json = run(site.path(), &["digest", "status", "--month", "2026-11", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(json["recipients"].as_u64().is_some_and(|n| n > 3), "{json}");
    assert_eq!(server.count() as u64, 1 + json["recipients"].as_u64().unwrap());
    assert_eq!(json["unfinished"], true, "{json}");
    assert!(json["frozen_at"].as_str().is_some_and(|at| at.starts_with("20")), "{json}");

    // A post dated later in that month (scheduled now), and one added
    // afterwards but dated before the send: both are in no digest, and
    // `check` and `build` say so; the post that went out is not named.
    post(site.path(), "2026-11-25-later.md", "Later news", "2026-11-25");
    post(site.path(), "2026-11-03-backdated.md", "Backdated news", "2026-11-03");
    let check = run(site.path(), &["check"]);
    let found = said(&check);
    for file in ["2026-11-25-later.md", "2026-11-03-backdated.md"] {
        let line = found.lines().find(|line| line.contains(file)).unwrap_or_else(|| panic!("{file} not named:\n{found}"));
        assert!(
            line.contains(":1:1: warning: dated 2026-11-")
                && line.contains("in November 2026, whose digest (digest-2026-11) was first sent ")
                && line.ends_with("without it: this post will not be in any digest"),
            "{line}"
        );
    }
    assert!(!found.contains("2026-11-10-mid-month.md"), "{found}");
    let build = run(site.path(), &["build"]);
    assert_eq!(build.status.code(), Some(0), "{}", said(&build));
    assert_eq!(stderr(&build).matches("this post will not be in any digest").count(), 2, "{}", stderr(&build));

    // The months that have ended keep going without the flag.
    let october = send_at(site.path(), &server, NOW, "2026-10", &[]);
    assert_eq!(october.status.code(), Some(0), "{}", said(&october));
    let status = run(site.path(), &["digest", "status", "--month", "2026-10"]);
    assert!(!stdout(&status).contains("before its month ended"), "{}", stdout(&status));
}

/// Whatever its posts later become, a digest's recipients all get the
/// posts its first send carried: here one recipient is retried in a
/// later run, after a post was back-dated into the month.
fn a_digest_resumed_later_carries_the_posts_its_first_send_carried() {
    let _store = site_store();
    let faults = Faults { always_451: Some("ada.reader".into()), ..Faults::default() };
    let server = SmtpServer::start(faults);
    let site = copy_example_site();
    let first = send_at(site.path(), &server, NOW, "2026-10", &[]);
    assert_eq!(first.status.code(), Some(1), "ada is retried five times, then left failed: {}", said(&first));
    let received_first = server.count();

    post(site.path(), "2026-10-15-backdated.md", "A post dated back into October", "2026-10-15");
    let again = SmtpServer::start(Faults::default());
    let second = send_at(site.path(), &again, NOW, "2026-10", &[]);
    assert_eq!(second.status.code(), Some(0), "{}", said(&second));
    assert_eq!(again.count(), 1, "only ada was left to send");
    let message = &again.received()[0];
    assert!(message.recipient.starts_with("ada.reader"), "{}", message.recipient);
    let text = String::from_utf8_lossy(&message.data);
    assert!(!text.contains("dated back into October"), "the resumed digest gained a post");
    assert!(text.contains("Fix-It October"), "the resumed digest lost a post");
    // What the others got, the first time, had no such post either.
    assert!(received_first > 1);
    assert!(server.received().iter().all(|m| !String::from_utf8_lossy(&m.data).contains("dated back into October")));
    // The preview of a digest whose send has begun is the digest being sent.
    let preview = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--month", "2026-10", "--out", "p"])
        .output()
        .unwrap();
    assert!(preview.status.success(), "{}", said(&preview));
    let digest_text = std::fs::read_to_string(site.path().join("p/2026-10/digest.txt")).unwrap();
    assert!(digest_text.contains("Fix-It October") && !digest_text.contains("dated back into October"));
    let check = run(site.path(), &["check"]);
    assert!(said(&check).contains("2026-10-15-backdated.md:1:1: warning: dated 2026-10-15"), "{}", said(&check));
}
}

/// A month that has ended may still have a post to come: one dated in its
/// last hours west of UTC is published after midnight UTC. Sending then
/// would leave it out; the send waits for it, naming it.
#[test]
fn a_post_still_scheduled_in_an_ended_month_holds_its_digest_back() {
    let server = SmtpServer::start(Faults::default());
    let site = copy_example_site();
    post(site.path(), "2026-10-31-late.md", "Halloween, late", "2026-10-31T23:30:00-05:00");
    let just_after = "2026-11-01T02:00:00Z";
    let refused = send_at(site.path(), &server, just_after, "2026-10", &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(
        stderr(&refused).contains(
            "not finished: posts/2026-10-31-late.md is dated in October 2026 and not published yet (2026-10-31T23:30:00-05:00)"
        ),
        "{}",
        stderr(&refused)
    );
    assert_eq!(server.count(), 0);
    // Once it is published, the digest carries it.
    let later = send_at(site.path(), &server, "2026-11-01T05:00:00Z", "2026-10", &[]);
    assert_eq!(later.status.code(), Some(0), "{}", said(&later));
    assert!(String::from_utf8_lossy(&server.received()[0].data).contains("Halloween, late"));
}
