//! Making rendered post HTML safe and self-contained for feeds and email.
//!
//! Two passes, each done by a library built for it:
//! 1. lol_html rewrites the HTML as a stream: video iframes become a linked
//!    thumbnail (other iframes a link), `<video>` a link to the video (its
//!    poster as the link's image), every `href`/`src`/`srcset` is made
//!    absolute (and `cite`), links to other posts' files become their
//!    permalinks, fragments (`#a-heading`, footnotes) point into the post's
//!    own page, images get an `alt`, and local file references are
//!    collected for copying.
//! 2. ammonia removes everything not on its allow-list: scripts, styles,
//!    forms, event handlers, `javascript:` URLs, comments, any URL still
//!    relative, and ids other than headings' (which links to the post's
//!    page point at).
//!
//! Just over the house's ~600 lines: the rewriting passes and the allow-list
//! are one security boundary, read and reviewed together.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use lol_html::html_content::ContentType;
use lol_html::{RewriteStrSettings, element, rewrite_str};
use maud::html;
use pulldown_cmark::{CodeBlockKind, Event, Tag};

use crate::urls;

/// What relative references in one post resolve against.
pub struct LinkContext<'a> {
    /// The absolute URL of the post's folder, ending in `/`.
    pub base_url: &'a str,
    /// The post's own page: what a fragment alone (`#a-heading`) points into.
    pub permalink: &'a str,
    /// The post's folder relative to the posts folder (`""` or ending in `/`).
    pub folder: &'a str,
    /// Post files (relative to the posts folder) and their permalinks.
    pub post_links: &'a HashMap<String, String>,
}

impl LinkContext<'_> {
    /// `reference` as an absolute URL (or unchanged when it cannot be
    /// resolved, for the sanitiser to drop). A fragment alone points into
    /// the post's page, as it does on the blog, where the post is the page.
    pub fn absolute(&self, reference: &str) -> String {
        let reference = reference.trim();
        if reference.starts_with('#') {
            urls::with_fragment(self.permalink, reference)
        } else {
            urls::absolutize(self.base_url, reference)
        }
    }
}

/// Safe, absolute HTML and the local files it references.
#[derive(Debug, Default)]
pub struct CleanHtml {
    pub html: String,
    /// Local file references as written (decoded), relative to the post's folder.
    pub local_refs: BTreeSet<String>,
    /// Elements removed with their meaning (names from [`DROPPED_ELEMENTS`]
    /// and [`EMBEDS`]), for `check` to warn about.
    pub dropped: BTreeSet<&'static str>,
}

/// Elements the sanitiser removes although they are content: what they
/// show, play or ask for is lost to the reader (a style sheet, a script's
/// effect, a player, a drawing, a form).
pub const DROPPED_ELEMENTS: [&str; 14] = [
    "applet", "audio", "button", "canvas", "embed", "form", "input", "math", "object", "script", "select", "style",
    "svg", "textarea",
];

/// Elements that become a link to what they show, and are dropped when
/// they have no web address to link to.
pub const EMBEDS: [&str; 2] = ["iframe", "video"];

/// The start tags in `html` of elements that cleaning may drop
/// ([`DROPPED_ELEMENTS`], [`EMBEDS`]), each with the offset of its `<`.
pub fn droppable_tags(html: &str) -> impl Iterator<Item = (&'static str, usize)> + '_ {
    memchr::memchr_iter(b'<', html.as_bytes()).filter_map(|at| {
        let name_len = html.as_bytes()[at + 1..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        let name = &html[at + 1..at + 1 + name_len];
        let name = DROPPED_ELEMENTS.iter().chain(&EMBEDS).find(|known| known.eq_ignore_ascii_case(name))?;
        Some((*name, at))
    })
}

/// The URL schemes published HTML may link to.
const ALLOWED_SCHEMES: [&str; 4] = ["http", "https", "mailto", "tel"];

static SANITIZER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut builder = ammonia::Builder::default();
    builder
        .link_rel(None)
        .url_schemes(ALLOWED_SCHEMES.into_iter().collect())
        // One the rewriter could not resolve (`//[bad`) would leave a feed
        // reader or mail client guessing.
        .url_relative(ammonia::UrlRelative::Deny)
        .add_tag_attributes("img", ["srcset", "loading"])
        .add_tag_attributes("a", ["title"])
        .add_tags(["figure", "figcaption"]);
    // The targets of links to `{permalink}#a-heading`.
    for heading in ["h1", "h2", "h3", "h4", "h5", "h6"] {
        builder.add_tag_attributes(heading, ["id"]);
    }
    builder
});

/// One URL of a post made absolute: a link to another post's file becomes
/// its permalink, a local file is recorded in `local_refs` for copying.
fn resolve_url(value: &str, context: &LinkContext, local_refs: &mut BTreeSet<String>) -> String {
    let value = value.trim();
    if let Some(reference) = urls::local_file_reference(value) {
        if let Some(permalink) = post_link(&reference, value, context) {
            return permalink;
        }
        local_refs.insert(reference);
    }
    context.absolute(value)
}

/// Renders Markdown events to safe, absolute HTML.
///
/// Without raw HTML (or footnote references, whose links pulldown-cmark
/// writes itself, or empty destinations), every URL is a link or image
/// destination, so it is made absolute on the events and the HTML rewriting
/// pass is skipped: most excerpts take this path, and the rewriter's set-up
/// per call is a third of their cleaning cost.
///
/// On that path the sanitiser is skipped too when every event is
/// [`sanitised_already`] and every URL passes the sanitiser's own scheme
/// rule: pulldown-cmark then writes only its fixed tags with escaped text
/// and attributes, which is HTML the sanitiser would keep as it is (a test
/// parses both with html5ever and compares, over the corpus and generated
/// Markdown). Parsing, cleaning and serialising that HTML again was a fifth
/// of a build's CPU time.
pub fn render_events<'a>(
    events: impl IntoIterator<Item = Event<'a>>,
    size_hint: usize,
    context: &LinkContext,
) -> CleanHtml {
    let events: Vec<Event<'a>> = events.into_iter().collect();
    let mut raw = String::with_capacity(size_hint);
    // An empty destination is an attribute the rewriter removes, which the
    // events cannot say.
    let needs_rewriter = events.iter().any(|e| match e {
        Event::Html(_) | Event::InlineHtml(_) | Event::FootnoteReference(_) => true,
        Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => dest_url.trim().is_empty(),
        _ => false,
    });
    if needs_rewriter {
        // Only raw HTML can hold what cleaning replaces or drops: looking
        // for it there is cheaper than in the whole HTML.
        let mut special = SpecialElements::default();
        for event in &events {
            if let Event::Html(html) | Event::InlineHtml(html) = event {
                special.look_at(html);
            }
        }
        pulldown_cmark::html::push_html(&mut raw, events.into_iter().map(trim_destination));
        let rewritten = rewrite_knowing(&raw, context, special);
        return CleanHtml { html: sanitise(&rewritten.html), ..rewritten };
    }
    let mut local_refs = BTreeSet::new();
    let mut needs_sanitiser = false;
    let resolved = events.into_iter().map(|event| {
        let event = match event {
            Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
                let dest_url = resolve_url(&dest_url, context, &mut local_refs).into();
                Event::Start(Tag::Link { link_type, dest_url, title, id })
            }
            Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
                let dest_url = resolve_url(&dest_url, context, &mut local_refs).into();
                Event::Start(Tag::Image { link_type, dest_url, title, id })
            }
            // The language class is one the sanitiser removes.
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                Event::Start(Tag::CodeBlock(CodeBlockKind::Indented))
            }
            other => other,
        };
        needs_sanitiser |= !sanitised_already(&event);
        event
    });
    pulldown_cmark::html::push_html(&mut raw, resolved);
    let html = if needs_sanitiser {
        sanitise(&raw)
    } else {
        // Kept for feeds (and by `build` from loading): not the whole post's size.
        raw.shrink_to_fit();
        raw
    };
    CleanHtml { html, local_refs, dropped: BTreeSet::new() }
}

/// A link or image destination without the spaces around it, as
/// [`resolve_url`] takes it on the other path: written as it is,
/// pulldown-cmark would percent-encode them (`<  a.png  >` as
/// `%20%20a.png%20%20`) and the rewriter would publish a different URL.
fn trim_destination(event: Event<'_>) -> Event<'_> {
    match event {
        Event::Start(Tag::Link { link_type, dest_url, title, id }) if dest_url.trim().len() != dest_url.len() => {
            Event::Start(Tag::Link { link_type, dest_url: dest_url.trim().to_string().into(), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) if dest_url.trim().len() != dest_url.len() => {
            Event::Start(Tag::Image { link_type, dest_url: dest_url.trim().to_string().into(), title, id })
        }
        other => other,
    }
}

/// Whether the HTML pulldown-cmark writes for `event` (a resolved one:
/// URLs absolute, no fenced-code language) is HTML the sanitiser keeps
/// unchanged: a tag on its allow-list with no attribute it would remove
/// (a heading's id, escaped, it keeps), text (always escaped), or a link
/// or image whose URL it accepts.
fn sanitised_already(event: &Event<'_>) -> bool {
    match event {
        Event::Text(_) | Event::Code(_) | Event::SoftBreak | Event::HardBreak | Event::Rule | Event::End(_) => true,
        Event::Start(tag) => match tag {
            Tag::Paragraph
            | Tag::BlockQuote(None)
            | Tag::CodeBlock(CodeBlockKind::Indented)
            | Tag::List(_)
            | Tag::Item
            | Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough => true,
            Tag::Heading { classes, attrs, .. } => classes.is_empty() && attrs.is_empty(),
            // Alignment is written as `style`, which the sanitiser removes.
            Tag::Table(alignments) => alignments.iter().all(|a| *a == pulldown_cmark::Alignment::None),
            Tag::TableHead | Tag::TableRow | Tag::TableCell => true,
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => sanitiser_keeps_url(dest_url),
            _ => false,
        },
        _ => false,
    }
}

/// The sanitiser's rule for a URL attribute, as ammonia applies it: an
/// absolute URL with one of the allowed schemes. It is applied to the value the attribute will hold:
/// pulldown-cmark percent-encodes some bytes, and that can turn a URL the
/// `url` crate reads into one it refuses (`https://a\b.org/` reads as host
/// `a`; written `https://a%5Cb.org/` it has no valid host, and ammonia drops
/// it). Found by fuzzing.
fn sanitiser_keeps_url(url: &str) -> bool {
    let mut written = String::with_capacity(url.len() + 8);
    if pulldown_cmark_escape::escape_href(&mut written, url).is_err() {
        return false;
    }
    // The HTML parser decodes the two entities `escape_href` writes.
    let value = if written.contains('&') { written.replace("&amp;", "&").replace("&#x27;", "'") } else { written };
    url::Url::parse(&value).is_ok_and(|url| ALLOWED_SCHEMES.contains(&url.scheme()))
}

/// Rewrites and sanitises rendered post HTML.
pub fn clean(raw: &str, context: &LinkContext) -> CleanHtml {
    let rewritten = rewrite(raw, context);
    CleanHtml { html: sanitise(&rewritten.html), ..rewritten }
}

/// The sanitiser alone: what published HTML may contain.
pub fn sanitise(html: &str) -> String {
    SANITIZER.clean(html).to_string()
}

/// The rewriting pass of [`clean`] alone: absolute URLs, videos as links,
/// local files collected, elements to be dropped named. Its HTML is not
/// yet safe to publish.
pub fn rewrite(raw: &str, context: &LinkContext) -> CleanHtml {
    let mut special = SpecialElements::default();
    special.look_at(raw);
    rewrite_knowing(raw, context, special)
}

/// Which of the elements that cleaning replaces or drops some HTML holds.
#[derive(Debug, Default, Clone, Copy)]
struct SpecialElements {
    iframe: bool,
    video: bool,
    /// One of [`DROPPED_ELEMENTS`].
    dropped: bool,
}

impl SpecialElements {
    fn look_at(&mut self, html: &str) {
        for (name, _) in droppable_tags(html) {
            match name {
                "iframe" => self.iframe = true,
                "video" => self.video = true,
                _ => self.dropped = true,
            }
        }
    }
}

/// [`rewrite`] of HTML whose special elements are known: handlers are set
/// for what it holds only, since lol_html compiles every selector on each
/// call, and most posts' HTML (a truncate marker, a `<div>`) has no embed,
/// nothing to drop and no footnote.
fn rewrite_knowing(raw: &str, context: &LinkContext, special: SpecialElements) -> CleanHtml {
    let local_refs = RefCell::new(BTreeSet::new());
    let dropped = RefCell::new(BTreeSet::new());
    // lol_html gives an attribute as written (`a&amp;b`) and writes one back
    // as given: the reference is decoded before it is resolved, so the file
    // it names is recorded by its real name (as the fast path, which reads
    // pulldown-cmark's events, records it), and the `&` escaped again.
    let absolute = |value: &str| -> String {
        resolve_url(&decode_entities(value), context, &mut local_refs.borrow_mut()).replace('&', "&amp;")
    };
    let SpecialElements { iframe: has_iframe, video: has_video, dropped: has_dropped } = special;
    // A video's address may be in a `<source>` inside it, which a stream
    // rewriter meets only after the `<video>` it must replace: so the
    // videos are read first, in a pass of their own.
    let videos = if has_video { read_videos(raw) } else { Vec::new() };
    let next_video = Cell::new(0);
    let mut settings = RewriteStrSettings::new();
    if has_iframe {
        settings = settings.append_element_content_handler(element!("iframe", |el| {
            let src = decoded_attribute(el, "src").unwrap_or_default();
            let title = decoded_attribute(el, "title").filter(|t| !t.trim().is_empty());
            let replacement = embed_replacement(&context.absolute(&src), title);
            if replacement.is_empty() {
                dropped.borrow_mut().insert("iframe");
            }
            el.replace(&replacement, ContentType::Html);
            Ok(())
        }));
    }
    if has_video {
        settings = settings.append_element_content_handler(element!("video", |el| {
            let video = videos.get(next_video.replace(next_video.get() + 1));
            let replacement = video.and_then(|video| video_replacement(video, context, &mut local_refs.borrow_mut()));
            if replacement.is_none() {
                dropped.borrow_mut().insert("video");
            }
            el.replace(&replacement.unwrap_or_default(), ContentType::Html);
            Ok(())
        }));
    }
    if has_dropped {
        settings = settings.append_element_content_handler(element!(DROPPED_SELECTOR, |el| {
            let name = el.tag_name();
            if let Some(known) = DROPPED_ELEMENTS.iter().find(|known| known.eq_ignore_ascii_case(&name))
                && !dresses_kept_content(el)
            {
                dropped.borrow_mut().insert(*known);
            }
            Ok(())
        }));
    }
    if raw.contains("footnote-reference") {
        // pulldown-cmark links a footnote reference to `#label`, the id
        // it gives the footnote; on the post's page it has Docusaurus's.
        settings = settings.append_element_content_handler(element!("sup.footnote-reference > a[href^='#']", |el| {
            let href = el.get_attribute("href").unwrap_or_default();
            // The label as pulldown-cmark escaped it (lol_html does not decode).
            let label =
                href[1..].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
            let url = format!("{}#{}", context.permalink, super::ids::footnote_id(&label));
            el.set_attribute("href", &url)?;
            Ok(())
        }));
    }
    let rewritten = rewrite_str(
        raw,
        settings
            .append_element_content_handler(element!("[href], [src], [poster]", |el| {
                for name in ["href", "src", "poster"] {
                    if let Some(value) = el.get_attribute(name) {
                        // An empty reference means "this document", which a feed
                        // reader or mail client would take to be its own page.
                        match absolute(&value) {
                            url if url.is_empty() => el.remove_attribute(name),
                            url => el.set_attribute(name, &url)?,
                        }
                    }
                }
                Ok(())
            }))
            // `cite` (quotes, edits) names a source document, not a file to publish.
            .append_element_content_handler(element!("[cite]", |el| {
                let cite = context.absolute(&el.get_attribute("cite").unwrap_or_default());
                if urls::is_web_url(&cite) {
                    el.set_attribute("cite", &cite)?;
                } else {
                    el.remove_attribute("cite");
                }
                Ok(())
            }))
            .append_element_content_handler(element!("[srcset]", |el| {
                let srcset = el.get_attribute("srcset").unwrap_or_default();
                // The sanitiser does not read srcset, so only web addresses are kept here.
                let rewritten: Vec<String> = srcset
                    .split(',')
                    .filter(|c| !c.trim().is_empty())
                    .filter_map(|candidate| {
                        let mut parts = candidate.trim().splitn(2, char::is_whitespace);
                        let url = absolute(parts.next().unwrap_or_default());
                        urls::is_web_url(&url).then(|| match parts.next() {
                            Some(descriptor) => format!("{url} {}", descriptor.trim()),
                            None => url,
                        })
                    })
                    .collect();
                if rewritten.is_empty() {
                    el.remove_attribute("srcset");
                } else {
                    el.set_attribute("srcset", &rewritten.join(", "))?;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("img:not([alt])", |el| {
                el.set_attribute("alt", "")?;
                Ok(())
            })),
    );
    // lol_html only fails on memory limits it is not given here; fall back to
    // sanitising the raw HTML rather than losing the post.
    let rewritten = rewritten.unwrap_or_else(|_| raw.to_string());
    CleanHtml { html: rewritten, local_refs: local_refs.into_inner(), dropped: dropped.into_inner() }
}

/// Whether `el` only restyles content that the feed keeps: the script
/// that turns an embedded tweet's blockquote (kept, with its text and
/// links) into a card. Nothing is lost without it; warning about it would
/// bury the warnings that matter (nine babel posts carry it).
fn dresses_kept_content(el: &lol_html::html_content::Element) -> bool {
    const TWEET_SCRIPT: &str = "//platform.twitter.com/widgets.js";
    el.tag_name().eq_ignore_ascii_case("script")
        && el.get_attribute("src").is_some_and(|src| {
            let src = src.trim();
            src.strip_prefix("https:").or_else(|| src.strip_prefix("http:")).unwrap_or(src) == TWEET_SCRIPT
        })
}

/// [`DROPPED_ELEMENTS`] as a selector.
const DROPPED_SELECTOR: &str =
    "applet, audio, button, canvas, embed, form, input, math, object, script, select, style, svg, textarea";

/// An attribute's value as the browser reads it: lol_html gives it as
/// written, and the values newsroom reads for a replacement (which maud
/// escapes again) are written with these entities when at all.
fn decoded_attribute(el: &lol_html::html_content::Element, name: &str) -> Option<String> {
    el.get_attribute(name).map(|value| decode_entities(&value))
}

/// An attribute value as written, with the entities that escape markup
/// characters decoded (the ones serialisers and authors write).
pub(crate) fn decode_entities(value: &str) -> String {
    if !value.contains('&') {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest.find(';').filter(|end| *end <= 10);
        let decoded = end.and_then(|end| {
            let entity = &rest[1..end];
            let character = match entity {
                "quot" => Some('"'),
                "apos" => Some('\''),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                // Numeric references, as pulldown-cmark writes `'` (`&#x27;`).
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            character.map(|c| (c, end))
        });
        match decoded {
            Some((character, end)) => {
                out.push(character);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a `<video>` shows and where it is: its own `src` or its first
/// `<source>`'s, its poster image, and its title.
#[derive(Debug, Default)]
struct Video {
    src: Option<String>,
    poster: Option<String>,
    title: Option<String>,
}

/// The videos of `raw`, in order.
fn read_videos(raw: &str) -> Vec<Video> {
    let videos = RefCell::new(Vec::new());
    let _ = rewrite_str(
        raw,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("video", |el| {
                let title = decoded_attribute(el, "title").or_else(|| decoded_attribute(el, "aria-label"));
                videos.borrow_mut().push(Video {
                    src: decoded_attribute(el, "src").filter(|src| !src.trim().is_empty()),
                    poster: decoded_attribute(el, "poster"),
                    title: title.filter(|title| !title.trim().is_empty()),
                });
                Ok(())
            }))
            .append_element_content_handler(element!("video source[src]", |el| {
                if let Some(video) = videos.borrow_mut().last_mut()
                    && video.src.is_none()
                {
                    video.src = decoded_attribute(el, "src").filter(|src| !src.trim().is_empty());
                }
                Ok(())
            })),
    );
    videos.into_inner()
}

/// What a `<video>` becomes: a link to the video file (a local one is
/// published with the post, like an image), showing its poster when it
/// has one; `None` without a web address to link to.
fn video_replacement(video: &Video, context: &LinkContext, local_refs: &mut BTreeSet<String>) -> Option<String> {
    let url = resolve_url(video.src.as_deref()?, context, local_refs);
    if !urls::is_web_url(&url) {
        return None;
    }
    let poster = video.poster.as_deref().map(|poster| resolve_url(poster, context, local_refs));
    let text = video.title.clone().unwrap_or_else(|| "Watch the video".to_string());
    Some(
        match poster.filter(|poster| urls::is_web_url(poster)) {
            Some(poster) => html! { a href=(url) { img src=(poster) alt=(text); } },
            None => html! { a href=(url) { (text) } },
        }
        .into_string(),
    )
}

/// A link to another post's source file (`./2021-01-01-other.md#part`) becomes its permalink.
fn post_link(reference: &str, original: &str, context: &LinkContext) -> Option<String> {
    if !super::is_post_file(reference) {
        return None;
    }
    let path = normalise(&format!("{}{}", context.folder, reference))?;
    let permalink = context.post_links.get(&path)?;
    let fragment = original.find('#').map(|at| &original[at..]).unwrap_or("");
    Some(format!("{permalink}{fragment}"))
}

/// Resolves `.` and `..` in a `/`-separated relative path; `None` if it climbs above its root.
pub fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// A YouTube or Vimeo player URL's watch page and thumbnail image.
pub fn video_thumbnail(src: &str) -> Option<(String, String, &'static str)> {
    let url = url::Url::parse(src).ok()?;
    let host = url.host_str()?.trim_start_matches("www.").trim_start_matches("m.");
    let mut segments = url.path_segments()?.filter(|s| !s.is_empty());
    match host {
        "youtube.com" | "youtube-nocookie.com" => {
            if segments.next()? != "embed" {
                return None;
            }
            let id = segments.next()?;
            Some((
                format!("https://www.youtube.com/watch?v={id}"),
                format!("https://img.youtube.com/vi/{id}/hqdefault.jpg"),
                "YouTube",
            ))
        }
        "player.vimeo.com" => {
            if segments.next()? != "video" {
                return None;
            }
            let id = segments.next()?;
            Some((format!("https://vimeo.com/{id}"), format!("https://vumbnail.com/{id}.jpg"), "Vimeo"))
        }
        _ => None,
    }
}

/// What an iframe becomes: a linked thumbnail for videos, a plain link
/// otherwise; nothing without a web address to link to.
fn embed_replacement(src: &str, title: Option<String>) -> String {
    match video_thumbnail(src) {
        Some((watch, thumbnail, service)) => {
            let alt = title.unwrap_or_else(|| format!("Watch the video on {service}"));
            html! {
                a href=(watch) { img src=(thumbnail) alt=(alt) width="480" height="360"; }
            }
            .into_string()
        }
        None if urls::is_web_url(src) => {
            let text = title.unwrap_or_else(|| src.to_string());
            html! { a href=(src) { (text) } }.into_string()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn entities_in_attributes_decode_as_a_browser_reads_them() {
        assert_eq!(decode_entities("a&amp;b&#x27;c&#39;d&quot;&lt;&gt;&apos;"), "a&b'c'd\"<>'");
        assert_eq!(decode_entities("&&amp &unknown; &#xZZ; &#1114112;"), "&&amp &unknown; &#xZZ; &#1114112;");
        assert_eq!(decode_entities("no entity"), "no entity");
    }

    use super::*;

    /// The page of the post the test HTML belongs to.
    const PERMALINK: &str = "https://x.org/blog/2026/01/02/post";

    fn clean_in(raw: &str, folder: &str) -> CleanHtml {
        let links =
            HashMap::from([("2021-01-01-other.md".to_string(), "https://x.org/blog/2021/01/01/other".to_string())]);
        let base = format!("https://x.org/blog/{folder}");
        clean(raw, &LinkContext { base_url: &base, permalink: PERMALINK, folder, post_links: &links })
    }

    /// The tree html5ever (through scraper, not ammonia's copy) builds from
    /// `html`, serialised: equal for HTML that differs only in how it is
    /// written (`<br />` or `<br>`, `&quot;` or `"` in text).
    fn tree(html: &str) -> String {
        scraper::Html::parse_fragment(html).root_element().html()
    }

    /// The events `render_post` gives the renderer: task markers already text.
    fn markdown_events(markdown: &str) -> impl Iterator<Item = Event<'_>> {
        crate::markdown::events(markdown).map(|(event, _)| crate::markdown::replace_task_markers(event))
    }

    fn render_markdown(markdown: &str, context: &LinkContext) -> CleanHtml {
        render_events(markdown_events(markdown), 0, context)
    }

    #[test]
    fn markdown_without_raw_html_renders_as_the_rewriter_would() {
        let links =
            HashMap::from([("sub/2021-01-01-other.md".to_string(), "https://x.org/blog/2021/01/01/other".to_string())]);
        let context = LinkContext {
            base_url: "https://x.org/blog/sub/",
            permalink: PERMALINK,
            folder: "sub/",
            post_links: &links,
        };
        let samples = [
            "[rel](./img/a.png) [abs](https://e.org/x?y=1#z) [up](../b.pdf) [post](2021-01-01-other.md#part)",
            "![alt *text*](pics/a%20b.png \"title\") [mail](mailto:a@b.org) [anchor](#top) [js](javascript:alert(1))",
            "[ref][r] and <https://auto.link/x> and `code [x](y)`\n\n[r]: ../../escape.png 'T'",
            "| a | b |\n|:--|--:|\n| [t](t.md) | ![i]( spaced.png ) |\n\n- [ ] task\n- [x] done",
            "```rust\nfn main() {}\n```\n\n> quote [q](q.html)\n\n1. one\n2. [two](//proto.relative/x)",
            "[empty]() ![none](<>) [blank]( ) [data](data:text/html,x) [tel](tel:+1)",
        ];
        for markdown in samples {
            let mut raw = String::new();
            pulldown_cmark::html::push_html(&mut raw, markdown_events(markdown));
            let (fast, rewritten) = (render_markdown(markdown, &context), clean(&raw, &context));
            assert_eq!(tree(&fast.html), tree(&rewritten.html), "{markdown}");
            assert_eq!(fast.local_refs, rewritten.local_refs, "{markdown}");
            assert_eq!(tree(&sanitise(&fast.html)), tree(&fast.html), "{markdown}");
        }
    }

    /// Markdown that pulldown-cmark writes as tags on the allow-list with
    /// accepted URLs skips the sanitiser; anything else goes through it.
    #[test]
    fn only_html_the_sanitiser_would_keep_skips_it() {
        let links = HashMap::new();
        let context =
            LinkContext { base_url: "https://x.org/blog/", permalink: PERMALINK, folder: "", post_links: &links };
        // Each has a void element: pulldown-cmark writes `<br />`, the
        // sanitiser's serialiser `<br>`, so the output says who wrote it.
        let kept = [
            "# \"Title\"\n\nText, 1 < 2 > 0 & 'apostrophes', *em*, **strong**, ~~del~~, `code`\\\nbreak",
            "```rust\nfn main() { let a = \"<b>\"; }\n```\n\n    \"indented\"\n\n---\n\n> \"quote\"",
            "3. \"three\"\n4. four\n\n- [ ] task\\\n  more\n\n| a | b |\n|---|---|\n| c | d |",
            "[\"rel\"](./a.png \"T\") ![alt **x**](b%20c.png \"t\") <https://auto.example/x?a=1&b=2> <a@b.org> [f](#frag) [t](tel:+1)",
            "## A \"heading\" {#explicit-id}\n\n### `code` & more\n\n---",
        ];
        for markdown in kept {
            let out = render_markdown(markdown, &context);
            assert!(out.html.contains(" />"), "{markdown}: {}", out.html);
            assert_eq!(tree(&sanitise(&out.html)), tree(&out.html), "{markdown}");
        }
        let sanitised = [
            ("[js](javascript:alert(1)) ok", "<p><a>js</a> ok</p>"),
            ("![d](data:image/png;base64,AA) ok", "<p><img alt=\"d\"> ok</p>"),
            ("[bad](//[bad) [ftp](ftp://x.org/f)", "<p><a>bad</a> <a>ftp</a></p>"),
            // Fuzz finding (post_md): read as host `a`, written as `a%5Cb.org`.
            ("[slash](https://a\\b.org/x) ok", "<p><a>slash</a> ok</p>"),
            (
                "| a |\n|:-:|\n| b |",
                "<table><thead><tr><th>a</th></tr></thead><tbody>\n<tr><td>b</td></tr>\n</tbody></table>",
            ),
        ];
        for (markdown, expected) in sanitised {
            assert_eq!(render_markdown(markdown, &context).html.trim(), expected, "{markdown}");
        }
    }

    /// An email autolink is a `mailto:` link, not a file next to the post.
    #[test]
    fn email_autolinks_are_mailto_links() {
        let links = HashMap::new();
        let context =
            LinkContext { base_url: "https://x.org/blog/", permalink: PERMALINK, folder: "", post_links: &links };
        let out = render_markdown("Write to <a@b.org>.", &context);
        assert_eq!(out.html, "<p>Write to <a href=\"mailto:a@b.org\">a@b.org</a>.</p>\n");
        assert!(out.local_refs.is_empty());
    }

    #[test]
    fn scripts_styles_handlers_and_javascript_urls_are_removed() {
        let out = clean_in(
            r#"<p onclick="x()">a<script>alert(1)</script><style>p{}</style><a href="javascript:alert(1)">j</a></p>"#,
            "",
        );
        assert_eq!(out.html, "<p>a<a>j</a></p>");
    }

    /// Found by fuzzing (`render` target): `<a href="//[bad">` cannot be
    /// resolved, was returned unchanged, and ammonia let the relative URL through.
    #[test]
    fn unresolvable_references_are_dropped() {
        let out = clean_in(r#"<a href="//[bad">y</a> <img src="//[::1">"#, "");
        assert_eq!(out.html, r#"<a>y</a> <img alt="">"#);
    }

    /// Issue 14: `href="#faster-metro-resolution"` stayed relative in
    /// feeds, where it points nowhere (the W3C validator's ContainsRelRef).
    #[test]
    fn fragments_point_into_the_posts_page() {
        let out = clean_in(r##"<a href="#fn-1">1</a> <a href="#">top</a> <q cite="#said">q</q>"##, "");
        assert_eq!(
            out.html,
            r##"<a href="https://x.org/blog/2026/01/02/post#fn-1">1</a> <a href="https://x.org/blog/2026/01/02/post#">top</a> <q cite="https://x.org/blog/2026/01/02/post#said">q</q>"##
        );
        let links = HashMap::new();
        let context =
            LinkContext { base_url: "https://x.org/blog/", permalink: PERMALINK, folder: "", post_links: &links };
        let out = render_markdown("[Metro](#faster-metro-resolution)", &context);
        assert_eq!(
            out.html,
            "<p><a href=\"https://x.org/blog/2026/01/02/post#faster-metro-resolution\">Metro</a></p>\n"
        );
    }

    /// Issue 14: footnote references (`href="#1"`) stayed relative; they
    /// point at the footnote on the post's page, by Docusaurus's id.
    #[test]
    fn footnote_references_point_at_the_footnote_on_the_posts_page() {
        let links = HashMap::new();
        let context =
            LinkContext { base_url: "https://x.org/blog/", permalink: PERMALINK, folder: "", post_links: &links };
        let out = render_markdown("Claim[^1] and [^Big Note].\n\n[^1]: Source.\n\n[^Big Note]: Other.", &context);
        let document = scraper::Html::parse_fragment(&out.html);
        let links: Vec<&str> = document
            .select(&scraper::Selector::parse("a").unwrap())
            .map(|a| a.value().attr("href").unwrap_or_default())
            .collect();
        assert_eq!(
            links,
            [format!("{PERMALINK}#user-content-fn-1"), format!("{PERMALINK}#user-content-fn-big%20note")]
        );
    }

    #[test]
    fn youtube_iframes_become_linked_thumbnails() {
        let out = clean_in(r#"<iframe src="https://www.youtube.com/embed/abc123" title="Talk"></iframe>"#, "");
        assert_eq!(
            out.html,
            r#"<a href="https://www.youtube.com/watch?v=abc123"><img src="https://img.youtube.com/vi/abc123/hqdefault.jpg" alt="Talk" width="480" height="360"></a>"#
        );
    }

    /// Issue 14: backstage's `<video controls><source src="/video/…"></video>`
    /// was removed by the sanitiser without a word.
    #[test]
    fn videos_become_links_to_their_file() {
        let out = clean_in(
            r#"<video width="100%" height="100%" controls>
  <source src="/video/software-templates.mp4" type="video/mp4" />
</video>"#,
            "",
        );
        assert_eq!(out.html, r#"<a href="https://x.org/video/software-templates.mp4">Watch the video</a>"#);
        assert!(out.dropped.is_empty());
        let out = clean_in(
            r#"<video src="./demo.mp4" poster="poster.png" title="The &quot;demo&quot;">Old browser.</video> <video aria-label="A &amp; B"><source src="https://cdn.example/t.webm?a=1&amp;b=2"><source src="./not-this.webm"></video>"#,
            "p/",
        );
        assert_eq!(
            out.html,
            r#"<a href="https://x.org/blog/p/demo.mp4"><img src="https://x.org/blog/p/poster.png" alt="The &quot;demo&quot;"></a> <a href="https://cdn.example/t.webm?a=1&amp;b=2">A &amp; B</a>"#
        );
        assert!(out.local_refs.contains("./demo.mp4") && out.local_refs.contains("poster.png"), "{:?}", out.local_refs);
    }

    /// Issue 14: content the sanitiser removes is named, for `check` to say so.
    #[test]
    fn elements_removed_with_their_meaning_are_named() {
        let out = clean_in(
            r#"a<AUDIO controls src="https://x.org/a.mp3"></AUDIO><video><source src="javascript:x"></video><iframe src=""></iframe><iframe src="https://ok.example/embed"></iframe><svg><path d="M0"/></svg><form><input name=a></form><script>1</script>"#,
            "",
        );
        assert_eq!(out.dropped, BTreeSet::from(["audio", "form", "iframe", "input", "script", "svg", "video"]));
        assert_eq!(out.html, r#"a<a href="https://ok.example/embed">https://ok.example/embed</a>"#);
        let kept = r#"<p>Nothing <b>lost</b>.</p><picture><img src=a.png></picture><blockquote class="twitter-tweet"><p>A tweet</p></blockquote>
<script async src="https://platform.twitter.com/widgets.js" charset="utf-8"></script>"#;
        assert!(clean_in(kept, "").dropped.is_empty());
        assert_eq!(DROPPED_SELECTOR.split(", ").collect::<Vec<_>>(), DROPPED_ELEMENTS);
        let found: Vec<_> = droppable_tags("<p><Video src=x> <script> <scripts> <svg/>").collect();
        assert_eq!(found, [("video", 3), ("script", 17), ("svg", 36)]);
    }

    #[test]
    fn references_become_absolute_and_local_files_are_collected() {
        let out =
            clean_in(r#"<img src="./a.png"><a href="/docs">d</a><img srcset="b.png 2x, /c.png 1x">"#, "2026-09-22-s/");
        assert!(out.html.contains(r#"src="https://x.org/blog/2026-09-22-s/a.png""#), "{}", out.html);
        assert!(out.html.contains(r#"href="https://x.org/docs""#));
        assert!(out.html.contains(r#"srcset="https://x.org/blog/2026-09-22-s/b.png 2x, https://x.org/c.png 1x""#));
        assert_eq!(out.local_refs.into_iter().collect::<Vec<_>>(), ["./a.png", "b.png"]);
    }

    /// Regression (property test): ammonia does not check `srcset`, and
    /// `javascript:` candidates reached feeds and email.
    #[test]
    fn srcset_keeps_only_web_addresses() {
        let out = clean_in(r#"<img srcset="javascript:alert(1) 2x, ./a.png 1x"><img srcset="data:x 1x">"#, "");
        assert_eq!(out.html, r#"<img srcset="https://x.org/blog/a.png 1x" alt=""><img alt="">"#);
        let out = clean_in(r#"<a href="">empty</a><img src=" ">"#, "");
        assert_eq!(out.html, r#"<a>empty</a><img alt="">"#);
    }

    /// Regression (property test): ammonia keeps `cite` on `q`, `blockquote`,
    /// `del` and `ins`, and it stayed relative in feeds and email.
    #[test]
    fn cite_becomes_absolute_and_is_not_a_file_to_copy() {
        let out =
            clean_in(r#"<q cite="./talk">q</q><blockquote cite="/src">b</blockquote><q cite="https://">x</q>"#, "p/");
        assert_eq!(
            out.html,
            r#"<q cite="https://x.org/blog/p/talk">q</q><blockquote cite="https://x.org/src">b</blockquote><q>x</q>"#
        );
        assert!(out.local_refs.is_empty());
    }

    #[test]
    fn links_to_post_files_become_permalinks() {
        let out = clean_in(r#"<a href="./2021-01-01-other.md#part">o</a>"#, "");
        assert!(out.html.contains(r#"href="https://x.org/blog/2021/01/01/other#part""#), "{}", out.html);
        assert!(out.local_refs.is_empty());
    }

    #[test]
    fn normalise_refuses_to_climb_out() {
        assert_eq!(normalise("a/./b/../c.png").as_deref(), Some("a/c.png"));
        assert_eq!(normalise("../../etc/passwd"), None);
    }
}
