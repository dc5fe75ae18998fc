//! `newsroom.yaml`: the site's configuration, as serde structs with defaults.
//!
//! Every key has a default except `site.title` and `site.url`, and the three
//! a digest cannot be sent without ([`KEYS_REQUIRED_FOR_SENDING`]), which
//! have none on purpose. Unknown keys are errors (a typo such as
//! `feeds.limt` must not be silently ignored). Every problem is reported at
//! once, each as `newsroom.yaml:line:col`, so fixing a configuration takes
//! one round trip: each top-level section is read on its own, and the values
//! serde accepts are then checked (URLs, addresses) where they are written.
//!
//! Longer than the house's ~600 lines on purpose: it is the schema of one
//! file, each section's struct beside its defaults and its checks, so that
//! a key is read, defaulted and validated in one place; a section with
//! logic of its own has its own file (`editions`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::Mailbox;
use serde::Deserialize;

pub use crate::error::{ConfigError, ConfigErrors};
mod editions;
mod topics;

pub use editions::{CatchUp, EditionsConfig, PerPostContent};
pub use topics::{Topic, Topics, Untagged};

use crate::limits::MAX_CONFIG_BYTES;
use crate::yaml;

/// The name of the configuration file inside a site folder.
pub const CONFIG_FILE: &str = "newsroom.yaml";

/// The whole `newsroom.yaml`, checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Who publishes and where: title, base URL, blog path, feed-level metadata.
    pub site: SiteConfig,
    /// The posts folder, relative to the site folder.
    pub posts: PathBuf,
    /// What goes into the feeds.
    pub feeds: FeedsConfig,
    /// The monthly email digest.
    pub digest: DigestConfig,
    /// SMTP delivery of the digest.
    pub delivery: DeliveryConfig,
    /// The store's database file, relative to the site folder, when set.
    pub store: Option<PathBuf>,
    /// `newsroom serve`.
    pub serve: ServeConfig,
    /// `newsroom inbound`.
    pub inbound: InboundConfig,
    /// What readers can choose the digest to be about ([`topics`]).
    pub topics: Topics,
    /// The text it was read from, to place problems found later (a file
    /// it names that is missing) at their key.
    text: String,
    /// Where the text came from, for those messages.
    path: PathBuf,
}

/// The top-level sections as written. Each is optional here so that one
/// section's problems do not hide another's; `site` is required afterwards.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Sections {
    site: Option<SiteConfig>,
    posts: Option<PathBuf>,
    feeds: Option<FeedsConfig>,
    digest: Option<DigestText>,
    delivery: Option<DeliveryConfig>,
    store: Option<PathBuf>,
    serve: Option<ServeConfig>,
    inbound: Option<InboundConfig>,
    topics: Option<topics::TopicsText>,
}

impl Sections {
    /// Takes the sections `other` has (each section is read on its own).
    fn merge(&mut self, other: Sections) {
        self.site = self.site.take().or(other.site);
        self.posts = self.posts.take().or(other.posts);
        self.feeds = self.feeds.take().or(other.feeds);
        self.digest = self.digest.take().or(other.digest);
        self.delivery = self.delivery.take().or(other.delivery);
        self.store = self.store.take().or(other.store);
        self.serve = self.serve.take().or(other.serve);
        self.inbound = self.inbound.take().or(other.inbound);
        self.topics = self.topics.take().or(other.topics);
    }
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

/// The `digest:` section, checked: every value here is one a message can
/// carry. The sender's address, postal address and unsubscribe URL have no
/// default: a digest to real people must never carry an address the
/// operator did not write, so `digest send` refuses to start without them
/// ([`DigestConfig::missing_for_sending`]) and `check` and `preview` warn.
#[derive(Debug, Clone, Default)]
pub struct DigestConfig {
    /// The From header: `Name <address>`.
    pub from: Option<Mailbox>,
    /// The Reply-To header.
    pub reply_to: Option<Mailbox>,
    /// The subscriber CSV, relative to the site folder, when configured.
    pub subscribers: Option<PathBuf>,
    /// The List-Id header's identifier (RFC 2919); by default the host of `site.url`.
    pub list_id: String,
    /// The one-click unsubscribe URL; `{email}` and `{token}` are filled in per subscriber.
    pub unsubscribe_url: Option<String>,
    /// An address for `mailto:` unsubscribes.
    pub unsubscribe_mailto: Option<String>,
    /// The unsubscribe address takes `+tag`s (`unsubscribe+TOKEN@…`
    /// reaches it): the reader's token goes there, not in the subject.
    pub unsubscribe_mailto_plus_addressing: bool,
    /// The sender's postal address, shown in every digest's footer.
    pub postal_address: Option<String>,
    /// Which cadences the site sends, and when their periods end.
    pub editions: EditionsConfig,
    /// Where a post no topic claims goes (`digest.untagged`).
    pub untagged: Untagged,
}

/// `digest:` as written: text, checked into a [`DigestConfig`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DigestText {
    from: Option<String>,
    reply_to: Option<String>,
    subscribers: Option<PathBuf>,
    list_id: Option<String>,
    unsubscribe_url: Option<String>,
    unsubscribe_mailto: Option<String>,
    #[serde(default)]
    unsubscribe_mailto_plus_addressing: bool,
    postal_address: Option<String>,
    cadence: Option<String>,
    cadences: Option<Vec<String>>,
    week_starts: Option<String>,
    min_posts: Option<u32>,
    send_at: Option<String>,
    catch_up: Option<String>,
    per_post_content: Option<String>,
    untagged: Option<String>,
}

/// The subscriber file when `digest.subscribers` is not set.
pub const DEFAULT_SUBSCRIBERS: &str = "subscribers.csv";
/// The store file, when the configuration names none.
pub const DEFAULT_STORE: &str = ".newsroom/newsroom.sqlite";
/// The ledger file of releases before the store, taken over when found.
pub const LEGACY_LEDGER: &str = ".newsroom/ledger.sqlite";

/// The keys a digest cannot be sent without.
pub const KEYS_REQUIRED_FOR_SENDING: [&str; 3] = ["digest.from", "digest.postal_address", "digest.unsubscribe_url"];

impl DigestConfig {
    /// The subscriber file, relative to the site folder.
    pub fn subscribers_path(&self) -> &Path {
        self.subscribers.as_deref().unwrap_or(Path::new(DEFAULT_SUBSCRIBERS))
    }

    /// The keys of [`KEYS_REQUIRED_FOR_SENDING`] that are not set.
    pub fn missing_for_sending(&self) -> Vec<&'static str> {
        let set = [self.from.is_some(), self.postal_address.is_some(), self.unsubscribe_url.is_some()];
        KEYS_REQUIRED_FOR_SENDING.into_iter().zip(set).filter(|(_, set)| !set).map(|(key, _)| key).collect()
    }

    /// `digest.unsubscribe_url` when it is an `http://` address on this
    /// machine ([`crate::urls::is_local_trial`]): fine for `serve` and
    /// `digest preview`, refused by `digest send`.
    pub fn local_unsubscribe_url(&self) -> Option<&str> {
        self.unsubscribe_url.as_deref().filter(|pattern| is_local_trial_pattern(pattern))
    }
    /// What follows `mailto:` in List-Unsubscribe, with `{token}` for the
    /// reader's token: in the subject (`unsubscribe@…?subject=unsubscribe%20{token}`),
    /// or with plus-addressing in the address (`unsubscribe+{token}@…?subject=unsubscribe`).
    pub fn unsubscribe_mailto_uri(&self) -> Option<String> {
        let mailto = self.unsubscribe_mailto.as_deref()?;
        match mailto.rsplit_once('@') {
            Some((local, domain)) if self.unsubscribe_mailto_plus_addressing => {
                Some(format!("{local}+{{token}}@{domain}?subject=unsubscribe"))
            }
            _ => Some(format!("{mailto}?subject=unsubscribe%20{{token}}")),
        }
    }
}

/// The `inbound:` section: how `newsroom inbound` trusts mail.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundConfig {
    /// The authserv-id your own MTA writes in `Authentication-Results`
    /// (RFC 8601; usually its host name, such as `mx.example.org`): a mail
    /// to the unsubscribe address without a token that verifies is acted
    /// on only when those results show `dmarc=pass` or an aligned
    /// `dkim=pass` for its From. Unset: such mail is never acted on.
    #[serde(default)]
    pub authserv_id: Option<String>,
}

/// The `serve:` section: the web service readers reach (sign-up,
/// unsubscribe), behind a TLS-terminating proxy.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// The https address readers see, such as `https://news.example.org`
    /// (or http on a loopback host, to try `serve` and `digest preview`
    /// locally; `digest send` refuses that).
    #[serde(default)]
    pub public_url: Option<String>,
    /// The address and port `serve` listens on (`--listen` wins); default
    /// `127.0.0.1:8080`, behind the TLS proxy.
    #[serde(default)]
    pub listen: Option<String>,
    /// Requests a second one client may make, with bursts of twice as
    /// many; default 50. Mail providers send one-click unsubscribes from a
    /// few addresses, so keep it well above a person's pace.
    #[serde(default)]
    pub requests_per_second: Option<u32>,
    /// The proxies whose `X-Forwarded-For` names the client: addresses or
    /// CIDR ranges; default loopback (`127.0.0.0/8`, `::1/128`), where the
    /// TLS proxy runs. `[]`: the peer is always the client.
    #[serde(default)]
    pub trusted_proxies: Option<Vec<String>>,
    /// The prefix length an IPv6 client is limited by; default 64 (a site's
    /// network: one host may use any address of it).
    #[serde(default)]
    pub ipv6_prefix: Option<u8>,
    /// Connections open at once; default from the file-descriptor limit
    /// (raised to the hard limit at start), less a headroom for the store
    /// and the relay. When full, the oldest connection with no request in
    /// flight is closed first.
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Connections open at once from one peer that is not a trusted proxy;
    /// default 64.
    #[serde(default)]
    pub max_connections_per_client: Option<usize>,
    /// How often, in seconds, the rate limiters forget the clients (and
    /// mailboxes, domains) whose limit is full again; default 60. A client
    /// seen once costs memory until then, so a flood from millions of
    /// addresses is given back within this time.
    #[serde(default)]
    pub prune_every_seconds: Option<u64>,
    /// Limits on sign-ups, against floods of confirmations.
    #[serde(default)]
    pub signup: SignUpLimitsConfig,
}

/// `serve.signup:` what stands between the sign-up form and the relay
/// (besides one confirmation an hour per mailbox).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignUpLimitsConfig {
    /// Sign-ups an hour in all; default 600. Past it: `429`, and a log line.
    #[serde(default)]
    pub confirmations_per_hour: Option<u32>,
    /// Sign-ups an hour to one domain (`gmail.com`); default 300.
    #[serde(default)]
    pub per_domain_per_hour: Option<u32>,
}

/// The `delivery:` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Deprecated: the store's file (`store:`), by its name from before the store.
    #[serde(default)]
    pub ledger: Option<PathBuf>,
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
    /// A send stops when this many recipients in a row get the same
    /// permanent refusal (the relay refuses everyone), leaving the rest
    /// pending instead of marking the whole list failed; 0 never stops.
    #[serde(default = "default_refusal_limit")]
    pub stop_after_identical_refusals: usize,
    /// DKIM signing of every message newsroom makes (RFC 6376): one key,
    /// or a list of keys (an RSA key and an Ed25519 one: dual signing, so a
    /// receiver that does not know Ed25519 still finds a signature it verifies).
    #[serde(default, deserialize_with = "one_or_many")]
    pub dkim: Vec<DkimConfig>,
    /// The envelope sender of every message, a VERP address such as
    /// `bounces+{token}@example.org`: `{token}` names the subscriber and the
    /// digest, signed, so `newsroom inbound` can tell whose mail came back.
    /// Unset, the envelope sender is the From address.
    #[serde(default)]
    pub return_path: Option<String>,
    /// When returned mail makes a subscriber `bounced`.
    #[serde(default)]
    pub bounces: BouncePolicy,
}

/// `delivery.bounces`: how many hard bounces, or soft bounces within
/// `soft_window_days`, make a subscriber `bounced` (not mailed again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BouncePolicy {
    #[serde(default = "one")]
    pub hard: u32,
    #[serde(default = "three")]
    pub soft: u32,
    #[serde(default = "thirty")]
    pub soft_window_days: u32,
}

impl Default for BouncePolicy {
    fn default() -> Self {
        BouncePolicy { hard: one(), soft: three(), soft_window_days: thirty() }
    }
}

/// A mapping, or a list of them.
fn one_or_many<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::One(one)) => vec![one],
        Some(OneOrMany::Many(many)) => many,
    })
}

fn one() -> u32 {
    1
}
fn three() -> u32 {
    3
}
fn thirty() -> u32 {
    30
}

impl DeliveryConfig {
    /// The VERP envelope sender for `token`, when `delivery.return_path` is set.
    pub fn return_path(&self, token: &str) -> Option<String> {
        self.return_path.as_ref().map(|pattern| pattern.replace("{token}", token))
    }

    /// The parts of `delivery.return_path` around `{token}`: what an
    /// address that came back must start and end with.
    pub fn return_path_parts(&self) -> Option<(&str, &str)> {
        self.return_path.as_deref()?.split_once("{token}")
    }
}

/// `delivery.return_path`'s rules: one `{token}`, in the local part, and an
/// address once it is filled in (with the longest token a digest makes).
fn check_return_path(pattern: &str) -> Result<(), String> {
    let problem = |why: &str| Err(format!("delivery.return_path `{pattern}` {why}"));
    if pattern.matches("{token}").count() != 1 {
        return problem("must hold `{token}` once, as in bounces+{token}@example.org");
    }
    let Some((local, _domain)) = pattern.rsplit_once('@') else {
        return problem("is not an address such as bounces+{token}@example.org");
    };
    if !local.contains("{token}") {
        return problem("must have `{token}` before the @, in the local part");
    }
    let longest = local.replace("{token}", &format!("{}-209912-{}", i32::MAX, "0".repeat(24)));
    if longest.len() > 64 {
        return problem("leaves too little room for the token: a local part is at most 64 characters (RFC 5321)");
    }
    match pattern.replace("{token}", "1-202610-0123456789abcdef01234567").parse::<lettre::Address>() {
        Ok(_) => Ok(()),
        Err(_) => problem("is not an address once `{token}` is filled in"),
    }
}

/// `delivery.dkim`: the signing domain (`d=`), the selector (`s=`) and the
/// private key, a PEM file (RSA of 2048 bits or more, or Ed25519).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimConfig {
    pub domain: String,
    pub selector: String,
    /// Relative to the site folder.
    pub key: PathBuf,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            ledger: None,
            concurrency: default_concurrency(),
            rate: 0.0,
            timeout: default_timeout(),
            stop_after_identical_refusals: default_refusal_limit(),
            dkim: Vec::new(),
            return_path: None,
            bounces: BouncePolicy::default(),
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
fn default_concurrency() -> usize {
    4
}
fn default_refusal_limit() -> usize {
    50
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

impl Config {
    /// Reads `newsroom.yaml` from the site folder `root`. Every problem is
    /// in the error, each at its place.
    pub fn load(root: &Path) -> Result<Config, ConfigErrors> {
        let path = root.join(CONFIG_FILE);
        let whole_file = |message: String| ConfigErrors::from(ConfigError::new(CONFIG_FILE, (1, 1), message));
        let size = match std::fs::metadata(&path) {
            Ok(metadata) => metadata.len(),
            Err(_) => {
                return Err(whole_file(format!(
                    "no `{CONFIG_FILE}` in `{}` (use -C DIR to point at a site folder, or `newsroom init` to make one)",
                    root.display()
                )));
            }
        };
        if size > MAX_CONFIG_BYTES {
            return Err(whole_file(format!(
                "the file is {size} bytes; a configuration file may be at most {MAX_CONFIG_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|error| whole_file(format!("failed to read `{}`: {error}", path.display())))?;
        Config::parse(&text, Path::new(CONFIG_FILE))
    }

    /// Parses configuration text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let error = |position: (usize, usize), message: String| ConfigError::new(path, position, message);
        // A syntax error leaves nothing to read the sections from: it is the only problem reported.
        let document: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(path, text, &e))?;
        if !matches!(document, serde_yaml::Value::Mapping(_)) {
            return Err(error(
                (1, 1),
                "the configuration must be a mapping of sections, with at least `site:` holding `title:` and `url:`"
                    .into(),
            )
            .into());
        }
        let mut errors = Vec::new();
        let sections = match serde_yaml::from_str::<Sections>(text) {
            Ok(sections) => sections,
            Err(first) => {
                let (sections, found) = parse_sections_apart(text, path);
                if found.is_empty() {
                    errors.push(yaml_error(path, text, &first));
                }
                errors.extend(found);
                sections
            }
        };
        let position = |section: &str, key: &str| {
            yaml::section_key_position(text, section, key)
                .or_else(|| yaml::section_key_position(text, section, ""))
                .unwrap_or((1, 1))
        };
        let mut site = match sections.site {
            Some(site) => Some(site),
            None if errors.iter().any(|e| e.message.starts_with("site:")) => None,
            None => {
                errors.push(error((1, 1), "missing `site:` section: `site.title` and `site.url` are required".into()));
                None
            }
        };
        if let Some(site) = &mut site {
            for (key, message) in site.normalise() {
                errors.push(error(position("site", key), message));
            }
        }
        let mut serve = sections.serve.unwrap_or_default();
        if let Some(url) = serve.public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            match url::Url::parse(url) {
                Ok(parsed) if crate::urls::is_reader_url(&parsed) => {
                    serve.public_url = Some(parsed.as_str().trim_end_matches('/').to_string());
                }
                _ => errors.push(error(
                    position("serve", "public_url"),
                    format!("serve.public_url `{url}` must be an https URL with a host (readers reach it through your TLS proxy; http:// is accepted only on this machine, for a host such as 127.0.0.1, [::1] or localhost)"),
                )),
            }
        } else {
            serve.public_url = None;
        }
        let mut digest = sections.digest.unwrap_or_default();
        // Without an unsubscribe URL of its own, a site that runs `serve`
        // gets serve's: opaque tokens, no address in the URL.
        if digest.unsubscribe_url.as_deref().is_none_or(|u| u.trim().is_empty())
            && let Some(public) = &serve.public_url
        {
            digest.unsubscribe_url = Some(format!("{public}/unsubscribe/{{token}}"));
        }
        let host = site.as_ref().and_then(|site| url::Url::parse(&site.url).ok()?.host_str().map(str::to_owned));
        let digest = match digest.check(host.as_deref().unwrap_or("localhost")) {
            Ok(digest) => digest,
            Err(problems) => {
                for (key, message) in problems {
                    errors.push(error(position("digest", key), message));
                }
                DigestConfig::default()
            }
        };
        let topics = match topics::check(sections.topics.unwrap_or_default()) {
            Ok(topics) => topics,
            Err(problems) => {
                for (key, message) in problems {
                    errors.push(error(position("topics", &key), message));
                }
                Topics::default()
            }
        };
        let mut delivery = sections.delivery.unwrap_or_default();
        delivery.return_path = delivery.return_path.map(|p| p.trim().to_string()).filter(|p| !p.is_empty());
        if let Some(pattern) = &delivery.return_path
            && let Err(problem) = check_return_path(pattern)
        {
            errors.push(error(position("delivery", "return_path"), problem));
        }
        if delivery.bounces.hard == 0 || delivery.bounces.soft == 0 || delivery.bounces.soft_window_days == 0 {
            errors.push(error(
                position("delivery", "bounces"),
                "delivery.bounces: hard, soft and soft_window_days must each be 1 or more".into(),
            ));
        }
        match site {
            Some(site) if errors.is_empty() => Ok(Config {
                site,
                posts: sections.posts.unwrap_or_else(default_posts),
                feeds: sections.feeds.unwrap_or_default(),
                digest,
                delivery,
                store: sections.store,
                serve,
                inbound: InboundConfig {
                    authserv_id: sections
                        .inbound
                        .and_then(|inbound| inbound.authserv_id)
                        .map(|id| id.trim().to_string())
                        .filter(|id| !id.is_empty()),
                },
                topics,
                text: text.to_string(),
                path: path.to_path_buf(),
            }),
            _ => {
                errors.sort_by_key(|e| (e.line, e.column));
                errors.dedup();
                Err(ConfigErrors(errors))
            }
        }
    }

    /// The URL the blog and `public/` are published at, ending in `/`.
    pub fn blog_url(&self) -> String {
        format!("{}{}/", self.site.url, self.site.blog_path)
    }

    /// The sign-up form `serve` offers readers (`{serve.public_url}/subscribe`),
    /// when the configuration has what its confirmation message needs
    /// (`digest.from`, `digest.postal_address`); `serve` still needs
    /// `NEWSROOM_SMTP_URL` when it runs.
    pub fn signup_url(&self) -> Option<String> {
        let public_url = self.serve.public_url.as_deref()?;
        let needed = self.digest.missing_for_sending().into_iter().all(|key| key == "digest.unsubscribe_url");
        needed.then(|| format!("{public_url}/subscribe"))
    }

    /// Whether the file has a top-level `section:`.
    pub fn has_section(&self, section: &str) -> bool {
        yaml::section_key_position(&self.text, section, "").is_some()
    }

    /// A problem with `section.key` (or the section, or the file, where the
    /// key is not written), placed where it is written.
    /// The `http://` loopback addresses (accepted so that `serve` and
    /// `digest preview` can be tried without a TLS proxy) that a digest to
    /// readers would carry: `digest send` refuses each, `check` warns.
    pub fn local_trial_urls(&self) -> Vec<ConfigError> {
        let why = "is an http:// address on this machine: `serve` and `digest preview` accept it for trying things locally, but no reader can open it, so `digest send` refuses it; set the https address readers reach";
        let mut problems = Vec::new();
        let public = self.serve.public_url.as_deref().filter(|url| crate::urls::is_local_trial(url));
        if let Some(url) = public {
            problems.push(self.error_at("serve", "public_url", format!("serve.public_url `{url}` {why}")));
        }
        let own =
            self.digest.local_unsubscribe_url().filter(|url| public.is_none_or(|public| !url.starts_with(public)));
        if let Some(url) = own {
            problems.push(self.error_at("digest", "unsubscribe_url", format!("digest.unsubscribe_url `{url}` {why}")));
        }
        problems
    }

    pub fn error_at(&self, section: &str, key: &str, message: impl Into<String>) -> ConfigError {
        let written = match key {
            // A top-level key's own value (`posts: nowhere`).
            "" => yaml::key_position(&self.text, section),
            key => yaml::section_key_position(&self.text, section, key),
        };
        let position = written.or_else(|| yaml::section_key_position(&self.text, section, "")).unwrap_or((1, 1));
        ConfigError::new(&self.path, position, message)
    }
}

/// Reads each top-level section on its own, so that every section's first
/// problem is found, not only the file's first. Each section is read from
/// the whole text with the other sections' lines blanked out, so positions
/// stay those of the file. A file whose top level is not one `key:` line per
/// section (a flow mapping, say) gives no problems here, and the caller
/// reports the whole file's first one.
fn parse_sections_apart(text: &str, path: &Path) -> (Sections, Vec<ConfigError>) {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = (0..lines.len()).filter(|&index| yaml::is_top_level_key(lines[index])).collect();
    let mut sections = Sections::default();
    let mut errors = Vec::new();
    // Lines before the first section (comments, `---`) belong to none.
    if lines[..starts.first().copied().unwrap_or(lines.len())]
        .iter()
        .any(|line| !(line.trim().is_empty() || line.trim_start().starts_with('#') || line.trim() == "---"))
    {
        return (sections, errors);
    }
    for (index, &start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(lines.len());
        let masked: String = lines
            .iter()
            .enumerate()
            .map(|(at, line)| if (start..end).contains(&at) { *line } else { "" })
            .collect::<Vec<_>>()
            .join("\n");
        match serde_yaml::from_str::<Sections>(&masked) {
            Ok(section) => sections.merge(section),
            Err(error) => errors.push(yaml_error(path, &masked, &error)),
        }
    }
    (sections, errors)
}

/// Turns a serde_yaml error into a [`ConfigError`] at its place, with a
/// hint where the cause is a common one.
fn yaml_error(path: &Path, text: &str, error: &serde_yaml::Error) -> ConfigError {
    let (line, column, message) = yaml::error_parts(error, text, 1);
    ConfigError::new(path, (line, column), message)
}

impl SiteConfig {
    /// Checks and normalises the site's URL, path and title; each problem with its key.
    fn normalise(&mut self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match url::Url::parse(self.url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {
                self.url = url.as_str().trim_end_matches('/').to_string();
            }
            Ok(_) => problems.push(("url", format!("site.url `{}` must be an http(s) URL with a host", self.url))),
            Err(e) => problems.push(("url", format!("site.url `{}` is not a URL: {e}", self.url))),
        }
        let path = self.blog_path.trim().trim_matches('/');
        self.blog_path = if path.is_empty() { String::new() } else { format!("/{path}") };
        if self.title.trim().is_empty() {
            problems.push(("title", "site.title must not be empty".into()));
        }
        problems
    }
}

impl DigestText {
    /// Checks every value a message will carry; each problem with its key.
    /// `site_host` makes the default List-Id.
    fn check(self, site_host: &str) -> Result<DigestConfig, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        // An empty value is the same as none.
        let given = |value: Option<String>| value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut mailbox = |key: &'static str, value: Option<String>| -> Option<Mailbox> {
            let text = given(value)?;
            match text.parse::<Mailbox>() {
                // A control character in the name makes a header lettre cannot read back.
                Ok(mailbox) if mailbox.name.as_deref().is_some_and(|n| n.chars().any(char::is_control)) => {
                    problems
                        .push((key, format!("digest.{key}: the name has a control character (a line break, a tab)")));
                    None
                }
                Ok(mailbox) => Some(mailbox),
                Err(_) => {
                    problems.push((
                        key,
                        format!("digest.{key} `{text}` is not an address such as \"Name <news@example.org>\""),
                    ));
                    None
                }
            }
        };
        let from = mailbox("from", self.from);
        let reply_to = mailbox("reply_to", self.reply_to);
        let list_id = given(self.list_id).unwrap_or_else(|| site_host.to_string());
        if !list_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
            problems.push((
                "list_id",
                format!("digest.list_id `{list_id}` must be a domain-like name such as news.example.org"),
            ));
        }
        let unsubscribe_url = given(self.unsubscribe_url);
        if let Some(pattern) = &unsubscribe_url
            && let Err(problem) = check_unsubscribe_url(pattern)
        {
            problems.push(("unsubscribe_url", problem));
        }
        let unsubscribe_mailto = given(self.unsubscribe_mailto);
        if let Some(text) = &unsubscribe_mailto
            && text.parse::<lettre::Address>().is_err()
        {
            problems.push(("unsubscribe_mailto", format!("digest.unsubscribe_mailto `{text}` is not an address")));
        }
        let editions = editions::EditionsText {
            cadence: self.cadence,
            cadences: self.cadences,
            week_starts: self.week_starts,
            min_posts: self.min_posts,
            send_at: self.send_at,
            catch_up: self.catch_up,
            per_post_content: self.per_post_content,
        }
        .check()
        .unwrap_or_else(|found| {
            problems.extend(found);
            EditionsConfig::default()
        });
        let untagged: Untagged = editions::parsed(&mut problems, "untagged", given(self.untagged)).unwrap_or_default();
        let digest = DigestConfig {
            from,
            reply_to,
            subscribers: self.subscribers,
            list_id,
            unsubscribe_url,
            unsubscribe_mailto,
            unsubscribe_mailto_plus_addressing: self.unsubscribe_mailto_plus_addressing,
            postal_address: given(self.postal_address),
            editions,
            untagged,
        };
        if problems.is_empty() { Ok(digest) } else { Err(problems) }
    }
}

/// Whether an unsubscribe URL pattern is an `http://` address on this
/// machine ([`crate::urls::is_local_trial`]), its slots' braces aside.
fn is_local_trial_pattern(pattern: &str) -> bool {
    crate::urls::is_local_trial(&pattern.replace(['{', '}'], ""))
}

/// The unsubscribe URL pattern's rules: https (one-click unsubscribe
/// requires it; http on a loopback host for local trials, which `digest
/// send` refuses), `{email}` and `{token}` only where any address keeps the
/// URL valid (path, query or fragment, not the host or port), and a URL
/// once they are filled in.
fn check_unsubscribe_url(pattern: &str) -> Result<(), String> {
    let rest = match (pattern.strip_prefix("https://"), pattern.strip_prefix("http://")) {
        (Some(rest), _) => rest,
        (None, Some(rest)) if is_local_trial_pattern(pattern) => rest,
        _ => {
            return Err(format!(
                "digest.unsubscribe_url `{pattern}` must be an https:// URL (one-click unsubscribe requires it; http:// is accepted only on this machine, for a host such as 127.0.0.1, [::1] or localhost)"
            ));
        }
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.contains("{email}") || authority.contains("{token}") {
        return Err(format!(
            "digest.unsubscribe_url `{pattern}`: {{email}} and {{token}} must be in the path or query, not the host"
        ));
    }
    let sample = pattern.replace("{email}", "first.last%2Btag%40example.org").replace("{token}", "0123abcd");
    match url::Url::parse(&sample) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("digest.unsubscribe_url `{pattern}` is not a valid URL ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigErrors> {
        Config::parse(text, Path::new("newsroom.yaml"))
    }

    /// The one error of a configuration expected to have exactly one.
    fn only_error(text: &str) -> ConfigError {
        let errors = parse(text).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn return_path_must_be_a_verp_address_with_one_token_in_the_local_part() {
        let with = |value: &str| {
            format!("site:\n  title: T\n  url: https://example.org/\ndelivery:\n  return_path: \"{value}\"\n")
        };
        let config = parse(&with("bounces+{token}@example.org")).unwrap();
        assert_eq!(config.delivery.return_path("1-2-ab").as_deref(), Some("bounces+1-2-ab@example.org"));
        assert_eq!(config.delivery.return_path_parts(), Some(("bounces+", "@example.org")));
        assert_eq!(config.delivery.bounces, BouncePolicy { hard: 1, soft: 3, soft_window_days: 30 });
        for (bad, why) in [
            ("bounces@example.org", "must hold `{token}` once"),
            ("b+{token}{token}@example.org", "must hold `{token}` once"),
            ("bounces@{token}.example.org", "in the local part"),
            ("a-very-long-prefix-that-leaves-no-room+{token}@example.org", "at most 64"),
            ("bounces+{token}", "is not an address"),
        ] {
            let error = only_error(&with(bad));
            assert!(error.message.contains(why), "{bad}: {}", error.message);
            assert_eq!(error.line, 5, "{bad}: the problem is placed at the key");
        }
        let error = only_error("site:\n  title: T\n  url: https://example.org/\ndelivery:\n  bounces: { hard: 0 }\n");
        assert!(error.message.contains("1 or more"), "{}", error.message);
    }

    /// Issue 29, point 1: topics keep their written order, their tags are
    /// matched by slug, and every problem is placed at its topic.
    #[test]
    fn topics_keep_their_order_and_each_problem_names_its_place() {
        let base = "site:\n  title: T\n  url: https://example.org/\n";
        let config = parse(&format!(
            "{base}topics:\n  releases:\n    title: Releases\n    description: What shipped\n    tags: [Release, announcement, release]\n  community:\n    tags: [Community Events]\n"
        ))
        .unwrap();
        let keys: Vec<&str> = config.topics.topics.iter().map(|topic| topic.key.as_str()).collect();
        assert_eq!(keys, ["releases", "community"]);
        let releases = config.topics.get("releases").unwrap();
        assert_eq!((releases.title.as_str(), releases.description.as_str()), ("Releases", "What shipped"));
        assert_eq!(releases.tags, ["release", "announcement"]);
        let community = config.topics.get("community").unwrap();
        assert_eq!(
            (community.title.as_str(), community.tags.as_slice()),
            ("community", &["community-events".to_string()][..])
        );
        let claiming = |slug: &str| config.topics.topics.iter().filter(|topic| topic.claims(slug)).count();
        assert_eq!((claiming("announcement"), claiming("other")), (1, 0));
        assert_eq!(config.digest.untagged, Untagged::Everyone);
        assert!(parse(base).unwrap().topics.is_empty());

        for (topics, line, why) in [
            ("topics:\n  Releases:\n    tags: [release]\n", 5, "`Releases` is not a topic key"),
            ("topics:\n  releases:\n    tags: []\n", 5, "needs at least one tag"),
            ("topics:\n  releases:\n    tags: [release]\n    colour: red\n", 7, "unknown field `colour`"),
        ] {
            let error = only_error(&format!("{base}{topics}"));
            assert!(error.message.contains(why), "{topics}: {}", error.message);
            assert_eq!(error.line, line, "{topics}: {}", error.message);
        }
        let error = only_error(&format!("{base}digest:\n  untagged: some\n"));
        assert!(error.message.contains("digest.untagged: `some` is not one of everyone, none"), "{}", error.message);
        assert_eq!(error.line, 5);
        let config = parse(&format!("{base}digest:\n  untagged: none\n")).unwrap();
        assert_eq!(config.digest.untagged, Untagged::None);
    }

    #[test]
    fn defaults_fill_everything_but_title_and_url() {
        let config = parse("site:\n  title: T\n  url: https://example.org/\n").unwrap();
        assert_eq!(config.site.url, "https://example.org");
        assert_eq!(config.site.blog_path, "/blog");
        assert_eq!(config.feeds.limit, 20);
        assert_eq!(config.delivery.concurrency, 4);
        assert_eq!(config.delivery.stop_after_identical_refusals, 50);
        assert_eq!(config.blog_url(), "https://example.org/blog/");
        assert_eq!(config.digest.subscribers_path(), Path::new("subscribers.csv"));
        assert_eq!(config.digest.list_id, "example.org");
    }

    /// No invented sender: the keys a digest cannot be sent without stay
    /// unset, and an empty value is the same as none.
    #[test]
    fn the_sender_keys_have_no_default() {
        let config = parse("site:\n  title: T\n  url: https://example.org/\ndigest:\n  from: \"\"\n").unwrap();
        assert_eq!(config.digest.missing_for_sending(), KEYS_REQUIRED_FOR_SENDING);
        let config = parse(
            "site:\n  title: T\n  url: https://example.org/\ndigest:\n  from: A <a@example.org>\n  postal_address: 1 Road\n  unsubscribe_url: https://example.org/u?t={token}\n",
        )
        .unwrap();
        assert!(config.digest.missing_for_sending().is_empty());
        assert_eq!(config.digest.from.unwrap().to_string(), "A <a@example.org>");
    }

    #[test]
    fn unknown_key_is_an_error_with_its_position() {
        let error = only_error("site:\n  title: T\n  url: https://example.org\nfeeds:\n  limt: 3\n");
        assert_eq!((error.line, error.column), (5, 3), "{error}");
        assert!(error.message.contains("unknown field `limt`"), "{error}");
    }

    /// Every section's problem at once, each at its own key: a typo in
    /// `feeds`, a bad URL in `site`, a bad address in `digest`.
    #[test]
    fn every_problem_is_reported_at_once_at_its_key() {
        let text = "site:\n  title: T\n  url: example.org\nfeeds:\n  limt: 3\ndigest:\n  from: not an address\n  reply_to: x\ndelivery:\n  timeout: 0\nextra: 1\n";
        let errors: Vec<String> = parse(text).unwrap_err().0.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        let expected = [
            "newsroom.yaml:3:8: error: site.url `example.org` is not a URL",
            "newsroom.yaml:5:3: error: feeds: unknown field `limt`",
            "newsroom.yaml:7:9: error: digest.from `not an address` is not an address",
            "newsroom.yaml:8:13: error: digest.reply_to `x` is not an address",
            "newsroom.yaml:10:3: error: delivery: delivery.timeout must be a positive number",
            "newsroom.yaml:11:1: error: unknown field `extra`",
        ];
        for (error, expected) in errors.iter().zip(expected) {
            assert!(error.starts_with(expected), "{error}\n  expected {expected}");
        }
    }

    #[test]
    fn a_sender_name_with_a_control_character_is_refused_at_its_key() {
        let error = only_error(
            "site:\n  title: T\n  url: https://example.org\ndigest:\n  from: \"\\\"A\\tB\\\" <a@example.org>\"\n",
        );
        assert_eq!((error.line, error.column), (5, 9), "{error}");
        assert!(error.message.contains("control character"), "{error}");
    }

    #[test]
    fn a_syntax_error_is_placed_and_explained() {
        let error = only_error(
            "site:\n  title: T\n  url: https://example.org\ndigest:\n  from: Lantern: News <n@example.org>\n",
        );
        assert_eq!((error.line, error.column), (5, 16), "{error}");
        assert!(error.message.contains("quote the value"), "{error}");
    }

    #[test]
    fn the_smtp_timeout_is_positive_seconds_with_a_default() {
        let base = "site:\n  title: T\n  url: https://example.org\n";
        assert_eq!(parse(base).unwrap().delivery.timeout, Duration::from_secs(30));
        let config = parse(&format!("{base}delivery:\n  timeout: 0.25\n")).unwrap();
        assert_eq!(config.delivery.timeout, Duration::from_millis(250));
        for bad in ["0", "-1", ".nan", "1e300"] {
            let error = only_error(&format!("{base}delivery:\n  timeout: {bad}\n"));
            assert_eq!(error.line, 5, "{bad}: {error}");
            assert!(error.message.contains("delivery.timeout must be a positive number of seconds"), "{error}");
        }
    }

    #[test]
    fn missing_title_is_named() {
        let error = only_error("site:\n  url: https://example.org\n");
        assert!(error.message.contains("missing field `title`"), "{error}");
        let error = only_error("feeds:\n  limit: 3\n");
        assert!(error.message.contains("missing `site:` section"), "{error}");
    }

    #[test]
    fn a_url_without_host_is_refused_at_its_key() {
        let error = only_error("site:\n  title: T\n  url: example.org\n");
        assert_eq!((error.line, error.column), (3, 8));
        assert!(error.message.contains("site.url"), "{error}");
        let error = only_error("site:\n  url: https://example.org\n  title: \" \"\n");
        assert_eq!((error.line, error.column), (3, 10), "{error}");
    }
}
