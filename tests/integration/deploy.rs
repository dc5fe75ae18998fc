//! The deployment recipes of docs/deploy.md, as files in the repository
//! and run as a user would run them (issue 26, point 2): the systemd units
//! and the cron script under contrib/ are the ones the page shows (byte for
//! byte, so they cannot drift), and the cron script sends under `env -i`
//! with nothing but its environment file. `.ci/run` runs
//! `systemd-analyze verify` on the units the Debian package installs.

use std::path::Path;
use std::process::Command;

use crate::smtp_server::SmtpServer;
use crate::support::*;

/// A 64-hex-digit secret, as `newsroom secret` prints one.
const STRONG_SECRET: &str = "5f0c3e9a1b7d2c4e6f8a0b1c3d5e7f9a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e";

const CONTRIB: [&str; 4] = [
    "contrib/systemd/newsroom-serve.service",
    "contrib/systemd/newsroom-send.service",
    "contrib/systemd/newsroom-send.timer",
    "contrib/cron/newsroom-send",
];

#[test]
fn deploy_md_shows_the_repository_s_units_and_cron_script_byte_for_byte() {
    let root = repo_root();
    let page = std::fs::read_to_string(root.join("docs/deploy.md")).unwrap();
    for file in CONTRIB {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let block = format!("`{file}`:\n\n```\n{text}```\n");
        assert!(page.contains(&block), "docs/deploy.md does not show {file} as it is in the repository");
    }
    for unit in &CONTRIB[..3] {
        let text = std::fs::read_to_string(root.join(unit)).unwrap();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            // systemd.syntax(7): only a whole line is a comment.
            assert!(!line.contains('#'), "{unit}: `{line}` would keep its `#` as part of the value");
        }
    }
    assert!(!page.contains("example.org/newsroom-x86_64-linux.tar.gz"), "the CI example installs a placeholder");
}

#[test]
fn the_cron_script_sends_with_only_its_environment_file() {
    let site = copy_example_site();
    let smtp = SmtpServer::start(Default::default());
    let env_file = site.path().join("newsroom.env");
    // Written by docs/deploy.md's own recipe (its relay and path swapped
    // for this test's); the clock is pinned after it, so that "last month"
    // is October's digest.
    let docs = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    let start = docs.find("( umask 077; printf 'NEWSROOM_SMTP_URL").expect("the env file recipe in docs/deploy.md");
    let end = start + docs[start..].find(" > /etc/newsroom/newsroom.env )").expect("its end") + 31;
    let recipe = docs[start..end]
        .replace("'smtps://user:password@relay.example.org'", &format!("'{}'", smtp.url()))
        .replace("/etc/newsroom/newsroom.env", &env_file.display().to_string());
    let made = Command::new("sh").args(["-e", "-c", &recipe]).output().unwrap();
    assert!(made.status.success(), "{recipe}\n{}", stderr(&made));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the secret is for its owner only: {mode:o}");
    let written = std::fs::read_to_string(&env_file).unwrap();
    let secret = written.lines().find_map(|line| line.strip_prefix("NEWSROOM_UNSUBSCRIBE_SECRET=")).unwrap_or_default();
    assert!(secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit()), "{written}");
    std::fs::write(&env_file, format!("{written}NEWSROOM_NOW={NOW}\n")).unwrap();
    let binary = assert_cmd::cargo::cargo_bin("newsroom");
    let bin_dir = binary.parent().unwrap();
    let script = repo_root().join("contrib/cron/newsroom-send");
    let output = cron(&script, bin_dir, &env_file, site.path());
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    let expected = smtp.count();
    assert!(expected > 0, "the relay received nothing: {}", stdout(&output));
    assert!(stdout(&output).contains(&format!("{expected} sent")), "{}", stdout(&output));

    // Run again (cron's next attempt after a crash): nobody is mailed twice.
    let again = cron(&script, bin_dir, &env_file, site.path());
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(smtp.count(), expected);
}

/// `ENV_FILE=newsroom.env`, a name without a slash, is the file in the
/// current folder: `.` alone would look for it on PATH (POSIX), and the
/// script stopped with "newsroom.env: not found".
#[test]
fn the_cron_script_reads_an_environment_file_named_without_a_folder() {
    let site = copy_example_site();
    let smtp = SmtpServer::start(Default::default());
    std::fs::write(
        site.path().join("newsroom.env"),
        format!("NEWSROOM_SMTP_URL={}\nNEWSROOM_UNSUBSCRIBE_SECRET={STRONG_SECRET}\nNEWSROOM_NOW={NOW}\n", smtp.url()),
    )
    .unwrap();
    let binary = assert_cmd::cargo::cargo_bin("newsroom");
    let output = Command::new("env")
        .arg("-i")
        .arg(format!("PATH={}:/usr/bin:/bin", binary.parent().unwrap().display()))
        .arg("ENV_FILE=newsroom.env")
        .arg(format!("SITE={}", site.path().display()))
        .arg(repo_root().join("contrib/cron/newsroom-send"))
        .current_dir(site.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}\n{}", stdout(&output), stderr(&output));
    assert!(smtp.count() > 0, "{}", stdout(&output));
}

/// The script as cron runs it: an empty environment but PATH (here the
/// test binary's folder), its two variables, no shell profile.
fn cron(script: &Path, bin_dir: &Path, env_file: &Path, site: &Path) -> std::process::Output {
    Command::new("env")
        .arg("-i")
        .arg(format!("PATH={}:/usr/bin:/bin", bin_dir.display()))
        .arg(format!("ENV_FILE={}", env_file.display()))
        .arg(format!("SITE={}", site.display()))
        .arg(script)
        .output()
        .unwrap()
}

/// docs/deploy.md's weekly site, from `init` to the CI job: the page's
/// shell lines run by `sh` as written, then the workflow's `digest send
/// --due` step (read from its YAML) with the job's three values, run on
/// the days of a week and the Monday after — one edition, to each reader
/// once, counted at the SMTP server; the other days say nothing is due.
/// The store is the PostgreSQL test server's when there is one.
#[test]
fn the_weekly_ci_recipe_of_deploy_md_sends_each_week_once() {
    let docs = std::fs::read_to_string(repo_root().join("docs/deploy.md")).unwrap();
    let block = |start: &str, fence: &str| -> String {
        let from = docs.find(start).unwrap_or_else(|| panic!("`{start}` in docs/deploy.md"));
        let code = &docs[from..];
        let code = &code[code.find(fence).unwrap() + fence.len()..];
        code[..code.find("```\n").unwrap()].to_string()
    };
    let script = block("A weekly site sent from that job", "```sh\n");
    let workflow: serde_yaml::Value = serde_yaml::from_str(&block("The CI job (GitHub Actions", "```yaml\n")).unwrap();
    let steps = workflow["jobs"]["send"]["steps"].as_sequence().expect("the job's steps");
    let send = steps
        .iter()
        .find(|step| step["run"].as_str().is_some_and(|run| run.contains("digest send")))
        .expect("the send step");
    let store = fresh_stores("the weekly CI recipe").pop().unwrap();
    let server = SmtpServer::start(Default::default());
    let values = |name: &str| match name {
        "NEWSROOM_STORE_URL" => store.location(),
        "NEWSROOM_UNSUBSCRIBE_SECRET" => STRONG_SECRET.to_string(),
        "NEWSROOM_SMTP_URL" => server.url(),
        other => panic!("the job needs {other}"),
    };
    let binary = assert_cmd::cargo::cargo_bin("newsroom");
    let path = format!("{}:/usr/bin:/bin", binary.parent().unwrap().display());
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .args(["-e", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("NEWSROOM_STORE_URL", values("NEWSROOM_STORE_URL"))
        .env("NEWSROOM_NOW", "2026-11-10T09:00:00Z")
        .output()
        .unwrap();
    assert!(output.status.success(), "{script}\n{}\n{}", stdout(&output), stderr(&output));
    let site = dir.path().join("my-blog");
    // A subscriber and a post in the week of 9-15 November 2026.
    std::fs::write(site.join("subscribers.csv"), "email,name,status\nreader@example.org,Reader,subscribed\n").unwrap();
    std::fs::write(
        site.join("posts/2026-11-11-midweek.md"),
        "---\ntitle: Midweek\nauthors: []\n---\nThe week's news.\n\n<!--truncate-->\n\nMore.\n",
    )
    .unwrap();
    let job = |now: &str| {
        let mut command = Command::new("sh");
        command.args(["-e", "-c", send["run"].as_str().unwrap()]).current_dir(&site).env("PATH", &path);
        for (name, _) in send["env"].as_mapping().expect("the step's env") {
            let name = name.as_str().unwrap();
            command.env(name, values(name));
        }
        let output = command.env("NEWSROOM_NOW", now).output().unwrap();
        assert!(output.status.success(), "{now}: {}", stderr(&output));
        stdout(&output)
    };
    for day in ["2026-11-12", "2026-11-13", "2026-11-14", "2026-11-15"] {
        let said = job(&format!("{day}T09:00:00Z"));
        assert!(said.contains("nothing is due") || said.contains("due: weekly/2026-W45"), "{day}: {said}");
    }
    let monday = job("2026-11-16T09:00:00Z");
    assert!(monday.contains("due: weekly/2026-W46"), "{monday}");
    assert!(job("2026-11-17T09:00:00Z").contains("nothing is due"));
    let midweek: Vec<_> = server
        .received()
        .into_iter()
        .filter(|m| String::from_utf8_lossy(&m.data).contains("midweek"))
        .map(|m| (m.recipient, m.message_id.split('.').next().unwrap().to_string()))
        .collect();
    assert_eq!(midweek, [("reader@example.org".to_string(), "<digest-weekly-2026-W46".to_string())]);
}
