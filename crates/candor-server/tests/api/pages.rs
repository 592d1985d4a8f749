//! The privacy notice pages: `/privacy` and `/privacy/changes`, in English and German,
//! with every catalog text escaped.

use crate::helpers::{Backend, TestApp, catalog_with, spawn_app};
use crate::on_both;
use crate::panel::Panel;

on_both!(
    privacy_shows_every_purpose_with_retention_legal_basis_and_recipients,
    privacy_speaks_german_from_accept_language_or_lang,
    hostile_catalog_text_is_escaped_on_every_page,
    changes_lists_every_version_newest_first_and_marks_material_ones,
    the_root_leads_to_the_privacy_notice,
);

/// GETs a page with optional `Accept-Language`; asserts an HTML answer.
pub async fn page(app: &TestApp, path: &str, accept_language: Option<&str>) -> (u16, String) {
    let mut r = app.client.get(app.url(path));
    if let Some(al) = accept_language {
        r = r.header("accept-language", al);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(content_type, "text/html; charset=utf-8", "{path}");
    (status, r.text().await.unwrap())
}

/// The HTML of the notice's article about one purpose.
fn article<'a>(html: &'a str, purpose: &str) -> &'a str {
    let start = html.find(&format!("<article class=\"card purpose\" id=\"purpose-{purpose}\"")).expect(purpose);
    let end = html[start..].find("</article>").unwrap() + start;
    &html[start..end]
}

async fn privacy_shows_every_purpose_with_retention_legal_basis_and_recipients(backend: Backend) {
    let app = spawn_app(backend).await;
    let (status, html) = page(&app, "/privacy", None).await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Acme Outdoor"));
    assert!(html.contains("href=\"mailto:privacy@acme.example\""), "how to reach them");
    assert!(html.contains("Version 1"));
    for (purpose, title, retention, basis) in [
        ("account", "Run your account", "1095 days (3 years)", "Our contract with you"),
        ("personalization", "Recommendations for you", "365 days (1 year)", "Your consent"),
        ("newsletter", "Deals by email", "730 days (2 years)", "Your consent"),
        ("analytics", "Improve the shop", "90 days (about 3 months)", "Your consent"),
    ] {
        let a = article(&html, purpose);
        assert!(a.contains(title), "{purpose}: title");
        assert!(a.contains(retention), "{purpose}: retention in {a}");
        assert!(a.contains(basis), "{purpose}: legal basis in {a}");
    }
    let newsletter = article(&html, "newsletter");
    assert!(newsletter.contains("email address"), "the data, by category in plain words");
    assert!(newsletter.contains("Mailer Inc."), "processors by name");
    assert!(newsletter.contains("10% off your next order"), "the benefit it unlocks");
    assert!(article(&html, "account").contains("Always on"));
    assert!(article(&html, "analytics").contains("Global Privacy Control"));
    assert!(!article(&html, "account").contains("Mailer Inc."), "only the purposes it receives");
    assert!(html.contains("How to change your choices"));
    assert!(!html.contains("change-me-mailer-secret"), "processor secrets never reach a page");

    let css = app.client.get(app.url("/assets/candor.css")).send().await.unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    let csp = app.client.get(app.url("/privacy")).send().await.unwrap().headers()["content-security-policy"].clone();
    assert!(csp.to_str().unwrap().contains("default-src 'none'"));
}

async fn privacy_speaks_german_from_accept_language_or_lang(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, de) = page(&app, "/privacy", Some("de-DE,de;q=0.9,en;q=0.8")).await;
    assert!(de.contains("<html lang=\"de\">"));
    assert!(de.contains("Wie wir Ihre Daten nutzen"));
    let newsletter = article(&de, "newsletter");
    assert!(newsletter.contains("Angebote per E-Mail"), "catalog translations");
    assert!(newsletter.contains("730 Tage (2 Jahre)"));
    assert!(newsletter.contains("Ihre Einwilligung"));
    assert!(article(&de, "account").contains("Unser Vertrag mit Ihnen"));
    assert!(!de.contains("Deals by email"));

    let (_, by_param) = page(&app, "/privacy?lang=de", Some("en")).await;
    assert!(by_param.contains("<html lang=\"de\">") && by_param.contains("Angebote per E-Mail"), "?lang= wins");
    let (_, by_quality) = page(&app, "/privacy", Some("de;q=0.2, en;q=0.9")).await;
    assert!(by_quality.contains("<html lang=\"en\">"), "quality values decide");
    let (_, english) = page(&app, "/privacy?lang=en", Some("de")).await;
    assert!(english.contains("Deals by email"));
    let (_, changes) = page(&app, "/privacy/changes", Some("de")).await;
    assert!(changes.contains("<html lang=\"de\">") && changes.contains("Erste veröffentlichte Version"));
}

/// Whether `html` shows `text` with its markup characters escaped (as named or numeric
/// character references).
fn escaped(html: &str, text: &str) -> bool {
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    let numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    html.contains(&named) || html.contains(&numeric)
}

async fn hostile_catalog_text_is_escaped_on_every_page(backend: Backend) {
    let app = spawn_app(backend).await;
    let hostile = catalog_with(|c| {
        c.replace("name = \"Acme Outdoor\"", "name = \"Acme <script>alert(1)</script>\"")
            .replace("en = \"Deals by email\"", "en = \"Deals <script>alert(1)</script>\"")
            .replace("en = \"One email a week with offers.\"", "en = \"<script>alert(1)</script>\"")
    });
    let r = app.publish(&hostile).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let panel = Panel::open(&app, "hostile-1").await;
    let (_, privacy) = page(&app, "/privacy", None).await;
    let (_, changes) = page(&app, "/privacy/changes", None).await;
    for (name, html) in [("/privacy", privacy), ("/privacy/changes", changes), ("/me", panel.html.clone())] {
        assert!(!html.contains("<script"), "{name} carries a live script tag");
        assert!(escaped(&html, "<script>alert(1)</script>"), "{name} shows the text, escaped");
    }
    assert!(escaped(&panel.html, "Deals <script>"), "titles are escaped in the panel too");
}

async fn changes_lists_every_version_newest_first_and_marks_material_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let longer = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 1000"));
    assert_eq!(app.publish(&longer).await.status, 201);
    let shorter = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 500"));
    assert_eq!(app.publish(&shorter).await.status, 201);

    let (status, html) = page(&app, "/privacy/changes", None).await;
    assert_eq!(status, 200);
    let (v3, v2, v1) =
        (html.find("id=\"v3\"").unwrap(), html.find("id=\"v2\"").unwrap(), html.find("id=\"v1\"").unwrap());
    assert!(v3 < v2 && v2 < v1, "newest first");
    let version2 = &html[v2..v1];
    let version3 = &html[v3..v2];
    assert!(version2.contains("Deals by email"));
    assert!(
        version2.contains("Data is now kept for 1000 days (about 33 months) instead of 730 days (2 years)."),
        "{version2}"
    );
    assert!(version2.contains("Important change"), "a longer retention is material");
    assert!(version2.contains("needs your consent again"), "and newsletter is a consent purpose");
    assert!(version3.contains("Data is now kept for 500 days (about 17 months) instead of 1000 days"));
    assert!(version3.contains("Minor change") && !version3.contains("Important change"), "shorter is not material");
    assert!(html[v1..].contains("First published version"));
    assert!(html[v3..v2].contains("current"));

    let (_, de) = page(&app, "/privacy/changes?lang=de", None).await;
    let de2 = &de[de.find("id=\"v2\"").unwrap()..de.find("id=\"v1\"").unwrap()];
    assert!(de2.contains("Wichtige Änderung"));
    assert!(
        de2.contains("Daten werden jetzt 1000 Tage (etwa 33 Monate) statt 730 Tage (2 Jahre) gespeichert."),
        "{de2}"
    );
    assert!(de2.contains("Angebote per E-Mail"));
}

/// `/` is not a dead end: it sends the visitor to the privacy notice, in the language asked.
async fn the_root_leads_to_the_privacy_notice(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for (path, to) in [("/", "/privacy"), ("/?lang=de", "/privacy?lang=de")] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 307, "{path}");
        assert_eq!(r.headers()["location"], to, "{path}");
    }
    let (status, html) = page(&app, "/?lang=de", None).await;
    assert_eq!(status, 200);
    assert!(html.contains("<html lang=\"de\""), "the notice in German");
}
