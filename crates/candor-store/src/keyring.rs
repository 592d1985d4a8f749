//! Subject data keys: created on first use, unwrapped on read, destroyed on erasure.
//!
//! A subject key is wrapped by its bucket's key, which is wrapped by the master key
//! (`candor_privacy::sealing`). Unwrapped bucket keys are cached; every wrapped row names
//! the key that wrapped it, so a process notices when another one re-keyed a bucket or
//! rotated the master key, and reloads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

use candor_privacy::sealing::{bucket_aad, bucket_of, subject_aad};
use candor_privacy::{InstanceKeys, Pid, SealingKey};

use crate::{Result, Store, StoreError, on_pool, write_tx};

/// The master keys and the cache of unwrapped bucket keys of one process.
pub struct Keyring {
    instance: Option<PathBuf>,
    masters: RwLock<Vec<SealingKey>>,
    buckets: Mutex<HashMap<u8, (String, SealingKey)>>,
}

impl Keyring {
    /// The keyring of an instance folder (its `keys/master.key`, or `CANDOR_MASTER_KEY`).
    pub fn open(instance: PathBuf) -> Result<Keyring> {
        let masters = load_masters(&instance)?;
        Ok(Keyring { instance: Some(instance), masters: RwLock::new(masters), buckets: Mutex::default() })
    }

    /// A keyring with a fixed master key and no files (benchmarks, unit tests). It cannot
    /// rotate its master key.
    pub fn fixed(master: SealingKey) -> Keyring {
        Keyring { instance: None, masters: RwLock::new(vec![master]), buckets: Mutex::default() }
    }

    /// The instance folder whose key files this keyring reads and rotates.
    pub fn instance(&self) -> Option<&std::path::Path> {
        self.instance.as_deref()
    }

    /// Whether erasure can replace the master key (it lives in a file candor owns).
    pub fn can_rotate_master(&self) -> bool {
        self.instance.is_some() && !InstanceKeys::master_from_env()
    }

    /// The master key new rows are wrapped with.
    pub(crate) fn current_master(&self) -> SealingKey {
        self.masters.read().expect("keyring lock")[0].clone()
    }

    /// The master key with this id, re-reading the key files once if it is unknown (another
    /// process may have rotated it).
    pub(crate) fn master(&self, kid: &str) -> Result<SealingKey> {
        let find = |keys: &[SealingKey]| keys.iter().find(|k| k.kid() == kid).cloned();
        if let Some(key) = find(&self.masters.read().expect("keyring lock")) {
            return Ok(key);
        }
        if let Some(dir) = &self.instance {
            let reloaded = load_masters(dir)?;
            let found = find(&reloaded);
            *self.masters.write().expect("keyring lock") = reloaded;
            if let Some(key) = found {
                return Ok(key);
            }
        }
        Err(StoreError::Corrupt(format!("no master key with id {kid}; is this the instance's key folder?")))
    }

    /// After a rotation committed: the new master key is the only one.
    pub(crate) fn replace_master(&self, key: SealingKey) {
        *self.masters.write().expect("keyring lock") = vec![key];
        self.buckets.lock().expect("keyring lock").clear();
    }

    pub(crate) fn cached_bucket(&self, bucket: u8, kid: &str) -> Option<SealingKey> {
        self.buckets.lock().expect("keyring lock").get(&bucket).filter(|(k, _)| k == kid).map(|(_, key)| key.clone())
    }

    pub(crate) fn cache_bucket(&self, bucket: u8, key: SealingKey) {
        self.buckets.lock().expect("keyring lock").insert(bucket, (key.kid(), key));
    }

    pub(crate) fn forget_bucket(&self, bucket: u8) {
        self.buckets.lock().expect("keyring lock").remove(&bucket);
    }
}

fn load_masters(instance: &std::path::Path) -> Result<Vec<SealingKey>> {
    let keys = InstanceKeys::master_keys(instance).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(keys.iter().map(|k| SealingKey::from_bytes(k)).collect())
}

/// A bucket row: its key's id, the master key's id, the wrapped key.
type BucketRow = (String, String, Vec<u8>);

/// The `[low, high)` range of pids in one bucket, for range scans of the pid primary keys.
pub(crate) fn bucket_range(bucket: u8) -> (Vec<u8>, Option<Vec<u8>>) {
    let low = [vec![bucket], vec![0u8; 31]].concat();
    let high = (bucket < 255).then(|| [vec![bucket + 1], vec![0u8; 31]].concat());
    (low, high)
}

impl Store {
    /// The subject's data key, if it has one.
    pub async fn subject_key(&self, keyring: &Keyring, pid: Pid) -> Result<Option<SealingKey>> {
        Ok(self.subject_keys(keyring, &[pid]).await?.remove(&pid))
    }

    /// The data keys of several subjects at once (those that have one).
    pub async fn subject_keys(&self, keyring: &Keyring, pids: &[Pid]) -> Result<HashMap<Pid, SealingKey>> {
        let mut keys = HashMap::new();
        for chunk in pids.chunks(500) {
            let rows: Vec<(Vec<u8>, String, Vec<u8>)> = on_pool!(self, pool => {
                let mut q = sqlx::QueryBuilder::new("SELECT pid, bucket_kid, wrapped FROM subject_keys WHERE pid IN ");
                crate::push_pids!(q, chunk);
                q.build_query_as().fetch_all(pool).await?
            });
            for (pid, bucket_kid, wrapped) in rows {
                let pid = Pid::from_slice(&pid).ok_or_else(|| StoreError::Corrupt("pid length".into()))?;
                let bucket = self.bucket_key(keyring, bucket_of(&pid), &bucket_kid).await?;
                let key = bucket
                    .unwrap_key(&subject_aad(&pid), &wrapped)
                    .map_err(|_| StoreError::Corrupt("a subject key does not unwrap".into()))?;
                keys.insert(pid, key);
            }
        }
        Ok(keys)
    }

    /// The subject's data key, creating the subject (as a known subject) and its key if
    /// needed. Each creation commits on its own, before any data sealed with the key.
    pub async fn ensure_subject_key(&self, keyring: &Keyring, pid: Pid, now_ms: i64) -> Result<SealingKey> {
        if let Some(key) = self.subject_key(keyring, pid).await? {
            return Ok(key);
        }
        let bucket = bucket_of(&pid);
        // The bucket row is read (and locked against re-keying on PostgreSQL) in the same
        // transaction that inserts the subject key, so no key is wrapped with a bucket key
        // that an erasure is replacing.
        let share = if self.backend() == crate::Backend::Postgres { " FOR SHARE" } else { "" };
        let select_bucket = format!("SELECT kid, master_kid, wrapped FROM key_buckets WHERE bucket = $1{share}");
        let created = write_tx!(self, tx => {
            let mut row: Option<BucketRow> = sqlx::query_as(sqlx::AssertSqlSafe(select_bucket.clone()))
                .bind(i32::from(bucket)).fetch_optional(&mut *tx).await?;
            if row.is_none() {
                let key = SealingKey::generate();
                let master = keyring.current_master();
                sqlx::query("INSERT INTO key_buckets (bucket, kid, master_kid, wrapped) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (bucket) DO NOTHING")
                    .bind(i32::from(bucket)).bind(key.kid()).bind(master.kid())
                    .bind(master.wrap(&bucket_aad(bucket), &key)).execute(&mut *tx).await?;
                row = sqlx::query_as(sqlx::AssertSqlSafe(select_bucket.clone()))
                    .bind(i32::from(bucket)).fetch_optional(&mut *tx).await?;
            }
            let (kid, master_kid, wrapped) = row.ok_or_else(|| StoreError::Corrupt("bucket key vanished".into()))?;
            let bucket_key = match keyring.cached_bucket(bucket, &kid) {
                Some(key) => key,
                None => unwrap_bucket(keyring, bucket, &master_kid, &wrapped)?,
            };
            let subject_key = SealingKey::generate();
            sqlx::query("INSERT INTO subjects (pid, kind, created_at) VALUES ($1, 'known', $2) ON CONFLICT (pid) DO NOTHING")
                .bind(&pid.0[..]).bind(now_ms).execute(&mut *tx).await?;
            let inserted = sqlx::query("INSERT INTO subject_keys (pid, bucket_kid, wrapped, created_at) VALUES ($1, $2, $3, $4) \
                                        ON CONFLICT (pid) DO NOTHING")
                .bind(&pid.0[..]).bind(&kid).bind(bucket_key.wrap(&subject_aad(&pid), &subject_key)).bind(now_ms)
                .execute(&mut *tx).await?.rows_affected();
            (inserted == 1).then_some(subject_key)
        });
        match created {
            Some(key) => Ok(key),
            // Another request created it first: use theirs.
            None => self.subject_key(keyring, pid).await?.ok_or_else(|| StoreError::Conflict("subject key".into())),
        }
    }

    async fn bucket_key(&self, keyring: &Keyring, bucket: u8, kid: &str) -> Result<SealingKey> {
        if let Some(key) = keyring.cached_bucket(bucket, kid) {
            return Ok(key);
        }
        let row: Option<BucketRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT kid, master_kid, wrapped FROM key_buckets WHERE bucket = $1")
            .bind(i32::from(bucket)).fetch_optional(pool).await?);
        let (current_kid, master_kid, wrapped) = row.ok_or_else(|| StoreError::Corrupt("missing bucket key".into()))?;
        if current_kid != kid {
            return Err(StoreError::Conflict("the bucket was re-keyed while reading; retry".into()));
        }
        unwrap_bucket(keyring, bucket, &master_kid, &wrapped)
    }
}

pub(crate) fn unwrap_bucket(keyring: &Keyring, bucket: u8, master_kid: &str, wrapped: &[u8]) -> Result<SealingKey> {
    let master = keyring.master(master_kid)?;
    let key = master
        .unwrap_key(&bucket_aad(bucket), wrapped)
        .map_err(|_| StoreError::Corrupt(format!("bucket key {bucket} does not unwrap with the master key")))?;
    keyring.cache_bucket(bucket, key.clone());
    Ok(key)
}
