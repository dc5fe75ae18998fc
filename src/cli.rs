//! The command line: clap-derive definitions only. Each command's behaviour
//! lives in the library; `main.rs` calls it and maps the result to an exit code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Turns a folder of Docusaurus-style Markdown posts into RSS, Atom and JSON
/// feeds and a monthly email digest.
#[derive(Debug, Parser)]
#[command(name = "newsroom", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 success, 1 some work failed (bad posts, failed deliveries), 2 usage or configuration error.\n\
Environment: NEWSROOM_NOW (RFC 3339 instant that replaces the clock), NEWSROOM_UNSUBSCRIBE_SECRET (HMAC key of unsubscribe tokens)."
)]
pub struct Cli {
    /// Run in the site folder DIR (the one holding newsroom.yaml) instead of the current directory.
    #[arg(short = 'C', value_name = "DIR", global = true, default_value = ".")]
    pub site_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write the feeds (site-wide and per tag) and the posts' local files into public/.
    ///
    /// The output is replaced atomically: a build that fails leaves the previous
    /// public/ untouched. Posts with errors stop the build unless --keep-going.
    Build(BuildArgs),
    /// Read posts and configuration and print every problem as path:line:col; write nothing.
    ///
    /// Errors come first, then warnings. Exit status 1 if there is any error.
    /// Also checks the subscriber file and templates/digest.md.
    Check,
    /// The monthly email digest: preview it as files, send it, see how a send went.
    #[command(subcommand)]
    Digest(DigestCommand),
}

#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// The dry run: write exactly what `send` would transmit, as files.
    ///
    /// Writes DIR/YYYY-MM/index.html (the digest as the first subscriber sees it),
    /// digest.txt (its text part), messages/NNNNN-<address>.eml (the exact bytes
    /// for each active subscriber) and manifest.csv (every subscriber row, and why
    /// a row is skipped). Without NEWSROOM_UNSUBSCRIBE_SECRET a fixed development
    /// key signs the unsubscribe links, with a warning.
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The month to preview, YYYY-MM (default: the previous calendar month).
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
    /// Where to write (default: preview/ in the site folder); DIR/YYYY-MM is replaced as a whole.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Write into DIR instead of public/ in the site folder (DIR is replaced as a whole).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip posts with errors (each is reported) instead of refusing to build.
    #[arg(long)]
    pub keep_going: bool,
}
