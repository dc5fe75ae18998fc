//! The digest: an edition's listed posts, oldest first, rendered once as
//! HTML (maud, CSS inlined with css-inline) and plain text, with slots that
//! [`crate::email::message::build`] fills per subscriber. What an edition
//! holds is [`assemble`]; the files a dry run writes, [`preview`]; what a
//! message is made of, whatever it carries, lives in [`crate::email`].
//!
//! Preview and send share this renderer, so what is previewed is what is sent.

pub mod assemble;
pub mod preview;

use std::hash::{Hash, Hasher};

use anyhow::{Context, Result};

use crate::config::Config;
use crate::content::Post;
pub use crate::edition::{Edition, Month};
use crate::email::layout::{self, Footer, Page, PersonalFooter, PostBlock};
use crate::email::message::Rendered;
use crate::email::mime;
use crate::email::template::{DigestTemplate, Slot, fill_globals};
use crate::email::{owner_markdown_html, placeholder};
use crate::markdown::{self, RenderedPost};

/// Gmail clips a message whose HTML is larger than this.
pub const GMAIL_CLIP_BYTES: usize = 102 * 1024;

/// A digest rendered once: HTML and text with slots for the personal parts.
#[derive(Debug, Clone)]
pub struct Digest {
    /// The edition's id (`digest-YYYY-MM` for a month): the ledger key and
    /// the Message-ID prefix.
    pub id: String,
    pub edition: Edition,
    pub post_count: usize,
    /// The permalinks of its posts, in digest order: what the ledger
    /// records when the digest's list is frozen.
    pub permalinks: Vec<String>,
    /// Subject with slots.
    pub subject: String,
    /// Email HTML, CSS inlined, with slots.
    pub html: String,
    /// Text part with slots.
    pub text: String,
    /// The web version: no personal parts, the CSS in a `<style>` block.
    pub archive_html: String,
    /// Where the web version is published.
    pub archive_url: String,
    /// `html` and `text` prepared for per-subscriber encoding, on first use.
    skeletons: std::sync::OnceLock<mime::Skeletons>,
}

impl Rendered for Digest {
    fn id(&self) -> &str {
        &self.id
    }
    fn token_period(&self) -> String {
        self.edition.token_period()
    }
    fn subject(&self) -> &str {
        &self.subject
    }
    fn html(&self) -> &str {
        &self.html
    }
    fn text(&self) -> &str {
        &self.text
    }
    fn skeletons(&self) -> &mime::Skeletons {
        Digest::skeletons(self)
    }
}

/// An edition's posts with their rendering, the input of [`Digest::render`].
pub struct DigestInput<'a> {
    pub edition: Edition,
    pub posts: Vec<(&'a Post, &'a RenderedPost)>,
}

/// The URL of an edition's web version (`digest/YYYY-MM/` for a month).
pub fn archive_url(config: &Config, edition: &Edition) -> String {
    format!("{}digest/{}/", config.blog_url(), edition.web_path())
}

impl Digest {
    /// The email parts prepared for fast per-subscriber encoding (built on first use).
    pub fn skeletons(&self) -> &mime::Skeletons {
        self.skeletons.get_or_init(|| mime::Skeletons {
            html: mime::PartSkeleton::new(&self.html),
            text: mime::PartSkeleton::new(&self.text),
        })
    }

    /// Renders the digest once for everyone.
    pub fn render(config: &Config, template: &DigestTemplate, input: &DigestInput) -> Result<Digest> {
        Digest::render_variants(config, template, input, true)
    }

    /// Renders only the web version (`archive_html`); `html` and `text` stay
    /// empty: `build` needs nothing else.
    pub fn render_archive(config: &Config, template: &DigestTemplate, input: &DigestInput) -> Result<String> {
        Ok(Digest::render_variants(config, template, input, false)?.archive_html)
    }

    /// Feeds everything [`Digest::render_archive`] reads of `template` and
    /// `input` into `hasher` (the config is the caller's to feed, once a
    /// build): two inputs that hash alike make the same page, so `build`
    /// keeps a re-build's page whose fingerprint is the previous one's.
    /// Keep it in step with `render_variants`: a field read there and not
    /// fed here would serve a stale page.
    pub fn archive_fingerprint(template: &DigestTemplate, input: &DigestInput, hasher: &mut impl Hasher) {
        template.hash(hasher);
        input.edition.hash(hasher);
        input.posts.len().hash(hasher);
        for (post, rendered) in &input.posts {
            post.title.hash(hasher);
            post.permalink.hash(hasher);
            // The date as the page writes it: in its own offset.
            (post.date.naive_local(), post.date.offset().local_minus_utc()).hash(hasher);
            post.authors.hash(hasher);
            rendered.excerpt_html.hash(hasher);
        }
    }

    fn render_variants(
        config: &Config,
        template: &DigestTemplate,
        input: &DigestInput,
        personal: bool,
    ) -> Result<Digest> {
        // A post's edition is named by its post, and its web version is the
        // post's own page (`build` writes no archive page for it).
        let per_post = input.posts.first().filter(|_| input.edition.cadence() == crate::edition::Cadence::PerPost);
        let month_label = per_post.map_or_else(|| input.edition.label(), |(post, _)| post.title.clone());
        let post_count = input.posts.len().to_string();
        let new_posts = new_posts(input.posts.len());
        let globals = |name: &str| match name {
            // `{month}` is the period's name in every template since the
            // first release; `{period}` says it for any cadence.
            "month" | "period" => Some(month_label.clone()),
            "site_title" => Some(config.site.title.clone()),
            "post_count" => Some(post_count.clone()),
            "new_posts" => Some(new_posts.clone()),
            _ => None,
        };
        let subject = fill_globals(&template.subject, &globals);
        let preheader = fill_globals(&template.preheader, &globals);
        let intro_md = fill_globals(&template.intro.0, &globals);
        let footer_md = fill_globals(&template.footer.0, &globals);
        let blog_url = config.blog_url();
        let archive_url =
            per_post.map_or_else(|| archive_url(config, &input.edition), |(post, _)| post.permalink.clone());
        let intro_html = owner_markdown_html(&intro_md, &blog_url, &archive_url);
        let footer_html = owner_markdown_html(&footer_md, &blog_url, &archive_url);

        let excerpts: Vec<String> =
            input.posts.iter().map(|(_, rendered)| digest_excerpt(&rendered.excerpt_html)).collect();
        let blocks = || -> Vec<PostBlock> {
            input
                .posts
                .iter()
                .zip(&excerpts)
                .map(|((post, _), excerpt_html)| PostBlock {
                    title: &post.title,
                    permalink: &post.permalink,
                    date_label: post.date.format("%B %-d, %Y").to_string(),
                    authors: &post.authors,
                    excerpt_html,
                })
                .collect()
        };
        let (email_slot, unsubscribe_slot) = (Slot::Email.marker(), Slot::UnsubscribeUrl.marker());
        // The web version greets nobody in particular and has no personal footer.
        let neutral = |text: &str| {
            crate::email::template::fill_slots(text, &|name| {
                if name == Slot::Greeting { "Hello,".into() } else { "there".into() }
            })
        };
        let archive_subject = neutral(&subject);
        let archive_intro = neutral(&intro_html);
        let page = |personal: bool| Page {
            lang: &config.site.language,
            subject: if personal { &subject } else { &archive_subject },
            preheader: &preheader,
            site_title: &config.site.title,
            blog_url: &blog_url,
            month_label: &month_label,
            intro_html: if personal { &intro_html } else { &archive_intro },
            posts: blocks(),
            footer: Footer {
                text_html: &footer_html,
                postal_address: postal_address(config),
                archive_url: &archive_url,
                site_url: &blog_url,
                personal: personal.then(|| PersonalFooter { email: &email_slot, unsubscribe_url: &unsubscribe_slot }),
            },
        };
        let inliner = crate::email::css_inliner();
        let inline = |markup: maud::Markup| -> Result<String> {
            inliner.inline(&markup.into_string()).context("failed to inline templates/email.css")
        };
        let html = if personal { inline(layout::page(&page(true), &template.css))? } else { String::new() };
        // The web version is for browsers, which read the `<style>` block:
        // no inlining, the costly step on a long month's page.
        let archive_html = layout::page(&page(false), &template.css).into_string();
        let text = if personal {
            text_part(config, &intro_md, &footer_md, input, &month_label, &archive_url)
        } else {
            String::new()
        };
        Ok(Digest {
            id: input.edition.id(),
            edition: input.edition.clone(),
            post_count: input.posts.len(),
            permalinks: input.posts.iter().map(|(post, _)| post.permalink.clone()).collect(),
            subject,
            html,
            text,
            archive_html,
            archive_url,
            skeletons: std::sync::OnceLock::new(),
        })
    }
}

/// `{new_posts}`: `1 new post`, `3 new posts`; the count with its noun, so
/// that a template need not write "1 new posts".
fn new_posts(count: usize) -> String {
    format!("{count} new post{}", if count == 1 { "" } else { "s" })
}

/// The width of the digest's content column in CSS pixels: the 600 px
/// container less its 32 px padding each side (`email.css`).
pub const CONTENT_WIDTH: u32 = 536;

/// An excerpt as the digest shows it: its headings all become `h3`, one level
/// under the post's title, so an excerpt that starts with `# Heading` or jumps
/// from `h1` to `h3` cannot break the page's outline (the Nu HTML Checker
/// rejects skipped heading levels); and without their ids, which two posts
/// of one month may share (the checker rejects duplicate ids) and which the
/// digest does not link to: its links lead to the posts' pages. Its
/// pictures get a `width` attribute ([`picture_size`]).
fn digest_excerpt(html: &str) -> String {
    let headings = ["<h1", "<h2", "<h4", "<h5", "<h6", "<h3 id="].iter().any(|tag| html.contains(tag));
    if !headings && !html.contains("<img") {
        return html.to_string();
    }
    let settings = lol_html::RewriteStrSettings::new()
        .append_element_content_handler(lol_html::element!("h1, h2, h3, h4, h5, h6", |el| {
            el.set_tag_name("h3")?;
            el.remove_attribute("id");
            Ok(())
        }))
        .append_element_content_handler(lol_html::element!("img", |el| {
            let pixels = |name| el.get_attribute(name).and_then(|value| value.trim().parse::<u32>().ok());
            let (width, height) = picture_size(pixels("width"), pixels("height"));
            el.set_attribute("width", &width.to_string())?;
            match height {
                Some(height) => el.set_attribute("height", &height.to_string())?,
                None => el.remove_attribute("height"),
            }
            Ok(())
        }));
    lol_html::rewrite_str(html, settings).unwrap_or_else(|_| html.to_string())
}

/// The `width` and `height` attributes of a picture in the digest, from the
/// ones it has (in pixels, when they are). Outlook's Word engine ignores
/// `max-width` and draws a picture at the size its attributes give, or at
/// its natural size, which overflows the 600 px layout: so every picture
/// gets a width no wider than the column. One given no wider is kept, with
/// its height; a wider one is scaled down to the column, its height with
/// it. One of unknown size (most: Markdown gives no size, and the renderer
/// reads no files) gets the column's width and no height, which Outlook
/// fills in from the picture's proportions; every other client follows
/// `email.css`'s `max-width: 100%; height: auto`, so a small picture is
/// shown at its own size there and stretched only in Outlook.
fn picture_size(width: Option<u32>, height: Option<u32>) -> (u32, Option<u32>) {
    match (width, height) {
        (Some(width), height) if width > 0 && width <= CONTENT_WIDTH => (width, height),
        (Some(width), Some(height)) if width > 0 => {
            let scaled = (u64::from(height) * u64::from(CONTENT_WIDTH)).div_ceil(u64::from(width));
            (CONTENT_WIDTH, Some(u32::try_from(scaled).unwrap_or(u32::MAX).max(1)))
        }
        _ => (CONTENT_WIDTH, None),
    }
}

/// The text part: the same content as the HTML part, in the same order,
/// and every address the HTML part links to (the site, each post, its
/// authors' pages, the links of the excerpts, intro and footer, the
/// unsubscribe and web-version links), each a reader can copy whole;
/// hard-wrapped at 72 columns ([`markdown::text::wrap`]).
fn text_part(
    config: &Config,
    intro_md: &str,
    footer_md: &str,
    input: &DigestInput,
    month_label: &str,
    archive_url: &str,
) -> String {
    let blog_url = config.blog_url();
    let post_links = std::collections::HashMap::new();
    let links =
        markdown::LinkContext { base_url: &blog_url, permalink: archive_url, folder: "", post_links: &post_links };
    let plain = |markdown: &str| {
        markdown::text::to_text(markdown::events(markdown).map(|(event, _)| event), &links).with_references()
    };
    let rule = "-".repeat(60);
    let mut out = String::new();
    // The HTML part's header links the site's title to the blog.
    let cadence = input.edition.cadence().adjective();
    out.push_str(&format!("{}: {cadence} digest, {month_label}\n{blog_url}\n\n", config.site.title));
    out.push_str(&plain(intro_md));
    out.push_str("\n\n");
    for (post, rendered) in &input.posts {
        out.push_str(&format!("{rule}\n\n{}\n", post.title));
        let authors: Vec<&str> = post.authors.iter().map(|a| a.name.as_str()).collect();
        if !authors.is_empty() {
            out.push_str(&format!("by {} · ", authors.join(", ")));
        }
        out.push_str(&post.date.format("%B %-d, %Y").to_string());
        out.push_str("\n\n");
        // Posts for email are rendered with `Parts::EMAIL`; the text part of
        // one rendered without it would lack only its excerpt.
        debug_assert!(rendered.excerpt_text.is_some(), "{} rendered without its text", post.title);
        if let Some(excerpt) = &rendered.excerpt_text {
            out.push_str(&excerpt.text);
            out.push_str("\n\n");
            out.push_str(&excerpt.reference_lines());
        }
        out.push_str(&format!("Read more: {}\n", post.permalink));
        // The HTML part links each author's name to their page.
        for author in &post.authors {
            if let Some(url) = &author.url {
                out.push_str(&format!("{}: {url}\n", author.name));
            }
        }
        out.push('\n');
    }
    out.push_str(&format!("{rule}\n\n"));
    out.push_str(&plain(footer_md));
    // The unsubscribe URL on a line of its own: it is filled in per
    // subscriber, after wrapping, and is too long to share one.
    out.push_str(&format!(
        "\n\nThis email was sent to {}.\nUnsubscribe with one click:\n{}\nView in browser: {archive_url}\n\n{}\n",
        Slot::Email.marker(),
        Slot::UnsubscribeUrl.marker(),
        postal_address(config)
    ));
    markdown::text::wrap(&out, markdown::text::TEXT_WIDTH)
}

/// The postal address of the footer.
fn postal_address(config: &Config) -> &str {
    config.digest.postal_address.as_deref().unwrap_or(placeholder::POSTAL_ADDRESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::{message, sender, template};

    /// Issue 26, point 11: the default preheader said "1 new posts".
    #[test]
    fn new_posts_counts_with_the_right_noun() {
        assert_eq!(
            (new_posts(1), new_posts(0), new_posts(3)),
            ("1 new post".into(), "0 new posts".into(), "3 new posts".into())
        );
        assert!(
            template::DEFAULT_DIGEST_MD.contains("preheader: \"{new_posts} from"),
            "the default preheader counts with {{new_posts}}"
        );
    }

    #[test]
    fn excerpt_headings_sit_one_level_under_the_post_title() {
        assert_eq!(digest_excerpt("<h1>A</h1><p>x</p><h3>B</h3><h5>C</h5>"), "<h3>A</h3><p>x</p><h3>B</h3><h3>C</h3>");
    }

    /// Issue 19: Outlook ignores `max-width`; pictures without a `width`
    /// attribute overflowed the layout there.
    #[test]
    fn every_excerpt_picture_has_a_width_no_wider_than_the_column() {
        assert_eq!(
            digest_excerpt(
                r#"<img src="a.png" alt=""><img src="b.png" width="100" height="50"><img src="c.png" width="1072" height="300"><img src="d.png" width="100%" height="40">"#
            ),
            r#"<img src="a.png" alt="" width="536"><img src="b.png" width="100" height="50"><img src="c.png" width="536" height="150"><img src="d.png" width="536">"#
        );
        assert_eq!(picture_size(Some(0), Some(10)), (CONTENT_WIDTH, None));
        assert_eq!(picture_size(Some(4000), Some(1)), (CONTENT_WIDTH, Some(1)));
    }

    /// Found by fuzzing `newsroom.yaml`: `{email}` in the host gave every
    /// message an unsubscribe link no client can open.
    #[test]
    fn unsubscribe_urls_keep_the_address_out_of_the_host() {
        let with = |pattern: &str| {
            let yaml =
                format!("site:\n  title: T\n  url: https://t.example.org\ndigest:\n  unsubscribe_url: \"{pattern}\"\n");
            Config::parse(&yaml, std::path::Path::new("newsroom.yaml")).map(|_| ()).map_err(|e| e.to_string())
        };
        assert_eq!(with("https://t.example.org/u?email={email}&token={token}"), Ok(()));
        assert_eq!(with("https://t.example.org/u/{token}#{email}"), Ok(()));
        for bad in ["https://u.example+{email}/{token}", "https://t.example.org:{token}/", "https://{email}"] {
            let error = with(bad).unwrap_err();
            assert!(
                error.contains("newsroom.yaml:5:20: error: digest.unsubscribe_url")
                    && error.contains("must be in the path or query"),
                "{bad}: {error}"
            );
        }
        assert!(with("http://t.example.org/u?email={email}").unwrap_err().contains("https://"));
        assert!(with("https://[::1/u?{email}").unwrap_err().contains("not a valid URL"));
    }

    /// A key a digest cannot be sent without is never filled with an
    /// invented real-looking value: the preview's placeholders are at
    /// reserved domains and say what is missing.
    #[test]
    fn unset_sender_keys_become_placeholders_no_message_can_reach() {
        let config =
            Config::parse("site:\n  title: T\n  url: https://t.example.org\n", std::path::Path::new("c")).unwrap();
        assert_eq!(config.digest.missing_for_sending(), crate::config::KEYS_REQUIRED_FOR_SENDING);
        let sender = sender(&config, b"k".to_vec(), std::time::SystemTime::UNIX_EPOCH);
        assert!(sender.from.email.domain().ends_with(".invalid"), "{}", sender.from);
        assert!(url::Url::parse(&sender.unsubscribe_url).unwrap().host_str().unwrap().ends_with(".invalid"));
        assert_eq!(postal_address(&config), "[digest.postal_address is not set]");
        assert_eq!(sender.list_id, "t.example.org");
    }

    /// Found by fuzzing `newsroom.yaml`: a site title with a control
    /// character (`"Bell \0"`) became the placeholder sender's name, and no
    /// message could be built ("missing source address").
    #[test]
    fn a_title_with_control_characters_still_gives_a_sender_messages_can_carry() {
        let yaml = "site:\n  title: \"Bell \\0u07 & <b>\\a\"\n  url: https://t.example.org\n";
        let config = Config::parse(yaml, std::path::Path::new("c")).unwrap();
        assert!(config.site.title.contains('\0'));
        let sender = sender(&config, b"k".to_vec(), std::time::SystemTime::UNIX_EPOCH);
        let digest = Digest::render(
            &config,
            &template::DigestTemplate::parse(
                template::DEFAULT_DIGEST_MD,
                std::path::Path::new("digest.md"),
                template::DEFAULT_EMAIL_CSS.into(),
            )
            .unwrap(),
            &DigestInput { edition: Edition::monthly("2026-10".parse().unwrap()), posts: Vec::new() },
        )
        .unwrap();
        let reader = crate::subscriber::Person { id: None, address: "ada@example.org", name: None };
        message::build(&digest, &sender, &reader).expect("a message");
    }
}
