//! The site: a folder with `newsroom.yaml`, and the inputs its
//! configuration names (the posts folder, the subscriber file, the ledger).
//! Every command starts here; a missing input is a configuration error at
//! the key that names it.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, PoisonError, RwLock};

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
    /// Folders under the posts folder, by relative path: whether each is
    /// really inside it (see [`Site::posts_entry`]).
    folders_inside: FoldersInside,
}

/// A file of the posts folder that a post publishes, as found when the
/// post was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// Its path (under the posts folder, as the post names it).
    pub source: PathBuf,
    /// Its size and modification time then.
    pub stamp: FileStamp,
}

/// A file's size and modification time: what says it has not changed
/// since a build copied it (`build` keeps the copy then).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    /// Its length in bytes.
    pub size: u64,
    /// Seconds and nanoseconds since the epoch.
    pub modified: (i64, i64),
}

impl FileStamp {
    /// The stamp of a file's metadata.
    pub fn of(metadata: &fs::Metadata) -> FileStamp {
        use std::os::unix::fs::MetadataExt;
        FileStamp { size: metadata.len(), modified: (metadata.mtime(), metadata.mtime_nsec()) }
    }
}

/// What a path under the posts folder names, for publishing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostsEntry {
    /// A file really inside the posts folder (through symbolic links that
    /// stay inside it, if any): its path and stamp.
    File(LocalFile),
    /// A folder: nothing to publish, and nothing wrong.
    Folder,
    /// Nothing (a link to nothing, or something other than a file or folder).
    Missing,
    /// A file that a symbolic link, to it or to a folder on its way, leads
    /// out of the posts folder.
    Outside,
}

/// Whether folders under the posts folder are really inside it, each found
/// once. A Site is one command's view of its folder: opened again for each
/// run, it finds them again.
#[derive(Debug, Default)]
struct FoldersInside(RwLock<HashMap<String, bool>>);

impl Clone for FoldersInside {
    fn clone(&self) -> FoldersInside {
        FoldersInside(RwLock::new(self.0.read().unwrap_or_else(PoisonError::into_inner).clone()))
    }
}

impl Site {
    /// Opens the site folder `root`, reading its `newsroom.yaml`.
    pub fn open(root: &Path) -> Result<Site, ConfigErrors> {
        let config = Config::load(root)?;
        Ok(Site {
            root: root.to_path_buf(),
            config,
            canonical_posts_dir: OnceLock::new(),
            folders_inside: FoldersInside::default(),
        })
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
        let store = match self.store_location() {
            StoreLocation::File(path) => path.is_file(),
            StoreLocation::Postgres(_) => true,
        };
        self.subscriber_list().is_some() || store || self.legacy_ledger_path().is_file()
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

    /// What `relative` (a `/`-separated path under the posts folder, without
    /// `.` or `..`) names: a file to publish, or why not.
    ///
    /// A file is inside the posts folder when it is not a symbolic link and
    /// its folder is inside: one `lstat` for the file, and one for each
    /// folder the first time it is asked about (a site of 10,000 posts each
    /// showing an image used to resolve every component of every image's
    /// path again, ~7 `readlink` calls an image). Only symbolic links are
    /// resolved in full.
    pub fn posts_entry(&self, relative: &str) -> PostsEntry {
        let path = self.posts_dir().join(relative);
        let Ok(metadata) = fs::symlink_metadata(&path) else { return PostsEntry::Missing };
        if metadata.is_dir() {
            return PostsEntry::Folder;
        }
        let folder = relative.rsplit_once('/').map_or("", |(folder, _)| folder);
        if metadata.is_file() {
            return if self.folder_is_inside(folder) {
                PostsEntry::File(LocalFile { source: path, stamp: FileStamp::of(&metadata) })
            } else {
                PostsEntry::Outside
            };
        }
        match fs::metadata(&path) {
            Ok(target) if target.is_dir() => PostsEntry::Folder,
            Ok(target) if target.is_file() && metadata.is_symlink() => {
                if self.leads_inside(&path) {
                    PostsEntry::File(LocalFile { source: path, stamp: FileStamp::of(&target) })
                } else {
                    PostsEntry::Outside
                }
            }
            _ => PostsEntry::Missing,
        }
    }

    /// Whether the folder `relative` (as in [`Site::posts_entry`], `""` for
    /// the posts folder itself) is really inside the posts folder: a real
    /// folder in a folder that is, or a link that leads inside.
    fn folder_is_inside(&self, relative: &str) -> bool {
        if relative.is_empty() {
            return self.canonical_posts_dir().is_some();
        }
        let known = self.folders_inside.0.read().unwrap_or_else(PoisonError::into_inner).get(relative).copied();
        if let Some(inside) = known {
            return inside;
        }
        let parent = relative.rsplit_once('/').map_or("", |(parent, _)| parent);
        let path = self.posts_dir().join(relative);
        let inside = self.folder_is_inside(parent)
            && match fs::symlink_metadata(&path) {
                Ok(metadata) if metadata.is_dir() => true,
                Ok(metadata) if metadata.is_symlink() => self.leads_inside(&path),
                _ => false,
            };
        self.folders_inside.0.write().unwrap_or_else(PoisonError::into_inner).insert(relative.to_string(), inside);
        inside
    }

    /// Whether `path`, all links resolved, is inside the posts folder.
    fn leads_inside(&self, path: &Path) -> bool {
        let real = path.canonicalize();
        real.ok().zip(self.canonical_posts_dir()).is_some_and(|(real, root)| real.starts_with(root))
    }

    /// The store's file: `store:`, else the deprecated `delivery.ledger`,
    /// else `.newsroom/newsroom.sqlite`. For a PostgreSQL store, the file a
    /// SQLite store would have had: its folder is where newsroom keeps its
    /// other local files (mail `inbound` could not place).
    pub fn store_path(&self) -> PathBuf {
        let configured = self.config.store.as_ref().or(self.config.delivery.ledger.as_ref());
        match configured.filter(|path| postgres_url(&path.to_string_lossy()).is_none()) {
            Some(path) => self.root.join(path),
            None => self.root.join(crate::config::DEFAULT_STORE),
        }
    }

    /// Where the store is: `NEWSROOM_STORE_URL` when set (a deployment
    /// keeps its database's address and password in its secrets, not in
    /// newsroom.yaml), else `store:`; a `postgres://` or `postgresql://`
    /// URL names a PostgreSQL store, anything else a SQLite file.
    pub fn store_location(&self) -> StoreLocation {
        let from_env = std::env::var(STORE_URL_VARIABLE).ok().filter(|value| !value.trim().is_empty());
        if let Some(value) = from_env {
            return match postgres_url(&value) {
                Some(url) => StoreLocation::Postgres(url),
                None => StoreLocation::File(self.root.join(value.trim())),
            };
        }
        match self.config.store.as_ref().and_then(|path| postgres_url(&path.to_string_lossy())) {
            Some(url) => StoreLocation::Postgres(url),
            None => StoreLocation::File(self.store_path()),
        }
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

/// The environment variable that names the store, over `store:`.
pub const STORE_URL_VARIABLE: &str = "NEWSROOM_STORE_URL";

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL server: its connection URL.
    Postgres(String),
}

/// `text` when it is a PostgreSQL connection URL.
pub fn postgres_url(text: &str) -> Option<String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    (lower.starts_with("postgres://") || lower.starts_with("postgresql://")).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// A reference leaves the posts folder through a link to the file or to
    /// any folder on its way, however often the folder was asked about.
    #[test]
    fn posts_entries_through_links_are_inside_only_where_the_links_lead_inside() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let posts = root.path().join("posts");
        fs::create_dir_all(posts.join("assets/2026-01-01")).unwrap();
        fs::create_dir_all(outside.path().join("sub")).unwrap();
        fs::write(root.path().join("newsroom.yaml"), "site:\n  title: T\n  url: https://t.org\n").unwrap();
        fs::write(posts.join("assets/2026-01-01/a.png"), "a").unwrap();
        fs::write(outside.path().join("sub/secret.png"), "secret").unwrap();
        symlink(outside.path(), posts.join("out")).unwrap();
        symlink(posts.join("assets"), posts.join("alias")).unwrap();
        symlink(outside.path().join("sub/secret.png"), posts.join("assets/leak.png")).unwrap();
        symlink(posts.join("assets/2026-01-01/a.png"), posts.join("assets/again.png")).unwrap();
        symlink(posts.join("nowhere.png"), posts.join("dangling.png")).unwrap();
        let site = Site::open(root.path()).unwrap();
        let file = |relative: &str| {
            let source = posts.join(relative);
            let stamp = FileStamp::of(&fs::metadata(&source).unwrap());
            PostsEntry::File(LocalFile { source, stamp })
        };
        for _ in 0..2 {
            assert_eq!(site.posts_entry("assets/2026-01-01/a.png"), file("assets/2026-01-01/a.png"));
            assert_eq!(site.posts_entry("alias/2026-01-01/a.png"), file("alias/2026-01-01/a.png"));
            assert_eq!(site.posts_entry("assets/again.png"), file("assets/again.png"));
            assert_eq!(site.posts_entry("assets/2026-01-01"), PostsEntry::Folder);
            assert_eq!(site.posts_entry("out/sub"), PostsEntry::Folder);
            assert_eq!(site.posts_entry("out/sub/secret.png"), PostsEntry::Outside);
            assert_eq!(site.posts_entry("assets/leak.png"), PostsEntry::Outside);
            assert_eq!(site.posts_entry("assets/missing.png"), PostsEntry::Missing);
            assert_eq!(site.posts_entry("dangling.png"), PostsEntry::Missing);
        }
    }
}
