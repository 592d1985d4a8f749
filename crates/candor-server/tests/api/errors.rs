//! Errors and limits: problem+json for every error, precise statuses, request ids,
//! health endpoints, and the committed OpenAPI document.

use serde_json::json;

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_both;

on_both!(
    every_error_is_precise_problem_json_with_a_request_id,
    bodies_over_one_mebibyte_are_413_and_store_nothing,
    health_readiness_and_well_known_answer,
);

async fn every_error_is_precise_problem_json_with_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let json_headers = [("content-type", "application/json")];

    let r = app.post_raw("/v1/consents", Some(&app.consent_key), "{\"subject\": ", &json_headers).await;
    r.problem(400);
    assert!(r.header("x-request-id").is_some());

    let version = app.notice_version().await;
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "s", "choices": {"newsletter": "yes"}, "notice_version": version, "source": "api"}),
        )
        .await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "choices.newsletter", "{}", r.text);
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "s", "choices": {}, "notice_version": version, "source": "carrier-pigeon"}),
        )
        .await;
    assert_eq!(r.problem(422)["errors"][0]["field"], "source");
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "s", "choices": {"newsletter": true}, "source": "api"}),
        )
        .await;
    assert!(r.problem(422)["errors"][0]["reason"].as_str().unwrap().contains("notice_version"), "{}", r.text);
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "a\u{1}b", "choices": {"newsletter": true}, "notice_version": version, "source": "api"}),
        )
        .await;
    assert_eq!(r.problem(422)["errors"][0], json!({"field": "subject", "reason": "bad_character"}));
    let long = "x".repeat(257);
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": long, "choices": {"newsletter": true}, "notice_version": version, "source": "api"}),
        )
        .await;
    assert_eq!(r.problem(422)["errors"][0]["reason"], "too_long");
    let r = app
        .post("/v1/consents", Some(&app.consent_key), &json!({"subject": "s", "anonymous_id": "abcdefghijklmnopqrstuvwxyz", "choices": {"newsletter": true}, "notice_version": version, "source": "api"}))
        .await;
    r.problem(422);
    let r = app
        .post("/v1/consents", Some(&app.consent_key), &json!({"subject": "s", "choices": {"newsletter": true}, "notice_version": version, "source": "api", "extra": 1}))
        .await;
    r.problem(422);

    app.get("/v1/subjects/nobody/consents", None).await.problem(401);
    let r = app.get("/v1/subjects/nobody/consents", Some("Basic abc")).await;
    r.problem(401);
    let ingest_only = crate::helpers::create_key(&app.store, &app.signer, &["ingest"]).await;
    app.get("/v1/subjects/nobody/consents", Some(&ingest_only)).await.problem(403);
    app.get("/v1/subjects/nobody/consents", Some(&app.consent_key)).await.problem(404);
    app.get("/v1/subjects/nobody/consents/history", Some(&app.consent_key)).await.problem(404);

    let r = app.get("/v1/no-such-route", None).await;
    r.problem(404);
    assert!(r.header("x-request-id").is_some());
    let r = app.client.delete(app.url("/v1/notice")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    let ok = app.get("/healthz", None).await;
    assert!(ok.header("x-request-id").is_some(), "successful responses carry a request id too");
}

async fn bodies_over_one_mebibyte_are_413_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = app.notice_version().await;
    let padding = "p".repeat(1024 * 1024);
    let body = json!({"subject": "big", "choices": {"newsletter": true}, "notice_version": version, "source": "api", "page": padding});
    let r = app.post("/v1/consents", Some(&app.consent_key), &body).await;
    r.problem(413);
    app.get("/v1/subjects/big/consents", Some(&app.consent_key)).await.problem(404);

    // Chunked (no Content-Length) is limited too.
    let stream = futures::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let r = app
        .client
        .post(app.url("/v1/notice/versions"))
        .bearer_auth(&app.admin_key)
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // The unread rest of the body makes the connection unusable: the client must not reuse it.
    assert_eq!(r.headers()["connection"], "close");
    assert_eq!(app.notice_version().await, 1);
}

async fn health_readiness_and_well_known_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/healthz", None).await.body["status"], "ok");
    let ready = app.get("/readyz", None).await;
    assert_eq!(ready.body, json!({"status": "ready", "notice_version": 1}));
    let gpc = app.get("/.well-known/gpc.json", None).await;
    assert_eq!(gpc.body["gpc"], true);
    assert_eq!(gpc.body["lastUpdate"].as_str().unwrap().len(), 10);
}

#[tokio::test]
async fn served_openapi_matches_the_committed_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let served = app.get("/openapi.json", None).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.body["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");
    let generated = candor_server::http::openapi_json();
    if std::env::var("CANDOR_UPDATE_OPENAPI").is_ok() {
        std::fs::write(committed_path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json is stale: run `CANDOR_UPDATE_OPENAPI=1 cargo nextest run served_openapi` and commit it"
    );
    assert_eq!(served.text, generated);
    for route in ["/v1/consents", "/v1/notice/diff", "/v1/subjects/{id}/sessions", "/.well-known/gpc.json"] {
        assert!(served.body["paths"].get(route).is_some(), "{route} is documented");
    }
}

/// Rate limits (SPEC §4): 429 problem+json with `Retry-After`, per client address without
/// a key, per key with one; a key that fails is charged to the address; health checks
/// are never limited. The limits touch no database, so one backend suffices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_requests_are_429_with_retry_after() {
    let app = spawn_app_with(Backend::Sqlite, "public_requests_per_minute = 5\nkey_requests_per_minute = 3").await;
    for i in 0..5 {
        assert_eq!(app.get("/v1/notice", None).await.status, 200, "request {i} is within the budget");
    }
    let r = app.get("/v1/notice", None).await;
    let problem = r.problem(429);
    assert!(problem["type"].as_str().unwrap().ends_with("too-many-requests"));
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=12).contains(&retry), "one request comes back every 12 s: {retry}");
    assert!(r.header("x-request-id").is_some());
    app.get("/privacy", None).await.problem(429);
    app.get("/privacy", Some("cnd_madeup_header")).await.problem(429);
    app.get("/widget.js", Some("not a key at all")).await.problem(429);
    for _ in 0..20 {
        assert_eq!(app.get("/healthz", None).await.status, 200);
    }

    // Keys have budgets of their own, one per key.
    let state = "/v1/subjects/nobody/consents";
    for _ in 0..3 {
        assert_eq!(app.get(state, Some(&app.consent_key)).await.status, 404);
    }
    app.get(state, Some(&app.consent_key)).await.problem(429);
    assert_eq!(app.get(state, Some(&app.admin_key)).await.status, 404, "another key is not held back");

    // A key that does not authenticate is charged to the (spent) address.
    app.get(state, Some("cnd_notakey_notasecret")).await.problem(429);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_spends_the_address_budget() {
    let app = spawn_app_with(Backend::Sqlite, "public_requests_per_minute = 2").await;
    let state = "/v1/subjects/nobody/consents";
    app.get(state, Some("cnd_notakey_notasecret")).await.problem(401);
    app.get(state, Some("not even a key")).await.problem(401);
    app.get(state, Some("cnd_notakey_notasecret")).await.problem(429);
    // A valid key is not charged to the address.
    assert_eq!(app.get(state, Some(&app.consent_key)).await.status, 404);
}
