//! Loading a site's posts: the walk, then every file read and interpreted
//! on all cores, then the checks that need every post (one permalink, one
//! post). A post with an error is left out and named; the others go on.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::authors::{self, AuthorMap};
use super::bodies::{BODY_MEMORY_BUDGET, BodyCache, MemorySize};
use super::parse::parse_post;
use super::permalink::PermalinkOwners;
use super::post::{Body, Post};
use super::text::read_text;
use super::walk::post_files;
use crate::config::Config;
use crate::diagnostics::{Diagnostic, display_path};

/// Everything the posts folder held.
#[derive(Debug)]
pub struct LoadedPosts<T: MemorySize = Body> {
    /// Posts without errors (drafts included), sorted by source path.
    pub posts: Vec<Post>,
    /// What loading kept of the posts for rendering (their bodies, unless
    /// asked for something else), up to a memory budget.
    pub kept: BodyCache<T>,
    /// Every problem found, in no particular order.
    pub diagnostics: Vec<Diagnostic>,
    /// Posts left out because of an error.
    pub rejected: Vec<PathBuf>,
}

impl<T: MemorySize> Default for LoadedPosts<T> {
    fn default() -> LoadedPosts<T> {
        LoadedPosts { posts: Vec::new(), kept: BodyCache::default(), diagnostics: Vec::new(), rejected: Vec::new() }
    }
}

/// Loads every post of a site.
pub fn load(site: &crate::site::Site) -> anyhow::Result<LoadedPosts> {
    load_posts(&site.root, &site.config)
}

/// Loads every post under the site's posts folder, keeping their bodies
/// up to [`BODY_MEMORY_BUDGET`].
pub fn load_posts(root: &Path, config: &Config) -> anyhow::Result<LoadedPosts> {
    load_posts_keeping(root, config, BODY_MEMORY_BUDGET, &|post, text| Body::from_text(post, text).ok())
}

/// Loads every post, keeping up to `budget` bytes of what `keep` makes of
/// each post that loaded and its file's text, while the text is at hand.
/// `build` renders here, so that the posts whose renderings it can keep
/// are read once.
pub fn load_posts_keeping<T: MemorySize + Send>(
    root: &Path,
    config: &Config,
    budget: usize,
    keep: &(dyn Fn(&Post, &str) -> Option<T> + Sync),
) -> anyhow::Result<LoadedPosts<T>> {
    let posts_dir = root.join(&config.posts);
    if !posts_dir.is_dir() {
        anyhow::bail!("the posts folder `{}` does not exist (set `posts:` in newsroom.yaml)", posts_dir.display());
    }
    let mut loaded = LoadedPosts { kept: BodyCache::with_budget(budget), ..LoadedPosts::default() };
    let authors = load_authors(root, &posts_dir, &mut loaded.diagnostics);
    let files = post_files(root, &posts_dir, &mut loaded.diagnostics)?;
    let kept = &loaded.kept;
    let results: Vec<(PathBuf, Option<Post>, Vec<Diagnostic>)> = files
        .par_iter()
        .map(|file| {
            let source = display_path(root, file);
            let mut diagnostics = Vec::new();
            let post = read_text(file, &source, &mut diagnostics).and_then(|text| {
                let post = parse_post(&text, file, &source, &posts_dir, config, &authors, &mut diagnostics)?;
                kept.keep(&post, || keep(&post, &text));
                Some(post)
            });
            (source, post, diagnostics)
        })
        .collect();
    let mut permalinks = PermalinkOwners::with_capacity(results.len());
    let (all_diagnostics, rejected) = (&mut loaded.diagnostics, &mut loaded.rejected);
    // Collected in place: the results' buffer becomes the posts' (at 100k
    // posts, two such buffers at once were ~50 MB of the peak).
    loaded.posts = results
        .into_iter()
        .filter_map(|(source, post, mut diagnostics)| {
            if let Some(post) = &post {
                diagnostics.extend(permalinks.conflict(&post.permalink, &source));
            }
            let failed = diagnostics.iter().any(Diagnostic::is_error);
            all_diagnostics.extend(diagnostics);
            match post {
                Some(post) if !failed => {
                    permalinks.claim(post.permalink.clone(), source);
                    Some(post)
                }
                post => {
                    // What was kept of a post left out is never asked for.
                    post.map(|post| kept.take(&post));
                    rejected.push(source);
                    None
                }
            }
        })
        .collect();
    Ok(loaded)
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
