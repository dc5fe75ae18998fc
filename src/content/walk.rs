//! Finding the post files: a walk of the posts folder, in a fixed order,
//! that does not follow symbolic links out of it.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::diagnostics::{Diagnostic, display_path};

/// The post files under `posts_dir`, sorted. Symbolic links that lead out of
/// the folder are reported and not followed; `_`- and `.`-prefixed entries are skipped.
pub(super) fn post_files(
    root: &Path,
    posts_dir: &Path,
    diagnostics: &mut Vec<Diagnostic>,
) -> anyhow::Result<Vec<PathBuf>> {
    let canonical_root = posts_dir.canonicalize()?;
    let mut files = Vec::new();
    // Unsorted walk, one sort at the end: `Path`'s order compares component
    // by component, which is the order of a walk sorted by name.
    let walker = walkdir::WalkDir::new(posts_dir).into_iter().filter_entry(|entry| {
        entry.depth() == 0 || !entry.file_name().to_str().is_some_and(|n| n.starts_with('_') || n.starts_with('.'))
    });
    for entry in walker {
        let entry = entry.map_err(|e| anyhow::anyhow!("failed to read the posts folder: {e}"))?;
        let path = entry.path();
        let is_post = matches!(path.extension().and_then(|e| e.to_str()), Some("md" | "mdx"));
        if !is_post {
            continue;
        }
        if entry.path_is_symlink() {
            let inside = path.canonicalize().is_ok_and(|target| target.starts_with(&canonical_root));
            if !inside {
                diagnostics.push(Diagnostic::warning(
                    display_path(root, path),
                    (1, 1),
                    "symbolic link leads outside the posts folder; not followed",
                ));
                continue;
            }
        }
        // The type read with the folder (no `stat`), except for links, which are followed.
        if entry.file_type().is_file() || (entry.path_is_symlink() && path.is_file()) {
            files.push(entry.into_path());
        }
    }
    // `Path`'s own comparison parses components; at 100k posts that sort
    // was 2% of a build, on one core.
    files.par_sort_unstable_by(|a, b| component_order(a, b));
    Ok(files)
}

/// The order of [`Path`]'s comparison (component by component) for clean
/// paths (no `.`, no doubled or trailing `/`, as a walk gives them),
/// compared as bytes: at the first difference, the path whose component
/// ends there (`/`) comes first, as the shorter component would.
fn component_order(a: &Path, b: &Path) -> std::cmp::Ordering {
    let (a, b) = (a.as_os_str().as_encoded_bytes(), b.as_os_str().as_encoded_bytes());
    match a.iter().zip(b).position(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some(at) => {
            let key = |byte: u8| if byte == b'/' { 0 } else { u16::from(byte) + 1 };
            key(a[at]).cmp(&key(b[at]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_by_bytes_is_path_order() {
        let names = [
            "p/a",
            "p/a-b",
            "p/a/b",
            "p/a.md",
            "p/a/b.md",
            "p/ab",
            "p/a b",
            "p/a/",
            "p/A",
            "p/é",
            "p/e",
            "p/a-b/c",
            "p/a/b/c",
            "p/2021-01-01-x.md",
            "p/2021-01-01-x/index.md",
            "p/2021-01-01-xy.md",
            "p",
            "q",
            "p0",
            "p/\\x",
        ];
        let paths: Vec<PathBuf> = names.iter().map(|n| PathBuf::from(n.trim_end_matches('/'))).collect();
        for a in &paths {
            for b in &paths {
                assert_eq!(component_order(a, b), a.cmp(b), "{} vs {}", a.display(), b.display());
            }
        }
    }
}
