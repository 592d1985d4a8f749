//! Current-state reads that miss the consent cache, answered together: every read
//! waiting at that moment is served by one query, so concurrent callers share one
//! database round trip instead of taking one each (the read side of the consent writer's
//! group commit). Under light load a read runs at once, alone; under load the next reads
//! gather while one query runs. One query at a time, not more: reads arriving during a
//! query then gather into the next, 8.5 subjects per query on average in the bench
//! instead of 3.5 with two in flight (median 1), and a first-read p99 of 3.0 ms instead
//! of 4.2 ms (session 5).

use std::collections::HashMap;
use std::sync::Arc;

use candor_privacy::Pid;
use candor_store::{Store, latest_per_purpose};
use tokio::sync::{mpsc, oneshot};

use crate::consent_cache::{ConsentCache, Latest};
use crate::error::ApiError;

/// At most this many subjects per query.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<Option<Latest>, ApiError>>;

/// Handle to the batching reader task.
#[derive(Clone)]
pub struct ConsentReader {
    tx: mpsc::Sender<(Pid, Reply)>,
}

impl ConsentReader {
    /// Starts the reader task; what it reads goes into `cache`.
    pub fn start(store: Store, cache: ConsentCache) -> ConsentReader {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, store, cache));
        ConsentReader { tx }
    }

    /// A known subject's newest row per purpose (cached from now on), or `None` when candor
    /// does not know the subject.
    pub async fn latest(&self, pid: Pid) -> Result<Option<Latest>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((pid, reply)).await.map_err(|_| ApiError::unavailable("the consent reader stopped"))?;
        answer.await.map_err(|_| ApiError::unavailable("the consent reader stopped"))?
    }
}

async fn run(mut rx: mpsc::Receiver<(Pid, Reply)>, store: Store, cache: ConsentCache) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // One query at a time: reads arriving while it runs gather into the next.
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        answer(std::mem::take(&mut batch), &store, &cache).await;
    }
}

/// Reads one batch and answers its callers.
async fn answer(jobs: Vec<(Pid, Reply)>, store: &Store, cache: &ConsentCache) {
    // Tickets before the read: a write that lands meanwhile keeps its result out of the cache.
    let tickets: Vec<_> = jobs.iter().map(|(pid, _)| cache.ticket(*pid)).collect();
    let mut pids: Vec<Pid> = jobs.iter().map(|(pid, _)| *pid).collect();
    pids.sort();
    pids.dedup();
    match store.known_consent_states(&pids).await {
        Ok(ledgers) => {
            let latest: HashMap<Pid, Latest> =
                ledgers.into_iter().map(|(pid, rows)| (pid, Arc::new(latest_per_purpose(rows)))).collect();
            for ((pid, reply), ticket) in jobs.into_iter().zip(tickets) {
                let found = latest.get(&pid).cloned();
                if let Some(l) = &found {
                    cache.fill(ticket, l.clone());
                }
                let _ = reply.send(Ok(found));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, reads = jobs.len(), "consent state read failed");
            let unavailable = e.is_unavailable();
            for (_, reply) in jobs {
                let _ = reply.send(Err(if unavailable {
                    ApiError::unavailable("the database is unavailable; retry shortly")
                } else {
                    ApiError::opaque_internal()
                }));
            }
        }
    }
}
