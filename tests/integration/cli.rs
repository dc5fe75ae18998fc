//! The command line as a new user meets it: a starter site from `init`,
//! configuration mistakes (each case in a table, its output snapshotted),
//! exit codes, `--json` reports read back with serde_json, completions and
//! the man page, and output into a pipe that closes early.

use std::io::Read;
use std::process::{Command as StdCommand, Stdio};

use crate::support::*;

/// A configuration mistake: the files of a site, a command, what it must say.
struct ConfigCase {
    name: &'static str,
    config: &'static str,
    /// Files besides newsroom.yaml and an empty `posts/` (path, contents).
    files: &'static [(&'static str, &'static str)],
    args: &'static [&'static str],
    exit: i32,
    /// Text the output (stdout and stderr) must contain, besides the snapshot.
    expect: &'static str,
}

const SITE: &str = "site:\n  title: T\n  url: https://t.example.org\n";
const DIGEST: &str = "digest:\n  from: T <news@t.example.org>\n  postal_address: 1 Road, Town\n  unsubscribe_url: https://t.example.org/u?e={email}&t={token}\n  subscribers: people.csv\n";
const POST: (&str, &str) = ("posts/2026-10-01-a.md", "---\ntitle: A\n---\nA.\n\n<!--truncate-->\n");
const PEOPLE: (&str, &str) = ("people.csv", "email\nada@example.org\n");

const CONFIG_CASES: &[ConfigCase] = &[
    ConfigCase {
        name: "every_problem_at_once",
        config: "site:\n  title: T\n  url: t.example.org\nfeeds:\n  limt: 3\ndigest:\n  from: not an address\nextra: 1\n",
        files: &[],
        args: &["check"],
        exit: 2,
        expect: "newsroom.yaml:5:3: error: feeds: unknown field `limt`",
    },
    ConfigCase {
        name: "unquoted_colon",
        config: "site:\n  title: Lantern: the blog\n  url: https://t.example.org\n",
        files: &[],
        args: &["build"],
        exit: 2,
        expect: "newsroom.yaml:2:17: error: mapping values are not allowed in this context (the value contains `: `; quote the value",
    },
    ConfigCase {
        name: "tab_indented",
        config: "site:\n\ttitle: T\n  url: https://t.example.org\n",
        files: &[],
        args: &["check"],
        exit: 2,
        expect: "newsroom.yaml:2:1: error: found character that cannot start any token",
    },
    ConfigCase {
        name: "posts_folder_missing",
        config: "site:\n  title: T\n  url: https://t.example.org\nposts: articles\n",
        files: &[],
        args: &["check"],
        exit: 2,
        expect: "newsroom.yaml:4:8: error: the posts folder `articles` does not exist",
    },
    ConfigCase {
        name: "named_subscriber_file_missing_in_check",
        config: "site:\n  title: T\n  url: https://t.example.org\ndigest:\n  subscribers: people.csv\n",
        files: &[POST],
        args: &["check"],
        exit: 2,
        expect: "newsroom.yaml:5:16: error: the subscriber file `people.csv` does not exist",
    },
    ConfigCase {
        name: "named_subscriber_file_missing_in_preview",
        config: "site:\n  title: T\n  url: https://t.example.org\ndigest:\n  subscribers: people.csv\n",
        files: &[POST],
        args: &["digest", "preview", "--month", "2026-10"],
        exit: 2,
        expect: "newsroom.yaml:5:16: error: the subscriber file `people.csv` does not exist",
    },
    ConfigCase {
        name: "default_subscriber_file_missing_in_check",
        config: "site:\n  title: T\n  url: https://t.example.org\ndigest:\n  from: T <news@t.example.org>\n",
        files: &[POST],
        args: &["check"],
        exit: 0,
        expect: "warning: the subscriber file `subscribers.csv` does not exist (digest.subscribers is not set, and this is its default)",
    },
    ConfigCase {
        name: "only_title_and_url_check",
        config: SITE,
        files: &[POST],
        args: &["check"],
        exit: 0,
        expect: "newsroom.yaml:1:1: warning: no `digest:` section: `digest send` refuses to start until digest.from, digest.postal_address, digest.unsubscribe_url are set",
    },
    ConfigCase {
        name: "only_title_and_url_send",
        config: "site:\n  title: T\n  url: https://t.example.org\ndigest:\n  reply_to: r@t.example.org\n",
        files: &[POST, ("subscribers.csv", "email\nada@example.org\n")],
        args: &["digest", "send", "--month", "2026-10"],
        exit: 2,
        expect: "newsroom.yaml:4:1: error: digest.from is not set",
    },
    ConfigCase {
        name: "bad_from_is_the_same_error_everywhere",
        config: "site:\n  title: T\n  url: https://t.example.org\ndigest:\n  from: news at t.example.org\n",
        files: &[POST],
        args: &["digest", "preview", "--month", "2026-10"],
        exit: 2,
        expect: "newsroom.yaml:5:9: error: digest.from `news at t.example.org` is not an address",
    },
    ConfigCase {
        name: "complete_configuration",
        config: "",
        files: &[POST, PEOPLE],
        args: &["check"],
        exit: 0,
        expect: "0 error(s), 0 warning(s)",
    },
];

/// Each configuration mistake: its exit status, its message at its place,
/// and the whole output snapshotted.
#[test]
fn each_configuration_mistake_is_reported_as_expected() {
    for case in CONFIG_CASES {
        let dir = tempfile::tempdir().unwrap();
        let config = if case.config.is_empty() { format!("{SITE}{DIGEST}") } else { case.config.to_string() };
        std::fs::write(dir.path().join("newsroom.yaml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("posts")).unwrap();
        for (path, text) in case.files {
            std::fs::write(dir.path().join(path), text).unwrap();
        }
        let output = newsroom(dir.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
            .env("NEWSROOM_SMTP_URL", "smtp://127.0.0.1:1")
            .args(case.args)
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert_eq!(output.status.code(), Some(case.exit), "{}: {all}", case.name);
        assert!(all.contains(case.expect), "{}: expected {:?} in:\n{all}", case.name, case.expect);
        insta::assert_snapshot!(format!("config_{}", case.name), all);
    }
}

/// `send` with only title and url names each key it needs, and sends nothing.
#[test]
fn send_names_every_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("newsroom.yaml"), SITE).unwrap();
    std::fs::create_dir_all(dir.path().join("posts")).unwrap();
    std::fs::write(dir.path().join(POST.0), POST.1).unwrap();
    let output = newsroom(dir.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
        .env("NEWSROOM_SMTP_URL", "smtp://127.0.0.1:1")
        .args(["digest", "send", "--month", "2026-10", "--test-to", "me@example.org"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let lines: Vec<String> = stderr(&output).lines().map(str::to_string).collect();
    assert_eq!(
        lines,
        [
            "newsroom.yaml:1:1: error: digest.from is not set: a digest is only sent with values you wrote, never with placeholders",
            "newsroom.yaml:1:1: error: digest.postal_address is not set: a digest is only sent with values you wrote, never with placeholders",
            "newsroom.yaml:1:1: error: digest.unsubscribe_url is not set: a digest is only sent with values you wrote, never with placeholders",
        ]
    );
}

/// `init` makes a site that checks, builds, previews; `send` refuses until
/// the sender's own values are written; a second `init` changes nothing.
#[test]
fn init_makes_a_site_that_works_and_never_overwrites() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("my-blog");
    let output =
        newsroom(parent.path()).args(["init", dir.to_str().unwrap(), "--title", "Ada's: Blog"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let said = stdout(&output);
    assert!(
        said.contains("next:\n  cd ") && said.contains("newsroom check") && said.contains("cargo install --path ."),
        "{said}"
    );
    let files: Vec<String> = walkdir::WalkDir::new(&dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&dir).unwrap().display().to_string())
        .collect();
    assert_eq!(
        files,
        [
            ".gitignore",
            "newsroom.yaml",
            "posts/2026-10-01-welcome.md",
            "posts/authors.yml",
            "subscribers.csv",
            "templates/confirm.md",
            "templates/digest.md",
            "templates/email.css"
        ]
    );
    let check = run(&dir, &["check"]);
    assert_eq!(check.status.code(), Some(0), "{}", stdout(&check));
    assert!(stdout(&check).ends_with("0 error(s), 1 warning(s)\n"), "{}", stdout(&check));
    assert!(
        stdout(&check).contains("warning: no `digest:` section: `digest send` refuses to start until"),
        "{}",
        stdout(&check)
    );
    let build = run(&dir, &["build"]);
    assert!(build.status.success(), "{}", stderr(&build));
    let feed = parse_feed(&dir.join("public/feed.xml"));
    assert_eq!(feed.title.unwrap().content, "Ada's: Blog");
    assert_eq!(feed.entries.len(), 1);
    // The example post is in the last finished month: the default preview shows it.
    let preview = newsroom(&dir).args(["digest", "preview"]).output().unwrap();
    assert!(preview.status.success(), "{}", stderr(&preview));
    assert!(stdout(&preview).contains("2026-10"), "{}", stdout(&preview));
    let manifest = std::fs::read_to_string(dir.join("preview/2026-10/index.html")).unwrap_or_default();
    assert!(manifest.contains("Welcome to Ada"), "the example post is in the October digest: {manifest}");
    assert!(said.contains("newsroom digest preview --month 2026-10"), "{said}");
    let ignored = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    assert!(ignored.lines().any(|l| l == ".env") && ignored.lines().any(|l| l == "*.pem"), "{ignored}");
    let send = newsroom(&dir)
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
        .env("NEWSROOM_SMTP_URL", "smtp://127.0.0.1:1")
        .args(["digest", "send", "--month", "2026-11"])
        .output()
        .unwrap();
    assert_eq!(send.status.code(), Some(2), "{}", stderr(&send));

    let before = std::fs::read_to_string(dir.join("newsroom.yaml")).unwrap();
    let again = newsroom(parent.path()).args(["init", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("newsroom.yaml:1:1: error: already exists; `newsroom init` never overwrites"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(dir.join("newsroom.yaml")).unwrap(), before);
}

/// A completion script for each shell clap_complete supports, and a man
/// page per command that is roff with the command's options in it.
#[test]
fn completions_and_man_pages_cover_every_command() {
    let here = tempfile::tempdir().unwrap();
    let bash = stdout(&run(here.path(), &["completions", "bash"]));
    for word in ["_newsroom()", "build", "check", "digest", "preview", "send", "status", "unsubscribe", "--keep-going"]
    {
        assert!(bash.contains(word), "bash completion lacks {word}");
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let output = run(here.path(), &["completions", shell]);
        assert!(output.status.success() && output.stdout.len() > 500, "{shell}");
    }
    let page = stdout(&run(here.path(), &["man"]));
    assert!(page.contains(".TH newsroom 1") && page.contains("digest"), "{page}");
    let dir = here.path().join("man");
    let output = run(here.path(), &["man", "--out", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let send = std::fs::read_to_string(dir.join("newsroom-digest-send.1")).unwrap();
    assert!(send.contains(".TH newsroom\\-digest\\-send 1") || send.contains(".TH newsroom-digest-send 1"), "{send}");
    assert!(send.contains("resend\\-ambiguous"), "{send}");
    // Where man is installed, it reads the page.
    if let Ok(rendered) = StdCommand::new("man").arg("-l").arg(dir.join("newsroom-digest-send.1")).output()
        && rendered.status.success()
    {
        assert!(String::from_utf8_lossy(&rendered.stdout).contains("resend-ambiguous"));
    }
}

/// `--json` reports of check, build and status, read back with serde_json.
#[test]
fn json_reports_have_their_documented_shape() {
    let site = copy_example_site();
    let json = |args: &[&str]| -> serde_json::Value {
        let output = run(site.path(), args);
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&output)))
    };
    let check = json(&["check", "--json"]);
    assert_eq!(check["errors"], 0);
    assert_eq!(check["configuration_errors"], 0);
    assert_eq!(check["posts"], 13);
    assert_eq!(check["scheduled"]["count"], 0);
    let warnings = check["diagnostics"].as_array().unwrap();
    assert_eq!(warnings.len() as u64, check["warnings"].as_u64().unwrap());
    let first = &warnings[0];
    for key in ["path", "line", "column", "severity", "message"] {
        assert!(!first[key].is_null(), "{key} in {first}");
    }
    assert_eq!(first["severity"], "warning");

    let build = json(&["build", "--json"]);
    assert_eq!(build["written"], true);
    assert_eq!(build["listed_posts"], 11);
    assert!(build["feed_sets"].as_u64().unwrap() > 1);
    assert_eq!(build["skipped"], serde_json::json!([]));

    let status = json(&["digest", "status", "--month", "2026-10", "--json"]);
    assert_eq!(status["digest_id"], "digest-2026-10");
    assert_eq!(status["frozen"], false);

    // A configuration that cannot be read is a report too, with exit 2.
    std::fs::write(site.path().join("newsroom.yaml"), "site:\n  title: T\n").unwrap();
    let output = run(site.path(), &["check", "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let broken: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(broken["configuration_errors"], 1);
    assert_eq!(broken["diagnostics"][0]["line"], 2);
    assert_eq!(broken["diagnostics"][0]["message"], "site: missing field `url`");
}

/// Output into a pipe that closes early (`newsroom digest status | head`):
/// exit 0, no panic.
#[test]
fn a_closed_pipe_is_not_an_error() {
    let site = copy_example_site();
    // A ledger with a long list to print.
    let ledger = site.path().join(".newsroom/ledger.sqlite");
    std::fs::create_dir_all(ledger.parent().unwrap()).unwrap();
    let mut connection = rusqlite::Connection::open(&ledger).unwrap();
    let transaction = connection.transaction().unwrap();
    transaction
        .execute_batch(
            "CREATE TABLE digests (digest_id TEXT PRIMARY KEY, frozen_at TEXT NOT NULL, recipients INTEGER NOT NULL);
             CREATE TABLE deliveries (id INTEGER PRIMARY KEY, digest_id TEXT NOT NULL, address TEXT NOT NULL, name TEXT,
               state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, message_id TEXT, reply TEXT,
               updated_at TEXT NOT NULL, UNIQUE (digest_id, address));
             INSERT INTO digests VALUES ('digest-2026-10', '2026-11-01T00:00:00Z', 20000);",
        )
        .unwrap();
    for n in 0..20000 {
        transaction
            .execute(
                "INSERT INTO deliveries (digest_id, address, state, reply, updated_at) VALUES ('digest-2026-10', ?1, 'sent', '250 2.0.0 queued as a long reply', 'x')",
                [format!("reader{n:05}@example.org")],
            )
            .unwrap();
    }
    transaction.commit().unwrap();
    for args in [
        &["digest", "status", "--month", "2026-10", "--list", "sent"][..],
        &["digest", "status", "--month", "2026-10", "--list", "sent", "--json"][..],
        &["check"][..],
        &["completions", "zsh"][..],
    ] {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("newsroom"))
            .env("NEWSROOM_NOW", NOW)
            .arg("-C")
            .arg(site.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read a little, as `head -c 10` would, and close the pipe.
        let mut first = [0u8; 10];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let mut error = String::new();
        child.stderr.take().unwrap().read_to_string(&mut error).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: {error}");
        assert!(!error.contains("panicked"), "{args:?}: {error}");
    }
}

/// `status` summarises; `--list STATE` names the addresses.
#[test]
fn status_summarises_and_lists_on_request() {
    let site = copy_example_site();
    std::fs::create_dir_all(site.path().join(".newsroom")).unwrap();
    let mut store = newsroom::store::Store::open(&site.path().join(".newsroom/newsroom.sqlite")).unwrap();
    let addresses: Vec<String> = (0..30).map(|n| format!("r{n:02}@example.org")).collect();
    store.freeze("digest-2026-10", addresses.iter().map(|a| (None, a.as_str(), None))).unwrap();
    use newsroom::store::State;
    for (index, row) in store.pending("digest-2026-10").unwrap().into_iter().enumerate() {
        let (state, reply) = match index % 3 {
            0 => (State::Sent, "250 ok".to_string()),
            1 => (State::FailedPermanent, format!("550 5.1.1 <{}>: unknown", row.address)),
            _ => (State::FailedTransient, "451 4.7.1 later".to_string()),
        };
        store.mark(row.id, state, &reply).unwrap();
    }
    drop(store);
    let summary = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10"]));
    assert!(summary.starts_with("digest-2026-10: 30 recipients\n  sent: 10\n"), "{summary}");
    assert!(
        summary.contains("most common failures:\n  10 failed_transient: 451 4.7.1 later\n  10 failed_permanent: 550 5.1.1 <address>: unknown\n"),
        "{summary}"
    );
    assert!(!summary.contains("r01@example.org"), "the summary lists no address: {summary}");
    let listed = stdout(&run(site.path(), &["digest", "status", "--month", "2026-10", "--list", "failed_permanent"]));
    assert!(
        listed.contains(
            "failed_permanent (10):\n  r01@example.org (0 attempt(s)): 550 5.1.1 <r01@example.org>: unknown\n"
        ),
        "{listed}"
    );
    let bad = run(site.path(), &["digest", "status", "--list", "lost"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `posts:` naming a folder that does not exist is a configuration error at
/// its key in every command that reads posts: exit 2, nothing written,
/// nothing sent.
#[test]
fn a_missing_posts_folder_is_a_configuration_error_in_every_command() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("newsroom.yaml"), format!("{SITE}posts: nowhere\n{DIGEST}")).unwrap();
    std::fs::write(dir.path().join(PEOPLE.0), PEOPLE.1).unwrap();
    for args in [
        &["build"][..],
        &["check"][..],
        &["digest", "preview", "--month", "2026-10"][..],
        &["digest", "send", "--month", "2026-10"][..],
    ] {
        let output = newsroom(dir.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
            .env("NEWSROOM_SMTP_URL", "smtp://127.0.0.1:1")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(all.contains("newsroom.yaml:4:8: error: the posts folder `nowhere` does not exist"), "{args:?}: {all}");
    }
    let written: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(written.len(), 2, "only the configuration and the list: {written:?}");
}

/// A `digest.unsubscribe_url` that is not https, has `{email}` or `{token}`
/// in its host, or is no URL once filled: `preview` and `send` refuse,
/// naming the setting at its place, before anything is written or sent.
#[test]
fn a_bad_unsubscribe_url_stops_preview_and_send_before_anything_happens() {
    let server = crate::smtp_server::SmtpServer::start(crate::smtp_server::Faults::default());
    for (url, problem) in [
        ("http://t.example.org/u?t={token}", "must be an https:// URL"),
        ("https://{email}.t.example.org/u", "must be in the path or query, not the host"),
        ("https://[::1/u?t={token}", "is not a valid URL"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let digest = DIGEST.replace("https://t.example.org/u?e={email}&t={token}", url);
        std::fs::write(dir.path().join("newsroom.yaml"), format!("{SITE}{digest}")).unwrap();
        std::fs::create_dir_all(dir.path().join("posts")).unwrap();
        std::fs::write(dir.path().join(POST.0), POST.1).unwrap();
        std::fs::write(dir.path().join(PEOPLE.0), PEOPLE.1).unwrap();
        for args in [&["digest", "preview", "--month", "2026-10"][..], &["digest", "send", "--month", "2026-10"][..]] {
            let output = newsroom(dir.path())
                .env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET)
                .env("NEWSROOM_SMTP_URL", server.url())
                .args(args)
                .output()
                .unwrap();
            assert_eq!(output.status.code(), Some(2), "{url} {args:?}");
            let error = stderr(&output);
            assert!(error.starts_with("newsroom.yaml:7:20: error: digest.unsubscribe_url"), "{url}: {error}");
            assert!(error.contains(problem), "{url}: {error}");
        }
        assert!(!dir.path().join("preview").exists(), "{url}: the preview was written");
        assert!(!dir.path().join(".newsroom").exists(), "{url}: a send started");
    }
    assert_eq!(server.count(), 0);
}

/// A guessable unsubscribe secret lets anyone forge every reader's links
/// (ids are sequential): each command that signs or checks tokens refuses
/// one under 32 bytes, and `newsroom secret` makes one that passes
/// (issue 26, point 3).
#[test]
fn a_weak_secret_is_refused_and_newsroom_secret_makes_a_strong_one() {
    let site = copy_example_site();
    let smtp = crate::smtp_server::SmtpServer::start(Default::default());
    let with = |secret: &str, args: &[&str]| {
        newsroom(site.path())
            .env("NEWSROOM_UNSUBSCRIBE_SECRET", secret)
            .env("NEWSROOM_SMTP_URL", smtp.url())
            .args(args)
            .write_stdin("")
            .output()
            .unwrap()
    };
    let commands: [&[&str]; 4] = [
        &["digest", "send", "--month", "2026-10"],
        &["digest", "preview", "--month", "2026-10"],
        &["serve", "--listen", "127.0.0.1:0"],
        &["inbound", "-"],
    ];
    for weak in ["x", "ci-secret", &"ab".repeat(31), "abcdefghijklmnopqrstuvwxyzABCDEF"] {
        for args in commands {
            let output = with(weak, args);
            assert_eq!(output.status.code(), Some(2), "{weak} {args:?}: {}", stderr(&output));
            let said = stderr(&output);
            assert!(
                said.contains("NEWSROOM_UNSUBSCRIBE_SECRET is too weak: it holds")
                    && said.contains("at least 32 random bytes")
                    && said.contains("Make one with `newsroom secret`"),
                "{said}"
            );
        }
    }
    assert_eq!(smtp.count(), 0, "nothing was sent with a weak key");

    let made = run(site.path(), &["secret"]);
    assert!(made.status.success());
    let secret = stdout(&made).trim().to_string();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "{secret}");
    assert_ne!(secret, stdout(&run(site.path(), &["secret"])).trim(), "a fresh one each time");
    let sent = with(&secret, &["digest", "send", "--month", "2026-10"]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert!(smtp.count() > 0);
}

/// What `init` prints is enough to send (issue 26, point 8): a newcomer
/// who does what it says (uncomment `digest:`, run the printed lines with
/// their own relay and address) reaches a `--test-to` send and a running
/// `serve`. The relay here is the in-process one; the lines are run by `sh`
/// with nothing in the environment but PATH and the pinned clock.
#[test]
fn following_inits_output_alone_reaches_a_test_send_and_a_running_serve() {
    use std::io::BufRead;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("blog");
    let output = newsroom(parent.path()).args(["init", dir.to_str().unwrap()]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let said = stdout(&output);
    let steps =
        said.split("to send it (each step once):\n").nth(1).unwrap_or_else(|| panic!("no send steps in {said}"));
    // Step 1, as its comment says: uncomment `digest:` and its three required keys.
    let config = std::fs::read_to_string(dir.join("newsroom.yaml")).unwrap();
    let config: String = config
        .lines()
        .map(|line| match line {
            "# digest:" => "digest:".to_string(),
            line if ["#   from:", "#   postal_address:", "#   unsubscribe_url:"]
                .iter()
                .any(|k| line.starts_with(k)) =>
            {
                line[1..].to_string()
            }
            line => line.to_string(),
        })
        .map(|line| line + "\n")
        .collect();
    // Step 3, as newsroom.yaml's comments say: the `openssl` commands they
    // give, then `delivery:` and its `dkim:` list uncommented.
    let keygen: Vec<&str> = config
        .lines()
        .filter(|line| line.trim_start().starts_with("#   #"))
        .filter_map(|line| line.split('`').nth(1))
        .filter(|command| command.starts_with("openssl genpkey"))
        .collect();
    assert_eq!(keygen.len(), 2, "{config}");
    for command in keygen {
        let made = std::process::Command::new("sh").args(["-ec", command]).current_dir(&dir).output().unwrap();
        assert!(made.status.success(), "{command}: {}", stderr(&made));
    }
    let config: String = config
        .lines()
        .map(|line| match line {
            "# delivery:" => "delivery:".to_string(),
            line if line.starts_with("#   dkim:") || line.starts_with("#     - {") => line[1..].to_string(),
            line => line.to_string(),
        })
        .map(|line| line + "\n")
        .collect();
    std::fs::write(dir.join("newsroom.yaml"), config).unwrap();
    let smtp = crate::smtp_server::SmtpServer::start(Default::default());
    let commands: Vec<String> = steps
        .lines()
        .filter(|line| line.starts_with("  ") && !line.trim_start().starts_with('#'))
        .map(|line| {
            line.trim()
                .replace("smtp://USER:PASSWORD@mail.example.org:587", &smtp.url())
                .replace("YOU@example.org", "me@example.org")
        })
        .collect();
    let send_to_me = commands.iter().position(|c| c.contains("--test-to")).expect("a --test-to line");
    let serve = commands.iter().position(|c| c.starts_with("newsroom serve")).expect("a serve line");
    let bin = assert_cmd::cargo::cargo_bin("newsroom");
    let path = format!("{}:/usr/bin:/bin", bin.parent().unwrap().display());
    let script = commands[..=send_to_me].join("\n");
    let sent = std::process::Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", &path)
        .env("NEWSROOM_NOW", NOW)
        .output()
        .unwrap();
    assert!(sent.status.success(), "{script}\n{}{}", stdout(&sent), stderr(&sent));
    let received = smtp.received();
    assert_eq!(received.iter().map(|m| m.recipient.as_str()).collect::<Vec<_>>(), ["me@example.org"]);
    let message = mail_parser::MessageParser::default().parse(&received[0].data).unwrap();
    let selectors: Vec<String> = message
        .header_values("DKIM-Signature")
        .filter_map(|value| value.as_text())
        .filter_map(|text| text.split(';').find_map(|tag| tag.trim().strip_prefix("s=").map(str::to_string)))
        .collect();
    assert_eq!(selectors, ["ed", "rsa"], "signed with both keys the steps made");
    // The serve line, on a free port instead of 8080.
    let serve_script = format!(
        "set -a; . ./.env; set +a\nexec {} --listen 127.0.0.1:0",
        commands[serve].split('#').next().unwrap().trim()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &serve_script])
        .current_dir(&dir)
        .env_clear()
        .env("PATH", &path)
        .env("NEWSROOM_NOW", NOW)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = std::io::BufReader::new(child.stdout.take().unwrap()).lines().next().map(Result::unwrap);
    let first = first.unwrap_or_default();
    // It answers: /healthz, what a proxy or a monitor asks.
    let health = first.split("http://").nth(1).and_then(|rest| rest.split(';').next()).map(|address| {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(stream, "GET /healthz HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("serving the unsubscribe links of"), "{first}");
    let health = health.unwrap_or_default();
    assert!(health.starts_with("HTTP/1.1 200") && health.trim_end().ends_with("ok"), "{health}");
}
