//! The errors that mean "nothing was done" (exit status 2): a problem with
//! how newsroom was set up or asked, as opposed to work that failed. A
//! leaf: every layer may return them, and `main` maps them to the exit
//! status in one place.

use std::fmt;
use std::path::PathBuf;

/// A usage or configuration error: exit status 2, nothing done.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// Problems in `newsroom.yaml`, a template, or an input the
    /// configuration names; each carries its place.
    #[error("{0}")]
    Configuration(#[from] ConfigErrors),
    /// Something the environment must provide (a relay, a secret, a CA file).
    #[error("{0}")]
    Environment(String),
    /// A value on the command line (`--month 2026-13`, an address).
    #[error("{0}")]
    Argument(String),
    /// Another process holds what this one needs (a second sender of one digest).
    #[error("{0}")]
    Busy(String),
}

impl From<ConfigError> for UsageError {
    fn from(error: ConfigError) -> Self {
        UsageError::Configuration(error.into())
    }
}

/// A configuration problem with its place in the file, printed as
/// `path:line:col: error: message` like every other problem newsroom reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl ConfigError {
    pub fn new(path: impl Into<PathBuf>, (line, column): (usize, usize), message: impl Into<String>) -> Self {
        ConfigError { path: path.into(), line, column, message: message.into() }
    }

    /// The same problem as a diagnostic, for reports that list every problem.
    pub fn to_diagnostic(&self) -> crate::diagnostics::Diagnostic {
        crate::diagnostics::Diagnostic::error(&self.path, (self.line, self.column), self.message.clone())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: error: {}", self.path.display(), self.line, self.column, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a configuration, or with the inputs it names: a
/// usage or configuration error (exit status 2). Printed one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}
