//! Problems found in user content, reported as `path:line:col: severity: message`.
//!
//! Every stage that reads something a person wrote (posts, `authors.yml`,
//! `newsroom.yaml`, the subscriber CSV) reports what is wrong with it as a
//! [`Diagnostic`] instead of failing on the first problem, so `newsroom check`
//! can list every problem at once, the way compilers and linters do.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a problem is: errors stop `build` (unless `--keep-going`), warnings never do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem at one place in one file. Line and column are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub severity: Severity,
    pub message: String,
}

impl Diagnostic {
    pub fn error(path: impl Into<PathBuf>, (line, column): (usize, usize), message: impl Into<String>) -> Self {
        Diagnostic { path: path.into(), line, column, severity: Severity::Error, message: message.into() }
    }

    pub fn warning(path: impl Into<PathBuf>, (line, column): (usize, usize), message: impl Into<String>) -> Self {
        Diagnostic { path: path.into(), line, column, severity: Severity::Warning, message: message.into() }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// How many of `diagnostics` are errors and how many warnings.
pub fn counts(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    (errors, diagnostics.len() - errors)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}: {}", self.path.display(), self.line, self.column, self.severity, self.message)
    }
}

/// Orders diagnostics for printing: errors first, then by file and position,
/// so the output is stable from run to run.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.severity, &a.path, a.line, a.column, &a.message).cmp(&(b.severity, &b.path, b.line, b.column, &b.message))
    });
}

/// The 1-based line and column of byte `offset` in `text` (column counted in characters).
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A path shown relative to the site folder when it is inside it, as users typed it.
pub fn display_path(site_root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(site_root).map(Path::to_path_buf).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one_and_in_characters() {
        let text = "ab\ncdé\nf";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, "ab\ncdé".len()), (2, 4));
        assert_eq!(line_col(text, text.len()), (3, 2));
    }

    #[test]
    fn errors_sort_before_warnings() {
        let mut d = vec![Diagnostic::warning("a.md", (1, 1), "w"), Diagnostic::error("b.md", (9, 1), "e")];
        sort(&mut d);
        assert!(d[0].is_error());
        assert_eq!(d[0].to_string(), "b.md:9:1: error: e");
    }
}
