//! `newsroom init`: a starter site, so that a new user's first
//! configuration is one that works and explains every key.
//!
//! It writes `newsroom.yaml` (every key, the optional ones commented out
//! with their defaults), an example post with the truncate marker,
//! `posts/authors.yml`, the built-in `templates/`, a `subscribers.csv` with
//! its header and a `.gitignore`. It never overwrites: if any of those
//! files exists, nothing is written.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{CONFIG_FILE, ConfigError, ConfigErrors};
use crate::email::template::{DEFAULT_DIGEST_MD, DEFAULT_EMAIL_CSS};

const CONFIG: &str = include_str!("newsroom.yaml");
const WELCOME_POST: &str = include_str!("welcome.md");
const AUTHORS: &str = include_str!("authors.yml");
const GITIGNORE: &str = include_str!("gitignore");
const SUBSCRIBERS: &str = "email,name,status\n";

/// The files of a starter site for `title` at `url`, each with its path
/// in the site folder. The example post is dated on the first day of the
/// month before `today`'s: that month is finished, so the default `digest
/// preview` (the previous month) shows it, and `digest send` may send it.
pub fn starter_files(title: &str, url: &str, today: DateTime<Utc>) -> Vec<(PathBuf, String)> {
    // JSON strings are YAML double-quoted scalars: any title is safe in them.
    let quoted = |text: &str| serde_json::to_string(text).expect("a string serialises");
    let config = CONFIG.replace("{title}", &quoted(title)).replace("{url}", &quoted(url));
    let post =
        WELCOME_POST.replace("{welcome_title}", &quoted(&format!("Welcome to {title}"))).replace("{title}", title);
    vec![
        (PathBuf::from(CONFIG_FILE), config),
        (PathBuf::from(format!("posts/{}-01-welcome.md", crate::digest::Month::previous(today))), post),
        (PathBuf::from("posts/authors.yml"), AUTHORS.to_string()),
        (PathBuf::from("templates/digest.md"), DEFAULT_DIGEST_MD.to_string()),
        (PathBuf::from("templates/email.css"), DEFAULT_EMAIL_CSS.to_string()),
        (PathBuf::from("templates/confirm.md"), crate::email::confirm::DEFAULT_CONFIRM_MD.to_string()),
        (PathBuf::from("subscribers.csv"), SUBSCRIBERS.to_string()),
        (PathBuf::from(".gitignore"), GITIGNORE.to_string()),
    ]
}

/// Writes the starter site into `dir` (created when missing) and returns
/// the files written. Refuses, writing nothing, if any of them exists: a
/// usage error naming each.
pub fn init(dir: &Path, title: &str, url: &str, today: DateTime<Utc>) -> Result<Vec<PathBuf>> {
    let files = starter_files(title, url, today);
    let existing: Vec<ConfigError> = files
        .iter()
        .map(|(relative, _)| dir.join(relative))
        .filter(|path| path.symlink_metadata().is_ok())
        .map(|path| {
            ConfigError::new(&path, (1, 1), "already exists; `newsroom init` never overwrites (nothing was written)")
        })
        .collect();
    if !existing.is_empty() {
        return Err(ConfigErrors(existing).into());
    }
    let mut written = Vec::with_capacity(files.len());
    for (relative, text) in files {
        let path = dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        // `create_new`: a file that appeared since the check above is not overwritten either.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("failed to create `{}`", path.display()))?;
        std::io::Write::write_all(&mut file, text.as_bytes())
            .with_context(|| format!("failed to write `{}`", path.display()))?;
        written.push(relative);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn today() -> DateTime<Utc> {
        "2026-12-04T10:00:00Z".parse().unwrap()
    }

    /// The starter configuration parses, whatever the title, and its
    /// commented-out keys, uncommented, are a valid configuration that sets
    /// every key newsroom knows: so each is explained, with a real value.
    #[test]
    fn the_starter_configuration_explains_every_key() {
        let files = starter_files("Ada's: \"Blog\" #1", "https://ada.example.org/news", today());
        let config = Config::parse(&files[0].1, Path::new("newsroom.yaml")).unwrap();
        assert_eq!(config.site.title, "Ada's: \"Blog\" #1");
        assert_eq!(config.blog_url(), "https://ada.example.org/news/blog/");
        assert!(config.digest.from.is_none() && config.digest.postal_address.is_none());
        let uncommented: String = files[0]
            .1
            .lines()
            .map(|line| {
                // A commented key line, `# key: value`: the indentation before
                // the `#` and after `# ` together are the key's.
                let indent = &line[..line.len() - line.trim_start().len()];
                let is_key = |rest: &str| {
                    rest.trim_start().split_once(':').is_some_and(|(key, _)| {
                        !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                };
                match line.trim_start().strip_prefix("# ") {
                    Some(rest) if is_key(rest) => format!("{indent}{rest}\n"),
                    _ => format!("{line}\n"),
                }
            })
            .collect();
        let full =
            Config::parse(&uncommented, Path::new("newsroom.yaml")).unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert!(full.digest.missing_for_sending().is_empty());
        assert!(full.site.author.is_some() && full.digest.subscribers.is_some());
        assert!(full.delivery.return_path.is_some());
        for key in [
            "blog_path",
            "description",
            "language",
            "copyright",
            "author",
            "posts",
            "limit",
            "content",
            "tags",
            "xslt",
            "from",
            "postal_address",
            "unsubscribe_url",
            "unsubscribe_mailto",
            "reply_to",
            "subscribers",
            "list_id",
            "public_url",
            "store",
            "concurrency",
            "rate",
            "timeout",
            "stop_after_identical_refusals",
            "return_path",
            "bounces",
        ] {
            assert!(uncommented.contains(&format!("{key}:")), "{key} is not explained");
        }
    }

    #[test]
    fn init_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("templates")).unwrap();
        std::fs::write(dir.path().join("templates/email.css"), "mine").unwrap();
        let error = init(dir.path(), "T", "https://t.example.org", today()).unwrap_err();
        assert!(format!("{error}").contains("templates/email.css:1:1: error: already exists"), "{error}");
        assert!(!dir.path().join(CONFIG_FILE).exists(), "something was written");
        assert_eq!(std::fs::read_to_string(dir.path().join("templates/email.css")).unwrap(), "mine");
    }
}
