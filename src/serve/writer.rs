//! The store's one writer: a thread that owns the store's connection and
//! applies readers' requests in batches, one transaction a batch (group
//! commit). A request is answered only after its batch is committed, so
//! every 200 the service gives stands for a change already on disk; and a
//! burst of one-click POSTs costs one commit per batch, not one per POST.
//!
//! The writer also replays the unsubscribe journal ([`Journal`]) into the
//! store: when it starts, before any batch while the journal holds lines
//! (so a kept opt-out comes before any later request of the reader), and
//! whenever it is asked to ([`Writer::replay`]).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use tokio::sync::{mpsc, oneshot};

use crate::store::journal::Journal;
use crate::store::{Store, WebOutcome, WebRequest};

/// Most requests one commit covers.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

enum Job {
    /// A reader's request, answered once committed.
    Web { request: WebRequest, reply: oneshot::Sender<Result<WebOutcome, String>> },
    /// Replay the journal, if it holds lines.
    Replay,
}

/// Where the writer says what it did with the journal.
pub type Log = Arc<dyn Fn(String) + Send + Sync>;

/// The handle requests go through; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `store`. It ends when every [`Writer`]
    /// is dropped, after answering what was queued.
    pub fn start(store: Store, journal: Arc<Journal>, log: Log) -> Result<(Writer, JoinHandle<()>)> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        // The store is opened by the caller's thread; it moves here once.
        let (ready, started) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("newsroom-store".into())
            .spawn(move || {
                let _ = ready.send(());
                let _ = replay(&store, &journal, &log);
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Some(first) = queue.blocking_recv() {
                    let mut next = Some(first);
                    while let Some(job) = next.take() {
                        if let Job::Web { request, reply } = job {
                            batch.push((request, reply));
                        }
                        if batch.len() < MAX_BATCH {
                            next = queue.try_recv().ok();
                        }
                    }
                    match replay(&store, &journal, &log) {
                        Ok(()) => apply(&store, &mut batch),
                        // The store did not take the journal: the batch
                        // would wait for it as long, and fail as surely.
                        Err(message) => fail(&mut batch, &message),
                    }
                }
            })
            .context("failed to start the store's writer thread")?;
        started.recv().context("the store's writer thread did not start")?;
        Ok((Writer { jobs }, thread))
    }

    /// Asks the writer to replay the journal; does not wait for it.
    pub fn replay(&self) {
        let _ = self.jobs.try_send(Job::Replay);
    }

    /// Applies one request, and returns once it is committed.
    pub async fn ask(&self, request: WebRequest) -> Result<WebOutcome> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Web { request, reply }).await.map_err(|_| anyhow!("the store's writer has stopped"))?;
        answer.await.map_err(|_| anyhow!("the store's writer has stopped"))?.map_err(|e| anyhow!(e))
    }
}

type Batch = Vec<(WebRequest, oneshot::Sender<Result<WebOutcome, String>>)>;

/// Replays the journal when it may hold lines, and logs what was done.
fn replay(store: &Store, journal: &Journal, log: &Log) -> Result<(), String> {
    if !journal.is_pending() {
        return Ok(());
    }
    match journal.replay(store) {
        Ok(changed) => {
            log(format!(
                "the unsubscribes kept in the journal while the store was busy are in the store now ({changed} reader(s) unsubscribed)"
            ));
            Ok(())
        }
        Err(error) => {
            let message = format!("{error:#}");
            log(format!("the store does not answer yet: {message}"));
            Err(message)
        }
    }
}

fn apply(store: &Store, batch: &mut Batch) {
    if batch.is_empty() {
        return;
    }
    let now = super::now();
    let (requests, replies): (Vec<WebRequest>, Vec<_>) = batch.drain(..).unzip();
    match store.apply_web(&requests, now) {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        // Nothing of the batch was committed: every request in it fails
        // (the reader sees an error and may try again).
        Err(error) => {
            let message = format!("{error:#}");
            for reply in replies {
                let _ = reply.send(Err(message.clone()));
            }
        }
    }
}

/// Answers every request of `batch` with `message`, nothing applied.
fn fail(batch: &mut Batch, message: &str) {
    for (_, reply) in batch.drain(..) {
        let _ = reply.send(Err(message.to_string()));
    }
}
