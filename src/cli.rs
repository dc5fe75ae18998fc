//! The command line: clap-derive definitions only. Each command's behaviour
//! lives in the library; `main.rs` calls it and maps the result to an exit code.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Turns a folder of Docusaurus-style Markdown posts into RSS, Atom and JSON
/// feeds and a monthly email digest.
#[derive(Debug, Parser)]
#[command(name = "newsroom", version, about, long_about = None)]
#[command(
    after_help = "Exit status: 0 success, 1 some work failed (bad posts, failed deliveries), 2 usage or configuration error, 130 `digest send` interrupted.\n\
Environment: NEWSROOM_NOW (RFC 3339 instant that replaces the clock), NEWSROOM_UNSUBSCRIBE_SECRET (HMAC key of unsubscribe tokens), NEWSROOM_SMTP_URL (the relay for `digest send`).\n\
New here? `newsroom init my-blog` makes a starter site and says what to run next."
)]
pub struct Cli {
    /// Run in the site folder DIR (the one holding newsroom.yaml) instead of the current directory; paths given to a command (--out, FILE) are relative to DIR, as with `git -C`.
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
    /// Errors come first, then warnings. Exit status 2 if the configuration, or
    /// an input it names (the posts folder, the subscriber file), has a
    /// problem; 1 if a post or the subscriber file has an error. Also checks
    /// templates/digest.md, warns about the keys `digest send` needs, and says
    /// which posts are scheduled (dated after now).
    Check(JsonArg),
    /// The monthly email digest: preview it as files, send it, see how a send went.
    #[command(subcommand)]
    Digest(DigestCommand),
    /// Record that ADDRESS must never get a digest again (status `unsubscribed` in the store, with an event; honoured by every later send and preview, and never undone by a subscriber file).
    ///
    /// Any spelling of the address is matched (`BOB@Birds.Test` is `bob@birds.test`).
    /// An address that is not on the list is recorded too, and you are told so.
    Unsubscribe {
        /// The address to suppress.
        address: String,
    },
    /// The subscriber store: list, add, remove, import, export, show, forget.
    ///
    /// The store (`store:` in newsroom.yaml, `.newsroom/newsroom.sqlite` by
    /// default) holds every subscriber with their consent history. An opt-out
    /// (unsubscribed, bounced, complained) is never undone by a subscriber
    /// file; `subscribers add --resubscribe` undoes it, on the record.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// The web service readers reach: the unsubscribe links of every digest.
    ///
    /// A POST of RFC 8058's `List-Unsubscribe=One-Click` to a message's
    /// List-Unsubscribe URL unsubscribes at once (committed before the
    /// answer); a GET shows a page with an "Unsubscribe" button and changes
    /// nothing (link scanners open every link). Needs
    /// NEWSROOM_UNSUBSCRIBE_SECRET, the key `digest send` signed the links
    /// with. Serves plain HTTP: put a TLS proxy in front (docs/deploy.md),
    /// and set `serve.public_url` to the address readers see. Stops on
    /// SIGTERM or Ctrl-C, after the requests in flight.
    Serve(ServeArgs),
    /// Read mail that came back (bounces, complaints, mail to the unsubscribe address) and record it in the store.
    ///
    /// Each message is classified: a delivery status notification (RFC 3464;
    /// status 5.x.x hard, 4.x.x soft), a bounce without one, an ARF complaint
    /// (RFC 5965: suppressed at once), mail to digest.unsubscribe_mailto (an
    /// unsubscribe), an auto-reply (ignored), or unrecognised. Bounces count
    /// against delivery.bounces (default: 1 hard, or 3 soft in 30 days, make
    /// a subscriber `bounced`). Whom a message is about comes from the VERP
    /// token of delivery.return_path when the mail carries one. Only signed
    /// tokens act: with delivery.return_path set, a bounce acts only through
    /// its VERP token; a complaint only through a token in its reported
    /// original; a mailto unsubscribe through its token, or when the MTA of
    /// inbound.authserv_id authenticated its From (Authentication-Results:
    /// dmarc=pass or an aligned dkim=pass). Anything else is an unverified
    /// request: reported, listed by `digest status`, and changes nothing.
    /// The same message read twice changes nothing. A message over 10 MiB
    /// is not read. Needs NEWSROOM_UNSUBSCRIBE_SECRET, the key the tokens
    /// were signed with. Exit status 0 when every message was read
    /// (unrecognised and oversized ones included), 1 when one could not be;
    /// from standard input, 75 (EX_TEMPFAIL, so an MTA retries later) when
    /// the message could not be recorded, and 65 (EX_DATAERR, so the MTA
    /// returns it, nothing kept) when it is over 10 MiB.
    Inbound(InboundArgs),
    /// The store itself: bring its schema up to date, or copy it to another
    /// (SQLite to PostgreSQL and back).
    ///
    /// The store is `store:` in newsroom.yaml (a SQLite file, by default
    /// .newsroom/newsroom.sqlite, or a postgres:// URL), or
    /// NEWSROOM_STORE_URL, which wins (keep a password there, in the
    /// deployment's secrets).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Make a starter site: newsroom.yaml (every key explained), an example
    /// post, templates/, subscribers.csv, .gitignore; then say what to run.
    ///
    /// Refuses to overwrite: if any of those files exists, nothing is written.
    Init(InitArgs),
    /// Print a fresh NEWSROOM_UNSUBSCRIBE_SECRET: 32 random bytes as 64 hex digits.
    ///
    /// The secret signs every unsubscribe, confirmation and return-path
    /// token; commands refuse one shorter than 32 bytes. Keep it out of the
    /// repository and keep it for good: links already mailed are checked
    /// against it. `newsroom secret > secret.env` then edit the file to
    /// `NEWSROOM_UNSUBSCRIBE_SECRET=…`, or
    /// `echo "NEWSROOM_UNSUBSCRIBE_SECRET=$(newsroom secret)" >> .env`.
    Secret,
    /// Print a shell completion script: `newsroom completions bash > ~/.local/share/bash-completion/completions/newsroom`.
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (newsroom.1), or write one page per command into DIR.
    ///
    /// `newsroom man | man -l -` reads it; `newsroom man --out ~/.local/share/man/man1` installs it.
    Man {
        /// Write newsroom.1 and newsroom-<command>.1 into DIR instead of printing newsroom.1.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print the report as JSON (a stable shape, documented in the README) instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address and port to listen on (default: `serve.listen`, else 127.0.0.1:8080; port 0 picks a free one, printed at start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Also show the writer's preview: the built site (public/) at /public/ and the digest previews (preview/YYYY-MM/) at /preview/, each message with its headers, HTML and text. A preview names every subscriber: offered on a loopback address only.
    #[arg(long)]
    pub preview: bool,
    /// With --preview: build and preview the digest now, and again whenever a post, a template or newsroom.yaml changes; an open preview page reloads itself.
    #[arg(long, requires = "preview")]
    pub watch: bool,
    /// With --watch: the digest month to preview (default: the current month, the one being written).
    #[arg(long, value_name = "YYYY-MM", requires = "watch", conflicts_with = "edition")]
    pub month: Option<String>,
    /// With --watch: the edition to preview, by its name (monthly/YYYY-MM, weekly/YYYY-Www,
    /// daily/YYYY-MM-DD; default: the current period of the site's cadence).
    #[arg(long, value_name = "NAME", requires = "watch")]
    pub edition: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Create the store's tables, or bring them up to this release's schema.
    ///
    /// Every command does this when it opens the store; this does it on its
    /// own (a deployment step before serve and send start) and says what
    /// changed. On PostgreSQL, processes that start together take turns.
    Migrate {
        /// Change nothing: exit 1 if migrations are due, 0 if none.
        #[arg(long)]
        check: bool,
    },
    /// Copy a whole store, with every subscriber's history, the forgotten
    /// addresses and the delivery ledger, into an empty one.
    ///
    /// FROM and TO are each a SQLite file or a postgres:// URL. Ids are kept
    /// (the unsubscribe links already mailed name them), and the destination
    /// never gives out an id the source gave. A destination that holds
    /// anything is refused, and nothing is written. Stop serve and send first:
    /// the copy is of the source as it was when the copy began.
    Copy {
        /// The store to read: a SQLite file or a postgres:// URL.
        #[arg(long, value_name = "STORE")]
        from: String,
        /// The store to write, created or migrated when needed: a SQLite file or a postgres:// URL.
        #[arg(long, value_name = "STORE")]
        to: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct InboundArgs {
    /// A Maildir the MTA delivers into, read one message at a time: each handled message moves to its `.Done` folder (never deleted), an unrecognised one to `.Unrecognised`, one over 10 MiB to `.Oversized` unread.
    #[arg(long, value_name = "DIR")]
    pub maildir: Option<PathBuf>,
    /// An mbox file: streamed one message at a time, never changed (a message over 10 MiB is skipped unread).
    #[arg(long, value_name = "FILE")]
    pub mbox: Option<PathBuf>,
    /// `-`: one message on standard input, as an MTA's pipe gives it (Postfix `pipe`, an aliases `|command`), read to its end; an unrecognised one is kept in the Maildir .newsroom/inbound-unrecognised/ beside the store; one over 10 MiB exits 65 (EX_DATAERR) and nothing is kept.
    #[arg(value_name = "-", value_parser = ["-"])]
    pub stdin: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to create the site in (default: the -C folder, else the current one).
    pub dir: Option<PathBuf>,
    /// The blog's title (site.title).
    #[arg(long, default_value = "My Community Blog")]
    pub title: String,
    /// The address the blog is published at (site.url).
    #[arg(long, default_value = "https://blog.example.org")]
    pub url: String,
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
    /// must be set. The recipient list is frozen in the store (`store:`) when the
    /// digest's first send starts; a re-run skips what was sent, retries transient failures,
    /// and reports messages interrupted mid-send as ambiguous instead of sending them twice.
    /// Exit status 1 if this run had a message refused, failed or left in doubt, or left
    /// any to send; what an earlier run settled (refusals, ambiguous messages) is said
    /// again but is not a failure again (`digest status --list STATE` names them).
    ///
    /// A month is sent once it has ended: `--month` of the current month is refused
    /// (exit status 2) unless `--unfinished`; `--test-to` sends any month.
    /// Refuses to start (exit status 2) while digest.from, digest.postal_address or
    /// digest.unsubscribe_url is not set. The first Ctrl-C (or SIGTERM) stops
    /// starting new messages, lets those in flight finish, prints the summary
    /// and exits with 130; a second one stops at once. When the same permanent
    /// refusal comes for delivery.stop_after_identical_refusals recipients in a
    /// row (50), the relay refuses everyone: the run stops, the rest stay pending.
    Send(SendArgs),
    /// What the store knows of a digest's delivery: counts per state and the most common failure replies.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub month: MonthArg,
    /// Also list the addresses in STATE (with attempts and the relay's reply).
    #[arg(long, value_name = "STATE", value_parser = ["pending", "sending", "sent", "failed_transient", "failed_permanent", "ambiguous", "suppressed"])]
    pub list: Option<String>,
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Args)]
pub struct MonthArg {
    /// The digest's month, YYYY-MM (default: the previous calendar month).
    #[arg(long, value_name = "YYYY-MM", conflicts_with = "edition")]
    pub month: Option<String>,
    /// The edition, by its name: monthly/YYYY-MM (the same as --month YYYY-MM),
    /// weekly/YYYY-Www, daily/YYYY-MM-DD or post/SLUG. This release sends
    /// monthly editions only.
    #[arg(long, value_name = "NAME")]
    pub edition: Option<String>,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub month: MonthArg,
    /// Send every edition of the site's cadence whose period has ended and
    /// that the store has not sent, oldest first, and nothing else: the one
    /// command a timer runs, safe to run as often as you like. The first one
    /// sends only the latest ended edition, never the blog's history.
    #[arg(long, conflicts_with_all = ["month", "edition", "test_to"])]
    pub due: bool,
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
    /// How long the recipients this sender has claimed stay its own if it dies, in seconds.
    /// Several `digest send` processes may run the same digest on a PostgreSQL store,
    /// each claiming rows as it goes; a killed one's rows go to the others when its lease
    /// lapses (its messages in flight are then reported ambiguous, never sent twice).
    #[arg(long, value_name = "SECONDS", default_value_t = newsroom::delivery::DEFAULT_LEASE.as_secs(), value_parser = clap::value_parser!(u64).range(3..))]
    pub lease: u64,
    /// Send one copy, with a [TEST] subject prefix, to ADDRESS only; the store is not touched.
    /// Any month may be sent this way, finished or not.
    #[arg(long, value_name = "ADDRESS")]
    pub test_to: Option<String>,
    /// Send a month that has not ended yet (by NEWSROOM_NOW or the clock), or one
    /// with a post still scheduled. Without it such a send is refused: the digest
    /// would be frozen without the rest of the month's posts, and they would
    /// reach nobody. The store records it (`digest status` shows it).
    #[arg(long, conflicts_with = "test_to")]
    pub unfinished: bool,
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
    #[command(flatten)]
    pub json: JsonArg,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Every subscriber, or those in one status.
    List {
        /// Only subscribers in this status.
        #[arg(long, value_name = "STATUS", value_parser = ["pending", "subscribed", "unsubscribed", "bounced", "complained", "removed"])]
        status: Option<String>,
        /// How to print them.
        #[arg(long, value_enum, default_value_t = ListFormat::Table)]
        format: ListFormat,
    },
    /// Add ADDRESS (or subscribe it again if it was removed or pending).
    Add {
        address: String,
        /// The subscriber's name (for the greeting and the To header).
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Also undo an opt-out (unsubscribed, bounced, complained) or an
        /// erasure: only when the reader asked for it. Recorded as an event.
        #[arg(long)]
        resubscribe: bool,
    },
    /// Take ADDRESS off the list by hand (status `removed`; an opt-out stays an opt-out).
    Remove { address: String },
    /// Merge a subscriber file: new rows added, names and columns updated,
    /// the file's opt-outs applied, opt-outs in the store kept, and the
    /// subscribers of this file whose row is gone removed.
    Import {
        file: PathBuf,
        /// Say what would change, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Write every subscriber as CSV (status, source and times included) to
    /// FILE or standard output; `import` reads it back as it was.
    ///
    /// A cell a spreadsheet would evaluate as a formula (one starting with
    /// `=`, `+`, `-`, `@`, a tab or a carriage return: a name a reader typed
    /// on the sign-up form) is written with a leading `'`, which the
    /// spreadsheet shows as text; `import` of the export removes it again.
    Export {
        file: Option<PathBuf>,
        /// Write every value as stored, with no `'` before a cell a spreadsheet would evaluate.
        #[arg(long)]
        raw: bool,
    },
    /// A subscriber and every event of their history.
    Show { address: String },
    /// Erase ADDRESS on request: the subscriber, name, history and delivery
    /// rows are deleted; a keyed hash is kept so no import brings it back.
    Forget { address: String },
}

/// How `subscribers list` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Csv,
    Json,
}
