//! `newsroom.yaml`: the site's configuration, as serde structs with defaults.
//!
//! Every key has a default except `site.title` and `site.url`. Unknown keys are
//! errors (a typo such as `feeds.limt` must not be silently ignored), reported
//! with the line and column serde_yaml gives.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// The name of the configuration file inside a site folder.
pub const CONFIG_FILE: &str = "newsroom.yaml";

/// A configuration file larger than this is refused before it is parsed.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole `newsroom.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Who publishes and where: title, base URL, blog path, feed-level metadata.
    pub site: SiteConfig,
    /// The posts folder, relative to the site folder.
    #[serde(default = "default_posts")]
    pub posts: PathBuf,
    /// What goes into the feeds.
    #[serde(default)]
    pub feeds: FeedsConfig,
    /// The monthly email digest.
    #[serde(default)]
    pub digest: DigestConfig,
    /// SMTP delivery of the digest.
    #[serde(default)]
    pub delivery: DeliveryConfig,
}

/// The `site:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    /// The site's name, used as the feeds' title. Required.
    pub title: String,
    /// Scheme and host, optionally a path: `https://example.org`. Required.
    pub url: String,
    /// Where the blog is published under `url`; posts and `public/` live here.
    #[serde(default = "default_blog_path")]
    pub blog_path: String,
    /// The feeds' description.
    #[serde(default = "default_description")]
    pub description: String,
    /// The feeds' language (an RFC 5646 tag).
    #[serde(default = "default_language")]
    pub language: String,
    /// A copyright line for the feeds; empty for none.
    #[serde(default)]
    pub copyright: String,
    /// The feed-level author, used for entries that name none.
    #[serde(default)]
    pub author: Option<SiteAuthor>,
}

/// `site.author`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SiteAuthor {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
}

/// Whether feed items carry the excerpt only or the whole post too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FeedContent {
    #[default]
    Excerpt,
    Full,
}

/// The `feeds:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedsConfig {
    /// Items per feed; 0 means all.
    #[serde(default = "default_limit")]
    pub limit: usize,
    /// `excerpt` (summary only) or `full` (summary plus the whole post).
    #[serde(default)]
    pub content: FeedContent,
    /// Whether to write a feed set per tag under `public/tags/<tag>/`.
    #[serde(default = "yes")]
    pub tags: bool,
    /// Whether `feed.xml` carries an XSLT stylesheet so browsers show it as a page.
    #[serde(default)]
    pub xslt: bool,
}

impl Default for FeedsConfig {
    fn default() -> Self {
        FeedsConfig { limit: default_limit(), content: FeedContent::Excerpt, tags: true, xslt: false }
    }
}

/// The `digest:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DigestConfig {
    /// The From header: `Name <address>`.
    #[serde(default = "default_from")]
    pub from: String,
    /// The Reply-To header; empty for none.
    #[serde(default)]
    pub reply_to: String,
    /// The subscriber CSV, relative to the site folder.
    #[serde(default = "default_subscribers")]
    pub subscribers: PathBuf,
    /// The List-Id header's identifier (RFC 2919).
    #[serde(default = "default_list_id")]
    pub list_id: String,
    /// The one-click unsubscribe URL; `{email}` and `{token}` are filled in per subscriber.
    #[serde(default = "default_unsubscribe_url")]
    pub unsubscribe_url: String,
    /// An address for `mailto:` unsubscribes; empty for none.
    #[serde(default)]
    pub unsubscribe_mailto: String,
    /// The sender's postal address, shown in every digest's footer.
    #[serde(default = "default_postal_address")]
    pub postal_address: String,
}

impl Default for DigestConfig {
    fn default() -> Self {
        DigestConfig {
            from: default_from(),
            reply_to: String::new(),
            subscribers: default_subscribers(),
            list_id: default_list_id(),
            unsubscribe_url: default_unsubscribe_url(),
            unsubscribe_mailto: String::new(),
            postal_address: default_postal_address(),
        }
    }
}

/// The `delivery:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// The SQLite ledger of a send, relative to the site folder.
    #[serde(default = "default_ledger")]
    pub ledger: PathBuf,
    /// SMTP connections used at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Messages per second; 0 means as fast as the relay accepts them.
    #[serde(default)]
    pub rate: f64,
    /// Seconds one SMTP step (each command, the message) may wait for the
    /// relay before the attempt counts as failed; connecting, greeting
    /// included, may take twice as long. A relay that accepts the connection
    /// and then says nothing is given up on after it. Fractions are fine.
    #[serde(default = "default_timeout", deserialize_with = "positive_seconds")]
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            ledger: default_ledger(),
            concurrency: default_concurrency(),
            rate: 0.0,
            timeout: default_timeout(),
        }
    }
}

fn default_posts() -> PathBuf {
    PathBuf::from("posts")
}
fn default_blog_path() -> String {
    "/blog".into()
}
fn default_description() -> String {
    "News from the community".into()
}
fn default_language() -> String {
    "en".into()
}
fn default_limit() -> usize {
    20
}
fn yes() -> bool {
    true
}
fn default_from() -> String {
    "Example Community <news@example.org>".into()
}
fn default_subscribers() -> PathBuf {
    PathBuf::from("subscribers.csv")
}
fn default_list_id() -> String {
    "news.example.org".into()
}
fn default_unsubscribe_url() -> String {
    "https://example.org/unsubscribe?email={email}&token={token}".into()
}
fn default_postal_address() -> String {
    "Example Org, 1 Main St, Springfield".into()
}
fn default_ledger() -> PathBuf {
    PathBuf::from(".newsroom/ledger.sqlite")
}
fn default_concurrency() -> usize {
    4
}
fn default_timeout() -> Duration {
    Duration::from_secs(30)
}

/// A number of seconds that is more than zero, as a duration.
fn positive_seconds<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let seconds = f64::deserialize(deserializer)?;
    Duration::try_from_secs_f64(seconds).ok().filter(|duration| !duration.is_zero()).ok_or_else(|| {
        serde::de::Error::custom(format!("delivery.timeout must be a positive number of seconds, not {seconds}"))
    })
}

/// A configuration problem with its place in the file, printed as `path:line:col: message`.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads `newsroom.yaml` from the site folder `root`.
    pub fn load(root: &Path) -> Result<Config> {
        let path = root.join(CONFIG_FILE);
        let size = std::fs::metadata(&path)
            .with_context(|| {
                format!("no `{}` in `{}` (use -C DIR to point at a site folder)", CONFIG_FILE, root.display())
            })?
            .len();
        if size > MAX_CONFIG_BYTES {
            bail!("`{}` is {size} bytes; a configuration file may be at most {MAX_CONFIG_BYTES}", path.display());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
        Ok(Config::parse(&text, Path::new(CONFIG_FILE))?)
    }

    /// Parses configuration text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut config: Config = serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
        config.normalise().map_err(|message| {
            let (line, column) = key_position(text, "url").unwrap_or((1, 1));
            ConfigError { path: path.to_path_buf(), line, column, message }
        })?;
        Ok(config)
    }

    fn normalise(&mut self) -> Result<(), String> {
        let url = url::Url::parse(self.site.url.trim())
            .map_err(|e| format!("site.url `{}` is not a URL: {e}", self.site.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!("site.url `{}` must be an http(s) URL with a host", self.site.url));
        }
        self.site.url = url.as_str().trim_end_matches('/').to_string();
        let path = self.site.blog_path.trim().trim_matches('/');
        self.site.blog_path = if path.is_empty() { String::new() } else { format!("/{path}") };
        if self.site.title.trim().is_empty() {
            return Err("site.title must not be empty".into());
        }
        Ok(())
    }

    /// The URL the blog and `public/` are published at, ending in `/`.
    pub fn blog_url(&self) -> String {
        format!("{}{}/", self.site.url, self.site.blog_path)
    }
}

/// Turns a serde_yaml error into `path:line:col: message`, without serde_yaml's
/// own " at line L column C" suffix (the position goes in front instead).
pub fn yaml_error(path: &Path, error: &serde_yaml::Error) -> ConfigError {
    let (line, column, message) = yaml_error_parts(error, 1);
    ConfigError { path: path.to_path_buf(), line, column, message }
}

/// The 1-based position and the bare message of a serde_yaml error.
/// `first_line` is the file line the YAML text starts on, so positions
/// mentioned inside the message ("while parsing … at line 1") are file lines too.
pub fn yaml_error_parts(error: &serde_yaml::Error, first_line: usize) -> (usize, usize, String) {
    let mut message = error.to_string();
    let position = match error.location() {
        Some(location) => {
            let suffix = format!(" at line {} column {}", location.line(), location.column());
            if let Some(at) = message.rfind(&suffix) {
                message.replace_range(at..at + suffix.len(), "");
            }
            (location.line() + first_line - 1, location.column())
        }
        None => (first_line, 1),
    };
    (position.0, position.1, shift_line_numbers(&message, first_line - 1))
}

/// Adds `offset` to every "line N" in a YAML parser message.
fn shift_line_numbers(message: &str, offset: usize) -> String {
    if offset == 0 {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        out.push_str(&rest[..at + 5]);
        rest = &rest[at + 5..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(line) => out.push_str(&(line + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// The position of a `key:`'s value in YAML text, found by its first occurrence
/// at the start of a line (optionally indented). serde_yaml's values carry no
/// positions, so semantic errors (a bad URL, an impossible date) are placed this way.
pub fn key_position(text: &str, key: &str) -> Option<(usize, usize)> {
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key)
            && let Some(value) = rest.trim_start().strip_prefix(':')
        {
            let value_offset = line.len() - value.trim_start().len();
            let column = line[..value_offset].chars().count() + 1;
            return Some((index + 1, column));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("newsroom.yaml"))
    }

    #[test]
    fn defaults_fill_everything_but_title_and_url() {
        let config = parse("site:\n  title: T\n  url: https://example.org/\n").unwrap();
        assert_eq!(config.site.url, "https://example.org");
        assert_eq!(config.site.blog_path, "/blog");
        assert_eq!(config.feeds.limit, 20);
        assert_eq!(config.delivery.concurrency, 4);
        assert_eq!(config.blog_url(), "https://example.org/blog/");
    }

    #[test]
    fn unknown_key_is_an_error_with_its_position() {
        let error = parse("site:\n  title: T\n  url: https://example.org\nfeeds:\n  limt: 3\n").unwrap_err();
        assert_eq!((error.line, error.column), (5, 3), "{error}");
        assert!(error.message.contains("unknown field `limt`"), "{error}");
    }

    #[test]
    fn the_smtp_timeout_is_positive_seconds_with_a_default() {
        let base = "site:\n  title: T\n  url: https://example.org\n";
        assert_eq!(parse(base).unwrap().delivery.timeout, Duration::from_secs(30));
        let config = parse(&format!("{base}delivery:\n  timeout: 0.25\n")).unwrap();
        assert_eq!(config.delivery.timeout, Duration::from_millis(250));
        for bad in ["0", "-1", ".nan", "1e300"] {
            let error = parse(&format!("{base}delivery:\n  timeout: {bad}\n")).unwrap_err();
            assert_eq!(error.line, 5, "{bad}: {error}");
            assert!(error.message.contains("delivery.timeout must be a positive number of seconds"), "{error}");
        }
    }

    #[test]
    fn missing_title_is_named() {
        let error = parse("site:\n  url: https://example.org\n").unwrap_err();
        assert!(error.message.contains("missing field `title`"), "{error}");
    }

    #[test]
    fn a_url_without_host_is_refused() {
        let error = parse("site:\n  title: T\n  url: example.org\n").unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.contains("site.url"), "{error}");
    }
}
