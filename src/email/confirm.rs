//! The sign-up confirmation message (double opt-in): `templates/confirm.md`
//! through the digest's own rendering — the site owner's Markdown cleaned
//! as the digest's intro is, the digest's frame and `email.css` inlined,
//! a text part from the same Markdown — and built with lettre as the
//! digest's messages are.
//!
//! It is a message the reader asked for, to one address, not a list
//! message: no List-Id, no List-Unsubscribe (there is no subscription yet).
//!
//! The one thing it asks, the paragraph that is only the link to
//! `{confirm_url}`, is shown as a button, as the digest shows "Read more":
//! a reader should not have to find a link in a paragraph. The text part
//! keeps it as a numbered link.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use pulldown_cmark::{Event, Tag, TagEnd};
use sha2::{Digest as _, Sha256};

use super::layout::{Button, Notice, notice_page};
use super::message::OutgoingMessage;
use super::template::{DEFAULT_EMAIL_CSS, check_placeholders, fill_globals, parse_head, read_template};
use crate::config::{Config, ConfigError};
use crate::markdown;

/// The built-in template, used when a site has no `templates/confirm.md`.
pub const DEFAULT_CONFIRM_MD: &str = include_str!("../../templates/confirm.md");
/// The placeholders `confirm.md` may use.
pub const PLACEHOLDERS: [&str; 2] = ["site_title", "confirm_url"];

/// The parsed `templates/confirm.md`.
#[derive(Debug, Clone)]
pub struct ConfirmTemplate {
    pub source: PathBuf,
    pub subject: String,
    pub preheader: String,
    pub body: String,
    pub css: String,
}

impl ConfirmTemplate {
    /// Reads `templates/confirm.md` and `templates/email.css` from the site
    /// folder, each falling back to the built-in default.
    pub fn load(site_root: &Path) -> Result<ConfirmTemplate> {
        let (text, source) = read_template(site_root, "confirm.md", DEFAULT_CONFIRM_MD)?;
        let (css, _) = read_template(site_root, "email.css", DEFAULT_EMAIL_CSS)?;
        ConfirmTemplate::parse(&text, &source, css)
    }

    /// Parses template text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path, css: String) -> Result<ConfirmTemplate> {
        let parsed = parse_head(text, source)?;
        let known = |name: &str| PLACEHOLDERS.contains(&name);
        let listed = PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ");
        for (text, first_line) in [
            (parsed.subject.as_str(), parsed.subject_line),
            (&parsed.preheader, parsed.preheader_line),
            (&parsed.body, parsed.body_line),
        ] {
            check_placeholders(text, first_line, source, &known, &listed)?;
        }
        if !parsed.body.contains("{confirm_url}") {
            return Err(ConfigError {
                path: source.to_path_buf(),
                line: parsed.body_line,
                column: 1,
                message: "the message has no `{confirm_url}`: the reader could not confirm".into(),
            }
            .into());
        }
        Ok(ConfirmTemplate {
            source: source.to_path_buf(),
            subject: parsed.subject,
            preheader: parsed.preheader,
            body: parsed.body,
            css,
        })
    }
}

/// The confirmation for `address`, whose link is `confirm_url`. Needs
/// `digest.from` (checked by the caller before it offers sign-up).
pub fn message(
    config: &Config,
    template: &ConfirmTemplate,
    address: &str,
    confirm_url: &str,
    envelope_sender: Option<&str>,
    date: SystemTime,
) -> Result<OutgoingMessage> {
    let from = config.digest.from.clone().ok_or_else(|| anyhow!("digest.from is not set"))?;
    let values = |name: &str| match name {
        "site_title" => Some(config.site.title.clone()),
        "confirm_url" => Some(confirm_url.to_string()),
        _ => None,
    };
    let subject = fill_globals(&template.subject, &values);
    let subject = subject.split(|c: char| c.is_control()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    let preheader = fill_globals(&template.preheader, &values);
    let body_md = fill_globals(&template.body, &values);
    let blog_url = config.blog_url();
    let events: Vec<Event> = markdown::events(&body_md).map(|(event, _)| event).collect();
    // The paragraph that is only the link to confirm becomes a button, as
    // the digest's "Read more" is; the rest is the owner's text as written.
    let split = button_paragraph(&events, confirm_url);
    let (body_html, after_html) = match &split {
        Some((paragraph, _)) => (
            super::owner_events_html(events[..paragraph.start].iter().cloned(), &blog_url, &blog_url),
            super::owner_events_html(events[paragraph.end..].iter().cloned(), &blog_url, &blog_url),
        ),
        None => (super::owner_markdown_html(&body_md, &blog_url, &blog_url), String::new()),
    };
    let button = split.as_ref().map(|(_, label)| Button { label, url: confirm_url });
    let postal_address = config.digest.postal_address.as_deref().unwrap_or_default();
    let notice = Notice {
        lang: &config.site.language,
        subject: &subject,
        preheader: &preheader,
        site_title: &config.site.title,
        blog_url: &blog_url,
        body_html: &body_html,
        button,
        after_html: &after_html,
        postal_address,
    };
    let inliner = super::css_inliner();
    let html = inliner
        .inline(&notice_page(&notice, &template.css).into_string())
        .context("failed to inline templates/email.css")?;
    let links = std::collections::HashMap::new();
    let context = markdown::LinkContext { base_url: &blog_url, permalink: &blog_url, folder: "", post_links: &links };
    let body_text = markdown::text::to_text(markdown::events(&body_md).map(|(event, _)| event), &context);
    // The addresses the HTML part links to: the site (its header), then the body's.
    let mut text = format!("{}\n{blog_url}\n\n{}", config.site.title, body_text.with_references());
    // A client that shows only the text part still needs the link whole.
    if !text.contains(confirm_url) {
        text.push_str(&format!("\n\n{confirm_url}"));
    }
    text.push_str(&format!("\n\n{postal_address}\n"));
    let text = markdown::text::wrap(&text, markdown::text::TEXT_WIDTH);

    let to: Address = address.parse().map_err(|e| anyhow!("`{address}` is not a valid address: {e}"))?;
    let mut hash = Sha256::new();
    hash.update(address.as_bytes());
    hash.update(confirm_url.as_bytes());
    let message_id = format!("<confirm.{}@{}>", hex::encode(&hash.finalize()[..16]), config.digest.list_id);
    let sender = match envelope_sender {
        Some(text) => text.parse().map_err(|e| anyhow!("the return path `{text}` is not an address: {e}"))?,
        None => from.email.clone(),
    };
    let envelope = lettre::address::Envelope::new(Some(sender), vec![to.clone()])?;
    let mut builder = Message::builder()
        .envelope(envelope)
        .from(from)
        .to(Mailbox::new(None, to))
        .subject(subject)
        .date(date)
        .message_id(Some(message_id.clone()));
    if let Some(reply_to) = &config.digest.reply_to {
        builder = builder.reply_to(reply_to.clone());
    }
    let message = builder
        .multipart(MultiPart::alternative().singlepart(SinglePart::plain(text)).singlepart(SinglePart::html(html)))?;
    Ok(OutgoingMessage { to: address.to_string(), message_id, message, signed: None })
}

/// The first top-level paragraph that holds only a link to `url` (the
/// built-in template's `[Confirm my subscription]({confirm_url})`): the
/// range of its events, and the link's text.
fn button_paragraph(events: &[Event], url: &str) -> Option<(Range<usize>, String)> {
    let mut depth = 0usize;
    for (index, event) in events.iter().enumerate() {
        match event {
            Event::Start(Tag::Paragraph) if depth == 0 => {
                if let Some((length, label)) = only_a_link(&events[index..], url) {
                    return Some((index..index + length, label));
                }
                depth += 1;
            }
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// For `events` that start with a paragraph holding only a link to `url`:
/// the paragraph's length in events and the link's text.
fn only_a_link(events: &[Event], url: &str) -> Option<(usize, String)> {
    match events.get(1)? {
        Event::Start(Tag::Link { dest_url, .. }) if dest_url.as_ref() == url => {}
        _ => return None,
    }
    let mut label = String::new();
    let mut depth = 0usize;
    for (index, event) in events.iter().enumerate().skip(2) {
        match event {
            Event::End(TagEnd::Link) if depth == 0 => {
                let label = label.split_whitespace().collect::<Vec<_>>().join(" ");
                return match events.get(index + 1) {
                    Some(Event::End(TagEnd::Paragraph)) if !label.is_empty() => Some((index + 2, label)),
                    _ => None,
                };
            }
            Event::Text(text) | Event::Code(text) => label.push_str(text),
            Event::SoftBreak | Event::HardBreak => label.push(' '),
            Event::Start(_) => depth += 1,
            Event::End(_) => depth = depth.saturating_sub(1),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_paragraph_that_is_the_link_alone_becomes_the_button() {
        let url = "https://x.org/confirm/1-2-ab";
        let found = |markdown: &str| {
            let events: Vec<Event> = markdown::events(markdown).map(|(event, _)| event).collect();
            button_paragraph(&events, url).map(|(range, label)| (range.len(), label))
        };
        assert_eq!(
            found(&format!("Hi.\n\n[Confirm *my* subscription]({url})\n\nBye.")).unwrap().1,
            "Confirm my subscription"
        );
        assert_eq!(found(&format!("[Go]({url})")), Some((5, "Go".to_string())));
        assert_eq!(found(&format!("Please [confirm]({url}) today.")), None, "a link in a sentence stays a link");
        assert_eq!(found(&format!("> [Go]({url})")), None, "not inside a quote");
        assert_eq!(found("[Go](https://x.org/other)"), None);
        assert_eq!(found(&format!("[Go]({url}) [Again]({url})")), None);
    }

    #[test]
    fn the_built_in_template_parses_and_an_unknown_placeholder_is_named() {
        let template = ConfirmTemplate::parse(DEFAULT_CONFIRM_MD, Path::new("confirm.md"), String::new()).unwrap();
        assert!(template.body.contains("{confirm_url}"));
        let error = ConfirmTemplate::parse(
            "---\nsubject: Hi\n---\nGo {confirm_url}\n{month}\n",
            Path::new("confirm.md"),
            String::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "confirm.md:5:1: error: unknown placeholder `{month}` (known: {site_title}, {confirm_url})"
        );
        let error = ConfirmTemplate::parse("---\nsubject: Hi\n---\nNo link\n", Path::new("confirm.md"), String::new())
            .unwrap_err();
        assert!(error.to_string().contains("no `{confirm_url}`"), "{error}");
    }
}
