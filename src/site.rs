//! The site: a folder with `newsroom.yaml`, and the inputs its
//! configuration names (the posts folder, the subscriber file, the ledger).
//! Every command starts here; a missing input is a configuration error at
//! the key that names it.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::diagnostics::{self, Diagnostic};

/// An input a command reads that the configuration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// The posts folder (`posts:`).
    Posts,
    /// The subscriber CSV (`digest.subscribers`).
    Subscribers,
}

/// A site folder and its configuration.
#[derive(Debug, Clone)]
pub struct Site {
    pub root: PathBuf,
    pub config: Config,
    /// The posts folder with links resolved, found once (`None` if it cannot be).
    canonical_posts_dir: OnceLock<Option<PathBuf>>,
}

impl Site {
    /// Opens the site folder `root`, reading its `newsroom.yaml`.
    pub fn open(root: &Path) -> Result<Site, ConfigErrors> {
        let config = Config::load(root)?;
        Ok(Site { root: root.to_path_buf(), config, canonical_posts_dir: OnceLock::new() })
    }

    /// The posts folder.
    pub fn posts_dir(&self) -> PathBuf {
        self.root.join(&self.config.posts)
    }

    /// The subscriber file.
    pub fn subscribers_file(&self) -> PathBuf {
        self.root.join(self.config.digest.subscribers_path())
    }

    /// The subscriber file to merge into the store before a preview or a
    /// send: the one `digest.subscribers` names, or `subscribers.csv` when
    /// it is there; `None` when the store alone is the list.
    pub fn subscriber_list(&self) -> Option<PathBuf> {
        let file = self.subscribers_file();
        (self.config.digest.subscribers.is_some() || file.is_file()).then_some(file)
    }

    /// Whether subscribers may be found: a subscriber file to merge, or a
    /// store (or a ledger from before the store). Looks at files only:
    /// `check` opens nothing.
    pub fn has_subscribers_somewhere(&self) -> bool {
        self.subscriber_list().is_some() || self.store_path().is_file() || self.legacy_ledger_path().is_file()
    }

    /// Where a ledger from before the store would be: `delivery.ledger`,
    /// or the default.
    pub fn legacy_ledger_path(&self) -> PathBuf {
        self.root.join(self.config.delivery.ledger.as_deref().unwrap_or(Path::new(crate::config::LEGACY_LEDGER)))
    }

    /// The problems with an input the configuration names (the posts
    /// folder, the subscriber file): missing, the wrong kind, unreadable.
    /// Configuration errors, placed at the key that names the input.
    pub fn input_problem(&self, input: Input) -> Option<ConfigError> {
        let (path, section, key, what) = match input {
            Input::Posts => (self.posts_dir(), "posts", "", "the posts folder"),
            Input::Subscribers => (self.subscribers_file(), "digest", "subscribers", "the subscriber file"),
        };
        let shown = diagnostics::display_path(&self.root, &path);
        let unset = match input {
            Input::Posts => "",
            Input::Subscribers if self.config.digest.subscribers.is_none() => {
                " (digest.subscribers is not set, and this is its default)"
            }
            Input::Subscribers => "",
        };
        let problem = match std::fs::metadata(&path) {
            Err(_) => format!("{what} `{}` does not exist{unset}", shown.display()),
            Ok(metadata) if input == Input::Posts && !metadata.is_dir() => {
                format!("{what} `{}` is not a folder", shown.display())
            }
            Ok(metadata) if input == Input::Subscribers && !metadata.is_file() => {
                format!("{what} `{}` is not a file", shown.display())
            }
            Ok(_) => {
                let readable = match input {
                    Input::Posts => fs::read_dir(&path).map(drop),
                    Input::Subscribers => fs::File::open(&path).map(drop),
                };
                match readable {
                    Ok(()) => return None,
                    Err(error) => format!("{what} `{}` cannot be read: {error}", shown.display()),
                }
            }
        };
        Some(self.config.error_at(section, key, problem))
    }

    /// Every problem of [`Site::input_problem`] for `inputs`, as one error.
    pub fn require(&self, inputs: &[Input]) -> Result<(), ConfigErrors> {
        let problems: Vec<ConfigError> = inputs.iter().filter_map(|input| self.input_problem(*input)).collect();
        if problems.is_empty() { Ok(()) } else { Err(ConfigErrors(problems)) }
    }

    /// The default output folder, `public/` in the site folder.
    pub fn default_out_dir(&self) -> PathBuf {
        self.root.join("public")
    }

    /// The posts folder with links resolved, found once (`None` if it cannot be).
    pub fn canonical_posts_dir(&self) -> Option<&Path> {
        self.canonical_posts_dir.get_or_init(|| self.posts_dir().canonicalize().ok()).as_deref()
    }

    /// The store's file: `store:`, else the deprecated `delivery.ledger`,
    /// else `.newsroom/newsroom.sqlite`.
    pub fn store_path(&self) -> PathBuf {
        let configured = self.config.store.as_ref().or(self.config.delivery.ledger.as_ref());
        self.root.join(configured.map(PathBuf::as_path).unwrap_or(Path::new(crate::config::DEFAULT_STORE)))
    }

    /// Settings that still work but have a new name, each a warning at its place.
    pub fn deprecations(&self) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        if self.config.delivery.ledger.is_some() {
            let place = self.config.error_at("delivery", "ledger", "");
            let message = if self.config.store.is_some() {
                "delivery.ledger is deprecated and `store:` is set: a ledger there is moved into the store when the store does not exist yet, and otherwise ignored; remove delivery.ledger"
            } else {
                "delivery.ledger is deprecated: the ledger is now part of the store; write `store:` (a top-level key) instead"
            };
            found.push(Diagnostic::warning(place.path, (place.line, place.column), message));
        }
        found
    }

    /// A warning for each key a digest cannot be sent without that is not
    /// set; one for them all on a site with no `digest:` section at all (one
    /// that publishes feeds only, or has not set its digest up yet).
    pub fn unset_sending_keys(&self) -> Vec<Diagnostic> {
        let site = self;
        let missing = site.config.digest.missing_for_sending();
        if missing.len() == crate::config::KEYS_REQUIRED_FOR_SENDING.len() && !site.config.has_section("digest") {
            let list = match site.has_subscribers_somewhere() {
                false => format!(
                    ", and has nobody to mail yet (write `{}` or run `newsroom subscribers import FILE`)",
                    site.config.digest.subscribers_path().display()
                ),
                true => String::new(),
            };
            return vec![Diagnostic::warning(
                crate::config::CONFIG_FILE,
                (1, 1),
                format!(
                    "no `digest:` section: `digest send` refuses to start until {} are set{list} (`digest preview` shows placeholders)",
                    missing.join(", ")
                ),
            )];
        }
        missing
            .into_iter()
            .map(|key| {
                let (section, name) = key.split_once('.').expect("keys are section.key");
                let error = site.config.error_at(section, name, "");
                Diagnostic::warning(
                    error.path,
                    (error.line, error.column),
                    format!(
                        "{key} is not set: `digest send` refuses to start without it (`digest preview` shows a placeholder)"
                    ),
                )
            })
            .collect()
    }
}
