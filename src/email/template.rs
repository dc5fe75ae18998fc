//! `templates/digest.md`: the digest's words, editable without recompiling.
//!
//! Front matter holds the subject and preheader; the body is the intro, then
//! `<!-- footer -->`, then the footer text, in Markdown. Placeholders in
//! braces are filled in two steps: the ones that are the same for everyone
//! (`{month}`, `{site_title}`, `{post_count}`, `{new_posts}`) when the digest is rendered
//! once, the personal ones (`{greeting}`, `{name}`) per subscriber. An
//! unknown placeholder is an error naming the file and line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::config::ConfigError;
use crate::content::front_matter;
use crate::yaml;

/// The built-in template, used when a site has no `templates/digest.md`.
pub const DEFAULT_DIGEST_MD: &str = include_str!("../../templates/digest.md");
/// The built-in words of a per-post message: a digest's ("here is what
/// happened in …") do not fit one post.
pub const DEFAULT_PER_POST_MD: &str = include_str!("../../templates/digest-per_post.md");
/// The built-in stylesheet, used when a site has no `templates/email.css`.
pub const DEFAULT_EMAIL_CSS: &str = include_str!("../../templates/email.css");

/// The line in `digest.md` that separates the intro from the footer text.
const FOOTER_MARKER: &str = "<!-- footer -->";

/// Placeholders filled once per digest.
pub const GLOBAL_PLACEHOLDERS: [&str; 5] = ["month", "period", "site_title", "post_count", "new_posts"];
/// A personal part of a digest: a slot in the once-rendered text, filled
/// per subscriber. The one list of them: templates, the renderer, the
/// per-message encoder and the message builder all name slots through it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// `Hi Ada,`, or `Hello,` without a name.
    Greeting,
    /// The subscriber's name, or `there`.
    Name,
    /// The subscriber's address (footer).
    Email,
    /// The subscriber's one-click unsubscribe URL (footer, header).
    UnsubscribeUrl,
}

impl Slot {
    pub const ALL: [Slot; 4] = [Slot::Greeting, Slot::Name, Slot::Email, Slot::UnsubscribeUrl];
    /// The ones a site owner may write in `templates/digest.md` (`{greeting}`, `{name}`).
    pub const IN_TEMPLATES: [Slot; 2] = [Slot::Greeting, Slot::Name];

    pub fn name(self) -> &'static str {
        match self {
            Slot::Greeting => "greeting",
            Slot::Name => "name",
            Slot::Email => "email",
            Slot::UnsubscribeUrl => "unsubscribe_url",
        }
    }

    pub fn parse(name: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|slot| slot.name() == name)
    }

    /// The slot as it stands in once-rendered text.
    pub fn marker(self) -> String {
        format!("{SLOT_OPEN}{}{SLOT_CLOSE}", self.name())
    }
}

/// Marks a personal placeholder inside once-rendered text: a private-use
/// character pair around its name, which no Markdown or HTML step alters.
pub const SLOT_OPEN: char = '\u{E000}';
pub const SLOT_CLOSE: char = '\u{E001}';

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    subject: String,
    #[serde(default)]
    preheader: String,
}

/// The parsed template.
#[derive(Debug, Clone, Hash)]
pub struct DigestTemplate {
    pub source: PathBuf,
    pub subject: String,
    pub preheader: String,
    /// Intro Markdown and the file line it starts on.
    pub intro: (String, usize),
    /// Footer Markdown and the file line it starts on.
    pub footer: (String, usize),
    /// The stylesheet inlined into the HTML.
    pub css: String,
}

impl DigestTemplate {
    /// Reads `templates/digest.md` and `templates/email.css` from the site
    /// folder, each falling back to the built-in default.
    pub fn load(site_root: &Path) -> Result<DigestTemplate> {
        let (text, source) = read_template(site_root, "digest.md", DEFAULT_DIGEST_MD)?;
        let (css, _) = read_template(site_root, "email.css", DEFAULT_EMAIL_CSS)?;
        DigestTemplate::parse(&text, &source, css)
    }

    /// The template of a cadence's editions: `templates/digest-weekly.md`
    /// (`-daily`, `-per_post`, `-monthly`) when the site has one, else
    /// [`DigestTemplate::load`]'s — but for per-post messages, whose
    /// built-in words are their own ([`DEFAULT_PER_POST_MD`]).
    pub fn load_for(site_root: &Path, cadence: crate::edition::Cadence) -> Result<DigestTemplate> {
        let name = format!("digest-{}.md", cadence.as_str());
        let per_post = cadence == crate::edition::Cadence::PerPost;
        if !per_post && !site_root.join("templates").join(&name).is_file() {
            return DigestTemplate::load(site_root);
        }
        let default = if per_post { DEFAULT_PER_POST_MD } else { DEFAULT_DIGEST_MD };
        let (text, source) = read_template(site_root, &name, default)?;
        let (css, _) = read_template(site_root, "email.css", DEFAULT_EMAIL_CSS)?;
        DigestTemplate::parse(&text, &source, css)
    }

    /// Parses template text; `source` names it in errors.
    pub fn parse(text: &str, source: &Path, css: String) -> Result<DigestTemplate> {
        let parsed = parse_head(text, source)?;
        let (intro, footer) = match parsed.body.find(FOOTER_MARKER) {
            Some(at) => {
                let footer_line = parsed.body_line + parsed.body[..at].matches('\n').count();
                (
                    (parsed.body[..at].to_string(), parsed.body_line),
                    (parsed.body[at + FOOTER_MARKER.len()..].to_string(), footer_line),
                )
            }
            None => ((parsed.body.clone(), parsed.body_line), (String::new(), parsed.body_line)),
        };
        let known = |name: &str| {
            GLOBAL_PLACEHOLDERS.contains(&name) || Slot::IN_TEMPLATES.iter().any(|slot| slot.name() == name)
        };
        let listed = GLOBAL_PLACEHOLDERS
            .map(|p| format!("{{{p}}}"))
            .into_iter()
            .chain(Slot::IN_TEMPLATES.map(|slot| format!("{{{}}}", slot.name())))
            .collect::<Vec<_>>()
            .join(", ");
        for (text, first_line) in [
            (parsed.subject.as_str(), parsed.subject_line),
            (&parsed.preheader, parsed.preheader_line),
            (&intro.0, intro.1),
            (&footer.0, footer.1),
        ] {
            check_placeholders(text, first_line, source, &known, &listed)?;
        }
        Ok(DigestTemplate {
            source: source.to_path_buf(),
            subject: parsed.subject,
            preheader: parsed.preheader,
            intro,
            footer,
            css,
        })
    }
}

/// `templates/NAME` from the site folder, or `default` when the site has
/// none; with the name errors give it.
pub(crate) fn read_template(site_root: &Path, name: &str, default: &str) -> Result<(String, PathBuf)> {
    let path = site_root.join("templates").join(name);
    if path.is_file() {
        let text = std::fs::read_to_string(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
        return Ok((text, PathBuf::from(format!("templates/{name}"))));
    }
    Ok((default.to_string(), PathBuf::from(format!("(built-in) templates/{name}"))))
}

/// A message template's front matter (subject, preheader) and its body,
/// each with the line it starts on.
pub(crate) struct TemplateText {
    pub subject: String,
    pub subject_line: usize,
    pub preheader: String,
    pub preheader_line: usize,
    pub body: String,
    pub body_line: usize,
}

/// Splits a template into front matter and body (a BOM and CRLF line ends
/// allowed); a problem is a [`ConfigError`] at its place in `source`.
pub(crate) fn parse_head(text: &str, source: &Path) -> Result<TemplateText> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text).replace("\r\n", "\n");
    let problem = |line, column, message: String| ConfigError { path: source.to_path_buf(), line, column, message };
    let split = front_matter::split(&text).map_err(|_| problem(1, 1, "front matter has no closing `---`".into()))?;
    let head: Head = serde_yaml::from_str(split.yaml).map_err(|error| {
        let (line, column, message) = yaml::error_parts(&error, split.yaml, split.yaml_line);
        problem(line, column, message)
    })?;
    let yaml_line =
        |key: &str| yaml::key_position(split.yaml, key).map_or(split.yaml_line, |(l, _)| l + split.yaml_line - 1);
    Ok(TemplateText {
        subject: head.subject,
        subject_line: yaml_line("subject"),
        preheader: head.preheader,
        preheader_line: yaml_line("preheader"),
        body: split.body.to_string(),
        body_line: split.body_line,
    })
}

/// An error at the first placeholder of `text` (which starts on
/// `first_line` of `source`) that `known` does not accept; `listed` names
/// the known ones for the message.
pub(crate) fn check_placeholders(
    text: &str,
    first_line: usize,
    source: &Path,
    known: &dyn Fn(&str) -> bool,
    listed: &str,
) -> Result<()> {
    let Some((offset, name)) = placeholders(text).into_iter().find(|(_, name)| !known(name)) else {
        return Ok(());
    };
    let line = first_line + text[..offset].matches('\n').count();
    let column = text[..offset].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Err(ConfigError {
        path: source.to_path_buf(),
        line,
        column,
        message: format!("unknown placeholder `{{{name}}}` (known: {listed})"),
    }
    .into())
}

/// `{name}` placeholders in text with their byte offsets; `{{` and `}}` are literal braces.
fn placeholders(text: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'{' if bytes.get(index + 1) == Some(&b'{') => index += 2,
            b'{' => match text[index + 1..].find('}') {
                Some(close) => {
                    found.push((index, text[index + 1..index + 1 + close].trim()));
                    index += close + 2;
                }
                None => index += 1,
            },
            _ => index += 1,
        }
    }
    found
}

/// Fills the global placeholders and turns personal ones into slots for [`fill_slots`].
pub fn fill_globals(text: &str, global: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('}') {
            out.push('}');
            rest = after;
            continue;
        }
        match tail.find('}') {
            Some(close) => {
                let name = tail[1..close].trim();
                match global(name) {
                    Some(value) => out.push_str(&value),
                    None => {
                        out.push(SLOT_OPEN);
                        out.push_str(name);
                        out.push(SLOT_CLOSE);
                    }
                }
                rest = &tail[close + 1..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Replaces every slot in once-rendered text with its personal value. A slot
/// is [`SLOT_OPEN`], a name of lower-case letters and `_`, [`SLOT_CLOSE`];
/// any other marker character came from the content (a post, `email.css`)
/// and is left as text, so it can never swallow the markup up to the next
/// slot. A well-formed slot that names none of [`Slot::ALL`] becomes nothing.
pub fn fill_slots(text: &str, value: &dyn Fn(Slot) -> String) -> String {
    if !text.contains(SLOT_OPEN) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(open) = rest.find(SLOT_OPEN) {
        out.push_str(&rest[..open]);
        let after = &rest[open + SLOT_OPEN.len_utf8()..];
        let name_len = after.bytes().take_while(|b| b.is_ascii_lowercase() || *b == b'_').count();
        if name_len > 0 && after[name_len..].starts_with(SLOT_CLOSE) {
            out.push_str(&Slot::parse(&after[..name_len]).map(value).unwrap_or_default());
            rest = &after[name_len + SLOT_CLOSE.len_utf8()..];
        } else {
            out.push(SLOT_OPEN);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_template_parses() {
        let template = DigestTemplate::parse(DEFAULT_DIGEST_MD, Path::new("digest.md"), String::new()).unwrap();
        assert!(template.subject.contains("{month}"));
        assert!(template.footer.0.contains("subscribed"));
    }

    #[test]
    fn an_unknown_placeholder_names_file_and_line() {
        let error = DigestTemplate::parse(
            "---\nsubject: Hi\n---\nIntro\n\nHello {nmae}!\n",
            Path::new("t/digest.md"),
            String::new(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string().split(" (known").next().unwrap(),
            "t/digest.md:6:7: error: unknown placeholder `{nmae}`"
        );
    }

    #[test]
    fn globals_fill_now_and_personal_ones_later() {
        let once = fill_globals("{greeting} {month} {{literal}}", &|name| (name == "month").then(|| "May".to_string()));
        assert_eq!(once, "\u{E000}greeting\u{E001} May {literal}");
        assert_eq!(fill_slots(&once, &|slot| format!("<{}>", slot.name())), "<greeting> May {literal}");
    }

    /// Found by fuzzing (`digest_template` target): a marker character in
    /// `email.css` (or a post) opened a "slot" that ran to the next real one,
    /// deleting the markup between, so text after it became attributes.
    #[test]
    fn marker_characters_from_content_are_text() {
        let rendered = "<td style=\"a:\u{E000}b\">x</td><p>\u{E000}\u{E000}name\u{E001} \u{E001}</p>";
        assert_eq!(
            fill_slots(rendered, &|slot| format!("[{}]", slot.name())),
            "<td style=\"a:\u{E000}b\">x</td><p>\u{E000}[name] \u{E001}</p>"
        );
    }
}
