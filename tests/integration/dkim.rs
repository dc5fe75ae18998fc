//! DKIM (issue 19): every preview message and every message a send hands
//! to the relay verifies with dkimpy, an implementation independent of
//! newsroom's, against the record `check` prints; changing one covered
//! header breaks it; a weak or unreadable key stops everything with exit 2.
//!
//! dkimpy is found as NEWSROOM_DKIMPY (a Python with `dkim` and `nacl`),
//! else `python3`; without it the verification test says so in one line
//! and skips, unless NEWSROOM_REQUIRE_DKIMPY is set (`.ci/run` sets it and
//! installs dkimpy in a virtual environment).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::smtp_server::SmtpServer;
use crate::support::*;

fn dkimpy() -> Option<String> {
    let python = std::env::var("NEWSROOM_DKIMPY").unwrap_or_else(|_| "python3".into());
    let found = Command::new(&python).args(["-c", "import dkim, nacl"]).output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("NEWSROOM_REQUIRE_DKIMPY").is_none(),
            "NEWSROOM_REQUIRE_DKIMPY is set and `{python}` cannot import dkim and nacl"
        );
        println!(
            "skipped: dkimpy not found (pip install dkimpy pynacl, or set NEWSROOM_DKIMPY to a Python that has them)"
        );
        return None;
    }
    Some(python)
}

/// A copy of the example site signing with `key` (a fixture), and the
/// record `check` says to publish.
fn signing_site(key: &str) -> (tempfile::TempDir, String, String) {
    let site = copy_example_site();
    std::fs::copy(repo_root().join("tests/fixtures/dkim").join(key), site.path().join("dkim.pem")).unwrap();
    edit_config(
        site.path(),
        &[("delivery:\n", "delivery:\n  dkim: { domain: lantern.example.org, selector: news, key: dkim.pem }\n")],
    );
    let output = run(site.path(), &["check"]);
    let said = stdout(&output);
    let line = said.lines().find(|l| l.contains("._domainkey.")).unwrap_or_else(|| panic!("no record in {said}"));
    let (name, value) = line.trim().split_once(". IN TXT ").unwrap();
    (site, name.to_string(), value.trim_matches('"').to_string())
}

fn verify(python: &str, name: &str, record: &str, files: &[PathBuf]) -> (bool, String) {
    let output = Command::new(python)
        .arg(repo_root().join("scripts/dkim-verify.py"))
        .args([name, record])
        .args(files)
        .output()
        .unwrap();
    (output.status.success(), format!("{}{}", stdout(&output), stderr(&output)))
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn previews_and_sent_messages_verify_with_dkimpy_and_an_altered_header_does_not() {
    let Some(python) = dkimpy() else { return };
    for (key, algorithm) in [("rsa2048.pem", "k=rsa"), ("ed25519.pem", "k=ed25519")] {
        let (site, name, record) = signing_site(key);
        assert_eq!(name, "news._domainkey.lantern.example.org");
        assert!(record.starts_with(&format!("v=DKIM1; {algorithm}; p=")), "{record}");
        let output = run(site.path(), &["digest", "preview", "--month", "2026-10"]);
        assert!(output.status.success(), "{}", stderr(&output));
        let files = eml_files(&site.path().join("preview/2026-10/messages"));
        assert!(files.len() >= 3, "{files:?}");
        let (ok, said) = verify(&python, &name, &record, &files);
        assert!(ok, "{key}: {said}");
        assert!(said.contains(&format!("{0} of {0} message(s) verify", files.len())), "{said}");

        // One covered header changed: the signature no longer holds.
        let bytes = std::fs::read(&files[0]).unwrap();
        let text = String::from_utf8_lossy(&bytes).replacen(
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Clack",
            1,
        );
        assert_ne!(text.as_bytes(), bytes, "the header is there to change");
        let altered = site.path().join("altered.eml");
        std::fs::write(&altered, text).unwrap();
        let (ok, said) = verify(&python, &name, &record, &[altered]);
        assert!(!ok, "{key}: an altered List-Unsubscribe-Post still verified: {said}");

        // What a send hands the relay, as the relay received it.
        if key == "rsa2048.pem" {
            let smtp = SmtpServer::start(Default::default());
            let output = newsroom(site.path())
                .args(["digest", "send", "--month", "2026-10"])
                .env("NEWSROOM_SMTP_URL", smtp.url())
                .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            let sent = site.path().join("sent");
            std::fs::create_dir_all(&sent).unwrap();
            for (index, message) in smtp.received().iter().enumerate() {
                std::fs::write(sent.join(format!("{index:03}.eml")), &message.data).unwrap();
            }
            let files = eml_files(&sent);
            assert!(!files.is_empty());
            let (ok, said) = verify(&python, &name, &record, &files);
            assert!(ok, "sent messages: {said}");

            // A sign-up confirmation from serve is signed the same way.
            let smtp = SmtpServer::start(Default::default());
            let server = crate::serve::Server::start_with(site.path(), &[("NEWSROOM_SMTP_URL", &smtp.url())]);
            let url = server.url("/subscribe");
            let status = tokio::runtime::Runtime::new().unwrap().block_on(async {
                reqwest::Client::new()
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("email=new%40example.net")
                    .send()
                    .await
                    .unwrap()
                    .status()
            });
            assert_eq!(status, reqwest::StatusCode::OK);
            let mail = crate::serve::wait_for_mail(&smtp, 1);
            let confirmation = site.path().join("confirmation.eml");
            std::fs::write(&confirmation, &mail[0].data).unwrap();
            let output = Command::new(&python)
                .arg("-c")
                .arg("import sys, dkim; r = sys.argv[2].encode(); sys.exit(0 if dkim.verify(open(sys.argv[3], 'rb').read(), dnsfunc=lambda q, timeout=5: r) else 1)")
                .args([name.as_str(), record.as_str()])
                .arg(&confirmation)
                .output()
                .unwrap();
            assert!(output.status.success(), "the confirmation does not verify: {}", stderr(&output));
        }
    }
}

#[test]
fn a_weak_or_missing_key_is_a_configuration_error_everywhere() {
    for (key, expected) in [("rsa1024.pem", "RSA of 1024 bits"), ("missing.pem", "cannot read the DKIM key")] {
        let site = copy_example_site();
        if key != "missing.pem" {
            std::fs::copy(repo_root().join("tests/fixtures/dkim").join(key), site.path().join(key)).unwrap();
        }
        edit_config(
            site.path(),
            &[(
                "delivery:\n",
                &format!("delivery:\n  dkim: {{ domain: lantern.example.org, selector: news, key: {key} }}\n"),
            )],
        );
        let check = run(site.path(), &["check"]);
        assert_eq!(check.status.code(), Some(2), "{}", stdout(&check));
        assert!(stdout(&check).contains(expected), "{}", stdout(&check));
        let preview = run(site.path(), &["digest", "preview", "--month", "2026-10"]);
        assert_eq!(preview.status.code(), Some(2), "{}", stderr(&preview));
        assert!(
            stderr(&preview).contains(expected) && stderr(&preview).contains("newsroom.yaml:"),
            "{}",
            stderr(&preview)
        );
        assert!(!site.path().join("preview/2026-10").exists(), "nothing unsigned was written");
    }
}

#[test]
fn check_warns_when_the_signing_domain_is_not_aligned_with_from() {
    let site = copy_example_site();
    std::fs::copy(repo_root().join("tests/fixtures/dkim/ed25519.pem"), site.path().join("dkim.pem")).unwrap();
    edit_config(
        site.path(),
        &[("delivery:\n", "delivery:\n  dkim: { domain: other.example, selector: s1, key: dkim.pem }\n")],
    );
    let said = stdout(&run(site.path(), &["check"]));
    assert!(said.contains("is not aligned with the From domain `lantern.example.org`"), "{said}");
    assert!(said.contains("s1._domainkey.other.example. IN TXT \"v=DKIM1; k=ed25519; p="), "{said}");
}

#[test]
fn dual_signing_writes_an_rsa_and_an_ed25519_signature_and_each_verifies() {
    let Some(python) = dkimpy() else { return };
    let site = copy_example_site();
    for key in ["rsa2048.pem", "ed25519.pem"] {
        std::fs::copy(repo_root().join("tests/fixtures/dkim").join(key), site.path().join(key)).unwrap();
    }
    edit_config(
        site.path(),
        &[(
            "delivery:\n",
            "delivery:\n  dkim:\n    - { domain: lantern.example.org, selector: rsa, key: rsa2048.pem }\n    - { domain: lantern.example.org, selector: ed, key: ed25519.pem }\n",
        )],
    );
    let said = stdout(&run(site.path(), &["check"]));
    let records: Vec<(String, String)> = said
        .lines()
        .filter(|l| l.contains("._domainkey."))
        .map(|line| {
            let (name, value) = line.trim().split_once(". IN TXT ").unwrap();
            (name.to_string(), value.trim_matches('"').to_string())
        })
        .collect();
    assert_eq!(records.len(), 2, "{said}");
    assert!(records[0].0.starts_with("rsa._domainkey") && records[0].1.contains("k=rsa"), "{said}");
    assert!(records[1].0.starts_with("ed._domainkey") && records[1].1.contains("k=ed25519"), "{said}");
    let output = run(site.path(), &["digest", "preview", "--month", "2026-10"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let files = eml_files(&site.path().join("preview/2026-10/messages"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");
    let mut command = Command::new(&python);
    command.arg(repo_root().join("scripts/dkim-verify.py"));
    for (name, value) in &records {
        command.args(["--record", name, value]);
    }
    let output = command.args(&files).output().unwrap();
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(output.status.success(), "{said}");
    assert!(said.contains(&format!("{0} of {0} message(s) verify", files.len())), "{said}");
    // With only the Ed25519 record published, the RSA signature fails: each is checked.
    let output = Command::new(&python)
        .arg(repo_root().join("scripts/dkim-verify.py"))
        .args(["--record", &records[1].0, &records[1].1])
        .arg(&files[0])
        .output()
        .unwrap();
    assert!(!output.status.success(), "{}", stdout(&output));
}
