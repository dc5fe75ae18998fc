//! `newsroom digest send`: hands each subscriber's message to the SMTP relay
//! exactly once, resumably.
//!
//! N workers each own one connection (reconnecting as needed) and take
//! recipients from one queue. Every attempt is bracketed in the ledger:
//! `sending` is committed before the message leaves (while the relay
//! answers its envelope), the outcome after, so at
//! most `concurrency` rows can be in doubt after a crash. Transient failures
//! are retried with exponential backoff and jitter, a bounded number of times;
//! throttling replies pause every worker; permanent failures are recorded and
//! skipped; a connection lost after the final `.` is recorded as ambiguous
//! and not resent.

pub mod due;
pub mod relay;
mod run;
mod status;

pub use run::{MAX_ATTEMPTS, Observer, Stop};
pub use status::{
    COMMON_FAILURES, FailureCount, StateCount, StatusReport, StatusRow, UnsubscribeReport, status, unsubscribe,
};

use std::collections::VecDeque;
use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config::{ConfigError, ConfigErrors};
use crate::content::Scheduled;
use crate::diagnostics::Diagnostic;
use crate::digest::Edition;
use crate::digest::assemble::{Selection, edition_digest_of};
use crate::edition::SendAt;
use crate::email::message::{SECRET_FOR_SENDING, SecretPolicy, UnsubscribeSecret};
use crate::error::UsageError;
use crate::site::{Input, Site};
use crate::store::Session;
use crate::store::db::Backend;
use crate::store::import::ImportReport;
use crate::store::ledger::{Claimant, Freezing, Recipient, State};
use relay::{Outcome, Relay, SMTP_URL_VAR};
use run::{Marks, Round, Run, RunState, build, commit_marks, next_round, renew_claims, worker};

/// An observer that is told nothing: for a caller with nothing to show.
pub struct Quiet;

impl Observer for Quiet {}

/// What `send` is asked to do.
#[derive(Clone)]
pub struct SendOptions {
    /// The edition to send (a month's, or a week's or a day's).
    pub edition: Edition,
    pub concurrency: usize,
    /// Messages per second; 0 for as fast as the relay takes them.
    pub rate: f64,
    pub retry_failed: bool,
    pub resend_ambiguous: bool,
    /// Send one `[TEST]` copy to this address and touch no ledger.
    pub test_to: Option<String>,
    /// Send a month that has not ended yet (recorded in the ledger); without
    /// it such a send is refused.
    pub unfinished: bool,
    /// Stops the run when requested (see [`Stop`]).
    pub stop: Arc<Stop>,
    /// Told of each message as it ends.
    pub observer: Arc<dyn Observer>,
    /// An edition not sent yet with fewer posts than this is not sent
    /// (`digest.min_posts`, for `--due`; 1 when an edition is named): its
    /// posts go in the next edition of its cadence.
    pub min_posts: u32,
    /// How long the rows this sender claims stay its own unless renewed
    /// (renewed every third of it while it runs). A sender that dies
    /// holds its claims this long; then another takes them (PostgreSQL)
    /// or the next run does (SQLite takes them at once: one sender).
    pub lease: Duration,
}

/// The lease when none is given.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Rows a sender claims at a time. Small enough that senders share the
/// end of a list evenly, large enough that claiming costs little against
/// sending (one transaction per 64 messages).
const CLAIM_BATCH: usize = 64;

/// What a send did.
#[derive(Debug, Default, Clone)]
pub struct SendReport {
    pub digest_id: String,
    pub relay: String,
    pub nothing_to_send: bool,
    /// The edition had this many posts, fewer than `min_posts`: nothing
    /// was sent or frozen, and its posts go in the next edition.
    pub too_few_posts: Option<usize>,
    /// Recipients in the frozen list.
    pub recipients: usize,
    /// Sent in this run.
    pub sent: usize,
    /// Already sent by an earlier run, or suppressed: not sent again.
    pub skipped: usize,
    /// Refused permanently in this run.
    pub failed_permanent: usize,
    pub failed_transient: usize,
    /// Left in doubt in this run, or found left `sending` by a run that died.
    pub ambiguous: usize,
    /// Refused permanently by an earlier run, and not tried again (no
    /// `--retry-failed`): known, and no failure of this run's.
    pub refused_earlier: usize,
    /// Ambiguous since an earlier run, and not sent again (no `--resend-ambiguous`).
    pub ambiguous_earlier: usize,
    /// `sending` rows from an interrupted run, now reported ambiguous.
    pub recovered_ambiguous: usize,
    /// Left pending (the relay could not be reached, or the run was stopped).
    pub pending: usize,
    /// Pending or in flight with another sender of the same digest (a
    /// PostgreSQL store): theirs to send and report.
    pub with_other_senders: usize,
    pub elapsed: Duration,
    /// With nothing to send: the month's posts dated after now.
    pub scheduled: Scheduled,
    /// Problems with the month's posts and the subscriber file (the
    /// messages of the others are sent).
    pub diagnostics: Vec<Diagnostic>,
    /// Stopped by a signal before every message was tried.
    pub interrupted: bool,
    /// Stopped because this permanent reply came for this many recipients in a row.
    pub refused_everyone: Option<(String, usize)>,
    /// The most common replies of failed and ambiguous messages: state, reply, count.
    pub common_failures: Vec<(State, String, usize)>,
    /// Why the relay could not be reached, when a worker gave up connecting.
    pub relay_error: Option<String>,
    /// What merging the subscriber file into the store changed.
    pub merged: Option<ImportReport>,
    /// Why nothing was sent or frozen: the store holds nobody subscribed
    /// (a usage error, exit status 2, said after the diagnostics that
    /// may explain it).
    pub nobody: Option<String>,
    /// What opening the store did (a ledger from before it taken over).
    pub notices: Vec<String>,
    /// The digest sent before this one, and the subscribers who became
    /// opt-outs since it was frozen, by the event that did it.
    pub suppressed_since: Option<(String, Vec<(crate::store::EventKind, usize)>)>,
}

impl SendReport {
    /// Whether anything failed or was left in doubt in this run, or is left
    /// to send (exit status 1). What an earlier run reported (a refusal, an
    /// ambiguous message) is said again, not failed again: a finished
    /// digest's re-run succeeds.
    pub fn failed(&self) -> bool {
        self.failed_permanent + self.failed_transient + self.ambiguous + self.pending > 0
    }

    /// Whether this run found nothing at all to do: every row sent,
    /// suppressed or settled by an earlier run.
    fn tried_nothing(&self) -> bool {
        self.sent + self.failed_permanent + self.failed_transient + self.ambiguous + self.pending == 0
            && self.with_other_senders == 0
    }

    /// `1 refused earlier (see …)`: what earlier runs settled, for the summary.
    fn earlier(&self) -> Vec<String> {
        let mut earlier = Vec::new();
        if self.refused_earlier > 0 {
            earlier.push(format!(
                "{} refused earlier (see `digest status --list failed_permanent`; `--retry-failed` tries them again)",
                self.refused_earlier
            ));
        }
        if self.ambiguous_earlier > 0 {
            earlier.push(format!(
                "{} ambiguous earlier (see `digest status --list ambiguous`; `--resend-ambiguous` sends them again, perhaps twice)",
                self.ambiguous_earlier
            ));
        }
        earlier
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
        let earlier = self.earlier();
        if self.tried_nothing() && !earlier.is_empty() {
            return write!(f, "{}: nothing left to send; {}", self.digest_id, earlier.join("; "));
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
        if self.with_other_senders > 0 {
            write!(f, "\n{} more with other senders of this digest, still running", self.with_other_senders)?;
        }
        for line in earlier {
            write!(f, "\n{line}")?;
        }
        if let Some((previous, counts)) = &self.suppressed_since {
            let counts: Vec<String> = counts.iter().map(|(kind, count)| format!("{count} {}", kind.as_str())).collect();
            write!(f, "\nsince {previous}: {}", counts.join(", "))?;
        }
        if !self.common_failures.is_empty() {
            write!(f, "\nmost common failures:")?;
            for (state, reply, count) in &self.common_failures {
                write!(f, "\n  {count} {}: {reply}", state.as_str())?;
            }
        }
        Ok(())
    }
}

/// The relay from `NEWSROOM_SMTP_URL`, with the configured step timeout.
pub fn relay(timeout: Duration) -> Result<Relay> {
    let url = std::env::var(SMTP_URL_VAR).map_err(|_| {
        UsageError::Environment(format!(
            "{SMTP_URL_VAR} is not set (e.g. smtp://127.0.0.1:2525 or smtps://user:pass@mail.example.org)"
        ))
    })?;
    let mut relay = Relay::parse(&url).map_err(|e| UsageError::Environment(e.to_string()))?;
    relay.timeout = timeout;
    if let Some(path) = std::env::var_os(relay::SMTP_CA_VAR).filter(|p| !p.is_empty()) {
        relay.trust(Path::new(&path)).map_err(|e| UsageError::Environment(e.to_string()))?;
    }
    Ok(relay)
}

/// Hands one message to the relay on a connection of its own: what
/// `serve` mails a sign-up confirmation with.
pub async fn send_one(relay: &Relay, message: &crate::email::message::OutgoingMessage) -> Outcome {
    let mut connection = match relay.connect().await {
        Ok(connection) => connection,
        Err(reason) => return Outcome::Transient { reply: reason, throttle: false },
    };
    let (outcome, _) =
        relay::transmit(&mut connection, message.message.envelope(), message.bytes(), relay.timeout).await;
    connection.quit().await;
    outcome
}

/// `digest send --test-to ADDRESS`: one `[TEST]` copy of the month's
/// digest, to one address, through the relay; no store is read or written.
fn send_test(
    site: &Site,
    options: &SendOptions,
    address: &str,
    secret: Vec<u8>,
    relay: Relay,
    now: DateTime<Utc>,
) -> Result<SendReport> {
    let started = Instant::now();
    // What the edition would carry if it were sent now.
    let assembled = edition_digest_of(site, &options.edition, now, &Selection::of_site(site, &options.edition)?)?;
    let mut report = SendReport {
        digest_id: options.edition.id(),
        relay: relay.display(),
        scheduled: assembled.scheduled,
        diagnostics: assembled.diagnostics,
        ..Default::default()
    };
    let Some(digest) = assembled.digest else {
        report.nothing_to_send = true;
        return Ok(report);
    };
    let mut sender = crate::email::sender(&site.config, secret, now.into());
    sender.dkim = crate::email::dkim::for_site(site)?;
    sender.subject_prefix = "[TEST] ".into();
    let address = crate::subscriber::normalise_address(address).map_err(UsageError::Argument)?;
    let recipient =
        Recipient { id: 0, subscriber_id: None, address, name: None, state: State::Pending, attempts: 0, reply: None };
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
    Ok(report)
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
        Err(std::fs::TryLockError::WouldBlock) => Err(UsageError::Busy(format!(
            "another `digest send` of {digest_id} is running (it holds `{}`); not starting a second one",
            lock_path.display()
        ))
        .into()),
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
    // A subscriber file the configuration names must be there; without
    // one, the store is the list.
    let named = site.config.digest.subscribers.is_some() && options.test_to.is_none();
    let inputs: &[Input] = if named { &[Input::Posts, Input::Subscribers] } else { &[Input::Posts] };
    if let Err(ConfigErrors(missing)) = site.require(inputs) {
        problems.extend(missing);
    }
    problems.extend(site.config.local_trial_urls());
    if problems.is_empty() { Ok(()) } else { Err(ConfigErrors(problems)) }
}

/// Refuses a send of an edition whose period has not ended
/// (`digest.send_at` on the day after it), unless asked for with
/// `--unfinished`: its digest would be frozen without the posts still to
/// come in it, and those posts would reach nobody.
fn refuse_unfinished(
    edition: &Edition,
    send_at: &SendAt,
    now: DateTime<Utc>,
    scheduled: Option<&Scheduled>,
) -> Result<(), UsageError> {
    let noun = edition.cadence().noun();
    let why = if let Some(ends) = edition.ends(send_at).filter(|ends| now < *ends) {
        format!(
            "its {noun} ends {}, and a post dated later in {} would be in no digest",
            ends.format("%Y-%m-%d %H:%M UTC"),
            edition.label()
        )
    } else if let Some(first) = scheduled.and_then(|scheduled| scheduled.first.as_ref()) {
        format!(
            "{} is dated in {} and not published yet ({}), and would be in no digest",
            first.path.display(),
            edition.label(),
            first.date.to_rfc3339()
        )
    } else {
        return Ok(());
    };
    Err(UsageError::Argument(format!(
        "the {} digest ({}) is not finished: {why}. To see it now, send yourself a copy with `--test-to ADDRESS` (or look at `digest preview`); to send it to everyone anyway, add `--unfinished` (the store records it, and `digest status` shows it)",
        edition.label(),
        edition.web_path()
    )))
}

/// `newsroom digest send`.
pub fn send(site: &Site, options: &SendOptions, now: DateTime<Utc>) -> Result<SendReport> {
    preflight(site, options)?;
    let send_at = &site.config.digest.editions.send_at;
    let sending = options.test_to.is_none();
    if sending && !options.unfinished {
        refuse_unfinished(&options.edition, send_at, now, None)?;
    }
    let secret = UnsubscribeSecret::from_env(SecretPolicy::Required(SECRET_FOR_SENDING))?.into_bytes();
    let relay = relay(site.config.delivery.timeout)?;
    let started = Instant::now();
    if let Some(address) = &options.test_to {
        return send_test(site, options, address, secret, relay, now);
    }
    let mut session = Session::open(site)?;
    let notices = std::mem::take(&mut session.notices);
    let ledger = session.store();
    let digest_id = options.edition.id();
    // SQLite: one sender at a time, by a lock file beside the store.
    // PostgreSQL: any number, on any machines, sharing rows by claims.
    let _lock = match ledger.backend() {
        Backend::Sqlite => Some(lock_digest(ledger.path(), &digest_id)?),
        Backend::Postgres => None,
    };
    // A digest already frozen carries the posts its first send carried;
    // one not sent yet, those its cadence passed over too.
    let frozen = ledger.frozen_digest(&digest_id)?;
    let assembled = edition_digest_of(site, &options.edition, now, &Selection::of_store(ledger, &options.edition)?)?;
    if frozen.is_none() && !options.unfinished {
        refuse_unfinished(&options.edition, send_at, now, Some(&assembled.scheduled))?;
    }
    let mut report = SendReport {
        digest_id,
        relay: relay.display(),
        scheduled: assembled.scheduled,
        diagnostics: assembled.diagnostics,
        notices,
        ..Default::default()
    };
    let ended = options.edition.ends(send_at).is_none_or(|ends| ends <= now);
    if options.unfinished && ended && report.scheduled.count == 0 {
        report.notices.push(format!("{} has ended: --unfinished changes nothing", options.edition.label()));
    }
    let Some(digest) = assembled.digest else {
        report.nothing_to_send = true;
        return Ok(report);
    };
    if frozen.is_none() && digest.post_count < options.min_posts as usize {
        // Nothing frozen: the posts stay for the next edition of the cadence.
        report.too_few_posts = Some(digest.post_count);
        return Ok(report);
    }
    let mut sender = crate::email::sender(&site.config, secret, now.into());
    sender.dkim = crate::email::dkim::for_site(site)?;
    // The list merged first, every run: an opt-out it gained stops the
    // messages not sent yet.
    if let Some(merged) = session.merge_list(now)? {
        report.diagnostics.extend(merged.diagnostics.iter().cloned());
        report.merged = Some(merged);
    }
    let mut ledger = session.into_store();
    // A list frozen empty would stay empty: refuse, and freeze nothing (the
    // transaction that would have frozen it is not committed).
    let freezing = Freezing {
        unfinished: options.unfinished && (!ended || report.scheduled.count > 0),
        posts: Some(digest.permalinks.clone()),
    };
    if ledger.freeze_subscribed_with(&digest.id, &freezing)? == 0 {
        let invalid = report.merged.as_ref().map_or(0, |merged| merged.skipped.len());
        let rows = if invalid > 0 {
            format!(" ({invalid} row(s) of the subscriber file could not be read: see above)")
        } else {
            String::new()
        };
        report.nobody = Some(format!(
            "nobody to send {} to: the store `{}` holds no subscribed address{rows} (write `{}`, or run `newsroom subscribers import FILE` or `add ADDRESS`)",
            digest.id,
            ledger.path().display(),
            site.config.digest.subscribers_path().display()
        ));
        return Ok(report);
    }
    if let Some((previous, frozen_at)) = ledger.previous_digest(&digest.id)? {
        report.suppressed_since = Some((previous, ledger.suppressed_since(&frozen_at)?));
    }
    report.recovered_ambiguous = ledger.recover(&digest.id, options.resend_ambiguous, options.retry_failed)?;
    let counts = ledger.counts(&digest.id)?;
    let count = |state: State| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    let total = count(State::Pending);
    // What earlier runs left that this one will not try: their outcome is
    // known (and was reported then), so it is said, not failed again.
    report.refused_earlier = count(State::FailedPermanent);
    report.ambiguous_earlier = count(State::Ambiguous).saturating_sub(report.recovered_ambiguous);
    report.recipients = counts.iter().map(|(_, n)| n).sum();
    report.skipped = counts.iter().filter(|(s, _)| matches!(s, State::Sent | State::Suppressed)).map(|(_, n)| n).sum();

    ledger.commit_without_waiting_for_disk()?;
    let writer = ledger.another_connection()?;
    if let Some(writer) = &writer {
        writer.commit_without_waiting_for_disk()?;
    }
    let claimant = Claimant::new(options.lease);
    let run = Arc::new(Run {
        queue: Mutex::new(VecDeque::new()),
        ledger: Mutex::new(ledger),
        claim_batch: CLAIM_BATCH,
        claimant,
        now,
        state: Mutex::new(RunState::default()),
        digest,
        sender,
        relay,
        rate: options.rate,
        observer: options.observer.clone(),
        stop: options.stop.clone(),
        refusal_limit: site.config.delivery.stop_after_identical_refusals,
        rows: tokio::sync::Notify::new(),
        writer: writer.map(Mutex::new),
    });
    run.observer.starting(total);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let workers = options.concurrency.max(1);
    // PostgreSQL: the workers' `sending` marks are committed in groups by
    // a thread of their own (see `commit_marks`), outside the runtime, on
    // the run's second connection.
    let (marks, committer) = if run.writer.is_some() {
        let (marks, requests) = tokio::sync::mpsc::unbounded_channel();
        let run = run.clone();
        let committer =
            std::thread::Builder::new().name("newsroom-marks".into()).spawn(move || commit_marks(&run, requests))?;
        (Marks::Grouped(marks), Some(committer))
    } else {
        (Marks::Inline, None)
    };
    runtime.block_on(async {
        // The claims stay this sender's while it runs, however long a
        // retry's backoff or a slow relay keeps a row in its queue.
        let renewing = tokio::spawn(renew_claims(run.clone()));
        loop {
            let mut running: tokio::task::JoinSet<()> =
                (0..workers).map(|_| worker(run.clone(), marks.clone())).collect();
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
            // Rows other senders hold are waited for, or taken over.
            if let Round::Done = next_round(&run, &run.digest.id).await {
                break;
            }
        }
        renewing.abort();
    });
    // Dropping the runtime waits for a claim still running on its blocking
    // pool: its rows are queued before they are given back below.
    drop(runtime);
    drop(marks);
    // The workers' senders are gone with them; the committer's channel closes.
    if let Some(Err(panic)) = committer.map(std::thread::JoinHandle::join) {
        std::panic::resume_unwind(panic);
    }
    let state = run.state.lock().expect("state");
    report.relay_error = state.connect_error.clone();
    let ledger = run.ledger.lock().expect("ledger");
    // Rows claimed and not started (a stop, a relay that could not be
    // reached) are given back for the next sender at once.
    ledger.release(&report.digest_id, &run.claimant)?;
    let counts = ledger.counts(&report.digest_id)?;
    let count = |state: State| counts.iter().find(|(s, _)| *s == state).map_or(0, |(_, n)| *n);
    report.sent = state.sent;
    report.recovered_ambiguous += state.taken_over_ambiguous;
    report.failed_permanent = count(State::FailedPermanent).saturating_sub(report.refused_earlier);
    report.failed_transient = count(State::FailedTransient);
    report.ambiguous = count(State::Ambiguous).saturating_sub(report.ambiguous_earlier);
    report.with_other_senders = ledger.held_by_others(&report.digest_id, &run.claimant)?;
    report.pending = (count(State::Pending) + count(State::Sending)).saturating_sub(report.with_other_senders);
    report.elapsed = started.elapsed();
    report.refused_everyone = state.refused_everyone.clone();
    report.interrupted = run.stop.is_requested() && report.refused_everyone.is_none() && report.pending > 0;
    report.common_failures = ledger.common_failures(&report.digest_id, COMMON_FAILURES)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The summary names the refusal that stopped a run, and the most common failures.
    #[test]
    fn the_summary_says_why_a_run_stopped_and_what_failed() {
        let report = SendReport {
            digest_id: "digest-2026-10".into(),
            sent: 3,
            failed_permanent: 50,
            pending: 10,
            refused_everyone: Some(("554 5.7.1 Relay access denied".into(), 50)),
            common_failures: vec![(State::FailedPermanent, "554 5.7.1 Relay access denied".into(), 50)],
            ..Default::default()
        };
        let text = report.to_string();
        assert!(
            text.starts_with("stopped: the relay refuses every recipient: 554 5.7.1 Relay access denied (50 in a row)"),
            "{text}"
        );
        assert!(
            text.ends_with("most common failures:\n  50 failed_permanent: 554 5.7.1 Relay access denied"),
            "{text}"
        );
    }
}
