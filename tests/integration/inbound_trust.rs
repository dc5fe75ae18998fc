//! Issue 27, points 2 to 5, and issue 26 point 12's last clause: `inbound`
//! against hostile and heavy mail, through the real binary. A mailbox is
//! read one message at a time and junk is read once; the pipe takes the
//! whole message or tells the MTA it will never fit; only newsroom's own
//! signed tokens, or a From the operator's MTA authenticated, act on a
//! subscriber. The mail is built here, its tokens made by a real send or
//! by the crate's signing functions.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::inbound::inbound_command as inbound;
use crate::smtp_server::{Faults, SmtpServer};
use crate::support::*;

const LIST_ID: &str = "news.example.org";
/// The site's subscribers, ids 1, 2, … in this order.
const READERS: [&str; 3] = ["ada@example.com", "bob@example.net", "carol@example.org"];
const AUTHSERV_ID: &str = "mx.example.org";

/// A site whose subscribers are [`READERS`], with `extra` appended to its configuration.
fn site(return_path: bool, extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let delivery = if return_path { "delivery:\n  return_path: \"bounces+{token}@example.org\"\n" } else { "" };
    std::fs::write(
        dir.path().join("newsroom.yaml"),
        format!(
            "site:\n  title: T\n  url: https://example.org\n\
             digest:\n  from: \"T <news@example.org>\"\n  list_id: {LIST_ID}\n  unsubscribe_mailto: unsubscribe@example.org\n\
             {delivery}{extra}"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("posts")).unwrap();
    for address in READERS {
        let output = run(dir.path(), &["subscribers", "add", address]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    dir
}

/// `inbound -` with `mail` on standard input, written from a thread: the
/// binary may stop reading (old code did), and a broken pipe is its answer.
fn pipe(site: &Path, mail: Vec<u8>) -> Output {
    let mut child =
        inbound(site, &["-"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&mail);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

fn statuses(site: &Path) -> BTreeMap<String, String> {
    let connection = rusqlite::Connection::open(site.join(".newsroom/newsroom.sqlite")).unwrap();
    let mut statement = connection.prepare("SELECT address, status FROM subscribers").unwrap();
    statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect()
}

fn all_subscribed(site: &Path) {
    let found = statuses(site);
    assert!(found.values().all(|s| s == "subscribed"), "{found:?}");
}

fn verp(id: i64) -> String {
    let token = newsroom::token::sign_return_path(SECRET.as_bytes(), LIST_ID, id, "202610");
    format!("bounces+{token}@example.org")
}

/// A Postfix-style DSN to `to`, naming `recipient` as the failed one.
fn dsn(to: &str, recipient: &str, tag: &str) -> String {
    format!(
        "Return-Path: <>\nDelivered-To: {to}\nFrom: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n\
         To: {to}\nSubject: Undelivered Mail Returned to Sender\nMessage-ID: <{tag}@mx.example.net>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nThe mail system: no such user.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; {recipient}\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected\n\n--B--\n"
    )
}

/// An ARF report whose reported original has the headers `original`.
fn arf(original: &str) -> String {
    format!(
        "From: staff@isp.example\nTo: fbl@example.org\nSubject: complaint\nMessage-ID: <arf@isp.example>\nMIME-Version: 1.0\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"A\"\n\n\
         --A\nContent-Type: text/plain\n\nA complaint.\n\n\
         --A\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: isp/1.0\nVersion: 1\n\n\
         --A\nContent-Type: text/rfc822-headers\n\n{original}\n--A--\n"
    )
}

/// A mail to the unsubscribe address: `top` are the headers above it all
/// (what the operator's MTA adds), `from` its sender.
fn mailto(top: &str, from: &str, to: &str, subject: &str, tag: &str) -> String {
    format!(
        "{top}Received: from mail.sender.example by mx.example.org; Tue, 03 Nov 2026 10:05:00 +0000\n\
         From: <{from}>\nTo: {to}\nSubject: {subject}\nDate: Tue, 03 Nov 2026 10:05:00 +0000\n\
         Message-ID: <{tag}@sender.example>\n\nPlease take me off.\n"
    )
}

/// Point 2: a Maildir is read one message at a time, a message over
/// 10 MiB is moved aside unread and reported, unrecognised mail is moved
/// to `.Unrecognised` and not read again; an mbox of many messages,
/// streamed, has each one handled. Before: the whole mailbox was read
/// into memory, and unrecognised mail stayed in the inbox, read on every run.
#[test]
fn a_maildir_is_read_one_message_at_a_time_and_junk_and_oversized_mail_is_moved_aside_once() {
    let site = site(true, "");
    let maildir = site.path().join("Maildir");
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let big = format!("Subject: big\n\n{}\n", "x".repeat(11 << 20));
    std::fs::write(maildir.join("new/1.big"), &big).unwrap();
    std::fs::write(maildir.join("new/2.junk"), "From: someone@example.net\nSubject: hello\n\nJust saying hi.\n")
        .unwrap();
    std::fs::write(maildir.join("new/3.bounce"), dsn(&verp(1), "ada@example.com", "d1")).unwrap();

    let output = inbound(site.path(), &["--maildir", "Maildir"]).output().unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(
        text.contains(&format!(
            "1.big: oversized, moved to .Oversized unread: {} bytes, more than the 10 MiB a returned message may have",
            big.len()
        )),
        "{text}"
    );
    assert!(text.contains("2.junk: unrecognised, moved to .Unrecognised:"), "{text}");
    assert!(text.contains("(found by return-path): now bounced"), "{text}");
    assert!(
        text.contains(
            "inbound: 3 messages: 1 hard-bounce, 1 oversized (not read), 1 unrecognised (moved to .Unrecognised)"
        ),
        "{text}"
    );
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 0, "the inbox is empty");
    assert_eq!(std::fs::read(maildir.join(".Oversized/cur/1.big:2,S")).unwrap(), big.as_bytes(), "moved, unchanged");
    assert!(maildir.join(".Unrecognised/cur/2.junk:2,S").is_file());

    // The second run reads nothing: the junk is not read again.
    let again = inbound(site.path(), &["--maildir", "Maildir"]).output().unwrap();
    assert_eq!(stdout(&again), "inbound: 0 messages\n", "{}", stderr(&again));

    // An mbox of 300 messages, one of them oversized, streamed: each is
    // handled (the Maildir's bounce, first, as handled before).
    let mut mbox = Vec::new();
    for index in 0..300 {
        mbox.extend_from_slice(b"From someone Tue Nov  3 10:00:00 2026\n");
        match index {
            0 => mbox.extend_from_slice(dsn(&verp(1), "ada@example.com", "d1").as_bytes()),
            7 => mbox.extend_from_slice(big.as_bytes()),
            1..3 => mbox.extend_from_slice(dsn(&verp(index + 1), READERS[index as usize], "m").as_bytes()),
            _ => mbox.extend_from_slice(format!("From: x@example.net\nSubject: note {index}\n\n>From me\n").as_bytes()),
        }
        mbox.push(b'\n');
    }
    std::fs::write(site.path().join("mail.mbox"), &mbox).unwrap();
    let output = inbound(site.path(), &["--mbox", "mail.mbox"]).output().unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(text.contains("mail.mbox, message 8: oversized, skipped unread"), "{text}");
    assert!(
        text.ends_with(
            "inbound: 300 messages: 1 handled before, 2 hard-bounce, 1 oversized (not read), 296 unrecognised (left in place)\n"
        ),
        "{text}"
    );
    assert_eq!(std::fs::read(site.path().join("mail.mbox")).unwrap(), mbox, "an mbox is never changed");
    let found = statuses(site.path());
    assert!(READERS.iter().all(|reader| found[*reader] == "bounced"), "{found:?}");
}

/// Point 3: a message over 10 MiB on the pipe is read to its end, nothing
/// of it is kept, and the exit is 65 (EX_DATAERR), so the MTA returns it.
/// Before: it was cut at 10 MiB, kept as unrecognised, and the exit was 0.
#[test]
fn an_oversized_message_on_the_pipe_exits_65_and_nothing_of_it_is_kept() {
    let site = site(true, "");
    let mut big = dsn(&verp(1), "ada@example.com", "big").into_bytes();
    big.extend(std::iter::repeat_n(b'x', 11 << 20));
    let size = big.len();
    let output = pipe(site.path(), big);
    assert_eq!(output.status.code(), Some(65), "{}{}", stdout(&output), stderr(&output));
    assert!(
        stderr(&output).contains(&format!(
            "error: standard input: a message of {size} bytes, more than the 10 MiB a returned message may have; none of it was kept, and the MTA returns it (exit 65, EX_DATAERR)"
        )),
        "{}",
        stderr(&output)
    );
    assert!(!site.path().join(".newsroom/inbound-unrecognised").exists(), "nothing partial is kept");
    all_subscribed(site.path());
}

/// Point 4: the mailto of List-Unsubscribe carries the reader's token
/// (in the subject; with plus-addressing in the address), and a mail
/// carrying it unsubscribes its reader from whatever address it comes.
/// Before: `?subject=unsubscribe`, no token, so a reader writing from an
/// alias stayed subscribed, and plus-addressing was not read.
#[test]
fn the_mailto_unsubscribe_carries_the_readers_token_and_it_unsubscribes_from_any_address() {
    for plus in [false, true] {
        let site = copy_example_site();
        if plus {
            edit_config(
                site.path(),
                &[("  unsubscribe_mailto:", "  unsubscribe_mailto_plus_addressing: true\n  unsubscribe_mailto:")],
            );
        }
        let server = SmtpServer::start(Faults::default());
        let output = newsroom(site.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
            .env("NEWSROOM_SMTP_URL", server.url())
            .args(["digest", "send", "--month", "2026-10"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}{}", stdout(&output), stderr(&output));
        let message = &server.received()[0];
        let parsed = mail_parser::MessageParser::default().parse(&message.data).unwrap();
        let header = parsed.header_raw("List-Unsubscribe").unwrap().split_whitespace().collect::<String>();
        let uri = header.split("<mailto:").nth(1).and_then(|rest| rest.strip_suffix('>')).unwrap().to_string();
        let (to, subject) = uri.split_once("?subject=").unwrap();
        let subject = subject.replace("%20", " ");
        let token = if plus {
            assert_eq!(subject, "unsubscribe", "{header}");
            to.strip_prefix("unsubscribe+").and_then(|t| t.strip_suffix("@lantern.example.org")).unwrap()
        } else {
            assert_eq!(to, "unsubscribe@lantern.example.org", "{header}");
            subject.strip_prefix("unsubscribe ").unwrap()
        };
        let (id, _) = token.split_once('-').unwrap();
        let verified = newsroom::token::verify(SECRET.as_bytes(), "news.lantern.example.org", token);
        assert_eq!(verified, Some(id.parse().unwrap()), "{header}");
        // The reader writes from an alias: the token names them.
        let mail = mailto("", "an.alias@elsewhere.example", to, &subject, "alias");
        let output = pipe(site.path(), mail.into_bytes());
        let text = stdout(&output);
        assert!(output.status.success(), "{text}{}", stderr(&output));
        assert!(
            text.contains(&format!(
                "unsubscribe of {} (found by unsubscribe-token): now unsubscribed",
                message.recipient
            )),
            "plus-addressing {plus}: {text}"
        );
    }
}

/// Point 4: a mail to the unsubscribe address without a token acts only
/// when the operator's MTA (`inbound.authserv_id`) authenticated its
/// From, in the topmost Authentication-Results above any Received; a
/// forged From, another authserv-id, or results the sender wrote below
/// the MTA's Received line are unverified requests, listed by `inbound`
/// and `digest status`, and change nothing. Issue 26 point 12: an
/// authenticated opt-out of an address nobody holds is recorded as
/// `newsroom unsubscribe` records it. Before: the From alone unsubscribed
/// anyone, and an address the store did not hold was not recorded.
#[test]
fn a_mailto_unsubscribe_without_a_token_acts_only_on_a_from_the_operators_mta_authenticated() {
    let site = site(false, &format!("inbound:\n  authserv_id: {AUTHSERV_ID}\n"));
    let to = "unsubscribe@example.org";
    let forged = [
        ("", "no Authentication-Results"),
        ("Authentication-Results: other.example; dmarc=pass header.from=example.com\n", "another authserv-id"),
        (&*format!("Authentication-Results: {AUTHSERV_ID}; dmarc=fail header.from=example.com\n"), "dmarc=fail"),
        (&*format!("Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=evil.example\n"), "dkim not aligned"),
    ];
    for (index, (top, what)) in forged.iter().enumerate() {
        let output =
            pipe(site.path(), mailto(top, "ada@example.com", to, "unsubscribe", &format!("f{index}")).into_bytes());
        let text = stdout(&output);
        assert!(output.status.success(), "{text}");
        assert!(
            text.contains(
                "unsubscribe of ada@example.com (found by address): unverified, not acted on: an unsubscribe without a token, and its From is not authenticated (no Authentication-Results of mx.example.org with dmarc=pass or an aligned dkim=pass)"
            ),
            "{what}: {text}"
        );
        assert!(text.contains("1 unverified unsubscribe (not acted on)"), "{text}");
        all_subscribed(site.path());
    }
    // Results the sender wrote: below the operator's Received line.
    let below = format!(
        "Received: from mail.sender.example by mx.example.org\nAuthentication-Results: {AUTHSERV_ID}; dmarc=pass header.from=example.com\n"
    );
    let output = pipe(site.path(), mailto(&below, "ada@example.com", to, "unsubscribe", "below").into_bytes());
    assert!(stdout(&output).contains("unverified, not acted on"), "{}", stdout(&output));
    all_subscribed(site.path());
    // A token that does not verify is no better.
    let output = pipe(
        site.path(),
        mailto("", "bob@example.net", to, "unsubscribe 2-00000000000000000000000000000000", "t").into_bytes(),
    );
    assert!(stdout(&output).contains("an unsubscribe whose token does not verify"), "{}", stdout(&output));
    all_subscribed(site.path());

    let status = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10"]));
    assert!(status.contains("unverified requests, not acted on (6;"), "{status}");
    assert!(
        status.contains(
            "unsubscribe: ada@example.com: an unsubscribe without a token, and its From is not authenticated"
        ),
        "{status}"
    );
    assert!(status.contains("unsubscribe: bob@example.net: an unsubscribe whose token does not verify"), "{status}");

    // The operator's MTA authenticated the From: DMARC, or aligned DKIM.
    let dmarc = format!(
        "Authentication-Results: {AUTHSERV_ID}; spf=pass smtp.mailfrom=example.com;\n dmarc=pass (p=reject) header.from=example.com\n"
    );
    let output = pipe(site.path(), mailto(&dmarc, "Ada@Example.com", to, "unsubscribe", "ok1").into_bytes());
    let text = stdout(&output);
    assert!(
        text.contains("unsubscribe of ada@example.com (found by address): now unsubscribed — mail to the unsubscribe address (subject `unsubscribe`); From authenticated: dmarc=pass header.from=example.com"),
        "{text}"
    );
    let dkim = format!("Authentication-Results: {AUTHSERV_ID}; dkim=pass header.d=example.net header.i=@example.net\n");
    let output = pipe(site.path(), mailto(&dkim, "bob@mail.example.net", to, "unsubscribe", "ok2").into_bytes());
    // bob@mail.example.net is no subscriber: recorded as an opt-out all the same.
    assert!(
        stdout(&output).contains("unsubscribe of bob@mail.example.net (found by address): now unsubscribed"),
        "{}",
        stdout(&output)
    );
    let found = statuses(site.path());
    assert_eq!(found["ada@example.com"], "unsubscribed");
    assert_eq!(found["bob@example.net"], "subscribed");
    assert_eq!(found["bob@mail.example.net"], "unsubscribed", "as `newsroom unsubscribe` records it: {found:?}");
}

/// Point 5: with `delivery.return_path` set, a DSN acts only through a
/// VERP token that verifies: a forged token, or none, naming a victim
/// changes nothing and is reported. An ARF report acts only when its
/// original carries one of newsroom's tokens that verifies. Without
/// return_path, a DSN is still attributed by the address it names.
/// Before: a forged token fell back to the address, and one mail marked
/// any reader `bounced` or `complained`.
#[test]
fn forged_bounces_and_complaints_change_nothing_and_real_ones_act() {
    let site = site(true, "");
    let forged_token = "bounces+1-202610-000000000000000000000000@example.org";
    let output = pipe(site.path(), dsn(forged_token, "ada@example.com", "forged").into_bytes());
    let text = stdout(&output);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("hard-bounce 5.1.1 of ada@example.com (found by address): unverified, not acted on: a bounce whose VERP token does not verify"),
        "{text}"
    );
    let output = pipe(site.path(), dsn("bounces@example.org", "bob@example.net", "none").into_bytes());
    assert!(stdout(&output).contains("unverified, not acted on: a bounce without a VERP token"), "{}", stdout(&output));
    let complaint =
        arf("From: T <news@example.org>\nTo: carol@example.org\nSubject: October\nMessage-ID: <x@example.org>\n");
    let output = pipe(site.path(), complaint.into_bytes());
    assert!(
        stdout(&output).contains("complaint of carol@example.org (found by address): unverified, not acted on: a complaint whose reported original carries no token of newsroom's that verifies"),
        "{}",
        stdout(&output)
    );
    all_subscribed(site.path());
    let status = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10"]));
    assert!(status.contains("unverified requests, not acted on (3;"), "{status}");

    // The real ones act: the VERP token, the List-Unsubscribe token.
    let output = pipe(site.path(), dsn(&verp(1), "someone-else@example.net", "real").into_bytes());
    assert!(stdout(&output).contains("of ada@example.com (found by return-path): now bounced"), "{}", stdout(&output));
    let token = newsroom::token::sign(SECRET.as_bytes(), LIST_ID, 3);
    let complaint = arf(&format!(
        "From: T <news@example.org>\nTo: redacted@isp.example\nList-Unsubscribe: <https://example.org/unsubscribe/{token}>\n"
    ));
    let output = pipe(site.path(), complaint.into_bytes());
    assert!(
        stdout(&output).contains("of carol@example.org (found by unsubscribe-token): now complained"),
        "{}",
        stdout(&output)
    );

    // Without return_path, the address a DSN names is still followed.
    let legacy = self::site(false, "");
    let output = pipe(legacy.path(), dsn("bounces@example.org", "bob@example.net", "legacy").into_bytes());
    assert!(stdout(&output).contains("of bob@example.net (found by address): now bounced"), "{}", stdout(&output));
}
