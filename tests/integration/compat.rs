//! What release 0.1.0 wrote keeps working (issue 28, point 1): its store
//! (`tests/fixtures/release-0.1.0/`, made once, see its README) opens,
//! migrates and goes on with nothing sent again, and the monthly edition's
//! preview — every message's bytes: ids, Message-IDs, tokens, links — is
//! the same as that release's.

use reqwest::StatusCode;

use crate::serve::{FORM, Server, client, runtime};
use crate::smtp_server::{Faults, SmtpServer};
use crate::support::*;

fn fixture() -> std::path::PathBuf {
    repo_root().join("tests/fixtures/release-0.1.0")
}

/// The example site with release 0.1.0's store as its own.
fn site_with_the_old_store() -> tempfile::TempDir {
    let site = copy_example_site();
    std::fs::create_dir_all(site.path().join(".newsroom")).unwrap();
    std::fs::copy(fixture().join("newsroom.sqlite"), site.path().join(".newsroom/newsroom.sqlite")).unwrap();
    site
}

#[test]
fn the_monthly_preview_is_byte_for_byte_release_0_1_0s() {
    let site = copy_example_site();
    let out = site.path().join("preview");
    let output = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--month", "2026-10", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let (now, then) = (file_tree(&out), file_tree(&fixture().join("preview")));
    assert_eq!(now.keys().collect::<Vec<_>>(), then.keys().collect::<Vec<_>>());
    for (path, bytes) in &then {
        assert!(now[path] == *bytes, "{path} differs from release 0.1.0's");
    }
    assert!(then.keys().filter(|p| p.ends_with(".eml")).count() >= 9);
}

/// The old store's October digest is done: a send sends nothing again
/// (counted at the server), and a one-click link from one of its messages
/// still unsubscribes its reader.
#[test]
fn release_0_1_0s_store_goes_on_with_nothing_sent_twice() {
    if site_store_url().is_some() {
        return; // The fixture is a SQLite file; the PostgreSQL runs have nothing to open.
    }
    let site = site_with_the_old_store();
    let server = SmtpServer::start(Faults::default());
    let send = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", server.url())
        .args(["digest", "send", "--month", "2026-10"])
        .output()
        .unwrap();
    assert_eq!(send.status.code(), Some(0), "{}", stderr(&send));
    assert!(stdout(&send).contains("0 sent") && stdout(&send).contains("9 skipped"), "{}", stdout(&send));
    assert_eq!(server.received().len(), 0);
    let status = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10"]));
    assert!(status.contains("9 recipients") && status.contains("sent: 9"), "{status}");

    // A link of a message the old release sent.
    let message = std::fs::read_to_string(
        fixture().join("preview/2026-10/messages").join(
            std::fs::read_dir(fixture().join("preview/2026-10/messages"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .find(|name| name.to_string_lossy().contains("ada.reader"))
                .unwrap(),
        ),
    )
    .unwrap();
    let link = message
        .split("https://lantern.example.org/newsletter/unsubscribe/")
        .nth(1)
        .and_then(|rest| rest.split(['>', ' ', '\r', '\n', '"']).next())
        .unwrap()
        .to_string();
    let serve = Server::start(site.path());
    runtime().block_on(async {
        let response = client()
            .post(serve.url(&format!("/unsubscribe/{link}")))
            .header("content-type", FORM)
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    });
    let listed = stdout(&run(site.path(), &["subscribers", "show", "ada.reader@example.org"]));
    assert!(listed.contains("unsubscribed"), "{listed}");
}
