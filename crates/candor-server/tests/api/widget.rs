//! `GET /widget.js`: the consent widget is served from the binary, byte for byte the
//! committed `widget/widget.js`, as a cacheable script with a working ETag.

use crate::helpers::{Backend, spawn_app};

#[tokio::test]
async fn widget_js_is_the_committed_script_with_an_etag() {
    let app = spawn_app(Backend::Sqlite).await;
    let on_disk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../widget/widget.js")).unwrap();

    let r = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("content-type").as_deref(), Some("application/javascript; charset=utf-8"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let cache = header("cache-control").unwrap();
    assert!(cache.starts_with("public, max-age="), "{cache}");
    let etag = header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    assert!(header("x-request-id").is_some());
    assert!(r.text().await.unwrap() == on_disk, "the served widget differs from widget/widget.js");

    let again = app.client.get(app.url("/widget.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let other = app.client.get(app.url("/widget.js")).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(other.status(), 200);

    let post = app.client.post(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(post.status(), 405);
}
