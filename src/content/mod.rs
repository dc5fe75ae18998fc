//! Loading posts: the first stage of the pipeline.
//!
//! Walks the posts folder, reads each `.md`/`.mdx` file, splits its front
//! matter, and turns it into a [`Post`] with a real date, a permalink,
//! resolved authors and slugged tags. Problems become [`Diagnostic`]s with
//! the file, line and column; a post with an error is left out and named, the
//! others go on.

pub mod authors;
pub mod dates;
pub mod front_matter;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use rayon::prelude::*;
use serde_yaml::{Mapping, Value};

use crate::config::Config;
use crate::diagnostics::{Diagnostic, Severity, display_path, line_col};
use crate::limits::{MAX_POST_BYTES, excessive_nesting};
use crate::urls;
use crate::yaml::{self, key_position};
pub use authors::{Author, AuthorMap};
use dates::{DateError, parse_front_matter_date, split_dated_name, ymd_date};
use front_matter::scalar_text;

/// How many bytes of post bodies [`load_posts`] keeps in memory for
/// rendering; the bodies beyond it are read again when rendered. A site of
/// ~4,000 typical (8 KB) posts is read once; one of 100,000 still needs
/// memory for this and its metadata only (64 MiB took 100,000 posts over the
/// 300 MB the benchmarks allow).
pub const BODY_MEMORY_BUDGET: usize = 32 * 1024 * 1024;

/// Front matter keys newsroom reads. Others are ignored and listed by `check`.
const KNOWN_KEYS: [&str; 14] = [
    "title",
    "description",
    "date",
    "slug",
    "tags",
    "image",
    "draft",
    "unlisted",
    "last_update",
    "authors",
    "author",
    "authorURL",
    "authorImageURL",
    "authorTitle",
];

/// One blog post, loaded and validated, not yet rendered.
#[derive(Debug, Clone)]
pub struct Post {
    /// The file, relative to the site folder (`posts/2021-12-20-wrapped.md`).
    pub source: PathBuf,
    /// The post's folder relative to the posts folder, `""` or ending in `/`:
    /// relative links in the post resolve against it.
    pub folder: String,
    /// `.mdx` posts get the MDX-lite treatment.
    pub mdx: bool,
    pub title: String,
    pub description: Option<String>,
    /// The publication instant; naive dates are UTC.
    pub date: DateTime<FixedOffset>,
    /// `last_update`, or the publication date.
    pub updated: DateTime<FixedOffset>,
    /// The absolute, percent-encoded URL of the post.
    pub permalink: String,
    pub tags: Vec<Tag>,
    pub authors: Vec<Author>,
    /// The front matter `image`, absolute.
    pub image: Option<String>,
    pub draft: bool,
    pub unlisted: bool,
    /// The file as found under the posts folder: [`Post::read_body`] reads it again.
    pub path: PathBuf,
    /// The byte range of a leading `# Heading` the title was taken from; it
    /// is removed from the body.
    pub heading: Option<std::ops::Range<usize>>,
    /// The body's length when the post was loaded: a file that changes
    /// between loading and rendering is noticed.
    pub body_len: usize,
    /// The 1-based file line the body starts on.
    pub body_line: usize,
    /// The body, when it was kept from loading (see [`BODY_MEMORY_BUDGET`]).
    pub kept_body: Option<Arc<Body>>,
}

impl Post {
    /// Whether the post goes into feeds and digests: not a draft, not
    /// unlisted, not dated after `now`.
    pub fn is_listed(&self, now: DateTime<Utc>) -> bool {
        !self.draft && !self.unlisted && self.date.with_timezone(&Utc) <= now
    }

    /// The post's Markdown body (after the front matter): the one kept from
    /// loading, else read again from its file.
    ///
    /// Posts are held in memory without their bodies beyond a budget
    /// ([`BODY_MEMORY_BUDGET`]); the others are read again when rendered and
    /// dropped after: a site of 100,000 posts then needs memory for their
    /// metadata and for the posts being rendered, not for 800 MB of Markdown.
    pub fn read_body(&self) -> Result<Arc<Body>, Diagnostic> {
        if let Some(body) = &self.kept_body {
            return Ok(Arc::clone(body));
        }
        self.read_body_again().map(Arc::new)
    }

    /// Reads the body from the post's file, whether or not one was kept.
    pub fn read_body_again(&self) -> Result<Body, Diagnostic> {
        let mut diagnostics = Vec::new();
        let text = read_text(&self.path, &self.source, &mut diagnostics)
            .ok_or_else(|| diagnostics.into_iter().find(Diagnostic::is_error).unwrap_or_else(|| self.changed()))?;
        self.body_from(&text)
    }

    /// The body in the post file's (decoded) text: what follows the front
    /// matter, without the heading the title came from. An error when the
    /// text is not the one the post was loaded from.
    pub fn body_from(&self, text: &str) -> Result<Body, Diagnostic> {
        let split = front_matter::split(text).map_err(|_| self.changed())?;
        let mut body = split.body.to_string();
        if let Some(heading) = &self.heading {
            if body.get(heading.clone()).is_none_or(|h| !h.starts_with("# ")) {
                return Err(self.changed());
            }
            body.replace_range(heading.clone(), "");
        }
        if body.len() != self.body_len || split.body_line != self.body_line {
            return Err(self.changed());
        }
        Ok(Body { text: body, line: self.body_line })
    }

    fn changed(&self) -> Diagnostic {
        Diagnostic::error(&self.source, (1, 1), "the file changed during the build; run it again")
    }
}

/// A post's Markdown, read when it is rendered.
#[derive(Debug, Clone, Default)]
pub struct Body {
    /// The Markdown after the front matter, `\n` line ends (a leading
    /// heading that became the title removed).
    pub text: String,
    /// The 1-based file line `text` starts on.
    pub line: usize,
}

impl Body {
    /// The file line and column of a byte offset into `text`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let (line, column) = line_col(&self.text, offset);
        (line + self.line - 1, column)
    }
}

/// A tag as written, and its slug for URLs and folder names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Tag {
    pub label: String,
    pub slug: String,
}

impl Tag {
    pub fn new(label: &str) -> Tag {
        Tag { label: label.trim().to_string(), slug: tag_slug(label) }
    }
}

/// The tag's slug: lower-cased, each run of characters other than letters
/// and digits replaced by one `-`, no `-` at either end.
pub fn tag_slug(label: &str) -> String {
    let mut slug = String::with_capacity(label.len());
    for c in label.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_matches('-');
    if slug.is_empty() { "tag".to_string() } else { slug.to_string() }
}

/// Posts that are ready but dated after now: left out of feeds and
/// digests until their date, and worth saying so.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Scheduled {
    pub count: usize,
    /// The earliest: its date and file.
    pub first: Option<ScheduledPost>,
}

/// One scheduled post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ScheduledPost {
    pub date: DateTime<chrono::FixedOffset>,
    pub path: PathBuf,
}

impl Scheduled {
    /// The posts of `posts` that are neither drafts nor unlisted, dated after `now`.
    pub fn of<'a>(posts: impl IntoIterator<Item = &'a Post>, now: DateTime<Utc>) -> Scheduled {
        let mut scheduled = Scheduled::default();
        for post in posts.into_iter().filter(|p| !p.draft && !p.unlisted && p.date.with_timezone(&Utc) > now) {
            scheduled.count += 1;
            if scheduled.first.as_ref().is_none_or(|first| (post.date, &post.source) < (first.date, &first.path)) {
                scheduled.first = Some(ScheduledPost { date: post.date, path: post.source.clone() });
            }
        }
        scheduled
    }
}

impl std::fmt::Display for Scheduled {
    /// `2 post(s) scheduled: the first publishes 2027-03-01 (posts/…)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} post(s) scheduled", self.count)?;
        if let Some(first) = &self.first {
            write!(f, ": the first publishes {} ({})", first.date.format("%Y-%m-%d"), first.path.display())?;
        }
        Ok(())
    }
}

/// Everything the posts folder held.
#[derive(Debug, Default)]
pub struct LoadedPosts {
    /// Posts without errors (drafts included), sorted by source path.
    pub posts: Vec<Post>,
    /// Every problem found, in no particular order.
    pub diagnostics: Vec<Diagnostic>,
    /// Posts left out because of an error.
    pub rejected: Vec<PathBuf>,
}

/// Loads every post of a site.
pub fn load(site: &crate::site::Site) -> anyhow::Result<LoadedPosts> {
    load_posts(&site.root, &site.config)
}

/// Loads every post under the site's posts folder.
pub fn load_posts(root: &Path, config: &Config) -> anyhow::Result<LoadedPosts> {
    load_posts_keeping(root, config, BODY_MEMORY_BUDGET)
}

/// [`load_posts`], keeping at most `budget` bytes of bodies in memory.
pub fn load_posts_keeping(root: &Path, config: &Config, budget: usize) -> anyhow::Result<LoadedPosts> {
    let budget = AtomicUsize::new(budget);
    let keep_body = |post: &mut Post, text: &str| {
        let fits =
            budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(post.body_len)).is_ok();
        if fits {
            post.kept_body = post.body_from(text).ok().map(Arc::new);
        }
        None::<()>
    };
    Ok(load_posts_with(root, config, &keep_body)?.0)
}

/// One post file loaded: its name, the post and what `keep` kept, problems.
type LoadResult<K> = (PathBuf, Option<(Post, Option<K>)>, Vec<Diagnostic>);

/// Loads every post, calling `keep` with each post that loaded and its
/// file's text while the text is at hand; what it returns comes back beside
/// the post (the `i`th of the second list belongs to `posts[i]`). `build`
/// renders here, so that the posts it can keep the renderings of are read
/// once.
pub fn load_posts_with<K: Send>(
    root: &Path,
    config: &Config,
    keep: &(dyn Fn(&mut Post, &str) -> Option<K> + Sync),
) -> anyhow::Result<(LoadedPosts, Vec<Option<K>>)> {
    let posts_dir = root.join(&config.posts);
    if !posts_dir.is_dir() {
        anyhow::bail!("the posts folder `{}` does not exist (set `posts:` in newsroom.yaml)", posts_dir.display());
    }
    let mut loaded = LoadedPosts::default();
    let authors = load_authors(root, &posts_dir, &mut loaded.diagnostics);
    let files = post_files(root, &posts_dir, &mut loaded.diagnostics)?;
    let results: Vec<LoadResult<K>> = files
        .par_iter()
        .map(|file| {
            let source = display_path(root, file);
            let mut diagnostics = Vec::new();
            let post = read_text(file, &source, &mut diagnostics).and_then(|text| {
                let mut post = parse_post(&text, file, &source, &posts_dir, config, &authors, &mut diagnostics)?;
                let kept = keep(&mut post, &text);
                Some((post, kept))
            });
            (source, post, diagnostics)
        })
        .collect();
    // Feeds identify entries by permalink: a second post at the same one
    // would give two entries one id, and readers would drop one of them.
    let mut permalinks: std::collections::HashMap<String, PathBuf> =
        std::collections::HashMap::with_capacity(results.len());
    let (all_diagnostics, rejected) = (&mut loaded.diagnostics, &mut loaded.rejected);
    let mut kept_list = Vec::with_capacity(results.len());
    // Collected in place: the results' buffer becomes the posts' (at 100k
    // posts, two such buffers at once were ~50 MB of the peak).
    loaded.posts = results
        .into_iter()
        .filter_map(|(source, post, mut diagnostics)| {
            if let Some((post, _)) = &post
                && let Some(first) = permalinks.get(&post.permalink)
            {
                diagnostics.push(Diagnostic::error(
                    &source,
                    (1, 1),
                    format!(
                        "permalink {} is already the permalink of {}; give one of them another `slug`",
                        post.permalink,
                        first.display()
                    ),
                ));
            }
            let failed = diagnostics.iter().any(Diagnostic::is_error);
            all_diagnostics.extend(diagnostics);
            match post {
                Some((post, kept)) if !failed => {
                    permalinks.insert(post.permalink.clone(), source);
                    kept_list.push(kept);
                    Some(post)
                }
                _ => {
                    rejected.push(source);
                    None
                }
            }
        })
        .collect();
    Ok((loaded, kept_list))
}

/// The post files under `posts_dir`, sorted. Symbolic links that lead out of
/// the folder are reported and not followed; `_`- and `.`-prefixed entries are skipped.
fn post_files(root: &Path, posts_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> anyhow::Result<Vec<PathBuf>> {
    let canonical_root = posts_dir.canonicalize()?;
    let mut files = Vec::new();
    // Unsorted walk, one sort at the end: `Path`'s order compares component
    // by component, which is the order of a walk sorted by name.
    let walker = walkdir::WalkDir::new(posts_dir).into_iter().filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|n| n.starts_with('_') || n.starts_with('.'))
    });
    for entry in walker {
        let entry = entry.map_err(|e| anyhow::anyhow!("failed to read the posts folder: {e}"))?;
        let path = entry.path();
        let is_post = matches!(path.extension().and_then(|e| e.to_str()), Some("md" | "mdx"));
        if !is_post {
            continue;
        }
        if entry.path_is_symlink() {
            let inside = path.canonicalize().is_ok_and(|target| target.starts_with(&canonical_root));
            if !inside {
                diagnostics.push(Diagnostic::warning(
                    display_path(root, path),
                    (1, 1),
                    "symbolic link leads outside the posts folder; not followed",
                ));
                continue;
            }
        }
        // The type read with the folder (no `stat`), except for links, which are followed.
        if entry.file_type().is_file() || (entry.path_is_symlink() && path.is_file()) {
            files.push(entry.into_path());
        }
    }
    // `Path`'s own comparison parses components; at 100k posts that sort
    // was 2% of a build, on one core.
    files.par_sort_unstable_by(|a, b| component_order(a, b));
    Ok(files)
}

/// The order of [`Path`]'s comparison (component by component) for clean
/// paths (no `.`, no doubled or trailing `/`, as a walk gives them),
/// compared as bytes: at the first difference, the path whose component
/// ends there (`/`) comes first, as the shorter component would.
fn component_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let (a, b) = (a.as_os_str().as_encoded_bytes(), b.as_os_str().as_encoded_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some(at) => {
            let key = |byte: u8| if byte == b'/' { 0 } else { u16::from(byte) + 1 };
            key(a[at]).cmp(&key(b[at]))
        }
    }
}

fn load_authors(root: &Path, posts_dir: &Path, diagnostics: &mut Vec<Diagnostic>) -> AuthorMap {
    for name in authors::AUTHORS_FILES {
        let path = posts_dir.join(name);
        if !path.is_file() {
            continue;
        }
        let source = display_path(root, &path);
        return match read_text(&path, &source, diagnostics) {
            Some(text) => authors::parse_authors_file(&text, &source, diagnostics),
            None => AuthorMap::new(),
        };
    }
    AuthorMap::new()
}

/// Reads a user file as text: size-limited, then [`decode_text`].
/// Problems become diagnostics and `None`.
pub fn read_text(path: &Path, source: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    // One open, and the size from the open file: the check and the read see the same file.
    let read = || -> std::io::Result<Vec<u8>> {
        use std::io::Read;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len > MAX_POST_BYTES {
            return Err(std::io::Error::other(format!("file is {len} bytes; the limit is {MAX_POST_BYTES}")));
        }
        let mut bytes = Vec::with_capacity(len as usize + 1);
        // `take` keeps a file that grows while being read under the limit too.
        file.take(MAX_POST_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_POST_BYTES {
            return Err(std::io::Error::other(format!("file is over the limit of {MAX_POST_BYTES} bytes")));
        }
        Ok(bytes)
    };
    let bytes = match read() {
        Ok(bytes) => bytes,
        Err(error) => {
            diagnostics.push(Diagnostic::error(source, (1, 1), format!("cannot read: {error}")));
            return None;
        }
    };
    decode_text(bytes, source, diagnostics)
}

/// A user file's bytes as the text the rest of the pipeline reads: valid
/// UTF-8, BOM dropped, CRLF made LF, characters XML cannot carry removed.
/// `source` names the file in diagnostics; bytes that are not UTF-8 are an
/// error and `None`.
pub fn decode_text(bytes: Vec<u8>, source: &Path, diagnostics: &mut Vec<Diagnostic>) -> Option<String> {
    match String::from_utf8(bytes) {
        Ok(text) => {
            let text = normalise_text(text);
            let cleaned = front_matter::strip_xml_invalid(&text);
            if cleaned.len() != text.len() {
                let at = text.find(front_matter::is_xml_invalid).unwrap_or(0);
                diagnostics.push(Diagnostic::warning(
                    source,
                    line_col(&text, at),
                    "control characters removed (feeds and email cannot carry them)",
                ));
                return Some(cleaned.into_owned());
            }
            Some(text)
        }
        Err(error) => {
            let valid = error.utf8_error().valid_up_to();
            let bytes = error.as_bytes();
            let prefix = String::from_utf8_lossy(&bytes[..valid]);
            diagnostics.push(Diagnostic::error(
                source,
                line_col(&prefix, prefix.len()),
                format!("file is not valid UTF-8 (byte 0x{:02x}); save it as UTF-8", bytes[valid]),
            ));
            None
        }
    }
}

fn normalise_text(text: String) -> String {
    let text = text.strip_prefix('\u{feff}').map(str::to_string).unwrap_or(text);
    if text.contains('\r') { text.replace("\r\n", "\n").replace('\r', "\n") } else { text }
}

/// Turns one post's text (as [`decode_text`] gives it) into a [`Post`], as
/// [`load_posts`] does for each file, without touching the file system:
/// `path` is where the file would be (its name gives the date, the slug and
/// `.mdx`; it is taken relative to `posts_dir`), `source` names it in
/// diagnostics. Errors in drafts are downgraded to warnings. A post is only
/// usable when no error was added to `diagnostics`.
pub fn parse_post(
    text: &str,
    path: &Path,
    source: &Path,
    posts_dir: &Path,
    config: &Config,
    authors: &AuthorMap,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Post> {
    let mut reader = PostReader { source, diagnostics: Vec::new(), yaml: "", yaml_line: 1 };
    let post = reader.read(text, path, posts_dir, config, authors);
    if post.as_ref().is_some_and(|p| p.draft) {
        for diagnostic in &mut reader.diagnostics {
            if diagnostic.severity == Severity::Error {
                diagnostic.severity = Severity::Warning;
                diagnostic.message.push_str(" (in a draft)");
            }
        }
    }
    diagnostics.append(&mut reader.diagnostics);
    post
}

/// Reads one post's text, collecting diagnostics with file positions.
struct PostReader<'a> {
    source: &'a Path,
    diagnostics: Vec<Diagnostic>,
    yaml: &'a str,
    yaml_line: usize,
}

impl<'a> PostReader<'a> {
    fn error(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(self.source, position, message));
    }

    fn warning(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(self.source, position, message));
    }

    /// The file position of a front matter key's value, or of the front matter's start.
    fn key_position(&self, key: &str) -> (usize, usize) {
        key_position(self.yaml, key)
            .map(|(line, column)| (line + self.yaml_line - 1, column))
            .unwrap_or((self.yaml_line.saturating_sub(1).max(1), 1))
    }

    fn read(
        &mut self,
        text: &'a str,
        path: &Path,
        posts_dir: &Path,
        config: &Config,
        authors: &AuthorMap,
    ) -> Option<Post> {
        if text.trim().is_empty() {
            self.error((1, 1), "empty file: a post needs front matter with at least a `title`");
            return None;
        }
        let split = match front_matter::split(text) {
            Ok(split) => split,
            Err(front_matter::Unclosed) => {
                self.error((1, 1), "front matter starts with `---` but has no closing `---` line");
                return None;
            }
        };
        self.yaml = split.yaml;
        self.yaml_line = split.yaml_line;
        let mapping = match front_matter::parse_mapping(split.yaml) {
            Ok(mapping) => mapping,
            Err(error) => {
                let (line, column, message) = yaml::error_parts(&error, split.yaml, split.yaml_line);
                self.error((line, column), format!("front matter is not valid YAML: {message}"));
                return None;
            }
        };

        let relative = path.strip_prefix(posts_dir).unwrap_or(path);
        let mdx = relative.extension().is_some_and(|e| e == "mdx");
        let (name_stem, folder) = post_name(relative);
        let dated_name = split_dated_name(&name_stem);

        for key in mapping.keys() {
            if let Some(key) = key.as_str()
                && !KNOWN_KEYS.contains(&key)
            {
                let position = self.key_position(key);
                self.warning((position.0, 1), format!("unknown front matter key `{key}` ignored"));
            }
        }

        if let Some((offset, message)) = excessive_nesting(split.body) {
            let (line, column) = line_col(split.body, offset);
            self.error((line + split.body_line - 1, column), message);
            return None;
        }
        let mut heading = None;
        let title = match self.text_field(&mapping, "title") {
            Some(title) if !title.trim().is_empty() => Some(title.trim().to_string()),
            _ => heading_title(split.body).map(|(title, range)| {
                heading = Some(range);
                title
            }),
        };
        let Some(title) = title else {
            // A `title` that is there but not text was reported as such by
            // `text_field`: it is not missing too.
            let written = mapping.get("title").is_some_and(|value| !value.is_null() && !value.is_string());
            if !written {
                self.error(
                    self.key_position("title"),
                    "missing `title` in front matter (and no `# Heading` to take it from)",
                );
            }
            return None;
        };

        let date = self.post_date(&mapping, dated_name.as_ref())?;
        let updated = self.last_update(&mapping).unwrap_or(date);
        let draft = self.bool_field(&mapping, "draft");
        let unlisted = self.bool_field(&mapping, "unlisted");
        let description =
            self.text_field(&mapping, "description").map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        let slug =
            self.text_field(&mapping, "slug").map(|s| s.trim().trim_matches('/').to_string()).filter(|s| !s.is_empty());

        let blog_url = config.blog_url();
        let path_part = match (&slug, &dated_name) {
            (Some(slug), _) => urls::encode_path(slug),
            (None, Some(dated)) => {
                let (y, m, d) = dated.ymd;
                let name =
                    if dated.name.is_empty() { String::new() } else { format!("/{}", urls::encode_path(dated.name)) };
                format!("{y:04}/{m:02}/{d:02}{name}")
            }
            (None, None) => urls::encode_path(&name_stem),
        };
        let permalink = format!("{blog_url}{path_part}");
        let post_base = format!("{blog_url}{}", urls::encode_path(&folder));

        let tags = self.tags(&mapping);
        let authors = self.authors(&mapping, authors, &config.site.url);
        let image = self.text_field(&mapping, "image").and_then(|image| {
            let url = urls::web_url(&post_base, &image);
            if url.is_none() {
                self.warning(
                    self.key_position("image"),
                    format!("image `{}` is not a web address; left out", image.trim()),
                );
            }
            url
        });

        Some(Post {
            source: self.source.to_path_buf(),
            folder,
            mdx,
            title,
            description,
            date,
            updated,
            permalink,
            tags,
            authors,
            image,
            draft,
            unlisted,
            path: path.to_path_buf(),
            body_len: split.body.len() - heading.as_ref().map_or(0, |h| h.len()),
            heading,
            body_line: split.body_line,
            kept_body: None,
        })
    }

    fn text_field(&mut self, mapping: &Mapping, key: &str) -> Option<String> {
        let value = mapping.get(key)?;
        if value.is_null() {
            return None;
        }
        let text = scalar_text(value);
        if text.is_none() {
            self.error(self.key_position(key), format!("`{key}` must be text"));
        }
        text
    }

    fn bool_field(&mut self, mapping: &Mapping, key: &str) -> bool {
        match mapping.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(_) => {
                self.error(self.key_position(key), format!("`{key}` must be true or false"));
                false
            }
        }
    }

    /// The front matter `date`, else the file name's; an error when neither is a real date.
    fn post_date(&mut self, mapping: &Mapping, dated_name: Option<&dates::DatedName>) -> Option<DateTime<FixedOffset>> {
        if let Some(value) = mapping.get("date").filter(|v| !v.is_null()) {
            let position = self.key_position("date");
            let Some(text) = scalar_text(value) else {
                self.error(position, "`date` must be a date such as 2021-12-20 or 2021-12-20T10:00:00Z");
                return None;
            };
            return match parse_front_matter_date(&text) {
                Ok(date) => Some(date),
                Err(DateError::Impossible) => {
                    self.error(position, format!("date {} is not a real date", text.trim()));
                    None
                }
                Err(DateError::Unreadable) => {
                    self.error(
                        position,
                        format!("date `{}` is not a date such as 2021-12-20 or 2021-12-20T10:00:00+01:00", text.trim()),
                    );
                    None
                }
            };
        }
        match dated_name {
            Some(dated) => match ymd_date(dated.ymd) {
                Ok(date) => Some(midnight_utc(date)),
                Err(_) => {
                    let (y, m, d) = dated.ymd;
                    self.error((1, 1), format!("date {y:04}-{m:02}-{d:02} in the file name is not a real date"));
                    None
                }
            },
            None => {
                self.error(
                    (1, 1),
                    "post has no date: name the file YYYY-MM-DD-slug.md or set `date:` in the front matter",
                );
                None
            }
        }
    }

    fn last_update(&mut self, mapping: &Mapping) -> Option<DateTime<FixedOffset>> {
        let value = mapping.get("last_update")?;
        let text = match value {
            Value::Mapping(fields) => fields.get("date").and_then(scalar_text),
            other => scalar_text(other),
        }?;
        match parse_front_matter_date(&text) {
            Ok(date) => Some(date),
            Err(_) => {
                self.warning(
                    self.key_position("last_update"),
                    format!("last_update date `{text}` ignored: not a real date"),
                );
                None
            }
        }
    }

    fn tags(&mut self, mapping: &Mapping) -> Vec<Tag> {
        let mut labels = Vec::new();
        match mapping.get("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for item in items {
                    match item {
                        Value::Mapping(fields) => labels.extend(fields.get("label").and_then(scalar_text)),
                        other => match scalar_text(other) {
                            Some(label) => labels.push(label),
                            None => self.error(self.key_position("tags"), "each tag must be text"),
                        },
                    }
                }
            }
            Some(other) => match scalar_text(other) {
                Some(text) => labels.extend(text.split(',').map(str::to_string)),
                None => self.error(self.key_position("tags"), "`tags` must be a list of text"),
            },
        }
        let mut tags: Vec<Tag> = Vec::new();
        for label in labels.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            let tag = Tag::new(label);
            if !tags.iter().any(|t| t.slug == tag.slug) {
                tags.push(tag);
            }
        }
        tags
    }

    fn authors(&mut self, mapping: &Mapping, known: &AuthorMap, site_url: &str) -> Vec<Author> {
        let mut found = Vec::new();
        let items: Vec<&Value> = match mapping.get("authors") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items.iter().collect(),
            Some(other) => vec![other],
        };
        for item in items {
            match item {
                Value::Mapping(fields) => {
                    let key = fields.get("key").and_then(scalar_text);
                    let mut problems = Vec::new();
                    let inline = authors::author_from_mapping(fields, &mut problems);
                    for problem in problems {
                        self.warning(self.key_position("authors"), format!("author: {problem}"));
                    }
                    // `{ key: ada, title: … }` is an authors.yml entry with fields overridden.
                    match (key.and_then(|k| known.get(&k).cloned()), inline) {
                        (Some(base), inline) => found.push(Author {
                            title: inline.as_ref().and_then(|a| a.title.clone()).or(base.title.clone()),
                            url: inline.as_ref().and_then(|a| a.url.clone()).or(base.url.clone()),
                            image_url: inline.as_ref().and_then(|a| a.image_url.clone()).or(base.image_url.clone()),
                            ..base
                        }),
                        (None, Some(author)) => found.push(author),
                        (None, None) => self.error(self.key_position("authors"), "an inline author needs a `name`"),
                    }
                }
                other => match scalar_text(other) {
                    Some(key) => match known.get(key.trim()) {
                        Some(author) => found.push(author.clone()),
                        None => self.error(
                            self.key_position("authors"),
                            format!("author `{}` is not in authors.yml", key.trim()),
                        ),
                    },
                    None => {
                        self.error(self.key_position("authors"), "`authors` must be keys of authors.yml or objects")
                    }
                },
            }
        }
        if let Some(name) = self.text_field(mapping, "author").filter(|n| !n.trim().is_empty()) {
            let url = self.text_field(mapping, "authorURL");
            let image_url = self.text_field(mapping, "authorImageURL");
            let title = self.text_field(mapping, "authorTitle");
            found.push(Author { name: name.trim().to_string(), title, url, image_url, email: None });
        }
        let site_base = format!("{site_url}/");
        for author in &mut found {
            for (field, value) in [("url", &mut author.url), ("image_url", &mut author.image_url)] {
                let Some(reference) = value.take() else { continue };
                *value = remembered_web_url(&site_base, &reference);
                if value.is_none() {
                    let message =
                        format!("author `{}`: {field} `{reference}` is not a web address; left out", author.name);
                    self.warning(self.key_position("authors"), message);
                }
            }
        }
        found
    }
}

/// [`urls::web_url`], remembered per thread: every post by an author of
/// authors.yml names the same addresses, and parsing them again for each
/// post was 2% of a build. At most a few thousand are remembered.
fn remembered_web_url(base: &str, reference: &str) -> Option<String> {
    type Seen = std::collections::HashMap<String, std::collections::HashMap<String, Option<String>>>;
    thread_local! {
        static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::new());
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some(url) = seen.get(base).and_then(|by_reference| by_reference.get(reference)) {
            return url.clone();
        }
        let url = urls::web_url(base, reference);
        let by_reference = seen.entry(base.to_string()).or_default();
        if by_reference.len() >= 4096 {
            by_reference.clear();
        }
        by_reference.insert(reference.to_string(), url.clone());
        url
    })
}

/// The post's name (file stem, or folder name for `…/index.md`) and its folder
/// relative to the posts folder (`""` or ending in `/`).
fn post_name(relative: &Path) -> (String, String) {
    let stem = relative.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let parent = relative.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = parent.map(|p| format!("{}/", p.to_string_lossy().replace('\\', "/"))).unwrap_or_default();
    if stem == "index"
        && let Some(dir_name) = parent.and_then(|p| p.file_name()).and_then(|n| n.to_str())
    {
        return (dir_name.to_string(), folder);
    }
    (stem, folder)
}

/// Docusaurus takes a post's title from a leading `# Heading` when the front
/// matter has none; the heading (this byte range of the body) is then removed
/// from the body, the line left blank so line numbers hold.
fn heading_title(body: &str) -> Option<(String, std::ops::Range<usize>)> {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let content = line.trim_end();
        if content.trim().is_empty() || content.starts_with("import ") || content.starts_with("export ") {
            offset += line.len();
            continue;
        }
        let title = content.strip_prefix("# ")?.trim().trim_end_matches('#').trim().to_string();
        if title.is_empty() {
            return None;
        }
        return Some((title, offset..offset + content.len()));
    }
    None
}

fn midnight_utc(date: NaiveDate) -> DateTime<FixedOffset> {
    date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().fixed_offset()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_by_bytes_is_path_order() {
        let names = [
            "p/a",
            "p/a-b",
            "p/a/b",
            "p/a.md",
            "p/a/b.md",
            "p/ab",
            "p/a b",
            "p/a/",
            "p/A",
            "p/é",
            "p/e",
            "p/a-b/c",
            "p/a/b/c",
            "p/2021-01-01-x.md",
            "p/2021-01-01-x/index.md",
            "p/2021-01-01-xy.md",
            "p",
            "q",
            "p0",
            "p/\\x",
        ];
        let paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from(n.trim_end_matches('/'))).collect();
        for a in &paths {
            for b in &paths {
                assert_eq!(component_order(a, b), a.cmp(b), "{} vs {}", a.display(), b.display());
            }
        }
    }

    #[test]
    fn tag_slugs_collapse_runs_of_other_characters() {
        assert_eq!(tag_slug("Getting Started"), "getting-started");
        assert_eq!(tag_slug("  C++ / Rust!! "), "c-rust");
        assert_eq!(tag_slug("Ünïcode Tag"), "ünïcode-tag");
        assert_eq!(tag_slug("!!!"), "tag");
    }

    #[test]
    fn folder_posts_take_the_folder_name() {
        assert_eq!(
            post_name(Path::new("2026-09-22-spotlight/index.md")),
            ("2026-09-22-spotlight".into(), "2026-09-22-spotlight/".into())
        );
        assert_eq!(post_name(Path::new("2026-09-22-a.mdx")), ("2026-09-22-a".into(), String::new()));
    }

    #[test]
    fn bodies_are_read_again_and_a_file_changed_since_loading_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let posts = root.path().join("posts");
        std::fs::create_dir(&posts).unwrap();
        std::fs::write(posts.join("2026-01-02-a.md"), "---\ndate: 2026-01-02\n---\n\n# Heading title\n\nText\n")
            .unwrap();
        let config = Config::parse("site:\n  title: T\n  url: https://t.org\n", Path::new("newsroom.yaml")).unwrap();
        let loaded = load_posts(root.path(), &config).unwrap();
        let post = &loaded.posts[0];
        assert_eq!(post.title, "Heading title");
        let body = post.read_body_again().unwrap();
        assert_eq!((body.text.as_str(), body.line), ("\n\n\nText\n", 4));
        assert_eq!(post.read_body().unwrap().text, body.text, "the body kept from loading");
        std::fs::write(posts.join("2026-01-02-a.md"), "---\ndate: 2026-01-02\n---\n\n# Heading title\n\nMore text\n")
            .unwrap();
        let error = post.read_body_again().unwrap_err();
        assert!(error.is_error() && error.message.contains("changed during the build"), "{error:?}");
    }

    #[test]
    fn bodies_are_kept_within_the_memory_budget_and_read_again_beyond_it() {
        let root = tempfile::tempdir().unwrap();
        let posts = root.path().join("posts");
        std::fs::create_dir(&posts).unwrap();
        for day in 1..=4 {
            std::fs::write(
                posts.join(format!("2026-01-0{day}-a.md")),
                format!("---\ntitle: T\n---\n{}\n", "x".repeat(99)),
            )
            .unwrap();
        }
        let config = Config::parse("site:\n  title: T\n  url: https://t.org\n", Path::new("newsroom.yaml")).unwrap();
        let kept = |budget| {
            let loaded = load_posts_keeping(root.path(), &config, budget).unwrap();
            assert_eq!(loaded.posts.len(), 4);
            for post in &loaded.posts {
                assert_eq!(post.read_body().unwrap().text, format!("{}\n", "x".repeat(99)));
            }
            loaded.posts.iter().filter(|p| p.kept_body.is_some()).count()
        };
        // Each body is 100 bytes.
        assert_eq!(kept(0), 0);
        assert_eq!(kept(250), 2);
        assert_eq!(kept(400), 4);
        // Without a kept body, a file changed since loading is noticed.
        let loaded = load_posts_keeping(root.path(), &config, 0).unwrap();
        std::fs::write(posts.join("2026-01-01-a.md"), "---\ntitle: T\n---\nchanged\n").unwrap();
        assert!(loaded.posts[0].read_body().unwrap_err().message.contains("changed during the build"));
    }

    #[test]
    fn a_leading_heading_becomes_the_title() {
        let body = "\n# Validating traffic\n\nHello";
        let (title, range) = heading_title(body).unwrap();
        assert_eq!(title, "Validating traffic");
        assert_eq!(&body[range], "# Validating traffic");
        assert_eq!(heading_title("Text first\n# Not a title"), None);
    }
}
