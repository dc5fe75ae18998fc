//! Post bodies between loading and rendering, within a memory budget.
//!
//! Loading has each post's text in hand once. What a later stage needs of
//! it (the body itself for `check` and the digest, the rendering for
//! `build`) is kept from then on in a [`BodyCache`], up to a byte budget;
//! beyond the budget the body is read again from the post's file when the
//! stage comes to it, and a file that changed since it was loaded is an
//! error. A site of 100,000 posts then needs memory for their metadata and
//! the budget, not for 800 MB of Markdown.

use std::collections::HashMap;
use std::ffi::OsString;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::front_matter;
use super::post::{Body, Post};
use super::text::read_text;
use crate::diagnostics::Diagnostic;

/// How many bytes [`super::load_posts`] keeps of post bodies for
/// rendering, and `build` of renderings. A site of ~4,000 typical (8 KB)
/// posts is read once; one of 100,000 still needs memory for this and its
/// metadata only (64 MiB took 100,000 posts over the 300 MB the benchmarks
/// allow).
pub const BODY_MEMORY_BUDGET: usize = 32 * 1024 * 1024;

/// About how many bytes of memory a value holds: what a [`BodyCache`]
/// counts against its budget.
pub trait MemorySize {
    fn memory_size(&self) -> usize;
}

impl MemorySize for Body {
    fn memory_size(&self) -> usize {
        self.text.len()
    }
}

/// What loading kept of each post for a later stage: its [`Body`], or
/// what the stage made of it while the text was at hand (`build` keeps
/// renderings), up to a byte budget. Each is handed out once
/// ([`BodyCache::take`]), and memory goes back with it.
///
/// Once one does not fit, nothing more is kept: keeping costs the work of
/// making it, which a full cache would throw away.
pub struct BodyCache<T = Body> {
    /// Bytes that may still be kept; 0 once something did not fit.
    left: AtomicUsize,
    /// By the post's source path, as bytes (`Path`'s hash parses
    /// components); boxed, so that the table (which keeps its old buffer
    /// while it grows) holds pointers, not renderings.
    kept: Mutex<HashMap<OsString, Box<T>>>,
}

impl<T: MemorySize> BodyCache<T> {
    /// An empty cache that keeps at most `budget` bytes.
    pub fn with_budget(budget: usize) -> BodyCache<T> {
        BodyCache { left: AtomicUsize::new(budget), kept: Mutex::new(HashMap::new()) }
    }

    /// Keeps what `make` makes for `post` while the budget has room for
    /// it; `make` is not called once the cache is full.
    pub fn keep(&self, post: &Post, make: impl FnOnce() -> Option<T>) {
        if self.left.load(Ordering::Relaxed) == 0 {
            return;
        }
        let Some(kept) = make() else { return };
        let size = kept.memory_size();
        let before =
            self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| Some(left.saturating_sub(size)));
        if before.is_ok_and(|left| left >= size) {
            self.kept().insert(post.source.as_os_str().to_owned(), Box::new(kept));
        }
    }

    /// What was kept for `post`, if anything; handed out once.
    pub fn take(&self, post: &Post) -> Option<T> {
        self.kept().remove(post.source.as_os_str()).map(|kept| *kept)
    }

    /// How many posts have something kept that was not taken yet.
    pub fn len(&self) -> usize {
        self.kept().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<OsString, Box<T>>> {
        // A thread that panicked holding the lock left the map whole.
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl BodyCache<Body> {
    /// The post's body: the one kept from loading (once), else read again
    /// from its file.
    pub fn body(&self, post: &Post) -> Result<Body, Diagnostic> {
        self.take(post).map_or_else(|| Body::read(post), Ok)
    }
}

impl<T: MemorySize> Default for BodyCache<T> {
    /// A cache that keeps nothing.
    fn default() -> BodyCache<T> {
        BodyCache::with_budget(0)
    }
}

impl<T> std::fmt::Debug for BodyCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.kept.lock().map_or(0, |kept| kept.len());
        f.debug_struct("BodyCache").field("left", &self.left).field("kept", &kept).finish()
    }
}

impl Body {
    /// Reads the post's body again from its file.
    pub fn read(post: &Post) -> Result<Body, Diagnostic> {
        let mut diagnostics = Vec::new();
        let text = read_text(&post.path, &post.source, &mut diagnostics)
            .ok_or_else(|| diagnostics.into_iter().find(Diagnostic::is_error).unwrap_or_else(|| changed(post)))?;
        Body::from_text(post, &text)
    }

    /// The body in the post file's (decoded) text: what follows the front
    /// matter, without the heading the title came from. An error when the
    /// text is not the one the post was loaded from.
    pub fn from_text(post: &Post, text: &str) -> Result<Body, Diagnostic> {
        let split = front_matter::split(text).map_err(|_| changed(post))?;
        let mut body = split.body.to_string();
        if let Some(heading) = &post.heading {
            if body.get(heading.clone()).is_none_or(|h| !h.starts_with("# ")) {
                return Err(changed(post));
            }
            body.replace_range(heading.clone(), "");
        }
        if body.len() != post.body_len || split.body_line != post.body_line {
            return Err(changed(post));
        }
        Ok(Body { text: body, line: post.body_line })
    }
}

fn changed(post: &Post) -> Diagnostic {
    Diagnostic::error(&post.source, (1, 1), "the file changed during the build; run it again")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;
    use crate::content::{AuthorMap, load_posts, load_posts_keeping};

    fn config() -> Config {
        Config::parse("site:\n  title: T\n  url: https://t.org\n", Path::new("newsroom.yaml")).unwrap()
    }

    #[test]
    fn bodies_are_read_again_and_a_file_changed_since_loading_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        let posts = root.path().join("posts");
        std::fs::create_dir(&posts).unwrap();
        std::fs::write(posts.join("2026-01-02-a.md"), "---\ndate: 2026-01-02\n---\n\n# Heading title\n\nText\n")
            .unwrap();
        let loaded = load_posts(root.path(), &config()).unwrap();
        let post = &loaded.posts[0];
        assert_eq!(post.title, "Heading title");
        let body = Body::read(post).unwrap();
        assert_eq!((body.text.as_str(), body.line), ("\n\n\nText\n", 4));
        assert_eq!(loaded.kept.len(), 1);
        assert_eq!(loaded.kept.body(post).unwrap().text, body.text, "the body kept from loading");
        assert!(loaded.kept.is_empty(), "handed out once");
        std::fs::write(posts.join("2026-01-02-a.md"), "---\ndate: 2026-01-02\n---\n\n# Heading title\n\nMore text\n")
            .unwrap();
        let error = Body::read(post).unwrap_err();
        assert!(error.is_error() && error.message.contains("changed during the build"), "{error:?}");
        let error = loaded.kept.body(post).unwrap_err();
        assert!(error.message.contains("changed during the build"), "read again once taken: {error:?}");
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
        let config = config();
        let keep_body = |post: &Post, text: &str| Body::from_text(post, text).ok();
        let kept = |budget| {
            let loaded = load_posts_keeping(root.path(), &config, budget, &keep_body).unwrap();
            assert_eq!(loaded.posts.len(), 4);
            let kept = loaded.kept.len();
            for post in &loaded.posts {
                assert_eq!(loaded.kept.body(post).unwrap().text, format!("{}\n", "x".repeat(99)));
            }
            kept
        };
        // Each body is 100 bytes.
        assert_eq!(kept(0), 0);
        assert_eq!(kept(250), 2);
        assert_eq!(kept(400), 4);
        // Without a kept body, a file changed since loading is noticed.
        let loaded = load_posts_keeping(root.path(), &config, 0, &keep_body).unwrap();
        std::fs::write(posts.join("2026-01-01-a.md"), "---\ntitle: T\n---\nchanged\n").unwrap();
        assert!(loaded.kept.body(&loaded.posts[0]).unwrap_err().message.contains("changed during the build"));
    }

    /// Something made while loading is kept as long as it fits, and not
    /// even made once the cache is full.
    #[test]
    fn nothing_is_made_once_the_cache_is_full() {
        let config = config();
        let post = |name: &str| {
            let (text, path, authors) = ("---\ntitle: T\ndate: 2026-01-01\n---\n", Path::new(name), AuthorMap::new());
            crate::content::parse_post(text, path, path, Path::new(""), &config, &authors, &mut Vec::new()).unwrap()
        };
        let cache: BodyCache = BodyCache::with_budget(150);
        let made = std::cell::Cell::new(0);
        let body = |size: usize| {
            made.set(made.get() + 1);
            Some(Body { text: "x".repeat(size), line: 1 })
        };
        cache.keep(&post("a"), || body(100));
        cache.keep(&post("b"), || body(100));
        cache.keep(&post("c"), || body(10));
        assert_eq!((made.get(), cache.len()), (2, 1), "b did not fit, and c was not made");
        assert_eq!(cache.take(&post("a")).map(|b| b.text.len()), Some(100));
        assert!(cache.take(&post("a")).is_none(), "handed out once");
    }
}
