//! Storage: pseudonyms only, WAL, schema keyed by pid, two servers on one PostgreSQL
//! database, and no subject id in the logs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::{Backend, catalog_with, spawn_app};
use crate::on_both;

on_both!(external_ids_are_never_stored, subject_owned_tables_are_keyed_by_pid);

const EXTERNAL_ID: &str = "jane.doe+candor-7731@example.com";

async fn external_ids_are_never_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent(EXTERNAL_ID, json!({"newsletter": true, "analytics": true})).await;
    let r = app.post(&format!("/v1/subjects/{EXTERNAL_ID}/sessions"), Some(&app.consent_key), &json!({})).await;
    assert_eq!(r.status, 201);
    assert_eq!(app.get(&format!("/v1/subjects/{EXTERNAL_ID}/consents"), Some(&app.consent_key)).await.status, 200);

    let holding = app.find_in_database(EXTERNAL_ID).await;
    assert!(holding.is_empty(), "the external id is stored in the clear in {holding:?}");
}

async fn subject_owned_tables_are_keyed_by_pid(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut tables = vec![
        "subjects",
        "consent_records",
        "receipts",
        "subject_sessions",
        "subject_keys",
        "traits",
        "data_reads",
        "dsar_requests",
        "erased_subjects",
        "panel_sessions",
    ];
    // On SQLite events keep a rowid (with a (pid, at) index); PostgreSQL keys them by pid.
    if backend == Backend::Postgres {
        tables.push("events");
    }
    for table in tables {
        let first_key_column: String = match backend {
            Backend::Sqlite => {
                let pool =
                    sqlx::SqlitePool::connect(&format!("sqlite://{}", app.dir.path().join("candor.db").display()))
                        .await
                        .unwrap();
                let (name,): (String,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{table}') WHERE pk = 1"
                )))
                .fetch_one(&pool)
                .await
                .unwrap();
                let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode").fetch_one(&pool).await.unwrap();
                assert_eq!(mode, "wal");
                name
            }
            Backend::Postgres => {
                let pool = sqlx::PgPool::connect(app.database_url.as_deref().unwrap()).await.unwrap();
                let (name,): (String,) = sqlx::query_as(
                    "SELECT a.attname::text FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                     WHERE i.indrelid = $1::regclass AND i.indisprimary",
                )
                .bind(table)
                .fetch_one(&pool)
                .await
                .unwrap();
                name
            }
        };
        assert_eq!(first_key_column, "pid", "{table} must be keyed by pid first");
    }
}

/// Two `candor serve` processes on one PostgreSQL database see each other's consents and
/// notice versions within a second; neither logs a subject id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_one_postgres_database() {
    let app = spawn_app(Backend::Postgres).await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("--dir")
        .arg(app.dir.path())
        .args(["--database-url", app.database_url.as_deref().unwrap(), "serve", "--listen", "127.0.0.1:0"])
        .env("CANDOR_LOG", "debug,sqlx=info,hyper=info,h2=info")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let other = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
        log.push_str(&line);
        log.push('\n');
        if let Some(addr) = line.strip_prefix("candor is serving on ") {
            break addr.trim().to_string();
        }
    };
    let client = reqwest::Client::new();

    // A consent written through the other server is read through this one.
    let version = app.notice_version().await;
    let r = client
        .post(format!("{other}/v1/consents"))
        .bearer_auth(&app.consent_key)
        .json(&json!({"subject": EXTERNAL_ID, "choices": {"newsletter": true}, "notice_version": version, "source": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let state = app.get(&format!("/v1/subjects/{EXTERNAL_ID}/consents"), Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["newsletter"]["state"], "granted");

    // This server now holds that state in its consent cache; a withdrawal through the
    // other server shows here within a second.
    let r = client
        .post(format!("{other}/v1/consents"))
        .bearer_auth(&app.consent_key)
        .json(&json!({"subject": EXTERNAL_ID, "choices": {"newsletter": false}, "notice_version": version, "source": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let withdrawn = Instant::now();
    loop {
        let state = app.get(&format!("/v1/subjects/{EXTERNAL_ID}/consents"), Some(&app.consent_key)).await;
        if state.body["purposes"]["newsletter"]["state"] == "withdrawn" {
            break;
        }
        assert!(withdrawn.elapsed() < Duration::from_secs(1), "this server still answers {}", state.text);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A version published through this server is served by the other within a second.
    let r = app.publish(&catalog_with(|c| c.replace("retention_days = 365", "retention_days = 400"))).await;
    assert_eq!(r.status, 201);
    let published = Instant::now();
    loop {
        let body: serde_json::Value =
            client.get(format!("{other}/v1/notice")).send().await.unwrap().json().await.unwrap();
        if body["version"] == 2 {
            break;
        }
        assert!(published.elapsed() < Duration::from_secs(1), "the other server still serves {}", body["version"]);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And the consent written there after the publication is checked against version 2.
    let r = client
        .post(format!("{other}/v1/consents"))
        .bearer_auth(&app.consent_key)
        .json(&json!({"subject": EXTERNAL_ID, "choices": {"newsletter": true}, "notice_version": 1, "source": "api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    child.start_kill().unwrap();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
        log.push_str(&line);
        log.push('\n');
    }
    assert!(log.contains("/v1/subjects/{id}/consents") || log.contains("/v1/consents"), "requests are logged: {log}");
    assert!(!log.contains(EXTERNAL_ID) && !log.contains("jane.doe"), "a subject id reached the logs:\n{log}");
    assert!(!log.contains(&app.consent_key), "an API key reached the logs");
}

on_both!(a_batch_prepared_ahead_is_redone_when_its_subject_changed_meanwhile);

/// The consent writer prepares a batch from a snapshot while the previous batch commits;
/// the commit must use that work only if the subject's ledger did not change meanwhile.
async fn a_batch_prepared_ahead_is_redone_when_its_subject_changed_meanwhile(backend: Backend) {
    use candor_privacy::{AuditChain, InstanceKeys, Pseudonymizer};
    use candor_store::{ConsentRecord, ConsentRequest, PreparedConsent, SubjectKind};

    let app = spawn_app(backend).await;
    let keys = InstanceKeys::load(app.dir.path()).unwrap();
    let pid = Pseudonymizer::new(&keys.pseudonym).pid("snap");
    let requests = [ConsentRequest { pid, kind: SubjectKind::Known }];
    let chain = AuditChain::new(&app.signer);
    let row = |state: &str, version: i64| ConsentRecord {
        id: uuid::Uuid::now_v7().to_string(),
        purpose: "analytics".into(),
        state: state.into(),
        notice_version: version,
        at: candor_store::now_ms(),
        source: "api".into(),
        method: "api".into(),
        proof: "{}".into(),
        receipt_id: uuid::Uuid::now_v7().to_string(),
    };
    let prepared = |state: &str, version: i64| PreparedConsent {
        rows: vec![row(state, version)],
        receipt_id: uuid::Uuid::now_v7().to_string(),
        receipt_jws: "test".into(),
        at: candor_store::now_ms(),
        audit: candor_server::instance::audit_entry("test", "consent.recorded", Some(pid), json!({})),
        deliveries: Vec::new(),
    };
    app.consent("snap", json!({"newsletter": true})).await;

    // Nothing changed between snapshot and commit: the work done ahead is used.
    let snapshot = app.store.consent_snapshot(&requests).await.unwrap();
    let version = snapshot.current();
    let ahead = vec![Ok::<_, ()>((prepared("granted", version), "ahead"))];
    let head = app.store.audit().head().await.unwrap().unwrap().seq;
    let (out, after, unflushed) = app
        .store
        .record_consents(&requests, Some((snapshot, ahead)), &chain, |_, _, v, _| {
            Ok((prepared("granted", v), "redone"))
        })
        .await
        .unwrap();
    unflushed.flush().await.unwrap();
    assert_eq!(out, [Ok("ahead")]);
    assert_eq!(after, head + 1, "the batch's one audit entry moved the chain by one");

    // A write lands between snapshot and commit: the request is prepared again from
    // the ledger as it is inside the transaction.
    let snapshot = app.store.consent_snapshot(&requests).await.unwrap();
    app.consent("snap", json!({"newsletter": false})).await;
    let ahead = vec![Ok::<_, ()>((prepared("granted", version), "ahead"))];
    let mut seen_newsletter = None;
    let (out, _, unflushed) = app
        .store
        .record_consents(&requests, Some((snapshot, ahead)), &chain, |_, _, v, latest| {
            seen_newsletter = latest.get("newsletter").map(|r| r.state.clone());
            Ok((prepared("denied", v), "redone"))
        })
        .await
        .unwrap();
    unflushed.flush().await.unwrap();
    assert_eq!(out, [Ok("redone")]);
    assert_eq!(seen_newsletter.as_deref(), Some("withdrawn"), "the redo saw the write made meanwhile");
    let history = app.get("/v1/subjects/snap/consents/history", Some(&app.consent_key)).await;
    let analytics: Vec<&str> = history.body["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["purpose"] == "analytics")
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(analytics, ["granted", "denied"], "the stale prepared row was not written");
    assert!(app.cli(&["audit", "verify"]).status.success());
}

/// Consent is proof. On SQLite, commits are written with `synchronous=NORMAL` and a
/// durable one is answered only after candor flushed the log to disk itself (outside the
/// write lock); webhook bookkeeping (claims, acknowledgements) is redone when lost, so it
/// is not flushed on its own.
#[tokio::test]
async fn durable_writes_flush_the_sqlite_log_before_they_return() {
    let app = spawn_app(Backend::Sqlite).await;
    let flushes = app.store.log_flushes();
    app.consent("flushed-subject", json!({"newsletter": true})).await;
    assert!(app.store.log_flushes() > flushes, "a consent write was answered without flushing the log");

    // A store of its own, so the server's background writers do not move its count.
    let store =
        candor_store::Store::open(&format!("sqlite://{}", app.dir.path().join("candor.db").display())).await.unwrap();
    let before = store.log_flushes();
    store.set_setting("flush-test", "1").await.unwrap();
    assert_eq!(store.log_flushes(), before + 1, "a durable write flushes once");
    store.claim_due_deliveries(candor_store::now_ms(), 64, candor_store::now_ms() + 1000).await.unwrap();
    let acknowledged = candor_store::Attempted::Acknowledged { id: "no-such-delivery".into() };
    store.settle_deliveries(&[acknowledged], candor_store::now_ms()).await.unwrap();
    assert_eq!(store.log_flushes(), before + 1, "webhook bookkeeping is not flushed on its own");
    store.close().await;
}
