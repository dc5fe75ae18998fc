//! The `newsroom` binary: parses arguments, calls the library, prints, and
//! maps the outcome to an exit code (0 success, 1 work failed, 2 usage or
//! configuration error).

mod cli;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command, DigestCommand};
use newsroom::config::ConfigError;
use newsroom::delivery::{self, SendOptions, SetupError};
use newsroom::digest::{Month, preview};
use newsroom::site::{self, BuildOptions, Site};

/// mimalloc instead of glibc's malloc: rendering allocates many small,
/// short-lived strings and trees (parser events, the sanitiser's DOM) on
/// two threads at once, and glibc's allocator was an eighth of build's
/// profile (`perf`, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            if is_broken_pipe(&error) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            if error.chain().any(|e| e.is::<ConfigError>() || e.is::<SetupError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let now = newsroom::clock::now()?;
    let site = match Site::open(&cli.site_dir) {
        Ok(site) => site,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Ok(ExitCode::from(2));
        }
    };
    match cli.command {
        Command::Build(args) => {
            let options = BuildOptions { out_dir: args.out, keep_going: args.keep_going };
            let report = site::build(&site, &options, now)?;
            let mut stderr = std::io::stderr().lock();
            for diagnostic in report.diagnostics.iter().filter(|d| d.is_error()) {
                writeln!(stderr, "{diagnostic}")?;
            }
            if !report.written {
                writeln!(
                    stderr,
                    "build stopped: {} error(s) in {} post(s); nothing was written (fix them, or use --keep-going to skip those posts)",
                    report.errors(),
                    report.skipped.len()
                )?;
                return Ok(ExitCode::from(1));
            }
            for skipped in &report.skipped {
                writeln!(stderr, "skipped {}", skipped.display())?;
            }
            if report.warnings() > 0 {
                writeln!(stderr, "{} warning(s); run `newsroom check` to see them", report.warnings())?;
            }
            println!(
                "built {} post(s) into {}: {} feed set(s), {} digest archive page(s), {} file(s) copied{}",
                report.listed_posts,
                report.out_dir.display(),
                report.feed_sets,
                report.digest_archives,
                report.assets_copied,
                if report.skipped.is_empty() {
                    String::new()
                } else {
                    format!(", {} post(s) skipped", report.skipped.len())
                }
            );
            Ok(if report.skipped.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Digest(command) => run_digest(&site, command, now),
        Command::Unsubscribe { address } => {
            let (address, added) = delivery::unsubscribe(&site, &address)?;
            if added {
                println!("{address} is unsubscribed: no later send will mail it");
            } else {
                println!("{address} was already unsubscribed");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let diagnostics = site::check(&site, now)?;
            let mut stdout = std::io::stdout().lock();
            for diagnostic in &diagnostics {
                writeln!(stdout, "{diagnostic}")?;
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            writeln!(stdout, "{} error(s), {} warning(s)", errors, diagnostics.len() - errors)?;
            Ok(if errors > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
    }
}

/// The month of a digest command: `--month`, or the previous calendar month.
/// A malformed month is a usage error (exit status 2).
fn digest_month(month: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Result<Month> {
    match month {
        Some(text) => text.parse().map_err(|message: String| SetupError(message).into()),
        None => Ok(Month::previous(now)),
    }
}

fn run_digest(site: &Site, command: DigestCommand, now: chrono::DateTime<chrono::Utc>) -> Result<ExitCode> {
    match command {
        DigestCommand::Preview(args) => {
            let month = digest_month(args.month.month.as_deref(), now)?;
            let out = args.out.unwrap_or_else(|| site.root.join("preview"));
            let report = preview::preview(site, month, &out, now)?;
            for diagnostic in &report.diagnostics {
                eprintln!("{diagnostic}");
            }
            for warning in &report.warnings {
                eprintln!("warning: {warning}");
            }
            match &report.dir {
                None => println!("no posts in {} ({month}): nothing to send, nothing written", month.label()),
                Some(dir) => println!(
                    "previewed the {} digest ({} post(s)) in {}: {} message(s), {} subscriber(s) skipped",
                    month.label(),
                    report.posts,
                    dir.display(),
                    report.messages,
                    report.skipped
                ),
            }
            let failed = report.diagnostics.iter().any(|d| d.is_error());
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        DigestCommand::Send(args) => {
            let month = digest_month(args.month.month.as_deref(), now)?;
            let options = SendOptions {
                month,
                concurrency: args.concurrency.unwrap_or(site.config.delivery.concurrency),
                rate: args.rate.unwrap_or(site.config.delivery.rate),
                retry_failed: args.retry_failed,
                resend_ambiguous: args.resend_ambiguous,
                test_to: args.test_to,
                progress_bar: true,
            };
            let report = delivery::send(site, &options, now)?;
            if report.nothing_to_send {
                println!("no posts in {} ({month}): nothing to send", month.label());
                return Ok(ExitCode::SUCCESS);
            }
            if report.recovered_ambiguous > 0 {
                eprintln!(
                    "warning: {} message(s) were being sent when an earlier run stopped; they are reported as ambiguous and not resent (--resend-ambiguous to override)",
                    report.recovered_ambiguous
                );
            }
            println!("{report}");
            Ok(if report.failed() { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        DigestCommand::Status(args) => {
            let month = digest_month(args.month.as_deref(), now)?;
            print!("{}", delivery::status(site, month)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
