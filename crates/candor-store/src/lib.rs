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

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

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
    /// SQLite, with this process's turn to write (see [`write_tx!`]).
    Sqlite(SqlitePool, Arc<tokio::sync::Mutex<()>>),
    Postgres(PgPool),
}

/// The one storage facade of candor.
#[derive(Clone)]
pub struct Store {
    db: Db,
}

/// Runs the same body against whichever pool the store holds. The body is compiled once
/// per backend, so it may use backend-generic sqlx calls freely.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite($pool, _) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite so a read-then-write never
/// fails to upgrade its lock; on PostgreSQL a plain `BEGIN`.
///
/// SQLite has one writer at a time. Writers of this process take turns on an async lock
/// first (in arrival order), so they never meet SQLite's busy handler, which sleeps 1, 2,
/// 5, 10… ms between retries: a consent batch arriving while a webhook batch commits
/// would otherwise lose up to tens of milliseconds. Only other processes (the CLI) still
/// meet the busy handler.
macro_rules! write_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.db {
            $crate::Db::Sqlite(pool, turn) => {
                let _turn = turn.lock().await;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Db::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}
pub(crate) use write_tx;

/// The SQLite WAL length (4 KiB frames) past which a checkpoint starts the log over.
pub const WAL_RESTART_FRAMES: i64 = 16384;

impl Store {
    /// Opens the database at `url` (`sqlite:PATH` or `postgres://…`) and runs migrations.
    pub async fn open(url: &str) -> Result<Store> {
        let store = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Consent is proof: an acknowledged write must survive power loss.
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Batch statements differ by row count; keep every variant prepared.
                .statement_cache_capacity(1024)
                // Checkpoints run in the background (`Store::checkpoint`), not inside
                // whichever commit happens to cross the threshold.
                .pragma("wal_autocheckpoint", "0")
                // A log started over is cut back to this size (bytes): above what
                // `WAL_RESTART_FRAMES` lets it reach, so it is not regrown every time.
                .pragma("journal_size_limit", "100663296");
            let path = options.get_filename().to_path_buf();
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                // A local file's connections do not go stale; pinging each one before use
                // cost a round trip to its thread on every query.
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            restrict_to_owner(&path);
            Store { db: Db::Sqlite(pool, Default::default()) }
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
            Db::Sqlite(pool, _) => sqlx::migrate!("./migrations/sqlite").run(pool).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Which backend this store uses.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// The PostgreSQL pool, for LISTEN/NOTIFY.
    pub fn postgres_pool(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(..) => None,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_pool!(self, pool => { sqlx::query("SELECT 1").execute(pool).await?; });
        Ok(())
    }

    /// Copies the SQLite WAL back into the database file (a passive checkpoint, which
    /// never blocks writers). Under sustained writes a passive checkpoint never catches
    /// up with the end of the log, so SQLite never starts the log over and it grows
    /// without bound (630 MB beside a 76 MB database after 22,000 consent writes in the
    /// bench). So once the log holds more than [`WAL_RESTART_FRAMES`]
    /// frames, the checkpoint is a RESTART: it takes this process's turn to write (so it
    /// waits for the writer in progress, and the next waits for it), copies the rest, and
    /// the next commit writes from the start of the log again.
    /// Servers call it several times a second; closing the store checkpoints too. A no-op
    /// on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if let Db::Sqlite(pool, turn) = &self.db {
            let (_, log, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(pool).await?;
            // Even a log copied in full is only started over by a commit that finds no
            // reader in it, which sustained load never offers: restart it explicitly. (Once
            // idle, this repeats cheaply, ~1 ms, until the next commit starts the log over.)
            if log > WAL_RESTART_FRAMES {
                let _turn = turn.lock().await;
                sqlx::query("PRAGMA wal_checkpoint(RESTART)").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// Closes every connection (checkpointing the SQLite WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }

    /// Reads a setting.
    pub async fn setting(&self, name: &str) -> Result<Option<String>> {
        let value: Option<(String,)> = on_pool!(self, pool =>
            sqlx::query_as("SELECT value FROM settings WHERE name = $1").bind(name).fetch_optional(pool).await?);
        Ok(value.map(|v| v.0))
    }

    /// Writes a setting.
    pub async fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name).bind(value).execute(pool).await.map(|_| ())?);
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
