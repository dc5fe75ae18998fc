//! Posts of the real blogs in ../shared/corpus, each copied into a site of
//! its own: what their markup becomes in the feeds and the digest email,
//! read back with feed-rs, scraper and mail-parser.

use std::path::Path;

use mail_parser::MessageParser;

use crate::support::*;

/// A site holding the corpus posts `files` of `blog` (and its authors),
/// built with `feeds.content: full`; `None`, after the line saying so,
/// when the corpus is not beside the repository.
fn site_with(blog: &str, files: &[&str]) -> Option<TempSite> {
    let site = TempSite::new();
    let corpus = crate::support::corpus()?.join(blog);
    for file in files.iter().chain(["authors.yml"].iter()) {
        if corpus.join(file).is_file() {
            site.post(file, std::fs::read(corpus.join(file)).unwrap());
        }
    }
    let config = site.read("newsroom.yaml") + "feeds:\n  content: full\n  limit: 0\n";
    std::fs::write(site.path().join("newsroom.yaml"), config).unwrap();
    std::fs::write(site.path().join("subscribers.csv"), "email,name\nada@example.org,Ada\n").unwrap();
    Some(site)
}

/// The HTML of the feed entry whose id ends with `name`, in each feed:
/// its content (the whole post), and its summary where feed-rs reads it
/// as HTML (RSS `description`, Atom `summary`).
fn entry_html(public: &Path, name: &str) -> Vec<String> {
    let mut html = Vec::new();
    for file in ["feed.xml", "atom.xml", "feed.json"] {
        let feed = parse_feed(&public.join(file));
        let entry = feed.entries.iter().find(|e| e.id.ends_with(name)).unwrap_or_else(|| panic!("{name} in {file}"));
        html.extend(entry.summary.as_ref().map(|s| s.content.clone()).filter(|s| s.contains('<')));
        html.push(entry.content.as_ref().and_then(|c| c.body.clone()).unwrap_or_else(|| panic!("content in {file}")));
    }
    assert!(html.len() >= 5, "{html:?}");
    html
}

/// The `href`s of the links in `html`.
fn links(html: &str) -> Vec<String> {
    let document = scraper::Html::parse_fragment(html);
    let selector = scraper::Selector::parse("a[href]").unwrap();
    document.select(&selector).map(|a| a.value().attr("href").unwrap().to_string()).collect()
}

/// The digest message of `month` for the site's one subscriber.
fn digest_message(site: &TempSite, month: &str) -> Vec<u8> {
    let mut command = newsroom(site.path());
    command.env("NEWSROOM_UNSUBSCRIBE_SECRET", crate::support::SECRET).args(["digest", "preview", "--month", month]);
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::read(site.path().join(format!("preview/{month}/messages/00001-ada@example.org.eml"))).unwrap()
}

/// Issue 14: backstage's Software Templates video, `<video controls>` with
/// its file on a `<source>`, was removed without a word. It is a link to
/// the video in every feed's summary and content and in both parts of the
/// email.
#[test]
fn a_video_is_a_link_to_its_file_in_feeds_and_email() {
    let name = "2020-08-05-announcing-backstage-software-templates.mdx";
    let Some(site) = site_with("backstage", &[name]) else { return };
    let output = run(site.path(), &["build"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let video = "https://test.example.org/video/software-templates.mp4";
    for html in entry_html(&site.path().join("public"), "announcing-backstage-software-templates") {
        assert!(links(&html).contains(&video.to_string()), "{html}");
        assert!(!html.contains("<video") && !html.contains("<source"), "{html}");
    }
    let bytes = digest_message(&site, "2020-08");
    let message = MessageParser::default().parse(&bytes).unwrap();
    assert!(links(&message.body_html(0).unwrap()).contains(&video.to_string()));
    let text = message.body_text(0).unwrap();
    assert!(text.contains("[video] [1]") && text.contains(&format!("[1] {video}")), "{text}");
}

/// The text of `html` outside code (`code`, `pre`): what a reader sees as prose.
fn text_outside_code(html: &str) -> String {
    let document = scraper::Html::parse_fragment(html);
    document
        .root_element()
        .descendants()
        .filter_map(|node| node.value().as_text().map(|text| (node, text)))
        .filter(|(node, _)| {
            !node.ancestors().any(|a| a.value().as_element().is_some_and(|e| matches!(e.name(), "code" | "pre")))
        })
        .map(|(_, text)| text.to_string())
        .collect()
}

/// The `src`s of the images in `html`.
fn images(html: &str) -> Vec<String> {
    let document = scraper::Html::parse_fragment(html);
    let selector = scraper::Selector::parse("img[src]").unwrap();
    document.select(&selector).map(|img| img.value().attr("src").unwrap().to_string()).collect()
}

/// Issue 14: JSX attribute values in `.md` posts (Docusaurus 3 reads them
/// as MDX) made CommonMark read the tag as text: babel's
/// `<img … style={{` over six lines and react-native's
/// `<img … style={{float: 'left', …}} />` were printed, escaped, into the
/// feeds. They are images now, and no `={` is left in the prose.
#[test]
fn jsx_attribute_values_in_md_posts_leave_html_tags() {
    let cases = [
        (
            "babel",
            "2023-10-16-cve-2023-45133.md",
            "https://test.example.org/assets/2023-10-16-cve-2023-45133/success.jpg",
        ),
        (
            "react-native",
            "2018-03-22-building-input-accessory-view-for-react-native.md",
            "https://test.example.org/blog/assets/input-accessory-2.gif",
        ),
        (
            "react-native",
            "2016-08-19-right-to-left-support-for-react-native-apps.md",
            "https://test.example.org/blog/assets/rtl-ama-ios-arabic.png",
        ),
    ];
    for (blog, file, image) in cases {
        let Some(site) = site_with(blog, &[file]) else { return };
        let output = run(site.path(), &["build"]);
        assert!(output.status.success(), "{file}: {}", stderr(&output));
        let name = file.trim_end_matches(".md").splitn(4, '-').nth(3).unwrap();
        let html = entry_html(&site.path().join("public"), name);
        for html in &html {
            let prose = text_outside_code(html);
            assert!(!prose.contains("={"), "{file}: {prose}");
        }
        // In the whole post of each of the three feeds (the excerpts end before it).
        let with_image = html.iter().filter(|html| images(html).contains(&image.to_string())).count();
        assert_eq!(with_image, 3, "{file}: {image} in {html:?}");
    }
}
