//! candor's storage: one [`Store`] over SQLite (the default, one WAL file in the instance
//! folder) and PostgreSQL (chosen by a `postgres://` URL), each with its own versioned
//! migrations, run at start. The same SQL text serves both backends: it uses `$n`
//! parameters, which SQLite accepts too, and portable types (integers, text, bytes).

mod audit;
mod consents;
mod data;
pub mod dsar;
mod erasure;
mod keyring;
mod keys;
pub mod notices;
pub mod outbox;
mod panel;
mod sessions;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqliteSynchronous};

pub use audit::AuditLog;
pub use consents::{
    Ahead, ConsentRecord, ConsentRequest, ConsentSnapshot, PreparedConsent, SubjectKind, SubjectRow, latest_per_purpose,
};
pub use data::{DataRead, EventRow, NewEvent, ReceiptRow, TraitRow};
pub use dsar::DsarRow;
pub use erasure::{ErasureCounts, ErasureRecord};
pub use keyring::Keyring;
pub use keys::ApiKeyRow;
pub use notices::{NewNotice, StoredNotice};
pub use outbox::{Attempted, Delivery, NewDelivery};
pub use panel::PanelSession;
pub use sessions::SessionRow;

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed a statement.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no backend we support.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
    /// Stored data could not be read back (corrupt or from a newer version).
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// A write lost a race with another writer (e.g. two publishers of one version).
    #[error("conflict: {0}")]
    Conflict(String),
}

impl StoreError {
    /// Whether the database is unreachable or overloaded (answer 503, not 500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)))
            || matches!(self, StoreError::Database(sqlx::Error::Database(e)) if is_busy_or_full(e.as_ref()))
    }
}

fn is_busy_or_full(e: &dyn sqlx::error::DatabaseError) -> bool {
    // SQLite: 5 BUSY, 13 FULL. PostgreSQL: 08xxx connection exceptions, 53xxx insufficient
    // resources (disk full, too many connections), 57P0x shutdown, 3D000 the database does
    // not exist, 55000 it does not accept connections.
    let code = e.code().unwrap_or_default();
    matches!(code.as_ref(), "5" | "13" | "517" | "3D000" | "55000")
        || ["08", "53", "57P"].iter().any(|class| code.starts_with(class))
}

/// The result type of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

#[derive(Clone)]
enum Db {
    /// SQLite: readers, and the one connection that writes, held apart (see [`write_tx!`]);
    /// how to open the writer again; and the files to flush.
    Sqlite {
        read: Connections,
        write: Connections,
        write_options: Box<SqliteConnectOptions>,
        files: Arc<SqliteFiles>,
    },
    Postgres(PgPool),
}

/// SQLite connections opened once and kept for good, lent out one at a time, the most
/// recently returned first (its page cache is the warmest). Not sqlx's pool: every
/// connection given back to it is pinged by a task spawned for the purpose, a round trip
/// to the connection's thread that cost more than a small query itself (measured: a
/// batch read of eight subjects, ~250 µs of CPU through the pool, ~150 µs on a held
/// connection), and on the writer it sat between one transaction and the next.
type Connections = deadpool::unmanaged::Pool<SqliteConnection>;

/// How long a reader waits for a free connection before the request fails as unavailable.
const READ_WAIT: Duration = Duration::from_secs(10);
/// How long a writer waits for the writing connection; a wait this long means the disk
/// is stuck.
const WRITE_WAIT: Duration = Duration::from_secs(30);

/// Opens `count` connections with `options` and holds them.
async fn hold(options: &SqliteConnectOptions, count: usize) -> Result<Connections> {
    let pool = Connections::from_config(&deadpool::unmanaged::PoolConfig {
        max_size: count,
        timeout: None,
        runtime: Some(deadpool::Runtime::Tokio1),
    });
    for _ in 0..count {
        let conn = SqliteConnection::connect_with(options).await?;
        if pool.add(conn).await.is_err() {
            return Err(StoreError::Database(sqlx::Error::PoolClosed));
        }
    }
    Ok(pool)
}

/// Lends a held connection, waiting up to `wait` for one to be free.
async fn lend(pool: &Connections, wait: Duration) -> Result<deadpool::unmanaged::Object<SqliteConnection>> {
    pool.timeout_get(Some(wait)).await.map_err(|e| {
        StoreError::Database(match e {
            deadpool::unmanaged::PoolError::Timeout => sqlx::Error::PoolTimedOut,
            _ => sqlx::Error::PoolClosed,
        })
    })
}

/// Closes every held connection, once those lent out are back.
async fn close_all(pool: &Connections) {
    for _ in 0..pool.status().size {
        if let Ok(conn) = pool.remove().await {
            let _ = conn.close().await;
        }
    }
    pool.close();
}

/// What a committed write transaction promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// On disk before the commit returns: consent, keys, audit, erasure, everything that is
    /// proof.
    Durable,
    /// Survives a crash of candor but may be lost with the machine's power (never
    /// half-applied); the next durable commit makes it durable too. Only for bookkeeping
    /// that is redone when lost: which webhooks were claimed and acknowledged (a lost
    /// acknowledgement means one more delivery under the same idempotency key).
    Relaxed,
    /// Durable once the caller has flushed the [`Unflushed`] it was handed: for a writer
    /// that starts its next transaction while this one's flush is in flight.
    Deferred,
}

/// A committed transaction whose flush to disk is still to come: nobody may be told it is
/// durable before [`Unflushed::flush`] returned.
#[must_use = "a commit is durable only once flushed"]
pub struct Unflushed(Option<Arc<SqliteFiles>>);

impl Unflushed {
    /// Flushes the log (a no-op on PostgreSQL, whose commit already did).
    pub async fn flush(self) -> Result<()> {
        match self.0 {
            Some(files) => files.flush().await,
            None => Ok(()),
        }
    }
}

/// The files of a SQLite database, for flushing its log to disk.
///
/// Connections commit with `synchronous=NORMAL`: SQLite writes the transaction's pages
/// to the write-ahead log (the OS holds them; a crash of candor loses nothing) and
/// releases the write lock without waiting for the disk. A durable commit then flushes
/// the log itself (`fdatasync`) before it returns, which is what `synchronous=FULL`
/// would do, but outside the lock: the next transaction runs while this one's flush is
/// in flight, and concurrent flushes share the disk's work. Everything the log held up to
/// the commit is on disk when the flush returns; if a checkpoint restarted the log in
/// between, the checkpoint has already flushed those pages into the database file.
pub(crate) struct SqliteFiles {
    database: std::path::PathBuf,
    log: std::path::PathBuf,
    flushes: std::sync::atomic::AtomicU64,
}

impl SqliteFiles {
    /// Flushes the write-ahead log to disk (or, with no log left, the database file).
    pub(crate) async fn flush(self: &Arc<Self>) -> Result<()> {
        let files = self.clone();
        tokio::task::spawn_blocking(move || {
            let flushed = match std::fs::File::open(&files.log) {
                Ok(log) => log.sync_data(),
                // The log is only removed once every connection closed, after a checkpoint
                // copied it all into the database file.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::File::open(&files.database).and_then(|f| f.sync_data())
                }
                Err(e) => Err(e),
            };
            files.flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            flushed
        })
        .await
        .map_err(|e| StoreError::Database(sqlx::Error::Io(std::io::Error::other(e))))?
        .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))
    }
}

/// The one storage facade of candor.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

/// Runs the same body on one reading connection of whichever backend the store holds
/// (`$pool` is a `&mut` connection: a body that runs several statements passes
/// `&mut *$pool` to each). The body is compiled once per backend, so it may use
/// backend-generic sqlx calls freely.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite { read, .. } => {
                let mut conn = $crate::lend(read, $crate::READ_WAIT).await?;
                let $pool = &mut *conn;
                $body
            }
            $crate::Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let $pool = &mut *conn;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

/// Appends `($1, $2, …)` to a query, binding each pid of `$pids`: the list of a `pid IN`.
macro_rules! push_pids {
    ($q:expr, $pids:expr) => {{
        $q.push("(");
        let mut list = $q.separated(", ");
        for pid in $pids {
            list.push_bind(&pid.0[..]);
        }
        $q.push(")");
    }};
}
pub(crate) use push_pids;

/// Runs `$body` in a write transaction and commits it: `BEGIN IMMEDIATE` on SQLite, so
/// a read-then-write never fails to upgrade its lock; a plain `BEGIN` on PostgreSQL.
/// Durable unless a [`Durability`] is given before the transaction's name.
///
/// SQLite has one writer at a time, so this process writes through ONE connection, held
/// apart from the readers ([`Connections`]): writers wait for it in arrival order (never
/// in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between retries), and since no
/// other connection of the process commits, its page cache stays valid from one
/// transaction to the next (SQLite drops a connection's cache whenever another one has
/// committed), so the index pages a batch of consents lands in are mostly in memory
/// already. Only other processes (the CLI) still meet the busy handler. A durable
/// transaction is flushed to disk after the writer is released (see [`SqliteFiles`]).
macro_rules! write_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        $crate::write_tx!($store, $crate::Durability::Durable, $tx => $body)
    };
    ($store:expr, $durability:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite { write, files, .. } => {
                // The writer is given back before the flush: the next transaction runs
                // while this one's log is flushed.
                let out = {
                    let mut conn = $crate::lend(write, $crate::WRITE_WAIT).await?;
                    let mut $tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                    let out = $body;
                    $tx.commit().await?;
                    out
                };
                if $durability == $crate::Durability::Durable {
                    files.flush().await?;
                }
                out
            }
            $crate::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                if $durability == $crate::Durability::Relaxed {
                    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *$tx).await?;
                }
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use write_tx;

/// The SQLite WAL length (4 KiB frames, 128 MiB) past which a checkpoint starts the log
/// over. A restart holds the writer for two fsyncs (the log's, then the database file's:
/// 6–28 ms each under the consent bench), which every write in flight waits for: at
/// 64 MiB it ran eight times in the bench's 22,000 writes and set the p99 (15–16 ms); at
/// 128 MiB the log mostly starts over by itself between the bench's rounds (p99 12 ms).
pub const WAL_RESTART_FRAMES: i64 = 32768;

/// How many times in a row a RESTART checkpoint is tried before it waits for the next call.
const RESTART_TRIES: usize = 5;

/// The writing connection's page cache (KiB, as SQLite's negative `cache_size`): the hot
/// index pages of the ledger; it fills only as pages are used.
const WRITER_CACHE: &str = "-16384";

/// Read connections: a few more than the cores, for reads that wait on the disk.
const READERS: usize = 8;

/// How long a statement waits for another process's lock (SQLite's `busy_timeout`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl Store {
    /// Opens the database at `url` (`sqlite:PATH` or `postgres://…`) and runs migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Consent is proof: an acknowledged write must survive power loss. Durable
                // commits flush the log themselves, outside the write lock (`SqliteFiles`);
                // checkpoints still flush the database file before the log is reused.
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(BUSY_TIMEOUT)
                .foreign_keys(true)
                // Batch statements differ by row count; keep every variant prepared.
                .statement_cache_capacity(1024)
                // Checkpoints run in the background (`Store::checkpoint`), not inside
                // whichever commit happens to cross the threshold.
                .pragma("wal_autocheckpoint", "0")
                // A log started over is cut back to this size (bytes): above what
                // `WAL_RESTART_FRAMES` lets it reach, so it is not regrown every time.
                .pragma("journal_size_limit", "201326592")
                // A multi-row insert keeps a statement journal (to undo just that statement
                // on a constraint error); past 64 KiB SQLite spills it to a temporary file.
                .pragma("temp_store", "memory");
            let path = options.get_filename().to_path_buf();
            let mut log = path.clone().into_os_string();
            log.push("-wal");
            let files = Arc::new(SqliteFiles { database: path.clone(), log: log.into(), flushes: Default::default() });
            // The writer first: opening it creates the file and turns the log on.
            let write_options = Box::new(options.clone().pragma("cache_size", WRITER_CACHE));
            let write = hold(&write_options, 1).await?;
            let read = hold(&options, READERS).await?;
            restrict_to_owner(&path);
            Store { db: Db::Sqlite { read, write, write_options, files } }
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url)?.application_name("candor");
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Store { db: Db::Postgres(pool) }
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite { write, .. } => {
                let mut conn = lend(write, WRITE_WAIT).await?;
                sqlx::migrate!("./migrations/sqlite").run(&mut *conn).await?
            }
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// What a [`Durability::Deferred`] transaction of this store leaves to flush.
    pub(crate) fn unflushed(&self) -> Unflushed {
        match &self.db {
            Db::Sqlite { files, .. } => Unflushed(Some(files.clone())),
            Db::Postgres(_) => Unflushed(None),
        }
    }

    /// How many times this store flushed the SQLite log to disk for a durable commit
    /// (always 0 on PostgreSQL, whose commits flush themselves).
    pub fn log_flushes(&self) -> u64 {
        match &self.db {
            Db::Sqlite { files, .. } => files.flushes.load(std::sync::atomic::Ordering::Relaxed),
            Db::Postgres(_) => 0,
        }
    }

    /// The PostgreSQL pool, for LISTEN/NOTIFY.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite { .. } => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Copies the SQLite WAL back into the database file (a passive checkpoint, on a
    /// reading connection, which never blocks the writer). Under sustained writes a passive
    /// checkpoint never catches up with the end of the log, so SQLite never starts the log
    /// over and it grows without bound (630 MB beside a 76 MB database after 22,000 consent
    /// writes in the bench). So once the log holds more than [`WAL_RESTART_FRAMES`] frames,
    /// a RESTART checkpoint runs on the writing connection, between two transactions: it
    /// copies what the passive one could not, and the next commit writes from the start of
    /// the log again. It cannot finish while a reader is still in the log; rather than
    /// SQLite's busy handler (sleeps of 1, 2, 5, 10… ms while every writer waits), it is
    /// tried again every millisecond for a few milliseconds, and otherwise at the next call.
    /// Servers call this several times a second; closing the store checkpoints too. A no-op
    /// on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Db::Sqlite { read, write, write_options, .. } = &self.db {
            let (_, log, _): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *lend(read, READ_WAIT).await?).await?;
            if log > WAL_RESTART_FRAMES {
                let mut writer = lend(write, WRITE_WAIT).await?;
                sqlx::query("PRAGMA busy_timeout = 0").execute(&mut *writer).await?;
                let restarted = async {
                    for _ in 0..RESTART_TRIES {
                        let (busy, _, _): (i64, i64, i64) =
                            sqlx::query_as("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *writer).await?;
                        if busy == 0 {
                            return Ok(true);
                        }
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                    Ok::<_, StoreError>(false)
                }
                .await;
                let busy_timeout = format!("PRAGMA busy_timeout = {}", BUSY_TIMEOUT.as_millis());
                if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(busy_timeout)).execute(&mut *writer).await {
                    // Never hand writers a connection that gives up at the first lock: open
                    // a new one in its place. If none opens, keep this one: a writer that
                    // gives up early still writes, where an empty pool would stop them all.
                    if let Ok(fresh) = SqliteConnection::connect_with(write_options).await {
                        drop(deadpool::unmanaged::Object::take(writer));
                        let _ = write.add(fresh).await;
                    }
                    return Err(e.into());
                }
                if !restarted? {
                    tracing::debug!(frames = log, "WAL restart postponed: readers are still in the log");
                }
            }
        }
        Ok(())
    }

    /// Closes every connection (checkpointing the SQLite WAL).
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite { read, write, .. } => {
                close_all(read).await;
                close_all(write).await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// Reads a setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let value: Option<(String,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(pool).await?);
        Ok(value.map(|v| v.0))
    }

    /// Writes a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        write_tx!(self, tx => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name).bind(value).execute(&mut *tx).await.map(|_| ())?);
        Ok(())
    }
}

/// The database holds pseudonymous personal data: only its owner may read it. SQLite
/// gives the WAL and shared-memory files the same mode as the main file.
fn restrict_to_owner(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(error = %e, "cannot restrict the database file to its owner");
        }
    }
    let _ = path;
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
