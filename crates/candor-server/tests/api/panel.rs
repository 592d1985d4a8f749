//! The control panel `/me`: single-use links exchanged for a cookie session, choices
//! recorded through the consent path, CSRF, re-consent, benefit codes, logout.

use candor_server::config::FlagOverrides;
use candor_server::instance;
use serde_json::{Value, json};

use crate::helpers::{Backend, PgDatabase, TestApp, catalog_with, spawn_app, spawn_on};
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
    let dir = tempfile::tempdir().unwrap();
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(PgDatabase::create().await),
    };
    let database_url = pg.as_ref().map(|p| p.url.clone());
    instance::init(dir.path(), FlagOverrides { listen: None, database_url: database_url.clone() }).await.unwrap();
    let catalog = dir.path().join("candor.toml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(&catalog, format!("{text}\n[server]\npublic_url = \"https://shop.example\"\n")).unwrap();
    let https = spawn_on(dir, backend, database_url, pg).await;
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
