//! The newest ledger row per purpose of known subjects, kept in memory so that
//! `GET /v1/subjects/{id}/consents` (what a host asks before personalizing a page) costs
//! no database round trip when it asks about a subject again.
//!
//! Correctness first, since a stale "granted" would let data through that the subject
//! refused:
//!
//! - the consent writer puts each subject's new state here after its commit and before
//!   it answers, so a caller reads its own writes;
//! - merges and erasures in this process remove the subject before they answer;
//! - writes by other processes (another server on the same PostgreSQL database, the CLI)
//!   are found through the audit chain, which every consent write, merge and erasure
//!   appends to: a watcher reads the new entries every [`POLL`] and removes the subjects
//!   they name (SPEC allows servers a second to see each other's writes);
//! - a value read from the database is stored only if nothing touched its shard while it
//!   was read (a per-shard epoch), and never over a newer value.
//!
//! Each entry remembers the audit position it is known to be current at (`as_of`); the
//! watcher removes an entry only for audit entries after that position, so a subject the
//! writer just put here is not thrown out again when the watcher reads the writer's own
//! audit entries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use candor_privacy::Pid;
use candor_store::{ConsentRecord, Store};

/// How often the watcher reads the audit chain for other processes' writes.
pub const POLL: Duration = Duration::from_millis(250);
/// Audit actions after which a subject's consent state may have changed.
pub const CONSENT_ACTIONS: &[&str] = &["consent.recorded", "subject.merged", "subject.erased"];

const SHARDS: usize = 16;
/// Entries per shard; a full shard is emptied (65,536 subjects in all, a few tens of MiB).
const SHARD_CAPACITY: usize = 4096;

/// A subject's newest row per purpose (proofs left out).
pub type Latest = Arc<HashMap<String, ConsentRecord>>;

struct Entry {
    latest: Latest,
    as_of: i64,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<Pid, Entry>,
    epoch: u64,
}

/// Shared cache of current consent states (cheap to clone).
#[derive(Clone)]
pub struct ConsentCache {
    shards: Arc<[Mutex<Shard>]>,
    /// The audit position up to which the watcher has applied every change.
    seen: Arc<AtomicI64>,
}

/// What a reader notes before it reads a subject's rows from the database.
pub struct FillTicket {
    pid: Pid,
    epoch: u64,
    as_of: i64,
}

impl ConsentCache {
    /// An empty cache whose watcher starts after audit position `seen`.
    pub fn new(seen: i64) -> ConsentCache {
        ConsentCache {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            seen: Arc::new(AtomicI64::new(seen)),
        }
    }

    fn shard(&self, pid: &Pid) -> MutexGuard<'_, Shard> {
        // pids are HMAC outputs: any byte is uniformly distributed.
        self.shards[pid.0[1] as usize % SHARDS].lock().expect("consent cache lock")
    }

    /// The subject's newest rows, if cached.
    pub fn get(&self, pid: &Pid) -> Option<Latest> {
        self.shard(pid).entries.get(pid).map(|e| e.latest.clone())
    }

    /// Notes the moment before a database read of `pid`.
    pub fn ticket(&self, pid: Pid) -> FillTicket {
        let as_of = self.seen.load(Ordering::Acquire);
        FillTicket { pid, epoch: self.shard(&pid).epoch, as_of }
    }

    /// Stores what was read with `ticket`, unless the subject changed meanwhile.
    pub fn fill(&self, ticket: FillTicket, latest: Latest) {
        let mut shard = self.shard(&ticket.pid);
        if shard.epoch != ticket.epoch || shard.entries.contains_key(&ticket.pid) {
            return;
        }
        insert(&mut shard, ticket.pid, Entry { latest, as_of: ticket.as_of });
    }

    /// Stores a subject's state as committed at audit position `as_of` (the consent
    /// writer, after its commit).
    pub fn put(&self, pid: Pid, latest: Latest, as_of: i64) {
        let mut shard = self.shard(&pid);
        shard.epoch += 1;
        insert(&mut shard, pid, Entry { latest, as_of });
    }

    /// Forgets a subject (a merge or an erasure in this process).
    pub fn forget(&self, pid: &Pid) {
        let mut shard = self.shard(pid);
        shard.epoch += 1;
        shard.entries.remove(pid);
    }

    /// Forgets everything (the watcher could not read the audit chain; a test edited the
    /// database behind candor's back).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock().expect("consent cache lock");
            shard.epoch += 1;
            shard.entries.clear();
        }
    }

    /// Applies the audit entries after the last position seen: every subject they name
    /// whose cached state is older is forgotten.
    pub async fn catch_up(&self, store: &Store) -> Result<(), candor_store::StoreError> {
        let since = self.seen.load(Ordering::Acquire);
        let changes = store.audit().subjects_since(since, CONSENT_ACTIONS).await?;
        let mut newest = since;
        for (seq, subject) in changes {
            newest = newest.max(seq);
            let Some(pid) = Pid::from_hex(&subject) else { continue };
            let mut shard = self.shard(&pid);
            shard.epoch += 1;
            if shard.entries.get(&pid).is_some_and(|e| e.as_of < seq) {
                shard.entries.remove(&pid);
            }
        }
        self.seen.fetch_max(newest, Ordering::AcqRel);
        Ok(())
    }

    /// Follows other processes' writes forever.
    pub async fn watch(self, store: Store) {
        loop {
            tokio::time::sleep(POLL).await;
            if let Err(e) = self.catch_up(&store).await {
                tracing::warn!(error = %e, "cannot read the audit chain; the consent cache is emptied");
                self.clear();
            }
        }
    }
}

fn insert(shard: &mut Shard, pid: Pid, entry: Entry) {
    if shard.entries.len() >= SHARD_CAPACITY && !shard.entries.contains_key(&pid) {
        shard.entries.clear();
    }
    shard.entries.insert(pid, entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(n: u8) -> Pid {
        Pid([n; 32])
    }

    fn latest(state: &str) -> Latest {
        let record = ConsentRecord {
            id: "r".into(),
            purpose: "newsletter".into(),
            state: state.into(),
            notice_version: 1,
            at: 1,
            source: "api".into(),
            method: "api".into(),
            proof: String::new(),
            receipt_id: "x".into(),
        };
        Arc::new(HashMap::from([("newsletter".to_string(), record)]))
    }

    fn cached(cache: &ConsentCache) -> usize {
        cache.shards.iter().map(|s| s.lock().unwrap().entries.len()).sum()
    }

    fn state(cache: &ConsentCache, p: Pid) -> Option<String> {
        cache.get(&p).map(|l| l["newsletter"].state.clone())
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_stored() {
        let cache = ConsentCache::new(0);
        let ticket = cache.ticket(pid(1));
        cache.put(pid(1), latest("withdrawn"), 5);
        cache.fill(ticket, latest("granted"));
        assert_eq!(state(&cache, pid(1)).as_deref(), Some("withdrawn"));

        let ticket = cache.ticket(pid(2));
        cache.forget(&pid(2));
        cache.fill(ticket, latest("granted"));
        assert_eq!(state(&cache, pid(2)), None, "a read begun before an erasure is dropped");

        let ticket = cache.ticket(pid(3));
        cache.fill(ticket, latest("granted"));
        assert_eq!(state(&cache, pid(3)).as_deref(), Some("granted"));
    }

    #[test]
    fn a_full_shard_is_emptied_not_grown() {
        let cache = ConsentCache::new(0);
        for i in 0..(SHARD_CAPACITY * SHARDS * 2) {
            let mut p = [0u8; 32];
            p[..8].copy_from_slice(&(i as u64).to_le_bytes());
            p[1] = (i % 251) as u8;
            cache.put(Pid(p), latest("granted"), 1);
        }
        assert!(cached(&cache) <= SHARD_CAPACITY * SHARDS);
    }
}
