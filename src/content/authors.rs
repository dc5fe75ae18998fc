//! Post authors: `authors.yml` keys, inline objects, and the legacy
//! `author`/`authorURL`/`authorImageURL`/`authorTitle` fields.

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml::{Mapping, Value};

use super::front_matter::scalar_text;
use crate::diagnostics::Diagnostic;
use crate::yaml::{self, key_position};

/// One author of a post, as feeds and the digest show them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Author {
    pub name: String,
    pub title: Option<String>,
    /// A profile page, absolute.
    pub url: Option<String>,
    /// An avatar, absolute.
    pub image_url: Option<String>,
    pub email: Option<String>,
}

/// The authors of `authors.yml`, by key.
pub type AuthorMap = BTreeMap<String, Author>;

/// The file names Docusaurus looks for in the blog folder.
pub const AUTHORS_FILES: [&str; 2] = ["authors.yml", "authors.yaml"];

/// Fields an author entry may carry besides the ones newsroom uses.
const IGNORED_AUTHOR_KEYS: [&str; 4] = ["socials", "page", "description", "key"];

/// Reads `authors.yml` text. Problems are reported and the good entries kept.
pub fn parse_authors_file(text: &str, path: &Path, diagnostics: &mut Vec<Diagnostic>) -> AuthorMap {
    let mut authors = AuthorMap::new();
    let mapping = match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Mapping(mapping)) => mapping,
        Ok(Value::Null) => return authors,
        Ok(_) => {
            diagnostics.push(Diagnostic::error(path, (1, 1), "authors file must map author keys to objects"));
            return authors;
        }
        Err(error) => {
            let (line, column, message) = yaml::error_parts(&error, text, 1);
            diagnostics.push(Diagnostic::error(path, (line, column), message));
            return authors;
        }
    };
    for (key, value) in mapping {
        let Some(key) = scalar_text(&key) else {
            continue;
        };
        let position = key_position(text, &key).map(|(line, _)| (line, 1)).unwrap_or((1, 1));
        match value {
            Value::Mapping(fields) => {
                let mut problems = Vec::new();
                let author = author_from_mapping(&fields, &mut problems);
                for problem in problems {
                    diagnostics.push(Diagnostic::warning(path, position, format!("author `{key}`: {problem}")));
                }
                match author {
                    Some(author) => {
                        authors.insert(key, author);
                    }
                    None => {
                        diagnostics.push(Diagnostic::error(path, position, format!("author `{key}` has no `name`")))
                    }
                }
            }
            _ => diagnostics.push(Diagnostic::error(
                path,
                position,
                format!("author `{key}` must be an object with a `name`"),
            )),
        }
    }
    authors
}

/// An author from an object (`name`, `title`, `url`, `image_url`/`imageURL`, `email`).
/// Unknown keys go to `problems`; no name means no author.
pub fn author_from_mapping(fields: &Mapping, problems: &mut Vec<String>) -> Option<Author> {
    let mut author = Author::default();
    for (key, value) in fields {
        let Some(key) = key.as_str() else { continue };
        let text = || scalar_text(value).map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        match key {
            "name" => author.name = text().unwrap_or_default(),
            "title" => author.title = text(),
            "url" => author.url = text(),
            "image_url" | "imageURL" => author.image_url = text(),
            "email" => author.email = text(),
            other if IGNORED_AUTHOR_KEYS.contains(&other) => {}
            other => problems.push(format!("unknown key `{other}` ignored")),
        }
    }
    (!author.name.is_empty()).then_some(author)
}
