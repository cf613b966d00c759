//! The writer: the threads that own appends and group-commit them.
//!
//! Ingest requests send their validated batch here and wait. A writer thread
//! takes every request that is waiting, stores them all in one `Store::append`
//! (on SQLite one synced journal record; on PostgreSQL one transaction per
//! write connection, each tenant's requests in one), and answers each. Under
//! load this turns thousands of requests per second into a few hundred syncs.
//!
//! **Invariant:** a request is answered with receipts only after the store
//! has its events durably (`Store::append` returned).

use std::sync::{Arc, Mutex};
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

/// The running writer threads; [`Writer::join`] waits for them after every handle is dropped.
pub struct Writer {
    threads: Vec<JoinHandle<()>>,
}

impl Writer {
    /// Starts as many writer threads as the store takes appends at once
    /// ([`Store::concurrent_appends`]): while one waits for its group to be
    /// synced, the next takes the requests that arrived meanwhile.
    pub fn start(store: Arc<dyn Store>) -> (Writer, WriterHandle) {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..store.concurrent_appends().max(1))
            .map(|_| {
                let (store, receiver) = (store.clone(), receiver.clone());
                std::thread::Builder::new()
                    .name("evident-writer".to_owned())
                    .spawn(move || run(store.as_ref(), &receiver))
                    .expect("spawning a writer thread at startup")
            })
            .collect();
        (Writer { threads }, WriterHandle { sender })
    }

    /// Waits until the writer has answered every queued request and stopped.
    /// It stops once every [`WriterHandle`] is gone.
    pub fn join(self) {
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a writer thread panicked");
            }
        }
    }
}

/// Takes the next group: the first request waiting (or the next to come),
/// and every other one waiting, up to [`MAX_GROUP_EVENTS`]. None once every
/// sender is gone and the queue is empty.
fn next_group(receiver: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    // One thread gathers a group at a time; the others wait here for the next.
    let mut receiver = receiver
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = receiver.blocking_recv()?;
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
    Some(jobs)
}

fn run(store: &dyn Store, receiver: &Mutex<mpsc::Receiver<Job>>) {
    while let Some(jobs) = next_group(receiver) {
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
