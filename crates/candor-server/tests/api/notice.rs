//! Notice versions: publishing over HTTP and the CLI, listing, diffs, materiality.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, catalog_with, spawn_app, stdout};
use crate::on_both;

on_both!(
    publishing_makes_numbered_versions_with_per_purpose_diffs,
    invalid_catalog_is_422_listing_every_error_with_its_line,
    publishing_needs_the_admin_scope,
    cli_publish_is_served_by_a_running_server_within_a_second,
);

async fn publishing_makes_numbered_versions_with_per_purpose_diffs(backend: Backend) {
    let app = spawn_app(backend).await;
    let v1 = app.get("/v1/notice", None).await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.body["version"], 1);
    let newsletter = v1.body["purposes"].as_array().unwrap().iter().find(|p| p["id"] == "newsletter").unwrap().clone();
    assert_eq!(newsletter["retention_days"], 730);
    assert!(newsletter["fields"].as_array().unwrap().iter().any(|f| f["name"] == "email"));
    assert!(newsletter["benefits"].as_array().unwrap().iter().any(|b| b["id"] == "welcome10"));
    assert!(!v1.text.contains("change-me-mailer-secret"), "processor secrets never reach the notice");

    // Longer retention: material for newsletter, and for account too, because email
    // (shared by both) is kept for the shortest of its purposes' retentions, now longer.
    let longer = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 1000"));
    let r = app.publish(&longer).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body, json!({"version": 2, "material": ["account", "newsletter"], "unchanged": false}));
    assert_eq!(app.get("/v1/notice", None).await.body["version"], 2, "served at once by the publishing server");

    // Shorter retention is not material.
    let shorter = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 100"));
    let r = app.publish(&shorter).await;
    assert_eq!(r.body, json!({"version": 3, "material": [], "unchanged": false}));

    // Publishing the same catalog again makes no version.
    let r = app.publish(&shorter).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["unchanged"], true);

    let versions = app.get("/v1/notice/versions", None).await;
    let list = versions.body["versions"].as_array().unwrap();
    assert_eq!(list.iter().map(|v| v["version"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(list[1]["material"], json!(["account", "newsletter"]));

    let v2 = app.get("/v1/notice/versions/2", None).await;
    assert_eq!(v2.body["version"], 2);
    let nl = v2.body["purposes"].as_array().unwrap().iter().find(|p| p["id"] == "newsletter").unwrap().clone();
    assert_eq!(nl["retention_days"], 1000, "old versions are immutable snapshots");
    app.get("/v1/notice/versions/9", None).await.problem(404);
    app.get("/v1/notice/versions/abc", None).await.problem(404);

    let diff = app.get("/v1/notice/diff?from=1&to=2", None).await;
    assert_eq!(diff.status, 200, "{}", diff.text);
    let purposes = diff.body["purposes"].as_array().unwrap();
    let nl = purposes.iter().find(|p| p["purpose"] == "newsletter").unwrap();
    assert_eq!(nl["material"], true);
    assert_eq!(nl["retention_days"], json!({"from": 730, "to": 1000}));
    let material: Vec<&str> =
        purposes.iter().filter(|p| p["material"] == true).map(|p| p["purpose"].as_str().unwrap()).collect();
    assert_eq!(material, ["account", "newsletter"]);
    let untouched = purposes.iter().find(|p| p["purpose"] == "analytics").unwrap();
    assert_eq!(untouched["change"], "unchanged");
    let back = app.get("/v1/notice/diff?from=2&to=3", None).await;
    assert!(back.body["purposes"].as_array().unwrap().iter().all(|p| p["material"] == false));
    app.get("/v1/notice/diff?from=1", None).await.problem(422);
    app.get("/v1/notice/diff?from=1&to=x", None).await.problem(422);
    app.get("/v1/notice/diff?from=1&to=7", None).await.problem(404);
}

async fn invalid_catalog_is_422_listing_every_error_with_its_line(backend: Backend) {
    let app = spawn_app(backend).await;
    let bad = catalog_with(|c| {
        c.replace("purposes = [\"account\", \"newsletter\"]", "purposes = [\"account\", \"newsleter\"]")
            .replace("requires = [\"newsletter\"]", "requires = [\"account\"]")
    });
    let r = app.publish(&bad).await;
    let problem = r.problem(422);
    let errors = problem["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{}", r.text);
    let text = r.text.to_lowercase();
    assert!(text.contains("newsleter"), "{}", r.text);
    assert!(errors.iter().all(|e| e["line"].as_u64().unwrap() > 0), "{}", r.text);
    assert_eq!(app.notice_version().await, 1, "nothing was published");

    let r = app.publish("this is = not [toml").await;
    r.problem(422);
}

async fn publishing_needs_the_admin_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 731"));
    app.post_raw("/v1/notice/versions", None, body.clone(), &[]).await.problem(401);
    app.post_raw("/v1/notice/versions", Some(&app.consent_key), body.clone(), &[]).await.problem(403);
    app.post_raw(
        "/v1/notice/versions",
        Some("cnd_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        body,
        &[],
    )
    .await
    .problem(401);
    assert_eq!(app.notice_version().await, 1);
}

async fn cli_publish_is_served_by_a_running_server_within_a_second(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = app.dir.path().join("candor.toml");
    let changed = catalog_with(|c| c.replace("One email a week with offers.", "Two emails a week with offers."));
    std::fs::write(&path, &changed).unwrap();

    let diff = app.cli(&["notice", "diff"]);
    assert!(diff.status.success(), "{diff:?}");
    assert!(stdout(&diff).contains("newsletter"), "{}", stdout(&diff));

    let out = app.cli(&["notice", "publish"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("published version 2"), "{}", stdout(&out));
    let published = Instant::now();
    loop {
        if app.notice_version().await == 2 {
            break;
        }
        assert!(
            published.elapsed() < Duration::from_secs(1),
            "the running server did not serve version 2 within a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let again = app.cli(&["notice", "publish"]);
    assert!(stdout(&again).contains("unchanged"), "{}", stdout(&again));
}
