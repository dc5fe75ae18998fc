//! Trying `serve` and `digest preview` on one's own machine: an `http://`
//! address on a loopback host is accepted for them (no TLS proxy needed to
//! click one's own links), and `digest send` and `check` refuse it for a
//! real send, saying why (issue 26, point 7).

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use crate::smtp_server::SmtpServer;
use crate::support::*;

const LOCAL: &str = "http://127.0.0.1:8080/newsletter";

fn local_site() -> tempfile::TempDir {
    let site = copy_example_site();
    edit_config(
        site.path(),
        &[("public_url: https://lantern.example.org/newsletter", &format!("public_url: {LOCAL}"))],
    );
    site
}

fn with_secret(site: &std::path::Path, args: &[&str], smtp: Option<&SmtpServer>) -> std::process::Output {
    let mut command = newsroom(site);
    command.env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET).args(args);
    if let Some(smtp) = smtp {
        command.env("NEWSROOM_SMTP_URL", smtp.url());
    }
    command.output().unwrap()
}

#[test]
fn an_http_address_on_loopback_serves_and_previews_but_is_never_sent() {
    let site = local_site();
    // preview: the links point at the local serve.
    let out = site.path().join("preview");
    let preview =
        with_secret(site.path(), &["digest", "preview", "--month", "2026-10", "--out", out.to_str().unwrap()], None);
    assert!(preview.status.success(), "{}", stderr(&preview));
    let message = std::fs::read_dir(out.join("2026-10/messages")).unwrap().next().unwrap().unwrap().path();
    let bytes = std::fs::read(&message).unwrap();
    let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
    let unsubscribe = parsed.header_raw("List-Unsubscribe").unwrap();
    assert!(unsubscribe.contains(&format!("<{LOCAL}/unsubscribe/")), "{unsubscribe}");

    // check: a warning at the key, not an error.
    let check = with_secret(site.path(), &["check"], None);
    let said = stdout(&check) + &stderr(&check);
    assert!(check.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "newsroom.yaml:37:15: warning: serve.public_url `{LOCAL}` is an http:// address on this machine"
        )) && said.contains("`digest send` refuses it"),
        "{said}"
    );

    // serve: starts, and says where its sign-up page is.
    let smtp = SmtpServer::start(Default::default());
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("newsroom"))
        .env("NEWSROOM_NOW", NOW)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", smtp.url())
        .env_remove("NEWSROOM_STORE_URL")
        .arg("-C")
        .arg(site.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().map(Result::unwrap).unwrap_or_default();
    let _ = child.kill();
    let mut log = String::new();
    child.wait().unwrap();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(first.contains(&format!("readers reach it as {LOCAL}")), "{first}\n{log}");
    assert_eq!(second, format!("sign-up page: {LOCAL}/subscribe"), "{log}");
    assert!(!log.contains("sign-up (/subscribe) is off"), "{log}");

    // send: refused with the reason, and nothing reaches the relay.
    let send = with_secret(site.path(), &["digest", "send", "--month", "2026-10"], Some(&smtp));
    assert_eq!(send.status.code(), Some(2), "{}", stderr(&send));
    assert!(
        stderr(&send).contains(&format!("serve.public_url `{LOCAL}` is an http:// address on this machine"))
            && stderr(&send).contains("no reader can open it, so `digest send` refuses it"),
        "{}",
        stderr(&send)
    );
    let test_to =
        with_secret(site.path(), &["digest", "send", "--month", "2026-10", "--test-to", "me@example.org"], Some(&smtp));
    assert_eq!(test_to.status.code(), Some(2), "{}", stderr(&test_to));
    assert_eq!(smtp.count(), 0, "no message was sent");
}

#[test]
fn an_own_unsubscribe_url_on_loopback_is_refused_by_send_and_remote_http_by_everything() {
    let site = copy_example_site();
    let own = "http://localhost:8080/u/{token}";
    edit_config(site.path(), &[("  postal_address:", &format!("  unsubscribe_url: \"{own}\"\n  postal_address:"))]);
    let preview = with_secret(site.path(), &["digest", "preview", "--month", "2026-10"], None);
    assert!(preview.status.success(), "{}", stderr(&preview));
    let smtp = SmtpServer::start(Default::default());
    let send = with_secret(site.path(), &["digest", "send", "--month", "2026-10"], Some(&smtp));
    assert_eq!(send.status.code(), Some(2), "{}", stderr(&send));
    assert!(
        stderr(&send).contains(&format!("digest.unsubscribe_url `{own}` is an http:// address on this machine")),
        "{}",
        stderr(&send)
    );
    assert_eq!(smtp.count(), 0);

    // Anywhere else, http is refused by every command, with the loopback exception named.
    for (from, to) in [
        (own, "http://news.lantern.example.org/u/{token}"),
        ("public_url: https://lantern.example.org/newsletter", "public_url: http://lantern.example.org/newsletter"),
    ] {
        let site = copy_example_site();
        edit_config(site.path(), &[("  postal_address:", &format!("  unsubscribe_url: \"{own}\"\n  postal_address:"))]);
        edit_config(site.path(), &[(from, to)]);
        let preview = with_secret(site.path(), &["digest", "preview", "--month", "2026-10"], None);
        assert_eq!(preview.status.code(), Some(2), "{to}: {}", stderr(&preview));
        assert!(
            stderr(&preview)
                .contains("http:// is accepted only on this machine, for a host such as 127.0.0.1, [::1] or localhost"),
            "{}",
            stderr(&preview)
        );
    }
}
