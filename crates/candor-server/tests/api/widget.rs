//! `GET /widget.js`: the consent widget is served from the binary, byte for byte the
//! committed `widget/widget.js`, followed by one line carrying the current notice (exactly
//! what `GET /v1/notice` answers), as a cacheable script whose ETag follows both.

use serde_json::Value;

use crate::helpers::{Backend, TestApp, catalog_with, spawn_app};

const ON_DISK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../widget/widget.js"));

/// The served script: (its ETag, the notice it embeds, the line that embeds it).
async fn served(app: &TestApp) -> (String, Value, String) {
    let r = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    let trailer = body.strip_prefix(ON_DISK).expect("the served widget starts with widget/widget.js").to_string();
    let start = trailer.find("JSON.parse(").expect("a notice line") + "JSON.parse(".len();
    let json = serde_json::Deserializer::from_str(&trailer[start..]).into_iter::<String>().next().unwrap().unwrap();
    (etag, serde_json::from_str(&json).unwrap(), trailer)
}

#[tokio::test]
async fn widget_js_is_the_committed_script_with_an_etag() {
    let app = spawn_app(Backend::Sqlite).await;

    let r = app.client.get(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let header = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("content-type").as_deref(), Some("application/javascript; charset=utf-8"));
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"));
    let cache = header("cache-control").unwrap();
    assert!(cache.starts_with("public, max-age=300"), "{cache}");
    let etag = header("etag").unwrap();
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    assert!(header("x-request-id").is_some());
    assert!(r.text().await.unwrap().starts_with(ON_DISK), "the served widget does not start with widget/widget.js");

    let again = app.client.get(app.url("/widget.js")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let other = app.client.get(app.url("/widget.js")).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(other.status(), 200);

    let post = app.client.post(app.url("/widget.js")).send().await.unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn widget_js_carries_the_current_notice_and_follows_a_publication() {
    let app = spawn_app(Backend::Sqlite).await;
    let (etag1, embedded, _) = served(&app).await;
    let notice = app.get("/v1/notice", None).await;
    assert_eq!(embedded, notice.body, "the embedded notice is what GET /v1/notice answers");
    assert_eq!(embedded["version"], 1);
    assert!(embedded["published_at"].is_string());
    assert_eq!(served(&app).await.0, etag1, "same notice, same bytes");

    // A new version with catalog text that would end an inline script if embedded raw.
    let hostile = "Weekly. </script><script>alert(1)</script><!-- \u{2028}\u{2029} \"q\" \\";
    let toml =
        catalog_with(|c| c.replace("\"One email a week with offers.\"", &serde_json::to_string(hostile).unwrap()));
    let r = app.publish(&toml).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let (etag2, embedded, trailer) = served(&app).await;
    let notice = app.get("/v1/notice", None).await;
    assert_eq!(notice.body["version"], 2);
    assert_eq!(embedded, notice.body, "the embedded notice follows the publication");
    assert!(notice.text.contains("</script>"), "the notice itself keeps the text as written");
    assert_ne!(etag2, etag1, "the ETag changes with the notice");
    assert!(!trailer.contains('<') && !trailer.contains('>'), "{trailer}");
    assert!(!trailer.contains('\u{2028}') && !trailer.contains('\u{2029}'), "{trailer}");
    let newsletter = embedded["purposes"].as_array().unwrap().iter().find(|p| p["id"] == "newsletter").unwrap();
    assert_eq!(newsletter["description"]["en"], hostile);

    let old = app.client.get(app.url("/widget.js")).header("if-none-match", &etag1).send().await.unwrap();
    assert_eq!(old.status(), 200, "a copy with the old notice is not current");
    let new = app.client.get(app.url("/widget.js")).header("if-none-match", &etag2).send().await.unwrap();
    assert_eq!(new.status(), 304);
}
