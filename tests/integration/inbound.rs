//! `newsroom inbound`: the fixtures of tests/fixtures/returned (bounces,
//! complaints, unsubscribes and auto-replies in the shapes real MTAs and
//! providers produce; see its README) classified and attributed as its
//! table says; a Maildir's handled mail moved to `.Done` and nothing
//! changed by a second run; standard input as an MTA's pipe; and a real
//! send's VERP envelope sender carried back by a bounce to its subscriber.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use newsroom::config::BouncePolicy;
use newsroom::inbound::{self, Intake, Outcome, Settings};
use newsroom::store::Store;
use newsroom::store::inbound::Applied;
use sha2::{Digest as _, Sha256};

use crate::smtp_server::{Faults, SmtpServer};
use crate::support::*;

const LIST_ID: &str = "news.example.org";
/// The test store's subscribers, in the order that gives them ids 1, 2, …
const SUBSCRIBERS: [&str; 12] = [
    "ada@example.com",
    "bob@example.net",
    "carol@mail.example.org",
    "dave@outlook.example",
    "erin@gmail.example",
    "frank@yahoo.example",
    "grace@aol.example",
    "heidi@example.com",
    "ivan@example.net",
    "judy@example.org",
    "mallory@example.com",
    "oscar@example.net",
];

fn fixtures_dir() -> PathBuf {
    repo_root().join("tests/fixtures/returned")
}

/// expected.tsv: file → (class, subscriber, status).
fn expected() -> BTreeMap<String, (String, String, String)> {
    table_of(&fixtures_dir())
}

/// The expected.tsv of a fixture folder.
fn table_of(dir: &Path) -> BTreeMap<String, (String, String, String)> {
    let table = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    table
        .lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            assert_eq!(fields.len(), 4, "expected.tsv: {line}");
            (fields[0].to_string(), (fields[1].to_string(), fields[2].to_string(), fields[3].to_string()))
        })
        .collect()
}

/// A digest's Message-ID for `address`, computed here as the README of the
/// fixtures describes it (not with newsroom's function).
fn message_id(address: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"digest-2026-10\0");
    hash.update(address.as_bytes());
    format!("<digest-2026-10.{}@{LIST_ID}>", hex::encode(&hash.finalize()[..16]))
}

/// The fixtures' store: the subscribers, and the October digest's ledger
/// rows with their Message-IDs (what a bounce quoting only the original is
/// traced back through).
fn fixture_store() -> Store {
    let store = Store::open_in_memory().unwrap();
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    for address in SUBSCRIBERS {
        store.add(address, None, false, now).unwrap();
    }
    let mut store = store;
    store.freeze_subscribed("digest-2026-10").unwrap();
    let claimant = newsroom::store::ledger::Claimant::new(std::time::Duration::from_secs(60));
    for recipient in store.claim("digest-2026-10", &claimant, 1_000).unwrap() {
        store.mark_sending(recipient.id, &message_id(&recipient.address), &claimant).unwrap();
    }
    store
}

fn intake() -> Intake {
    Intake {
        settings: Settings::new(Some(("bounces+", "@example.org")), Some("unsubscribe@example.org")),
        secret: SECRET.as_bytes().to_vec(),
        list_id: LIST_ID.into(),
        policy: BouncePolicy::default(),
        bounces_need_token: true,
    }
}

/// Two sets, each with its table: `returned/` (written with the
/// classifier, by make.py) and `returned/independent/` (written apart from
/// it, from the RFCs and the providers' published formats, by another hand).
///
/// Issue 27, points 4 and 5: what is found is not always what acts. With
/// `delivery.return_path` set, the bounces without a VERP token (found by
/// an address or a Message-ID, or naming nobody) and the mailto
/// unsubscribes without a token (no `inbound.authserv_id` here) are
/// recorded as unverified and change nothing; every complaint carries a
/// token in its original, and acts.
#[test]
fn every_fixture_is_classified_and_attributed_as_its_table_says() {
    check_fixture_set(
        &fixtures_dir(),
        20,
        &[
            "13-no-verp-final-recipient.eml",
            "14-no-verp-message-id-only.eml",
            "16-dsn-non-subscriber.eml",
            "23-mailto-from.eml",
        ],
    );
    check_fixture_set(
        &fixtures_dir().join("independent"),
        20,
        &[
            "14-dsn-no-verp-final-recipient.eml",
            "15-groupware-original-only.eml",
            "17-dsn-not-a-subscriber.eml",
            "24-mailto-unsubscribe-no-token.eml",
        ],
    );
}

fn check_fixture_set(dir: &Path, at_least: usize, want_unverified: &[&str]) {
    let table = table_of(dir);
    let files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".eml"))
        .collect();
    assert!(files.len() >= at_least, "at least {at_least} fixtures in {}, found {}", dir.display(), files.len());
    assert_eq!(files.len(), table.len(), "every fixture has its line in expected.tsv, and no other line");
    let store = fixture_store();
    let intake = intake();
    let now = chrono::DateTime::parse_from_rfc3339(NOW).unwrap().to_utc();
    let mut wrong = Vec::new();
    let mut classes = BTreeMap::<String, usize>::new();
    let mut by = BTreeMap::<&str, usize>::new();
    let mut unverified = Vec::new();
    for (file, (class, subscriber, status)) in &table {
        let raw = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let outcome = inbound::handle(&store, &intake, &raw, now).unwrap();
        let found = match &outcome {
            Outcome::Handled { class, status, attribution, .. } => (
                class.as_str().to_string(),
                attribution.address.clone().unwrap_or_else(|| "-".into()),
                status.clone().filter(|_| class.as_str().ends_with("bounce")).unwrap_or_else(|| "-".into()),
            ),
            Outcome::Unrecognised(_) => ("unrecognised".into(), "-".into(), "-".into()),
        };
        *classes.entry(found.0.clone()).or_default() += 1;
        if let Outcome::Handled { attribution, .. } = &outcome {
            *by.entry(attribution.by.unwrap_or("none")).or_default() += 1;
        }
        if let Outcome::Handled { applied: Applied::Unverified(_), .. } = &outcome {
            unverified.push(file.as_str());
        }
        if found != (class.clone(), subscriber.clone(), status.clone()) {
            wrong.push(format!("{file}: expected {class} {subscriber} {status}, got {found:?} ({outcome:?})"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{}: {} of {} fixtures wrong:\n{}",
        dir.display(),
        wrong.len(),
        table.len(),
        wrong.join("\n")
    );
    assert_eq!(unverified, want_unverified, "{}: the unverified fixtures", dir.display());
    // Each kind of clue is used, the signed VERP token most.
    for clue in ["return-path", "unsubscribe-token", "message-id", "address"] {
        assert!(by.get(clue).is_some_and(|&n| n > 0), "no fixture found by {clue}: {by:?}");
    }
    assert!(by["return-path"] >= 15, "{by:?}");
    for class in ["hard-bounce", "soft-bounce", "complaint", "unsubscribe", "ignored", "unrecognised"] {
        assert!(classes.get(class).is_some_and(|&n| n > 0), "no fixture of class {class}: {classes:?}");
    }
}

/// A site whose configuration matches the fixtures' sending side.
fn fixture_site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("newsroom.yaml"),
        format!(
            "site:\n  title: Lantern Community Blog\n  url: https://example.org\n\
             digest:\n  from: \"Lantern Community <news@example.org>\"\n  list_id: {LIST_ID}\n  unsubscribe_mailto: unsubscribe@example.org\n\
             delivery:\n  return_path: \"bounces+{{token}}@example.org\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("posts")).unwrap();
    for address in SUBSCRIBERS {
        let output = run(dir.path(), &["subscribers", "add", address]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    dir
}

/// `newsroom inbound ARGS` on `site`'s own store, with the pinned clock and the tests' secret.
pub fn inbound_command(site: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("newsroom"));
    command
        .env("NEWSROOM_NOW", NOW)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env_remove("NEWSROOM_STORE_URL")
        .arg("-C")
        .arg(site)
        .arg("inbound")
        .args(args);
    command
}

/// The store's subscribers: address → (status, number of events).
fn statuses(site: &Path) -> BTreeMap<String, (String, i64)> {
    let connection = rusqlite::Connection::open(site.join(".newsroom/newsroom.sqlite")).unwrap();
    let mut statement = connection
        .prepare(
            "SELECT address, status, (SELECT COUNT(*) FROM events e WHERE e.subscriber_id = s.id) FROM subscribers s",
        )
        .unwrap();
    statement.query_map([], |row| Ok((row.get(0)?, (row.get(1)?, row.get(2)?)))).unwrap().map(Result::unwrap).collect()
}

fn files_in(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|entries| entries.count()).unwrap_or(0)
}

#[test]
fn a_maildir_is_read_once_handled_mail_moves_to_done_and_a_second_run_changes_nothing() {
    let site = fixture_site();
    let maildir = site.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let table = expected();
    for file in table.keys() {
        std::fs::copy(fixtures_dir().join(file), maildir.join("new").join(file)).unwrap();
    }
    let unrecognised = table.values().filter(|(class, _, _)| class == "unrecognised").count();

    let output = inbound_command(site.path(), &["--maildir", "Maildir"]).output().unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}\n{}", stderr(&output));
    assert!(text.contains(&format!("inbound: {} messages", table.len())), "{text}");
    assert_eq!(files_in(&maildir.join("new")), 0, "every message leaves the inbox:\n{text}");
    assert_eq!(files_in(&maildir.join(".Unrecognised/cur")), unrecognised, "{text}");
    assert_eq!(files_in(&maildir.join(".Done/cur")), table.len() - unrecognised, "{text}");
    let after_first = statuses(site.path());
    // The policy (1 hard bounce; 3 soft ones, which no subscriber has here),
    // applied by hand in the Maildir's order: an opt-out stays one, except
    // that a complaint is recorded over any status.
    let mut want: BTreeMap<&str, &str> = SUBSCRIBERS.iter().map(|a| (*a, "subscribed")).collect();
    // This site has no delivery ledger: a bounce traced only by its
    // Message-ID names nobody here (the table test covers that path).
    // Nor do the bounces without a VERP token and the unsubscribe without
    // one: unverified (the table test lists them).
    let unverified = ["13-no-verp-final-recipient.eml", "23-mailto-from.eml"];
    for (file, (class, subscriber, _)) in &table {
        let acts = !file.contains("message-id") && !unverified.contains(&file.as_str());
        let Some(status) = want.get_mut(subscriber.as_str()).filter(|_| acts) else { continue };
        let opted_out = *status != "subscribed";
        match class.as_str() {
            "complaint" => *status = "complained",
            "hard-bounce" if !opted_out => *status = "bounced",
            "unsubscribe" if !opted_out => *status = "unsubscribed",
            _ => {}
        }
    }
    let found: BTreeMap<&str, &str> = after_first.iter().map(|(a, (s, _))| (a.as_str(), s.as_str())).collect();
    assert_eq!(found, want, "{text}");
    for status in ["bounced", "complained", "unsubscribed"] {
        assert!(found.values().any(|s| *s == status), "no subscriber ends {status}: {found:?}");
    }

    // Every handled message put back: each is recognised as handled, nothing changes.
    for entry in std::fs::read_dir(maildir.join(".Done/cur")).unwrap() {
        let entry = entry.unwrap();
        std::fs::rename(entry.path(), maildir.join("cur").join(entry.file_name())).unwrap();
    }
    let again = inbound_command(site.path(), &["--maildir", "Maildir"]).output().unwrap();
    let again_text = stdout(&again);
    assert!(again.status.success(), "{again_text}");
    assert!(again_text.contains(&format!("{} handled before", table.len() - unrecognised)), "{again_text}");
    assert_eq!(statuses(site.path()), after_first, "a second run changed the store");

    // The same mail as an mbox: also handled before, all of it.
    let mut mbox = Vec::new();
    for file in table.keys() {
        mbox.extend_from_slice(b"From MAILER-DAEMON Sun Nov 22 12:00:00 2026\n");
        let raw = std::fs::read(fixtures_dir().join(file)).unwrap();
        mbox.extend_from_slice(&raw);
        if !raw.ends_with(b"\n") {
            mbox.push(b'\n');
        }
        mbox.push(b'\n');
    }
    std::fs::write(site.path().join("mail.mbox"), mbox).unwrap();
    let from_mbox = inbound_command(site.path(), &["--mbox", "mail.mbox"]).output().unwrap();
    assert!(from_mbox.status.success(), "{}", stdout(&from_mbox));
    assert_eq!(statuses(site.path()), after_first, "the mbox changed the store:\n{}", stdout(&from_mbox));

    // `subscribers show` and `digest status` show what came back.
    let bounced = after_first.iter().find(|(_, (status, _))| status == "bounced").unwrap().0;
    let show = stdout(&run(site.path(), &["subscribers", "show", bounced]));
    assert!(show.contains("returned:  1 bounced"), "{show}");
}

#[test]
fn standard_input_is_an_mta_pipe_unrecognised_mail_is_kept_and_a_store_failure_asks_for_a_retry() {
    let site = fixture_site();
    let table = expected();
    let pipe = |file: &str| {
        let mut child = inbound_command(site.path(), &["-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&std::fs::read(fixtures_dir().join(file)).unwrap()).unwrap();
        child.wait_with_output().unwrap()
    };
    let (hard, (_, subscriber, _)) =
        table.iter().find(|(_, (class, s, _))| class == "hard-bounce" && s.contains("example.com")).unwrap();
    let output = pipe(hard);
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    assert_eq!(statuses(site.path())[subscriber].0, "bounced", "{}", stdout(&output));

    let (unknown, _) = table.iter().find(|(_, (class, _, _))| class == "unrecognised").unwrap();
    let output = pipe(unknown);
    assert!(output.status.success(), "{}", stderr(&output));
    let kept = site.path().join(".newsroom/inbound-unrecognised/new");
    assert_eq!(files_in(&kept), 1, "{}", stderr(&output));
    let kept_file = std::fs::read_dir(&kept).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::read(kept_file).unwrap(), std::fs::read(fixtures_dir().join(unknown)).unwrap());

    // A store that cannot be opened: exit 75, so the MTA keeps the message.
    let broken = fixture_site();
    std::fs::remove_file(broken.path().join(".newsroom/newsroom.sqlite")).unwrap();
    std::fs::create_dir_all(broken.path().join(".newsroom/newsroom.sqlite")).unwrap();
    let mut child =
        inbound_command(broken.path(), &["-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // It may exit before reading the message (the store fails first): a
    // broken pipe here is that, and the MTA's side of it.
    let _ = child.stdin.take().unwrap().write_all(&std::fs::read(fixtures_dir().join(hard)).unwrap());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(75), "{}", stderr(&output));
    assert!(stderr(&output).contains("tries again"), "{}", stderr(&output));

    // Without the secret nothing can be verified: refused before reading.
    let output = inbound_command(site.path(), &["-"]).env_remove("NEWSROOM_UNSUBSCRIBE_SECRET").output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[test]
fn a_send_uses_the_verp_return_path_and_the_bounce_it_brings_back_finds_its_subscriber() {
    let site = copy_example_site();
    edit_config(site.path(), &[("delivery:\n", "delivery:\n  return_path: \"bounces+{token}@lantern.example.org\"\n")]);
    let server = SmtpServer::start(Faults::default());
    let output = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .env("NEWSROOM_SMTP_URL", server.url())
        .args(["digest", "send", "--month", "2026-10"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
    let received = server.received();
    assert!(!received.is_empty());
    let mut senders = std::collections::BTreeSet::new();
    for message in &received {
        let token = message
            .sender
            .strip_prefix("bounces+")
            .and_then(|rest| rest.strip_suffix("@lantern.example.org"))
            .unwrap_or_else(|| panic!("MAIL FROM is not the VERP address: {}", message.sender));
        assert!(token.split('-').nth(1) == Some("202610"), "{token}");
        senders.insert(message.sender.clone());
    }
    assert_eq!(senders.len(), received.len(), "one envelope sender per subscriber");

    // A Postfix-style DSN to the first message's envelope sender.
    let first = &received[0];
    let dsn = format!(
        "Return-Path: <>\nDelivered-To: {sender}\nFrom: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n\
         To: {sender}\nSubject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nThe mail system: no such user.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; someone-else@example.net\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected\n\n--B--\n",
        sender = first.sender,
        recipient = first.recipient
    );
    let mut child = inbound_command(site.path(), &["-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(dsn.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    // The signed token wins over the address the DSN names.
    assert!(
        text.contains(&format!("hard-bounce 5.1.1 of {} (found by return-path): now bounced", first.recipient)),
        "{text}"
    );
    let status = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10"]));
    assert!(status.contains("returned mail (bounces and complaints): 1 bounced"), "{status}");
}

/// Issue 26, point 12: a complaint or a mailto unsubscribe from a reader in
/// the site's subscriber file who is not in the store yet (no send since
/// the row was added) was "not a subscriber: nothing to change", while
/// every other command merges the file first. `inbound` now merges it when
/// a message names an address the store does not hold, and the opt-out
/// reaches the reader: no later send mails them. (Without a token, only
/// a From the operator's MTA authenticated acts: issue 27, point 4.)
#[test]
fn an_opt_out_from_a_reader_on_the_list_but_not_yet_in_the_store_is_recorded() {
    let site = fixture_site();
    let config = site.path().join("newsroom.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}inbound:\n  authserv_id: mx.example.org\n")).unwrap();
    std::fs::write(
        site.path().join("subscribers.csv"),
        "email,name,status\nbob@example.net,Bob,subscribed\nnew@example.com,New,\n",
    )
    .unwrap();
    // The store holds the fixture subscribers, but not new@example.com.
    assert!(!stdout(&run(site.path(), &["subscribers", "list"])).is_empty());
    let mailto = "Return-Path: <new@example.com>\nDelivered-To: unsubscribe@example.org\n\
                  Authentication-Results: mx.example.org; dkim=pass header.d=example.com\nFrom: New <new@example.com>\n\
                  To: unsubscribe@example.org\nSubject: unsubscribe\nDate: Tue, 03 Nov 2026 10:05:00 +0000\n\
                  Message-ID: <m9@example.com>\n\nPlease take me off.\n";
    let mut child = inbound_command(site.path(), &["-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(mailto.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("unsubscribe of new@example.com (found by address): now unsubscribed"), "{text}");
    let statuses = statuses(site.path());
    assert_eq!(statuses["new@example.com"].0, "unsubscribed", "{statuses:?}");
    // The file's row cannot undo it.
    let list = stdout(&run(site.path(), &["subscribers", "list", "--status", "subscribed"]));
    assert!(!list.contains("new@example.com"), "{list}");
}
