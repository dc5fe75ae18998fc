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
Environment: NEWSROOM_NOW (RFC 3339 instant that replaces the clock), NEWSROOM_UNSUBSCRIBE_SECRET (HMAC key of unsubscribe tokens), NEWSROOM_SMTP_URL (the relay for `digest send`)."
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
    /// Record that ADDRESS must never get a digest again (kept in the ledger, honoured by every later send).
    Unsubscribe {
        /// The address to suppress.
        address: String,
    },
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
    /// Send the month's digest to every active subscriber over SMTP, exactly once, resumably.
    ///
    /// The relay comes from NEWSROOM_SMTP_URL (smtp://host:port, smtps://user:pass@host:465;
    /// TLS is required for any host that is not this machine). NEWSROOM_UNSUBSCRIBE_SECRET
    /// must be set. The recipient list is frozen in the ledger (delivery.ledger) when the
    /// digest's first send starts; a re-run skips what was sent, retries transient failures,
    /// and reports messages interrupted mid-send as ambiguous instead of sending them twice.
    /// Exit status 0 only if every message was sent.
    Send(SendArgs),
    /// What the ledger knows of a digest: sent, failed, pending, ambiguous, and who.
    Status(MonthArg),
}

#[derive(Debug, Args)]
pub struct MonthArg {
    /// The digest's month, YYYY-MM (default: the previous calendar month).
    #[arg(long, value_name = "YYYY-MM")]
    pub month: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub month: MonthArg,
    /// SMTP connections used at once (default: delivery.concurrency, 4).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// At most N messages per second (default: delivery.rate; 0 = as fast as the relay takes them).
    #[arg(long, value_name = "N")]
    pub rate: Option<f64>,
    /// Also retry messages the relay refused permanently (5xx) in an earlier run.
    #[arg(long)]
    pub retry_failed: bool,
    /// Also resend messages whose fate is unknown (the connection dropped after the
    /// message was transmitted): their recipients may get the digest twice.
    #[arg(long)]
    pub resend_ambiguous: bool,
    /// Send one copy, with a [TEST] subject prefix, to ADDRESS only; the ledger is not touched.
    #[arg(long, value_name = "ADDRESS")]
    pub test_to: Option<String>,
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub month: MonthArg,
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
