//! Processors: signed webhooks from the transactional outbox, retried with backoff until
//! acknowledged, and none lost when candor is killed mid-delivery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, catalog_with, cli_in, spawn_app, stderr, stdout};
use crate::on_both;

on_both!(
    webhooks_are_signed_retried_and_acknowledged,
    consent_changes_and_publications_reach_the_processors_of_their_purposes,
);

const SECRET: &str = "test-processor-secret-0123456789abcdef";

/// What the processor received.
#[derive(Clone, Default)]
struct Inbox {
    received: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<Mutex<usize>>,
    /// Take this long to answer.
    delay: Arc<Mutex<Duration>>,
}

impl Inbox {
    fn all(&self) -> Vec<(HeaderMap, Value)> {
        self.received.lock().unwrap().clone()
    }

    fn of_type(&self, kind: &str) -> Vec<Value> {
        self.all().into_iter().map(|(_, b)| b).filter(|b| b["type"] == kind).collect()
    }
}

async fn hook(State(inbox): State<Inbox>, headers: HeaderMap, body: String) -> StatusCode {
    let delay = *inbox.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    let value: Value = serde_json::from_str(&body).unwrap();
    // Verify the signature as a processor would.
    let sig = headers["candor-signature"].to_str().unwrap().to_string();
    let t: i64 = sig.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(sig, candor_server::delivery::signature(SECRET, t, &body), "a valid signature");
    inbox.received.lock().unwrap().push((headers, value));
    let mut fail = inbox.fail_first.lock().unwrap();
    if *fail > 0 {
        *fail -= 1;
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

/// Starts the processor's webhook endpoint; returns its URL.
async fn processor(inbox: Inbox) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/hook", axum::routing::post(hook)).with_state(inbox);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn catalog_for(url: &str) -> String {
    catalog_with(|c| {
        c.replace("url = \"https://mailer.example/candor-webhook\"", &format!("url = \"{url}\""))
            .replace("secret = \"change-me-mailer-secret-0123456789\"", &format!("secret = \"{SECRET}\""))
    })
}

async fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn use_processor(app: &TestApp, url: &str) {
    let r = app.publish(&catalog_for(url)).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let start = Instant::now();
    while app.notice_version().await != 2 {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn webhooks_are_signed_retried_and_acknowledged(backend: Backend) {
    let app = spawn_app(backend).await;
    let inbox = Inbox::default();
    *inbox.fail_first.lock().unwrap() = 1;
    let url = processor(inbox.clone()).await;
    use_processor(&app, &url).await;
    // The first answer is a 500: that webhook is retried (after ~1 s) under the same key.
    let retried = || {
        let all = inbox.all();
        all.iter().enumerate().any(|(i, (_, a))| all[i + 1..].iter().any(|(_, b)| a["id"] == b["id"]))
    };
    wait_until("a retried webhook", Duration::from_secs(10), retried).await;
    let all = inbox.all();
    let first = &all[0].1;
    let again: Vec<&Value> = all.iter().map(|(_, b)| b).filter(|b| b["id"] == first["id"]).collect();
    assert!(again.len() >= 2, "the refused webhook came again");
    assert!(again.iter().all(|b| *b == first), "a retry is the same webhook");

    app.consent("ada", json!({"newsletter": true})).await;
    let r = app.delete("/v1/subjects/ada", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let dsar_id = r.body["certificate"]["certificate_id"].as_str().unwrap().to_string();
    wait_until("the dsar.erasure webhook", Duration::from_secs(10), || !inbox.of_type("dsar.erasure").is_empty()).await;
    let erasure = &inbox.of_type("dsar.erasure")[0];
    assert_eq!(erasure["subject"], "ada", "the processor learns whom to erase");
    assert_eq!(erasure["data"]["dsar_id"], dsar_id);
    let (headers, _) = inbox.all().into_iter().find(|(_, b)| b["type"] == "dsar.erasure").unwrap();
    assert_eq!(headers["idempotency-key"], erasure["id"].as_str().unwrap());

    let start = Instant::now();
    loop {
        let d = app.get(&format!("/v1/dsar/{dsar_id}"), Some(&app.admin_key)).await;
        if d.body["processors"][0]["status"] == "acknowledged" {
            assert!(d.body["processors"][0]["acknowledged_at"].is_string());
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{}", d.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Once acknowledged, the outbox no longer holds the subject's id.
    let rows = app.store.deliveries(100).await.unwrap();
    assert!(rows.iter().filter(|d| d.delivered_at.is_some()).all(|d| d.sealed_subject.is_none()));
    assert!(rows.iter().any(|d| d.kind == "dsar.erasure" && d.delivered_at.is_some()));
}

async fn consent_changes_and_publications_reach_the_processors_of_their_purposes(backend: Backend) {
    let app = spawn_app(backend).await;
    let inbox = Inbox::default();
    let url = processor(inbox.clone()).await;
    use_processor(&app, &url).await;
    app.consent("ada", json!({"newsletter": true, "personalization": true})).await;
    app.consent("bo", json!({"personalization": true})).await;
    wait_until("consent.changed", Duration::from_secs(10), || !inbox.of_type("consent.changed").is_empty()).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let changes = inbox.of_type("consent.changed");
    assert_eq!(changes.len(), 1, "mailer receives newsletter only; bo changed nothing it receives");
    assert_eq!(changes[0]["subject"], "ada");
    assert_eq!(changes[0]["data"]["purposes"], json!({"newsletter": "granted"}));

    // A material change to newsletter: the processor learns how many must be asked again.
    let catalog = catalog_for(&url).replace("retention_days = 730", "retention_days = 1000");
    let r = app.publish(&catalog).await;
    assert_eq!(r.body["material"], json!(["account", "newsletter"]), "{}", r.text);
    wait_until("notice.published v3", Duration::from_secs(10), || {
        inbox.of_type("notice.published").iter().any(|b| b["data"]["version"] == 3)
    })
    .await;
    let published = inbox.of_type("notice.published").into_iter().find(|b| b["data"]["version"] == 3).unwrap();
    assert_eq!(published["data"]["material"], json!(["account", "newsletter"]));
    assert_eq!(published["data"]["subjects_to_ask_again"], 1, "only ada granted newsletter");
    assert!(published["subject"].is_null());
}

/// Kills `candor serve` (SIGKILL) while webhooks are in flight and restarts it: every
/// webhook arrives, each under one idempotency key, so a processor applies each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_webhook_is_lost_or_applied_twice_across_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let init = cli_in(dir.path(), None, &["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let inbox = Inbox::default();
    *inbox.delay.lock().unwrap() = Duration::from_millis(300);
    let url = processor(inbox.clone()).await;
    std::fs::write(dir.path().join("candor.toml"), catalog_for(&url)).unwrap();
    assert!(cli_in(dir.path(), None, &["notice", "publish"]).status.success());
    let key = stdout(&cli_in(dir.path(), None, &["keys", "create", "--scope", "consent"])).trim().to_string();
    let subjects: Vec<String> = (0..12).map(|i| format!("crash-{i}")).collect();

    let (mut child, base) = serve(dir.path()).await;
    let client = reqwest::Client::new();
    for s in &subjects {
        let body = json!({"subject": s, "choices": {"newsletter": true}, "notice_version": 2, "source": "api"});
        let r = client.post(format!("{base}/v1/consents")).bearer_auth(&key).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 201);
    }
    for s in subjects.iter().take(6) {
        assert!(cli_in(dir.path(), None, &["erase", s]).status.success());
    }
    // Deliveries are under way (each takes 300 ms to answer): kill candor in the middle.
    wait_until("some deliveries", Duration::from_secs(10), || inbox.all().len() >= 3).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart = inbox.all().len();
    for s in subjects.iter().skip(6) {
        assert!(cli_in(dir.path(), None, &["erase", s]).status.success());
    }
    let (mut child, _) = serve(dir.path()).await;
    let store =
        candor_store::Store::open(&format!("sqlite://{}", dir.path().join("candor.db").display())).await.unwrap();
    let expected: BTreeSet<String> = store.deliveries(1000).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(expected.len() >= 2 * subjects.len(), "a consent.changed and a dsar.erasure per subject at least");
    wait_until("every webhook after the restart", Duration::from_secs(60), || {
        let got: BTreeSet<String> = inbox.all().iter().map(|(_, b)| b["id"].as_str().unwrap().to_string()).collect();
        got.is_superset(&expected)
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(before_restart < expected.len(), "the crash happened with webhooks still to deliver");
    // A processor applies by idempotency key: each key must always carry the same body.
    let mut applied: BTreeMap<String, Value> = BTreeMap::new();
    for (headers, body) in inbox.all() {
        let key = headers["idempotency-key"].to_str().unwrap().to_string();
        assert_eq!(key, body["id"]);
        if let Some(earlier) = applied.insert(key, body.clone()) {
            assert_eq!(earlier, body, "a redelivery is the same webhook");
        }
    }
    assert_eq!(applied.len(), expected.len(), "applied once per webhook");
    let erasures: BTreeSet<String> =
        inbox.of_type("dsar.erasure").iter().map(|b| b["subject"].as_str().unwrap().to_string()).collect();
    assert_eq!(erasures, subjects.iter().cloned().collect(), "every erasure reached the processor");
}

/// Starts `candor serve` as a child process; returns it and its base URL once it answers.
async fn serve(dir: &std::path::Path) -> (std::process::Child, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("--dir")
        .arg(dir)
        .args(["serve", "--listen", &addr.to_string()])
        .env("CANDOR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    let start = Instant::now();
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "candor serve did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}
