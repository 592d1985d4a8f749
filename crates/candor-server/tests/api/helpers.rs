//! `spawn_app()`: a real candor server on port 0 with a fresh instance folder and a
//! fresh database (a SQLite file, or a new PostgreSQL database), plus typed helpers.

use std::path::Path;
use std::process::Output;

use candor_privacy::{ApiKeySecret, AuditChain, ReceiptSigner};
use candor_server::app::Application;
use candor_server::config::{FlagOverrides, Settings};
use candor_server::consent_cache::ConsentCache;
use candor_server::instance::{self, Instance, audit_entry};
use candor_store::{ApiKeyRow, Store, now_ms};
use serde_json::Value;
use tempfile::TempDir;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body once per backend: `on_both!(name);` makes `name::sqlite` and
/// `name::postgres` from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await
            }
        }
    )*};
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("CANDOR_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A throwaway PostgreSQL database, dropped when the test ends.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection;
        let admin = postgres_admin_url();
        let name = format!("candor_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect(
            "PostgreSQL must answer at CANDOR_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres)",
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap();
        PgDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running test server.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: TempDir,
    pub backend: Backend,
    pub database_url: Option<String>,
    pub store: Store,
    pub signer: ReceiptSigner,
    /// A key with every scope (`admin`).
    pub admin_key: String,
    /// A key with the `consent` scope.
    pub consent_key: String,
    /// The server's cache of current consent states.
    pub consents: ConsentCache,
    _pg: Option<PgDatabase>,
}

/// Starts a fresh instance and server.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, "").await
}

/// Starts a fresh instance with extra `[server]` settings (TOML lines) in its candor.toml.
pub async fn spawn_app_with(backend: Backend, server: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create().await),
    };
    let database_url = pg.as_ref().map(|p| p.url.clone());
    instance::init(dir.path(), FlagOverrides { listen: None, database_url: database_url.clone() }).await.unwrap();
    if !server.is_empty() {
        let catalog = dir.path().join("candor.toml");
        let text = std::fs::read_to_string(&catalog).unwrap();
        std::fs::write(&catalog, format!("{text}\n[server]\n{server}\n")).unwrap();
    }
    spawn_on(dir, backend, database_url, pg).await
}

/// Starts a server on an existing instance folder.
pub async fn spawn_on(dir: TempDir, backend: Backend, database_url: Option<String>, pg: Option<PgDatabase>) -> TestApp {
    let settings = Settings::load(
        dir.path(),
        FlagOverrides { listen: Some("127.0.0.1:0".into()), database_url: database_url.clone() },
    )
    .unwrap();
    let instance = Instance::open(settings).await.unwrap();
    let store = instance.store.clone();
    let signer = instance.signer.clone();
    let admin_key = create_key(&store, &signer, &["admin"]).await;
    let consent_key = create_key(&store, &signer, &["consent"]).await;
    let app = Application::build(instance).await.unwrap();
    let consents = app.state().consents().clone();
    let base = format!("http://{}", app.addr());
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        base,
        client: reqwest::Client::new(),
        dir,
        backend,
        database_url,
        store,
        signer,
        admin_key,
        consent_key,
        consents,
        _pg: pg,
    }
}

/// Creates an API key directly in the store and returns its token.
pub async fn create_key(store: &Store, signer: &ReceiptSigner, scopes: &[&str]) -> String {
    let secret = ApiKeySecret::generate();
    let row = ApiKeyRow {
        id: secret.id.clone(),
        name: "test".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        secret_hash: secret.hash.to_vec(),
        created_at: now_ms(),
        revoked_at: None,
    };
    let audit = audit_entry("test", "key.created", None, serde_json::json!({"key": row.id}));
    store.create_api_key(&row, &AuditChain::new(signer), audit).await.unwrap();
    secret.token
}

/// A response read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    async fn read(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json answer with this status, and returns the body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text);
        assert_eq!(self.body["status"], status);
        assert!(self.body["type"].as_str().is_some() && self.body["title"].as_str().is_some(), "{}", self.text);
        &self.body
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> Reply {
        let mut r = self.client.get(self.url(path));
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut r = self.client.post(self.url(path)).json(body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        key: Option<&str>,
        body: impl Into<reqwest::Body>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut r = self.client.post(self.url(path)).body(body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    pub async fn put(&self, path: &str, key: Option<&str>, body: &Value) -> Reply {
        let mut r = self.client.put(self.url(path)).json(body);
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    pub async fn delete(&self, path: &str, key: Option<&str>) -> Reply {
        let mut r = self.client.delete(self.url(path));
        if let Some(key) = key {
            r = r.bearer_auth(key);
        }
        Reply::read(r.send().await.unwrap()).await
    }

    /// A new API key with these scopes.
    pub async fn key(&self, scopes: &[&str]) -> String {
        create_key(&self.store, &self.signer, scopes).await
    }

    /// Sends events with the admin key; asserts 200 and returns the results.
    pub async fn events(&self, events: Value) -> Vec<Value> {
        let r = self.post("/v1/events", Some(&self.admin_key), &serde_json::json!({ "events": events })).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["results"].as_array().unwrap().clone()
    }

    /// Runs one sweep through the CLI; returns its report.
    pub fn sweep(&self) -> Value {
        let out = self.cli(&["sweep"]);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    }

    /// The current notice version.
    pub async fn notice_version(&self) -> i64 {
        self.get("/v1/notice", None).await.body["version"].as_i64().unwrap()
    }

    /// Records choices for a known subject with the consent key; asserts 201.
    pub async fn consent(&self, subject: &str, choices: Value) -> Value {
        let version = self.notice_version().await;
        let r = self
            .post(
                "/v1/consents",
                Some(&self.consent_key),
                &serde_json::json!({"subject": subject, "choices": choices, "notice_version": version, "source": "api"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }

    /// Publishes a catalog through the API; returns the reply.
    pub async fn publish(&self, toml: &str) -> Reply {
        self.post_raw(
            "/v1/notice/versions",
            Some(&self.admin_key),
            toml.to_string(),
            &[("content-type", "application/toml")],
        )
        .await
    }

    /// Runs the real `candor` binary against this instance.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_in(self.dir.path(), self.database_url.as_deref(), args)
    }
}

/// Runs the `candor` binary with `--dir` (and `--database-url`).
pub fn cli_in(dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_candor"));
    cmd.arg("--dir").arg(dir);
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    cmd.args(args).env_remove("CANDOR_DATABASE_URL").env_remove("CANDOR_MASTER_KEY");
    cmd.output().unwrap()
}

/// stdout of a command as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of a command as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The example catalog with `edit` applied to its text.
pub fn catalog_with(edit: impl FnOnce(String) -> String) -> String {
    edit(candor_core::catalog::EXAMPLE_CATALOG.to_string())
}

impl TestApp {
    /// Where in the database `needle` appears as plain bytes: SQLite's files (main file,
    /// WAL, shared memory) or, on PostgreSQL, the text form of every row of every table.
    /// Asserts that something was scanned, so an empty answer means "nowhere".
    pub async fn find_in_database(&self, needle: &str) -> Vec<String> {
        let mut found = Vec::new();
        match self.backend {
            Backend::Sqlite => {
                let mut scanned = 0;
                for entry in std::fs::read_dir(self.dir.path()).unwrap() {
                    let path = entry.unwrap().path();
                    let name = path.file_name().unwrap().to_string_lossy().to_string();
                    if name.starts_with("candor.db") {
                        let bytes = std::fs::read(&path).unwrap();
                        scanned += bytes.len();
                        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                            found.push(name);
                        }
                    }
                }
                assert!(scanned > 0, "the database files were found and scanned");
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.database_url.as_deref().unwrap()).await.unwrap();
                let tables: Vec<(String,)> = sqlx::query_as(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(&pool)
                .await
                .unwrap();
                assert!(tables.len() >= 8);
                for (table,) in tables {
                    let sql = format!("SELECT count(*) FROM \"{table}\" t WHERE t::text LIKE '%' || $1 || '%'");
                    let (n,): (i64,) =
                        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(needle).fetch_one(&pool).await.unwrap();
                    if n > 0 {
                        found.push(table);
                    }
                }
                pool.close().await;
            }
        }
        found
    }

    /// Runs raw SQL on the app's database, as someone with file or server access could.
    pub async fn raw_sql(&self, statements: &[&str]) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", self.dir.path().join("candor.db").display());
                let pool = sqlx::SqlitePool::connect(&url).await?;
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&pool).await?;
                }
                pool.close().await;
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(self.database_url.as_deref().unwrap()).await?;
                for s in statements {
                    sqlx::query(sqlx::AssertSqlSafe(s.to_string())).execute(&pool).await?;
                }
                pool.close().await;
            }
        }
        // Edits behind candor's back leave no audit entry for the server to notice.
        self.consents.clear();
        Ok(())
    }
}
