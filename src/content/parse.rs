//! Interpreting a post's text: its front matter's fields (title, dates,
//! slug, tags, authors, flags) read, checked and placed at their line and
//! column, into a [`Post`]. No file system: [`parse_post`] works on text,
//! which is what the fuzz targets feed it.

use std::path::Path;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_yaml::{Mapping, Value};

use super::authors::{self, Author, AuthorMap};
use super::dates::{self, DateError, parse_front_matter_date, split_dated_name, ymd_date};
use super::front_matter::{self, scalar_text};
use super::permalink::{self, post_name};
use super::post::{Post, PostTag};
use crate::config::Config;
use crate::diagnostics::{Diagnostic, Severity, line_col};
use crate::limits::excessive_nesting;
use crate::urls;
use crate::yaml::{self, key_position};

/// Front matter keys newsroom reads. Others are ignored and listed by `check`.
const KNOWN_KEYS: [&str; 14] = [
    "title",
    "description",
    "date",
    "slug",
    "tags",
    "image",
    "draft",
    "unlisted",
    "last_update",
    "authors",
    "author",
    "authorURL",
    "authorImageURL",
    "authorTitle",
];

/// Turns one post's text (as [`decode_text`] gives it) into a [`Post`], as
/// [`load_posts`] does for each file, without touching the file system:
/// `path` is where the file would be (its name gives the date, the slug and
/// `.mdx`; it is taken relative to `posts_dir`), `source` names it in
/// diagnostics. Errors in drafts are downgraded to warnings. A post is only
/// usable when no error was added to `diagnostics`.
pub fn parse_post(
    text: &str,
    path: &Path,
    source: &Path,
    posts_dir: &Path,
    config: &Config,
    authors: &AuthorMap,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Post> {
    let mut reader = PostReader { source, diagnostics: Vec::new(), yaml: "", yaml_line: 1 };
    let post = reader.read(text, path, posts_dir, config, authors);
    if post.as_ref().is_some_and(|p| p.draft) {
        for diagnostic in &mut reader.diagnostics {
            if diagnostic.severity == Severity::Error {
                diagnostic.severity = Severity::Warning;
                diagnostic.message.push_str(" (in a draft)");
            }
        }
    }
    diagnostics.append(&mut reader.diagnostics);
    post
}

/// Reads one post's text, collecting diagnostics with file positions.
struct PostReader<'a> {
    source: &'a Path,
    diagnostics: Vec<Diagnostic>,
    yaml: &'a str,
    yaml_line: usize,
}

impl<'a> PostReader<'a> {
    fn error(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::error(self.source, position, message));
    }

    fn warning(&mut self, position: (usize, usize), message: impl Into<String>) {
        self.diagnostics.push(Diagnostic::warning(self.source, position, message));
    }

    /// The file position of a front matter key's value, or of the front matter's start.
    fn key_position(&self, key: &str) -> (usize, usize) {
        key_position(self.yaml, key)
            .map(|(line, column)| (line + self.yaml_line - 1, column))
            .unwrap_or((self.yaml_line.saturating_sub(1).max(1), 1))
    }

    fn read(
        &mut self,
        text: &'a str,
        path: &Path,
        posts_dir: &Path,
        config: &Config,
        authors: &AuthorMap,
    ) -> Option<Post> {
        if text.trim().is_empty() {
            self.error((1, 1), "empty file: a post needs front matter with at least a `title`");
            return None;
        }
        let split = match front_matter::split(text) {
            Ok(split) => split,
            Err(front_matter::Unclosed) => {
                self.error((1, 1), "front matter starts with `---` but has no closing `---` line");
                return None;
            }
        };
        self.yaml = split.yaml;
        self.yaml_line = split.yaml_line;
        let mapping = match front_matter::parse_mapping(split.yaml) {
            Ok(mapping) => mapping,
            Err(error) => {
                let (line, column, message) = yaml::error_parts(&error, split.yaml, split.yaml_line);
                self.error((line, column), format!("front matter is not valid YAML: {message}"));
                return None;
            }
        };

        let relative = path.strip_prefix(posts_dir).unwrap_or(path);
        let mdx = relative.extension().is_some_and(|e| e == "mdx");
        let (name_stem, folder) = post_name(relative);
        let dated_name = split_dated_name(&name_stem);

        for key in mapping.keys() {
            if let Some(key) = key.as_str()
                && !KNOWN_KEYS.contains(&key)
            {
                let position = self.key_position(key);
                self.warning((position.0, 1), format!("unknown front matter key `{key}` ignored"));
            }
        }

        if let Some((offset, message)) = excessive_nesting(split.body) {
            let (line, column) = line_col(split.body, offset);
            self.error((line + split.body_line - 1, column), message);
            return None;
        }
        let mut heading = None;
        let title = match self.text_field(&mapping, "title") {
            Some(title) if !title.trim().is_empty() => Some(title.trim().to_string()),
            _ => heading_title(split.body).map(|(title, range)| {
                heading = Some(range);
                title
            }),
        };
        let Some(title) = title else {
            // A `title` that is there but not text was reported as such by
            // `text_field`: it is not missing too.
            let written = mapping.get("title").is_some_and(|value| !value.is_null() && !value.is_string());
            if !written {
                self.error(
                    self.key_position("title"),
                    "missing `title` in front matter (and no `# Heading` to take it from)",
                );
            }
            return None;
        };

        let date = self.post_date(&mapping, dated_name.as_ref())?;
        let updated = self.last_update(&mapping).unwrap_or(date);
        let draft = self.bool_field(&mapping, "draft");
        let unlisted = self.bool_field(&mapping, "unlisted");
        let description =
            self.text_field(&mapping, "description").map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        let slug =
            self.text_field(&mapping, "slug").map(|s| s.trim().trim_matches('/').to_string()).filter(|s| !s.is_empty());

        let blog_url = config.blog_url();
        let permalink = permalink::permalink(&blog_url, slug.as_deref(), dated_name.as_ref(), &name_stem);
        let post_base = permalink::folder_url(&blog_url, &folder);

        let tags = self.tags(&mapping);
        let authors = self.authors(&mapping, authors, &config.site.url);
        let image = self.text_field(&mapping, "image").and_then(|image| {
            let url = urls::web_url(&post_base, &image);
            if url.is_none() {
                self.warning(
                    self.key_position("image"),
                    format!("image `{}` is not a web address; left out", image.trim()),
                );
            }
            url
        });

        Some(Post {
            source: self.source.to_path_buf(),
            folder,
            mdx,
            title,
            description,
            date,
            updated,
            permalink,
            tags,
            authors,
            image,
            draft,
            unlisted,
            path: path.to_path_buf(),
            body_len: split.body.len() - heading.as_ref().map_or(0, |h| h.len()),
            heading,
            body_line: split.body_line,
        })
    }

    fn text_field(&mut self, mapping: &Mapping, key: &str) -> Option<String> {
        let value = mapping.get(key)?;
        if value.is_null() {
            return None;
        }
        let text = scalar_text(value);
        if text.is_none() {
            self.error(self.key_position(key), format!("`{key}` must be text"));
        }
        text
    }

    fn bool_field(&mut self, mapping: &Mapping, key: &str) -> bool {
        match mapping.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "true" || s == "false" => s == "true",
            Some(_) => {
                self.error(self.key_position(key), format!("`{key}` must be true or false"));
                false
            }
        }
    }

    /// The front matter `date`, else the file name's; an error when neither is a real date.
    fn post_date(&mut self, mapping: &Mapping, dated_name: Option<&dates::DatedName>) -> Option<DateTime<FixedOffset>> {
        if let Some(value) = mapping.get("date").filter(|v| !v.is_null()) {
            let position = self.key_position("date");
            let Some(text) = scalar_text(value) else {
                self.error(position, "`date` must be a date such as 2021-12-20 or 2021-12-20T10:00:00Z");
                return None;
            };
            return match parse_front_matter_date(&text) {
                Ok(date) => Some(date),
                Err(DateError::Impossible) => {
                    self.error(position, format!("date {} is not a real date", text.trim()));
                    None
                }
                Err(DateError::Unreadable) => {
                    self.error(
                        position,
                        format!("date `{}` is not a date such as 2021-12-20 or 2021-12-20T10:00:00+01:00", text.trim()),
                    );
                    None
                }
            };
        }
        match dated_name {
            Some(dated) => match ymd_date(dated.ymd) {
                Ok(date) => Some(midnight_utc(date)),
                Err(_) => {
                    let (y, m, d) = dated.ymd;
                    self.error((1, 1), format!("date {y:04}-{m:02}-{d:02} in the file name is not a real date"));
                    None
                }
            },
            None => {
                self.error(
                    (1, 1),
                    "post has no date: name the file YYYY-MM-DD-slug.md or set `date:` in the front matter",
                );
                None
            }
        }
    }

    fn last_update(&mut self, mapping: &Mapping) -> Option<DateTime<FixedOffset>> {
        let value = mapping.get("last_update")?;
        let text = match value {
            Value::Mapping(fields) => fields.get("date").and_then(scalar_text),
            other => scalar_text(other),
        }?;
        match parse_front_matter_date(&text) {
            Ok(date) => Some(date),
            Err(_) => {
                self.warning(
                    self.key_position("last_update"),
                    format!("last_update date `{text}` ignored: not a real date"),
                );
                None
            }
        }
    }

    fn tags(&mut self, mapping: &Mapping) -> Vec<PostTag> {
        let mut labels = Vec::new();
        match mapping.get("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Sequence(items)) => {
                for item in items {
                    match item {
                        Value::Mapping(fields) => labels.extend(fields.get("label").and_then(scalar_text)),
                        other => match scalar_text(other) {
                            Some(label) => labels.push(label),
                            None => self.error(self.key_position("tags"), "each tag must be text"),
                        },
                    }
                }
            }
            Some(other) => match scalar_text(other) {
                Some(text) => labels.extend(text.split(',').map(str::to_string)),
                None => self.error(self.key_position("tags"), "`tags` must be a list of text"),
            },
        }
        let mut tags: Vec<PostTag> = Vec::new();
        for label in labels.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
            let tag = PostTag::new(label);
            if !tags.iter().any(|t| t.slug == tag.slug) {
                tags.push(tag);
            }
        }
        tags
    }

    fn authors(&mut self, mapping: &Mapping, known: &AuthorMap, site_url: &str) -> Vec<Author> {
        let mut found = Vec::new();
        let items: Vec<&Value> = match mapping.get("authors") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items.iter().collect(),
            Some(other) => vec![other],
        };
        for item in items {
            match item {
                Value::Mapping(fields) => {
                    let key = fields.get("key").and_then(scalar_text);
                    let mut problems = Vec::new();
                    let inline = authors::author_from_mapping(fields, &mut problems);
                    for problem in problems {
                        self.warning(self.key_position("authors"), format!("author: {problem}"));
                    }
                    // `{ key: ada, title: … }` is an authors.yml entry with fields overridden.
                    match (key.and_then(|k| known.get(&k).cloned()), inline) {
                        (Some(base), inline) => found.push(Author {
                            title: inline.as_ref().and_then(|a| a.title.clone()).or(base.title.clone()),
                            url: inline.as_ref().and_then(|a| a.url.clone()).or(base.url.clone()),
                            image_url: inline.as_ref().and_then(|a| a.image_url.clone()).or(base.image_url.clone()),
                            ..base
                        }),
                        (None, Some(author)) => found.push(author),
                        (None, None) => self.error(self.key_position("authors"), "an inline author needs a `name`"),
                    }
                }
                other => match scalar_text(other) {
                    Some(key) => match known.get(key.trim()) {
                        Some(author) => found.push(author.clone()),
                        None => self.error(
                            self.key_position("authors"),
                            format!("author `{}` is not in authors.yml", key.trim()),
                        ),
                    },
                    None => {
                        self.error(self.key_position("authors"), "`authors` must be keys of authors.yml or objects")
                    }
                },
            }
        }
        if let Some(name) = self.text_field(mapping, "author").filter(|n| !n.trim().is_empty()) {
            let url = self.text_field(mapping, "authorURL");
            let image_url = self.text_field(mapping, "authorImageURL");
            let title = self.text_field(mapping, "authorTitle");
            found.push(Author { name: name.trim().to_string(), title, url, image_url, email: None });
        }
        let site_base = format!("{site_url}/");
        for author in &mut found {
            for (field, value) in [("url", &mut author.url), ("image_url", &mut author.image_url)] {
                let Some(reference) = value.take() else { continue };
                *value = remembered_web_url(&site_base, &reference);
                if value.is_none() {
                    let message =
                        format!("author `{}`: {field} `{reference}` is not a web address; left out", author.name);
                    self.warning(self.key_position("authors"), message);
                }
            }
        }
        found
    }
}

/// [`urls::web_url`], remembered per thread: every post by an author of
/// authors.yml names the same addresses, and parsing them again for each
/// post was 2% of a build. At most a few thousand are remembered.
fn remembered_web_url(base: &str, reference: &str) -> Option<String> {
    type Seen = std::collections::HashMap<String, std::collections::HashMap<String, Option<String>>>;
    thread_local! {
        static SEEN: std::cell::RefCell<Seen> = std::cell::RefCell::new(Seen::new());
    }
    SEEN.with_borrow_mut(|seen| {
        if let Some(url) = seen.get(base).and_then(|by_reference| by_reference.get(reference)) {
            return url.clone();
        }
        let url = urls::web_url(base, reference);
        let by_reference = seen.entry(base.to_string()).or_default();
        if by_reference.len() >= 4096 {
            by_reference.clear();
        }
        by_reference.insert(reference.to_string(), url.clone());
        url
    })
}

/// Docusaurus takes a post's title from a leading `# Heading` when the front
/// matter has none; the heading (this byte range of the body) is then removed
/// from the body, the line left blank so line numbers hold.
fn heading_title(body: &str) -> Option<(String, std::ops::Range<usize>)> {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        let content = line.trim_end();
        if content.trim().is_empty() || content.starts_with("import ") || content.starts_with("export ") {
            offset += line.len();
            continue;
        }
        let title = content.strip_prefix("# ")?.trim().trim_end_matches('#').trim().to_string();
        if title.is_empty() {
            return None;
        }
        return Some((title, offset..offset + content.len()));
    }
    None
}

fn midnight_utc(date: NaiveDate) -> DateTime<FixedOffset> {
    date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().fixed_offset()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_heading_becomes_the_title() {
        let body = "\n# Validating traffic\n\nHello";
        let (title, range) = heading_title(body).unwrap();
        assert_eq!(title, "Validating traffic");
        assert_eq!(&body[range], "# Validating traffic");
        assert_eq!(heading_title("Text first\n# Not a title"), None);
    }
}
