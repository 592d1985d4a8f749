//! The control panel `/me`: single-use links exchanged for a cookie session, choices
//! recorded through the consent path, CSRF, re-consent, benefit codes, logout; and the
//! data plane: data held, reads in the activity feed, downloads and erasure.

use std::io::Read;

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, catalog_with, spawn_app, spawn_app_with};
use crate::on_both;

on_both!(
    a_session_link_works_once_and_then_shows_no_data,
    expired_and_forged_links_are_refused,
    the_cookie_is_http_only_lax_and_secure_behind_https,
    switching_a_purpose_records_a_panel_consent,
    legitimate_interest_can_be_objected_and_contract_is_always_on,
    missing_or_forged_csrf_is_403_and_records_nothing,
    benefit_code_appears_only_when_granted_and_is_stable,
    after_a_material_change_the_panel_asks_again,
    a_form_from_an_older_notice_records_nothing,
    logout_ends_the_session,
    data_held_shows_decrypted_values_grouped_by_category,
    a_purpose_bound_read_appears_in_the_activity_feed,
    downloads_are_attachments_holding_the_data_and_recorded_as_dsars,
    download_and_delete_refuse_missing_or_forged_csrf,
    delete_needs_the_confirmation_step_and_then_leaves_nothing,
);

/// A browser on the panel: keeps cookies, does not follow redirects by itself.
pub struct Panel {
    pub client: reqwest::Client,
    pub base: String,
    /// The panel page as last fetched.
    pub html: String,
}

/// A form's reply: status, `Location`, body.
pub struct Sent {
    pub status: u16,
    pub location: String,
    pub body: String,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A fresh session link for `subject`.
pub async fn link(app: &TestApp, subject: &str) -> String {
    let r = app.post(&format!("/v1/subjects/{subject}/sessions"), Some(&app.consent_key), &json!({})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let url = r.body["url"].as_str().unwrap().to_string();
    let token = r.body["token"].as_str().unwrap();
    assert!(url.ends_with(&format!("/me?token={token}")));
    // The link names the public URL; tests reach the server at its bound address.
    format!("{}/me?token={token}", app.base)
}

/// The value of the first hidden field `name`.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no field {name}")) + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

impl Panel {
    /// Opens the panel for `subject` through a new link.
    pub async fn open(app: &TestApp, subject: &str) -> Panel {
        let client = browser();
        let r = client.get(link(app, subject).await).send().await.unwrap();
        assert_eq!(r.status(), 303, "the token is exchanged and the browser sent on");
        assert_eq!(r.headers()["location"], "/me", "the token leaves the address bar");
        let mut panel = Panel { client, base: app.base.clone(), html: String::new() };
        panel.reload().await;
        panel
    }

    /// GETs `/me` (plus `query`) and keeps the page; asserts 200.
    pub async fn reload_with(&mut self, query: &str) -> &str {
        let r = self.client.get(format!("{}/me{query}", self.base)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        self.html = r.text().await.unwrap();
        &self.html
    }

    pub async fn reload(&mut self) -> &str {
        self.reload_with("").await
    }

    pub fn csrf(&self) -> String {
        field(&self.html, "csrf")
    }

    /// POSTs a form to `path` with these fields.
    pub async fn send(&self, path: &str, fields: &[(&str, &str)]) -> Sent {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let location = r.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        Sent { status, location, body: r.text().await.unwrap() }
    }

    /// Saves the switches with exactly `on` switched on (of the optional purposes shown);
    /// follows the redirect and returns its location.
    pub async fn save(&mut self, on: &[&str]) -> String {
        let csrf = self.csrf();
        let version = field(&self.html, "notice_version");
        let mut fields = vec![("csrf", csrf.as_str()), ("notice_version", version.as_str())];
        let shown: Vec<String> = self
            .html
            .split("name=\"shown\" value=\"")
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect();
        for s in &shown {
            fields.push(("shown", s));
        }
        for o in on {
            fields.push(("on", o));
        }
        let sent = self.send("/me/choices", &fields).await;
        assert_eq!(sent.status, 303, "{}", sent.body);
        let location = sent.location.clone();
        self.reload_with(location.strip_prefix("/me").unwrap()).await;
        location
    }

    /// Whether the switch of `purpose` is on in the page.
    pub fn is_on(&self, purpose: &str) -> bool {
        let marker = format!("name=\"on\" value=\"{purpose}\"");
        let start = self.html.find(&marker).unwrap_or_else(|| panic!("no switch for {purpose}"));
        let tag = self.html[start..].split('>').next().unwrap();
        tag.contains(" checked")
    }

    /// The discount code shown, if any.
    pub fn code(&self) -> Option<String> {
        let marker = "<code class=\"benefit-code\">";
        let start = self.html.find(marker)? + marker.len();
        Some(self.html[start..].split('<').next().unwrap().to_string())
    }
}

async fn consents(app: &TestApp, subject: &str) -> Value {
    let r = app.get(&format!("/v1/subjects/{subject}/consents"), Some(&app.consent_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn history_len(app: &TestApp, subject: &str) -> usize {
    let r = app.get(&format!("/v1/subjects/{subject}/consents/history"), Some(&app.consent_key)).await;
    r.body["records"].as_array().map(Vec::len).unwrap_or(0)
}

/// What no page about a refused link or session may show.
fn assert_no_subject_data(html: &str) {
    for leak in ["name=\"on\"", "name=\"csrf\"", "WELCOME10-", "<table", "Your activity", "Receipt"] {
        assert!(!html.contains(leak), "a refusal page shows {leak:?}");
    }
}

async fn a_session_link_works_once_and_then_shows_no_data(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("alice", json!({"newsletter": true})).await;
    let url = link(&app, "alice").await;
    let probe = browser().head(&url).send().await.unwrap();
    assert_eq!(probe.status(), 303, "a HEAD probe (link checkers) opens nothing…");
    assert!(probe.headers().get("set-cookie").is_none());
    let first = browser();
    let r = first.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303, "…and does not use up the link");
    let r = first.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Your choices") && html.contains("name=\"on\" value=\"newsletter\" id=\"c-newsletter\" checked")
    );
    assert!(html.contains("WELCOME10-"), "the grant unlocked the benefit");
    assert!(!html.contains("alice"), "the external id is never shown");

    let second = browser();
    let r = second.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 410, "a used link is gone");
    let html = r.text().await.unwrap();
    assert!(html.contains("This link was already used"));
    assert_no_subject_data(&html);
    let r = second.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), 403, "and it opened no session");
    assert_no_subject_data(&r.text().await.unwrap());

    let r = first.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the session opened by the first use still works");
    let audit = app.store.audit().recent(20).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "panel.session.opened" && e.actor == "panel" && e.subject.is_some()));
}

async fn expired_and_forged_links_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("bob", json!({"newsletter": true})).await;
    let url = link(&app, "bob").await;
    app.raw_sql(&["UPDATE subject_sessions SET expires_at = 1"]).await.unwrap();
    let r = browser().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link has expired"));
    assert_no_subject_data(&html);

    let r = browser().get(app.url("/me?token=not-a-token-anyone-issued")).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(html.contains("This link is not valid"));
    assert_no_subject_data(&html);

    let r = browser().get(app.url("/me?lang=de")).send().await.unwrap();
    assert_eq!(r.status(), 403, "no session, no panel");
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"de\">") && html.contains("Sie sind nicht angemeldet"));
    let r = reqwest::Client::new().get(app.url("/me")).header("cookie", "candor_panel=forged").send().await.unwrap();
    assert_eq!(r.status(), 403, "a forged cookie opens nothing");
}

async fn the_cookie_is_http_only_lax_and_secure_behind_https(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = browser().get(link(&app, "carol").await).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("candor_panel=") && attributes[0].len() > 40, "an opaque secret");
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/me"] {
        assert!(attributes.contains(&wanted), "{wanted} in {cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "plain http: a Secure cookie would never come back");

    // Behind https (the public URL says so), the cookie is Secure.
    let https = spawn_app_with(backend, "public_url = \"https://shop.example\"").await;
    let url = link(&https, "carol").await;
    let r = browser().get(url).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.split(';').map(str::trim).any(|a| a == "Secure"), "{cookie}");
}

async fn switching_a_purpose_records_a_panel_consent(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("dave", json!({"newsletter": true})).await;
    let mut panel = Panel::open(&app, "dave").await;
    assert!(panel.is_on("newsletter") && !panel.is_on("personalization") && !panel.is_on("analytics"));
    let before = history_len(&app, "dave").await;

    let location = panel.save(&["newsletter", "personalization"]).await;
    assert!(location.starts_with("/me?done=saved&receipt="), "{location}");
    let receipt = location.split("receipt=").nth(1).unwrap();
    assert!(panel.html.contains("Your choices were saved."));
    assert!(panel.html.contains(&format!("<code id=\"receipt\">{receipt}</code>")), "the new receipt id is shown");
    assert!(panel.is_on("personalization"));
    assert_eq!(history_len(&app, "dave").await, before + 1, "only the switch that moved is recorded");

    let state = consents(&app, "dave").await;
    let p = &state["purposes"]["personalization"];
    assert_eq!(p["state"], "granted");
    assert_eq!(p["source"], "panel");
    assert_eq!(p["method"], "checkbox");
    assert_eq!(state["purposes"]["newsletter"]["source"], "api", "untouched purposes are not re-recorded");
    let history = app.get("/v1/subjects/dave/consents/history", Some(&app.consent_key)).await;
    let last = history.body["records"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["receipt_id"], receipt);
    assert!(last["proof"]["page"].as_str().unwrap().ends_with("/me"));

    panel.save(&["personalization"]).await;
    let state = consents(&app, "dave").await;
    assert_eq!(state["purposes"]["newsletter"]["state"], "withdrawn", "switching off withdraws");
    assert_eq!(state["purposes"]["newsletter"]["source"], "panel");
    assert!(panel.html.contains("Withdrawn") && panel.html.contains("This control panel"), "the activity feed");

    let location = panel.save(&["personalization"]).await;
    assert_eq!(location, "/me?done=unchanged", "saving an untouched form records nothing");
    assert!(panel.html.contains("Nothing changed"));

    let audit = app.store.audit().recent(5).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "consent.recorded" && e.actor == "panel"), "audited like the API");
}

async fn legitimate_interest_can_be_objected_and_contract_is_always_on(backend: Backend) {
    let app = spawn_app(backend).await;
    let li = catalog_with(|c| {
        c.replace(
            "legal_basis = \"consent\"\nretention_days = 90",
            "legal_basis = \"legitimate_interest\"\nretention_days = 90",
        )
    });
    assert_eq!(app.publish(&li).await.status, 201);
    app.consent("erin", json!({"newsletter": false})).await;
    let mut panel = Panel::open(&app, "erin").await;
    assert!(panel.is_on("analytics"), "legitimate interest is on until objected to");
    assert!(!panel.html.contains("name=\"on\" value=\"account\""), "contract purposes have no switch");
    let start = panel.html.find("id=\"choice-account\"").unwrap();
    let end = panel.html[start..].find("id=\"choice-personalization\"").unwrap() + start;
    assert!(panel.html[start..end].contains("Always on"), "shown as always on");

    panel.save(&[]).await;
    assert!(!panel.is_on("analytics"));
    let state = consents(&app, "erin").await;
    assert_eq!(state["purposes"]["analytics"]["state"], "objected");
    assert_eq!(state["purposes"]["analytics"]["source"], "panel");
    assert_eq!(state["purposes"]["account"]["state"], "granted");

    // Sneaking an always-on purpose into the form changes nothing about it.
    let csrf = panel.csrf();
    let version = field(&panel.html, "notice_version");
    let sent = panel
        .send(
            "/me/choices",
            &[
                ("csrf", &csrf),
                ("notice_version", &version),
                ("shown", "account"),
                ("shown", "analytics"),
                ("on", "analytics"),
            ],
        )
        .await;
    assert_eq!(sent.status, 303);
    let state = consents(&app, "erin").await;
    assert_eq!(state["purposes"]["analytics"]["state"], "granted", "switching it on again");
    assert_eq!(state["purposes"]["account"]["default"], true, "no row was written for account");
}

async fn missing_or_forged_csrf_is_403_and_records_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("frank", json!({"newsletter": true})).await;
    app.consent("grace", json!({"newsletter": true})).await;
    let panel = Panel::open(&app, "frank").await;
    let other = Panel::open(&app, "grace").await;
    let version = field(&panel.html, "notice_version");
    let before = history_len(&app, "frank").await;
    let others_token = other.csrf();
    for csrf in [None, Some("forged"), Some(""), Some(others_token.as_str())] {
        let mut fields = vec![("notice_version", version.as_str()), ("shown", "newsletter")];
        if let Some(csrf) = csrf {
            fields.push(("csrf", csrf));
        }
        let sent = panel.send("/me/choices", &fields).await;
        assert_eq!(sent.status, 403, "csrf {csrf:?}");
        assert!(sent.body.contains("This form could not be verified"));
        let sent = panel.send("/me/reconsent", &[("csrf", csrf.unwrap_or_default()), ("decline", "newsletter")]).await;
        assert_eq!(sent.status, 403);
        let sent = panel.send("/me/logout", &[("csrf", csrf.unwrap_or_default())]).await;
        assert_eq!(sent.status, 403);
    }
    assert_eq!(history_len(&app, "frank").await, before, "nothing was recorded");
    assert_eq!(consents(&app, "frank").await["purposes"]["newsletter"]["state"], "granted");
    let r = panel.client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), 200, "nor was the session ended");

    // The right token works, which shows the refusals were about the token.
    let csrf = panel.csrf();
    let sent =
        panel.send("/me/choices", &[("csrf", &csrf), ("notice_version", &version), ("shown", "newsletter")]).await;
    assert_eq!(sent.status, 303);
    assert_eq!(consents(&app, "frank").await["purposes"]["newsletter"]["state"], "withdrawn");
}

async fn benefit_code_appears_only_when_granted_and_is_stable(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("heidi", json!({"newsletter": false})).await;
    let mut panel = Panel::open(&app, "heidi").await;
    assert_eq!(panel.code(), None, "no code before newsletter is granted");
    assert!(panel.html.contains("Switch on to unlock: Deals by email"));

    panel.save(&["newsletter"]).await;
    let code = panel.code().expect("granting newsletter unlocks the discount");
    let groups: Vec<&str> = code.split('-').collect();
    assert_eq!(groups.len(), 3, "{code}");
    assert_eq!(groups[0], "WELCOME10");
    assert!(
        groups[1..].iter().all(|g| g.len() == 4 && g.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()))
    );

    let again = Panel::open(&app, "heidi").await;
    assert_eq!(again.code().as_deref(), Some(code.as_str()), "stable across sessions");
    app.consent("ivan", json!({"newsletter": true})).await;
    let other = Panel::open(&app, "ivan").await;
    assert_ne!(other.code().unwrap(), code, "unique per subject");

    panel.save(&[]).await;
    assert_eq!(panel.code(), None, "withdrawing locks it again");
}

async fn after_a_material_change_the_panel_asks_again(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("judy", json!({"newsletter": true, "analytics": true})).await;
    let longer = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 1000"));
    assert_eq!(app.publish(&longer).await.status, 201);

    let mut panel = Panel::open(&app, "judy").await;
    assert!(panel.html.contains("What changed since you last agreed"));
    let prompt = &panel.html[panel.html.find("id=\"reconsent-newsletter\"").expect("newsletter is asked again")..];
    assert!(prompt.contains("Data is now kept for 1000 days (about 33 months) instead of 730 days (2 years)."));
    assert!(!panel.html.contains("id=\"reconsent-analytics\""), "unchanged purposes are not asked again");

    let csrf = panel.csrf();
    let version = field(&panel.html, "notice_version");
    assert_eq!(version, "2");
    let sent =
        panel.send("/me/reconsent", &[("csrf", &csrf), ("notice_version", &version), ("agree", "newsletter")]).await;
    assert_eq!(sent.status, 303);
    assert!(sent.location.starts_with("/me?done=saved&receipt="));
    let state = consents(&app, "judy").await;
    assert_eq!(state["needs_reconsent"], json!([]));
    assert_eq!(state["purposes"]["newsletter"]["notice_version"], 2);
    assert_eq!(state["purposes"]["newsletter"]["source"], "panel");
    panel.reload().await;
    assert!(!panel.html.contains("What changed since you last agreed"));

    // In German, the change is told in German.
    let longer_still = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 1200"));
    assert_eq!(app.publish(&longer_still).await.status, 201);
    panel.reload_with("?lang=de").await;
    assert!(panel.html.contains("Was sich seit Ihrer letzten Zustimmung geändert hat"));
    assert!(
        panel
            .html
            .contains("Daten werden jetzt 1200 Tage (etwa 40 Monate) statt 1000 Tage (etwa 33 Monate) gespeichert.")
    );
    assert_eq!(field(&panel.html, "lang"), "de", "an explicit language is carried through the forms");
}

async fn a_form_from_an_older_notice_records_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("ken", json!({"newsletter": false})).await;
    let panel = Panel::open(&app, "ken").await;
    let csrf = panel.csrf();
    let before = history_len(&app, "ken").await;
    let longer = catalog_with(|c| c.replace("retention_days = 730", "retention_days = 1000"));
    assert_eq!(app.publish(&longer).await.status, 201);
    let sent = panel
        .send("/me/choices", &[("csrf", &csrf), ("notice_version", "1"), ("shown", "newsletter"), ("on", "newsletter")])
        .await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.location, "/me?done=stale", "the person saw version 1; their yes does not cover version 2");
    assert_eq!(history_len(&app, "ken").await, before);
}

async fn logout_ends_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("lena", json!({"newsletter": true})).await;
    let panel = Panel::open(&app, "lena").await;
    let csrf = panel.csrf();
    // The secret as the browser holds it, to replay after logout.
    let r = browser().get(link(&app, "lena").await).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = replay.get(app.url("/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200, "the second session works before its logout");
    let html = r.text().await.unwrap();
    let replay_csrf = field(&html, "csrf");

    let sent = panel.send("/me/logout", &[("csrf", &csrf)]).await;
    assert_eq!(sent.status, 303);
    assert_eq!(sent.location, "/me?done=signed_out");
    let r = panel.client.get(app.url("/me?done=signed_out")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("You are signed out"));
    assert_no_subject_data(&html);
    assert_eq!(panel.client.get(app.url("/me")).send().await.unwrap().status(), 403, "the session has ended");

    // Logging out of the replayed session, then replaying its cookie, opens nothing.
    let r = replay
        .post(app.url("/me/logout"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={replay_csrf}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "the cookie is cleared");
    let r = replay.get(app.url("/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let r = replay
        .post(app.url("/me/choices"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={replay_csrf}&notice_version=1&shown=newsletter"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(consents(&app, "lena").await["purposes"]["newsletter"]["state"], "granted");
    let audit = app.store.audit().recent(10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "panel.session.ended" && e.actor == "panel"));
}

/// Consents to personalization and newsletter, stores an email (with characters HTML must
/// escape) and three product views, oldest first, through the API.
async fn seed_data(app: &TestApp, subject: &str) {
    app.consent(subject, json!({"personalization": true, "newsletter": true})).await;
    let r = app
        .put(
            &format!("/v1/subjects/{subject}/traits"),
            Some(&app.admin_key),
            &json!({"traits": {"email": format!("{subject}+<shop>@example.com")}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["stored"], json!(["email"]));
    let results = app
        .events(json!([
            {"subject": subject, "type": "product_viewed", "at": "2026-01-01T10:00:00Z", "properties": {"product_id": "tent-1"}},
            {"subject": subject, "type": "product_viewed", "at": "2026-01-02T10:00:00Z", "properties": {"product_id": "stove-2"}},
            {"subject": subject, "type": "product_viewed", "at": "2026-01-03T10:00:00Z", "properties": {"product_id": "lamp-3"}},
        ]))
        .await;
    assert!(results.iter().all(|r| r["accepted"] == true), "{results:?}");
}

/// The part of the page from the card of data category `category` to the next card.
fn held_category<'a>(html: &'a str, category: &str) -> &'a str {
    let marker = format!("id=\"data-{category}\"");
    let start = html.find(&marker).unwrap_or_else(|| panic!("no card for {category}"));
    let rest = &html[start + marker.len()..];
    let end = rest.find("class=\"card held\"").or_else(|| rest.find("</section>")).unwrap();
    &rest[..end]
}

/// The rows of the activity table, as HTML, in page order.
fn activity_rows(html: &str) -> Vec<&str> {
    let start = html.find("<tbody>").expect("an activity table");
    let end = html[start..].find("</tbody>").unwrap() + start;
    html[start..end].split("<tr").skip(1).collect()
}

async fn dsars(app: &TestApp) -> Vec<Value> {
    let r = app.get("/v1/dsar", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["requests"].as_array().unwrap().clone()
}

async fn data_held_shows_decrypted_values_grouped_by_category(backend: Backend) {
    let app = spawn_app(backend).await;
    app.consent("mia", json!({"personalization": true})).await;
    let mut panel = Panel::open(&app, "mia").await;
    assert!(panel.html.contains("We hold no data about you apart from your choices."), "the empty state");
    assert!(!panel.html.contains("class=\"card held\""));

    seed_data(&app, "mia").await;
    panel.reload().await;
    assert!(!panel.html.contains("We hold no data about you"));
    assert!(!panel.html.contains("mia+<shop>"), "values are HTML-escaped");

    let (email_at, browsing_at) = (
        panel.html.find("id=\"data-contact.email\"").unwrap(),
        panel.html.find("id=\"data-behavior.browsing\"").unwrap(),
    );
    assert!(email_at < browsing_at, "categories in the catalog's order");
    let email = held_category(&panel.html, "contact.email");
    assert!(email.contains("<h3>Email address</h3>"), "the category in plain words: {email}");
    assert!(email.contains("<code>email</code>"));
    assert!(email.contains("mia+&#60;shop&#62;@example.com"), "the decrypted value: {email}");
    assert!(email.contains("Run your account, Deals by email"), "its purposes, by title");
    assert!(email.contains("730 days (2 years)"), "its retention: the shortest of its purposes");
    assert!(!email.contains("tent-1"), "events are not under the email");

    let browsing = held_category(&panel.html, "behavior.browsing");
    assert!(browsing.contains("<h3>Pages and products you view</h3>"), "{browsing}");
    assert!(browsing.contains("Recorded in 3 events"), "{browsing}");
    let order: Vec<usize> = ["lamp-3", "stove-2", "tent-1"].iter().map(|p| browsing.find(p).expect(p)).collect();
    assert!(order[0] < order[1] && order[1] < order[2], "newest first: {order:?}");
    assert!(browsing.contains("Recommendations for you, Improve the shop"));
    assert!(browsing.contains("90 days (about 3 months)"));
    assert!(!browsing.contains("example.com"));

    panel.reload_with("?lang=de").await;
    assert!(panel.html.contains("Daten, die wir über Sie speichern"));
    let email = held_category(&panel.html, "contact.email");
    assert!(email.contains("<h3>E-Mail-Adresse</h3>") && email.contains("Ihr Kundenkonto führen, Angebote per E-Mail"));
    assert!(email.contains("730 Tage (2 Jahre)"));
    let browsing = held_category(&panel.html, "behavior.browsing");
    assert!(browsing.contains("In 3 Ereignissen erfasst") && browsing.contains("Empfehlungen für Sie"), "{browsing}");

    // Nothing of another person shows.
    seed_data(&app, "noah").await;
    panel.reload().await;
    assert!(!panel.html.contains("noah"));
    assert!(held_category(&panel.html, "behavior.browsing").contains("Recorded in 3 events"));
}

async fn a_purpose_bound_read_appears_in_the_activity_feed(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_data(&app, "olga").await;
    let mut panel = Panel::open(&app, "olga").await;
    assert!(!panel.html.contains("read your data"), "no read yet");

    let reader = app.key(&["read:personalization"]).await;
    let r = app.get("/v1/subjects/olga/data?purpose=personalization", Some(&reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let analyst = app.key(&["read:analytics"]).await;
    let r = app.get("/v1/subjects/olga/data?purpose=analytics", Some(&analyst)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["fields"], json!([]), "no analytics consent: nothing returned");

    panel.reload().await;
    let rows = activity_rows(&panel.html);
    assert!(
        rows[0].contains("An API key asked for your data for Improve the shop; nothing was returned"),
        "newest first: {}",
        rows[0]
    );
    assert!(rows[1].contains("An API key read your data for Recommendations for you: product_id."), "{}", rows[1]);
    assert!(rows[1].contains("The shop’s systems, with an API key"));
    assert!(rows[2..].iter().any(|r| r.contains("<strong>Agreed</strong>: Deals by email")), "consents follow");
    assert_eq!(rows.len(), 4, "two reads and two consent changes");

    panel.reload_with("?lang=de").await;
    assert!(
        panel.html.contains("Ein API-Schlüssel hat Ihre Daten für „Empfehlungen für Sie“ gelesen: product_id."),
        "in German too"
    );

    // A read of another person does not show here.
    seed_data(&app, "pia").await;
    app.get("/v1/subjects/pia/data?purpose=personalization", Some(&reader)).await;
    panel.reload().await;
    assert_eq!(activity_rows(&panel.html).len(), 4);
}

async fn downloads_are_attachments_holding_the_data_and_recorded_as_dsars(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_data(&app, "quinn").await;
    let reader = app.key(&["read:newsletter"]).await;
    app.get("/v1/subjects/quinn/data?purpose=newsletter", Some(&reader)).await;
    let panel = Panel::open(&app, "quinn").await;
    assert!(panel.html.contains("action=\"/me/export\""));
    assert!(dsars(&app).await.is_empty());
    let csrf = panel.csrf();

    let r = panel
        .client
        .post(app.url("/me/export"))
        .form(&[("csrf", csrf.as_str()), ("format", "json")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let disposition = r.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.starts_with("attachment; filename=\"my-data-") && disposition.ends_with(".json\""));
    assert_eq!(r.headers()["cache-control"], "no-store");
    let export: Value = r.json().await.unwrap();
    assert_eq!(export["traits"]["email"]["value"], "quinn+<shop>@example.com");
    let products: Vec<&str> =
        export["events"].as_array().unwrap().iter().map(|e| e["properties"]["product_id"].as_str().unwrap()).collect();
    assert_eq!(products, ["lamp-3", "stove-2", "tent-1"]);
    assert_eq!(export["access_log"][0]["purpose"], "newsletter");
    assert!(export.get("subject").is_none(), "the panel knows no host id, and invents none");
    assert_eq!(export["requests"][0]["kind"], "export");

    let r = panel
        .client
        .post(app.url("/me/export"))
        .form(&[("csrf", csrf.as_str()), ("format", "csv")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    assert!(r.headers()["content-disposition"].to_str().unwrap().ends_with(".zip\""));
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut traits = String::new();
    zip.by_name("traits.csv").unwrap().read_to_string(&mut traits).unwrap();
    assert!(traits.contains("quinn+<shop>@example.com"), "{traits}");
    let mut events = String::new();
    zip.by_name("events.csv").unwrap().read_to_string(&mut events).unwrap();
    assert!(events.contains("stove-2") && events.lines().count() == 4, "{events}");

    let requests = dsars(&app).await;
    assert_eq!(requests.len(), 2, "each download is a request");
    for (request, format) in requests.iter().zip(["csv", "json"]) {
        assert_eq!(request["kind"], "export");
        assert_eq!(request["status"], "completed");
        assert_eq!(request["note"], format!("exported as {format} by panel"));
    }
    let audit = app.store.audit().recent(10).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "subject.exported" && e.actor == "panel").count(), 2);

    let sent = panel.send("/me/export", &[("csrf", &csrf), ("format", "xml")]).await;
    assert_eq!(sent.status, 400, "an unknown format is refused");
    let r = panel.client.get(app.url("/me/export?format=json")).send().await.unwrap();
    assert_eq!(r.status(), 405, "no download by GET: a link from another site could trigger it");
    assert_eq!(dsars(&app).await.len(), 2, "and neither recorded anything");
}

async fn download_and_delete_refuse_missing_or_forged_csrf(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_data(&app, "rosa").await;
    seed_data(&app, "sven").await;
    let panel = Panel::open(&app, "rosa").await;
    let other = Panel::open(&app, "sven").await;
    let others_token = other.csrf();
    for csrf in [None, Some("forged"), Some(""), Some(others_token.as_str())] {
        let mut export = vec![("format", "json")];
        let mut erase = vec![("confirm", "erase")];
        if let Some(csrf) = csrf {
            export.push(("csrf", csrf));
            erase.push(("csrf", csrf));
        }
        let sent = panel.send("/me/export", &export).await;
        assert_eq!(sent.status, 403, "export, csrf {csrf:?}");
        assert!(sent.body.contains("This form could not be verified"));
        assert!(!sent.body.contains("example.com"));
        let sent = panel.send("/me/delete", &erase).await;
        assert_eq!(sent.status, 403, "delete, csrf {csrf:?}");
        assert!(sent.body.contains("This form could not be verified"));
    }
    // Without a session, the right-looking form does nothing either.
    let stranger = browser();
    let r = stranger
        .post(app.url("/me/delete"))
        .form(&[("csrf", panel.csrf().as_str()), ("confirm", "erase")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    assert!(dsars(&app).await.is_empty(), "no export and no erasure was recorded");
    assert_eq!(consents(&app, "rosa").await["purposes"]["newsletter"]["state"], "granted", "rosa still exists");
    let r = panel.client.get(app.url("/me")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the session was not ended");
    assert!(r.text().await.unwrap().contains("rosa+&#60;shop&#62;@example.com"), "the data is still there");

    // The right token works, which shows the refusals were about the token.
    let sent = panel.send("/me/export", &[("csrf", &panel.csrf()), ("format", "json")]).await;
    assert_eq!(sent.status, 200);
    assert_eq!(dsars(&app).await.len(), 1);
}

async fn delete_needs_the_confirmation_step_and_then_leaves_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    seed_data(&app, "tara").await;
    seed_data(&app, "uwe").await;
    let mut panel = Panel::open(&app, "tara").await;
    // An unused link and the cookie of a second session, to replay after the erasure.
    let spare_link = link(&app, "tara").await;
    let r = browser().get(link(&app, "tara").await).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let replay = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    assert!(panel.html.contains("href=\"/me/delete\""), "the panel leads to the confirmation step");
    assert!(!panel.html.contains("name=\"confirm\""), "and cannot erase by itself");
    let sent = panel.send("/me/delete", &[("csrf", &panel.csrf())]).await;
    assert_eq!(sent.status, 303, "a delete form without the confirmation…");
    assert_eq!(sent.location, "/me/delete", "…leads to the confirmation step");
    assert_eq!(consents(&app, "tara").await["purposes"]["newsletter"]["state"], "granted", "and erases nothing");

    let r = panel.client.get(app.url("/me/delete")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let step = r.text().await.unwrap();
    assert!(step.contains("<h1>Delete all your data?</h1>"));
    assert!(step.contains("This cannot be undone."));
    assert!(step.contains("4 items of data about you (email address, pages and products you view)."), "{step}");
    assert!(step.contains("Your 2 recorded choices and their receipts."));
    assert!(step.contains("We also tell Mailer Inc., who received some of your data, about the deletion."));
    assert!(step.contains("name=\"confirm\" value=\"erase\""));
    assert!(!step.contains("tara+"), "the step names kinds of data, not values");
    assert_eq!(consents(&app, "tara").await["purposes"]["newsletter"]["state"], "granted", "showing it erased nothing");
    assert_eq!(browser().get(app.url("/me/delete")).send().await.unwrap().status(), 403, "no session, no step");

    let r = panel.client.get(app.url("/me/delete?lang=de")).send().await.unwrap();
    let step_de = r.text().await.unwrap();
    assert!(step_de.contains("Alle Ihre Daten löschen?") && step_de.contains("nicht rückgängig"));
    assert_eq!(field(&step_de, "lang"), "de");
    panel.html = step_de;
    let sent = panel.send("/me/delete", &[("csrf", &panel.csrf()), ("confirm", "erase"), ("lang", "de")]).await;
    assert_eq!(sent.status, 303, "{}", sent.body);
    let certificate = sent.location.strip_prefix("/me?done=erased&certificate=").unwrap().strip_suffix("&lang=de");
    let certificate = certificate.unwrap_or_else(|| panic!("{}", sent.location)).to_string();

    // The page after: in the person's language, with the certificate, and nothing else.
    let r = panel.client.get(app.url(&sent.location)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let done = r.text().await.unwrap();
    assert!(done.contains("Ihre Daten wurden gelöscht"), "{done}");
    assert!(done.contains(&format!("<code id=\"certificate\" class=\"benefit-code\">{certificate}</code>")));
    assert_no_subject_data(&done);
    assert!(!done.contains("tara"));
    let forged = browser().get(app.url("/me?done=erased&certificate=made-up")).send().await.unwrap();
    assert_eq!(forged.status(), 403, "only a real certificate is shown");

    let request = app.get(&format!("/v1/dsar/{certificate}"), Some(&app.admin_key)).await;
    assert_eq!(request.body["kind"], "erasure");
    assert_eq!(request.body["status"], "completed");
    assert_eq!(request.body["note"], "erased by panel");
    assert_eq!(request.body["result"]["certificate"]["erased"]["traits"], 1);
    assert_eq!(request.body["result"]["certificate"]["erased"]["events"], 3);
    let audit = app.store.audit().recent(10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "subject.erased" && e.actor == "panel"));

    // Afterwards: unknown to the API, and no cookie or link shows anything.
    app.get("/v1/subjects/tara/consents", Some(&app.consent_key)).await.problem(404);
    for path in ["/me", "/me/delete"] {
        let r = panel.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "the panel's own cookie was cleared: {path}");
        assert_no_subject_data(&r.text().await.unwrap());
        let r = replay.get(app.url(path)).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 403, "another session's cookie, replayed: {path}");
        assert_no_subject_data(&r.text().await.unwrap());
    }
    let r = browser().get(&spare_link).send().await.unwrap();
    assert_eq!(r.status(), 403, "an unused link of the erased subject opens nothing");
    assert_no_subject_data(&r.text().await.unwrap());
    // Another person is untouched.
    let other = Panel::open(&app, "uwe").await;
    assert!(other.html.contains("uwe+&#60;shop&#62;@example.com"));
}
