//! The `newsroom` binary: parses arguments, calls the library, prints, and
//! maps the outcome to an exit code (0 success, 1 work failed, 2 usage or
//! configuration error, 130 a send stopped by Ctrl-C).
//!
//! Everything goes to standard output through [`Out`], whose writes return
//! errors instead of panicking: `newsroom digest status | head` ends with
//! exit status 0 when `head` closes the pipe, as ripgrep does.

mod cli;

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{CommandFactory, Parser};
use serde::Serialize;

use cli::{Cli, Command, DigestCommand};
use newsroom::config::{ConfigError, ConfigErrors};
use newsroom::delivery::ledger::State;
use newsroom::delivery::{self, SendOptions, SetupError, Stop};
use newsroom::diagnostics::Diagnostic;
use newsroom::digest::{Month, preview};
use newsroom::site::{self, BuildOptions, Scheduled, Site};

/// mimalloc instead of glibc's malloc: rendering allocates many small,
/// short-lived strings and trees (parser events, the sanitiser's DOM) on
/// two threads at once, and glibc's allocator was an eighth of build's
/// profile (`perf`, see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The exit status of a send that Ctrl-C or SIGTERM stopped (128 + SIGINT).
const INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            let mut stderr = std::io::stderr().lock();
            // Configuration problems carry their own `path:line:col: error:`.
            let _ = match (error.downcast_ref::<ConfigErrors>(), error.downcast_ref::<ConfigError>()) {
                (Some(problems), _) => writeln!(stderr, "{problems}"),
                (None, Some(problem)) => writeln!(stderr, "{problem}"),
                (None, None) => writeln!(stderr, "error: {error:#}"),
            };
            if error.chain().any(|e| e.is::<ConfigErrors>() || e.is::<ConfigError>() || e.is::<SetupError>()) {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// Standard output, locked, for one command's report.
type Out = std::io::StdoutLock<'static>;

fn run(cli: Cli) -> Result<ExitCode> {
    let now = newsroom::clock::now()?;
    let mut out = std::io::stdout().lock();
    // Commands that need no site folder.
    match &cli.command {
        Command::Init(args) => return init(&mut out, args.dir.as_deref().unwrap_or(&cli.site_dir), args, now),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics when its writer fails (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "newsroom", &mut script);
            out.write_all(&script)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Man { out: dir } => return man(&mut out, dir.as_deref()),
        _ => {}
    }
    let json = match &cli.command {
        Command::Check(args) => args.json,
        Command::Build(args) => args.json.json,
        Command::Digest(DigestCommand::Status(args)) => args.json.json,
        _ => false,
    };
    let site = match Site::open(&cli.site_dir) {
        Ok(site) => site,
        // In JSON the configuration's problems are a report like any other.
        Err(problems) if json => {
            let diagnostics: Vec<Diagnostic> = problems.0.iter().map(|p| p.to_diagnostic()).collect();
            print_json(&mut out, &Problems::new(diagnostics, problems.0.len()))?;
            return Ok(ExitCode::from(2));
        }
        Err(problems) => return Err(problems.into()),
    };
    match cli.command {
        Command::Build(args) => build(&mut out, &site, args, now),
        Command::Check(args) => check(&mut out, &site, args.json, now),
        Command::Digest(command) => run_digest(&mut out, &site, command, now),
        Command::Unsubscribe { address } => unsubscribe(&mut out, &site, &address),
        Command::Init(_) | Command::Completions { .. } | Command::Man { .. } => unreachable!("handled above"),
    }
}

/// The part of every `--json` report that lists problems: each with its
/// place, and the counts. A configuration that cannot be read gives this alone.
#[derive(Serialize)]
struct Problems {
    errors: usize,
    warnings: usize,
    configuration_errors: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Problems {
    fn new(diagnostics: Vec<Diagnostic>, configuration_errors: usize) -> Problems {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        Problems { errors, warnings: diagnostics.len() - errors, configuration_errors, diagnostics }
    }
}

fn print_json(out: &mut Out, report: &impl Serialize) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

fn build(out: &mut Out, site: &Site, args: cli::BuildArgs, now: chrono::DateTime<chrono::Utc>) -> Result<ExitCode> {
    let options = BuildOptions { out_dir: args.out, keep_going: args.keep_going };
    let report = site::build(site, &options, now)?;
    let code = if !report.written || !report.skipped.is_empty() { ExitCode::from(1) } else { ExitCode::SUCCESS };
    if args.json.json {
        /// `build --json`: what was written, and every problem.
        #[derive(Serialize)]
        struct BuildJson<'a> {
            written: bool,
            out_dir: &'a Path,
            listed_posts: usize,
            feed_sets: usize,
            digest_archives: usize,
            assets_copied: usize,
            skipped: &'a [std::path::PathBuf],
            scheduled: &'a Scheduled,
            #[serde(flatten)]
            problems: Problems,
        }
        let json = BuildJson {
            written: report.written,
            out_dir: &report.out_dir,
            listed_posts: report.listed_posts,
            feed_sets: report.feed_sets,
            digest_archives: report.digest_archives,
            assets_copied: report.assets_copied,
            skipped: &report.skipped,
            scheduled: &report.scheduled,
            problems: Problems::new(report.diagnostics.clone(), 0),
        };
        print_json(out, &json)?;
        return Ok(code);
    }
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
        return Ok(code);
    }
    for skipped in &report.skipped {
        writeln!(stderr, "skipped {}", skipped.display())?;
    }
    if report.warnings() > 0 {
        writeln!(stderr, "{} warning(s); run `newsroom check` to see them", report.warnings())?;
    }
    writeln!(
        out,
        "built {} post(s) into {}: {} feed set(s), {} digest archive page(s), {} file(s) copied{}{}",
        report.listed_posts,
        report.out_dir.display(),
        report.feed_sets,
        report.digest_archives,
        report.assets_copied,
        if report.skipped.is_empty() { String::new() } else { format!(", {} post(s) skipped", report.skipped.len()) },
        if report.scheduled.count == 0 { String::new() } else { format!("; {}", report.scheduled) },
    )?;
    Ok(code)
}

fn check(out: &mut Out, site: &Site, json: bool, now: chrono::DateTime<chrono::Utc>) -> Result<ExitCode> {
    let report = site::check(site, now)?;
    let code = if report.configuration_errors > 0 {
        ExitCode::from(2)
    } else if report.errors() > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    if json {
        /// `check --json`: every problem, the posts read and those scheduled.
        #[derive(Serialize)]
        struct CheckJson<'a> {
            posts: usize,
            scheduled: &'a Scheduled,
            #[serde(flatten)]
            problems: Problems,
        }
        let problems = Problems::new(report.diagnostics.clone(), report.configuration_errors);
        print_json(out, &CheckJson { posts: report.posts, scheduled: &report.scheduled, problems })?;
        return Ok(code);
    }
    for diagnostic in &report.diagnostics {
        writeln!(out, "{diagnostic}")?;
    }
    if report.scheduled.count > 0 {
        writeln!(out, "{}", report.scheduled)?;
    }
    writeln!(out, "{} error(s), {} warning(s)", report.errors(), report.warnings())?;
    Ok(code)
}

fn unsubscribe(out: &mut Out, site: &Site, address: &str) -> Result<ExitCode> {
    let done = delivery::unsubscribe(site, address)?;
    let list = site.config.digest.subscribers_path().display();
    if done.added {
        writeln!(out, "{} is unsubscribed: no later send will mail it", done.address)?;
    } else {
        writeln!(out, "{} was already unsubscribed", done.address)?;
    }
    match &done.on_list {
        Some((line, spelling)) if *spelling != done.address => {
            writeln!(out, "it is on the list as {spelling} ({list}, line {line})")?
        }
        Some(_) => {}
        None if done.list_read => {
            writeln!(out, "note: it is not on the list ({list}); recorded anyway, in case it is added later")?
        }
        None => writeln!(out, "note: there is no subscriber file ({list}) to look it up in; recorded anyway")?,
    }
    Ok(ExitCode::SUCCESS)
}

fn init(out: &mut Out, dir: &Path, args: &cli::InitArgs, now: chrono::DateTime<chrono::Utc>) -> Result<ExitCode> {
    let written = newsroom::init::init(dir, &args.title, &args.url, now)?;
    writeln!(out, "created a newsroom site in {}:", dir.display())?;
    for file in &written {
        writeln!(out, "  {}", file.display())?;
    }
    let cd = if dir == Path::new(".") { String::new() } else { format!("  cd {}\n", dir.display()) };
    write!(
        out,
        "\nnext:\n{cd}  newsroom check                      # every problem, before anything is published\n  \
         newsroom build                      # the feeds, into public/\n  \
         newsroom digest preview --month {}  # this month's digest as files, in preview/\n\
         Before `newsroom digest send`, set digest.from, digest.postal_address and\n\
         digest.unsubscribe_url in newsroom.yaml. (`cargo install --path .` in\n\
         newsroom's repository puts `newsroom` on your PATH.)\n",
        Month::of(now.fixed_offset())
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `newsroom man`: the page of the whole command to standard output, or
/// with `--out DIR` one page per command (`newsroom-digest-send.1`).
fn man(out: &mut Out, dir: Option<&Path>) -> Result<ExitCode> {
    let command = Cli::command();
    let Some(dir) = dir else {
        clap_mangen::Man::new(command).render(out)?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write_man_pages(&command, "newsroom", dir, &mut written)?;
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(ExitCode::SUCCESS)
}

fn write_man_pages(
    command: &clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<std::path::PathBuf>,
) -> Result<()> {
    let path = dir.join(format!("{name}.1"));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone().name(name.to_string())).render(&mut page)?;
    std::fs::write(&path, page)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
        write_man_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

/// The month of a digest command: `--month`, or the previous calendar month.
/// A malformed month is a usage error (exit status 2).
fn digest_month(month: Option<&str>, now: chrono::DateTime<chrono::Utc>) -> Result<Month> {
    match month {
        Some(text) => text.parse().map_err(|message: String| SetupError(message).into()),
        None => Ok(Month::previous(now)),
    }
}

/// What to say of a month without posts to send: scheduled ones, or none.
fn nothing_to_send(month: Month, scheduled: &Scheduled, what: &str) -> String {
    if scheduled.count > 0 {
        format!("no posts published in {} ({month}) yet: {scheduled}; {what}", month.label())
    } else {
        format!("no posts in {} ({month}): {what}", month.label())
    }
}

fn run_digest(
    out: &mut Out,
    site: &Site,
    command: DigestCommand,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ExitCode> {
    match command {
        DigestCommand::Preview(args) => {
            let month = digest_month(args.month.month.as_deref(), now)?;
            let dir = args.out.unwrap_or_else(|| site.root.join("preview"));
            let report = preview::preview(site, month, &dir, now)?;
            let mut stderr = std::io::stderr().lock();
            for diagnostic in &report.diagnostics {
                writeln!(stderr, "{diagnostic}")?;
            }
            for warning in &report.warnings {
                writeln!(stderr, "warning: {warning}")?;
            }
            match &report.dir {
                None => {
                    writeln!(out, "{}", nothing_to_send(month, &report.scheduled, "nothing to send, nothing written"))?
                }
                Some(dir) => writeln!(
                    out,
                    "previewed the {} digest ({} post(s)) in {}: {} message(s), {} subscriber row(s) skipped (see manifest.csv)",
                    month.label(),
                    report.posts,
                    dir.display(),
                    report.messages,
                    report.skipped
                )?,
            }
            let failed = report.diagnostics.iter().any(|d| d.is_error());
            Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        DigestCommand::Send(args) => {
            let month = digest_month(args.month.month.as_deref(), now)?;
            let stop = Arc::new(Stop::default());
            let handler_stop = stop.clone();
            // The first signal stops starting messages; a second one ends the process at once.
            ctrlc::set_handler(move || {
                if handler_stop.request() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "stopping: no new message will be started; the ones in flight finish (Ctrl-C again to stop at once)"
                    );
                } else {
                    std::process::exit(i32::from(INTERRUPTED));
                }
            })?;
            let options = SendOptions {
                month,
                concurrency: args.concurrency.unwrap_or(site.config.delivery.concurrency),
                rate: args.rate.unwrap_or(site.config.delivery.rate),
                retry_failed: args.retry_failed,
                resend_ambiguous: args.resend_ambiguous,
                test_to: args.test_to,
                progress_bar: true,
                stop,
            };
            let report = delivery::send(site, &options, now)?;
            if report.nothing_to_send {
                writeln!(out, "{}", nothing_to_send(month, &report.scheduled, "nothing to send"))?;
                return Ok(ExitCode::SUCCESS);
            }
            if report.recovered_ambiguous > 0 {
                writeln!(
                    std::io::stderr(),
                    "warning: {} message(s) were being sent when an earlier run stopped; they are reported as ambiguous and not resent (--resend-ambiguous to override)",
                    report.recovered_ambiguous
                )?;
            }
            writeln!(out, "{report}")?;
            Ok(if report.interrupted {
                ExitCode::from(INTERRUPTED)
            } else if report.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        DigestCommand::Status(args) => {
            let month = digest_month(args.month.month.as_deref(), now)?;
            let list = args.list.as_deref().map(|state| State::parse(state).expect("clap allows only states"));
            let report = delivery::status(site, month, list)?;
            if args.json.json {
                print_json(out, &report)?;
            } else {
                print_status(out, site, &report, list)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `digest status` as lines: counts, the most common failures, and the
/// rows asked for with `--list`.
fn print_status(out: &mut Out, site: &Site, report: &delivery::StatusReport, list: Option<State>) -> Result<()> {
    if !report.frozen {
        let ledger = delivery::ledger_path(site);
        let why = if ledger.exists() {
            "not sent yet".to_string()
        } else {
            format!("no ledger at {} (nothing has been sent)", ledger.display())
        };
        writeln!(out, "{}: {why}", report.digest_id)?;
        return Ok(());
    }
    writeln!(out, "{}: {} recipients", report.digest_id, report.recipients)?;
    for count in &report.counts {
        let label = if count.state == "sending" { "sending (in doubt if no send is running)" } else { count.state };
        writeln!(out, "  {label}: {}", count.count)?;
    }
    if !report.common_failures.is_empty() {
        writeln!(out, "most common failures:")?;
        for failure in &report.common_failures {
            writeln!(out, "  {} {}: {}", failure.count, failure.state, failure.reply)?;
        }
    }
    match list {
        Some(state) => {
            writeln!(out, "{} ({}):", state.as_str(), report.rows.len())?;
            for row in &report.rows {
                writeln!(
                    out,
                    "  {} ({} attempt(s)): {}",
                    row.address,
                    row.attempts,
                    row.reply.as_deref().unwrap_or("")
                )?;
            }
        }
        None if report.recipients > 0 => {
            writeln!(out, "(--list STATE lists the addresses in a state; --json gives everything as JSON)")?
        }
        None => {}
    }
    Ok(())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}
