//! The store's one writer: a thread that owns the store's connection and
//! applies readers' requests in batches, one transaction a batch (group
//! commit). A request is answered only after its batch is committed, so
//! every 200 the service gives stands for a change already on disk; and a
//! burst of one-click POSTs costs one commit per batch, not one per POST.

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};
use tokio::sync::{mpsc, oneshot};

use crate::store::{Store, WebOutcome, WebRequest};

/// Most requests one commit covers.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer before callers wait to hand theirs over.
const QUEUE: usize = 4096;

struct Job {
    request: WebRequest,
    reply: oneshot::Sender<Result<WebOutcome, String>>,
}

/// The handle requests go through; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `store`. It ends when every [`Writer`]
    /// is dropped, after answering what was queued.
    pub fn start(store: Store) -> Result<(Writer, JoinHandle<()>)> {
        let (jobs, mut queue) = mpsc::channel::<Job>(QUEUE);
        // The store is opened by the caller's thread; it moves here once.
        let (ready, started) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("newsroom-store".into())
            .spawn(move || {
                let _ = ready.send(());
                let mut batch = Vec::with_capacity(MAX_BATCH);
                while let Some(first) = queue.blocking_recv() {
                    batch.push(first);
                    while batch.len() < MAX_BATCH {
                        match queue.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    apply(&store, &mut batch);
                }
            })
            .context("failed to start the store's writer thread")?;
        started.recv().context("the store's writer thread did not start")?;
        Ok((Writer { jobs }, thread))
    }

    /// Applies one request, and returns once it is committed.
    pub async fn ask(&self, request: WebRequest) -> Result<WebOutcome> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { request, reply }).await.map_err(|_| anyhow!("the store's writer has stopped"))?;
        answer.await.map_err(|_| anyhow!("the store's writer has stopped"))?.map_err(|e| anyhow!(e))
    }
}

fn apply(store: &Store, batch: &mut Vec<Job>) {
    let now = super::now();
    let (requests, replies): (Vec<WebRequest>, Vec<_>) = batch.drain(..).map(|job| (job.request, job.reply)).unzip();
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
