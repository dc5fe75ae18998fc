//! Where a post is published: its permalink, made as Docusaurus makes it
//! (from the front matter `slug`, else the file's date and name), the URL
//! of its folder for relative references, and the rule that two posts never
//! share a permalink.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::dates::DatedName;
use crate::diagnostics::Diagnostic;
use crate::urls;

/// The post's name (file stem, or folder name for `…/index.md`) and its folder
/// relative to the posts folder (`""` or ending in `/`).
pub(super) fn post_name(relative: &Path) -> (String, String) {
    let stem = relative.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
    let parent = relative.parent().filter(|p| !p.as_os_str().is_empty());
    let folder = parent.map(|p| format!("{}/", p.to_string_lossy().replace('\\', "/"))).unwrap_or_default();
    if stem == "index"
        && let Some(dir_name) = parent.and_then(|p| p.file_name()).and_then(|n| n.to_str())
    {
        return (dir_name.to_string(), folder);
    }
    (stem, folder)
}

/// `{blog_url}{slug}` for a front matter `slug` (without its slashes), else
/// `{blog_url}{yyyy}/{mm}/{dd}/{name}` for a dated file name, else
/// `{blog_url}{name stem}`; percent-encoded.
pub(super) fn permalink(blog_url: &str, slug: Option<&str>, dated_name: Option<&DatedName>, name_stem: &str) -> String {
    let path_part = match (slug, dated_name) {
        (Some(slug), _) => urls::encode_path(slug),
        (None, Some(dated)) => {
            let (y, m, d) = dated.ymd;
            let name =
                if dated.name.is_empty() { String::new() } else { format!("/{}", urls::encode_path(dated.name)) };
            format!("{y:04}/{m:02}/{d:02}{name}")
        }
        (None, None) => urls::encode_path(name_stem),
    };
    format!("{blog_url}{path_part}")
}

/// The absolute URL of a post's folder (relative to the posts folder, `""`
/// or ending in `/`): relative references in the post resolve against it.
pub fn folder_url(blog_url: &str, folder: &str) -> String {
    format!("{blog_url}{}", urls::encode_path(folder))
}

/// The permalinks of the posts loaded so far, each with its post's file.
///
/// Feeds identify entries by permalink: a second post at the same one would
/// give two entries one id, and readers would drop one of them.
#[derive(Debug, Default)]
pub(super) struct PermalinkOwners {
    owners: HashMap<String, PathBuf>,
}

impl PermalinkOwners {
    pub(super) fn with_capacity(posts: usize) -> PermalinkOwners {
        PermalinkOwners { owners: HashMap::with_capacity(posts) }
    }

    /// An error for the post `source` when another post already has `permalink`.
    pub(super) fn conflict(&self, permalink: &str, source: &Path) -> Option<Diagnostic> {
        let first = self.owners.get(permalink)?;
        Some(Diagnostic::error(
            source,
            (1, 1),
            format!(
                "permalink {permalink} is already the permalink of {}; give one of them another `slug`",
                first.display()
            ),
        ))
    }

    /// Records that `source` is published at `permalink`.
    pub(super) fn claim(&mut self, permalink: String, source: PathBuf) {
        self.owners.insert(permalink, source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_posts_take_the_folder_name() {
        assert_eq!(
            post_name(Path::new("2026-09-22-spotlight/index.md")),
            ("2026-09-22-spotlight".into(), "2026-09-22-spotlight/".into())
        );
        assert_eq!(post_name(Path::new("2026-09-22-a.mdx")), ("2026-09-22-a".into(), String::new()));
    }

    #[test]
    fn permalinks_come_from_the_slug_else_the_dated_name() {
        let blog = "https://x.org/blog/";
        let dated = DatedName { ymd: (2021, 2, 3), name: "a b" };
        assert_eq!(permalink(blog, Some("my/slug"), Some(&dated), "2021-2-3-a b"), "https://x.org/blog/my/slug");
        assert_eq!(permalink(blog, None, Some(&dated), "2021-2-3-a b"), "https://x.org/blog/2021/02/03/a%20b");
        assert_eq!(permalink(blog, None, None, "undated"), "https://x.org/blog/undated");
    }
}
