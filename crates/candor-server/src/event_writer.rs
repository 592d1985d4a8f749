//! Storing admitted events with group commit: one task drains every batch waiting at that
//! moment into one durable transaction, so concurrent ingestion requests share one fsync
//! and never queue on SQLite's write lock (whose busy handler sleeps in coarse steps).

use candor_store::{NewEvent, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

/// Requests (each a batch of events) sharing one transaction at most.
const MAX_REQUESTS: usize = 64;

type Reply = oneshot::Sender<Result<(), String>>;

/// Handle to the event writer task.
#[derive(Clone)]
pub struct EventWriter {
    tx: mpsc::Sender<(Vec<NewEvent>, Reply)>,
}

/// Why events were not stored.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The writer task is gone (shutting down).
    #[error("the event writer stopped")]
    Stopped,
    /// The transaction failed; nothing of the batch was stored.
    #[error("storing events failed: {0}")]
    Failed(String),
}

impl EventWriter {
    /// Starts the writer task.
    pub fn start(store: Store) -> EventWriter {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(rx, store));
        EventWriter { tx }
    }

    /// Stores `events`; returns once they are durable.
    pub async fn write(&self, events: Vec<NewEvent>) -> Result<(), WriteError> {
        if events.is_empty() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        self.tx.send((events, reply)).await.map_err(|_| WriteError::Stopped)?;
        answer.await.map_err(|_| WriteError::Stopped)?.map_err(WriteError::Failed)
    }
}

async fn run(mut rx: mpsc::Receiver<(Vec<NewEvent>, Reply)>, store: Store) {
    let mut waiting = Vec::with_capacity(MAX_REQUESTS);
    while rx.recv_many(&mut waiting, MAX_REQUESTS).await > 0 {
        let jobs = std::mem::take(&mut waiting);
        let rows: Vec<NewEvent> = jobs.iter().flat_map(|(events, _)| events.iter().cloned()).collect();
        let result: Result<(), StoreError> = store.insert_events(&rows).await;
        if let Err(e) = &result {
            tracing::error!(error = %e, requests = jobs.len(), "event batch failed; nothing was stored");
        }
        for (_, reply) in jobs {
            let _ = reply.send(
                result
                    .as_ref()
                    .map(|_| ())
                    .map_err(|e| if e.is_unavailable() { "unavailable".to_string() } else { "failed".to_string() }),
            );
        }
    }
}
