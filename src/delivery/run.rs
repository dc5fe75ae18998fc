//! One run of `digest send`: the queue of recipients, the workers that
//! hand their messages to the relay (one connection each), and the
//! bookkeeping every attempt is bracketed by in the ledger: `sending`
//! committed before a message leaves, its outcome after. Retries back off
//! with jitter; throttling replies pause every worker; `--rate` spaces
//! the starts; a stop lets what is in flight finish.
//!
//! What the store costs a message is kept off its path where that is
//! safe: rows are claimed before the queue runs dry, and the `sending`
//! mark is committed while the relay answers the envelope (MAIL, RCPT,
//! DATA). The message and its final `.` go out only after both; a
//! transaction the worker backs out of ends with its connection, before
//! the final `.`, and a relay delivers nothing of it (RFC 5321, 3.8).
//!
//! Longer than the house's ~600 lines on purpose: the workers, their
//! backoff and the ledger marks around each SMTP transaction are one
//! protocol whose ordering is the exactly-once guarantee; split, the
//! order of a mark and a DATA would be spread over files.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{mpsc, oneshot};

use super::relay::{self, Outcome, Relay};
use crate::digest::Digest;
use crate::email::message::{self, Sender};
use crate::failpoint;
use crate::store::ledger::{self, Claim, Claimant, Mark, Recipient, State};
use crate::store::{Channel, Event, EventKind, Store};

/// Attempts per message in one run before a transient failure is recorded as failed.
pub const MAX_ATTEMPTS: u32 = 5;

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
    pub(super) async fn sleep(&self, duration: Duration) -> bool {
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

/// What a send tells as it goes, for the command to show (a progress bar,
/// lines): the library prints nothing itself.
pub trait Observer: Send + Sync {
    /// The run will try this many messages.
    fn starting(&self, _messages: usize) {}
    /// A message ended: sent, failed or ambiguous (not a retry).
    fn finished(&self, _state: State) {}
    /// Something went wrong that the run goes on after (the ledger could not
    /// record an outcome, which the next run will report).
    fn problem(&self, _message: &str) {}
    /// Something the run is doing that a person watching should know: it
    /// waits for rows another sender holds.
    fn notice(&self, _message: &str) {}
    /// The run will try this many messages more than it said at the start
    /// (rows it took over from a sender whose lease lapsed).
    fn more(&self, _messages: usize) {}
}

/// The first retry's delay; each further retry doubles it (plus jitter).
const BACKOFF_BASE: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Connection attempts in a row a worker makes before it gives up.
const CONNECT_ATTEMPTS: u32 = 5;

/// Builds the message of one ledger row.
pub(super) fn build(digest: &Digest, sender: &Sender, recipient: &Recipient) -> Result<message::OutgoingMessage> {
    message::build(digest, sender, &recipient.person())
}

pub(super) struct Job {
    pub(super) recipient: Recipient,
    pub(super) attempt: u32,
    pub(super) not_before: Instant,
}

#[derive(Default)]
pub(super) struct RunState {
    /// Jobs taken and not yet finished (they may come back to the queue).
    in_flight: usize,
    pub(super) sent: usize,
    /// Every worker waits until then after a throttling reply.
    paused_until: Option<Instant>,
    /// The next moment a message may start, under `--rate`.
    next_slot: Option<Instant>,
    pub(super) connect_error: Option<String>,
    workers_given_up: usize,
    /// The store had no more rows to claim.
    exhausted: bool,
    /// A claim failed: the run ends when its queue does, and waits for nothing.
    claim_failed: bool,
    /// Rows claimed in all, and when the workers last started: a round
    /// that claims none made no progress.
    claimed: usize,
    claimed_at_round_start: usize,
    /// Rows another sender left `sending` when its lease lapsed, taken
    /// over as ambiguous while this run went on.
    pub(super) taken_over_ambiguous: usize,
    /// Rows are being claimed.
    refilling: bool,
    /// The last row claimed: the next claim looks after it first.
    claimed_up_to: i64,
    /// The last permanent reply (its recipient's address taken out) and
    /// how many recipients in a row have had it.
    refusal_streak: (String, usize),
    /// Set when that streak reached the limit: the reply and the count.
    pub(super) refused_everyone: Option<(String, usize)>,
}

pub(super) struct Run {
    pub(super) queue: Mutex<VecDeque<Job>>,
    pub(super) ledger: Mutex<Store>,
    /// This sender, as the rows it claims name it.
    pub(super) claimant: Claimant,
    /// Rows claimed from the store at a time, when the queue has none ready.
    pub(super) claim_batch: usize,
    /// The send's clock, for the events a run records (a bounce).
    pub(super) now: chrono::DateTime<chrono::Utc>,
    pub(super) state: Mutex<RunState>,
    pub(super) digest: Digest,
    pub(super) sender: Sender,
    pub(super) relay: Relay,
    pub(super) rate: f64,
    pub(super) observer: Arc<dyn Observer>,
    pub(super) stop: Arc<Stop>,
    /// Identical permanent refusals in a row that stop the run (0: never).
    pub(super) refusal_limit: usize,
    /// Told when claimed rows were queued.
    pub(super) rows: tokio::sync::Notify,
    /// PostgreSQL: a second connection, on which [`commit_marks`] commits
    /// the marks and [`renew_claims`] renews the leases. The two statements
    /// change many of this sender's rows at once: on two connections they
    /// deadlocked each other (a soak's sender lost its workers to it).
    pub(super) writer: Option<Mutex<Store>>,
}

/// A worker's request to mark its next row `sending` (with its earlier
/// row's outcome), answered once the mark is committed.
pub(super) struct MarkRequest {
    outcome: Option<(i64, State, String)>,
    id: i64,
    message_id: String,
    answer: oneshot::Sender<Result<Claim, String>>,
}

enum Next {
    Job(Job),
    /// Rows are being claimed: wait for them.
    Rows,
    Wait(Duration),
    Done,
}

impl Run {
    /// The connection that changes many of this sender's rows at once (the
    /// marks, the renewals): the second one on PostgreSQL, else the run's.
    fn rows_writer(&self) -> std::sync::MutexGuard<'_, Store> {
        self.writer.as_ref().unwrap_or(&self.ledger).lock().expect("store")
    }

    fn next_job(self: &Arc<Self>) -> Next {
        let mut queue = self.queue.lock().expect("queue");
        let mut state = self.state.lock().expect("state");
        let now = Instant::now();
        if self.stop.is_requested() {
            return Next::Done;
        }
        // More rows are claimed before the queue runs dry, by a thread of
        // the blocking pool: no worker waits for the store's answer while
        // it holds the queue.
        if !state.exhausted && !state.refilling && queue.len() < self.claim_batch / 2 {
            state.refilling = true;
            let run = self.clone();
            let after = state.claimed_up_to;
            tokio::task::spawn_blocking(move || {
                // A panic here would leave the workers waiting for rows
                // that never come: it is this run's error instead.
                let claimed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run.ledger.lock().expect("ledger").claim_after(
                        &run.digest.id,
                        &run.claimant,
                        run.claim_batch,
                        after,
                    )
                }))
                .unwrap_or_else(|_| Err(anyhow::anyhow!("claiming rows panicked")));
                run.refilled(claimed);
            });
        }
        if let Some(index) = queue.iter().position(|job| job.not_before <= now) {
            let job = queue.remove(index).expect("index is in the queue");
            state.in_flight += 1;
            return Next::Job(job);
        }
        if state.refilling {
            return Next::Rows;
        }
        match queue.iter().map(|job| job.not_before).min() {
            Some(earliest) => Next::Wait(earliest - now),
            None if state.in_flight > 0 => Next::Wait(Duration::from_millis(20)),
            None => Next::Done,
        }
    }

    /// Rows claimed from the store (other senders may be taking rows of the
    /// same digest): queued, and the workers waiting for them woken.
    fn refilled(&self, claimed: Result<Vec<Recipient>>) {
        let mut queue = self.queue.lock().expect("queue");
        let mut state = self.state.lock().expect("state");
        state.refilling = false;
        match claimed {
            Ok(claimed) if !claimed.is_empty() => {
                state.claimed_up_to = claimed.last().map_or(state.claimed_up_to, |row| row.id);
                state.claimed += claimed.len();
                let now = Instant::now();
                queue.extend(claimed.into_iter().map(|recipient| Job { recipient, attempt: 0, not_before: now }));
            }
            Ok(_) => state.exhausted = true,
            Err(error) => {
                self.observer.problem(&format!("the store could not give this sender more rows ({error:#}); stopping"));
                state.exhausted = true;
                state.claim_failed = true;
            }
        }
        drop((queue, state));
        self.rows.notify_waiters();
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
            self.observer.problem(&format!("the ledger could not record {address} as {}: {error:#}", state.as_str()));
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
            if let Some(subscriber) = job.recipient.subscriber_id.filter(|_| names_no_mailbox(reply)) {
                self.bounced(subscriber, &job.recipient.address, reply);
            }
        }
        self.count_finished(state);
    }

    /// The relay refused the address itself (`5.1.x`: no such mailbox, bad
    /// address): the subscriber is `bounced`, not mailed by later digests.
    fn bounced(&self, subscriber: i64, address: &str, reply: &str) {
        let event =
            Event::new(EventKind::Bounced, Channel::Relay).detail(format!("hard: {reply}")).digest(&self.digest.id);
        if let Err(error) = self.ledger.lock().expect("ledger").bounce(subscriber, &event, self.now) {
            self.observer.problem(&format!("the store could not record {address} as bounced: {error:#}"));
        }
    }

    /// A subscriber who opted out since the list was frozen: not sent.
    fn opted_out(&self) {
        self.count_finished(State::Suppressed);
    }

    /// A row another sender took after this one's lease lapsed: not this
    /// run's to send or count.
    fn lost(&self) {
        self.state.lock().expect("state").in_flight -= 1;
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
            self.observer.finished(state);
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
            self.observer
                .problem(&format!("the ledger could not record a retry of {}: {error:#}", job.recipient.address));
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

/// What a run does once its workers have ended.
pub(super) enum Round {
    /// Rows are there to claim again (another sender's lease lapsed): run
    /// the workers again.
    Again,
    /// Nothing is left that this sender could send: the run is over.
    Done,
}

/// The longest a sender sleeps between looks at the rows other senders
/// hold, so that one whose holder finishes (or dies) early is not kept
/// waiting for a whole lease.
const HELD_LOOK_EVERY: Duration = Duration::from_secs(5);

/// After the workers end: a run is over only when its digest has no row
/// left pending, in flight or held by anyone. Rows another sender holds
/// under a live lease are waited for: renewed, that sender is alive and
/// sends them; lapsed, it died, and this run takes them over (its rows
/// in flight become ambiguous, its pending ones this run's to send). So
/// one re-run after a crash completes the digest, however many senders
/// shared it. A stop, a relay given up on, a claim that failed or a relay
/// that refuses everyone ends the run at once, as before.
pub(super) async fn next_round(run: &Run, digest_id: &str) -> Round {
    let mut said: Option<usize> = None;
    loop {
        {
            let state = run.state.lock().expect("state");
            if run.stop.is_requested()
                || state.workers_given_up > 0
                || state.claim_failed
                || state.refused_everyone.is_some()
            {
                return Round::Done;
            }
        }
        let looked = {
            let ledger = run.ledger.lock().expect("ledger");
            ledger
                .take_over_lapsed(digest_id, &run.claimant)
                .and_then(|taken| Ok((taken, ledger.others_claims(digest_id, &run.claimant)?)))
        };
        let ((ambiguous, claimable), (held, lapses)) = match looked {
            Ok(looked) => looked,
            Err(error) => {
                run.observer.problem(&format!("the store could not say what other senders hold ({error:#}); stopping"));
                return Round::Done;
            }
        };
        if ambiguous > 0 {
            run.state.lock().expect("state").taken_over_ambiguous += ambiguous;
            run.observer.notice(&format!(
                "{ambiguous} message(s) a sender that stopped had in flight are ambiguous now (never sent twice)"
            ));
        }
        if claimable > 0 {
            // No row claimed since the last round (another sender took
            // them first): look again a little later, not at once.
            let progress = {
                let mut state = run.state.lock().expect("state");
                let progress = state.claimed > state.claimed_at_round_start;
                state.claimed_at_round_start = state.claimed;
                state.exhausted = false;
                state.claimed_up_to = 0;
                progress
            };
            run.observer.notice(&format!("{claimable} recipient(s) left by another sender: sending them"));
            run.observer.more(claimable);
            if !progress && run.stop.sleep(Duration::from_millis(200)).await {
                return Round::Done;
            }
            return Round::Again;
        }
        if held == 0 {
            return Round::Done;
        }
        if said != Some(held) {
            let until = lapses.map_or_else(String::new, |at| {
                format!(": their claims lapse at {} unless renewed", at.format("%H:%M:%S UTC"))
            });
            run.observer.notice(&format!(
                "waiting for {held} recipient(s) another sender of {digest_id} holds{until}; a sender that stopped leaves them to this one then"
            ));
            said = Some(held);
        }
        let until_lapse = lapses
            .and_then(|at| (at - chrono::Utc::now()).to_std().ok())
            .map_or(HELD_LOOK_EVERY, |wait| wait + Duration::from_millis(100));
        if run.stop.sleep(until_lapse.min(HELD_LOOK_EVERY)).await {
            return Round::Done;
        }
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

/// Commits the workers' `sending` marks in groups on `store`, until every
/// worker has gone: the first request waiting, with every other that
/// arrived while the group before it was being written, in one statement
/// (a group commit). Each worker still waits for its own mark to be
/// committed before its message leaves, and holds at most one row
/// `sending`; what changes is that the workers share a commit and a round
/// trip to PostgreSQL instead of queueing for one each (at 8 workers, 1.5
/// marks a commit on average). Runs on a thread of its own: a store call
/// on a runtime's worker would first hand that worker's other tasks on.
pub(super) fn commit_marks(run: &Run, mut requests: mpsc::UnboundedReceiver<MarkRequest>) {
    let mut group = Vec::new();
    while let Some(first) = requests.blocking_recv() {
        group.push(first);
        while let Ok(more) = requests.try_recv() {
            group.push(more);
        }
        let marks: Vec<Mark> = group
            .iter()
            .map(|request| Mark {
                outcome: request.outcome.as_ref().map(|(id, state, reply)| (*id, *state, reply.as_str())),
                id: request.id,
                message_id: &request.message_id,
            })
            .collect();
        let mut committed = run.rows_writer().mark_outcomes_and_sending(&marks, &run.claimant);
        // A statement PostgreSQL chose as a deadlock's victim changed
        // nothing: it is run again.
        for _ in 0..3 {
            match &committed {
                Err(error) if crate::store::db::is_retryable(error) => {
                    committed = run.rows_writer().mark_outcomes_and_sending(&marks, &run.claimant);
                }
                _ => break,
            }
        }
        match committed {
            Ok(claims) => {
                for (request, claim) in group.drain(..).zip(claims) {
                    let _ = request.answer.send(Ok(claim));
                }
            }
            Err(error) => {
                let error = format!("{error:#}");
                for request in group.drain(..) {
                    let _ = request.answer.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Where the workers' `sending` marks are written.
#[derive(Clone)]
pub(super) enum Marks {
    /// By each worker, on the run's connection: SQLite, where a commit is
    /// a call into the library, cheaper than handing it to a thread.
    Inline,
    /// By [`commit_marks`], in groups: PostgreSQL, where a commit is a
    /// round trip to the server, and fewer of them is what counts.
    Grouped(mpsc::UnboundedSender<MarkRequest>),
}

/// Marks `id` `sending` (and the worker's earlier row with its outcome);
/// the claim once it is committed.
async fn mark_sending(
    run: &Run,
    marks: &Marks,
    outcome: Option<(i64, State, String)>,
    id: i64,
    message_id: &str,
) -> Result<Claim, String> {
    let sender = match marks {
        Marks::Inline => {
            let outcome = outcome.as_ref().map(|(done, state, reply)| (*done, *state, reply.as_str()));
            let ledger = run.ledger.lock().expect("ledger");
            return ledger
                .mark_outcome_and_sending(outcome, id, message_id, &run.claimant)
                .map_err(|e| format!("{e:#}"));
        }
        Marks::Grouped(sender) => sender,
    };
    let (answer, answered) = oneshot::channel();
    let request = MarkRequest { outcome, id, message_id: message_id.to_string(), answer };
    if sender.send(request).is_err() {
        return Err("the store's writer has stopped".into());
    }
    answered.await.unwrap_or_else(|_| Err("the store's writer has stopped".into()))
}

/// Renews this sender's claims every third of its lease until aborted.
pub(super) async fn renew_claims(run: Arc<Run>) {
    let every = run.claimant.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        if let Err(error) = run.rows_writer().renew(&run.digest.id, &run.claimant) {
            run.observer.problem(&format!("the store could not renew this sender's claims: {error:#}"));
        }
    }
}

/// One worker: one connection, jobs from the shared queue until it is empty.
pub(super) async fn worker(run: Arc<Run>, marks: Marks) {
    let mut connection = None;
    let mut connect_failures = 0;
    let mut unrecorded = None;
    loop {
        // Listening before asking, so that rows queued in between are not missed.
        let rows = run.rows.notified();
        tokio::pin!(rows);
        rows.as_mut().enable();
        let job = match run.next_job() {
            Next::Job(job) => job,
            Next::Rows => {
                run.record(&mut unrecorded);
                tokio::select! {
                    () = rows => {}
                    () = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                continue;
            }
            Next::Wait(duration) => {
                run.record(&mut unrecorded);
                run.stop.sleep(duration.min(Duration::from_millis(200))).await;
                continue;
            }
            Next::Done => break,
        };
        if !run.pace(&mut unrecorded).await {
            run.give_back(job);
            break;
        }
        if connection.is_none() {
            run.record(&mut unrecorded);
            match run.relay.connect().await {
                Ok(opened) => {
                    connection = Some(opened);
                    connect_failures = 0;
                }
                Err(error) => {
                    connect_failures += 1;
                    run.give_back(job);
                    if connect_failures >= CONNECT_ATTEMPTS {
                        let mut state = run.state.lock().expect("state");
                        state.connect_error = Some(error);
                        state.workers_given_up += 1;
                        break;
                    }
                    run.stop.sleep(backoff(connect_failures)).await;
                    continue;
                }
            }
        }
        let outgoing = match build(&run.digest, &run.sender, &job.recipient) {
            Ok(outgoing) => outgoing,
            Err(error) => {
                run.finish(job, State::FailedPermanent, &format!("{error:#}"));
                continue;
            }
        };
        // Claimed before a stop was asked for, but not started: it goes back, pending.
        if run.stop.is_requested() {
            run.give_back(job);
            break;
        }
        // The `sending` mark is committed while the relay takes the
        // envelope: the message itself leaves only after both, and a
        // transaction the worker backs out of (the mark failed, or found
        // the row not its to send) ends with the connection, before the
        // message, so nothing is delivered.
        let outcome = unrecorded.as_ref().map(|done: &Unrecorded| (done.id, State::Sent, done.reply.clone()));
        let bytes = outgoing.bytes();
        let conn = connection.as_mut().expect("connected above");
        // The envelope first: its commands are written before the mark is
        // asked for (an inline mark does not wait at all).
        let (opened, marked) = tokio::join!(
            biased;
            relay::open(conn, outgoing.message.envelope(), &bytes, run.relay.timeout),
            mark_sending(&run, &marks, outcome, job.recipient.id, &outgoing.message_id),
        );
        if !matches!(marked, Ok(Claim::Sending)) && !matches!(opened, Err((_, true))) {
            connection = None;
        }
        match marked {
            Ok(Claim::Sending) => {}
            Ok(Claim::OptedOut) => {
                unrecorded = None;
                run.opted_out();
                continue;
            }
            Ok(Claim::Lost) => {
                unrecorded = None;
                run.lost();
                continue;
            }
            Err(error) => {
                // Without the `sending` mark a crash could send twice: stop here.
                run.observer.problem(&format!("the ledger could not record a send ({error}); stopping this worker"));
                run.give_back(job);
                break;
            }
        }
        unrecorded = None;
        failpoint::hit(failpoint::AFTER_SENDING_COMMITTED);
        let (outcome, usable) = match opened {
            Ok(()) => {
                let conn = connection.as_mut().expect("open on this connection");
                relay::hand_over(conn, bytes, run.relay.timeout).await
            }
            Err(refused) => refused,
        };
        if !usable {
            connection = None;
        }
        match outcome {
            Outcome::Sent(reply) => {
                failpoint::hit(failpoint::AFTER_ACCEPTED);
                unrecorded = Some(run.accepted(job, reply));
            }
            Outcome::Permanent(reply) => run.finish(job, State::FailedPermanent, &reply),
            Outcome::Ambiguous(reply) => run.finish(job, State::Ambiguous, &reply),
            Outcome::Transient { reply, throttle } => run.retry(job, &reply, throttle),
        }
    }
    run.record(&mut unrecorded);
    if let Some(mut connection) = connection {
        let _ = tokio::time::timeout(Duration::from_secs(5), connection.quit()).await;
    }
}

/// Whether a permanent refusal is about the address itself: its enhanced
/// status (RFC 3463) is `5.1.x` (bad destination mailbox or address).
pub(super) fn names_no_mailbox(reply: &str) -> bool {
    reply.split_whitespace().nth(1).is_some_and(|status| status.starts_with("5.1."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_5_1_x_refusal_bounces_the_subscriber() {
        assert!(names_no_mailbox("550 5.1.1 <a@x.org>: Recipient address rejected: User unknown"));
        assert!(names_no_mailbox("501 5.1.3 Bad recipient address syntax"));
        assert!(!names_no_mailbox("554 5.7.1 Relay access denied"));
        assert!(!names_no_mailbox("550 mailbox unavailable"));
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
