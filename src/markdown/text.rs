//! Plain text from Markdown events, for the email's text part.
//!
//! Made from the same parsed Markdown as the HTML (not by scraping the HTML),
//! so paragraphs, lists and code keep their shape. Links become numbered
//! references (`the docs [1]`), listed after the text with their absolute URLs.
//!
//! The text part carries the same addresses as the HTML part, no more and
//! no fewer: a message whose parts disagree looks like one whose HTML hides
//! where its links lead (rspamd scores it, `URI_COUNT_ODD`). So a link's
//! target is listed, a picture's own address only where it is not behind a
//! link (the HTML part's reader opens the link, not the picture), and raw
//! HTML's `<a href>`, `<img>` and videos count as Markdown's do.
//!
//! The text part is hard-wrapped ([`wrap`]) at [`TEXT_WIDTH`] columns, not
//! sent `format=flowed`: every client shows hard-wrapped lines as they are,
//! where a client that does not know `format=flowed` (and some that do,
//! with quoted or indented lines) shows its trailing spaces and breaks
//! differently. No URL or other long word is ever broken.

use pulldown_cmark::{Event, Tag, TagEnd};

use super::html::LinkContext;
use crate::urls;

/// The column the text part is wrapped at: the usual 72 of plain-text
/// mail, which leaves room for a reply's `> ` marks within 78, and for a
/// name or greeting filled into a wrapped line after wrapping.
pub const TEXT_WIDTH: usize = 72;

/// Plain text and the URLs its `[n]` references point to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainText {
    pub text: String,
    /// `links[n - 1]` is the target of reference `[n]`.
    pub links: Vec<String>,
}

impl PlainText {
    /// The reference list, `[n] URL` a line, each line ending in `\n`.
    pub fn reference_lines(&self) -> String {
        self.links.iter().enumerate().map(|(index, link)| format!("[{}] {link}\n", index + 1)).collect()
    }

    /// The text, then its reference list after an empty line (none without links).
    pub fn with_references(&self) -> String {
        if self.links.is_empty() {
            return self.text.clone();
        }
        format!("{}\n\n{}", self.text, self.reference_lines().trim_end())
    }
}

/// Converts events (an excerpt, or any Markdown) to text; links resolve
/// as in the HTML (a fragment alone into the post's page).
pub fn to_text<'a>(events: impl IntoIterator<Item = Event<'a>>, links: &LinkContext) -> PlainText {
    let mut writer = TextWriter {
        links,
        out: String::new(),
        links_listed: Vec::new(),
        link_stack: Vec::new(),
        image: None,
        lists: Vec::new(),
        quote_depth: 0,
        in_code_block: false,
        video_without_src: None,
        unfinished_tag: String::new(),
    };
    for event in events {
        writer.event(event);
    }
    let text = writer.out.trim_end().to_string();
    PlainText { text, links: writer.links_listed }
}

struct TextWriter<'b> {
    links: &'b LinkContext<'b>,
    out: String,
    /// The targets of the references, in order.
    links_listed: Vec<String>,
    /// Open links' targets, for the reference after the link text; `None`
    /// for a raw `<a>` without an `href` (an anchor), which lists nothing.
    link_stack: Vec<Option<String>>,
    /// The open image's target and where its `[image: ` starts in `out`.
    image: Option<(String, usize)>,
    /// Open lists: `Some(n)` numbered from n, `None` bulleted.
    lists: Vec<Option<u64>>,
    quote_depth: usize,
    in_code_block: bool,
    /// Inside a `<video>` with no `src` (its title, if any): its first
    /// `<source>` has the address.
    video_without_src: Option<Option<String>>,
    /// A tag of raw HTML whose `>` is in a later event (an `<iframe` whose
    /// attributes are on the lines after it).
    unfinished_tag: String,
}

impl TextWriter<'_> {
    /// The number of a link target, or None for one a reader cannot open
    /// (`javascript:`, `data:`, a broken URL): the HTML part drops those too.
    fn reference(&mut self, target: &str) -> Option<usize> {
        let url = self.links.absolute(target);
        if !urls::is_openable(&url) {
            return None;
        }
        Some(match self.links_listed.iter().position(|l| *l == url) {
            Some(index) => index + 1,
            None => {
                self.links_listed.push(url);
                self.links_listed.len()
            }
        })
    }

    /// The reference after a link's text.
    fn end_link(&mut self) {
        if let Some(Some(target)) = self.link_stack.pop()
            && let Some(n) = self.reference(&target)
        {
            self.out.push_str(&format!(" [{n}]"));
        }
    }

    /// Closes the `[image: alt` that starts at `start` in `out`: `[image]`
    /// without alt text, and a reference to the picture unless a link
    /// around it already has one.
    fn end_image(&mut self, target: &str, start: usize) {
        if self.out[start..].trim_end() == "[image:" {
            self.out.truncate(start);
            self.out.push_str("[image");
        }
        let own_reference = if self.link_stack.is_empty() { self.reference(target) } else { None };
        match own_reference {
            Some(n) => self.out.push_str(&format!("] [{n}]")),
            None => self.out.push(']'),
        }
    }

    fn block_break(&mut self) {
        let trimmed = self.out.trim_end_matches([' ', '>']).len();
        self.out.truncate(trimmed);
        if self.out.is_empty() {
            return;
        }
        while !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
        self.line_prefix();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.line_prefix();
    }

    fn line_prefix(&mut self) {
        for _ in 0..self.quote_depth {
            self.out.push_str("> ");
        }
        if !self.lists.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push_str(&"   ".repeat(self.lists.len()));
        }
    }

    fn push_text(&mut self, text: &str) {
        if self.in_code_block {
            for (index, line) in text.split('\n').enumerate() {
                if index > 0 {
                    self.newline();
                }
                if !line.is_empty() {
                    self.out.push_str("    ");
                    self.out.push_str(line);
                }
            }
        } else if self.out.ends_with('\n') {
            // Text left on a line after a video's block (`</video> after`).
            self.out.push_str(text.trim_start());
        } else {
            self.out.push_str(text);
        }
    }

    fn event(&mut self, event: Event<'_>) {
        if !matches!(event, Event::Html(_) | Event::InlineHtml(_)) {
            self.unfinished_tag.clear();
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(text) => self.push_text(&text),
            Event::Code(code) => self.out.push_str(&code),
            Event::SoftBreak => self.out.push(' '),
            Event::HardBreak => self.newline(),
            Event::Rule => {
                self.block_break();
                self.out.push_str("----------");
                self.block_break();
            }
            Event::TaskListMarker(done) => self.out.push_str(if done { "[x] " } else { "[ ] " }),
            Event::FootnoteReference(name) => {
                self.out.push_str(&format!("[^{name}]"));
            }
            Event::Html(html) | Event::InlineHtml(html) => self.raw_html(&html),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.out.push_str(&math),
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        match tag {
            // A paragraph right after a list bullet stays on the bullet's line.
            Tag::Paragraph | Tag::Table(_) | Tag::FootnoteDefinition(_)
                if !self.out.ends_with("- ") && !self.out.ends_with(". ") =>
            {
                self.block_break();
            }
            Tag::Heading { .. } | Tag::HtmlBlock => self.block_break(),
            Tag::BlockQuote(_) => {
                self.block_break();
                self.quote_depth += 1;
                self.out.push_str("> ");
            }
            Tag::CodeBlock(_) => {
                self.block_break();
                self.in_code_block = true;
            }
            Tag::List(start) => {
                self.block_break();
                self.lists.push(start);
            }
            Tag::Item => {
                if !self.out.ends_with("\n\n") && !self.out.is_empty() {
                    self.out.push('\n');
                }
                let depth = self.lists.len().saturating_sub(1);
                self.out.push_str(&"   ".repeat(depth));
                match self.lists.last_mut() {
                    Some(Some(number)) => {
                        self.out.push_str(&format!("{number}. "));
                        *number += 1;
                    }
                    _ => self.out.push_str("- "),
                }
            }
            Tag::TableRow | Tag::TableHead if !self.out.ends_with('\n') && !self.out.is_empty() => {
                self.out.push('\n');
            }
            Tag::TableCell if !self.out.ends_with('\n') => self.out.push_str(" | "),
            Tag::Link { dest_url, .. } => self.link_stack.push(Some(dest_url.to_string())),
            Tag::Image { dest_url, .. } => {
                self.image = Some((dest_url.to_string(), self.out.len()));
                self.out.push_str("[image: ");
            }
            _ => {}
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Table | TagEnd::FootnoteDefinition | TagEnd::HtmlBlock => {
                self.block_break()
            }
            TagEnd::BlockQuote(_) => {
                self.quote_depth = self.quote_depth.saturating_sub(1);
                self.block_break();
            }
            TagEnd::CodeBlock => {
                self.in_code_block = false;
                self.block_break();
            }
            TagEnd::List(_) => {
                self.lists.pop();
                self.block_break();
            }
            TagEnd::Link => self.end_link(),
            TagEnd::Image => {
                if let Some((target, start)) = self.image.take() {
                    self.end_image(&target, start);
                }
            }
            _ => {}
        }
    }

    /// Raw HTML's text is not kept (a block of it is markup, not prose), but
    /// what the HTML part shows of it is: its links get references, like
    /// Markdown's; its pictures are `[image: alt]`; embedded videos become a
    /// reference to the video's page (an iframe's) or file (a `<video>`'s,
    /// or its first `<source>`'s: a block of HTML comes a line at a time, so
    /// the `<source>` may come in a later event than its `<video>`), with
    /// the title the HTML part shows.
    fn raw_html(&mut self, html: &str) {
        let joined;
        let html = if self.unfinished_tag.is_empty() {
            html
        } else {
            joined = std::mem::take(&mut self.unfinished_tag) + html;
            &joined
        };
        for at in memchr::memchr_iter(b'<', html.as_bytes()) {
            let tag = &html[at + 1..];
            if !tag.contains('>') {
                // Bounded: a `<` that never closes is text, not a tag.
                if tag.len() < 4096 {
                    self.unfinished_tag = html[at..].to_string();
                }
                break;
            }
            let name_len = tag.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'/').count();
            let src = || attribute(tag, "src").filter(|src| !src.trim().is_empty());
            let title = |name: &str| attribute(tag, name).filter(|title| !title.trim().is_empty());
            match tag[..name_len].to_ascii_lowercase().as_str() {
                "iframe" => {
                    let url = self.links.absolute(&src().unwrap_or_default());
                    match super::html::video_thumbnail(&url) {
                        Some((watch, _, _)) => self.video(&watch, title("title")),
                        None => self.embed(&url, title("title")),
                    }
                }
                "video" => {
                    let title = title("title").or_else(|| title("aria-label"));
                    match src() {
                        Some(src) => self.video(&self.links.absolute(&src), title),
                        None => self.video_without_src = Some(title),
                    }
                }
                "source" if self.video_without_src.is_some() => {
                    if let Some(src) = src() {
                        let title = self.video_without_src.take().flatten();
                        self.video(&self.links.absolute(&src), title);
                    }
                }
                "/video" => self.video_without_src = None,
                "a" => self.link_stack.push(attribute(tag, "href")),
                "/a" => self.end_link(),
                "img" => {
                    let start = self.out.len();
                    self.out.push_str("[image: ");
                    self.out.push_str(title("alt").unwrap_or_default().trim());
                    self.end_image(&src().unwrap_or_default(), start);
                }
                _ => {}
            }
        }
    }

    /// A video as a paragraph of its own: `[video: title] [n]`.
    fn video(&mut self, target: &str, title: Option<String>) {
        self.embed_block("video", target, title);
    }

    /// An embedded page that is not a video (the HTML part links to it):
    /// `[embed: title] [n]`.
    fn embed(&mut self, target: &str, title: Option<String>) {
        if urls::is_web_url(target) {
            self.embed_block("embed", target, title);
        }
    }

    fn embed_block(&mut self, kind: &str, target: &str, title: Option<String>) {
        if let Some(n) = self.reference(target) {
            self.block_break();
            match title {
                Some(title) => self.out.push_str(&format!("[{kind}: {}] [{n}]", title.trim())),
                None => self.out.push_str(&format!("[{kind}] [{n}]")),
            }
            self.block_break();
        }
    }
}

/// Hard-wraps every line of `text` longer than `width` columns between
/// words (at spaces only: a URL, an address or a word with a hyphen stays
/// whole), repeating its prefix on the lines it continues on: the quote
/// marks, and its indent and list or reference marker as spaces. A line
/// that is one long word after its prefix (`[1] https://…`) is left long.
pub fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            out.push('\n');
        }
        let (prefix, words) = split_prefix(line);
        if textwrap::core::display_width(line) <= width || !words.trim_end().contains(' ') {
            out.push_str(line);
            continue;
        }
        let quotes = &prefix[..prefix.len() - prefix.trim_start_matches("> ").len()];
        let continuation = format!("{quotes}{}", " ".repeat(prefix.len() - quotes.len()));
        let options = textwrap::Options::new(width)
            .word_separator(textwrap::WordSeparator::AsciiSpace)
            .word_splitter(textwrap::WordSplitter::NoHyphenation)
            .break_words(false)
            .initial_indent(prefix)
            .subsequent_indent(&continuation);
        out.push_str(&textwrap::fill(words, options));
    }
    out
}

/// A line of the text part split into its prefix (quote marks, indent, and
/// one list item's or reference's marker: `- `, `3. `, `[12] `) and the
/// words after it.
fn split_prefix(line: &str) -> (&str, &str) {
    let quoted = line.len() - line.trim_start_matches("> ").len();
    let indented = line.len() - line[quoted..].trim_start_matches(' ').len();
    let rest = &line[indented..];
    let digits = |text: &str| !text.is_empty() && text.len() <= 9 && text.bytes().all(|b| b.is_ascii_digit());
    let marker = if rest.starts_with("- ") {
        2
    } else if let Some(dot) = rest.find(". ")
        && digits(&rest[..dot])
    {
        dot + 2
    } else if let Some(close) = rest.find("] ")
        && rest.starts_with('[')
        && digits(&rest[1..close])
    {
        close + 2
    } else {
        0
    };
    line.split_at(indented + marker)
}

/// The value of the attribute `name` in the tag that `tag` starts (after
/// its `<`), entities decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let tag = &tag[..tag.find('>').unwrap_or(tag.len())];
    let pattern = format!("{name}=");
    let at = tag
        .match_indices(&pattern)
        .find(|(at, _)| tag[..*at].ends_with(|c: char| c.is_ascii_whitespace()))
        .map(|(at, _)| at + pattern.len())?;
    let value = &tag[at..];
    let quote = value.chars().next()?;
    let value = if quote == '"' || quote == '\'' {
        &value[1..1 + value[1..].find(quote)?]
    } else {
        value.split_whitespace().next().unwrap_or_default()
    };
    Some(super::html::decode_entities(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markdown::parse;

    fn text(markdown: &str) -> PlainText {
        let post_links = std::collections::HashMap::new();
        let links = LinkContext {
            base_url: "https://x.org/blog/",
            permalink: "https://x.org/blog/2026/01/02/post",
            folder: "",
            post_links: &post_links,
        };
        to_text(parse(markdown).into_iter().map(|(e, _)| e), &links)
    }

    #[test]
    fn links_become_numbered_references() {
        let out = text("See [the docs](/docs) and [the repo](https://github.com/x) and [docs again](/docs).");
        assert_eq!(out.text, "See the docs [1] and the repo [2] and docs again [1].");
        assert_eq!(out.links, ["https://x.org/docs", "https://github.com/x"]);
    }

    /// Issue 14: a link to a heading of the post was listed nowhere; it is
    /// the heading on the post's page, as in the HTML part.
    #[test]
    fn fragment_links_point_into_the_post() {
        let out = text("See [the plan](#the-plan) and [the docs](/docs#setup).");
        assert_eq!(out.text, "See the plan [1] and the docs [2].");
        assert_eq!(out.links, ["https://x.org/blog/2026/01/02/post#the-plan", "https://x.org/docs#setup"]);
    }

    #[test]
    fn blocks_keep_their_shape() {
        let out = text("# Title\n\nPara one\nwraps.\n\n- a\n- b\n\n```\ncode\n```\n\n> quoted");
        assert_eq!(out.text, "Title\n\nPara one wraps.\n\n- a\n- b\n\n    code\n\n> quoted");
    }

    #[test]
    fn images_and_videos_are_references() {
        let out = text("![Banner](./a.png)\n\n<iframe src=\"https://www.youtube.com/embed/abc\"></iframe>\n");
        assert_eq!(out.text, "[image: Banner] [1]\n\n[video] [2]");
        assert_eq!(out.links, ["https://x.org/blog/a.png", "https://www.youtube.com/watch?v=abc"]);
    }

    /// Issue 14: a `<video>` (its address on a `<source>`, on a line of its
    /// own) left nothing in the text part.
    #[test]
    fn videos_are_references_to_their_file() {
        let out = text(
            "Intro.\n\n<video width=\"100%\" controls>\n  <source data-src=\"x\" src=\"/video/t.mp4\" type=\"video/mp4\" />\n</video>\n\n\
             <video src=\"./b.webm?a=1&amp;b=2\"></video> <video><source src=\"\"></video> after",
        );
        assert_eq!(out.text, "Intro.\n\n[video] [1]\n\n[video] [2]\n\nafter");
        assert_eq!(out.links, ["https://x.org/video/t.mp4", "https://x.org/blog/b.webm?a=1&b=2"]);
    }

    /// Issue 19: a linked picture's own address was listed too, though the
    /// HTML part's reader can only open the link; a picture without alt
    /// text was `[image: ]`.
    #[test]
    fn a_linked_picture_lists_only_its_link() {
        let out = text("[![Logo](/logo.png)](https://x.org/home) and ![](./bare.png)");
        assert_eq!(out.text, "[image: Logo] [1] and [image] [2]");
        assert_eq!(out.links, ["https://x.org/home", "https://x.org/blog/bare.png"]);
    }

    /// Issue 19: raw HTML's links and pictures, which the HTML part shows,
    /// were missing from the text part.
    #[test]
    fn raw_html_links_and_pictures_are_references() {
        let out = text(
            "See <a href=\"/docs\">the docs</a> <a name=\"x\">here</a>.\n\n\
             <p align=\"center\"><a href=\"https://x.org/big.png\"><img src=\"/small.png\" alt=\"Chart\"></a></p>\n\n\
             <img src=\"./c.png\">",
        );
        assert_eq!(out.text, "See the docs [1] here.\n\n[image: Chart] [2]\n\n[image] [3]");
        assert_eq!(out.links, ["https://x.org/docs", "https://x.org/big.png", "https://x.org/blog/c.png"]);
    }

    /// Issue 19: a video kept its address but lost its title; and an
    /// iframe whose attributes are on the lines after `<iframe` (backstage's
    /// TechDocs announcement) left nothing.
    #[test]
    fn videos_keep_their_title_and_multi_line_tags_are_read_whole() {
        let out = text(
            "<iframe\n  width=\"780\"\n  src=\"https://www.youtube.com/embed/abc\"\n  title=\"The &quot;talk&quot;\"\n></iframe>\n\n\
             <video aria-label=\"Demo\"><source src=\"/d.mp4\"></video>\n\n<iframe src=\"https://codesandbox.io/embed/x\"></iframe>",
        );
        assert_eq!(out.text, "[video: The \"talk\"] [1]\n\n[video: Demo] [2]\n\n[embed] [3]");
        assert_eq!(
            out.links,
            ["https://www.youtube.com/watch?v=abc", "https://x.org/d.mp4", "https://codesandbox.io/embed/x"]
        );
    }

    /// Issue 19: paragraphs were one line each, hundreds of columns long.
    #[test]
    fn long_lines_wrap_between_words_and_keep_their_prefix() {
        let long = "word ".repeat(20);
        let url = "https://x.org/a-very-long-path/with-hyphens-that-must-stay-together-in-one-piece-always";
        let text =
            format!("{long}\n> {long}\n- {long}\n12. {long}\n[3] {url}\nRead more: {url}\n\n    code {long}\nshort");
        let wrapped = wrap(&text, 30);
        let expected = [
            "word word word word word word",
            "word word word word word word",
            "word word word word word word",
            "word word",
            "> word word word word word",
            "> word word word word word",
            "> word word word word word",
            "> word word word word word",
            "- word word word word word",
            "  word word word word word",
            "  word word word word word",
            "  word word word word word",
            "12. word word word word word",
            "    word word word word word",
            "    word word word word word",
            "    word word word word word",
            &format!("[3] {url}"),
            "Read more:",
            url,
            "",
            "    code word word word word",
            "    word word word word word",
            "    word word word word word",
            "    word word word word word",
            "    word",
            "short",
        ]
        .join("\n");
        assert_eq!(wrapped, expected);
        assert_eq!(wrap(&wrapped, 30), wrapped, "wrapping twice changes nothing");
    }

    /// Regression (property test): the text part listed `javascript:` and
    /// `data:` targets that the HTML part had removed.
    #[test]
    fn targets_no_reader_can_open_are_not_listed() {
        let out = text("[x](javascript:alert(1)) ![y](data:image/png;base64,AA) [z](<>) [ok](mailto:a@b.c)");
        assert_eq!(out.text, "x [image: y] z ok [1]");
        assert_eq!(out.links, ["mailto:a@b.c"]);
    }
}
