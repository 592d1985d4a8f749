//! API keys and scopes through the real binary, and control-panel sessions.

use serde_json::json;

use crate::helpers::{Backend, spawn_app, stderr, stdout};
use crate::on_both;

on_both!(keys_created_by_the_cli_work_until_revoked, sessions_are_short_lived_single_use_links);

async fn keys_created_by_the_cli_work_until_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let out = app.cli(&["keys", "create", "--scope", "consent", "--scope", "read:newsletter", "--name", "backend"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert_eq!(printed.lines().count(), 1, "only the key on stdout: {printed:?}");
    let key = printed.trim().to_string();
    assert!(key.starts_with("cnd_"));

    app.consent("key-user", json!({"newsletter": true})).await;
    assert_eq!(app.get("/v1/subjects/key-user/consents", Some(&key)).await.status, 200);

    let list = stdout(&app.cli(&["keys", "list"]));
    let id = key.split('_').nth(1).unwrap();
    assert!(list.contains(id) && list.contains("backend") && list.contains("read:newsletter"), "{list}");
    // `cnd_<id>_<secret>`: the base64url secret may itself contain underscores.
    let secret = key.splitn(3, '_').nth(2).unwrap();
    assert_eq!(secret.len(), 43);
    assert!(!list.contains(secret), "secrets are never listed");

    let bad = app.cli(&["keys", "create", "--scope", "superuser"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("unknown scope"), "{}", stderr(&bad));
    assert!(stdout(&bad).is_empty());

    let revoked = app.cli(&["keys", "revoke", id]);
    assert!(revoked.status.success(), "{}", stderr(&revoked));
    // The server caches valid keys; a revocation by another process reaches it within 250 ms.
    let start = std::time::Instant::now();
    while app.get("/v1/subjects/key-user/consents", Some(&key)).await.status != 401 {
        assert!(start.elapsed() < std::time::Duration::from_secs(1), "the revoked key still works");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    app.get("/v1/subjects/key-user/consents", Some(&key)).await.problem(401);
    assert!(!app.cli(&["keys", "revoke", id]).status.success(), "revoking twice fails");

    // Only a hash of the secret is stored.
    let row = app.store.api_key(id).await.unwrap().unwrap();
    assert_ne!(row.secret_hash, secret.as_bytes());
    assert_eq!(row.secret_hash.len(), 32);
}

async fn sessions_are_short_lived_single_use_links(backend: Backend) {
    let app = spawn_app(backend).await;
    app.post("/v1/subjects/panel-user/sessions", None, &json!({})).await.problem(401);
    let r = app.post("/v1/subjects/panel-user/sessions", Some(&app.consent_key), &json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.body["token"].as_str().unwrap();
    assert!(token.len() >= 43);
    assert_eq!(r.body["url"], format!("{}/me?token={token}", app.base));
    let expires = candor_server::clock::parse_rfc3339(r.body["expires_at"].as_str().unwrap()).unwrap();
    let ttl = expires - candor_store::now_ms();
    assert!(ttl > 14 * 60 * 1000 && ttl <= 15 * 60 * 1000, "default lifetime is 15 minutes: {ttl} ms");

    use sha2::Digest;
    let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    let now = candor_store::now_ms();
    assert!(app.store.consume_session(&hash, now).await.unwrap().is_some(), "the first use works");
    assert!(app.store.consume_session(&hash, now).await.unwrap().is_none(), "a second use does not");

    let r = app.post("/v1/subjects/panel-user/sessions", Some(&app.consent_key), &json!({})).await;
    let token = r.body["token"].as_str().unwrap();
    let hash: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
    assert!(
        app.store.consume_session(&hash, now + 16 * 60 * 1000).await.unwrap().is_none(),
        "expired tokens do not work"
    );
}
