//! `newsroom build`'s stage: feeds, the feeds page, each month's archive
//! page and the posts' local files, written into a staging folder and
//! swapped in (see [`crate::staging`]).
//!
//! It reads as its list of stages: load (rendering listed posts as they
//! load, up to a memory budget), render the rest a month at a time (each
//! month's archive page written as it goes, then each cadence's index of
//! them, [`editions_index`]), make the feed sets, write them, swap the
//! folder in. The posts' local files are copied on a thread
//! of their own from the moment a post's rendering names them, and a
//! re-build keeps the earlier copies of those that did not change
//! ([`assets`]), and the archive pages of the editions whose config,
//! template and renderings did not change ([`pages`]).

mod assets;
mod editions_index;
mod pages;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::content::{self, Body, BodyCache, LoadedPosts, Post, Scheduled};
use crate::diagnostics::{self, Diagnostic};
use crate::digest::assemble::assemble;
use crate::digest::{Digest, DigestInput, Edition};
use crate::edition::Cadence;
use crate::email::template::DigestTemplate;
use crate::feed::{self, Entry, FeedSpec};
use crate::markdown::{self, Parts, RenderedPost};
use crate::render;
use crate::site::{Input, Site};
use crate::staging::{replace_dir_reusing, stage_dir};
use crate::urls;
use assets::Copier;
pub use assets::MANIFEST;
pub use pages::MANIFEST as PAGES_MANIFEST;
use pages::Pages;

/// What `build` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Where to write; `public/` in the site folder by default.
    pub out_dir: Option<PathBuf>,
    /// Skip posts with errors instead of refusing to build.
    pub keep_going: bool,
}

/// What `build` did.
#[derive(Debug, Default)]
pub struct BuildReport {
    /// Every problem found, sorted, errors first.
    pub diagnostics: Vec<Diagnostic>,
    /// Posts left out because of errors.
    pub skipped: Vec<PathBuf>,
    /// Whether the output was written (false when errors stopped the build).
    pub written: bool,
    pub out_dir: PathBuf,
    /// Listed posts (in feeds, subject to the limit).
    pub listed_posts: usize,
    /// Feed sets written: the site's and one per tag.
    pub feed_sets: usize,
    /// Local files copied into the output.
    pub assets_copied: usize,
    /// Local files unchanged since the previous build, whose copies in the
    /// previous output were kept.
    pub assets_reused: usize,
    /// Months with a web version of their digest.
    pub digest_archives: usize,
    /// Of those, the pages unchanged since the previous build, whose copies
    /// in the previous output were kept.
    pub digest_archives_kept: usize,
    /// Posts left out until their date.
    pub scheduled: Scheduled,
}

impl BuildReport {
    pub fn errors(&self) -> usize {
        crate::diagnostics::counts(&self.diagnostics).0
    }
    pub fn warnings(&self) -> usize {
        crate::diagnostics::counts(&self.diagnostics).1
    }
}

/// `newsroom build`: feeds and assets into the output folder, atomically.
///
/// Posts are loaded without their bodies; listed ones are rendered as they
/// load and their renderings kept up to [`RENDERINGS_MEMORY_BUDGET`]. Then,
/// a month at a time, the month's posts without a kept rendering are read
/// again and rendered, the month's archive page is written, and the
/// renderings are dropped, except the few that some feed carries. Memory
/// holds the posts' metadata, the budget and the months being rendered,
/// whatever the number of posts.
pub fn build(site: &Site, options: &BuildOptions, now: DateTime<Utc>) -> Result<BuildReport> {
    build_keeping(site, options, now, RENDERINGS_MEMORY_BUDGET)
}

/// [`build`], keeping at most `budget` bytes of renderings from loading.
fn build_keeping(site: &Site, options: &BuildOptions, now: DateTime<Utc>, budget: usize) -> Result<BuildReport> {
    site.require(&[Input::Posts])?;
    let out_dir = options.out_dir.clone().unwrap_or_else(|| site.default_out_dir());
    let full = site.config.feeds.content == crate::config::FeedContent::Full;
    let parts = if full { Parts::FULL } else { Parts::EXCERPT };
    let mut report = BuildReport { out_dir: out_dir.clone(), ..Default::default() };

    let no_links = HashMap::new();
    let staging = stage_dir(&out_dir)?;
    // Dropped (and so finished) before the staging folder on every way out.
    let copier = Copier::start(staging.path(), &out_dir)?;
    let pages = Pages::start(&out_dir, &site.config);
    let loaded = load_rendering_listed(site, now, parts, budget, &no_links, &copier)?;
    report.skipped = loaded.rejected.clone();
    report.scheduled = Scheduled::of(&loaded.posts, now);
    let mut diagnostics = loaded.diagnostics;
    diagnostics.extend(crate::digest::assemble::left_out_of_sent_digests_of(site, &loaded.posts));
    if diagnostics.iter().any(Diagnostic::is_error) && !options.keep_going {
        return Ok(report.stopped(diagnostics));
    }

    let listed: Vec<&Post> = loaded.posts.iter().filter(|p| p.is_listed(now)).collect();
    // Only posts linking to another post's file need every permalink: the
    // map is made when the first of them is rendered (at 100k posts it took
    // 90 ms on one core).
    let post_links = OnceLock::new();
    let in_feeds = feed::feed_members(&site.config, &listed);
    // The web version of every edition of each cadence the site sends
    // (a message's "view in browser" link): the first cadence's editions
    // take the renderings made while loading, and give the feeds theirs;
    // another cadence's render its posts again.
    let editions = &site.config.digest.editions;
    let mut cadences: Vec<Cadence> = editions.cadences.iter().copied().filter(|c| *c != Cadence::PerPost).collect();
    if cadences.is_empty() {
        // A per-post site's messages link no archive; its months have one, as always.
        cadences.push(Cadence::Monthly);
    }
    let templates: Vec<(Cadence, DigestTemplate)> = cadences
        .iter()
        .map(|&cadence| Ok((cadence, DigestTemplate::load_for(&site.root, cadence)?)))
        .collect::<Result<_>>()?;
    let context = MonthContext {
        site,
        templates: &templates,
        out: staging.path(),
        post_links: &post_links,
        posts: &loaded.posts,
        early: &loaded.kept,
        no_links: &no_links,
        in_feeds: &in_feeds,
        parts,
        copier: &copier,
        pages: &pages,
    };
    let mut by_edition: BTreeMap<(usize, Edition), Vec<&Post>> = BTreeMap::new();
    for post in listed.iter().copied() {
        for (rank, cadence) in cadences.iter().enumerate() {
            if let Some(edition) = Edition::containing(*cadence, post.date.date_naive(), editions.week_starts) {
                by_edition.entry((rank, edition)).or_default().push(post);
            }
        }
    }
    let archives = by_edition.values().filter(|posts| !posts.is_empty()).count();
    let (first, others): (Vec<_>, Vec<_>) = by_edition.into_iter().partition(|((rank, _), _)| *rank == 0);
    let months: Vec<RenderedMonth> = first
        .into_par_iter()
        .map(|((_, edition), posts)| render_month(&context, edition, posts))
        .collect::<Result<_>>()?;
    // Their renderings and problems are the first cadence's again.
    let others: Vec<Option<(Edition, usize)>> = others
        .into_par_iter()
        .map(|((_, edition), posts)| render_month(&context, edition, posts).map(|month| month.written))
        .collect::<Result<_>>()?;
    let mut written: BTreeMap<Cadence, Vec<(Edition, usize)>> = BTreeMap::new();
    for (edition, posts) in months.iter().filter_map(|month| month.written.clone()).chain(others.into_iter().flatten())
    {
        written.entry(edition.cadence()).or_default().push((edition, posts));
    }
    for (cadence, editions) in &mut written {
        editions_index::write(&site.config, staging.path(), *cadence, editions)?;
    }

    let mut in_a_feed = Vec::new();
    for month in months {
        diagnostics.extend(month.diagnostics);
        report.skipped.extend(month.skipped);
        in_a_feed.extend(month.kept);
    }
    if diagnostics.iter().any(Diagnostic::is_error) && !options.keep_going {
        return Ok(report.stopped(diagnostics));
    }
    let entries: Vec<Entry> = in_a_feed.iter().map(|(post, rendered)| Entry { post, rendered }).collect();
    let feeds = feed_sets(site, &entries, now)?;
    let feeds_written = write_feeds(site, staging.path(), &feeds);
    let published = copier.finish();
    feeds_written?;
    let published = published?;
    // After the copies: a post's file of the manifest's name wins.
    report.digest_archives_kept = pages.finish(staging.path())?;
    report.assets_copied = published.copied;
    report.assets_reused = published.reused;
    replace_dir_reusing(staging, &out_dir, &published.reused_folders)?;

    diagnostics::sort(&mut diagnostics);
    report.diagnostics = diagnostics;
    report.written = true;
    report.listed_posts = listed.len();
    report.feed_sets = feeds.sets.len();
    report.digest_archives = archives;
    // Freeing every post's metadata is ~0.1 s on one core at 100k posts:
    // done on another thread, which the process does not wait for.
    drop(entries);
    drop((in_a_feed, listed, in_feeds));
    let posts = loaded.posts;
    rayon::spawn(move || drop(posts));
    Ok(report)
}

impl BuildReport {
    /// The report of a build that errors stopped before it wrote anything.
    fn stopped(mut self, mut diagnostics: Vec<Diagnostic>) -> BuildReport {
        diagnostics::sort(&mut diagnostics);
        self.diagnostics = diagnostics;
        self
    }
}

/// Loads the posts, rendering the listed ones as they load, while their
/// text is at hand, and keeping those renderings up to `budget` bytes; the
/// others are read again when their month is rendered. A post linking to
/// another post's file needs every permalink, so it is not rendered early:
/// it renders with them.
fn load_rendering_listed(
    site: &Site,
    now: DateTime<Utc>,
    parts: Parts,
    budget: usize,
    no_links: &HashMap<String, String>,
    copier: &Copier,
) -> Result<LoadedPosts<RenderedPost>> {
    let render_early = |post: &Post, text: &str| -> Option<RenderedPost> {
        if !post.is_listed(now) {
            return None;
        }
        let body = Body::from_text(post, text).ok()?;
        let mut rendered = render::render_body(site, post, &body, no_links, parts);
        if links_other_posts(&rendered) {
            return None;
        }
        copier.take_copies(&mut rendered);
        Some(rendered)
    };
    content::load_posts_keeping(&site.root, &site.config, budget, &render_early)
}

/// Writes the feeds page and every feed set into the staging folder.
fn write_feeds(site: &Site, out: &Path, feeds: &FeedOutput) -> Result<()> {
    let page_dir = out.join(feed::page::DIR);
    fs::create_dir_all(&page_dir).with_context(|| format!("failed to create `{}`", page_dir.display()))?;
    write_file(&page_dir.join(feed::page::FILE), &feeds.page_html)?;
    // Creating files is most of the remaining time: both cores do it.
    feeds.sets.par_iter().try_for_each(|(folder, files)| -> Result<()> {
        let dir = out.join(folder);
        fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
        write_file(&dir.join(feed::RSS_FILE), &files.rss)?;
        write_file(&dir.join(feed::ATOM_FILE), &files.atom)?;
        write_file(&dir.join(feed::JSON_FILE), &files.json)?;
        if site.config.feeds.xslt {
            write_file(&dir.join(feed::XSLT_FILE), feed::XSLT)?;
        }
        Ok(())
    })
}

/// Whether a rendering made without the other posts' permalinks met a link
/// to another post's file (kept as a file reference) and must be made again
/// with them.
fn links_other_posts(rendered: &RenderedPost) -> bool {
    rendered.local_refs.iter().any(|r| markdown::is_post_file(r))
}

/// How many bytes of renderings `build` keeps from loading (see
/// [`build`]): the same as the bodies [`content::load_posts`] keeps, and a
/// rendering is a fraction of its body, so ~5 times as many posts are read
/// once.
const RENDERINGS_MEMORY_BUDGET: usize = content::BODY_MEMORY_BUDGET;

/// What every month's rendering shares.
struct MonthContext<'a> {
    site: &'a Site,
    /// Each cadence's template (`templates/digest-weekly.md`, or the one).
    templates: &'a [(Cadence, DigestTemplate)],
    /// The staging folder the archive pages go into.
    out: &'a Path,
    /// Every post file's permalink, made when first needed.
    post_links: &'a OnceLock<HashMap<String, String>>,
    posts: &'a [Post],
    /// The renderings made while loading.
    early: &'a BodyCache<RenderedPost>,
    no_links: &'a HashMap<String, String>,
    /// The posts some feed carries ([`feed::feed_members`]).
    in_feeds: &'a HashSet<&'a Path>,
    parts: Parts,
    copier: &'a Copier,
    /// The previous output's archive pages, which a re-build may keep.
    pages: &'a Pages,
}

/// What rendering one month leaves: its posts' problems and files, and the
/// renderings of the posts that feeds carry.
#[derive(Default)]
struct RenderedMonth<'a> {
    diagnostics: Vec<Diagnostic>,
    /// Posts that failed to render, left out.
    skipped: Vec<PathBuf>,
    kept: Vec<(&'a Post, RenderedPost)>,
    /// The edition whose web version was written, and its post count.
    written: Option<(Edition, usize)>,
}

/// Renders a month's posts and writes the month's archive page
/// (`digest/YYYY-MM/index.html`, the web version of its digest, the "view in
/// browser" target of the emails).
fn render_month<'a>(context: &MonthContext, edition: Edition, posts: Vec<&'a Post>) -> Result<RenderedMonth<'a>> {
    let rendered: Vec<(&Post, RenderedPost)> = posts
        .into_par_iter()
        .map(|post| (post, context.early.take(post).unwrap_or_else(|| render_again(context, post))))
        .collect();
    let assembled = assemble(edition, rendered);
    if !assembled.posts.is_empty() {
        let template = context
            .templates
            .iter()
            .find(|(cadence, _)| *cadence == assembled.edition.cadence())
            .map(|(_, template)| template)
            .expect("a template for every cadence");
        write_archive(context, template, &assembled.input())?;
    }
    let written = (!assembled.posts.is_empty()).then(|| (assembled.edition.clone(), assembled.posts.len()));
    let mut result =
        RenderedMonth { diagnostics: assembled.diagnostics, skipped: assembled.skipped, written, ..Default::default() };
    for (post, rendered) in assembled.posts {
        if context.in_feeds.contains(post.source.as_path()) {
            result.kept.push((post, rendered));
        }
    }
    Ok(result)
}

/// Writes an edition's archive page, or keeps the previous output's when
/// it was made of the same ([`pages`]).
fn write_archive(context: &MonthContext, template: &DigestTemplate, input: &DigestInput) -> Result<()> {
    let relative = format!("digest/{}/index.html", input.edition.web_path());
    let fingerprint = context.pages.fingerprint(template, input);
    if fingerprint.is_some_and(|fingerprint| context.pages.keep(context.out, &relative, fingerprint)) {
        return Ok(());
    }
    let html = Digest::render_archive(&context.site.config, template, input)?;
    let path = context.out.join(&relative);
    let dir = path.parent().expect("a page is in a folder");
    fs::create_dir_all(dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    write_file(&path, &html)?;
    context.pages.wrote(&relative, fingerprint, &html);
    Ok(())
}

/// Renders a post whose rendering was not kept from loading: its body read
/// again, and rendered again with every permalink when it links another
/// post's file.
fn render_again(context: &MonthContext, post: &Post) -> RenderedPost {
    let body = match Body::read(post) {
        Ok(body) => body,
        Err(diagnostic) => return RenderedPost::failed(diagnostic),
    };
    // Once the permalink map exists, it costs nothing to pass it.
    let links = context.post_links.get().unwrap_or(context.no_links);
    let mut rendered = match render::render_body(context.site, post, &body, links, context.parts) {
        rendered if links_other_posts(&rendered) => {
            let links = context.post_links.get_or_init(|| render::post_links(context.site, context.posts));
            render::render_body(context.site, post, &body, links, context.parts)
        }
        rendered => rendered,
    };
    context.copier.take_copies(&mut rendered);
    rendered
}

/// The feed sets and the feeds page that lists them.
struct FeedOutput {
    /// The main set (folder `""`), one per topic (`topics/<key>`) and one
    /// per tag (`tags/<slug>`), serialised.
    sets: Vec<(String, feed::FeedFiles)>,
    /// `feeds/index.html`.
    page_html: String,
}

/// The main feed set and one per tag, serialised, and the feeds page.
fn feed_sets(site: &Site, entries: &[Entry], now: DateTime<Utc>) -> Result<FeedOutput> {
    let config = &site.config;
    let blog_url = config.blog_url();
    let fallback = now.fixed_offset();
    let main = FeedSpec::new(
        config,
        config.site.title.clone(),
        blog_url.clone(),
        blog_url.clone(),
        entries.to_vec(),
        fallback,
    );
    let mut by_tag: BTreeMap<&str, (&str, Vec<Entry>)> = BTreeMap::new();
    if config.feeds.tags {
        for entry in entries {
            for tag in &entry.post.tags {
                by_tag.entry(&tag.slug).or_insert_with(|| (&tag.label, Vec::new())).1.push(*entry);
            }
        }
    }
    let tags: Vec<(&str, &str, FeedSpec)> = by_tag
        .into_iter()
        .map(|(slug, (label, tagged))| {
            let tag_url = format!("{blog_url}tags/{}", urls::encode_path(slug));
            let title = format!("{} — {label}", config.site.title);
            (slug, label, FeedSpec::new(config, title, tag_url.clone(), format!("{tag_url}/"), tagged, fallback))
        })
        .collect();
    // A topic's feed set: the posts with any of its tags, at
    // `topics/<key>/`. Written whatever `feeds.tags` says: topics are
    // what the owner chose to offer.
    let topics: Vec<(&str, &str, FeedSpec)> = config
        .topics
        .topics
        .iter()
        .map(|topic| {
            let claimed: Vec<Entry> = entries.iter().filter(|entry| entry.post.is_of(topic)).copied().collect();
            let title = format!("{} — {}", config.site.title, topic.title);
            let base = format!("{blog_url}topics/{}/", urls::encode_path(&topic.key));
            (
                topic.key.as_str(),
                topic.title.as_str(),
                FeedSpec::new(config, title, blog_url.clone(), base, claimed, fallback),
            )
        })
        .collect();
    let listed_tags = listed_sets(&tags);
    let listed_topics = listed_sets(&topics);
    let page_html = feed::page::feeds_page(config, &main, &listed_topics, &listed_tags).into_string();
    let specs: Vec<(String, &FeedSpec)> = std::iter::once((String::new(), &main))
        .chain(topics.iter().map(|(key, _, spec)| (format!("topics/{key}"), spec)))
        .chain(tags.iter().map(|(slug, _, spec)| (format!("tags/{slug}"), spec)))
        .collect();
    let sets =
        specs.into_par_iter().map(|(folder, spec)| Ok((folder, feed::write_all(spec)?))).collect::<Result<_>>()?;
    Ok(FeedOutput { sets, page_html })
}

/// Feed sets as the feeds page lists them.
fn listed_sets<'a>(sets: &'a [(&'a str, &'a str, FeedSpec<'a>)]) -> Vec<feed::page::TagFeeds<'a>> {
    sets.iter().map(|(slug, label, spec)| feed::page::TagFeeds { slug, label, spec }).collect()
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .map(Result::unwrap)
            .filter(|e| e.file_type().is_file())
            .map(|e| (e.path().strip_prefix(dir).unwrap().to_path_buf(), fs::read(e.path()).unwrap()))
            .collect()
    }

    /// Renderings kept from loading and renderings made a month at a time
    /// (a post beyond the budget, or one linking another post's file) are
    /// the same bytes.
    #[test]
    fn output_is_the_same_whatever_the_renderings_budget() {
        let site = Site::open(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        let out = tempfile::tempdir().unwrap();
        let outputs: Vec<BTreeMap<PathBuf, Vec<u8>>> = [0, 3000, RENDERINGS_MEMORY_BUDGET]
            .into_iter()
            .map(|budget| {
                let dir = out.path().join(budget.to_string());
                let options = BuildOptions { out_dir: Some(dir.clone()), keep_going: false };
                let report = build_keeping(&site, &options, now, budget).unwrap();
                assert!(report.written && report.listed_posts > 3, "{report:?}");
                files(&dir)
            })
            .collect();
        assert!(outputs[0].len() > 10);
        assert!(outputs[1] == outputs[0], "budget 3000 differs from none");
        assert!(outputs[2] == outputs[0], "the default budget differs from none");
    }

    /// A post linking another post's file gets the permalink whether its
    /// rendering was kept from loading (budget) or made with its month.
    #[test]
    fn links_between_posts_resolve_with_any_budget() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("posts")).unwrap();
        fs::write(dir.path().join("newsroom.yaml"), "site:\n  title: T\n  url: https://t.example.org\n").unwrap();
        fs::write(dir.path().join("posts/2026-01-01-a.md"), "---\ntitle: A\n---\n\nA.\n\n<!--truncate-->\n").unwrap();
        let linking = "---\ntitle: B\n---\n\nSee [A](2026-01-01-a.md#top).\n\n<!--truncate-->\n";
        fs::write(dir.path().join("posts/2026-01-02-b.md"), linking).unwrap();
        let site = Site::open(dir.path()).unwrap();
        let now = "2026-11-22T12:00:00Z".parse().unwrap();
        for budget in [0, RENDERINGS_MEMORY_BUDGET] {
            let out = dir.path().join(format!("out-{budget}"));
            let options = BuildOptions { out_dir: Some(out.clone()), keep_going: false };
            build_keeping(&site, &options, now, budget).unwrap();
            let feed = fs::read_to_string(out.join("feed.json")).unwrap();
            assert!(
                feed.contains(r#"href=\"https://t.example.org/blog/2026/01/01/a#top\""#),
                "budget {budget}: {feed}"
            );
        }
    }
}
