//! `newsroom digest send`: hands each subscriber's message to the SMTP relay
//! exactly once, resumably.
//!
//! N workers each own one connection (reconnecting as needed) and take
//! recipients from one queue. Every attempt is bracketed in the ledger:
//! `sending` is committed before the message leaves, the outcome after, so at
//! most `concurrency` rows can be in doubt after a crash. Transient failures
//! are retried with exponential backoff and jitter, a bounded number of times;
//! throttling replies pause every worker; permanent failures are recorded and
//! skipped; a connection lost after the final `.` is recorded as ambiguous
//! and not resent.

pub mod failpoint;
pub mod ledger;
pub mod relay;

use std::collections::VecDeque;
use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{ConfigError, ConfigErrors};
use crate::digest::message::{self, SECRET_VAR, Sender};
use crate::digest::{Digest, Month, preview};
use crate::site::{Input, Scheduled, Site};
use crate::subscribers::{self, Status, Subscriber};
use ledger::{Ledger, Recipient, State};
use relay::{Outcome, Relay, SMTP_URL_VAR};

/// A line on standard error that never panics: a send must go on (and
/// record what it does) when the terminal or pipe it reports to is gone.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Attempts per message in one run before a transient failure is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 5;
/// The first retry's delay; each further retry doubles it (plus jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Connection attempts in a row a worker makes before it gives up.
const CONNECT_ATTEMPTS: u32 = 5;
/// How many of the most common failure replies a summary names.
pub const COMMON_FAILURES: usize = 10;

/// A problem with how send was started (no secret, no relay, another sender):
/// exit status 2, nothing sent.
#[derive(Debug)]
pub struct SetupError(pub String);

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SetupError {}

fn setup_error(message: impl Into<String>) -> anyhow::Error {
    SetupError(message.into()).into()
}

/// A request to stop a send: workers take no new message, the messages in
/// flight end by the usual rules (sent, transient or ambiguous), and the
/// run reports what it did. Set by the first Ctrl-C or SIGTERM (the CLI
/// wires it), or by the run itself when the relay refuses everyone.
#[derive(Debug, Default)]
pub struct Stop {
    requested: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Stop {
    /// Asks the run to stop; true the first time.
    pub fn request(&self) -> bool {
        let first = !self.requested.swap(true, std::sync::atomic::Ordering::SeqCst);
        self.notify.notify_waiters();
        first
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sleeps for `duration` unless a stop is asked for first; true if it was.
    async fn sleep(&self, duration: Duration) -> bool {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the flag is read, so a request between the two is not missed.
        notified.as_mut().enable();
        if self.is_requested() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep(duration) => self.is_requested(),
            () = notified => true,
        }
    }
}

/// What `send` is asked to do.
#[derive(Debug, Clone)]
pub struct SendOptions {
    pub month: Month,
    pub concurrency: usize,
    /// Messages per second; 0 for as fast as the relay takes them.
    pub rate: f64,
    pub retry_failed: bool,
    pub resend_ambiguous: bool,
    /// Send one `[TEST]` copy to this address and touch no ledger.
    pub test_to: Option<String>,
    /// Show an interactive progress bar (only on a terminal).
    pub progress_bar: bool,
    /// Stops the run when requested (see [`Stop`]).
    pub stop: Arc<Stop>,
}

/// What a send did.
#[derive(Debug, Default, Clone)]
pub struct SendReport {
    pub digest_id: String,
    pub relay: String,
    pub nothing_to_send: bool,
    /// Recipients in the frozen list.
    pub recipients: usize,
    /// Sent in this run.
    pub sent: usize,
    /// Already sent by an earlier run, or suppressed: not sent again.
    pub skipped: usize,
    pub failed_permanent: usize,
    pub failed_transient: usize,
    pub ambiguous: usize,
    /// `sending` rows from an interrupted run, now reported ambiguous.
    pub recovered_ambiguous: usize,
    /// Left pending (the relay could not be reached, or the run was stopped).
    pub pending: usize,
    pub elapsed: Duration,
    /// With nothing to send: the month's posts dated after now.
    pub scheduled: Scheduled,
    /// Stopped by a signal before every message was tried.
    pub interrupted: bool,
    /// Stopped because this permanent reply came for this many recipients in a row.
    pub refused_everyone: Option<(String, usize)>,
    /// The most common replies of failed and ambiguous messages: state, reply, count.
    pub common_failures: Vec<(State, String, usize)>,
}

impl SendReport {
    /// Whether anything failed or is in doubt (exit status 1).
    pub fn failed(&self) -> bool {
        self.failed_permanent + self.failed_transient + self.ambiguous + self.pending > 0
    }

    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for SendReport {
    /// The summary line, then the most common failure replies.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((reply, count)) = &self.refused_everyone {
            writeln!(
                f,
                "stopped: the relay refuses every recipient: {reply} ({count} in a row); the rest are left pending (fix the relay, then run again with --retry-failed for the refused ones)"
            )?;
        }
        if self.interrupted {
            writeln!(f, "interrupted: no new message was started; run `digest send` again to send the rest")?;
        }
        write!(
            f,
            "{}: {} sent, {} failed ({} permanent, {} transient), {} skipped, {} ambiguous, {} pending; {:.1} messages/s over {:.1}s",
            self.digest_id,
            self.sent,
            self.failed_permanent + self.failed_transient,
            self.failed_permanent,
            self.failed_transient,
            self.skipped,
            self.ambiguous,
            self.pending,
            self.rate(),
            self.elapsed.as_secs_f64()
        )?;
        if !self.common_failures.is_empty() {
            write!(f, "\nmost common failures:")?;
            for (state, reply, count) in &self.common_failures {
                write!(f, "\n  {count} {}: {reply}", state.as_str())?;
            }
        }
        Ok(())
    }
}

/// The ledger file of a site.
pub fn ledger_path(site: &Site) -> PathBuf {
    site.root.join(&site.config.delivery.ledger)
}

fn secret() -> Result<Vec<u8>> {
    match std::env::var(SECRET_VAR) {
        Ok(secret) if !secret.is_empty() => Ok(secret.into_bytes()),
        _ => Err(setup_error(format!(
            "{SECRET_VAR} is not set: it is the key that signs every unsubscribe link, and a send without it would mail links that do not work"
        ))),
    }
}

/// The relay from `NEWSROOM_SMTP_URL`, with the configured step timeout.
fn relay(timeout: Duration) -> Result<Relay> {
    let url = std::env::var(SMTP_URL_VAR).map_err(|_| {
        setup_error(format!(
            "{SMTP_URL_VAR} is not set (e.g. smtp://127.0.0.1:2525 or smtps://user:pass@mail.example.org)"
        ))
    })?;
    let mut relay = Relay::parse(&url).map_err(|e| setup_error(e.to_string()))?;
    relay.timeout = timeout;
    if let Some(path) = std::env::var_os(relay::SMTP_CA_VAR).filter(|p| !p.is_empty()) {
        relay.trust(Path::new(&path)).map_err(|e| setup_error(e.to_string()))?;
    }
    Ok(relay)
}

/// Holds the per-digest send lock: a second sender of the same digest refuses.
/// An OS file lock, so a killed sender never leaves a stale lock behind.
fn lock_digest(ledger_path: &Path, digest_id: &str) -> Result<std::fs::File> {
    let lock_path = ledger_path.with_file_name(format!(
        "{}.{digest_id}.lock",
        ledger_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    if let Some(parent) = lock_path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("failed to open `{}`", lock_path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(setup_error(format!(
            "another `digest send` of {digest_id} is running (it holds `{}`); not starting a second one",
            lock_path.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("failed to lock `{}`", lock_path.display()))
        }
    }
}

/// The configuration problems that keep a send from starting: each key a
/// digest to real people cannot go without, and each input it reads.
fn preflight(site: &Site, options: &SendOptions) -> Result<(), ConfigErrors> {
    let mut problems: Vec<ConfigError> = site
        .config
        .digest
        .missing_for_sending()
        .into_iter()
        .map(|key| {
            let (section, name) = key.split_once('.').expect("keys are section.key");
            site.config.error_at(
                section,
                name,
                format!("{key} is not set: a digest is only sent with values you wrote, never with placeholders"),
            )
        })
        .collect();
    let inputs: &[Input] =
        if options.test_to.is_some() { &[Input::Posts] } else { &[Input::Posts, Input::Subscribers] };
    if let Err(ConfigErrors(missing)) = site.require(inputs) {
        problems.extend(missing);
    }
    if problems.is_empty() { Ok(()) } else { Err(ConfigErrors(problems)) }
}

/// `newsroom digest send`.
pub fn send(site: &Site, options: &SendOptions, now: DateTime<Utc>) -> Result<SendReport> {
    preflight(site, options)?;
    let secret = secret()?;
    let relay = relay(site.config.delivery.timeout)?;
    let mut diagnostics = Vec::new();
    let started = Instant::now();
    let Some(digest) = preview::render_month(site, options.month, now, &mut diagnostics)? else {
        return Ok(SendReport {
            digest_id: format!("digest-{}", options.month),
            nothing_to_send: true,
            scheduled: preview::scheduled_in_month(site, options.month, now)?,
            ..Default::default()
        });
    };
    let mut sender = crate::digest::sender(&site.config, secret, now.into());
    let mut report = SendReport { digest_id: digest.id.clone(), relay: relay.display(), ..Default::default() };

    if let Some(address) = &options.test_to {
        sender.subject_prefix = "[TEST] ".into();
        let address = subscribers::normalise_address(address).map_err(setup_error)?;
        let recipient = Recipient { id: 0, address, name: None, state: State::Pending, attempts: 0, reply: None };
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let outcome = runtime.block_on(async {
            let mut connection = relay.connect().await.map_err(anyhow::Error::msg)?;
            let outgoing = build(&digest, &sender, &recipient)?;
            let (outcome, _) =
                relay::transmit(&mut connection, outgoing.message.envelope(), outgoing.bytes(), relay.timeout).await;
            let _ = connection.quit().await;
            anyhow::Ok(outcome)
        })?;
        match outcome {
            Outcome::Sent(_) => report.sent = 1,
            Outcome::Permanent(_) => report.failed_permanent = 1,
            Outcome::Transient { .. } => report.failed_transient = 1,
            Outcome::Ambiguous(_) => report.ambiguous = 1,
        }
        report.elapsed = started.elapsed();
        return Ok(report);
    }

    let ledger_path = ledger_path(site);
    let _lock = lock_digest(&ledger_path, &digest.id)?;
    let mut ledger = Ledger::open(&ledger_path)?;
    if !ledger.is_frozen(&digest.id)? {
        let list = subscribers::load(&site.subscribers_file(), site.config.digest.subscribers_path())?;
        for diagnostic in list.diagnostics.iter().filter(|d| d.is_error()) {
            say!("{diagnostic}");
        }
        let suppressions = ledger.suppressions()?;
        let active = list
            .active()
            .filter(|subscriber| !suppressions.contains_key(&subscribers::matching_key(&subscriber.email)))
            .map(|subscriber| (subscriber.email.as_str(), subscriber.name.as_deref()));
        ledger.freeze(&digest.id, active)?;
    }
    report.recovered_ambiguous = ledger.recover(&digest.id, options.resend_ambiguous, options.retry_failed)?;
    let pending = ledger.pending(&digest.id)?;
    let counts = ledger.counts(&digest.id)?;
    report.recipients = counts.iter().map(|(_, n)| n).sum();
    report.skipped = counts.iter().filter(|(s, _)| matches!(s, State::Sent | State::Suppressed)).map(|(_, n)| n).sum();

    let shared = Arc::new(Shared {
        queue: Mutex::new(
            pending.into_iter().map(|recipient| Job { recipient, attempt: 0, not_before: Instant::now() }).collect(),
        ),
        ledger: Mutex::new(ledger),
        state: Mutex::new(RunState::default()),
        digest,
        sender,
        relay,
        rate: options.rate,
        progress: Progress::new(options.progress_bar, 0),
        stop: options.stop.clone(),
        refusal_limit: site.config.delivery.stop_after_identical_refusals,
    });
    let total = shared.queue.lock().expect("queue").len();
    shared.progress.set_total(total);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let workers = options.concurrency.max(1);
    runtime.block_on(async {
        let ticker = tokio::spawn(progress_ticker(shared.clone()));
        let mut running: tokio::task::JoinSet<()> = (0..workers).map(|_| worker(shared.clone())).collect();
        // In the order they end: a worker that panicked leaves its job in
        // flight, which the others would wait for forever. Its panic ends
        // the run instead; rows left `sending` are ambiguous to the next run.
        while let Some(ended) = running.join_next().await {
            if let Err(error) = ended
                && error.is_panic()
            {
                std::panic::resume_unwind(error.into_panic());
            }
        }
        ticker.abort();
    });
    shared.progress.finish();
    let state = shared.state.lock().expect("state");
    if let Some(error) = &state.connect_error {
        say!("error: could not reach the relay: {error}");
    }
    let ledger = shared.ledger.lock().expect("ledger");
    let counts = ledger.counts(&report.digest_id)?;
    let count = |state: State| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    report.sent = state.sent;
    report.failed_permanent = count(State::FailedPermanent);
    report.failed_transient = count(State::FailedTransient);
    report.ambiguous = count(State::Ambiguous);
    report.pending = count(State::Pending) + count(State::Sending);
    report.elapsed = started.elapsed();
    report.refused_everyone = state.refused_everyone.clone();
    report.interrupted = shared.stop.is_requested() && report.refused_everyone.is_none() && report.pending > 0;
    report.common_failures = ledger.common_failures(&report.digest_id, COMMON_FAILURES)?;
    Ok(report)
}

/// Builds the message of one ledger row.
fn build(digest: &Digest, sender: &Sender, recipient: &Recipient) -> Result<message::OutgoingMessage> {
    let subscriber = Subscriber {
        email: recipient.address.clone(),
        name: recipient.name.clone(),
        status: Status::Subscribed,
        extra: Vec::new(),
        line: 0,
    };
    message::build(digest, sender, &subscriber)
}

struct Job {
    recipient: Recipient,
    attempt: u32,
    not_before: Instant,
}

#[derive(Default)]
struct RunState {
    /// Jobs taken and not yet finished (they may come back to the queue).
    in_flight: usize,
    sent: usize,
    /// Every worker waits until then after a throttling reply.
    paused_until: Option<Instant>,
    /// The next moment a message may start, under `--rate`.
    next_slot: Option<Instant>,
    connect_error: Option<String>,
    workers_given_up: usize,
    /// The last permanent reply (its recipient's address taken out) and
    /// how many recipients in a row have had it.
    refusal_streak: (String, usize),
    /// Set when that streak reached the limit: the reply and the count.
    refused_everyone: Option<(String, usize)>,
}

struct Shared {
    queue: Mutex<VecDeque<Job>>,
    ledger: Mutex<Ledger>,
    state: Mutex<RunState>,
    digest: Digest,
    sender: Sender,
    relay: Relay,
    rate: f64,
    progress: Progress,
    stop: Arc<Stop>,
    /// Identical permanent refusals in a row that stop the run (0: never).
    refusal_limit: usize,
}

enum Next {
    Job(Job),
    Wait(Duration),
    Done,
}

impl Shared {
    fn next_job(&self) -> Next {
        let mut queue = self.queue.lock().expect("queue");
        let mut state = self.state.lock().expect("state");
        let now = Instant::now();
        if self.stop.is_requested() {
            return Next::Done;
        }
        if let Some(index) = queue.iter().position(|job| job.not_before <= now) {
            let job = queue.remove(index).expect("index is in the queue");
            state.in_flight += 1;
            return Next::Job(job);
        }
        match queue.iter().map(|job| job.not_before).min() {
            Some(earliest) => Next::Wait(earliest - now),
            None if state.in_flight > 0 => Next::Wait(Duration::from_millis(20)),
            None => Next::Done,
        }
    }

    /// Waits for a throttling pause and for the next `--rate` slot; writes
    /// the worker's unrecorded outcome first if it has to wait. False if a
    /// stop was asked for meanwhile.
    async fn pace(&self, unrecorded: &mut Option<Unrecorded>) -> bool {
        let wait = {
            let mut state = self.state.lock().expect("state");
            let now = Instant::now();
            let mut start = state.paused_until.filter(|t| *t > now).unwrap_or(now);
            if self.rate > 0.0 {
                let slot = state.next_slot.unwrap_or(now).max(start);
                state.next_slot = Some(slot + Duration::from_secs_f64(1.0 / self.rate));
                start = slot;
            }
            start.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            self.record(unrecorded);
            return !self.stop.sleep(wait).await;
        }
        !self.stop.is_requested()
    }

    /// Writes an outcome the worker has not written yet.
    fn record(&self, unrecorded: &mut Option<Unrecorded>) {
        if let Some(done) = unrecorded.take() {
            self.write_outcome(done.id, &done.address, State::Sent, &done.reply);
        }
    }

    fn write_outcome(&self, id: i64, address: &str, state: State, reply: &str) {
        if let Err(error) = self.ledger.lock().expect("ledger").mark(id, state, reply) {
            say!("error: the ledger could not record {address} as {}: {error:#}", state.as_str());
        }
    }

    /// A message the relay accepted: counted now, written to the ledger
    /// together with the worker's next `sending` mark (see [`Unrecorded`]).
    fn accepted(&self, job: Job, reply: String) -> Unrecorded {
        self.count_finished(State::Sent);
        Unrecorded { id: job.recipient.id, address: job.recipient.address, reply }
    }

    fn finish(&self, job: Job, state: State, reply: &str) {
        self.write_outcome(job.recipient.id, &job.recipient.address, state, reply);
        if state == State::FailedPermanent {
            self.count_refusal(&ledger::reply_pattern(reply, &job.recipient.address));
        }
        self.count_finished(state);
    }

    /// A permanent refusal: when the same reply has come for
    /// `refusal_limit` recipients in a row, the relay refuses everyone
    /// (a relay that denies relaying, a suspended account), and the run
    /// stops instead of marking the whole list failed.
    fn count_refusal(&self, pattern: &str) {
        let mut run = self.state.lock().expect("state");
        if run.refusal_streak.0 == pattern {
            run.refusal_streak.1 += 1;
        } else {
            run.refusal_streak = (pattern.to_string(), 1);
        }
        if self.refusal_limit > 0 && run.refusal_streak.1 >= self.refusal_limit && run.refused_everyone.is_none() {
            run.refused_everyone = Some(run.refusal_streak.clone());
            drop(run);
            self.stop.request();
        }
    }

    fn count_finished(&self, state: State) {
        let mut run = self.state.lock().expect("state");
        run.in_flight -= 1;
        if state == State::Sent {
            run.sent += 1;
            run.refusal_streak.1 = 0;
        }
        drop(run);
        if state != State::Pending {
            self.progress.inc(state);
        }
    }

    fn retry(&self, mut job: Job, reply: &str, throttle: bool) {
        let delay = backoff(job.attempt);
        if throttle {
            let mut run = self.state.lock().expect("state");
            let until = Instant::now() + delay;
            run.paused_until = Some(run.paused_until.map_or(until, |t| t.max(until)));
        }
        job.attempt += 1;
        if job.attempt >= MAX_ATTEMPTS {
            return self.finish(job, State::FailedTransient, reply);
        }
        if let Err(error) = self.ledger.lock().expect("ledger").mark(job.recipient.id, State::Pending, reply) {
            say!("error: the ledger could not record a retry of {}: {error:#}", job.recipient.address);
        }
        job.not_before = Instant::now() + delay;
        self.queue.lock().expect("queue").push_back(job);
        self.state.lock().expect("state").in_flight -= 1;
    }

    /// Puts a job back untouched (no attempt was made).
    fn give_back(&self, job: Job) {
        self.queue.lock().expect("queue").push_front(job);
        self.state.lock().expect("state").in_flight -= 1;
    }
}

/// Exponential backoff with full jitter: up to base·2^attempt, at most BACKOFF_MAX.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_MAX);
    let millis = ceiling.as_millis() as u64;
    Duration::from_millis(millis / 2 + fastrand::u64(0..=millis / 2))
}

/// A message the relay accepted whose `sent` mark is not written yet. The
/// worker writes it in the same transaction as its next message's `sending`
/// mark, which halves the ledger's commits; it writes it on its own before
/// anything that can wait (an empty queue, `--rate`, a throttling pause,
/// connecting) and before it stops, so it is held for the time it takes to
/// build one message. A crash in that window leaves the row `sending`:
/// reported ambiguous, never sent twice, as for a crash while waiting for
/// the reply. Each worker still has at most one row `sending`.
struct Unrecorded {
    id: i64,
    address: String,
    reply: String,
}

/// One worker: one connection, jobs from the shared queue until it is empty.
async fn worker(shared: Arc<Shared>) {
    let mut connection = None;
    let mut connect_failures = 0;
    let mut unrecorded = None;
    loop {
        let job = match shared.next_job() {
            Next::Job(job) => job,
            Next::Wait(duration) => {
                shared.record(&mut unrecorded);
                shared.stop.sleep(duration.min(Duration::from_millis(200))).await;
                continue;
            }
            Next::Done => break,
        };
        if !shared.pace(&mut unrecorded).await {
            shared.give_back(job);
            break;
        }
        if connection.is_none() {
            shared.record(&mut unrecorded);
            match shared.relay.connect().await {
                Ok(opened) => {
                    connection = Some(opened);
                    connect_failures = 0;
                }
                Err(error) => {
                    connect_failures += 1;
                    shared.give_back(job);
                    if connect_failures >= CONNECT_ATTEMPTS {
                        let mut state = shared.state.lock().expect("state");
                        state.connect_error = Some(error);
                        state.workers_given_up += 1;
                        break;
                    }
                    shared.stop.sleep(backoff(connect_failures)).await;
                    continue;
                }
            }
        }
        let outgoing = match build(&shared.digest, &shared.sender, &job.recipient) {
            Ok(outgoing) => outgoing,
            Err(error) => {
                shared.finish(job, State::FailedPermanent, &format!("{error:#}"));
                continue;
            }
        };
        // Claimed before a stop was asked for, but not started: it goes back, pending.
        if shared.stop.is_requested() {
            shared.give_back(job);
            break;
        }
        let marked = shared.ledger.lock().expect("ledger").mark_outcome_and_sending(
            unrecorded.as_ref().map(|done: &Unrecorded| (done.id, State::Sent, done.reply.as_str())),
            job.recipient.id,
            &outgoing.message_id,
        );
        if let Err(error) = marked {
            // Without the `sending` mark a crash could send twice: stop here.
            say!("error: the ledger could not record a send ({error:#}); stopping this worker");
            shared.give_back(job);
            break;
        }
        unrecorded = None;
        failpoint::hit(failpoint::AFTER_SENDING_COMMITTED);
        let conn = connection.as_mut().expect("connected above");
        let (outcome, usable) =
            relay::transmit(conn, outgoing.message.envelope(), outgoing.bytes(), shared.relay.timeout).await;
        if !usable {
            connection = None;
        }
        match outcome {
            Outcome::Sent(reply) => {
                failpoint::hit(failpoint::AFTER_ACCEPTED);
                unrecorded = Some(shared.accepted(job, reply));
            }
            Outcome::Permanent(reply) => shared.finish(job, State::FailedPermanent, &reply),
            Outcome::Ambiguous(reply) => shared.finish(job, State::Ambiguous, &reply),
            Outcome::Transient { reply, throttle } => shared.retry(job, &reply, throttle),
        }
    }
    shared.record(&mut unrecorded);
    if let Some(mut connection) = connection {
        let _ = tokio::time::timeout(Duration::from_secs(5), connection.quit()).await;
    }
}

/// A progress bar on a terminal; a plain line every few seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    counts: Mutex<(usize, usize, usize, usize, Instant)>,
}

impl Progress {
    fn new(interactive: bool, total: usize) -> Progress {
        let bar = (interactive && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {rate} {eta_or_not} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key("rate", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&rate_text(state.pos(), state.per_sec()));
                })
                .with_key("eta_or_not", |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let _ = out.write_str(&eta_text(state.pos(), state.eta()));
                });
            bar.set_style(style);
            bar
        });
        Progress { bar, counts: Mutex::new((0, 0, 0, total, Instant::now())) }
    }

    fn set_total(&self, total: usize) {
        self.counts.lock().expect("progress").3 = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
        }
    }

    fn inc(&self, state: State) {
        let mut counts = self.counts.lock().expect("progress");
        match state {
            State::Sent => counts.0 += 1,
            State::Ambiguous => counts.2 += 1,
            _ => counts.1 += 1,
        }
        if let Some(bar) = &self.bar {
            bar.inc(1);
            bar.set_message(format!("{} failed, {} ambiguous", counts.1, counts.2));
        }
    }

    fn line(&self) -> Option<String> {
        if self.bar.is_some() {
            return None;
        }
        let (sent, failed, ambiguous, total, started) = *self.counts.lock().expect("progress");
        let done = sent + failed + ambiguous;
        let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let eta = Duration::from_secs_f64(if rate > 0.0 { total.saturating_sub(done) as f64 / rate } else { 0.0 });
        Some(format!(
            "progress: {done}/{total} ({sent} sent, {failed} failed, {ambiguous} ambiguous), {}, {}",
            rate_text(done as u64, rate).replace("/s", " messages/s"),
            eta_text(done as u64, eta)
        ))
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
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

async fn progress_ticker(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(Duration::from_secs(5));
    interval.tick().await;
    loop {
        interval.tick().await;
        if let Some(line) = shared.progress.line() {
            say!("{line}");
        }
    }
}

/// What the ledger knows of one digest.
#[derive(Debug, Default, serde::Serialize)]
pub struct StatusReport {
    pub digest_id: String,
    /// Whether a send has frozen its recipient list (nothing below otherwise).
    pub frozen: bool,
    pub recipients: usize,
    /// Recipients per state, every state listed.
    pub counts: Vec<StateCount>,
    /// The most common replies of failed and ambiguous messages.
    pub common_failures: Vec<FailureCount>,
    /// The rows in the state asked for with `--list`.
    pub rows: Vec<StatusRow>,
}

#[derive(Debug, serde::Serialize)]
pub struct StateCount {
    pub state: &'static str,
    pub count: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct FailureCount {
    pub state: &'static str,
    pub reply: String,
    pub count: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct StatusRow {
    pub address: String,
    pub state: &'static str,
    pub attempts: u32,
    pub reply: Option<String>,
}

/// `newsroom digest status`: the ledger's counts for a digest, its most
/// common failures, and the rows in `list` when asked. Reads only: a
/// missing ledger is reported as nothing sent, not created.
pub fn status(site: &Site, month: Month, list: Option<State>) -> Result<StatusReport> {
    let path = ledger_path(site);
    let mut report = StatusReport { digest_id: format!("digest-{month}"), ..Default::default() };
    if !path.exists() {
        return Ok(report);
    }
    let ledger = Ledger::open(&path)?;
    if !ledger.is_frozen(&report.digest_id)? {
        return Ok(report);
    }
    report.frozen = true;
    let counts = ledger.counts(&report.digest_id)?;
    report.recipients = counts.iter().map(|(_, n)| n).sum();
    report.counts = counts.into_iter().map(|(state, count)| StateCount { state: state.as_str(), count }).collect();
    report.common_failures = ledger
        .common_failures(&report.digest_id, COMMON_FAILURES)?
        .into_iter()
        .map(|(state, reply, count)| FailureCount { state: state.as_str(), reply, count })
        .collect();
    if let Some(state) = list {
        report.rows = ledger
            .rows(&report.digest_id, Some(state))?
            .into_iter()
            .map(|row| StatusRow {
                address: row.address,
                state: row.state.as_str(),
                attempts: row.attempts,
                reply: row.reply,
            })
            .collect();
    }
    Ok(report)
}

/// What `unsubscribe` did.
#[derive(Debug)]
pub struct Unsubscribed {
    /// The address as recorded.
    pub address: String,
    /// False when the address was suppressed already.
    pub added: bool,
    /// The subscriber file's row for the address (its line and spelling),
    /// when the file exists and has one.
    pub on_list: Option<(usize, String)>,
    /// Whether the subscriber file exists (when it does not, `on_list` says nothing).
    pub list_read: bool,
}

/// `newsroom unsubscribe ADDRESS`: every later send skips the address, in
/// any spelling. It is recorded even when it is not on the list (it may be
/// added later); the result says whether it is.
pub fn unsubscribe(site: &Site, address: &str) -> Result<Unsubscribed> {
    let address = subscribers::normalise_address(address).map_err(setup_error)?;
    let ledger = Ledger::open(&ledger_path(site))?;
    let added = ledger.suppress(&address, "unsubscribe")?;
    let file = site.subscribers_file();
    let list_read = file.is_file();
    let on_list = if list_read {
        let key = subscribers::matching_key(&address);
        let list = subscribers::load(&file, site.config.digest.subscribers_path())?;
        list.subscribers.into_iter().find(|s| subscribers::matching_key(&s.email) == key).map(|s| (s.line, s.email))
    } else {
        None
    };
    Ok(Unsubscribed { address, added, on_list, list_read })
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

    #[test]
    fn backoff_grows_and_is_bounded() {
        for attempt in 0..20 {
            let delay = backoff(attempt);
            let ceiling = BACKOFF_BASE.saturating_mul(1 << attempt.min(16)).min(BACKOFF_MAX);
            assert!(delay <= ceiling && delay >= ceiling / 2, "{attempt}: {delay:?}");
        }
    }
}
