//! Issue 19, message hygiene: what spam filters and mail clients read in a
//! digest beyond its words. Digest messages of the example site and of
//! every month of the corpus blogs, read back with mail-parser (the
//! message) and scraper (its HTML part).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use mail_parser::MessageParser;

use crate::support::*;

/// One digest message: where it comes from, its text part and its HTML part.
struct Sample {
    label: String,
    text: String,
    html: String,
}

/// The first subscriber's message of each month of the example site with
/// posts and, when the corpus is there, of every month of every corpus
/// blog; made once for all the tests here.
fn samples() -> &'static [Sample] {
    static SAMPLES: OnceLock<Vec<Sample>> = OnceLock::new();
    SAMPLES.get_or_init(|| {
        let mut samples = Vec::new();
        let example = copy_example_site();
        for month in ["2026-08", "2026-09", "2026-10"] {
            samples
                .push(first_message(example.path(), "example", month).expect("the example site's months have posts"));
        }
        if let Some(corpus) = corpus() {
            for blog in ["babel", "backstage", "jest", "prettier", "react-native"] {
                let site = corpus_site(&corpus.join(blog), blog);
                // A month whose posts are all drafts or unlisted has no digest.
                samples.extend(
                    months(&corpus.join(blog)).iter().filter_map(|month| first_message(site.path(), blog, month)),
                );
            }
        }
        samples
    })
}

/// A site whose posts are the corpus blog `posts`, with one subscriber.
fn corpus_site(posts: &Path, blog: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "site:\n  title: {blog} blog\n  url: https://{blog}.example.org\n  author: {{ name: The {blog} team }}\n\
         posts: {}\n",
        posts.display()
    );
    std::fs::write(dir.path().join("newsroom.yaml"), config).unwrap();
    std::fs::write(dir.path().join("subscribers.csv"), "email,name\nada@example.org,Ada Reader\n").unwrap();
    dir
}

/// The `YYYY-MM` of the posts in `folder`, from their file names.
fn months(folder: &Path) -> BTreeSet<String> {
    std::fs::read_dir(folder)
        .unwrap()
        .filter_map(|entry| {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            let month = name.get(..7)?;
            (month.as_bytes()[4] == b'-' && month.bytes().filter(u8::is_ascii_digit).count() == 6)
                .then(|| month.to_string())
        })
        .collect()
}

/// The first message `digest preview` writes for `month`, read back;
/// `None` when the month has no digest.
fn first_message(site: &Path, name: &str, month: &str) -> Option<Sample> {
    let out = tempfile::tempdir().unwrap();
    let mut command = newsroom(site);
    command.env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET).args(["digest", "preview", "--month", month]);
    let output = command.arg("--out").arg(out.path()).output().unwrap();
    // Exit 1: some posts of the blog have errors (babel, jest); the digest is still written.
    assert!(matches!(output.status.code(), Some(0 | 1)), "{name} {month}: {}", stderr(&output));
    let label = format!("{name} {month}");
    let messages = out.path().join(month).join("messages");
    let first = std::fs::read_dir(&messages).ok()?.map(|e| e.unwrap().path()).min()?;
    let bytes = std::fs::read(&first).unwrap();
    let message = MessageParser::default().parse(&bytes).unwrap_or_else(|| panic!("{label}: does not parse"));
    let text = message.body_text(0).unwrap_or_else(|| panic!("{label}: no text part")).into_owned();
    let html = message.body_html(0).unwrap_or_else(|| panic!("{label}: no HTML part")).into_owned();
    Some(Sample { label, text, html })
}

/// The http(s) URLs written in `text`: each runs to the next white space,
/// `<`, `>` or `"` (so one quoted inside another, as in a web archive's
/// address, is part of it).
fn urls_in(text: &str) -> Vec<String> {
    let mut urls = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("http") {
        rest = &rest[at..];
        let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"')).unwrap_or(rest.len());
        if rest.starts_with("http://") || rest.starts_with("https://") {
            urls.push(rest[..end].to_string());
            rest = &rest[end..];
        } else {
            rest = &rest[4..];
        }
    }
    urls
}

/// Every address the HTML part lets its reader open: link targets, the
/// pictures that are not behind a link (the avatars aside: they decorate
/// the author's name beside them), and URLs written out in its text.
fn html_addresses(html: &str) -> BTreeSet<String> {
    let document = scraper::Html::parse_document(html);
    let select = |selector: &str| scraper::Selector::parse(selector).unwrap();
    let mut addresses: BTreeSet<String> = document
        .select(&select("a[href]"))
        .filter_map(|a| a.value().attr("href"))
        .filter(|href| href.starts_with("http://") || href.starts_with("https://"))
        .map(str::to_string)
        .collect();
    for image in document.select(&select("img[src]:not(.avatar)")) {
        let linked = image.ancestors().any(|node| node.value().as_element().is_some_and(|e| e.name() == "a"));
        let src = image.value().attr("src").unwrap();
        if !linked && (src.starts_with("http://") || src.starts_with("https://")) {
            addresses.insert(src.to_string());
        }
    }
    for body in document.select(&select("body")) {
        for text in body.text() {
            addresses.extend(urls_in(text));
        }
    }
    addresses
}

/// Issue 19: rspamd's URI_COUNT_ODD fired because the text part lacked
/// links the HTML part has (the authors' pages, the site). Each part
/// carries the other's addresses, no more and no fewer.
#[test]
fn the_text_part_carries_the_addresses_of_the_html_part() {
    let mut checked = 0;
    for sample in samples() {
        let in_html = html_addresses(&sample.html);
        let in_text: BTreeSet<String> = urls_in(&sample.text).into_iter().collect();
        let only_html: Vec<_> = in_html.difference(&in_text).collect();
        let only_text: Vec<_> = in_text.difference(&in_html).collect();
        assert!(
            only_html.is_empty() && only_text.is_empty(),
            "{}: only in the HTML part {only_html:?}, only in the text part {only_text:?}\n{}",
            sample.label,
            sample.text
        );
        // Not vacuous: every digest links its site, posts, web version and unsubscribe page.
        assert!(in_html.len() >= 4, "{}: {in_html:?}", sample.label);
        checked += 1;
    }
    // The example's three months, and with the corpus all but its few months without a digest.
    assert!(checked == 3 || checked > 200, "{checked} messages");
}

/// Issue 19: the example's authors' pages and the site, which the text
/// part lacked, are there, each whole on its line.
#[test]
fn authors_pages_and_the_site_are_in_the_text_part() {
    let october = samples().iter().find(|s| s.label == "example 2026-10").unwrap();
    for line in [
        "https://lantern.example.org/blog/",
        "Ada Fernández: https://github.com/ada-example",
        "Sam Guest: https://sam.example.com",
        "Priya Raman: https://github.com/priya-example",
    ] {
        assert!(october.text.lines().any(|l| l == line), "no line `{line}` in\n{}", october.text);
    }
}

/// Whether `line` is one word that cannot be broken (a URL), after its
/// quote marks, indent and `[n]` reference marker.
fn one_unbreakable_word(line: &str) -> bool {
    let rest = line.trim_start_matches(['>', ' ']);
    let rest = match rest.split_once("] ") {
        Some((marker, word)) if marker.starts_with('[') && marker[1..].bytes().all(|b| b.is_ascii_digit()) => word,
        _ => rest,
    };
    !rest.trim_end().contains(char::is_whitespace)
}

/// Issue 19: the text part's paragraphs were one line each, hundreds of
/// columns long. It is hard-wrapped at 72 columns (README: "Text part"),
/// so no line is longer than 78 but one that is a single URL.
#[test]
fn text_part_lines_fit_in_78_columns() {
    let mut wrapped = 0;
    for sample in samples() {
        for line in sample.text.lines() {
            let columns = line.chars().count();
            assert!(
                columns <= 78 || one_unbreakable_word(line),
                "{}: a line of {columns} columns:\n{line}",
                sample.label
            );
            wrapped += usize::from(columns > 60 && columns <= 72);
        }
    }
    // Not vacuous: long paragraphs were there to wrap.
    assert!(wrapped > 20, "{wrapped} wrapped lines");
}

/// Issue 19: Outlook ignores `max-width`, so a picture without a `width`
/// attribute overflowed the 600 px layout there. Every picture has one,
/// in pixels, no wider than the content column (536 px).
#[test]
fn every_picture_has_a_width_that_fits_the_column() {
    let mut pictures = 0;
    for sample in samples() {
        let document = scraper::Html::parse_document(&sample.html);
        for image in document.select(&scraper::Selector::parse("img").unwrap()) {
            let width = image.value().attr("width").and_then(|w| w.parse::<u32>().ok());
            assert!(width.is_some_and(|w| w > 0 && w <= 536), "{}: {}", sample.label, image.html());
            if let Some(height) = image.value().attr("height") {
                assert!(height.parse::<u32>().is_ok_and(|h| h > 0), "{}: {}", sample.label, image.html());
            }
            pictures += 1;
        }
    }
    assert!(pictures >= 5, "{pictures} pictures");
}

/// Issue 19: a dark scheme for the clients that follow
/// `prefers-color-scheme`, declared to them, in a `<style>` element (an
/// `@media` rule cannot be inlined), after `<meta charset>`.
#[test]
fn messages_declare_and_carry_a_dark_scheme() {
    for sample in samples().iter().filter(|s| s.label.starts_with("example")) {
        let document = scraper::Html::parse_document(&sample.html);
        let meta = |name: &str| {
            let selector = scraper::Selector::parse(&format!("meta[name={name}]")).unwrap();
            document.select(&selector).next().and_then(|m| m.value().attr("content")).map(str::to_string)
        };
        assert_eq!(meta("color-scheme").as_deref(), Some("light dark"), "{}", sample.label);
        assert_eq!(meta("supported-color-schemes").as_deref(), Some("light dark"), "{}", sample.label);
        let style: String =
            document.select(&scraper::Selector::parse("head style").unwrap()).flat_map(|s| s.text()).collect();
        assert!(style.contains("@media (prefers-color-scheme: dark)"), "{}: {style}", sample.label);
        assert!(style.contains("color-scheme: light dark"), "{}", sample.label);
        let charset = sample.html.find("<meta charset=\"utf-8\">").expect("a charset");
        assert!(charset < sample.html.find("<style").unwrap() && charset < 1024, "{}", sample.label);
    }
}

/// Issue 27, point 9: a sign-up with a 15,000-character name gave a
/// 15,006-octet `To:` line; the relay answered `500 Line too long`, and that
/// subscriber failed on every send. Names are now capped at 200 characters
/// where they come in, and every header newsroom writes is folded: each
/// line of every previewed message's head (DKIM signatures included) is at
/// most 998 octets, and one over 78 is a single word that cannot be folded.
#[test]
fn every_header_line_fits_rfc_5322_whatever_the_names() {
    let site = copy_example_site();
    for key in ["rsa2048.pem", "ed25519.pem"] {
        std::fs::copy(repo_root().join("tests/fixtures/dkim").join(key), site.path().join(key)).unwrap();
    }
    edit_config(
        site.path(),
        &[(
            "delivery:\n",
            "delivery:\n  return_path: \"bounces+{token}@lantern.example.org\"\n  dkim:\n    - { domain: lantern.example.org, selector: rsa, key: rsa2048.pem }\n    - { domain: lantern.example.org, selector: ed, key: ed25519.pem }\n",
        )],
    );
    let words = "Ada Augusta King Countess of Lovelace ".repeat(5);
    let unbroken = "A".repeat(200);
    let accented = "Zoë Ångström Øresund ".repeat(10);
    let giant = "x".repeat(15_000);
    let csv = format!(
        "email,name,status\nwords@example.org,{words}\nunbroken@example.org,{unbroken}\naccented@example.org,{accented}\n\
         quotes@example.org,\"Jane \"\"Q\"\" \\\\ Public, Esq.\"\ngiant@example.org,{giant}\nplain@example.org,Plain\n"
    );
    std::fs::write(site.path().join("subscribers.example.csv"), csv).unwrap();
    let output = newsroom(site.path())
        .env("NEWSROOM_UNSUBSCRIBE_SECRET", SECRET)
        .args(["digest", "preview", "--month", "2026-10", "--out", "p"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(
            "subscribers.example.csv:6:1: warning: the name is 15000 characters long; only its first 200 are kept"
        ),
        "{}",
        stderr(&output)
    );
    let dir = site.path().join("p/2026-10/messages");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").expect("a head and a body");
        for line in bytes[..head_end].split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let text = String::from_utf8_lossy(line);
            assert!(line.len() <= 998, "{}: a {}-octet header line: {text:.120}", path.display(), line.len());
            if line.len() > 78 {
                // What is left after the header's name: one word, or it could have been folded.
                let value = match text.split_once(':') {
                    Some((name, value)) if !name.starts_with([' ', '\t']) => value.trim_start(),
                    _ => text.trim_start(),
                };
                assert!(
                    !value.contains([' ', '\t']),
                    "{}: an unfolded {}-octet line: {text}",
                    path.display(),
                    line.len()
                );
            }
        }
        let message = MessageParser::default().parse(&bytes).expect("parses");
        let to = message.to().and_then(|to| to.first()).expect("a To");
        let name = to.name().unwrap_or_default();
        assert!(name.chars().count() <= 200, "{}: a {}-character name", path.display(), name.chars().count());
        if to.address().unwrap_or_default() == "words@example.org" {
            assert_eq!(name, words.trim_end(), "the name survives folding");
        }
        checked += 1;
    }
    assert_eq!(checked, 6);
    // The command line and the sign-up form refuse such a name, saying so.
    let add =
        newsroom(site.path()).args(["subscribers", "add", "long@example.org", "--name", &giant]).output().unwrap();
    assert_eq!(add.status.code(), Some(2));
    assert!(stderr(&add).contains("--name is 15000 characters long; a name may have at most 200"), "{}", stderr(&add));
}
