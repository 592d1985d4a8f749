//! The control panel (`GET /me`): a person's own view of their choices, what changed
//! since they last agreed, the benefits they unlocked and the history of their choices.
//!
//! It opens through the single-use link of `POST /v1/subjects/{id}/sessions`
//! (`/me?token=…`). The token is exchanged at once for an opaque panel session whose
//! secret lives only in an HttpOnly cookie (the store keeps its hash), and the browser is
//! redirected to `/me` so the token leaves the address bar. Every form works without
//! JavaScript (POST, then redirect, then GET) and carries a CSRF token derived from the
//! session secret, so a form posted from elsewhere changes nothing.
//!
//! The data plane shows here too: everything held about the person (opened with their
//! key), every read of it by an API key or an admin, a download of all of it (a DSAR
//! export) and its erasure behind a confirmation step. Downloads are POSTs with the CSRF
//! token, not GETs: each one records a DSAR, writes an audit entry and tells processors,
//! and a GET would let any page the person visits trigger that through a top-level link
//! (the SameSite=Lax cookie goes along with those), or a link prefetcher do it unasked.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use candor_core::catalog::{BenefitKind, LegalBasis};
use candor_core::consent::{self, ConsentState, Source};
use candor_core::notice::{self as notice_diff, Notice};
use candor_privacy::{BenefitCodes, Pid};
use candor_store::{ConsentRecord, SubjectKind, latest_per_purpose};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::privacy::{PurposeView, purpose_view};
use super::{Chrome, MessagePage, PageContext, PageError, PageErrorKind, html, lang_param, query_param};
use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::consent_writer::{effective_states, rules_view};
use crate::http::api::consents::{ChoiceRequest, record_choices};
use crate::i18n::{self, ErasureScope, Lang, Reader};
use crate::instance::audit_entry;
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;
use crate::{dsar, subject_data};

/// The cookie that holds the panel session's secret.
const COOKIE: &str = "candor_panel";

/// How long a panel session lasts.
const SESSION_TTL_MS: i64 = 60 * 60 * 1000;

/// The audit actor of everything done in the panel: the person, through this page.
const ACTOR: &str = "panel";

/// How many of the newest events the panel opens to show recent values. The number of
/// events per field comes from the store, so it is exact however many there are.
const PANEL_EVENTS: i64 = 500;

/// How many recent values the panel shows per event field.
const RECENT_VALUES: usize = 5;

/// What the confirmation step's form must carry for an erasure to happen.
const CONFIRM_ERASE: &str = "erase";

/// A live panel session, as found from the request's cookie.
struct Session {
    pid: Pid,
    secret: String,
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// The CSRF token of a session: a hash of its secret under a label of its own. It reveals
/// nothing of the secret, and a page from another origin can neither read nor make it.
fn csrf_token(secret: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"candor panel csrf\0");
    hash.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(hash.finalize())
}

/// The panel secret from the `Cookie` headers, if any.
fn cookie_secret(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_string())
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// The live session the request's cookie names, if any.
async fn session(state: &AppState, ctx: &PageContext, headers: &HeaderMap) -> Result<Option<Session>, PageError> {
    let Some(secret) = cookie_secret(headers) else { return Ok(None) };
    let found = state.store().panel_session(&sha256(&secret), now_ms()).await.map_err(|e| ctx.failed(e.into()))?;
    Ok(found.map(|s| Session { pid: s.pid, secret }))
}

fn session_cookie(state: &AppState, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.public_url().starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/me; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&cookie).expect("cookie is ASCII")
}

/// A 303 to `location` that no cache keeps and that sends no Referer onwards.
fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(location).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(cookie) = cookie {
        headers.insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /me`: exchanges a session link's token, or shows the panel of the session.
async fn panel(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, &headers, lang_param(&uri).as_deref());
    if let Some(token) = query_param(&uri, "token") {
        // Link checkers probe with HEAD; only a real visit may use up the single-use token.
        if method == Method::HEAD {
            return Ok(see_other(&format!("/me{}", ctx.lang_query(true)), None));
        }
        return exchange(&state, &ctx, &token).await;
    }
    let Some(session) = session(&state, &ctx, &headers).await? else {
        if query_param(&uri, "done").as_deref() == Some("erased")
            && let Some(id) = query_param(&uri, "certificate")
            && is_erasure_certificate(&state, &ctx, &id).await?
        {
            let mut chrome = ctx.chrome("me");
            // A `?lang=` link would drop the certificate from the address (and show a 403).
            chrome.languages.clear();
            return Ok(html(&ErasedPage { chrome, certificate: id, contact: ctx.contact.clone() }));
        }
        if query_param(&uri, "done").as_deref() == Some("signed_out") {
            let t = ctx.t();
            return Ok(html(&MessagePage {
                chrome: ctx.chrome("me"),
                title: t.signed_out_title,
                text: t.signed_out_text,
                contact: ctx.contact.clone(),
                alert: false,
            }));
        }
        return Err(ctx.error(PageErrorKind::NoSession));
    };
    let done = query_param(&uri, "done");
    let receipt = query_param(&uri, "receipt");
    render_panel(&state, &ctx, &session, done.as_deref(), receipt.as_deref()).await
}

/// Exchanges a single-use token for a panel session and redirects to `/me`. A token that
/// was used, has expired or was never issued gets a page saying which, and nothing else.
async fn exchange(state: &AppState, ctx: &PageContext, token: &str) -> Result<Response, PageError> {
    let token_hash = sha256(token);
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let now = now_ms();
    let expires_at = now + SESSION_TTL_MS;
    let chain = candor_privacy::AuditChain::new(state.signer());
    let opened = state
        .store()
        .open_panel_session(&token_hash, &sha256(&secret), now, expires_at, &chain, |pid| {
            audit_entry(ACTOR, "panel.session.opened", Some(pid), serde_json::json!({"expires_at": expires_at}))
        })
        .await
        .map_err(|e| ctx.failed(e.into()))?;
    if opened.is_some() {
        let cookie = session_cookie(state, &secret, SESSION_TTL_MS / 1000);
        return Ok(see_other(&format!("/me{}", ctx.lang_query(true)), Some(cookie)));
    }
    let link = state.store().session(&token_hash).await.map_err(|e| ctx.failed(e.into()))?;
    let kind = match link {
        Some(row) if row.used_at.is_some() => PageErrorKind::LinkUsed,
        Some(_) => PageErrorKind::LinkExpired,
        None => PageErrorKind::LinkInvalid,
    };
    Err(ctx.error(kind))
}

/// A purpose with the person's current choice.
pub struct ChoiceView {
    /// The purpose, explained.
    pub purpose: PurposeView,
    /// Whether the switch is on.
    pub on: bool,
    /// Whether the person can switch it (consent and legitimate interest).
    pub optional: bool,
    /// Whether the purpose awaits a fresh consent.
    pub needs_reconsent: bool,
    /// What the switch means, how long data is kept, which data, who receives it.
    pub details: String,
}

/// A purpose to agree to again, with what changed.
pub struct ReconsentView {
    /// Purpose id (the button's value).
    pub id: String,
    /// Its title.
    pub title: String,
    /// What changed since the person agreed.
    pub sentences: Vec<String>,
}

/// A benefit, unlocked or not.
pub struct BenefitView {
    /// Its title.
    pub title: String,
    /// Its kind, in words.
    pub kind: &'static str,
    /// Whether every purpose it requires is granted.
    pub unlocked: bool,
    /// The person's discount code, for an unlocked discount.
    pub code: Option<String>,
    /// Titles of the required purposes not granted yet.
    pub needs: Vec<String>,
}

/// One entry of the activity feed: a consent change, or a read of the person's data.
pub struct ActivityView {
    /// When (Unix ms), to merge the two kinds.
    pub at: i64,
    /// The day.
    pub date: String,
    /// The time of day.
    pub time: String,
    /// The choice in words (a consent change), shown before `what`.
    pub state: Option<&'static str>,
    /// The purpose's title (a consent change) or what happened, as a sentence (a read).
    pub what: String,
    /// Where it was made, or who read, in words.
    pub source: String,
    /// How, in words.
    pub method: String,
    /// The notice version a choice was made under.
    pub version: Option<i64>,
}

/// One kind of data held (a catalog category), with its fields.
pub struct HeldCategory {
    /// The category as the catalog names it (`contact.email`); empty for fields the
    /// catalog no longer declares.
    pub id: String,
    /// The category in plain words.
    pub name: String,
    /// The fields of that category held about the person.
    pub fields: Vec<HeldField>,
}

/// One field held: its stored value (a trait), the events that carry it, or both.
pub struct HeldField {
    /// The field's name.
    pub name: String,
    /// The stored value, opened.
    pub value: Option<String>,
    /// When the value was saved.
    pub saved_on: Option<String>,
    /// How many events carry it, in words.
    pub events: Option<String>,
    /// Its newest values in events.
    pub recent: Vec<RecentValue>,
    /// Titles of its purposes.
    pub purposes: Vec<String>,
    /// How long it is kept, in words.
    pub retention: Option<String>,
}

/// A value of a field in one event.
pub struct RecentValue {
    /// The value.
    pub value: String,
    /// The event's day.
    pub date: String,
}

/// The message at the top after a form was sent.
pub struct Flash {
    /// `ok`, `info` or `warn` (its style).
    pub kind: &'static str,
    /// What happened.
    pub text: &'static str,
    /// The receipt of the saved choices.
    pub receipt: Option<String>,
}

/// `GET /me`.
#[derive(Template)]
#[template(path = "me.html")]
pub struct PanelPage {
    /// The layout.
    pub chrome: Chrome,
    /// The CSRF token every form carries.
    pub csrf: String,
    /// The notice version the page shows (the forms say so).
    pub notice_version: i64,
    /// `?lang=` to carry through the forms, when it was given.
    pub lang_field: Option<&'static str>,
    /// The message after a form.
    pub flash: Option<Flash>,
    /// Purposes to agree to again.
    pub reconsent: Vec<ReconsentView>,
    /// Every purpose with its switch.
    pub choices: Vec<ChoiceView>,
    /// Benefits.
    pub benefits: Vec<BenefitView>,
    /// Everything held, by category.
    pub held: Vec<HeldCategory>,
    /// Consent changes and reads of the data, newest first.
    pub activity: Vec<ActivityView>,
    /// The privacy notice, for "read the full notice".
    pub privacy_href: String,
    /// The erasure's confirmation step.
    pub delete_href: String,
}

/// `GET /me/delete`: the confirmation step of an erasure.
#[derive(Template)]
#[template(path = "me_delete.html")]
pub struct DeletePage {
    /// The layout.
    pub chrome: Chrome,
    /// The CSRF token of the form.
    pub csrf: String,
    /// The notice version (carried like every panel form).
    pub notice_version: i64,
    /// `?lang=` to carry through the form.
    pub lang_field: Option<&'static str>,
    /// What will be deleted, one line each.
    pub lines: Vec<String>,
    /// Which processors are told, in a sentence.
    pub processors: Option<String>,
    /// Whom to write to about the shop account.
    pub contact: String,
    /// Back to the panel (cancel).
    pub back_href: String,
}

/// The page after an erasure from the panel.
#[derive(Template)]
#[template(path = "me_erased.html")]
pub struct ErasedPage {
    /// The layout.
    pub chrome: Chrome,
    /// The erasure certificate's id.
    pub certificate: String,
    /// Whom to write to.
    pub contact: String,
}

async fn render_panel(
    state: &AppState,
    ctx: &PageContext,
    session: &Session,
    done: Option<&str>,
    receipt: Option<&str>,
) -> Result<Response, PageError> {
    let current = ctx.notice(state)?;
    let lang = ctx.lang;
    let t = ctx.t();
    let notice = &current.notice;
    let history = state.store().consent_history(session.pid).await.map_err(|e| ctx.failed(e.into()))?;
    let latest = latest_per_purpose(history.clone());
    let rules = rules_view(&latest);
    let states = effective_states(&current, &rules);
    let needs = consent::needs_reconsent(notice, &current.last_material, &rules, now_ms());
    let granted = |id: &str| states.get(id).is_some_and(|s| s == ConsentState::Granted.as_str());
    let title_of = |id: &str| notice.purpose(id).map(|p| p.title.get(lang.code()).to_string());

    let choices = notice
        .purposes
        .iter()
        .map(|p| {
            let purpose = purpose_view(lang, notice, p);
            ChoiceView {
                on: match p.legal_basis {
                    LegalBasis::Consent => granted(&p.id),
                    _ => states.get(&p.id).is_none_or(|s| s != ConsentState::Objected.as_str()),
                },
                optional: !p.legal_basis.always_on(),
                needs_reconsent: needs.contains(&p.id),
                details: choice_details(lang, &purpose),
                purpose,
            }
        })
        .collect();

    let reconsent = reconsent_views(state, ctx, &current, &latest, &needs).await?;

    let codes = BenefitCodes::new(state.pseudonyms());
    let mut seen = Vec::new();
    let benefits = notice
        .purposes
        .iter()
        .flat_map(|p| &p.benefits)
        .filter(|b| {
            let first = !seen.contains(&b.id);
            seen.push(b.id.clone());
            first
        })
        .map(|b| {
            let unlocked = b.requires.iter().all(|r| granted(r));
            BenefitView {
                title: b.title.get(lang.code()).to_string(),
                kind: i18n::benefit_kind(lang, b.kind),
                unlocked,
                code: (unlocked && b.kind == BenefitKind::Discount).then(|| codes.code(session.pid, &b.id)),
                needs: b
                    .requires
                    .iter()
                    .filter(|r| !granted(r))
                    .map(|r| title_of(r).unwrap_or_else(|| r.clone()))
                    .collect(),
            }
        })
        .collect();

    let mut activity: Vec<ActivityView> = history
        .iter()
        .rev()
        .map(|r| ActivityView {
            at: r.at,
            date: i18n::date(lang, r.at),
            time: i18n::time_of_day(r.at),
            state: Some(ConsentState::parse(&r.state).map(|s| i18n::consent_state(lang, s)).unwrap_or("—")),
            what: title_of(&r.purpose).unwrap_or_else(|| r.purpose.clone()),
            source: i18n::source(lang, &r.source),
            method: i18n::method(lang, &r.method),
            version: Some(r.notice_version),
        })
        .collect();
    let reads = state.store().data_reads(session.pid).await.map_err(|e| ctx.failed(e.into()))?;
    activity.extend(reads.iter().map(|r| {
        let reader = if r.actor.starts_with("key:") { Reader::Key } else { Reader::Admin };
        let fields: Vec<&str> = r.fields.split(',').filter(|f| !f.is_empty()).collect();
        let purpose = title_of(&r.purpose).unwrap_or_else(|| r.purpose.clone());
        ActivityView {
            at: r.at,
            date: i18n::date(lang, r.at),
            time: i18n::time_of_day(r.at),
            state: None,
            what: i18n::data_read(lang, reader, &purpose, &fields),
            source: match reader {
                Reader::Key => t.read_by_key.to_string(),
                Reader::Admin => t.read_by_admin.to_string(),
            },
            method: String::new(),
            version: None,
        }
    }));
    // Newest first; the sort is stable, so entries of the same instant keep their order.
    activity.sort_by_key(|a| std::cmp::Reverse(a.at));
    let held = held_views(state, ctx, &current, session.pid).await?;

    let flash = match done {
        // A receipt id in the address is shown only if it is one of this person's.
        Some("saved") => Some(Flash {
            kind: "ok",
            text: t.saved,
            receipt: receipt.filter(|id| history.iter().any(|r| r.receipt_id == *id)).map(str::to_string),
        }),
        Some("unchanged") => Some(Flash { kind: "info", text: t.unchanged, receipt: None }),
        Some("stale") => Some(Flash { kind: "warn", text: t.stale, receipt: None }),
        _ => None,
    };

    Ok(html(&PanelPage {
        chrome: ctx.chrome("me"),
        csrf: csrf_token(&session.secret),
        notice_version: current.version,
        lang_field: ctx.explicit.then(|| lang.code()),
        flash,
        reconsent,
        choices,
        benefits,
        held,
        activity,
        privacy_href: format!("/privacy{}", ctx.lang_query(true)),
        delete_href: format!("/me/delete{}", ctx.lang_query(true)),
    }))
}

/// A value as the person reads it: text as is, anything else in its JSON form.
fn display_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => "—".to_string(),
        other => other.to_string(),
    }
}

/// The first letter in upper case (category words start a heading).
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Everything held about the person, opened, grouped by the catalog's categories: each
/// field with its value (traits) or its events (how many, the newest values), its
/// purposes and retention. Fields the catalog no longer declares come last, together.
async fn held_views(
    state: &AppState,
    ctx: &PageContext,
    current: &CurrentNotice,
    pid: Pid,
) -> Result<Vec<HeldCategory>, PageError> {
    let lang = ctx.lang;
    let held = subject_data::held_data(state, pid, PANEL_EVENTS).await.map_err(|e| ctx.failed(e))?;
    let counts = state.store().event_field_counts(pid).await.map_err(|e| ctx.failed(e.into()))?;
    let mut fields: BTreeMap<String, HeldField> = BTreeMap::new();
    fn entry<'a>(fields: &'a mut BTreeMap<String, HeldField>, name: &str) -> &'a mut HeldField {
        fields.entry(name.to_string()).or_insert_with(|| HeldField {
            name: name.to_string(),
            value: None,
            saved_on: None,
            events: None,
            recent: Vec::new(),
            purposes: Vec::new(),
            retention: None,
        })
    }
    for (name, stored) in &held.traits {
        let field = entry(&mut fields, name);
        field.value = Some(display_value(&stored.value));
        field.saved_on = parse_rfc3339(&stored.at).map(|ms| i18n::date(lang, ms));
    }
    let mut per_field: BTreeMap<&str, i64> = BTreeMap::new();
    for (set, n) in &counts {
        for name in set.split(',').filter(|f| !f.is_empty()) {
            *per_field.entry(name).or_default() += n;
        }
    }
    for (name, n) in per_field {
        entry(&mut fields, name).events = Some(i18n::recorded_in(lang, n));
    }
    for event in &held.events {
        let date = parse_rfc3339(&event.at).map(|ms| i18n::date(lang, ms)).unwrap_or_default();
        for (name, value) in &event.properties {
            let field = entry(&mut fields, name);
            if field.recent.len() < RECENT_VALUES {
                field.recent.push(RecentValue { value: display_value(value), date: date.clone() });
            }
        }
    }

    let catalog = &current.catalog;
    let title =
        |id: &str| current.notice.purpose(id).map_or_else(|| id.to_string(), |p| p.title.get(lang.code()).to_string());
    // Declared categories by name; undeclared fields under "" (sorted last below).
    let mut groups: BTreeMap<String, Vec<HeldField>> = BTreeMap::new();
    for (name, mut field) in fields {
        let category = match catalog.field(&name) {
            Some(decl) => {
                field.purposes = decl.purposes.iter().map(|p| title(p)).collect();
                field.retention = Some(i18n::days(lang, decl.effective_retention_days(catalog)));
                decl.category.clone()
            }
            None => String::new(),
        };
        groups.entry(category).or_default().push(field);
    }
    let undeclared = groups.remove("");
    let mut views: Vec<HeldCategory> = groups
        .into_iter()
        .map(|(id, fields)| HeldCategory { name: capitalized(&i18n::category(lang, &id)), id, fields })
        .collect();
    // In the catalog's order (as the notice lists data), not the alphabet's.
    views.sort_by_key(|c| catalog.fields.iter().position(|f| f.category == c.id));
    if let Some(fields) = undeclared {
        views.push(HeldCategory { id: String::new(), name: ctx.t().data_undeclared.to_string(), fields });
    }
    Ok(views)
}

/// Whether `id` names a completed erasure (the page after one shows only a real one).
async fn is_erasure_certificate(state: &AppState, ctx: &PageContext, id: &str) -> Result<bool, PageError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(false);
    }
    let found = state.store().dsar(id).await.map_err(|e| ctx.failed(e.into()))?;
    Ok(found.is_some_and(|d| d.kind == "erasure" && d.status == "completed"))
}

/// The small print under a switch, as sentences: what the switch means, how long data is
/// kept, which data, who receives it.
fn choice_details(lang: Lang, p: &PurposeView) -> String {
    let t = lang.ui();
    let explain = match p.choice {
        "consent" => t.consent_explained,
        "objectable" => t.objectable_explained,
        _ => t.always_on_explained,
    };
    let mut parts = vec![explain.to_string(), format!("{}: {}", t.kept_label, p.retention)];
    let categories: Vec<&str> = p.fields.iter().map(|f| f.category.as_str()).collect();
    if !categories.is_empty() {
        parts.push(format!("{}: {}", t.data_short, categories.join(", ")));
    }
    if !p.recipients.is_empty() {
        parts.push(format!("{}: {}", t.recipients_short, p.recipients.join(", ")));
    }
    parts.iter().map(|part| format!("{}.", part.trim_end_matches('.'))).collect::<Vec<_>>().join(" ")
}

/// For each purpose awaiting a fresh consent, what changed since the notice version the
/// person last decided under (a purpose never decided: since their newest decision).
async fn reconsent_views(
    state: &AppState,
    ctx: &PageContext,
    current: &CurrentNotice,
    latest: &HashMap<String, ConsentRecord>,
    needs: &[String],
) -> Result<Vec<ReconsentView>, PageError> {
    let lang = ctx.lang;
    let newest_decision = latest.values().map(|r| r.notice_version).max();
    let mut older: HashMap<i64, Option<Notice>> = HashMap::new();
    let mut views = Vec::new();
    for id in needs {
        let Some(purpose) = current.notice.purpose(id) else { continue };
        let since = latest.get(id).map(|r| r.notice_version).or(newest_decision);
        let mut sentences = Vec::new();
        if let Some(version) = since.filter(|v| *v != current.version) {
            if let Entry::Vacant(slot) = older.entry(version) {
                let stored = state.store().notice(version).await.map_err(|e| ctx.failed(e.into()))?;
                let parsed = stored.and_then(|s| match serde_json::from_str::<Notice>(&s.notice_json) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        tracing::error!(version, error = %e, "stored notice does not parse");
                        None
                    }
                });
                slot.insert(parsed);
            }
            if let Some(Some(from)) = older.get(&version) {
                let diff = notice_diff::diff(from, &current.notice);
                if let Some(d) = diff.purpose(id) {
                    sentences = i18n::diff::sentences(lang, d, from, &current.notice);
                }
            }
        }
        if sentences.is_empty() {
            sentences.push(ctx.t().reconsent_expired.to_string());
        }
        views.push(ReconsentView { id: id.clone(), title: purpose.title.get(lang.code()).to_string(), sentences });
    }
    Ok(views)
}

/// A submitted form: its fields in order (a name may repeat).
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// What every panel form needs before it may change anything: a live session and the
/// session's CSRF token (compared in constant time). Returns the session, the page
/// context (with the form's `lang`) and the form.
async fn verified_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Session, PageContext, Form), PageError> {
    let form = Form::parse(body);
    let ctx = PageContext::new(state, headers, form.get("lang"));
    let Some(session) = session(state, &ctx, headers).await? else {
        return Err(ctx.error(PageErrorKind::NoSession));
    };
    let expected = csrf_token(&session.secret);
    let sent = form.get("csrf").unwrap_or_default();
    if !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
        tracing::warn!("panel form refused: missing or wrong CSRF token");
        return Err(ctx.error(PageErrorKind::Csrf));
    }
    Ok((session, ctx, form))
}

/// Records panel choices through the consent path every write takes, then redirects to
/// the panel with what happened.
async fn save(
    state: &AppState,
    ctx: &PageContext,
    headers: &HeaderMap,
    session: &Session,
    form: &Form,
    choices: BTreeMap<String, bool>,
) -> Result<Response, PageError> {
    let back = |done: &str| format!("/me?done={done}{}", ctx.lang_query(false));
    if choices.is_empty() {
        return Ok(see_other(&back("unchanged"), None));
    }
    let Some(notice_version) = form.get("notice_version").and_then(|v| v.parse::<i64>().ok()) else {
        return Err(ctx.error(PageErrorKind::BadForm));
    };
    let request = ChoiceRequest {
        pid: session.pid,
        kind: SubjectKind::Known,
        choices,
        notice_version,
        source: Source::Panel,
        gpc: false,
        actor: ACTOR.to_string(),
        page: Some(format!("{}/me", state.public_url())),
        // The panel knows only the pid: no webhook can name the subject to processors.
        subject: None,
    };
    match record_choices(state, headers, request).await {
        Ok(outcome) => Ok(see_other(&format!("{}&receipt={}", back("saved"), outcome.receipt.receipt_id), None)),
        Err(e) if e.status() == StatusCode::CONFLICT => Ok(see_other(&back("stale"), None)),
        Err(e) if e.status() == StatusCode::UNPROCESSABLE_ENTITY => Err(ctx.error(PageErrorKind::BadForm)),
        Err(e) => Err(ctx.failed(e)),
    }
}

/// `POST /me/choices`: the switches. Only purposes whose switch differs from the current
/// state are recorded, so saving an untouched form records nothing.
async fn save_choices(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    let (session, ctx, form) = verified_form(&state, &headers, &body).await?;
    let current = ctx.notice(&state)?;
    let history = state.store().consent_states(session.pid).await.map_err(|e| ctx.failed(e.into()))?;
    let states = effective_states(&current, &rules_view(&latest_per_purpose(history)));
    let on = form.all("on");
    let mut choices = BTreeMap::new();
    for id in form.all("shown") {
        let Some(p) = current.notice.purpose(id).filter(|p| !p.legal_basis.always_on()) else { continue };
        let now_on = match p.legal_basis {
            LegalBasis::Consent => states.get(id).is_some_and(|s| s == ConsentState::Granted.as_str()),
            _ => states.get(id).is_none_or(|s| s != ConsentState::Objected.as_str()),
        };
        let wanted = on.contains(&id);
        if wanted != now_on {
            choices.insert(id.to_string(), wanted);
        }
    }
    save(&state, &ctx, &headers, &session, &form, choices).await
}

/// `POST /me/reconsent`: agreeing (or not) to a changed purpose, one button each.
async fn reconsent(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    let (session, ctx, form) = verified_form(&state, &headers, &body).await?;
    let current = ctx.notice(&state)?;
    let mut choices = BTreeMap::new();
    for (field, yes) in [("agree", true), ("decline", false)] {
        if let Some(id) = form.get(field)
            && current.notice.purpose(id).is_some_and(|p| p.legal_basis == LegalBasis::Consent)
        {
            choices.insert(id.to_string(), yes);
        }
    }
    if choices.is_empty() {
        return Err(ctx.error(PageErrorKind::BadForm));
    }
    save(&state, &ctx, &headers, &session, &form, choices).await
}

/// `POST /me/logout`: ends the session and clears the cookie.
async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    let (session, ctx, _) = verified_form(&state, &headers, &body).await?;
    let chain = candor_privacy::AuditChain::new(state.signer());
    let audit = audit_entry(ACTOR, "panel.session.ended", Some(session.pid), serde_json::Value::Null);
    state
        .store()
        .end_panel_session(session.pid, &sha256(&session.secret), &chain, audit)
        .await
        .map_err(|e| ctx.failed(e.into()))?;
    let cookie = session_cookie(&state, "", 0);
    Ok(see_other(&format!("/me?done=signed_out{}", ctx.lang_query(false)), Some(cookie)))
}

/// `POST /me/export`: "Download my data". The whole export (as for the API's
/// `GET /v1/subjects/{id}/export`), recorded as a completed DSAR with actor `panel` and
/// audited, answered as a file to save. The panel knows only the pid, so the export
/// carries no host subject id.
async fn download(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    let (session, ctx, form) = verified_form(&state, &headers, &body).await?;
    let format = match form.get("format") {
        Some("json") => "json",
        Some("csv") => "csv",
        _ => return Err(ctx.error(PageErrorKind::BadForm)),
    };
    let export = dsar::export(&state, None, session.pid, ACTOR, format).await.map_err(|e| ctx.failed(e))?;
    let day = &rfc3339(now_ms())[..10];
    let (bytes, content_type, name) = if format == "csv" {
        (dsar::export_zip(&export).map_err(|e| ctx.failed(e))?, "application/zip", format!("my-data-{day}.zip"))
    } else {
        let json = serde_json::to_vec_pretty(&export).map_err(|e| ctx.failed(crate::error::ApiError::internal(e)))?;
        (json, "application/json", format!("my-data-{day}.json"))
    };
    let mut response = bytes.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{name}\"");
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("the file name is ASCII"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// `GET /me/delete`: the confirmation step of "Delete my data": what will be deleted, that
/// it cannot be undone, and the form that does it. Showing it changes nothing.
async fn delete_step(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, &headers, lang_param(&uri).as_deref());
    let Some(session) = session(&state, &ctx, &headers).await? else {
        return Err(ctx.error(PageErrorKind::NoSession));
    };
    let current = ctx.notice(&state)?;
    let lang = ctx.lang;
    let failed = |e: candor_store::StoreError| ctx.failed(e.into());
    let store = state.store();
    let traits = store.traits(session.pid).await.map_err(failed)?;
    let events = store.event_count(session.pid).await.map_err(failed)?;
    let field_sets = store.event_field_sets(Some(session.pid)).await.map_err(failed)?;
    let mut categories: Vec<String> = Vec::new();
    let names = traits.iter().map(|t| t.field.as_str()).chain(field_sets.iter().flat_map(|s| s.split(',')));
    for name in names.filter(|n| !n.is_empty()) {
        let category = match current.catalog.field(name) {
            Some(decl) => i18n::category(lang, &decl.category),
            None => name.replace('_', " "),
        };
        if !categories.contains(&category) {
            categories.push(category);
        }
    }
    let scope = ErasureScope {
        traits: traits.len(),
        events,
        categories,
        choices: store.consent_history(session.pid).await.map_err(failed)?.len(),
        benefits: current.notice.purposes.iter().any(|p| !p.benefits.is_empty()),
        reads: store.data_reads(session.pid).await.map_err(failed)?.len(),
    };
    let mut lines = i18n::erasure_lines(lang, &scope);
    lines.push(ctx.t().delete_session_item.to_string());
    // Every processor is told (`dsar::erase`); from the panel the webhook names no subject.
    let processors: Vec<String> = current
        .catalog
        .processors
        .iter()
        .map(|p| current.notice.processor(&p.id).and_then(|n| n.name.clone()).unwrap_or_else(|| p.id.clone()))
        .collect();
    Ok(html(&DeletePage {
        chrome: ctx.chrome("me"),
        csrf: csrf_token(&session.secret),
        notice_version: current.version,
        lang_field: ctx.explicit.then(|| lang.code()),
        lines,
        processors: (!processors.is_empty()).then(|| i18n::erasure_processors(lang, &processors)),
        contact: ctx.contact.clone(),
        back_href: format!("/me{}", ctx.lang_query(true)),
    }))
}

/// `POST /me/delete`: erases the person (`dsar::erase`, actor `panel`) once the
/// confirmation step's form says so; the erasure deletes every panel session and link of
/// theirs, so the cookie is cleared and the browser sent to a page with the certificate.
/// A form without the confirmation (the panel's own button, or a forged one) erases
/// nothing and leads to the confirmation step.
async fn delete(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, PageError> {
    let (session, ctx, form) = verified_form(&state, &headers, &body).await?;
    if form.get("confirm") != Some(CONFIRM_ERASE) {
        return Ok(see_other(&format!("/me/delete{}", ctx.lang_query(true)), None));
    }
    let erased = dsar::erase(&state, None, session.pid, ACTOR, None).await.map_err(|e| ctx.failed(e))?;
    // Unknown: erased meanwhile (by the API or another tab), and with it this session.
    let Some(erased) = erased else { return Err(ctx.error(PageErrorKind::NoSession)) };
    let id = erased.certificate["certificate_id"].as_str().unwrap_or_default().to_string();
    let cookie = session_cookie(&state, "", 0);
    Ok(see_other(&format!("/me?done=erased&certificate={id}{}", ctx.lang_query(false)), Some(cookie)))
}

/// Routes of the control panel.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(panel))
        .route("/me/choices", post(save_choices))
        .route("/me/reconsent", post(reconsent))
        .route("/me/export", post(download))
        .route("/me/delete", get(delete_step).post(delete))
        .route("/me/logout", post(logout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_panel_cookie_is_found_among_others_and_bounded() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; candor_panel=abc; b=2"));
        assert_eq!(cookie_secret(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("candor_panel_x=abc"));
        assert_eq!(cookie_secret(&headers), None);
        headers.insert(header::COOKIE, HeaderValue::from_static("candor_panel="));
        assert_eq!(cookie_secret(&headers), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session_and_reveal_no_secret() {
        assert_eq!(csrf_token("s1"), csrf_token("s1"));
        assert_ne!(csrf_token("s1"), csrf_token("s2"));
        assert!(!csrf_token("secret").contains("secret"));
        assert_ne!(csrf_token("s1"), URL_SAFE_NO_PAD.encode(sha256("s1")), "not the stored hash");
    }

    #[test]
    fn lang_names_round_trip() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
        }
    }
}
