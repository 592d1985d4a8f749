//! The audit chain: every consent write, key operation and publication is recorded, and
//! `candor audit verify` names the first entry altered, deleted or reordered.

use serde_json::json;

use crate::helpers::{Backend, TestApp, catalog_with, spawn_app, stdout};
use crate::on_both;

on_both!(
    consent_key_and_notice_operations_are_chained,
    verify_detects_an_altered_entry,
    verify_detects_a_deleted_entry,
    verify_detects_reordered_entries,
    verify_detects_a_truncated_tail,
);

/// An app with a handful of audited operations, verified intact.
async fn audited_app(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.consent("audit-1", json!({"newsletter": true})).await;
    app.consent("audit-2", json!({"analytics": true})).await;
    assert!(app.cli(&["keys", "create", "--scope", "dsar"]).status.success());
    let r = app.publish(&catalog_with(|c| c.replace("retention_days = 90", "retention_days = 120"))).await;
    assert_eq!(r.status, 201);
    let out = app.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));
    app
}

/// Lifts the append-only triggers, as an attacker with database access would.
async fn tamper(app: &TestApp, statements: &[&str]) {
    let lift: &[&str] = match app.backend {
        Backend::Sqlite => &["DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"],
        Backend::Postgres => &["ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"],
    };
    app.raw_sql(lift).await.unwrap();
    app.raw_sql(statements).await.unwrap();
}

fn assert_broken_at(app: &TestApp, seq: i64) {
    let out = app.cli(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains(&format!("entry {seq}:")), "expected entry {seq}: {text}");
}

async fn consent_key_and_notice_operations_are_chained(backend: Backend) {
    let app = audited_app(backend).await;
    let entries = app.store.audit().recent(100).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    for action in ["notice.published", "key.created", "consent.recorded"] {
        assert!(actions.contains(&action), "{action} missing from {actions:?}");
    }
    assert_eq!(actions.iter().filter(|a| **a == "consent.recorded").count(), 2);
    assert_eq!(actions.iter().filter(|a| **a == "notice.published").count(), 2, "init's version 1 and the new one");
    assert!(entries.iter().all(|e| !e.detail.contains("audit-1")), "entries name pids, never external ids");
    let head = app.store.audit().head().await.unwrap().unwrap();
    assert_eq!(head.seq, entries[0].seq);
}

async fn verify_detects_an_altered_entry(backend: Backend) {
    let app = audited_app(backend).await;
    tamper(&app, &["UPDATE audit_log SET detail = '{\"purposes\":{\"newsletter\":\"denied\"}}' WHERE seq = 3"]).await;
    assert_broken_at(&app, 3);
}

async fn verify_detects_a_deleted_entry(backend: Backend) {
    let app = audited_app(backend).await;
    tamper(&app, &["DELETE FROM audit_log WHERE seq = 2"]).await;
    assert_broken_at(&app, 2);
}

async fn verify_detects_reordered_entries(backend: Backend) {
    let app = audited_app(backend).await;
    tamper(
        &app,
        &[
            "UPDATE audit_log SET seq = -1 WHERE seq = 2",
            "UPDATE audit_log SET seq = 2 WHERE seq = 3",
            "UPDATE audit_log SET seq = 3 WHERE seq = -1",
        ],
    )
    .await;
    assert_broken_at(&app, 2);
}

async fn verify_detects_a_truncated_tail(backend: Backend) {
    let app = audited_app(backend).await;
    let head = app.store.audit().head().await.unwrap().unwrap();
    tamper(&app, &[&format!("DELETE FROM audit_log WHERE seq = {}", head.seq)]).await;
    assert_broken_at(&app, head.seq);
}
