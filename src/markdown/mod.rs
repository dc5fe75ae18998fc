//! Rendering: a post's Markdown (or MDX-lite) to safe, absolute HTML, and the
//! excerpt cut at the truncate marker.
//!
//! The cut is made on pulldown-cmark's event stream, never on the raw text:
//! a marker inside code is text, and link reference definitions anywhere in
//! the post still resolve inside the excerpt because the parser has seen the
//! whole document. Rendering is pure: no file system, no clock.

pub mod html;
pub mod ids;
pub mod jsx;
pub mod mdx;
pub mod text;

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd};

use crate::content::{Body, MemorySize, Post};
use crate::diagnostics::Diagnostic;
use crate::site::LocalFile;
pub use html::LinkContext;

/// The Markdown extensions newsroom enables (GitHub-flavoured, as
/// Docusaurus), and Docusaurus's explicit heading ids (`## Title {#id}`).
pub fn parser_options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_HEADING_ATTRIBUTES
}

/// What [`render_post`] makes besides the excerpt's HTML, which it always makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Parts {
    /// The whole post as HTML (`content_html`), for feeds that carry it.
    pub content: bool,
    /// The excerpt as plain text (`excerpt_text`), for the email's text part.
    pub text: bool,
}

impl Parts {
    /// The excerpt's HTML alone: feeds of excerpts, the digest's web page.
    pub const EXCERPT: Parts = Parts { content: false, text: false };
    /// The excerpt's HTML and the whole post's.
    pub const FULL: Parts = Parts { content: true, text: false };
    /// The excerpt as HTML and as text: the email.
    pub const EMAIL: Parts = Parts { content: false, text: true };
    /// Everything.
    pub const ALL: Parts = Parts { content: true, text: true };
}

/// A post rendered for feeds (and, through the same cleaning, for email).
#[derive(Debug, Clone)]
pub struct RenderedPost {
    /// The excerpt as safe HTML with absolute URLs.
    pub excerpt_html: String,
    /// The whole post, when asked for.
    pub content_html: Option<String>,
    /// Whether the post had a truncate marker (otherwise the excerpt is the
    /// description or the first paragraph).
    pub has_marker: bool,
    /// The excerpt as plain text with numbered link references, for email
    /// (when asked for with [`Parts::text`]).
    pub excerpt_text: Option<text::PlainText>,
    /// The whole post as plain text (with [`Parts::content`] and
    /// [`Parts::text`] both): a per-post message of the full post.
    pub content_text: Option<text::PlainText>,
    /// Local files the post references, relative to its folder, as written.
    pub local_refs: BTreeSet<String>,
    /// Problems found while rendering (warnings only).
    pub diagnostics: Vec<Diagnostic>,
    /// The local files to publish with the post: output-relative path →
    /// source file (filled by the site, which knows the file system).
    pub copies: BTreeMap<String, LocalFile>,
}

impl RenderedPost {
    /// A post that could not be rendered: only the problem.
    pub fn failed(diagnostic: Diagnostic) -> RenderedPost {
        RenderedPost {
            excerpt_html: String::new(),
            content_html: None,
            has_marker: false,
            excerpt_text: None,
            content_text: None,
            local_refs: BTreeSet::new(),
            diagnostics: vec![diagnostic],
            copies: BTreeMap::new(),
        }
    }
}

impl MemorySize for RenderedPost {
    /// About how many bytes of memory it holds.
    fn memory_size(&self) -> usize {
        let paths = |path: &std::path::Path| path.as_os_str().len() + 64;
        let text = |text: &Option<text::PlainText>| {
            text.as_ref().map_or(0, |t| t.text.capacity() + t.links.iter().map(|l| l.len() + 32).sum::<usize>())
        };
        std::mem::size_of::<RenderedPost>()
            + self.excerpt_html.capacity()
            + self.content_html.as_ref().map_or(0, String::capacity)
            + text(&self.excerpt_text)
            + text(&self.content_text)
            + self.local_refs.iter().map(|r| r.len() + 64).sum::<usize>()
            + self.copies.iter().map(|(a, b)| a.len() + 64 + paths(&b.source)).sum::<usize>()
            + self.diagnostics.len() * 256
    }
}

/// Source text ready for the parser: MDX-lite and JSX attribute values
/// are rewritten, line-preserving.
pub fn markdown_source<'a>(post: &Post, body: &'a Body) -> Cow<'a, str> {
    prepared_source(post, body).0
}

/// [`markdown_source`], and a warning for each JSX expression removed.
fn prepared_source<'a>(post: &Post, body: &'a Body) -> (Cow<'a, str>, Vec<Diagnostic>) {
    let text: Cow<'a, str> = if post.mdx { mdx::to_markdown(&body.text).into() } else { body.text.as_str().into() };
    // Only text with `={` can hold a JSX attribute value: most posts skip the pass.
    if memchr::memmem::find(text.as_bytes(), b"={").is_none() {
        return (text, Vec::new());
    }
    match jsx::jsx_attribute_values(&text) {
        Some((rewritten, removed)) => {
            let warnings = removed
                .into_iter()
                .map(|r| Diagnostic::warning(&post.source, source_position(&text, body, r.offset), r.message))
                .collect();
            (rewritten.into(), warnings)
        }
        None => (text, Vec::new()),
    }
}

/// Parses a post's Markdown into events with their byte ranges.
pub fn parse(source: &str) -> Vec<(Event<'_>, Range<usize>)> {
    events(source).collect()
}

/// The parser newsroom reads Markdown with: its extensions, and email
/// autolinks (`<a@b.org>`) carrying their `mailto:` in the event, as every
/// other link carries its scheme, so that resolving URLs cannot mistake the
/// address for a file next to the post.
pub fn events(source: &str) -> impl Iterator<Item = (Event<'_>, Range<usize>)> {
    Parser::new_ext(source, parser_options()).into_offset_iter().map(|(event, range)| (mailto_autolink(event), range))
}

fn mailto_autolink(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Start(Tag::Link { link_type: LinkType::Email, dest_url, title, id }) => Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: format!("mailto:{dest_url}").into(),
            title,
            id,
        }),
        other => other,
    }
}

/// Whether a local reference names a post's source file (`.md`, `.mdx`):
/// a link to another post, which becomes its permalink, not a file to copy.
pub fn is_post_file(reference: &str) -> bool {
    reference.ends_with(".md") || reference.ends_with(".mdx")
}

/// Renders a post: its excerpt always, the other `parts` when asked.
///
/// The parser still reads the whole post (reference definitions anywhere
/// resolve in the excerpt), but unless the whole post is rendered only the
/// events up to the marker are kept; the rest are looked at once, for
/// unknown components and local files, and dropped.
pub fn render_post(post: &Post, body: &Body, links: &LinkContext, parts: Parts) -> RenderedPost {
    let full = parts.content;
    let (source, mut diagnostics) = prepared_source(post, body);
    // Events past the marker are only looked at, so only kept ones go
    // through `mailto_autolink` (BelowMarker ignores email links).
    let mut parser = Parser::new_ext(&source, parser_options()).into_offset_iter();
    let (mut events, marker) = events_to_marker(&mut parser);
    if full {
        events.extend(parser.by_ref().map(|(event, range)| (mailto_autolink(event), range)));
    }
    // Every heading kept, from the top: the excerpt's are the whole post's first ones.
    give_headings_ids(&mut events);
    let mut below = BelowMarker::default();
    // Where each element that cleaning may drop first appears in raw HTML.
    let mut first_droppable: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut look_at = |event: &Event<'_>, range: &Range<usize>, below_marker: bool| {
        if let Event::Html(html) | Event::InlineHtml(html) = event {
            for component in jsx_components(html) {
                diagnostics.push(Diagnostic::warning(
                    &post.source,
                    source_position(&source, body, range.start),
                    format!("unknown component <{component}> reduced to its children"),
                ));
            }
            for (name, at) in html::droppable_tags(html) {
                first_droppable.entry(name).or_insert((range.start + at).min(range.end));
            }
        }
        // Files referenced below the marker are published with the post too.
        if below_marker && !full {
            below.look_at(event);
        }
    };
    // Without a marker the excerpt is made apart from the body (the
    // description, or the first paragraph), and the whole body is below it.
    let cut = marker.unwrap_or(0);
    for (index, (event, range)) in events.iter().enumerate() {
        look_at(event, range, index >= cut);
    }
    let rest = events.last().map_or(source.len(), |(_, range)| range.end);
    if full || !nothing_to_find(&source[rest..], parser.reference_definitions()) {
        for (event, range) in parser {
            look_at(&event, &range, true);
        }
    }
    let excerpt_events = match marker {
        Some(cut) => close_open_tags(&events[..cut]),
        None => {
            diagnostics.push(Diagnostic::warning(
                &post.source,
                (post.body_line, 1),
                "no truncate marker (<!--truncate-->): the excerpt is the description or the first paragraph",
            ));
            fallback_excerpt(post, &events)
        }
    };
    let excerpt_text = parts.text.then(|| text::to_text(excerpt_events.iter().cloned(), links));
    let content_text =
        (parts.text && full).then(|| text::to_text(events.iter().map(|(event, _)| event.clone()), links));
    let (mut local_refs, mut dropped) = below.references(links);
    let mut to_html = |events: Vec<Event<'_>>| {
        let clean = html::render_events(events.into_iter().map(replace_task_markers), source.len(), links);
        local_refs.extend(clean.local_refs);
        dropped.extend(clean.dropped);
        clean.html
    };
    let excerpt_html = to_html(excerpt_events);
    let content_html = full.then(|| to_html(events.into_iter().map(|(e, _)| e).collect()));
    // Once per element name, at its first tag: the same whether the
    // excerpt alone or the whole post was rendered.
    for name in dropped {
        let position = first_droppable.get(name).map_or((post.body_line, 1), |&at| source_position(&source, body, at));
        let message = if html::EMBEDS.contains(&name) {
            format!("<{name}> without a web address to link to is removed from feeds and email")
        } else {
            format!("<{name}> is removed from feeds and email: readers there miss what it shows or does")
        };
        diagnostics.push(Diagnostic::warning(&post.source, position, message));
    }
    RenderedPost {
        excerpt_html,
        content_html,
        has_marker: marker.is_some(),
        excerpt_text,
        content_text,
        local_refs,
        diagnostics,
        copies: BTreeMap::new(),
    }
}

/// The file position of a byte offset into `source`, the text the parser
/// read: MDX-lite and JSX rewriting keep lines, not bytes.
fn source_position(source: &str, body: &Body, offset: usize) -> (usize, usize) {
    let (line, column) = crate::diagnostics::line_col(source, offset);
    (line + body.line - 1, column)
}

/// The events up to and including the truncate marker, and the index where
/// the excerpt ends (as [`find_marker`] finds it); every event when there is
/// no marker. The parser is left just after the marker.
fn events_to_marker<'a>(
    parser: &mut impl Iterator<Item = (Event<'a>, Range<usize>)>,
) -> (Vec<(Event<'a>, Range<usize>)>, Option<usize>) {
    let mut events = Vec::new();
    let mut scan = MarkerScan::default();
    for event in parser.by_ref() {
        events.push((mailto_autolink(event.0), event.1));
        if let Some(cut) = scan.last(&events) {
            return (events, Some(cut));
        }
    }
    (events, None)
}

/// Gives each heading the id Docusaurus gives it: the one written after it
/// (`{#id}`), else the slug of its text ([`ids::Slugger`]), numbered from
/// the top of the post. The text is what Docusaurus slugs: text, code and
/// image descriptions, without raw HTML tags.
fn give_headings_ids(events: &mut [(Event<'_>, Range<usize>)]) {
    let mut slugger = ids::Slugger::default();
    for start in 0..events.len() {
        if !matches!(events[start].0, Event::Start(Tag::Heading { id: None, .. })) {
            continue;
        }
        let text = heading_text(&events[start + 1..]);
        if let Event::Start(Tag::Heading { id, .. }) = &mut events[start].0 {
            *id = Some(slugger.slug(&text).into());
        }
    }
}

/// The text of the heading whose events (after its start) are `events`.
fn heading_text(events: &[(Event<'_>, Range<usize>)]) -> String {
    let mut text = String::new();
    for (event, _) in events {
        match event {
            Event::End(TagEnd::Heading(_)) => break,
            Event::Text(t) | Event::Code(t) => text.push_str(t),
            Event::SoftBreak => text.push('\n'),
            _ => {}
        }
    }
    text
}

/// Recognises the truncate marker as events arrive, one at a time.
#[derive(Default)]
struct MarkerScan {
    /// Where the paragraph being read started.
    paragraph: Option<usize>,
}

impl MarkerScan {
    /// Looks at the last of `events` (the ones before it were given earlier):
    /// the index where the excerpt ends when it completes a marker.
    fn last(&mut self, events: &[(Event<'_>, Range<usize>)]) -> Option<usize> {
        let index = events.len().checked_sub(1)?;
        match &events[index].0 {
            Event::Html(html) | Event::InlineHtml(html) if is_html_marker(html) => {
                let starts_block = index > 0 && matches!(events[index - 1].0, Event::Start(Tag::HtmlBlock));
                Some(if starts_block { index - 1 } else { index })
            }
            Event::Start(Tag::Paragraph) => {
                self.paragraph = Some(index);
                None
            }
            // A paragraph of nothing but text that is `{/* truncate */}`.
            Event::End(TagEnd::Paragraph) => self.paragraph.take().filter(|&start| {
                let mut text = String::new();
                events[start + 1..index].iter().all(|(event, _)| match event {
                    Event::Text(t) => {
                        text.push_str(t);
                        true
                    }
                    _ => false,
                }) && mdx::is_truncate_comment(&text)
            }),
            _ => None,
        }
    }
}

/// Local file references below the marker, found without rendering: link
/// and image targets, and URLs in raw HTML (by the same rewriter as
/// rendering uses, which also names the elements cleaning drops).
#[derive(Default)]
struct BelowMarker {
    found: BTreeSet<String>,
    raw: String,
}

impl BelowMarker {
    fn look_at(&mut self, event: &Event<'_>) {
        match event {
            Event::Start(Tag::Link { link_type: LinkType::Email, .. }) => {}
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                if let Some(reference) = crate::urls::local_file_reference(dest_url)
                    && !is_post_file(&reference)
                {
                    self.found.insert(reference);
                }
            }
            Event::Html(html) | Event::InlineHtml(html) => self.raw.push_str(html),
            _ => {}
        }
    }

    /// The local files found, and the elements that cleaning would drop.
    fn references(mut self, links: &LinkContext) -> (BTreeSet<String>, BTreeSet<&'static str>) {
        // A reference in raw HTML is an attribute value, so HTML without `=`
        // (such as the truncate marker itself) has none, and only some
        // elements are dropped; only collecting, no sanitising, since this
        // HTML is not published.
        if self.raw.contains('=') || html::droppable_tags(&self.raw).next().is_some() {
            let rewritten = html::rewrite(&self.raw, links);
            self.found.extend(rewritten.local_refs);
            return (self.found, rewritten.dropped);
        }
        (self.found, BTreeSet::new())
    }
}

/// Whether the text below the marker holds nothing that looking at its
/// events would find: no raw HTML, component or autolink (no `<`), no
/// inline link or image destination (after `](`) that may be a local file,
/// and no reference definition anywhere in the post naming one. The events
/// below the marker are then not made at all: that is pulldown-cmark's
/// inline pass over most of the post, a tenth of a build.
///
/// A destination starts after `](` and optional white space; one whose text
/// starts with `#`, `/` or `?`, or with a scheme (letters, digits, `+-.`
/// up to a `:`, none of which an escape or entity can produce), is one
/// [`crate::urls::local_file_reference`] refuses. Text that only looks like
/// a link (in code, escaped) makes the answer `false`, never a wrong `true`.
fn nothing_to_find(rest: &str, definitions: &pulldown_cmark::RefDefs<'_>) -> bool {
    let may_be_local = |destination: &str| {
        let destination = destination.trim_start();
        !(destination.starts_with(['#', '/', '?']) || crate::urls::has_scheme(destination))
    };
    memchr::memchr(b'<', rest.as_bytes()).is_none()
        && !definitions.iter().any(|(_, definition)| crate::urls::local_file_reference(&definition.dest).is_some())
        && !memchr::memmem::find_iter(rest.as_bytes(), b"](").any(|at| may_be_local(&rest[at + 2..]))
}

/// The index of the event where the excerpt ends: the first truncate marker
/// that is not inside code, in any of its three forms.
pub fn find_marker(events: &[(Event<'_>, Range<usize>)]) -> Option<usize> {
    let mut scan = MarkerScan::default();
    (1..=events.len()).find_map(|n| scan.last(&events[..n]))
}

/// `<!--truncate-->` or `<!-- truncate -->`.
fn is_html_marker(html: &str) -> bool {
    let trimmed = html.trim();
    trimmed.strip_prefix("<!--").and_then(|t| t.strip_suffix("-->")).is_some_and(|inner| inner.trim() == "truncate")
}

/// The events before the cut, with every tag still open at the cut closed.
fn close_open_tags<'a>(events: &[(Event<'a>, Range<usize>)]) -> Vec<Event<'a>> {
    let mut open: Vec<TagEnd> = Vec::new();
    let mut out: Vec<Event<'a>> = Vec::with_capacity(events.len() + 4);
    for (event, _) in events {
        match event {
            Event::Start(tag) => open.push(tag.to_end()),
            Event::End(_) => {
                open.pop();
            }
            _ => {}
        }
        out.push(event.clone());
    }
    out.extend(open.into_iter().rev().map(Event::End));
    out
}

/// Without a marker: the description as a paragraph, else the first paragraph.
fn fallback_excerpt<'a>(post: &Post, events: &[(Event<'a>, Range<usize>)]) -> Vec<Event<'a>> {
    if let Some(description) = &post.description {
        return vec![
            Event::Start(Tag::Paragraph),
            Event::Text(CowStr::from(description.clone())),
            Event::End(TagEnd::Paragraph),
        ];
    }
    let Some(start) = events.iter().position(|(e, _)| matches!(e, Event::Start(Tag::Paragraph))) else {
        return vec![
            Event::Start(Tag::Paragraph),
            Event::Text(CowStr::from(post.title.clone())),
            Event::End(TagEnd::Paragraph),
        ];
    };
    let mut depth = 0usize;
    let mut out = Vec::new();
    for (event, _) in &events[start..] {
        match event {
            Event::Start(_) => depth += 1,
            Event::End(_) => depth -= 1,
            _ => {}
        }
        out.push(event.clone());
        if depth == 0 {
            break;
        }
    }
    out
}

/// Task list checkboxes become characters: feeds and email forbid `<input>`.
pub(crate) fn replace_task_markers(event: Event<'_>) -> Event<'_> {
    match event {
        Event::TaskListMarker(true) => Event::Text("☑ ".into()),
        Event::TaskListMarker(false) => Event::Text("☐ ".into()),
        other => other,
    }
}

/// Capitalised tag names in raw HTML: MDX/JSX components, which the sanitiser
/// reduces to their children.
pub fn jsx_components(html: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        rest = &rest[at + 1..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '.').collect();
        if name.starts_with(|c: char| c.is_ascii_uppercase()) {
            found.insert(name);
        }
    }
    found
}

/// Maps post files (relative to the posts folder) to permalinks, for links between posts.
pub fn post_link_map<'a>(
    posts: impl IntoIterator<Item = &'a Post>,
    posts_dir: &std::path::Path,
) -> HashMap<String, String> {
    posts
        .into_iter()
        .filter_map(|post| {
            let relative = post.source.strip_prefix(posts_dir).ok()?;
            Some((relative.to_string_lossy().replace('\\', "/"), post.permalink.clone()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn excerpt(markdown: &str) -> Option<String> {
        let events = parse(markdown);
        let cut = find_marker(&events)?;
        let mut out = String::new();
        pulldown_cmark::html::push_html(&mut out, close_open_tags(&events[..cut]).into_iter());
        Some(out)
    }

    #[test]
    fn cuts_at_each_marker_form() {
        for marker in ["<!--truncate-->", "<!-- truncate -->", "{/* truncate */}"] {
            assert_eq!(excerpt(&format!("Intro\n\n{marker}\n\nRest")).as_deref(), Some("<p>Intro</p>\n"), "{marker}");
        }
    }

    #[test]
    fn a_marker_inside_code_is_text() {
        let markdown = "Intro\n\n```md\n<!--truncate-->\n```\n\nMore\n\n<!--truncate-->\n\nRest";
        let html = excerpt(markdown).unwrap();
        assert!(html.contains("&lt;!--truncate--&gt;") && html.contains("<p>More</p>"), "{html}");
        assert!(!html.contains("Rest"));
        assert_eq!(excerpt("`<!--truncate-->` in code\n\nRest"), None);
    }

    #[test]
    fn reference_definitions_below_the_marker_resolve_in_the_excerpt() {
        let html = excerpt("See [the docs][docs].\n\n<!--truncate-->\n\n[docs]: https://x.org/docs\n").unwrap();
        assert_eq!(html, "<p>See <a href=\"https://x.org/docs\">the docs</a>.</p>\n");
    }

    #[test]
    fn an_inline_marker_closes_the_open_paragraph() {
        assert_eq!(excerpt("Intro *text* <!--truncate--> rest").as_deref(), Some("<p>Intro <em>text</em> </p>\n"));
    }

    #[test]
    fn text_below_the_marker_with_nothing_to_find_is_told_apart() {
        let inert = |rest: &str, above: &str| {
            let source = format!("{above}\n\n<!--truncate-->\n{rest}");
            let parser = Parser::new_ext(&source, parser_options());
            nothing_to_find(rest, parser.reference_definitions())
        };
        assert!(inert("Text, [a](https://x.org/a) ![i]( http://x.org/i.png) [f](#f) [r](/r) [q](?q)", ""));
        assert!(inert("[ref][r] and [r]", "[r]: https://x.org/r"));
        assert!(!inert("![i](./a.png)", ""));
        assert!(!inert("[a](\n  a.png)", ""));
        assert!(!inert("`[a](a.png)` in code, which looks like a link", ""));
        assert!(!inert("[a]()", ""));
        assert!(!inert("[ref][r]", "[r]: ./local.png"));
        assert!(!inert("<img src=a.png>", ""));
        assert!(!inert("<https://x.org/autolink>", ""));
    }

    /// Issue 14: headings had no ids, so links to them pointed nowhere.
    #[test]
    fn headings_get_docusaurus_ids_counted_from_the_top() {
        let markdown = "# What's next?\n\n## `SafeAreaView` deprecation\n\n## What's *next*?\n\n\
                        ## Changes {#change-18094}\n\n## change-18094\n\n## <b>Raw</b> HTML ![and](an.png) image\n\n\
                        Setext\nheading\n---";
        let mut events = parse(markdown);
        give_headings_ids(&mut events);
        let ids: Vec<String> = events
            .iter()
            .filter_map(|(event, _)| match event {
                Event::Start(Tag::Heading { id, .. }) => id.as_deref().map(str::to_string),
                _ => None,
            })
            .collect();
        // An explicit id is not counted: Docusaurus slugs only the others.
        assert_eq!(
            ids,
            [
                "whats-next",
                "safeareaview-deprecation",
                "whats-next-1",
                "change-18094",
                "change-18094",
                "raw-html-and-image",
                "setextheading"
            ]
        );
    }

    #[test]
    fn components_are_found_by_their_capital() {
        assert_eq!(
            jsx_components("<Tabs><TabItem value=\"a\"><div>").into_iter().collect::<Vec<_>>(),
            ["TabItem", "Tabs"]
        );
    }
}
