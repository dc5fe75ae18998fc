//! `topics:`: what a reader can choose the digest to be about (issue 29;
//! DESIGN.md, "Editions, topics and preferences"). A topic is a named set
//! of post tags; a post belongs to every topic one of its tags is in, and
//! a post no topic claims goes to everyone or to nobody
//! (`digest.untagged`).
//!
//! Topics keep the order they are written in (it is the order a reader
//! sees them on the sign-up and preference pages), so the section is read
//! as an ordered map. A key names the topic in URLs
//! (`public/topics/<key>/feed.xml`), in the subscriber file's `topics`
//! column (`;`-separated) and in the consent history, so it is a short
//! lower-case word; tags are matched by their slug ([`crate::urls::tag_slug`]),
//! as the tag feeds are, so `Release` and `release` are one tag.
//!
//! Without `topics:` nothing changes: every post is for everyone.

use indexmap::IndexMap;
use serde::Deserialize;

/// The longest topic key, in characters.
pub const MAX_KEY_CHARS: usize = 40;

/// One topic as written under `topics:`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopicText {
    title: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

/// `topics:` as written, in order.
pub(super) type TopicsText = IndexMap<String, TopicText>;

/// One topic, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The key it is written under: its name in URLs, files and events.
    pub key: String,
    /// What readers see; the key when not written.
    pub title: String,
    /// The line under the title on the pages; may be empty.
    pub description: String,
    /// The slugs of its tags, in the order written, without repeats.
    pub tags: Vec<String>,
}

impl Topic {
    /// Whether a post with a tag of this slug belongs to the topic.
    pub fn claims(&self, tag_slug: &str) -> bool {
        self.tags.iter().any(|tag| tag == tag_slug)
    }
}

/// What happens to a post no topic claims (`digest.untagged`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Untagged {
    /// It goes to every reader, whatever topics they chose (the default:
    /// a post the owner did not file under a topic is still news).
    #[default]
    Everyone,
    /// It goes to nobody's digest (it stays in the site's feeds).
    None,
}

impl std::str::FromStr for Untagged {
    type Err = String;

    fn from_str(text: &str) -> Result<Untagged, String> {
        match text.trim() {
            "everyone" => Ok(Untagged::Everyone),
            "none" => Ok(Untagged::None),
            other => Err(format!("`{other}` is not one of everyone, none")),
        }
    }
}

/// The site's topics, checked, in the order written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Topics {
    pub topics: Vec<Topic>,
}

impl Topics {
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// The topic written under `key`.
    pub fn get(&self, key: &str) -> Option<&Topic> {
        self.topics.iter().find(|topic| topic.key == key)
    }
}

/// Checks `topics:` as written; each problem with the topic's key.
pub(super) fn check(text: TopicsText) -> Result<Topics, Vec<(String, String)>> {
    let mut problems = Vec::new();
    let mut topics = Vec::new();
    for (key, written) in text {
        let valid_key = !key.is_empty()
            && key.chars().count() <= MAX_KEY_CHARS
            && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !valid_key {
            problems.push((
                key.clone(),
                format!(
                    "topics: `{key}` is not a topic key: use lower-case letters, digits, `-` and `_`, at most {MAX_KEY_CHARS} characters, such as `releases` (it names the topic in URLs and in the subscriber file)"
                ),
            ));
            continue;
        }
        let mut tags: Vec<String> = Vec::new();
        for label in written.tags.iter().map(|tag| tag.trim()).filter(|tag| !tag.is_empty()) {
            let slug = crate::urls::tag_slug(label);
            if !tags.contains(&slug) {
                tags.push(slug);
            }
        }
        if tags.is_empty() {
            problems.push((
                key.clone(),
                format!(
                    "topics.{key}: a topic needs at least one tag (`tags: [release]`): it is the posts of its tags"
                ),
            ));
            continue;
        }
        let given = |value: Option<String>| value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        topics.push(Topic {
            title: given(written.title).unwrap_or_else(|| key.clone()),
            description: given(written.description).unwrap_or_default(),
            key,
            tags,
        });
    }
    if problems.is_empty() { Ok(Topics { topics }) } else { Err(problems) }
}
