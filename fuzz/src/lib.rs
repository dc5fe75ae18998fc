//! The fuzz targets' shared harness: a fixed site (the example site's
//! configuration, authors and digest template), the pipeline from a post's
//! bytes to its feeds and digest email, and the invariants every output must
//! hold whatever the input.
//!
//! A target fails (and libFuzzer keeps the input) on a panic anywhere in the
//! pipeline, a hang past the per-input timeout, or a broken invariant. The
//! invariants are only the ones the code guarantees: the sanitiser's
//! allow-list (no scripts, frames, forms or event handlers; no `javascript:`
//! URLs), URLs made absolute, feeds that parse back, and a message for every
//! subscriber the CSV reader accepts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use lol_html::{RewriteStrSettings, element, rewrite_str};
use newsroom::config::{Config, FeedContent};
use newsroom::content::{self, AuthorMap, Body, Post};
use newsroom::diagnostics::Diagnostic;
use newsroom::email::message::{self, Sender};
use newsroom::email::template::{DEFAULT_DIGEST_MD, DEFAULT_EMAIL_CSS, DigestTemplate};
use newsroom::digest::{Digest, DigestInput, Edition, Month};
use newsroom::feed::{self, Entry, FeedSpec};
use newsroom::markdown::{self, LinkContext, RenderedPost};
use newsroom::subscriber::{Status, Subscriber};

/// The example site's configuration, as `newsroom build` reads it.
pub const EXAMPLE_CONFIG: &str = include_str!("../../newsroom.yaml");
const EXAMPLE_AUTHORS: &str = include_str!("../../posts/authors.yml");

/// The clock the harness runs at: after any date a post can have, so every
/// post that loads is listed.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").expect("a valid instant").with_timezone(&Utc)
}

pub static CONFIG: LazyLock<Config> =
    LazyLock::new(|| Config::parse(EXAMPLE_CONFIG, Path::new("newsroom.yaml")).expect("the example configuration"));

static AUTHORS: LazyLock<AuthorMap> = LazyLock::new(|| {
    let mut diagnostics = Vec::new();
    content::authors::parse_authors_file(EXAMPLE_AUTHORS, Path::new("posts/authors.yml"), &mut diagnostics)
});

pub static TEMPLATE: LazyLock<DigestTemplate> = LazyLock::new(|| {
    DigestTemplate::parse(DEFAULT_DIGEST_MD, Path::new("templates/digest.md"), DEFAULT_EMAIL_CSS.to_string())
        .expect("the built-in template")
});

/// Links between posts that rendering resolves (`./2026-08-03-welcome.md`).
static POST_LINKS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    HashMap::from([
        ("2026-08-03-welcome.md".to_string(), "https://lantern.example.org/blog/2026/08/03/welcome".to_string()),
        ("2026-10-05-fuzz/index.md".to_string(), "https://lantern.example.org/blog/2026/10/05/fuzz".to_string()),
    ])
});

/// Where a post file can sit: dated, in a dated folder, undated, with an
/// impossible date, with spaces. Targets pick one from the input's length, so
/// seed files keep their bytes and still reach every shape.
pub fn post_path(len: usize, extension: &str) -> PathBuf {
    let stems = ["2026-10-05-fuzz", "2026-10-05-fuzz/index", "undated", "2017-02-29-leap", "folder/2026-1-5-a b"];
    PathBuf::from(format!("posts/{}.{extension}", stems[len % stems.len()]))
}

/// Loads a post from file bytes as `load_posts` does, and its body as
/// `build` reads it again. `None` when it has an error.
pub fn load_post(bytes: &[u8], path: &Path) -> Option<(Post, Body)> {
    let mut diagnostics = Vec::new();
    let text = content::decode_text(bytes.to_vec(), path, &mut diagnostics)?;
    let post = content::parse_post(&text, path, path, Path::new("posts"), &CONFIG, &AUTHORS, &mut diagnostics)?;
    check_diagnostics(&diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return None;
    }
    assert!(!post.title.is_empty() && post.title.trim() == post.title, "{:?}", post.title);
    assert!(url::Url::parse(&post.permalink).is_ok(), "permalink {:?}", post.permalink);
    assert!(post.tags.iter().all(|t| !t.slug.is_empty() && !t.slug.starts_with('-')), "{:?}", post.tags);
    let body = Body::from_text(&post, &text).expect("the body of a post loads from the same text");
    Some((post, body))
}

/// A short post and its rendering, for targets that vary something else.
pub static SAMPLE: LazyLock<(Post, RenderedPost)> = LazyLock::new(|| {
    let text = "---\ntitle: Lantern 2.1 & friends\nauthors: [ada, kenji]\ntags: [release, sdk]\n---\n\
                Intro with [a link](./assets/notes.pdf) and ![a diagram](/img/d.png).\n\n<!--truncate-->\n\nThe rest.\n";
    let (post, body) =
        load_post(text.as_bytes(), Path::new("posts/2026-10-05-sample.md")).expect("the sample post loads");
    let rendered = render(&post, &body);
    (post, rendered)
});

/// Diagnostics point into the file: lines and columns start at 1.
pub fn check_diagnostics(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        assert!(diagnostic.line >= 1 && diagnostic.column >= 1, "{diagnostic:?}");
    }
}

/// Renders a post as `build` does (excerpt and whole post).
pub fn render(post: &Post, body: &Body) -> RenderedPost {
    let base_url = format!("{}{}", CONFIG.blog_url(), newsroom::urls::encode_path(&post.folder));
    let links =
        LinkContext { base_url: &base_url, permalink: &post.permalink, folder: &post.folder, post_links: &POST_LINKS };
    let rendered = markdown::render_post(post, body, &links, markdown::Parts::ALL);
    check_post_html("excerpt", &rendered.excerpt_html);
    check_post_html("content", rendered.content_html.as_deref().expect("asked for the whole post"));
    check_diagnostics(&rendered.diagnostics);
    rendered
}

/// Writes the post's feed set (whole post in each entry) and reads every
/// format back with an independent parser.
pub fn publish_feeds(config: &Config, post: &Post, rendered: &RenderedPost) {
    let entries = vec![Entry { post, rendered }];
    let mut spec =
        FeedSpec::new(config, config.site.title.clone(), config.blog_url(), config.blog_url(), entries, post.date);
    spec.content = FeedContent::Full;
    let files = feed::write_all(&spec).expect("a feed set serialises");
    for (format, text) in [("rss", &files.rss), ("atom", &files.atom), ("json", &files.json)] {
        let parsed = feed_rs::parser::parse(text.as_bytes())
            .unwrap_or_else(|error| panic!("the {format} feed does not parse back: {error}\n{text}"));
        assert_eq!(parsed.entries.len(), 1, "{format}: {text}");
        let title = parsed.entries[0].title.as_ref().map(|t| t.content.trim());
        assert_eq!(title, Some(post.title.as_str()), "{format}: {text}");
    }
}

/// A fixed subscriber with a name that needs escaping.
pub fn subscriber() -> Subscriber {
    Subscriber {
        id: Some(1),
        email: "ada.reader@example.org".into(),
        name: Some("Ada <b>&\" Reader".into()),
        status: Status::Subscribed,
        extra: Vec::new(),
        line: 2,
    }
}

/// The sender settings of `config`, as `digest preview` makes them.
pub fn sender(config: &Config) -> Sender {
    newsroom::email::sender(config, b"fuzz-secret".to_vec(), UNIX_EPOCH + Duration::from_secs(1_790_000_000))
}

/// Renders the digest of the post's month (when `digest preview --month` can
/// ask for it) and builds one subscriber's message.
pub fn email(config: &Config, template: &DigestTemplate, post: &Post, rendered: &RenderedPost) {
    let month = Month::of(post.date);
    if month.to_string().parse::<Month>().is_err() {
        return;
    }
    // As `digest preview` chooses: listed posts of the month (the one post, or none).
    let chosen = (post.is_listed(now())).then_some((post, rendered));
    let input = DigestInput { edition: Edition::monthly(month), posts: chosen.into_iter().collect() };
    let digest = Digest::render(config, template, &input).expect("the digest renders");
    check_digest(config, &digest);
}

/// The digest's pages hold what the sanitiser allows, and a message builds.
pub fn check_digest(config: &Config, digest: &Digest) {
    // `digest.html` still has slots where URLs go; its filled copy is checked below.
    check_page_html("digest archive", &digest.archive_html);
    let sender = sender(config);
    let message = message::build(digest, &sender, &subscriber().person()).expect("a message for a valid subscriber");
    check_page_html("message html", &message::personal_parts(digest, &sender, &subscriber().person()).0);
    check_head(&message.bytes(), &sender, &subscriber().email);
}

/// A message's headers are ASCII: names and subjects are RFC 2047 encoded,
/// and only an internationalised address (the sender's, the reply-to, the
/// unsubscribe mailbox or the subscriber's) is written as UTF-8 (RFC 6532).
pub fn check_head(bytes: &[u8], sender: &Sender, subscriber: &str) {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("headers end");
    let head = std::str::from_utf8(&bytes[..head_end]).expect("headers are UTF-8");
    let addresses = [Some(sender.from.email.to_string()), sender.reply_to.as_ref().map(|m| m.email.to_string())]
        .into_iter()
        .flatten()
        .chain(sender.unsubscribe_mailto.clone())
        .chain([subscriber.to_string()]);
    let mut rest = head.to_string();
    for address in addresses.filter(|a| !a.is_ascii()) {
        rest = rest.replace(&address, "");
    }
    assert!(rest.is_ascii(), "headers are ASCII outside internationalised addresses: {head}");
}

/// Elements no output may carry: the sanitiser's allow-list has none of them.
const FORBIDDEN_ELEMENTS: [&str; 9] =
    ["script", "iframe", "object", "embed", "form", "frame", "frameset", "applet", "base"];

/// Post HTML (feeds, digest excerpts): no forbidden element, no `style`, no
/// event handler, every link and image URL absolute (http, https, mailto, tel).
pub fn check_post_html(what: &str, html: &str) {
    scan(what, html, true);
}

/// A whole digest page: the post rules, except that the page has its own
/// head, and personal slots are filled per subscriber.
pub fn check_page_html(what: &str, html: &str) {
    scan(what, html, false);
}

fn scan(what: &str, html: &str, post: bool) {
    let problems = std::cell::RefCell::new(Vec::<String>::new());
    let result = rewrite_str(
        html,
        RewriteStrSettings::new().append_element_content_handler(element!("*", |el| {
            let tag = el.tag_name();
            if FORBIDDEN_ELEMENTS.contains(&tag.as_str()) || (post && matches!(tag.as_str(), "style" | "input")) {
                problems.borrow_mut().push(format!("<{tag}>"));
            }
            for attribute in el.attributes() {
                let (name, value) = (attribute.name(), decode_entities(&attribute.value()));
                if name.starts_with("on") || (post && name == "style") {
                    problems.borrow_mut().push(format!("<{tag} {name}>"));
                }
                if matches!(name.as_str(), "href" | "src" | "poster") && !acceptable_url(&value) {
                    problems.borrow_mut().push(format!("<{tag} {name}=\"{value}\">"));
                }
                if name == "srcset"
                    && value.split(',').any(|c| dangerous_scheme(c.split_whitespace().next().unwrap_or("")))
                {
                    problems.borrow_mut().push(format!("<{tag} srcset=\"{value}\">"));
                }
            }
            Ok(())
        })),
    );
    assert!(result.is_ok(), "{what}: lol_html cannot read the output: {result:?}\n{html}");
    let problems = problems.into_inner();
    assert!(problems.is_empty(), "{what}: {problems:?}\n{html}");
}

/// An attribute value as a browser reads it: lol_html gives it as written,
/// and the serialisers (maud, html5ever) escape only these.
fn decode_entities(value: &str) -> String {
    value
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// An absolute URL of a scheme the sanitiser allows. Not a fragment alone
/// (`#a-heading`), which points nowhere in a feed reader or an email.
fn acceptable_url(value: &str) -> bool {
    url::Url::parse(value.trim()).is_ok_and(|url| matches!(url.scheme(), "http" | "https" | "mailto" | "tel"))
}

fn dangerous_scheme(value: &str) -> bool {
    let lower = value.trim().to_ascii_lowercase();
    ["javascript:", "vbscript:", "data:text"].iter().any(|scheme| lower.starts_with(scheme))
}
