//! Ingestion through the gate (SPEC §3.1, §3.2), purpose-bound reads (§3.4), sealing at
//! rest (§3.5) and withdrawal and retention sweeps (§3.3), over HTTP and the CLI.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, catalog_with, spawn_app, spawn_app_with};
use crate::on_both;

on_both!(
    results_say_per_field_what_was_stored_and_why_not,
    strict_mode_stores_nothing_when_anything_would_drop,
    oversized_batches_are_refused_whole,
    a_field_new_to_a_purpose_is_stale_until_consent_under_the_new_version,
    traits_go_through_the_same_gate,
    reads_return_only_fields_of_the_purpose_with_a_basis_and_are_logged,
    values_are_sealed_at_rest,
    withdrawal_stops_ingestion_and_the_sweep_deletes_what_lost_its_basis,
    the_server_sweeps_by_itself_within_its_interval,
    data_past_retention_is_swept,
);

fn names(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect()
}

fn drops(result: &Value) -> Vec<(String, String)> {
    result["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["field"].as_str().unwrap().to_string(), d["reason"].as_str().unwrap().to_string()))
        .collect()
}

fn pair(field: &str, reason: &str) -> (String, String) {
    (field.to_string(), reason.to_string())
}

async fn event_count(app: &TestApp, subject: &str) -> i64 {
    let pid = pid_of(app, subject);
    app.store.event_count(pid).await.unwrap()
}

fn pid_of(app: &TestApp, subject: &str) -> candor_privacy::Pid {
    let keys = candor_privacy::InstanceKeys::load(app.dir.path()).unwrap();
    candor_privacy::Pseudonymizer::new(&keys.pseudonym).pid(subject)
}

async fn results_say_per_field_what_was_stored_and_why_not(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    let results = app
        .events(json!([
            {"subject": "ada", "type": "product_viewed", "properties": {"product_id": "tent-1", "colour": "red"}},
            {"subject": "ada", "type": "checkout", "properties": {"total": 10}},
            {"subject": "bo", "type": "product_viewed", "properties": {"product_id": "tent-2"}},
            {"subject": "ada", "type": "product_viewed", "properties": {"product_id": ""}},
            {"subject": "ada", "type": "product_viewed", "at": "yesterday", "properties": {"product_id": "p"}},
            {"subject": "", "type": "product_viewed", "properties": {"product_id": "p"}},
            {"subject": "ada", "type": "product_viewed", "properties": "not an object"},
            {"subject": "ada", "type": "product_viewed", "at": "2026-01-02T03:04:05Z", "properties": {"product_id": 77}},
        ]))
        .await;
    assert_eq!(results.len(), 8, "one result per event, in order");
    assert_eq!(results[0]["accepted"], true);
    assert_eq!(names(&results[0]["stored"]), ["product_id"]);
    assert_eq!(drops(&results[0]), [pair("colour", "undeclared_field")]);
    assert_eq!(drops(&results[1]), [pair("total", "undeclared_event")]);
    assert_eq!(results[1]["accepted"], false);
    assert_eq!(drops(&results[2]), [pair("product_id", "no_consent")], "bo never consented");
    assert_eq!(drops(&results[3]), [pair("product_id", "invalid_value")]);
    assert_eq!(drops(&results[4]), [pair("at", "invalid_value")]);
    assert_eq!(drops(&results[5]), [pair("subject", "invalid_value")]);
    assert_eq!(results[6]["accepted"], false, "a malformed event fails alone");
    assert_eq!(results[7]["accepted"], true);
    assert_eq!(event_count(&app, "ada").await, 2, "exactly the two accepted events are stored");
    assert_eq!(event_count(&app, "bo").await, 0);

    let reader = app.key(&["read:personalization"]).await;
    let data = app.get("/v1/subjects/ada/data?purpose=personalization", Some(&reader)).await;
    assert_eq!(data.status, 200, "{}", data.text);
    let events = data.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["properties"], json!({"product_id": "tent-1"}), "newest first, nothing undeclared");
    assert_eq!(events[1]["properties"], json!({"product_id": "77"}));
    assert_eq!(events[1]["at"], "2026-01-02T03:04:05Z");

    let ingest = app.key(&["ingest"]).await;
    let no_key = app.post("/v1/events", None, &json!({"events": []})).await;
    no_key.problem(401);
    let wrong = app.post("/v1/events", Some(&app.consent_key), &json!({"events": []})).await;
    wrong.problem(403);
    let ok = app.post("/v1/events", Some(&ingest), &json!({"events": []})).await;
    assert_eq!(ok.status, 200);
}

async fn strict_mode_stores_nothing_when_anything_would_drop(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    let batch = json!({"events": [
        {"subject": "ada", "type": "product_viewed", "properties": {"product_id": "ok"}},
        {"subject": "ada", "type": "product_viewed", "properties": {"product_id": "ok", "colour": "red"}},
    ]});
    let r = app.post("/v1/events?strict=true", Some(&app.admin_key), &batch).await;
    let problem = r.problem(422);
    assert_eq!(problem["errors"][0]["field"], "events[1].colour");
    assert_eq!(problem["errors"][0]["reason"], "undeclared_field");
    assert_eq!(event_count(&app, "ada").await, 0, "strict: nothing stored");
    let r = app.post("/v1/events?strict=false", Some(&app.admin_key), &batch).await;
    assert_eq!(r.status, 200);
    assert_eq!(event_count(&app, "ada").await, 2);
    let r = app.post("/v1/events?strict=maybe", Some(&app.admin_key), &batch).await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "strict");
}

async fn oversized_batches_are_refused_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    let event = json!({"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p"}});
    let r = app.post("/v1/events", Some(&app.admin_key), &json!({"events": vec![event.clone(); 1001]})).await;
    r.problem(413);
    assert_eq!(event_count(&app, "ada").await, 0);
    let big = json!({"subject": "ada", "type": "product_viewed", "properties": {"product_id": "x".repeat(1100)}});
    let r = app.post("/v1/events", Some(&app.admin_key), &json!({"events": vec![big; 999]})).await;
    r.problem(413);
    assert_eq!(event_count(&app, "ada").await, 0, "over 1 MiB: nothing stored");
    let r = app
        .post_raw("/v1/events", Some(&app.admin_key), "{\"events\": [", &[("content-type", "application/json")])
        .await;
    r.problem(400);
    let r = app.post("/v1/events", Some(&app.admin_key), &json!({"events": 3})).await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "events");
    let r = app.post("/v1/events", Some(&app.admin_key), &json!({"events": vec![event; 1000]})).await;
    assert_eq!(r.status, 200, "exactly 1000 is allowed");
    assert_eq!(event_count(&app, "ada").await, 1000);
}

async fn a_field_new_to_a_purpose_is_stale_until_consent_under_the_new_version(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    let catalog = catalog_with(|c| {
        c.replace(
            "[[event]]\nname = \"product_viewed\"\nfields = [\"product_id\"]",
            "[[field]]\nname = \"city\"\ntype = \"string\"\nmax_len = 80\ncategory = \"location.city\"\npurposes = [\"personalization\"]\n\n\
             [[event]]\nname = \"product_viewed\"\nfields = [\"product_id\", \"city\"]",
        )
    });
    let r = app.publish(&catalog).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["material"], json!(["personalization"]));
    wait_for_version(&app, 2).await;
    let event =
        json!([{"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p", "city": "Bonn"}}]);
    let results = app.events(event.clone()).await;
    assert_eq!(names(&results[0]["stored"]), ["product_id"], "still covered by the old consent");
    assert_eq!(drops(&results[0]), [pair("city", "consent_stale")]);
    let state = app.get("/v1/subjects/ada/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["needs_reconsent"], json!(["personalization"]));

    app.consent("ada", json!({"personalization": true})).await;
    let results = app.events(event).await;
    assert_eq!(names(&results[0]["stored"]), ["city", "product_id"]);
    let reader = app.key(&["read:personalization"]).await;
    let data = app.get("/v1/subjects/ada/data?purpose=personalization", Some(&reader)).await;
    assert_eq!(data.body["events"][0]["properties"], json!({"city": "Bonn", "product_id": "p"}));
    assert_eq!(data.body["events"][1]["properties"], json!({"product_id": "p"}), "the stale city was never stored");
}

async fn wait_for_version(app: &TestApp, version: i64) {
    let start = Instant::now();
    while app.notice_version().await != version {
        assert!(start.elapsed() < Duration::from_secs(5), "version {version} not served");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn traits_go_through_the_same_gate(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .put(
            "/v1/subjects/ada/traits",
            Some(&app.admin_key),
            &json!({"traits": {"email": "ada@example.com", "shoe_size": 42, "product_id": "p"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["accepted"], true);
    assert_eq!(names(&r.body["stored"]), ["email"], "account is a contract purpose: always on");
    assert_eq!(drops(&r.body), [pair("product_id", "no_consent"), pair("shoe_size", "undeclared_field")]);
    let r = app.put("/v1/subjects/ada/traits", Some(&app.admin_key), &json!({"traits": {"email": 5}})).await;
    assert_eq!(drops(&r.body), [pair("email", "invalid_value")]);
    let r = app
        .put(
            "/v1/subjects/ada/traits?strict=true",
            Some(&app.admin_key),
            &json!({"traits": {"email": "new@example.com", "x": 1}}),
        )
        .await;
    r.problem(422);
    let r = app.put("/v1/subjects/ada/traits", Some(&app.admin_key), &json!({"traits": []})).await;
    r.problem(422);
    let reader = app.key(&["read:account"]).await;
    let data = app.get("/v1/subjects/ada/data?purpose=account", Some(&reader)).await;
    assert_eq!(data.body["traits"]["email"]["value"], "ada@example.com", "strict refused the whole update");
}

async fn reads_return_only_fields_of_the_purpose_with_a_basis_and_are_logged(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    app.put("/v1/subjects/ada/traits", Some(&app.admin_key), &json!({"traits": {"email": "ada@example.com"}})).await;
    app.events(json!([{"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p"}}])).await;

    let newsletter = app.key(&["read:newsletter"]).await;
    let r = app.get("/v1/subjects/ada/data?purpose=newsletter", Some(&newsletter)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["fields"], json!([]), "newsletter was never granted");
    assert_eq!(r.body["traits"], json!({}));
    assert_eq!(r.body["events"], json!([]));
    let r = app.get("/v1/subjects/ada/data?purpose=personalization", Some(&newsletter)).await;
    r.problem(403);
    let r = app.get("/v1/subjects/ada/data", Some(&newsletter)).await;
    r.problem(422);
    let r = app.get("/v1/subjects/ada/data?purpose=nope", Some(&app.admin_key)).await;
    r.problem(422);
    let r = app.get("/v1/subjects/nobody/data?purpose=newsletter", Some(&newsletter)).await;
    r.problem(404);

    let account = app.key(&["read:account"]).await;
    let r = app.get("/v1/subjects/ada/data?purpose=account", Some(&account)).await;
    assert_eq!(r.body["fields"], json!(["email"]));
    assert_eq!(r.body["traits"]["email"]["value"], "ada@example.com");
    assert_eq!(r.body["events"], json!([]), "product_id does not serve account");

    app.consent("ada", json!({"newsletter": true})).await;
    let r = app.get("/v1/subjects/ada/data?purpose=newsletter", Some(&newsletter)).await;
    assert_eq!(r.body["traits"]["email"]["value"], "ada@example.com");

    let export = app.get("/v1/subjects/ada/export", Some(&app.admin_key)).await;
    let log = export.body["access_log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "every successful read is logged: {log:?}");
    assert_eq!(log[0]["purpose"], "newsletter");
    assert_eq!(log[0]["fields"], json!(["email"]));
    assert!(log[0]["actor"].as_str().unwrap().starts_with("key:"));
    let audit = app.store.audit().recent(50).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "data.read").count(), 3);
}

async fn values_are_sealed_at_rest(backend: Backend) {
    let app = spawn_app(backend).await;
    const EMAIL: &str = "sealed.value.4711@example.com";
    const PRODUCT: &str = "product-sealed-9931";
    const SUBJECT: &str = "subject-external-5521";
    app.consent(SUBJECT, json!({"personalization": true})).await;
    app.put(&format!("/v1/subjects/{SUBJECT}/traits"), Some(&app.admin_key), &json!({"traits": {"email": EMAIL}}))
        .await;
    app.events(json!([{"subject": SUBJECT, "type": "product_viewed", "properties": {"product_id": PRODUCT}}])).await;
    let reader = app.key(&["read:personalization"]).await;
    let r = app.get(&format!("/v1/subjects/{SUBJECT}/data?purpose=personalization"), Some(&reader)).await;
    assert_eq!(r.body["events"][0]["properties"]["product_id"], PRODUCT, "the value is stored and readable");
    for needle in [EMAIL, PRODUCT, SUBJECT] {
        let holding = app.find_in_database(needle).await;
        assert!(holding.is_empty(), "{needle} is stored in the clear in {holding:?}");
    }
    // The scan itself finds what is there: the catalog's field names are stored in the clear.
    assert!(!app.find_in_database("product_viewed").await.is_empty());
}

async fn withdrawal_stops_ingestion_and_the_sweep_deletes_what_lost_its_basis(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true, "analytics": true, "newsletter": true})).await;
    app.put("/v1/subjects/ada/traits", Some(&app.admin_key), &json!({"traits": {"email": "ada@example.com"}})).await;
    let event = json!([{"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p"}}]);
    app.events(event.clone()).await;

    // product_id also serves analytics: withdrawing personalization alone keeps it.
    app.consent("ada", json!({"personalization": false})).await;
    assert_eq!(app.sweep()["events_deleted"], 0);
    assert_eq!(event_count(&app, "ada").await, 1);
    let personalization = app.key(&["read:personalization"]).await;
    let r = app.get("/v1/subjects/ada/data?purpose=personalization", Some(&personalization)).await;
    assert_eq!(r.body["events"], json!([]), "reads for a withdrawn purpose return nothing at once");

    app.consent("ada", json!({"analytics": false, "newsletter": false})).await;
    let results = app.events(event).await;
    assert_eq!(drops(&results[0]), [pair("product_id", "no_consent")], "nothing new is stored");
    assert_eq!(event_count(&app, "ada").await, 1);
    let report = app.sweep();
    assert_eq!(report["events_deleted"], 1, "{report}");
    assert_eq!(report["traits_deleted"], 0, "email still serves account (contract)");
    assert_eq!(event_count(&app, "ada").await, 0);
    let account = app.key(&["read:account"]).await;
    let r = app.get("/v1/subjects/ada/data?purpose=account", Some(&account)).await;
    assert_eq!(r.body["traits"]["email"]["value"], "ada@example.com");
    assert_eq!(app.sweep()["events_deleted"], 0, "a second sweep finds nothing");
}

async fn the_server_sweeps_by_itself_within_its_interval(backend: Backend) {
    let app = spawn_app_with(backend, "sweep_interval_secs = 1").await;
    app.consent("ada", json!({"personalization": true})).await;
    app.events(json!([{"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p"}}])).await;
    assert_eq!(event_count(&app, "ada").await, 1);
    app.consent("ada", json!({"personalization": false})).await;
    let start = Instant::now();
    while event_count(&app, "ada").await > 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the background sweep did not delete withdrawn data");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn data_past_retention_is_swept(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ada", json!({"personalization": true})).await;
    let day = 24 * 3600 * 1000;
    let at = |days_ago: i64| candor_server::clock::rfc3339(candor_store::now_ms() - days_ago * day);
    // product_id's retention is the shorter of personalization (365) and analytics (90).
    app.events(json!([
        {"subject": "ada", "type": "product_viewed", "at": at(100), "properties": {"product_id": "old"}},
        {"subject": "ada", "type": "product_viewed", "at": at(80), "properties": {"product_id": "recent"}},
    ]))
    .await;
    assert_eq!(event_count(&app, "ada").await, 2);
    let report = app.sweep();
    assert_eq!(report["events_deleted"], 1, "{report}");
    let reader = app.key(&["read:personalization"]).await;
    let r = app.get("/v1/subjects/ada/data?purpose=personalization", Some(&reader)).await;
    let events = r.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["properties"]["product_id"], "recent");
}

/// The database goes away mid-service: requests get 503 and nothing is acknowledged that
/// was not committed; when it is back, so is candor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_is_gone_gives_503_and_stores_nothing() {
    use sqlx::Connection;
    let app = spawn_app(Backend::Postgres).await;
    app.consent("ada", json!({"personalization": true})).await;
    let url = app.database_url.clone().unwrap();
    let name = url.rsplit('/').next().unwrap().to_string();
    let mut admin = sqlx::PgConnection::connect(&crate::helpers::postgres_admin_url()).await.unwrap();
    let gate = |allow: bool| format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {allow}");
    sqlx::query(sqlx::AssertSqlSafe(gate(false))).execute(&mut admin).await.unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    let event = json!({"events": [{"subject": "ada", "type": "product_viewed", "properties": {"product_id": "p"}}]});
    let r = app.post("/v1/events", Some(&app.admin_key), &event).await;
    r.problem(503);
    let r =
        app.put("/v1/subjects/ada/traits", Some(&app.admin_key), &json!({"traits": {"email": "a@b.example"}})).await;
    r.problem(503);
    sqlx::query(sqlx::AssertSqlSafe(gate(true))).execute(&mut admin).await.unwrap();
    let start = Instant::now();
    loop {
        let r = app.post("/v1/events", Some(&app.admin_key), &event).await;
        if r.status == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "candor did not recover: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(event_count(&app, "ada").await, 1, "only the request answered 200 was stored");
}
