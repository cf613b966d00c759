//! The writer: one thread that owns appends and group-commits them.
//!
//! Ingest requests send their validated batch here and wait. The thread takes
//! every request that is waiting, stores them all in one `Store::append`
//! (on SQLite one synced journal record; on PostgreSQL one transaction per
//! write connection, each tenant's requests in one), and answers each. Under
//! load this turns thousands of requests per second into a few hundred syncs.
//!
//! **Invariant:** a request is answered with receipts only after the store
//! has its events durably (`Store::append` returned).

use std::sync::Arc;
use std::thread::JoinHandle;

use evident_store::{AppendBatch, BatchError, Receipt, Store, StoreError};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

/// How many events one group commit takes at most (more wait for the next):
/// enough to make a sync cheap per event, few enough that the SQLite
/// applier's transactions, and reads waiting for them, stay short.
const MAX_GROUP_EVENTS: usize = 4_096;
/// Requests that may wait for the writer before senders wait too.
const QUEUE_DEPTH: usize = 4_096;

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the writer has stopped")]
    Stopped,
    /// The group's transaction failed; nothing of it was stored.
    #[error("storing failed: {0}")]
    Failed(String),
}

struct Job {
    batch: AppendBatch,
    reply: oneshot::Sender<Result<Vec<Receipt>, WriteError>>,
}

/// Sends batches to the writer; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    sender: mpsc::Sender<Job>,
}

impl WriterHandle {
    /// Appends one batch; returns once it is durably stored.
    pub async fn append(&self, batch: AppendBatch) -> Result<Vec<Receipt>, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { batch, reply })
            .await
            .map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?
    }
}

/// The running writer thread; [`Writer::join`] waits for it after every handle is dropped.
pub struct Writer {
    thread: JoinHandle<()>,
}

impl Writer {
    pub fn start(store: Arc<dyn Store>) -> (Writer, WriterHandle) {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let thread = std::thread::Builder::new()
            .name("evident-writer".to_owned())
            .spawn(move || run(store, receiver))
            .expect("spawning the writer thread at startup");
        (Writer { thread }, WriterHandle { sender })
    }

    /// Waits until the writer has answered every queued request and stopped.
    /// It stops once every [`WriterHandle`] is gone.
    pub fn join(self) {
        if self.thread.join().is_err() {
            tracing::error!("the writer thread panicked");
        }
    }
}

fn run(store: Arc<dyn Store>, mut receiver: mpsc::Receiver<Job>) {
    while let Some(first) = receiver.blocking_recv() {
        let mut events = first.batch.events.len();
        let mut jobs = vec![first];
        while events < MAX_GROUP_EVENTS {
            match receiver.try_recv() {
                Ok(job) => {
                    events += job.batch.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (batches, replies): (Vec<AppendBatch>, Vec<_>) =
            jobs.into_iter().map(|job| (job.batch, job.reply)).unzip();
        let started = std::time::Instant::now();
        match store.append(&batches, Timestamp::now()) {
            Ok(results) => {
                metrics::histogram!("evident_group_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::histogram!("evident_group_commit_requests").record(replies.len() as f64);
                for (reply, result) in replies.into_iter().zip(results) {
                    if let Ok(receipts) = &result {
                        metrics::counter!("evident_events_ingested_total")
                            .increment(receipts.len() as u64);
                    }
                    // A requester that went away still had its events stored; nothing to undo.
                    let _ = reply.send(result.map_err(WriteError::from));
                }
            }
            Err(error) => {
                tracing::error!(%error, "group commit failed; nothing of it was stored");
                let message = error.to_string();
                for reply in replies {
                    let _ = reply.send(Err(WriteError::Failed(message.clone())));
                }
            }
        }
    }
}
