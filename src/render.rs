//! Rendering a post of the site: its Markdown through [`crate::markdown`]
//! (pure, no file system), then its local files resolved against the posts
//! folder, each checked to exist and to stay inside it. What `build`,
//! `check` and the digest render, they render here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rayon::prelude::*;

use crate::content::{self, Body, BodyCache, Post};
use crate::diagnostics::Diagnostic;
use crate::markdown::{self, LinkContext, Parts, RenderedPost};
use crate::site::{LocalFile, PostsEntry, Site};

/// The absolute URL of a post's folder, for relative references in it.
pub fn post_base_url(site: &Site, post: &Post) -> String {
    content::folder_url(&site.config.blog_url(), &post.folder)
}

/// Renders posts in parallel, in the order given. Each body is taken from
/// `bodies` (or read again), rendered, its local files resolved (into
/// `copies`, problems into the rendering's diagnostics) and dropped.
pub fn render_posts(
    site: &Site,
    posts: &[&Post],
    bodies: &BodyCache,
    post_links: &HashMap<String, String>,
    parts: Parts,
) -> Vec<RenderedPost> {
    posts.par_iter().map(|post| render_post(site, post, bodies, post_links, parts)).collect()
}

/// Renders one post, its body taken from `bodies` (or read again); a body
/// that cannot be read again gives an error diagnostic and no HTML.
pub fn render_post(
    site: &Site,
    post: &Post,
    bodies: &BodyCache,
    post_links: &HashMap<String, String>,
    parts: Parts,
) -> RenderedPost {
    match bodies.body(post) {
        Ok(body) => render_body(site, post, &body, post_links, parts),
        Err(diagnostic) => RenderedPost::failed(diagnostic),
    }
}

/// Renders a post from its body, and resolves its local files.
pub fn render_body(
    site: &Site,
    post: &Post,
    body: &Body,
    post_links: &HashMap<String, String>,
    parts: Parts,
) -> RenderedPost {
    let base_url = post_base_url(site, post);
    let context = LinkContext { base_url: &base_url, permalink: &post.permalink, folder: &post.folder, post_links };
    let mut rendered = markdown::render_post(post, body, &context, parts);
    rendered.copies = resolve_assets(site, post, body, &rendered.local_refs, &mut rendered.diagnostics);
    rendered
}

/// Maps post files (relative to the posts folder) to permalinks.
pub fn post_links(site: &Site, posts: &[Post]) -> HashMap<String, String> {
    markdown::post_link_map(posts.iter().filter(|p| !p.draft), &site.config.posts)
}

/// Checks a post's local references: each must stay inside the posts folder
/// and exist. Returns the files to copy (output-relative path → source).
fn resolve_assets(
    site: &Site,
    post: &Post,
    body: &Body,
    local_refs: &BTreeSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, LocalFile> {
    let mut copies = BTreeMap::new();
    if local_refs.is_empty() {
        return copies;
    }
    for reference in local_refs {
        // Only needed for a warning: finding it costs a search of the body.
        let position = || body.text.find(reference.as_str()).map(|at| body.position(at)).unwrap_or((post.body_line, 1));
        let warn = |diagnostics: &mut Vec<Diagnostic>, problem: &str| {
            diagnostics.push(Diagnostic::warning(
                &post.source,
                position(),
                format!("`{reference}` {problem}; not copied"),
            ));
        };
        let Some(relative) = markdown::html::normalise(&format!("{}{reference}", post.folder)) else {
            warn(diagnostics, "leaves the posts folder");
            continue;
        };
        match site.posts_entry(&relative) {
            PostsEntry::File(file) if !markdown::is_post_file(&relative) => {
                copies.insert(relative, file);
            }
            PostsEntry::File(_) | PostsEntry::Folder => {}
            PostsEntry::Missing => warn(diagnostics, "does not exist"),
            PostsEntry::Outside => warn(diagnostics, "is a link leading outside the posts folder"),
        }
    }
    copies
}
