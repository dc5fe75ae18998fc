//! `newsroom digest send`: Ctrl-C wired to a graceful stop, progress shown
//! as the run reports it (a bar on a terminal, a line every 5 s otherwise),
//! then the summary.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};

use super::{Out, digest_edition, nothing_to_send};
use crate::cli::SendArgs;
use newsroom::delivery::{self, Observer, SendOptions, Stop};
use newsroom::edition::{Cadence, Edition};
use newsroom::site::Site;
use newsroom::store::State;

/// The exit status of a send that Ctrl-C or SIGTERM stopped (128 + SIGINT).
const INTERRUPTED: u8 = 130;

/// Sends, showing progress, and says how it went.
pub fn run(out: &mut Out, site: &Site, args: SendArgs, now: DateTime<Utc>) -> Result<ExitCode> {
    let (editions, resumed) =
        if args.due { due_editions(out, site, now)? } else { (vec![digest_edition(&args.month, site, now)?], None) };
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
    let mut status = ExitCode::SUCCESS;
    for edition in editions {
        if args.due {
            writeln!(out, "due: {edition} ({})", edition.label())?;
        }
        match send_one(out, site, &args, &edition, &stop, now)? {
            Sent::Fine => {}
            // The resumed edition had its retry: what still fails must not
            // hold back the editions due after it (one address answering
            // 451 for ever would otherwise stop the newsletter).
            Sent::Failed if resumed.as_ref() == Some(&edition) => status = ExitCode::from(1),
            Sent::Failed => return Ok(ExitCode::from(1)),
            Sent::Stopped(code) => return Ok(code),
        }
    }
    Ok(status)
}

/// How one edition's send ended: fine (go on with the next one due);
/// finished but with rows that failed (none left to try in this run); or
/// stopped with this exit status, rows left to send.
enum Sent {
    Fine,
    Failed,
    Stopped(ExitCode),
}

/// The editions `--due` sends, or none (said on `out`), and which of them
/// an earlier run left unfinished; a gap under `digest.catch_up: combine`
/// is one edition that carries the others' posts.
fn due_editions(out: &mut Out, site: &Site, now: DateTime<Utc>) -> Result<(Vec<Edition>, Option<Edition>)> {
    let due = delivery::due::due(site, now)?;
    let cadence = due.cadence;
    if let Some(resumed) = &due.resumed {
        writeln!(out, "{resumed}: an earlier run did not finish sending it; finishing it first")?;
    }
    if due.editions.is_empty() && due.resumed.is_none() {
        match (&due.last_ended, cadence) {
            (Some(latest), Cadence::PerPost) => writeln!(
                out,
                "nothing is due: every post published since the per-post editions began is sent (the latest: {latest})"
            )?,
            (None, Cadence::PerPost) => writeln!(out, "nothing is due: no post is published yet")?,
            (Some(ended), _) => {
                writeln!(out, "nothing is due: the latest {cadence} edition that has ended, {ended}, is in the store")?
            }
            (None, _) => writeln!(out, "nothing is due: no {cadence} edition has ended yet")?,
        }
        return Ok((Vec::new(), None));
    }
    if let (Some(first), Some(last)) = (due.combined.first(), due.combined.last()) {
        writeln!(
            out,
            "{} earlier {cadence} edition(s) not sent ({first} to {last}) go in the next one (digest.catch_up: combine)",
            due.combined.len()
        )?;
    }
    delivery::due::begin(site, &due, now)?;
    Ok((due.resumed.iter().cloned().chain(due.editions).collect(), due.resumed))
}

/// Sends one edition, showing progress, and says how it went.
fn send_one(
    out: &mut Out,
    site: &Site,
    args: &SendArgs,
    edition: &Edition,
    stop: &Arc<Stop>,
    now: DateTime<Utc>,
) -> Result<Sent> {
    let progress = Progress::new();
    let options = SendOptions {
        edition: edition.clone(),
        concurrency: args.concurrency.unwrap_or(site.config.delivery.concurrency),
        rate: args.rate.unwrap_or(site.config.delivery.rate),
        retry_failed: args.retry_failed,
        resend_ambiguous: args.resend_ambiguous,
        test_to: args.test_to.clone(),
        unfinished: args.unfinished,
        stop: stop.clone(),
        observer: progress.clone(),
        lease: std::time::Duration::from_secs(args.lease),
        // Each per-post edition is one post, whatever `min_posts` says.
        min_posts: if args.due && edition.cadence() != Cadence::PerPost {
            site.config.digest.editions.min_posts
        } else {
            1
        },
    };
    let report = delivery::send(site, &options, now);
    progress.finish();
    let report = report?;
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &report.diagnostics {
        writeln!(stderr, "{diagnostic}")?;
    }
    for notice in &report.notices {
        writeln!(stderr, "note: {notice}")?;
    }
    if let Some(changes) = report.merged.as_ref().and_then(|merged| merged.changes()) {
        writeln!(stderr, "merged {}: {changes}", site.config.digest.subscribers_path().display())?;
    }
    if let Some(why) = &report.nobody {
        writeln!(stderr, "error: {why}")?;
        return Ok(Sent::Stopped(ExitCode::from(2)));
    }
    if let Some(error) = &report.relay_error {
        writeln!(stderr, "error: could not reach the relay: {error}")?;
    }
    if report.nothing_to_send {
        writeln!(out, "{}", nothing_to_send(edition, &report.scheduled, "nothing to send"))?;
        return Ok(Sent::Fine);
    }
    if let Some(posts) = report.too_few_posts {
        writeln!(
            out,
            "{edition} has {posts} post(s), fewer than digest.min_posts ({}): nothing sent; they go in the next {} edition",
            site.config.digest.editions.min_posts,
            edition.cadence()
        )?;
        return Ok(Sent::Fine);
    }
    if report.recovered_ambiguous > 0 {
        writeln!(
            stderr,
            "warning: {} message(s) were being sent when an earlier run stopped; they are reported as ambiguous and not resent (--resend-ambiguous to override)",
            report.recovered_ambiguous
        )?;
    }
    writeln!(out, "{report}")?;
    Ok(if report.interrupted {
        Sent::Stopped(ExitCode::from(INTERRUPTED))
    } else if report.relay_error.is_some() || report.pending > 0 {
        Sent::Stopped(ExitCode::from(1))
    } else if report.failed() {
        Sent::Failed
    } else {
        Sent::Fine
    })
}

/// A progress bar on a terminal; a plain line every 5 s otherwise (from a
/// thread of its own, so a stalled relay still shows).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    counts: Mutex<Counts>,
    done: AtomicBool,
}

#[derive(Clone, Copy)]
struct Counts {
    sent: usize,
    failed: usize,
    ambiguous: usize,
    total: usize,
    started: Instant,
}

impl Progress {
    fn new() -> Arc<Progress> {
        let bar = std::io::stderr().is_terminal().then(|| {
            let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {rate} {eta_or_not} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key("rate", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&rate_text(state.pos(), state.per_sec()));
                })
                .with_key("eta_or_not", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&eta_text(state.pos(), state.eta()));
                });
            indicatif::ProgressBar::new(0).with_style(style)
        });
        let counts = Counts { sent: 0, failed: 0, ambiguous: 0, total: 0, started: Instant::now() };
        let progress = Arc::new(Progress { bar, counts: Mutex::new(counts), done: AtomicBool::new(false) });
        if progress.bar.is_none() {
            let ticking = progress.clone();
            std::thread::spawn(move || {
                let mut last = Instant::now();
                while !ticking.done.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(100));
                    if last.elapsed() >= Duration::from_secs(5) && !ticking.done.load(Ordering::SeqCst) {
                        let _ = writeln!(std::io::stderr(), "{}", ticking.line());
                        last = Instant::now();
                    }
                }
            });
        }
        progress
    }

    /// `progress: 120/2000 (118 sent, 2 failed, 0 ambiguous), 40 messages/s, eta 47 seconds`.
    fn line(&self) -> String {
        let Counts { sent, failed, ambiguous, total, started } = *self.counts.lock().expect("progress");
        let done = sent + failed + ambiguous;
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let eta = Duration::from_secs_f64(if rate > 0.0 { total.saturating_sub(done) as f64 / rate } else { 0.0 });
        format!(
            "progress: {done}/{total} ({sent} sent, {failed} failed, {ambiguous} ambiguous), {}, {}",
            rate_text(done as u64, rate).replace("/s", " messages/s"),
            eta_text(done as u64, eta)
        )
    }

    fn finish(&self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn starting(&self, messages: usize) {
        let mut counts = self.counts.lock().expect("progress");
        counts.total = messages;
        counts.started = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_length(messages as u64);
        }
    }

    fn finished(&self, state: State) {
        let mut counts = self.counts.lock().expect("progress");
        match state {
            State::Sent => counts.sent += 1,
            State::Ambiguous => counts.ambiguous += 1,
            _ => counts.failed += 1,
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} failed, {} ambiguous", counts.failed, counts.ambiguous));
        }
    }

    fn notice(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("note: {message}")),
            None => {
                let _ = writeln!(std::io::stderr(), "note: {message}");
            }
        }
    }

    fn more(&self, messages: usize) {
        let mut counts = self.counts.lock().expect("progress");
        counts.total += messages;
        if let Some(bar) = &self.bar {
            bar.set_length(counts.total as u64);
        }
    }

    fn problem(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("error: {message}")),
            None => {
                let _ = writeln!(std::io::stderr(), "error: {message}");
            }
        }
    }
}

/// A rate as a progress report shows it: whole messages per second, and
/// none before the first message is done (a rate of nothing says nothing).
fn rate_text(done: u64, per_second: f64) -> String {
    if done == 0 { "–/s".into() } else { format!("{per_second:.0}/s") }
}

/// The time left, once there is a rate to reckon it from.
fn eta_text(done: u64, eta: Duration) -> String {
    if done == 0 { "eta –".into() } else { format!("eta {}", indicatif::HumanDuration(eta)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `0/2000 0/s eta 0s` before the first message and `70.3917/s` after it.
    #[test]
    fn progress_shows_whole_rates_and_no_figures_before_the_first_message() {
        assert_eq!(rate_text(0, 0.0), "–/s");
        assert_eq!(eta_text(0, Duration::ZERO), "eta –");
        assert_eq!(rate_text(12, 70.3917), "70/s");
        assert_eq!(eta_text(12, Duration::from_secs(95)), "eta 2 minutes");
    }
}
