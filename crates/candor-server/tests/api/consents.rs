//! The consent ledger through HTTP: recording, state, history, anonymous visitors,
//! aliases, GPC, objections, re-consent after material changes.

use serde_json::json;

use crate::helpers::{Backend, catalog_with, spawn_app};
use crate::on_both;

on_both!(
    choices_are_recorded_with_receipt_state_and_history,
    withdrawal_and_always_on_purposes,
    anonymous_visitors_write_without_a_key_from_allowed_origins_only,
    alias_merges_the_newest_choice_per_purpose,
    stale_notice_version_is_409,
    gpc_denies_opt_out_purposes_until_an_explicit_opt_in,
    legitimate_interest_is_on_by_default_and_can_be_objected,
    material_change_asks_again_only_for_changed_purposes,
    ledger_rows_cannot_be_updated_in_place,
    grants_older_than_consent_valid_days_are_asked_again,
    concurrent_writes_for_one_subject_stay_consistent,
    current_state_follows_every_writer_of_the_ledger,
    concurrent_first_reads_each_get_their_own_subject,
);

async fn choices_are_recorded_with_receipt_state_and_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = app.consent("customer-1", json!({"newsletter": true, "analytics": false})).await;
    assert_eq!(body["state"]["newsletter"], "granted");
    assert_eq!(body["state"]["analytics"], "denied");
    assert_eq!(body["state"]["personalization"], "denied", "not named, never granted");
    assert_eq!(body["state"]["account"], "granted", "contract purposes are always on");
    assert_eq!(body["receipt"]["notice_version"], 1);
    assert_eq!(body["receipt"]["organization"]["name"], "Acme Outdoor");
    assert!(body["receipt_jws"].as_str().unwrap().split('.').count() == 3);
    assert!(!body.to_string().contains("customer-1"), "the external id is never echoed");

    let state = app.get("/v1/subjects/customer-1/consents", Some(&app.consent_key)).await;
    assert_eq!(state.status, 200, "{}", state.text);
    assert_eq!(state.body["purposes"]["newsletter"]["state"], "granted");
    assert_eq!(state.body["purposes"]["newsletter"]["notice_version"], 1);
    assert_eq!(state.body["purposes"]["newsletter"]["method"], "api");
    assert_eq!(state.body["purposes"]["personalization"]["default"], true);
    assert_eq!(state.body["needs_reconsent"], json!([]));

    app.consent("customer-1", json!({"personalization": true})).await;
    let history = app.get("/v1/subjects/customer-1/consents/history", Some(&app.consent_key)).await;
    let records = history.body["records"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        records.iter().map(|r| (r["purpose"].as_str().unwrap(), r["state"].as_str().unwrap())).collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.contains(&("analytics", "denied")) && seen.contains(&("newsletter", "granted")));
    assert_eq!(seen[2], ("personalization", "granted"), "oldest first");
    let proof = &records[0]["proof"];
    assert_eq!(proof["notice_sha256"].as_str().unwrap().len(), 64);
    assert!(proof["user_agent"].is_string() || proof["user_agent"].is_null());
    assert_eq!(
        app.get("/v1/subjects/customer-1/consents", Some(&app.consent_key)).await.body["purposes"]["personalization"]["state"],
        "granted",
        "purposes not named keep their state; the new one is current"
    );
}

async fn withdrawal_and_always_on_purposes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("c2", json!({"newsletter": true})).await;
    let body = app.consent("c2", json!({"newsletter": false})).await;
    assert_eq!(body["state"]["newsletter"], "withdrawn", "no after yes is a withdrawal");
    let body = app.consent("c3", json!({"newsletter": false})).await;
    assert_eq!(body["state"]["newsletter"], "denied", "no without an earlier yes is a denial");

    let version = app.notice_version().await;
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "c2", "choices": {"account": false, "nope": true}, "notice_version": version, "source": "api"}),
        )
        .await;
    let problem = r.problem(422);
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["choices.account", "choices.nope"]);
    let history = app.get("/v1/subjects/c2/consents/history", Some(&app.consent_key)).await;
    assert_eq!(history.body["records"].as_array().unwrap().len(), 2, "a refused request writes nothing");
}

fn anon_id(n: u8) -> String {
    format!("anon{n:02}-abcdefghijklmnopqrstuvwxyz")
}

async fn anonymous_visitors_write_without_a_key_from_allowed_origins_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = app.notice_version().await;
    let body = |source: &str| json!({"anonymous_id": anon_id(1), "choices": {"analytics": true}, "notice_version": version, "source": source});

    let r = app.post("/v1/consents", None, &body("widget")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.post("/v1/consents", None, &body("api")).await.problem(422);

    let foreign = app
        .post_raw(
            "/v1/consents",
            None,
            body("widget").to_string(),
            &[("origin", "https://evil.example"), ("content-type", "application/json")],
        )
        .await;
    foreign.problem(403);
    let allowed = app
        .post_raw(
            "/v1/consents",
            None,
            body("widget").to_string(),
            &[("origin", "https://shop.acme.example"), ("content-type", "application/json")],
        )
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.text);
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://shop.acme.example"));

    let view = app.get(&format!("/v1/consents?anonymous_id={}", anon_id(1)), None).await;
    assert_eq!(view.status, 200, "{}", view.text);
    assert_eq!(view.body["purposes"]["analytics"], "granted");
    assert_eq!(view.body.as_object().unwrap().len(), 3, "nothing else is returned: {}", view.text);
    app.get(&format!("/v1/consents?anonymous_id={}", anon_id(2)), None).await.problem(404);
    app.get("/v1/consents?anonymous_id=short", None).await.problem(422);

    let keyed_subject = app
        .post(
            "/v1/consents",
            None,
            &json!({"subject": "x", "choices": {"analytics": true}, "notice_version": version, "source": "widget"}),
        )
        .await;
    keyed_subject.problem(401);
}

async fn alias_merges_the_newest_choice_per_purpose(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = app.notice_version().await;
    app.consent("known-1", json!({"newsletter": true, "analytics": true})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app
        .post("/v1/consents", None, &json!({"anonymous_id": anon_id(3), "choices": {"analytics": false, "personalization": true}, "notice_version": version, "source": "widget"}))
        .await;
    assert_eq!(r.status, 201);

    let merged =
        app.post("/v1/subjects/known-1/aliases", Some(&app.consent_key), &json!({"anonymous_id": anon_id(3)})).await;
    assert_eq!(merged.status, 200, "{}", merged.text);
    assert_eq!(merged.body["merged"], json!(["analytics", "personalization"]));
    assert_eq!(merged.body["state"]["analytics"], "denied", "the anonymous choice was newer");
    assert_eq!(merged.body["state"]["newsletter"], "granted", "the known choice stays");
    assert_eq!(merged.body["state"]["personalization"], "granted");
    let state = app.get("/v1/subjects/known-1/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["analytics"]["state"], "denied", "the state read after the merge is merged");
    assert_eq!(state.body["purposes"]["personalization"]["state"], "granted");

    // The widget's later writes land on the known subject.
    let r = app
        .post("/v1/consents", None, &json!({"anonymous_id": anon_id(3), "choices": {"newsletter": false}, "notice_version": version, "source": "widget"}))
        .await;
    assert_eq!(r.status, 201);
    let state = app.get("/v1/subjects/known-1/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["newsletter"]["state"], "withdrawn");

    app.post("/v1/subjects/known-1/aliases", Some(&app.consent_key), &json!({"anonymous_id": anon_id(4)}))
        .await
        .problem(404);
    app.post("/v1/subjects/other/aliases", Some(&app.consent_key), &json!({"anonymous_id": anon_id(3)}))
        .await
        .problem(409);
}

async fn stale_notice_version_is_409(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app.publish(&catalog_with(|c| c.replace("retention_days = 730", "retention_days = 800"))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = app
        .post(
            "/v1/consents",
            Some(&app.consent_key),
            &json!({"subject": "s", "choices": {"newsletter": true}, "notice_version": 1, "source": "api"}),
        )
        .await;
    assert_eq!(r.problem(409)["current_version"], 2);
    assert!(r.body["type"].as_str().unwrap().ends_with("stale-notice"));
    app.get("/v1/subjects/s/consents", Some(&app.consent_key)).await.problem(404);
}

async fn gpc_denies_opt_out_purposes_until_an_explicit_opt_in(backend: Backend) {
    let app = spawn_app(backend).await;
    assert!(
        candor_core::catalog::EXAMPLE_CATALOG.contains("gpc_opt_out = true"),
        "the example catalog marks analytics gpc_opt_out; this test relies on it"
    );
    let version = app.notice_version().await;
    let write = |choices: serde_json::Value| {
        json!({"subject": "gpc-user", "choices": choices, "notice_version": version, "source": "widget"}).to_string()
    };
    let headers = [("sec-gpc", "1"), ("content-type", "application/json")];
    let r = app.post_raw("/v1/consents", Some(&app.consent_key), write(json!({"newsletter": true})), &headers).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["state"]["analytics"], "denied");
    let history = app.get("/v1/subjects/gpc-user/consents/history", Some(&app.consent_key)).await;
    let gpc_row =
        history.body["records"].as_array().unwrap().iter().find(|r| r["purpose"] == "analytics").unwrap().clone();
    assert_eq!(gpc_row["method"], "gpc");

    let r = app.post_raw("/v1/consents", Some(&app.consent_key), write(json!({"analytics": true})), &headers).await;
    assert_eq!(r.body["state"]["analytics"], "granted", "a later explicit opt-in wins");
    let r = app.post_raw("/v1/consents", Some(&app.consent_key), write(json!({"newsletter": true})), &headers).await;
    assert_eq!(r.body["state"]["analytics"], "granted", "and GPC does not override it afterwards");
    let state = app.get("/v1/subjects/gpc-user/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["analytics"]["method"], "checkbox");
}

async fn legitimate_interest_is_on_by_default_and_can_be_objected(backend: Backend) {
    let app = spawn_app(backend).await;
    let catalog = catalog_with(|c| {
        format!(
            "{c}\n[[purpose]]\nid = \"fraud\"\ntitle = \"Fraud prevention\"\ndescription = \"We check orders for fraud.\"\nlegal_basis = \"legitimate_interest\"\nretention_days = 180\n"
        )
    });
    let r = app.publish(&catalog).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let body = app.consent("li-user", json!({"newsletter": true})).await;
    assert_eq!(body["state"]["fraud"], "granted", "on by default");
    let body = app.consent("li-user", json!({"fraud": false})).await;
    assert_eq!(body["state"]["fraud"], "objected");
    let body = app.consent("li-user", json!({"fraud": true})).await;
    assert_eq!(body["state"]["fraud"], "granted", "an objection can be lifted");
}

async fn material_change_asks_again_only_for_changed_purposes(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("m1", json!({"newsletter": true, "personalization": true, "analytics": false})).await;
    // A new field for newsletter is material for newsletter only.
    let catalog = catalog_with(|c| {
        format!(
            "{c}\n[[field]]\nname = \"first_name\"\ntype = \"string\"\nmax_len = 100\ncategory = \"contact.name\"\npii = true\npurposes = [\"newsletter\"]\n"
        )
    });
    let r = app.publish(&catalog).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["material"], json!(["newsletter"]));
    let state = app.get("/v1/subjects/m1/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["needs_reconsent"], json!(["newsletter"]));
    assert_eq!(state.body["purposes"]["newsletter"]["notice_version"], 1);

    let body = app.consent("m1", json!({"newsletter": true})).await;
    assert_eq!(body["needs_reconsent"], json!([]));
    let state = app.get("/v1/subjects/m1/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["newsletter"]["notice_version"], 2);
    assert_eq!(state.body["needs_reconsent"], json!([]));
}

async fn ledger_rows_cannot_be_updated_in_place(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ledger", json!({"newsletter": true})).await;
    let result = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.dir.path().join("candor.db").display()))
                .await
                .unwrap();
            sqlx::query("UPDATE consent_records SET state = 'denied'").execute(&pool).await.map(|_| ())
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.database_url.as_deref().unwrap()).await.unwrap();
            sqlx::query("UPDATE consent_records SET state = 'denied'").execute(&pool).await.map(|_| ())
        }
    };
    let err = result.expect_err("an UPDATE of the ledger must fail");
    assert!(err.to_string().contains("append-only"), "{err}");
    let state = app.get("/v1/subjects/ledger/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["purposes"]["newsletter"]["state"], "granted");
}

async fn grants_older_than_consent_valid_days_are_asked_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .publish(&catalog_with(|c| {
            c.replace(
                "contact = \"privacy@acme.example\"",
                "contact = \"privacy@acme.example\"\nconsent_valid_days = 30",
            )
        }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.consent("old-grant", json!({"newsletter": true, "personalization": true})).await;
    let state = app.get("/v1/subjects/old-grant/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["needs_reconsent"], json!([]));

    // The newsletter grant was given 31 days ago: append an older copy of it (the ledger
    // keeps the newest row per purpose, so the fresh one must go).
    let day_ms: i64 = 86_400_000;
    let old = candor_store::now_ms() - 31 * day_ms;
    app.raw_sql(&[
        "DELETE FROM consent_records WHERE purpose = 'newsletter'",
        &format!(
            "INSERT INTO consent_records (pid, id, purpose, state, notice_version, at, source, method, proof, receipt_id) \
             SELECT pid, id || '-old', 'newsletter', 'granted', notice_version, {old}, source, method, proof, receipt_id \
             FROM consent_records WHERE purpose = 'personalization'"
        ),
    ])
    .await
    .unwrap();
    let state = app.get("/v1/subjects/old-grant/consents", Some(&app.consent_key)).await;
    assert_eq!(state.body["needs_reconsent"], json!(["newsletter"]), "{}", state.text);
    let body = app.consent("old-grant", json!({"newsletter": true})).await;
    assert_eq!(body["needs_reconsent"], json!([]), "a fresh grant renews it");
}

/// Many writes for one subject at once land in consecutive batches, each prepared while
/// the previous one commits; every row must still follow from the row before it.
async fn concurrent_writes_for_one_subject_stay_consistent(backend: Backend) {
    let app = spawn_app(backend).await;
    let version = app.notice_version().await;
    let writes = (0..40).map(|i| {
        let app = &app;
        async move {
            let body = json!({"subject": "busy", "choices": {"newsletter": i % 3 != 0}, "notice_version": version, "source": "api"});
            let r = app.post("/v1/consents", Some(&app.consent_key), &body).await;
            assert_eq!(r.status, 201, "{}", r.text);
        }
    });
    futures::future::join_all(writes).await;
    let history = app.get("/v1/subjects/busy/consents/history", Some(&app.consent_key)).await;
    let states: Vec<&str> =
        history.body["records"].as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    assert_eq!(states.len(), 40);
    let mut previous = "denied";
    for state in &states {
        match *state {
            "granted" => {}
            "withdrawn" => assert_eq!(previous, "granted", "{states:?}"),
            "denied" => assert_ne!(previous, "granted", "{states:?}"),
            other => panic!("unexpected state {other}"),
        }
        previous = state;
    }
    let current = app.get("/v1/subjects/busy/consents", Some(&app.consent_key)).await;
    assert_eq!(current.body["purposes"]["newsletter"]["state"], *states.last().unwrap());
    assert!(app.cli(&["audit", "verify"]).status.success());
}

/// Current state is answered from memory when it can be (`consent_cache.rs`); every
/// writer of the ledger must show through at once in this process, and within a second
/// from another process.
async fn current_state_follows_every_writer_of_the_ledger(backend: Backend) {
    let app = spawn_app(backend).await;
    let newsletter = || async {
        let r = app.get("/v1/subjects/cached-1/consents", Some(&app.consent_key)).await;
        (r.status, r.body["purposes"]["newsletter"]["state"].as_str().unwrap_or_default().to_string())
    };
    app.consent("cached-1", json!({"newsletter": true})).await;
    assert_eq!(newsletter().await, (200, "granted".to_string()));
    assert_eq!(newsletter().await, (200, "granted".to_string()), "asked again");
    app.consent("cached-1", json!({"newsletter": false})).await;
    assert_eq!(newsletter().await, (200, "withdrawn".to_string()), "a withdrawal shows at once");

    // Read once from the database after the write (a fresh subject), then changed.
    app.consent("cached-2", json!({"analytics": true})).await;
    let r = app.get("/v1/subjects/cached-2/consents", Some(&app.consent_key)).await;
    assert_eq!(r.body["purposes"]["analytics"]["state"], "granted");

    // Another process erases the subject: this server stops answering for it within a second.
    let out = app.cli(&["erase", "cached-1"]);
    assert!(out.status.success(), "{}", crate::helpers::stderr(&out));
    let erased = std::time::Instant::now();
    loop {
        let (status, state) = newsletter().await;
        if status == 404 {
            break;
        }
        assert!(erased.elapsed() < std::time::Duration::from_secs(1), "still answered {status} {state} after erasure");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // An erasure through this server shows at once.
    let r = app.delete("/v1/subjects/cached-2", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get("/v1/subjects/cached-2/consents", Some(&app.consent_key)).await.problem(404);
}

/// Reads that miss the consent cache are answered together, several subjects per query:
/// each caller must still get its own subject's state, a subject known without a single
/// ledger row its defaults, and an unknown subject its 404.
async fn concurrent_first_reads_each_get_their_own_subject(backend: Backend) {
    let app = spawn_app(backend).await;
    for i in 0..40 {
        app.consent(&format!("reader-{i}"), json!({"newsletter": i % 2 == 0, "analytics": i % 3 == 0})).await;
    }
    // A control panel session makes its subject known before it has chosen anything.
    let r = app.post("/v1/subjects/reader-without-rows/sessions", Some(&app.consent_key), &json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.consents.clear();
    let (without_rows, with_rows) = futures::future::join(
        app.get("/v1/subjects/reader-without-rows/consents", Some(&app.consent_key)),
        app.get("/v1/subjects/reader-1/consents", Some(&app.consent_key)),
    )
    .await;
    assert_eq!(without_rows.status, 200, "{}", without_rows.text);
    for (purpose, state) in without_rows.body["purposes"].as_object().expect("purposes") {
        assert_eq!(state["default"], true, "{purpose}: {}", without_rows.text);
        assert!(state["at"].is_null(), "{purpose}: {}", without_rows.text);
    }
    let newsletter = &with_rows.body["purposes"]["newsletter"];
    assert_eq!(
        (&newsletter["state"], &newsletter["default"], &newsletter["source"], &newsletter["method"]),
        (&json!("denied"), &json!(false), &json!("api"), &json!("api")),
        "{}",
        with_rows.text
    );
    assert_eq!(newsletter["notice_version"], 1, "{}", with_rows.text);
    assert!(newsletter["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{}", with_rows.text);
    app.consents.clear();
    let reads = (0..48).map(|i| {
        let app = &app;
        async move { (i, app.get(&format!("/v1/subjects/reader-{i}/consents"), Some(&app.consent_key)).await) }
    });
    for (i, r) in futures::future::join_all(reads).await {
        if i >= 40 {
            assert_eq!(r.status, 404, "reader-{i} was never written: {}", r.text);
            continue;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        let expect = |yes: bool| if yes { "granted" } else { "denied" };
        assert_eq!(r.body["purposes"]["newsletter"]["state"], expect(i % 2 == 0), "reader-{i}: {}", r.text);
        assert_eq!(r.body["purposes"]["analytics"]["state"], expect(i % 3 == 0), "reader-{i}: {}", r.text);
    }
}
