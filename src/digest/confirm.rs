//! The sign-up confirmation message (double opt-in): `templates/confirm.md`
//! through the digest's own rendering — the site owner's Markdown cleaned
//! as the digest's intro is, the digest's frame and `email.css` inlined,
//! a text part from the same Markdown — and built with lettre as the
//! digest's messages are.
//!
//! It is a message the reader asked for, to one address, not a list
//! message: no List-Id, no List-Unsubscribe (there is no subscription yet).

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, anyhow};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::email::{Notice, notice_page};
use super::message::OutgoingMessage;
use super::template::{DEFAULT_EMAIL_CSS, fill_globals, placeholders};
use crate::config::{Config, ConfigError};
use crate::content::front_matter;
use crate::{markdown, yaml};

/// The built-in template, used when a site has no `templates/confirm.md`.
pub const DEFAULT_CONFIRM_MD: &str = include_str!("../../templates/confirm.md");
/// The placeholders `confirm.md` may use.
pub const PLACEHOLDERS: [&str; 2] = ["site_title", "confirm_url"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    subject: String,
    #[serde(default)]
    preheader: String,
}

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
        let dir = site_root.join("templates");
        let read = |name: &str| -> Result<Option<String>> {
            let path = dir.join(name);
            match path.is_file() {
                true => Ok(Some(
                    std::fs::read_to_string(&path).with_context(|| format!("failed to read `{}`", path.display()))?,
                )),
                false => Ok(None),
            }
        };
        let css = read("email.css")?.unwrap_or_else(|| DEFAULT_EMAIL_CSS.to_string());
        match read("confirm.md")? {
            Some(text) => ConfirmTemplate::parse(&text, Path::new("templates/confirm.md"), css),
            None => ConfirmTemplate::parse(DEFAULT_CONFIRM_MD, Path::new("(built-in) templates/confirm.md"), css),
        }
    }

    /// Parses template text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path, css: String) -> Result<ConfirmTemplate> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n");
        let problem = |line, column, message: String| ConfigError { path: source.to_path_buf(), line, column, message };
        let split =
            front_matter::split(&text).map_err(|_| problem(1, 1, "front matter has no closing `---`".into()))?;
        let head: Head = serde_yaml::from_str(split.yaml).map_err(|error| {
            let (line, column, message) = yaml::error_parts(&error, split.yaml, split.yaml_line);
            problem(line, column, message)
        })?;
        for (text, first_line) in [
            (&head.subject, split.yaml_line),
            (&head.preheader, split.yaml_line),
            (&split.body.to_string(), split.body_line),
        ] {
            if let Some((offset, name)) = placeholders(text).into_iter().find(|(_, name)| !PLACEHOLDERS.contains(name))
            {
                let line = first_line + text[..offset].matches('\n').count();
                let column = text[..offset].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                return Err(problem(
                    line,
                    column,
                    format!("unknown placeholder `{{{name}}}` (known: {{site_title}}, {{confirm_url}})"),
                )
                .into());
            }
        }
        if !split.body.contains("{confirm_url}") {
            return Err(problem(
                split.body_line,
                1,
                "the message has no `{confirm_url}`: the reader could not confirm".into(),
            )
            .into());
        }
        Ok(ConfirmTemplate {
            source: source.to_path_buf(),
            subject: head.subject,
            preheader: head.preheader,
            body: split.body.to_string(),
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
    let body_html = super::owner_markdown_html(&body_md, &blog_url, &blog_url);
    let postal_address = config.digest.postal_address.as_deref().unwrap_or_default();
    let notice = Notice {
        lang: &config.site.language,
        subject: &subject,
        preheader: &preheader,
        site_title: &config.site.title,
        blog_url: &blog_url,
        body_html: &body_html,
        postal_address,
    };
    let inliner = css_inline::CSSInliner::options().keep_style_tags(false).load_remote_stylesheets(false).build();
    let html = inliner
        .inline(&notice_page(&notice, &template.css).into_string())
        .context("failed to inline templates/email.css")?;
    let links = std::collections::HashMap::new();
    let context = markdown::LinkContext { base_url: &blog_url, permalink: &blog_url, folder: "", post_links: &links };
    let mut text = markdown::text::to_text(markdown::events(&body_md).map(|(event, _)| event), &context).text;
    // A client that shows only the text part still needs the link whole.
    if !text.contains(confirm_url) {
        text.push_str(&format!("\n\n{confirm_url}"));
    }
    text.push_str(&format!("\n\n{postal_address}\n"));

    let to: Address = address.parse().map_err(|e| anyhow!("`{address}` is not a valid address: {e}"))?;
    let mut hash = Sha256::new();
    hash.update(address.as_bytes());
    hash.update(confirm_url.as_bytes());
    let message_id = format!("<confirm.{}@{}>", hex::encode(&hash.finalize()[..16]), config.digest.list_id);
    let mut builder = Message::builder()
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
    Ok(OutgoingMessage { to: address.to_string(), message_id, message, signature: None })
}

#[cfg(test)]
mod tests {
    use super::*;

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
