//! Property tests (issue 6): for arbitrary titles, authors and bodies every
//! feed parses back with feed-rs and carries the same titles and authors;
//! the excerpt is a prefix of the post and never cuts inside code; every URL
//! in the feeds and the digest email is absolute; and for arbitrary
//! subscriber names and addresses a message carries exactly the headers
//! newsroom sets.
//!
//! HTML is read back with scraper (html5ever) and messages with mail-parser,
//! never with the code under test. Case counts are kept small enough that
//! each property runs in a few seconds in a debug build; the properties that
//! run the binary build a real site per case.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{FixedOffset, TimeZone};
use mail_parser::MessageParser;
use newsroom::config::Config;
use newsroom::content::{Author, Body, Post, PostTag};
use newsroom::feed::{Entry, FeedSpec, write_all};
use newsroom::markdown::{LinkContext, Parts, find_marker, parse, render_post};
use proptest::prelude::*;
use pulldown_cmark::{Event, Tag};

use crate::support::*;

fn config() -> Config {
    Config::parse("site:\n  title: Prop\n  url: https://prop.example.org\n", std::path::Path::new("newsroom.yaml"))
        .unwrap()
}

fn post(index: usize, title: String, author: String, body: String) -> (Post, Body) {
    let date = FixedOffset::east_opt(0).unwrap().with_ymd_and_hms(2026, 1, 1 + index as u32, 0, 0, 0).unwrap();
    let post = Post {
        source: format!("posts/2026-01-0{index}-p.md").into(),
        folder: String::new(),
        mdx: false,
        title,
        description: None,
        date,
        updated: date,
        permalink: format!("https://prop.example.org/blog/2026/01/0{}/p", index + 1),
        tags: vec![PostTag::new("prop tag")],
        authors: vec![Author { name: author, ..Author::default() }],
        image: None,
        draft: false,
        unlisted: false,
        path: format!("posts/2026-01-0{index}-p.md").into(),
        heading: None,
        body_len: body.len(),
        body_line: 4,
    };
    (post, Body { text: body, line: 4 })
}

fn link_context<'a>(post: &'a Post, links: &'a std::collections::HashMap<String, String>) -> LinkContext<'a> {
    LinkContext {
        base_url: "https://prop.example.org/blog/",
        permalink: &post.permalink,
        folder: "",
        post_links: links,
    }
}

/// Text as people type it, including markup characters, entities and CDATA ends.
fn text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 <>&\"'\\]\\[\\]>é漢!#*_`(){}/:.-]{1,40}")
        .unwrap()
        .prop_map(|s| s.trim().to_string())
        .prop_filter("non-empty", |s| !s.is_empty())
}

/// Author names as they appear in the wild: plain, with quotes, commas,
/// angle brackets, an address, parentheses, accents and other scripts.
fn author_name() -> impl Strategy<Value = String> {
    prop_oneof![
        text(),
        Just("Ada \"The Countess\" Lovelace".to_string()),
        Just("O'Brien, Jr.".to_string()),
        Just("Ada <ada@example.org>".to_string()),
        Just("ada@example.org (Ada)".to_string()),
        Just("Zoë Ångström-Ünal".to_string()),
        Just("山田 太郎".to_string()),
        Just("محمد".to_string()),
        Just("R&D <Team> & Co".to_string()),
        Just("]]> --> <!--".to_string()),
    ]
}

fn body() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        text(),
        Just("<!--truncate-->".to_string()),
        Just("```\n<!--truncate-->\n```".to_string()),
        Just("[rel](./a.png) ![img](../b.png) <a href=\"c/d\">x</a>".to_string()),
        Just("<img src=\"/e.png\" srcset=\"f.png 2x, /g.png 1x\">".to_string()),
        Just("<script>alert(1)</script><iframe src=\"https://www.youtube.com/embed/x\"></iframe>".to_string()),
        Just("- a\n- b".to_string()),
        Just("]]>".to_string()),
    ];
    proptest::collection::vec(pieces, 1..8).prop_map(|parts| parts.join("\n\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(96)))]

    #[test]
    fn every_feed_parses_back_with_absolute_urls(
        posts in proptest::collection::vec((text(), author_name(), body()), 1..4)
    ) {
        let config = config();
        let (posts, bodies): (Vec<Post>, Vec<Body>) = posts.into_iter().enumerate().map(|(i, (t, a, b))| post(i, t, a, b)).unzip();
        let links = Default::default();
        let rendered: Vec<_> =
            posts.iter().zip(&bodies).map(|(p, b)| render_post(p, b, &link_context(p, &links), Parts::FULL)).collect();
        let entries: Vec<Entry> = posts.iter().zip(&rendered).map(|(post, rendered)| Entry { post, rendered }).collect();
        let spec = FeedSpec::new(&config, "Prop".into(), config.blog_url(), config.blog_url(), entries, posts[0].date);
        let files = write_all(&spec).unwrap();
        for (name, text) in [("rss", &files.rss), ("atom", &files.atom), ("json", &files.json)] {
            let feed = feed_rs::parser::parse(text.as_bytes()).map_err(|e| TestCaseError::fail(format!("{name}: {e}\n{text}")))?;
            prop_assert_eq!(feed.entries.len(), posts.len());
            for entry in &feed.entries {
                let post = posts.iter().find(|p| p.permalink == entry.id).unwrap();
                prop_assert_eq!(entry.title.as_ref().map(|t| t.content.trim().to_string()), Some(post.title.clone()), "{}", name);
                prop_assert_eq!(entry.authors.len(), 1, "{}", name);
                prop_assert!(same_person(&entry.authors[0], &post.authors[0].name), "{}: {:?} in {}", name, entry.authors[0], text);
                for html in entry_html(entry) {
                    check_html_urls(&html).map_err(|e| TestCaseError::fail(format!("{name}: {e}")))?;
                }
            }
        }
        for rendered in &rendered {
            for html in [&rendered.excerpt_html, rendered.content_html.as_ref().unwrap()] {
                check_html_urls(html).map_err(TestCaseError::fail)?;
                prop_assert!(!html.contains("<script") && !html.contains("<iframe"), "{}", html);
            }
        }
    }
}

/// Whether feed-rs read back the author's name. From RSS `dc:creator` it
/// splits `Name <address>` and `address (Name)` into name and email, so
/// those are put back together before comparing.
fn same_person(person: &feed_rs::model::Person, name: &str) -> bool {
    let read = person.name.as_deref().unwrap_or_default().trim();
    match person.email.as_deref() {
        None => read == name,
        Some(email) => {
            [format!("{read} <{email}>"), format!("{email} ({read})"), format!("{email} {read}"), email.to_string()]
                .iter()
                .any(|joined| joined == name)
        }
    }
}

// ---------------------------------------------------------------------------
// URLs: what counts as absolute, and every place HTML can hold one.

/// Attributes whose value is a URL (HTML 4 and 5, SVG), checked on every element.
const URL_ATTRIBUTES: [&str; 17] = [
    "href",
    "src",
    "poster",
    "cite",
    "action",
    "formaction",
    "background",
    "longdesc",
    "lowsrc",
    "dynsrc",
    "usemap",
    "data",
    "codebase",
    "manifest",
    "icon",
    "profile",
    "xlink:href",
];

/// An absolute URL a reader's client can open from anywhere: http(s) with a
/// host, mailto or tel. A fragment alone (`#fn-1`, `#a-heading`) is not:
/// in a feed reader or an email it points nowhere (issue 14).
fn is_absolute(url: &str) -> bool {
    let url = url.trim();
    match url::Url::parse(url) {
        Ok(parsed) => match parsed.scheme() {
            "http" | "https" => parsed.host_str().is_some_and(|h| !h.is_empty()),
            "mailto" | "tel" => true,
            _ => false,
        },
        Err(_) => false,
    }
}

/// Every URL in an HTML document or fragment, with where it was found.
fn html_urls(html: &str) -> Vec<(String, String)> {
    let document = scraper::Html::parse_document(html);
    let all = scraper::Selector::parse("*").unwrap();
    let mut found = Vec::new();
    for element in document.select(&all) {
        let tag = element.value().name().to_string();
        for (name, value) in element.value().attrs() {
            let name = name.to_ascii_lowercase();
            if URL_ATTRIBUTES.contains(&name.as_str()) {
                found.push((format!("<{tag} {name}>"), value.to_string()));
            } else if name == "srcset" {
                for candidate in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    let url = candidate.split_whitespace().next().unwrap_or_default();
                    found.push((format!("<{tag} srcset>"), url.to_string()));
                }
            } else if name == "style" {
                let mut rest = value;
                while let Some(at) = rest.find("url(") {
                    rest = &rest[at + 4..];
                    let end = rest.find(')').unwrap_or(rest.len());
                    found.push((format!("<{tag} style>"), rest[..end].trim_matches(['"', '\'', ' ']).to_string()));
                }
            }
        }
    }
    found
}

/// Fails with the first URL that is not absolute.
fn check_html_urls(html: &str) -> Result<(), String> {
    for (place, url) in html_urls(html) {
        if !is_absolute(&url) {
            return Err(format!("{place} holds `{url}`, which is not absolute, in:\n{html}"));
        }
    }
    Ok(())
}

/// The HTML bodies of a feed entry as feed-rs reads them.
fn entry_html(entry: &feed_rs::model::Entry) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(summary) = &entry.summary {
        out.push(summary.content.clone());
    }
    if let Some(body) = entry.content.as_ref().and_then(|c| c.body.clone()) {
        out.push(body);
    }
    out
}

// ---------------------------------------------------------------------------
// The excerpt: a prefix of the post, cut at the first marker outside code.

/// One block of a generated post, and where in it a real truncate marker
/// starts (None when the block has none, or only one inside code).
#[derive(Debug, Clone)]
struct Piece {
    markdown: String,
    marker_at: Option<usize>,
    place: Place,
}

/// Where a marker sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Between blocks.
    Top,
    /// Inside a paragraph or a quote: the excerpt closes them.
    Inside,
    /// In a list item after a blank line: the item is loose in the whole
    /// post (`<li><p>`) and tight in the text before the cut, so the two
    /// renderings differ by those `<p>`s.
    ListItem,
}

fn plain(markdown: &str) -> Piece {
    Piece { markdown: markdown.to_string(), marker_at: None, place: Place::Top }
}

fn marker(markdown: &str, at: usize, place: Place) -> Piece {
    assert!(markdown[at..].starts_with("<!--") || markdown[at..].starts_with("{/*"));
    Piece { markdown: markdown.to_string(), marker_at: Some(at), place }
}

/// Words without Markdown or HTML syntax, so a piece stays the block it is meant to be.
fn words() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z][a-zA-Zé漢0-9 ]{0,30}").unwrap().prop_map(|s| s.trim_end().to_string())
}

fn piece() -> impl Strategy<Value = Piece> {
    let decoy = prop_oneof![
        // Markers inside code are text: fenced (backticks, tildes, longer
        // fences, in a list item, in a quote), indented, inline.
        Just(plain("```\n<!--truncate-->\n```")),
        Just(plain("~~~md\n<!-- truncate -->\n~~~")),
        Just(plain("````\n```\n<!--truncate-->\n```\n````")),
        Just(plain("```jsx\n{/* truncate */}\n```")),
        Just(plain("- item\n\n  ```\n  <!--truncate-->\n  ```")),
        Just(plain("> ```\n> <!--truncate-->\n> ```")),
        Just(plain("Code:\n\n    <!--truncate-->\n    more code")),
        Just(plain("Use `<!--truncate-->` to cut.")),
        Just(plain("Or ``{/* truncate */}`` in MDX.")),
        // Comments that are not the marker.
        Just(plain("<!-- truncated -->")),
        Just(plain("<!-- note: the truncate marker goes below -->")),
        Just(plain("<div class=\"note\">\n\nInside a div.\n\n</div>")),
        Just(plain("| a | b |\n|---|---|\n| `<!--truncate-->` | x |")),
        Just(plain("See [the docs][docs].\n\n[docs]: ./docs.md")),
        Just(plain("![a chart](./chart.png) and <img src=\"img/x.png\"> and [a post](./other.md)")),
        Just(plain("<Tabs>\n\nIn a component.\n\n</Tabs>")),
    ];
    let marker = prop_oneof![
        Just(marker("<!--truncate-->", 0, Place::Top)),
        Just(marker("<!-- truncate -->", 0, Place::Top)),
        Just(marker("{/* truncate */}", 0, Place::Top)),
        Just(marker("Intro <!--truncate--> rest", 6, Place::Inside)),
        Just(marker("> Quoted\n>\n> <!--truncate-->", 13, Place::Inside)),
        Just(marker("- item\n\n  <!--truncate-->", 10, Place::ListItem)),
    ];
    prop_oneof![
        4 => words().prop_map(|w| plain(&format!("{w}."))),
        1 => words().prop_map(|w| plain(&format!("## {w}"))),
        1 => (words(), words()).prop_map(|(a, b)| plain(&format!("- {a}\n- {b}"))),
        1 => (words(), words()).prop_map(|(a, b)| plain(&format!("{a} `code` and **{b}**"))),
        4 => decoy,
        2 => marker,
    ]
}

/// A post body from pieces, and the byte offset of its first real marker.
fn marked_body() -> impl Strategy<Value = (String, Option<(usize, Place)>)> {
    proptest::collection::vec(piece(), 1..10).prop_map(|pieces| {
        let mut body = String::new();
        let mut first = None;
        for piece in pieces {
            if !body.is_empty() {
                body.push_str("\n\n");
            }
            if first.is_none()
                && let Some(at) = piece.marker_at
            {
                first = Some((body.len() + at, piece.place));
            }
            body.push_str(&piece.markdown);
        }
        body.push('\n');
        (body, first)
    })
}

/// HTML with whitespace between and at the edges of tags ignored: a cut
/// inside a paragraph keeps the space before the marker, a prefix loses it.
fn squeeze(html: &str) -> String {
    html.split_whitespace().collect::<Vec<_>>().join(" ").replace(" <", "<").replace("> ", ">")
}

/// Byte ranges of code: code blocks and inline code spans.
fn code_ranges(source: &str) -> Vec<std::ops::Range<usize>> {
    let events = parse(source);
    let mut ranges = Vec::new();
    for (event, range) in &events {
        match event {
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => ranges.push(range.clone()),
            _ => {}
        }
    }
    ranges
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    /// The cut is the first marker outside code, at its byte offset; the
    /// excerpt is what rendering the text before the cut gives; and for a
    /// marker between blocks the excerpt's HTML is a prefix of the post's.
    #[test]
    fn the_excerpt_is_a_prefix_cut_at_the_first_marker_outside_code((body, expected) in marked_body()) {
        let events = parse(&body);
        let cut = find_marker(&events).map(|index| events[index].1.start);
        prop_assert_eq!(cut, expected.map(|(at, _)| at), "cut in:\n{}", body);
        let links = Default::default();
        let (whole_post, whole_body) = post(0, "T".into(), "A".into(), body.clone());
        let whole = render_post(&whole_post, &whole_body, &link_context(&whole_post, &links), Parts::ALL);
        prop_assert_eq!(whole.has_marker, expected.is_some());
        // Rendering only the excerpt stops keeping events at the marker; it
        // gives the same excerpt and warnings as rendering everything.
        let excerpt_only = render_post(&whole_post, &whole_body, &link_context(&whole_post, &links), Parts::EMAIL);
        prop_assert_eq!(&excerpt_only.excerpt_html, &whole.excerpt_html);
        prop_assert_eq!(excerpt_only.has_marker, whole.has_marker);
        prop_assert_eq!(format!("{:?}", excerpt_only.excerpt_text), format!("{:?}", whole.excerpt_text));
        prop_assert_eq!(format!("{:?}", excerpt_only.diagnostics), format!("{:?}", whole.diagnostics));
        let Some((at, place)) = expected else { return Ok(()) };
        for code in code_ranges(&body) {
            prop_assert!(!(code.start < at && at < code.end), "the cut {} is inside code {:?} in:\n{}", at, code, body);
        }
        // The excerpt is the rendering of the text before the cut, alone.
        let prefix = body[..at].to_string();
        let (alone_post, alone_body) = post(0, "T".into(), "A".into(), prefix.clone());
        let alone = render_post(&alone_post, &alone_body, &link_context(&alone_post, &links), Parts::FULL);
        let alone_html = alone.content_html.unwrap();
        if place != Place::ListItem && !body[at..].contains("[docs]:") {
            // (A reference defined below the cut still resolves in the excerpt.)
            prop_assert_eq!(squeeze(&whole.excerpt_html), squeeze(&alone_html), "prefix:\n{}\nbody:\n{}", prefix, body);
        }
        if place == Place::Top {
            let content = whole.content_html.unwrap();
            prop_assert!(content.starts_with(whole.excerpt_html.trim_end()), "excerpt:\n{}\ncontent:\n{}", whole.excerpt_html, content);
        }
    }
}

// ---------------------------------------------------------------------------
// Every URL in the feeds and the digest email is absolute, whatever links
// and images the posts and their front matter hold.

/// References as posts write them: relative, root-relative, protocol-relative,
/// absolute, other schemes, broken, encoded, spaced, links to other posts.
fn reference() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("./a.png"),
        Just("../b.png"),
        Just("c/d"),
        Just("relative/dir/"),
        Just("/root.png"),
        Just("//cdn.example.com/c.png"),
        Just("?query=1"),
        Just("#fragment"),
        Just(""),
        Just("  ./spaced.png  "),
        Just("a b.png"),
        Just("café.png"),
        Just("%zz.png"),
        Just("../../../../etc/passwd"),
        Just("./2026-10-01-p0.md#part"),
        Just("\\\\evil.example/x"),
        Just("https://back\\slash.example/x"),
        Just("https://ok.example.org/a?b=1&c=2"),
        Just("HTTPS://UPPER.EXAMPLE/X"),
        Just("http:foo"),
        Just("https://"),
        Just("http://[::1"),
        Just("mailto:ada@example.org"),
        Just("tel:+1-555-0100"),
        Just("javascript:alert(1)"),
        Just("JaVaScRiPt:alert(1)"),
        Just("data:image/png;base64,AAAA"),
        Just("vbscript:msgbox"),
        Just("file:///etc/passwd"),
        Just("ftp://ftp.example.org/x"),
    ]
    .prop_map(str::to_string)
}

/// A block of a post that holds the reference `u` somewhere a URL can go.
fn link_piece() -> impl Strategy<Value = String> {
    (0..15usize, reference()).prop_map(|(kind, u)| match kind {
        0 => format!("A [link](<{u}>) here."),
        1 => format!("An ![image](<{u}>) here."),
        2 => format!("<a href=\"{u}\">raw link</a>"),
        3 => format!("<img src=\"{u}\" srcset=\"{u} 2x, {u} 1x\">"),
        4 => format!("<q cite=\"{u}\">quoted</q> and <del cite=\"{u}\">gone</del>"),
        5 => format!("<blockquote cite=\"{u}\">\n\nSaid.\n\n</blockquote>"),
        6 => format!("<video src=\"{u}\" poster=\"{u}\"></video>"),
        7 => format!("<iframe src=\"{u}\"></iframe>"),
        8 => format!("See [the reference][r].\n\n[r]: <{u}>"),
        9 => format!("<{u}>"),
        10 => format!("<a href='{u}'>single quotes</a> <img src={}>", u.replace(' ', "%20")),
        11 => format!("<picture><source srcset=\"{u}\"><img src=\"{u}\"></picture>"),
        12 => format!("<a href=\"{u}\" style=\"background: url({u})\">styled</a>"),
        13 => format!("<form action=\"{u}\"><input formaction=\"{u}\"><button formaction=\"{u}\">Go</button></form>"),
        _ => format!("<map name=\"m\"><area href=\"{u}\" alt=\"a\"></map><img usemap=\"#m\" src=\"{u}\">"),
    })
}

/// A post of October 2026: an author and an image in the front matter, each
/// with its own reference, and link pieces before and after the marker.
#[derive(Debug, Clone)]
struct LinkedPost {
    author: String,
    author_url: String,
    avatar: String,
    image: String,
    before: Vec<String>,
    after: Vec<String>,
}

fn linked_post() -> impl Strategy<Value = LinkedPost> {
    (
        author_name(),
        reference(),
        reference(),
        reference(),
        proptest::collection::vec(link_piece(), 1..4),
        proptest::collection::vec(link_piece(), 0..3),
    )
        .prop_map(|(author, author_url, avatar, image, before, after)| LinkedPost {
            author,
            author_url,
            avatar,
            image,
            before,
            after,
        })
}

/// YAML single-quoted scalar.
fn yaml(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl LinkedPost {
    fn file(&self, index: usize) -> String {
        format!(
            "---\ntitle: Post {index}\ndate: 2026-10-0{day}\nimage: {image}\nauthors:\n  - name: {name}\n    url: {url}\n    image_url: {avatar}\n---\n{before}\n\n<!--truncate-->\n\n{after}\n",
            day = index + 1,
            image = yaml(&self.image),
            name = yaml(&self.author),
            url = yaml(&self.author_url),
            avatar = yaml(&self.avatar),
            before = self.before.join("\n\n"),
            after = self.after.join("\n\n"),
        )
    }
}

/// `name="value"` attribute values in XML text, entity references decoded.
fn xml_attributes(xml: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    xml.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &xml[at + needle.len()..];
            xml_unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
        })
        .collect()
}

/// The text of every `<name>…</name>` element in XML text.
fn xml_elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.match_indices(&open)
        .filter_map(|(at, _)| {
            let rest = &xml[at + open.len()..];
            rest.find(&close).map(|end| xml_unescape(&rest[..end]))
        })
        .collect()
}

fn xml_unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

/// Every URL-valued member of a JSON Feed, and every `content_html`.
fn json_urls(value: &serde_json::Value, urls: &mut Vec<(String, String)>, html: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            for (key, member) in members {
                match (key.as_str(), member) {
                    ("content_html", serde_json::Value::String(text)) => html.push(text.clone()),
                    (
                        "url" | "external_url" | "image" | "banner_image" | "avatar" | "icon" | "favicon"
                        | "home_page_url" | "feed_url" | "next_url",
                        serde_json::Value::String(text),
                    ) => urls.push((format!("json {key}"), text.clone())),
                    _ => json_urls(member, urls, html),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| json_urls(item, urls, html)),
        _ => {}
    }
}

/// Checks every URL in one feed file: its HTML bodies through feed-rs and
/// scraper, its link-valued fields from the file's own text.
fn check_feed_file(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let feed = feed_rs::parser::parse(text.as_bytes()).map_err(|e| format!("{name}: feed-rs: {e}"))?;
    let mut urls: Vec<(String, String)> = Vec::new();
    let mut html: Vec<String> = feed.entries.iter().flat_map(entry_html).collect();
    if name.ends_with(".json") {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        json_urls(&value, &mut urls, &mut html);
    } else {
        for attribute in ["href", "url", "src"] {
            urls.extend(xml_attributes(&text, attribute).into_iter().map(|u| (format!("xml @{attribute}"), u)));
        }
        for element in ["link", "uri", "icon", "logo", "comments"] {
            urls.extend(xml_elements(&text, element).into_iter().map(|u| (format!("xml <{element}>"), u)));
        }
    }
    for (place, url) in urls {
        if !is_absolute(&url) {
            return Err(format!("{name}: {place} holds `{url}`, which is not absolute"));
        }
    }
    for html in html {
        check_html_urls(&html).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

/// Checks every URL in one digest message: the HTML part, the links the
/// text part lists, and the List-Unsubscribe header.
fn check_message(path: &Path) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let message = MessageParser::default().parse(&bytes).ok_or("mail-parser cannot read the message")?;
    let html = message.body_html(0).ok_or("no HTML part")?;
    check_html_urls(&html)?;
    let text = message.body_text(0).ok_or("no text part")?;
    for line in text.lines() {
        let listed = line
            .strip_prefix('[')
            .and_then(|l| l.split_once("] "))
            .filter(|(number, _)| number.bytes().all(|b| b.is_ascii_digit()))
            .map(|(_, url)| url);
        if let Some(url) = listed.or_else(|| line.strip_prefix("Read more: "))
            && !is_absolute(url)
        {
            return Err(format!("the text part lists `{url}`, which is not absolute:\n{text}"));
        }
    }
    let unsubscribe = message.header_raw("List-Unsubscribe").ok_or("no List-Unsubscribe")?;
    for url in unsubscribe.split(',').map(|u| u.trim().trim_start_matches('<').trim_end_matches('>')) {
        if !is_absolute(url) {
            return Err(format!("List-Unsubscribe holds `{url}`"));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(32)))]

    /// `build` and `digest preview` on a real site folder per case.
    #[test]
    fn every_url_in_feeds_and_email_is_absolute(posts in proptest::collection::vec(linked_post(), 1..4)) {
        let site = TempSite::new();
        std::fs::write(site.path().join("subscribers.csv"), "email,name\nada@example.org,Ada\n").unwrap();
        for (index, post) in posts.iter().enumerate() {
            site.post(&format!("2026-10-0{}-p{index}.md", index + 1), post.file(index));
        }
        let build = run(site.path(), &["build"]);
        prop_assert_eq!(build.status.code(), Some(0), "{}", stderr(&build));
        for file in ["feed.xml", "atom.xml", "feed.json"] {
            check_feed_file(&site.path().join("public").join(file)).map_err(TestCaseError::fail)?;
        }
        let preview = run(site.path(), &["digest", "preview", "--month", "2026-10"]);
        prop_assert_eq!(preview.status.code(), Some(0), "{}", stderr(&preview));
        let message = site.path().join("preview/2026-10/messages/00001-ada@example.org.eml");
        check_message(&message).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------
// Headers: for arbitrary subscriber names and addresses, each message carries
// exactly the headers newsroom sets, each once, and the name survives.

/// The headers of a digest message (the example site sets a Reply-To).
const DIGEST_HEADERS: [&str; 11] = [
    "content-type",
    "date",
    "from",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "message-id",
    "mime-version",
    "reply-to",
    "subject",
    "to",
];

/// Names as subscriber lists hold them: any characters, line breaks and
/// header text trying to start a new header, quotes, commas, angle
/// brackets, encoded-word look-alikes, other scripts, very long runs.
fn subscriber_name() -> impl Strategy<Value = String> {
    let chunk = prop_oneof![
        3 => "[a-zA-Z]{1,10}",
        2 => proptest::collection::vec(any::<char>(), 1..6).prop_map(String::from_iter),
        1 => proptest::sample::select(vec![
            "\r\n", "\n", "\r", "\t", "\u{0}", "\u{7f}", "\u{85}", "\u{2028}", "\u{202e}", "\u{feff}", " ", "   ",
            "\r\nBcc: victim@example.com", "\nSubject: pwned", "Bcc: victim@example.com", "\r\n\r\n<html>",
            "\"", "\"\"", ",", ";", "<", ">", "@", "\\", "(", ")", ":", "'", "=?utf-8?q?x?=", "=?", "?=",
            "=?UTF-8?B?QmNjOiB4?=", "Zoë", "漢字", "👩‍👩‍👧", "مرحبا", "O'Brien, Jr.", "<x@y.z>",
        ])
        .prop_map(str::to_string),
        1 => "x{80,300}",
    ];
    proptest::collection::vec(chunk, 0..6).prop_map(|chunks| chunks.concat())
}

/// Valid addresses, with every character a dot-atom local part may hold and
/// a domain in any case; `index` keeps them distinct.
fn subscriber_address(index: usize) -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,12}",
        proptest::option::of("[a-z0-9_-]{1,6}"),
        "[a-zA-Z0-9]{1,8}(-[a-z0-9]{1,4})?",
        proptest::sample::select(vec!["org", "example", "co.uk", "ORG"]),
    )
        .prop_map(move |(local, sub, domain, tld)| match sub {
            Some(sub) => format!("{local}.{sub}{index}@{domain}.{tld}"),
            None => format!("{local}{index}@{domain}.{tld}"),
        })
}

fn subscribers() -> impl Strategy<Value = Vec<(String, String)>> {
    (1..6usize).prop_flat_map(|count| {
        (0..count).map(|index| (subscriber_address(index), subscriber_name())).collect::<Vec<_>>()
    })
}

/// The name as the subscriber list documents it: control characters and
/// whitespace runs become one space, trimmed; nothing left is no name;
/// at most 200 characters (the rest cut, and the cut trimmed).
fn expected_name(raw: &str) -> Option<String> {
    let words: Vec<&str> = raw.split(|c: char| c.is_whitespace() || c.is_control()).filter(|w| !w.is_empty()).collect();
    let joined = words.join(" ");
    let capped: String = joined.chars().take(200).collect();
    let capped = capped.trim_end();
    (!capped.is_empty()).then(|| capped.to_string())
}

/// The address as the subscriber list normalises it: the domain lower-cased.
fn expected_address(raw: &str) -> String {
    let (local, domain) = raw.rsplit_once('@').unwrap();
    format!("{local}@{}", domain.to_ascii_lowercase())
}

/// Checks one message against the subscriber it was made for.
fn check_headers(bytes: &[u8], address: &str, name: Option<&str>) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    if text.replace("\r\n", "").contains(['\r', '\n']) {
        return Err("a bare CR or LF".into());
    }
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    if !head.is_ascii() {
        return Err(format!("the header section is not ASCII:\n{head}"));
    }
    if let Some(line) = text.split("\r\n").find(|line| line.len() > 998) {
        return Err(format!("a line of {} bytes (RFC 5322 allows 998)", line.len()));
    }
    let message = MessageParser::default().parse(bytes).ok_or("mail-parser cannot read the message")?;
    let mut names: Vec<String> = message.headers().iter().map(|h| h.name().to_ascii_lowercase()).collect();
    names.sort();
    if names != DIGEST_HEADERS {
        return Err(format!("headers {names:?}, expected {DIGEST_HEADERS:?}:\n{head}"));
    }
    let to = message.to().ok_or("no To")?;
    let recipients: Vec<_> = to.iter().collect();
    if recipients.len() != 1 {
        return Err(format!("{} recipients in To:\n{head}", recipients.len()));
    }
    if recipients[0].address() != Some(address) {
        return Err(format!("To address {:?}, expected {address:?}:\n{head}", recipients[0].address()));
    }
    if recipients[0].name() != name {
        return Err(format!("To name {:?}, expected {name:?}:\n{head}", recipients[0].name()));
    }
    let from = message.from().and_then(|f| f.first()).and_then(|f| f.address());
    let reply_to = message.reply_to().and_then(|f| f.first()).and_then(|f| f.address());
    let subject = message.subject();
    if from != Some("news@lantern.example.org")
        || reply_to != Some("community@lantern.example.org")
        || subject != Some("Lantern Community Blog digest: October 2026")
    {
        return Err(format!("From {from:?}, Reply-To {reply_to:?}, Subject {subject:?}:\n{head}"));
    }
    let unsubscribe = message.header_raw("List-Unsubscribe").ok_or("no List-Unsubscribe")?.replace("\r\n ", " ");
    let url = unsubscribe.trim().trim_start_matches('<').split('>').next().unwrap_or_default();
    let url = url::Url::parse(url).map_err(|e| format!("List-Unsubscribe `{url}`: {e}"))?;
    // An opaque token (the subscriber's id and a MAC): the address is not in it.
    let token = url.path().strip_prefix("/newsletter/unsubscribe/").ok_or(format!("unsubscribe URL {url}"))?;
    if newsroom::token::verify(crate::support::SECRET.as_bytes(), "news.lantern.example.org", token).is_none() {
        return Err(format!("the unsubscribe token {token} does not verify"));
    }
    let local = address.split('@').next().unwrap_or_default();
    if url.as_str().contains(&format!("{local}@")) || url.as_str().contains(&format!("{local}%40")) {
        return Err(format!("the unsubscribe URL {url} carries the address {address}"));
    }
    let greeting = match name {
        Some(name) => format!("Hi {name},"),
        None => "Hello,".to_string(),
    };
    let body = message.body_text(0).ok_or("no text part")?;
    if !body.contains(&greeting) {
        return Err(format!("the text part does not greet with {greeting:?}"));
    }
    let html = message.body_html(0).ok_or("no HTML part")?;
    let shown: String = scraper::Html::parse_document(&html).root_element().text().collect();
    if !shown.contains(&greeting) {
        return Err(format!("the HTML part does not greet with {greeting:?}"));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(24)))]

    /// `digest preview` on the example site with a generated subscriber list.
    #[test]
    fn each_message_carries_exactly_the_headers_newsroom_sets(list in subscribers()) {
        let site = copy_example_site();
        let mut csv = csv::Writer::from_path(site.path().join("subscribers.example.csv")).unwrap();
        csv.write_record(["email", "name", "status"]).unwrap();
        for (address, name) in &list {
            csv.write_record([address.as_str(), name.as_str(), "subscribed"]).unwrap();
        }
        csv.flush().unwrap();
        drop(csv);
        let output = newsroom(site.path()).env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET).args(["digest", "preview"]).output().unwrap();
        prop_assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let dir = site.path().join("preview/2026-10/messages");
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        prop_assert_eq!(files.len(), list.len());
        let mut ids = BTreeSet::new();
        for (path, (address, name)) in files.iter().zip(&list) {
            let bytes = std::fs::read(path).unwrap();
            let address = expected_address(address);
            check_headers(&bytes, &address, expected_name(name).as_deref())
                .map_err(|e| TestCaseError::fail(format!("{}: {e}", path.display())))?;
            let message = MessageParser::default().parse(&bytes).unwrap();
            prop_assert!(ids.insert(message.message_id().unwrap().to_string()), "Message-IDs repeat");
        }
    }
}

// ---------------------------------------------------------------------------
// Excerpts and posts without raw HTML skip the sanitiser (ammonia) when
// pulldown-cmark's HTML is already what it keeps. Whichever way a post
// went, sanitising its HTML again must change nothing in the tree html5ever
// (scraper) builds from it.

/// The tree html5ever builds from `html`, serialised.
fn html_tree(html: &str) -> String {
    scraper::Html::parse_fragment(html).root_element().html()
}

fn sanitiser_changes(html: &str) -> Option<String> {
    let (before, after) = (html_tree(html), html_tree(&newsroom::markdown::html::sanitise(html)));
    (before != after).then(|| format!("sanitising changed\n{before}\ninto\n{after}"))
}

/// Markdown blocks of every kind pulldown-cmark writes, with every kind of
/// reference in their links and images.
fn markdown_block() -> impl Strategy<Value = String> {
    (0..18usize, reference(), text()).prop_map(|(kind, u, t)| match kind {
        0 => format!("# {t}"),
        // Docusaurus's explicit ids (escaped by pulldown-cmark), and attributes the sanitiser removes.
        16 => format!("## {t} {{#custom-id}}\n\n## {t} {{#a&b\"c<d}}"),
        17 => format!("### {t} {{.note data-x=1}}"),
        1 => format!("Some *{t}* and **{t}** and ~~{t}~~ and `{t}`\\\nafter a break"),
        2 => format!("```rust\n{t}\n```"),
        3 => format!("    {t}"),
        4 => format!("> {t}\n>\n> - [{t}](<{u}>)"),
        5 => format!("3. {t}\n4. ![{t}](<{u}> \"{t}\")"),
        6 => format!("- [ ] {t}\n- [x] done"),
        7 => format!("| a | b |\n|---|---|\n| {t} | [x](<{u}>) |"),
        8 => format!("| a | b |\n|:--|--:|\n| {t} | c |"),
        9 => format!("<{u}>"),
        10 => format!("Mail <ada@example.org> about {t}."),
        11 => format!("[{t}][r] and ![i][r]\n\n[r]: <{u}> '{t}'"),
        12 => format!("Footnote[^1].\n\n[^1]: {t}"),
        13 => "---".to_string(),
        14 => format!("A <span title=\"{t}\">raw</span> [l](<{u}>)"),
        _ => format!("Text {t} with [a link](<{u}>)"),
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(128)))]

    #[test]
    fn published_html_is_what_the_sanitiser_keeps(
        blocks in proptest::collection::vec(markdown_block(), 1..6),
        marker_at in 0..6usize,
    ) {
        let mut blocks = blocks;
        let at = marker_at.min(blocks.len());
        blocks.insert(at, "<!--truncate-->".to_string());
        let (post, body) = post(0, "T".into(), "A".into(), blocks.join("\n\n"));
        let links = Default::default();
        let rendered = render_post(&post, &body, &link_context(&post, &links), Parts::FULL);
        for html in [&rendered.excerpt_html, rendered.content_html.as_ref().unwrap()] {
            if let Some(change) = sanitiser_changes(html) {
                return Err(TestCaseError::fail(format!("{change}\nfrom:\n{}", body.text)));
            }
        }
    }
}

/// Calls `check` with every post of the real blogs in ../shared/corpus (its
/// site and the site's links between posts), and requires more than 280.
/// False, with nothing called, where the corpus is not beside the repository.
fn for_each_corpus_post(
    mut check: impl FnMut(&newsroom::site::Site, &Post, &std::collections::HashMap<String, String>),
) -> bool {
    let Some(corpus) = crate::support::corpus() else {
        return false;
    };
    let mut checked = 0;
    for blog in ["babel", "backstage", "jest", "prettier", "react-native"] {
        let site_dir = tempfile::tempdir().unwrap();
        let config = format!(
            "site:\n  title: {blog}\n  url: https://{blog}.example.org\nposts: {}\n",
            corpus.join(blog).canonicalize().unwrap().display()
        );
        std::fs::write(site_dir.path().join("newsroom.yaml"), config).unwrap();
        let site = newsroom::site::Site::open(site_dir.path()).unwrap();
        let loaded = newsroom::content::load(&site).unwrap();
        let links = newsroom::render::post_links(&site, &loaded.posts);
        for post in &loaded.posts {
            check(&site, post, &links);
            checked += 1;
        }
    }
    assert!(checked > 280, "only {checked} corpus posts rendered");
    true
}

/// Every post of the real blogs in ../shared/corpus, whole and excerpt.
#[test]
fn published_html_of_the_corpus_is_what_the_sanitiser_keeps() {
    for_each_corpus_post(|site, post, links| {
        let rendered = newsroom::render::render_body(site, post, &Body::read(post).unwrap(), links, Parts::FULL);
        for html in [&rendered.excerpt_html, rendered.content_html.as_ref().unwrap()] {
            if let Some(change) = sanitiser_changes(html) {
                panic!("{}: {change}", post.source.display());
            }
        }
    });
}

/// Issue 14: links to a heading of the post (`#faster-metro-resolution`)
/// stayed relative, pointing nowhere in a feed reader. Every fragment link
/// of the corpus now points into its post's page, and there at a heading
/// id of the post: the ids are Docusaurus's (github-slugger's slugs, or the
/// `{#id}` written), checked on the links the blogs' authors wrote for
/// their own pages. The few that miss are listed: anchors that a
/// component makes on the blog's page (`<Link id="new-features"/>`, found
/// there by the link, which leads to that page), and ones that miss on the
/// blog too (a heading renamed since, Jekyll-era `#stage-0:-…` anchors).
#[test]
fn fragment_links_of_the_corpus_point_at_headings_of_their_post() {
    let (mut found, mut missed) = (0, Vec::new());
    let ran = for_each_corpus_post(|site, post, links| {
        let rendered = newsroom::render::render_body(site, post, &Body::read(post).unwrap(), links, Parts::FULL);
        let html = rendered.content_html.unwrap();
        let document = scraper::Html::parse_fragment(&html);
        let ids: BTreeSet<&str> =
            document.select(&scraper::Selector::parse("[id]").unwrap()).filter_map(|e| e.value().id()).collect();
        let page = format!("{}#", post.permalink);
        for link in document.select(&scraper::Selector::parse("a[href]").unwrap()) {
            let href = link.value().attr("href").unwrap();
            assert!(!href.starts_with('#'), "{}: {href}", post.source.display());
            // Footnotes are found by their ids on the blog's page, which a feed does not show.
            let Some(fragment) = href.strip_prefix(&page).filter(|f| !f.starts_with("user-content-fn-")) else {
                continue;
            };
            let fragment = percent_encoding::percent_decode_str(fragment).decode_utf8().unwrap();
            if ids.contains(fragment.as_ref()) {
                found += 1;
            } else {
                let name = post.source.file_name().unwrap().to_string_lossy();
                missed.push(format!("{name}#{fragment}"));
            }
        }
    });
    if !ran {
        return;
    }
    let expected = [
        "2015-03-31-5.0.0.md#breaking-changes",
        "2015-03-31-5.0.0.md#new-features",
        "2015-03-31-5.0.0.md#stage-0:-class-properties",
        "2015-03-31-5.0.0.md#stage-1:-decorators",
        "2015-03-31-5.0.0.md#stage-1:-export-extensions",
        "2015-03-31-5.0.0.md#breaking-changes",
        "2022-03-30-version-068.mdx#interested-in-helping-react-native-stabilize-new-releases",
    ];
    assert_eq!(missed, expected);
    // 161 on 2026-12-04, most in the tables of contents of react-native's release posts.
    assert!(found >= 150, "only {found} links found their heading");
}

// ---------------------------------------------------------------------------
// Local files referenced below the marker are published with the post, and
// unknown components below it are warned about. A build of excerpts only
// looks at the text below the marker (and skips even that where nothing in
// it can reference a file or hold HTML); rendering the whole post, as
// `feeds.content: full` does, must find the same files and warnings.

/// The files a rendering references (links to other posts aside, which
/// become permalinks) and its warnings.
fn files_and_warnings(rendered: &newsroom::markdown::RenderedPost) -> (BTreeSet<String>, Vec<String>) {
    let files = rendered.local_refs.iter().filter(|r| !newsroom::markdown::is_post_file(r)).cloned().collect();
    (files, rendered.diagnostics.iter().map(ToString::to_string).collect())
}

/// Text below a marker that only looks like a reference, hides one, or
/// uses a definition made above the marker; without `<` unless it says so,
/// so that posts made of these alone are ones whose text below the marker
/// the excerpt build may skip.
fn below_marker_piece() -> impl Strategy<Value = String> {
    (0..10usize, reference(), words()).prop_map(|(kind, u, t)| match kind {
        0 => format!("[{t}]({u})"),
        1 => format!("![{t}](\n{u})"),
        2 => format!("`[{t}]({u})` in code"),
        3 => format!("```\n![{t}]({u})\n```"),
        4 => format!("[{t}][above] and ![i][above]"),
        5 => "[above]".to_string(),
        6 => format!("A <Tabs>{t}</Tabs>"),
        7 => format!("[{t}](https://abs.example.org/x) and [f](#frag) and [r](/root) and [q](?q)"),
        8 => format!("\\[{t}\\]({u})"),
        _ => format!("[{t}]( {u} \"title\")"),
    })
}

fn marked_post_with_references() -> impl Strategy<Value = String> {
    let above = proptest::collection::vec(prop_oneof![markdown_block(), link_piece()], 0..3);
    let below = prop_oneof![
        proptest::collection::vec(below_marker_piece(), 0..4),
        proptest::collection::vec(prop_oneof![markdown_block(), link_piece(), below_marker_piece()], 0..5),
    ];
    (above, below, reference(), 0..3usize, 0..4usize).prop_map(|(above, below, u, definition, marker)| {
        let mut blocks = above;
        // The definition `[above]` uses: above the marker, below it, or none.
        if definition == 0 {
            blocks.push(format!("[above]: <{u}>"));
        }
        // Most posts have a marker; without one, the whole body is below the excerpt.
        if marker > 0 {
            blocks.push("<!--truncate-->".to_string());
        }
        blocks.extend(below);
        if definition == 1 {
            blocks.push(format!("[above]: {u}"));
        }
        blocks.join("\n\n")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases(256)))]

    #[test]
    fn files_below_the_marker_are_found_without_rendering_them(markdown in marked_post_with_references()) {
        let (post, body) = post(0, "T".into(), "A".into(), markdown);
        let links = Default::default();
        let excerpt = render_post(&post, &body, &link_context(&post, &links), Parts::EXCERPT);
        let whole = render_post(&post, &body, &link_context(&post, &links), Parts::FULL);
        prop_assert_eq!(files_and_warnings(&excerpt), files_and_warnings(&whole), "from:\n{}", body.text);
    }
}

/// The same for every post of the real blogs in ../shared/corpus.
#[test]
fn files_below_the_marker_of_the_corpus_are_found_without_rendering_them() {
    for_each_corpus_post(|site, post, links| {
        let body = Body::read(post).unwrap();
        let base_url = newsroom::render::post_base_url(site, post);
        let context =
            LinkContext { base_url: &base_url, permalink: &post.permalink, folder: &post.folder, post_links: links };
        let excerpt = render_post(post, &body, &context, Parts::EXCERPT);
        let whole = render_post(post, &body, &context, Parts::FULL);
        assert_eq!(files_and_warnings(&excerpt), files_and_warnings(&whole), "{}", post.source.display());
    });
}
