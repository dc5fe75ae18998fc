//! The site: a folder with `newsroom.yaml` and posts, and the stages that
//! `build` and `check` run over it.
//!
//! `build` reads as its list of stages: load, render, resolve assets, make
//! feeds and the feeds page, write everything into a staging folder, swap it
//! in. The swap makes the build atomic: a failed build leaves the previous
//! `public/` as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use rayon::prelude::*;

use crate::config::{Config, ConfigError, ConfigErrors};
use crate::content::{self, Body, LoadedPosts, Post};
use crate::diagnostics::{self, Diagnostic};
use crate::digest::template::DigestTemplate;
use crate::digest::{Digest, DigestInput, Month};
use crate::feed::{self, Entry, FeedSpec};
use crate::markdown::{self, LinkContext, Parts, RenderedPost};
use crate::urls;

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

    /// Loads every post.
    pub fn load_posts(&self) -> Result<LoadedPosts> {
        content::load_posts(&self.root, &self.config)
    }

    /// The absolute URL of a post's folder, for relative references in it.
    pub fn post_base_url(&self, post: &Post) -> String {
        format!("{}{}", self.config.blog_url(), urls::encode_path(&post.folder))
    }

    /// Renders posts in parallel, in the order given. Each body is read,
    /// rendered, its local files resolved (into `copies`, problems into the
    /// rendering's diagnostics) and dropped.
    pub fn render_posts(
        &self,
        posts: &[&Post],
        post_links: &HashMap<String, String>,
        parts: Parts,
    ) -> Vec<RenderedPost> {
        posts.par_iter().map(|post| self.render_post(post, post_links, parts)).collect()
    }

    /// Renders one post; a body that cannot be read again gives an error diagnostic and no HTML.
    pub fn render_post(&self, post: &Post, post_links: &HashMap<String, String>, parts: Parts) -> RenderedPost {
        match post.read_body() {
            Ok(body) => self.render_body(post, &body, post_links, parts),
            Err(diagnostic) => RenderedPost::failed(diagnostic),
        }
    }

    /// Renders a post from its body, and resolves its local files.
    fn render_body(
        &self,
        post: &Post,
        body: &Body,
        post_links: &HashMap<String, String>,
        parts: Parts,
    ) -> RenderedPost {
        let base_url = self.post_base_url(post);
        let context = LinkContext { base_url: &base_url, permalink: &post.permalink, folder: &post.folder, post_links };
        let mut rendered = markdown::render_post(post, body, &context, parts);
        rendered.copies = resolve_assets(self, post, body, &rendered.local_refs, &mut rendered.diagnostics);
        rendered
    }

    /// Maps post files (relative to the posts folder) to permalinks.
    pub fn post_links(&self, posts: &[Post]) -> HashMap<String, String> {
        markdown::post_link_map(posts.iter().filter(|p| !p.draft), &self.config.posts)
    }
}

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
    /// Months with a web version of their digest.
    pub digest_archives: usize,
    /// Posts left out until their date.
    pub scheduled: Scheduled,
}

impl BuildReport {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
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
    // Listed posts are rendered as they load, while their text is at hand,
    // and kept up to a budget; the rest are read again a month at a time.
    // A post linking to another post's file needs every permalink, so its
    // early rendering is dropped and it renders again with them.
    let budget = AtomicUsize::new(budget);
    let no_links = HashMap::new();
    let render_early = |post: &mut Post, text: &str| -> Option<Box<RenderedPost>> {
        if !post.is_listed(now) || budget.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let body = post.body_from(text).ok()?;
        let rendered = site.render_body(post, &body, &no_links, parts);
        if links_other_posts(&rendered) {
            return None;
        }
        let size = rendered.memory_size();
        // Once one does not fit, none is rendered early any more.
        let fits = budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| Some(left.saturating_sub(size)));
        (fits.is_ok_and(|left| left >= size)).then(|| Box::new(rendered))
    };
    let (loaded, early) = content::load_posts_with(&site.root, &site.config, &render_early)?;
    let mut report = BuildReport {
        out_dir: out_dir.clone(),
        skipped: loaded.rejected.clone(),
        scheduled: Scheduled::of(&loaded.posts, now),
        ..Default::default()
    };
    let mut diagnostics = loaded.diagnostics;
    if diagnostics.iter().any(Diagnostic::is_error) && !options.keep_going {
        diagnostics::sort(&mut diagnostics);
        report.diagnostics = diagnostics;
        return Ok(report);
    }

    let listed: Vec<&Post> = loaded.posts.iter().filter(|p| p.is_listed(now)).collect();
    // Only posts linking to another post's file need every permalink: the
    // map is made when the first of them is rendered (at 100k posts it took
    // 90 ms on one core).
    let post_links = OnceLock::new();
    let in_feeds = feed::feed_members(&site.config, &listed);
    let template = DigestTemplate::load(&site.root)?;
    let staging = stage_dir(&out_dir)?;

    let mut by_month: BTreeMap<Month, MonthPosts> = BTreeMap::new();
    for (post, rendered) in loaded.posts.iter().zip(early) {
        if post.is_listed(now) {
            by_month.entry(Month::of(post.date)).or_default().push((post, rendered));
        }
    }
    let archives = by_month.len();
    let context = MonthContext {
        site,
        template: &template,
        out: staging.path(),
        post_links: &post_links,
        posts: &loaded.posts,
        no_links: &no_links,
        in_feeds: &in_feeds,
        parts,
    };
    let months: Vec<RenderedMonth> =
        by_month.into_par_iter().map(|(month, posts)| render_month(&context, month, posts)).collect::<Result<_>>()?;

    let mut assets = BTreeMap::new();
    let mut kept = Vec::new();
    for month in months {
        diagnostics.extend(month.diagnostics);
        report.skipped.extend(month.skipped);
        assets.extend(month.copies);
        kept.extend(month.kept);
    }
    if diagnostics.iter().any(Diagnostic::is_error) && !options.keep_going {
        diagnostics::sort(&mut diagnostics);
        report.diagnostics = diagnostics;
        return Ok(report);
    }
    let entries: Vec<Entry> = kept.iter().map(|(post, rendered)| Entry { post, rendered }).collect();
    let FeedOutput { sets: feed_sets, page_html } = feed_sets(site, &entries, now)?;
    let page_dir = staging.path().join(feed::page::DIR);
    fs::create_dir_all(&page_dir).with_context(|| format!("failed to create `{}`", page_dir.display()))?;
    write_file(&page_dir.join(feed::page::FILE), &page_html)?;
    // Creating files is most of the remaining time: both cores do it.
    feed_sets.par_iter().try_for_each(|(folder, files)| -> Result<()> {
        let dir = staging.path().join(folder);
        fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
        write_file(&dir.join(feed::RSS_FILE), &files.rss)?;
        write_file(&dir.join(feed::ATOM_FILE), &files.atom)?;
        write_file(&dir.join(feed::JSON_FILE), &files.json)?;
        if site.config.feeds.xslt {
            write_file(&dir.join(feed::XSLT_FILE), feed::XSLT)?;
        }
        Ok(())
    })?;
    assets.par_iter().try_for_each(|(relative, source)| -> Result<()> {
        let target = staging.path().join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
        }
        fs::copy(source, &target).with_context(|| format!("failed to copy `{}`", source.display()))?;
        Ok(())
    })?;
    replace_dir(staging, &out_dir)?;

    diagnostics::sort(&mut diagnostics);
    report.diagnostics = diagnostics;
    report.written = true;
    report.listed_posts = listed.len();
    report.feed_sets = feed_sets.len();
    report.assets_copied = assets.len();
    report.digest_archives = archives;
    // Freeing every post's metadata is ~0.1 s on one core at 100k posts:
    // done on another thread, which the process does not wait for.
    drop(entries);
    drop((kept, listed, in_feeds));
    let posts = loaded.posts;
    rayon::spawn(move || drop(posts));
    Ok(report)
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

/// A month's posts, each with its rendering when one was kept from loading.
type MonthPosts<'a> = Vec<(&'a Post, Option<Box<RenderedPost>>)>;

/// What every month's rendering shares.
struct MonthContext<'a> {
    site: &'a Site,
    template: &'a DigestTemplate,
    /// The staging folder the archive pages go into.
    out: &'a Path,
    /// Every post file's permalink, made when first needed.
    post_links: &'a OnceLock<HashMap<String, String>>,
    posts: &'a [Post],
    no_links: &'a HashMap<String, String>,
    /// The posts some feed carries ([`feed::feed_members`]).
    in_feeds: &'a HashSet<&'a Path>,
    parts: Parts,
}

/// What rendering one month leaves: its posts' problems and files, and the
/// renderings of the posts that feeds carry.
#[derive(Default)]
struct RenderedMonth<'a> {
    diagnostics: Vec<Diagnostic>,
    /// Posts that failed to render, left out.
    skipped: Vec<PathBuf>,
    copies: BTreeMap<PathBuf, PathBuf>,
    kept: Vec<(&'a Post, RenderedPost)>,
}

/// Renders a month's posts and writes the month's archive page
/// (`digest/YYYY-MM/index.html`, the web version of its digest, the "view in
/// browser" target of the emails).
fn render_month<'a>(context: &MonthContext, month: Month, mut posts: MonthPosts<'a>) -> Result<RenderedMonth<'a>> {
    let site = context.site;
    posts.sort_by(|(a, _), (b, _)| a.date.cmp(&b.date).then_with(|| a.permalink.cmp(&b.permalink)));
    let (posts, early): (Vec<&Post>, Vec<Option<Box<RenderedPost>>>) = posts.into_iter().unzip();
    let rendered: Vec<RenderedPost> = posts
        .par_iter()
        .zip(early)
        .map(|(post, early)| match early {
            Some(rendered) => *rendered,
            // Once the permalink map exists, it costs nothing to pass it.
            None => match site.render_post(post, context.post_links.get().unwrap_or(context.no_links), context.parts) {
                rendered if links_other_posts(&rendered) => {
                    let links = context.post_links.get_or_init(|| site.post_links(context.posts));
                    site.render_post(post, links, context.parts)
                }
                rendered => rendered,
            },
        })
        .collect();
    let mut result = RenderedMonth::default();
    // A post whose body could not be read again (changed or removed since
    // loading) is left out, like a post with an error when loading.
    let (mut good, mut good_rendered) = (Vec::with_capacity(posts.len()), Vec::with_capacity(posts.len()));
    for (post, mut rendered) in posts.into_iter().zip(rendered) {
        if rendered.diagnostics.iter().any(Diagnostic::is_error) {
            result.skipped.push(post.source.clone());
            result.diagnostics.append(&mut rendered.diagnostics);
        } else {
            good.push(post);
            good_rendered.push(rendered);
        }
    }
    let (posts, rendered) = (good, good_rendered);
    if posts.is_empty() {
        return Ok(result);
    }
    let input = DigestInput { month, posts: posts.iter().copied().zip(&rendered).collect() };
    let html = Digest::render_archive(&site.config, context.template, &input)?;
    let dir = context.out.join("digest").join(month.to_string());
    fs::create_dir_all(&dir).with_context(|| format!("failed to create `{}`", dir.display()))?;
    write_file(&dir.join("index.html"), &html)?;
    for (post, mut rendered) in posts.into_iter().zip(rendered) {
        result.diagnostics.append(&mut rendered.diagnostics);
        result.copies.append(&mut rendered.copies);
        if context.in_feeds.contains(post.source.as_path()) {
            result.kept.push((post, rendered));
        }
    }
    Ok(result)
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

/// A warning for each key a digest cannot be sent without that is not
/// set; one for them all on a site with no `digest:` section at all (one
/// that publishes feeds only, or has not set its digest up yet).
pub fn unset_sending_keys(site: &Site) -> Vec<Diagnostic> {
    let missing = site.config.digest.missing_for_sending();
    if missing.len() == crate::config::KEYS_REQUIRED_FOR_SENDING.len() && !site.config.has_section("digest") {
        let list = match site.input_problem(Input::Subscribers) {
            Some(_) => format!(", and needs a subscriber file (`{}`)", site.config.digest.subscribers_path().display()),
            None => String::new(),
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

/// What `check` found.
#[derive(Debug, Default, serde::Serialize)]
pub struct CheckReport {
    /// Every problem, sorted, errors first.
    pub diagnostics: Vec<Diagnostic>,
    /// How many of the errors are with the configuration or the inputs it
    /// names (exit status 2 rather than 1).
    pub configuration_errors: usize,
    /// Posts read (drafts included).
    pub posts: usize,
    pub scheduled: Scheduled,
}

impl CheckReport {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }
}

/// `newsroom check`: every problem of the configuration, the inputs it
/// names, every post and the digest template; nothing written.
pub fn check(site: &Site, now: DateTime<Utc>) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut diagnostics = Vec::new();
    let mut configuration = |error: ConfigError| {
        report.configuration_errors += 1;
        diagnostics.push(error.to_diagnostic());
    };
    let posts_missing = site.input_problem(Input::Posts).map(&mut configuration).is_some();
    // Without `digest.subscribers` a site may publish feeds only: its
    // default file missing is a warning; a file it names is an input.
    let subscribers = match site.input_problem(Input::Subscribers) {
        // Said once, with the rest of the digest's set-up, when there is none.
        Some(_) if !site.config.has_section("digest") => false,
        Some(problem) if site.config.digest.subscribers.is_none() => {
            diagnostics.push(Diagnostic::warning(
                &problem.path,
                (problem.line, problem.column),
                format!("{}: `digest preview` and `digest send` need one", problem.message),
            ));
            false
        }
        Some(problem) => {
            configuration(problem);
            false
        }
        None => true,
    };
    diagnostics.extend(unset_sending_keys(site));
    if !posts_missing {
        let loaded = site.load_posts()?;
        diagnostics.extend(loaded.diagnostics);
        report.posts = loaded.posts.len();
        report.scheduled = Scheduled::of(&loaded.posts, now);
        let checked: Vec<&Post> = loaded.posts.iter().filter(|p| !p.draft).collect();
        let post_links = site.post_links(&loaded.posts);
        let found: Vec<Vec<Diagnostic>> =
            checked.par_iter().map(|post| site.render_post(post, &post_links, Parts::EXCERPT).diagnostics).collect();
        diagnostics.extend(found.into_iter().flatten());
    }
    if let Err(error) = DigestTemplate::load(&site.root) {
        diagnostics.push(template_diagnostic(&error));
    }
    if subscribers {
        let source = site.config.digest.subscribers_path();
        diagnostics.extend(crate::subscribers::load(&site.subscribers_file(), source)?.diagnostics);
    }
    diagnostics::sort(&mut diagnostics);
    report.diagnostics = diagnostics;
    Ok(report)
}

/// A template error as a diagnostic: at its place when it has one.
fn template_diagnostic(error: &anyhow::Error) -> Diagnostic {
    match error.downcast_ref::<ConfigError>() {
        Some(problem) => Diagnostic::error(&problem.path, (problem.line, problem.column), problem.message.clone()),
        None => Diagnostic::error("templates/digest.md", (1, 1), format!("{error:#}")),
    }
}

/// The feed sets and the feeds page that lists them.
struct FeedOutput {
    /// The main set (folder `""`) and one per tag (`tags/<slug>`), serialised.
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
    let listed: Vec<feed::page::TagFeeds> =
        tags.iter().map(|(slug, label, spec)| feed::page::TagFeeds { slug, label, spec }).collect();
    let page_html = feed::page::feeds_page(config, &main, &listed).into_string();
    let specs: Vec<(String, &FeedSpec)> = std::iter::once((String::new(), &main))
        .chain(tags.iter().map(|(slug, _, spec)| (format!("tags/{slug}"), spec)))
        .collect();
    let sets =
        specs.into_par_iter().map(|(folder, spec)| Ok((folder, feed::write_all(spec)?))).collect::<Result<_>>()?;
    Ok(FeedOutput { sets, page_html })
}

/// Checks a post's local references: each must stay inside the posts folder
/// and exist. Returns the files to copy (output-relative path → source).
fn resolve_assets(
    site: &Site,
    post: &Post,
    body: &Body,
    local_refs: &BTreeSet<String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<PathBuf, PathBuf> {
    let mut copies = BTreeMap::new();
    if local_refs.is_empty() {
        return copies;
    }
    let posts_dir = site.posts_dir();
    let root = site.canonical_posts_dir.get_or_init(|| posts_dir.canonicalize().ok());
    for reference in local_refs {
        // Only needed for a warning: finding it costs a search of the body.
        let position = || body.text.find(reference.as_str()).map(|at| body.position(at)).unwrap_or((post.body_line, 1));
        let Some(relative) = markdown::html::normalise(&format!("{}{reference}", post.folder)) else {
            diagnostics.push(Diagnostic::warning(
                &post.source,
                position(),
                format!("`{reference}` leaves the posts folder; not copied"),
            ));
            continue;
        };
        let source = posts_dir.join(&relative);
        let metadata = fs::metadata(&source).ok();
        if !metadata.as_ref().is_some_and(fs::Metadata::is_file) {
            if !metadata.as_ref().is_some_and(fs::Metadata::is_dir) {
                diagnostics.push(Diagnostic::warning(
                    &post.source,
                    position(),
                    format!("`{reference}` does not exist; not copied"),
                ));
            }
            continue;
        }
        let inside = source.canonicalize().ok().zip(root.as_ref()).is_some_and(|(file, root)| file.starts_with(root));
        if !inside {
            diagnostics.push(Diagnostic::warning(
                &post.source,
                position(),
                format!("`{reference}` is a link leading outside the posts folder; not copied"),
            ));
            continue;
        }
        if markdown::is_post_file(&relative) {
            continue;
        }
        copies.insert(PathBuf::from(relative), source);
    }
    copies
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("failed to write `{}`", path.display()))
}

/// A staging folder beside the output folder (same file system, so the swap is a rename).
fn stage_dir(out_dir: &Path) -> Result<tempfile::TempDir> {
    let parent = out_dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(parent).with_context(|| format!("failed to create `{}`", parent.display()))?;
    tempfile::Builder::new()
        .prefix(".newsroom-staging-")
        .tempdir_in(parent)
        .with_context(|| format!("failed to create a staging folder in `{}`", parent.display()))
}

/// Puts the staged output in place of `out_dir`: the old folder is moved
/// aside, the new one renamed in, then the old one removed. If the second
/// rename fails the old folder is put back.
pub fn replace_dir(staging: tempfile::TempDir, out_dir: &Path) -> Result<()> {
    let staged = staging.keep();
    if out_dir.exists() {
        let name = out_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "public".into());
        let aside = out_dir.with_file_name(format!(".{name}.old-{}", std::process::id()));
        fs::rename(out_dir, &aside).with_context(|| format!("failed to move `{}` aside", out_dir.display()))?;
        if let Err(error) = fs::rename(&staged, out_dir) {
            let _ = fs::rename(&aside, out_dir);
            let _ = fs::remove_dir_all(&staged);
            return Err(error).with_context(|| format!("failed to put the new `{}` in place", out_dir.display()));
        }
        fs::remove_dir_all(&aside).with_context(|| format!("failed to remove `{}`", aside.display()))?;
    } else {
        fs::rename(&staged, out_dir).with_context(|| format!("failed to create `{}`", out_dir.display()))?;
    }
    Ok(())
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
