//! The consent ledger over HTTP: recording choices (with receipts), current state,
//! history, and merging an anonymous visitor into a known subject.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use candor_core::consent::{self, Source};
use candor_core::subject::{AnonymousId, SubjectId};
use candor_privacy::Pid;
use candor_store::{SubjectKind, latest_per_purpose};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::{now_ms, rfc3339};
use crate::consent_writer::{ConsentJob, ConsentOutcome, Receipt, effective_states, rules_view};
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::instance::audit_entry;
use crate::state::AppState;

/// Where a choice was made.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceIn {
    /// The consent widget.
    Widget,
    /// The control panel.
    Panel,
    /// The host's backend.
    Api,
    /// An import of earlier consents.
    Import,
}

impl From<SourceIn> for Source {
    fn from(s: SourceIn) -> Source {
        match s {
            SourceIn::Widget => Source::Widget,
            SourceIn::Panel => Source::Panel,
            SourceIn::Api => Source::Api,
            SourceIn::Import => Source::Import,
        }
    }
}

/// A consent request. Name exactly one of `subject` (needs the `consent` scope) or
/// `anonymous_id` (public, from the widget). Purposes not named keep their state.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentIn {
    /// The host's external id for the person.
    pub subject: Option<String>,
    /// The widget's anonymous visitor id.
    pub anonymous_id: Option<String>,
    /// Purpose id → yes/no.
    #[serde(default)]
    pub choices: BTreeMap<String, bool>,
    /// The notice version shown to the person; 409 if it is not current.
    pub notice_version: i64,
    /// Where the choice was made.
    pub source: SourceIn,
    /// A Global Privacy Control signal (also taken from the `Sec-GPC: 1` header).
    pub gpc: Option<bool>,
    /// The page the choice was made on (proof); defaults to the Referer.
    pub page: Option<String>,
}

/// A recorded consent.
#[derive(Serialize, ToSchema)]
pub struct ConsentOut {
    /// The receipt.
    pub receipt: Receipt,
    /// The receipt as a compact JWS (EdDSA), verifiable with `/.well-known/candor/receipt-key.jwk`.
    pub receipt_jws: String,
    /// State per purpose after this request.
    pub state: BTreeMap<String, String>,
    /// Purposes that must be asked again.
    pub needs_reconsent: Vec<String>,
}

/// One purpose's current state.
#[derive(Serialize, ToSchema)]
pub struct PurposeStateOut {
    /// `granted`, `denied`, `withdrawn` or `objected`.
    pub state: String,
    /// The purpose's legal basis.
    pub legal_basis: String,
    /// True when no choice was recorded and the state is the basis's default.
    pub default: bool,
    /// The notice version the choice was made under.
    pub notice_version: Option<i64>,
    /// When.
    pub at: Option<String>,
    /// Where.
    pub source: Option<String>,
    /// How.
    pub method: Option<String>,
}

/// A subject's current consent state.
#[derive(Serialize, ToSchema)]
pub struct ConsentsOut {
    /// The current notice version.
    pub notice_version: i64,
    /// Every purpose of the current notice.
    pub purposes: BTreeMap<String, PurposeStateOut>,
    /// Consent purposes to ask again about (material change, expiry, or new).
    pub needs_reconsent: Vec<String>,
}

/// An anonymous visitor's own view.
#[derive(Serialize, ToSchema)]
pub struct AnonymousConsentsOut {
    /// The current notice version.
    pub notice_version: i64,
    /// State per purpose.
    pub purposes: BTreeMap<String, String>,
    /// Consent purposes to ask again about.
    pub needs_reconsent: Vec<String>,
}

/// One ledger row.
#[derive(Serialize, ToSchema)]
pub struct RecordOut {
    /// UUIDv7.
    pub id: String,
    /// Purpose.
    pub purpose: String,
    /// State recorded.
    pub state: String,
    /// Notice version.
    pub notice_version: i64,
    /// When.
    pub at: String,
    /// Where.
    pub source: String,
    /// How.
    pub method: String,
    /// Proof: notice hash, user agent, page, GPC.
    #[schema(value_type = Object)]
    pub proof: serde_json::Value,
    /// The receipt covering it.
    pub receipt_id: String,
}

/// The ledger, oldest first.
#[derive(Serialize, ToSchema)]
pub struct HistoryOut {
    /// Rows.
    pub records: Vec<RecordOut>,
}

/// The anonymous id to look up.
#[derive(Deserialize, IntoParams)]
pub struct AnonymousQuery {
    /// The widget's anonymous id.
    pub anonymous_id: String,
}

/// An anonymous visitor to merge.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AliasIn {
    /// The widget's anonymous id.
    pub anonymous_id: String,
}

/// The result of a merge.
#[derive(Serialize, ToSchema)]
pub struct AliasOut {
    /// Purposes whose newer anonymous choice was copied.
    pub merged: Vec<String>,
    /// State per purpose afterwards.
    pub state: BTreeMap<String, String>,
}

const MAX_PAGE: usize = 2048;
const MAX_USER_AGENT: usize = 512;

/// Parses a path subject id into its pid (422 if it is not a valid id).
pub fn subject_pid(state: &AppState, raw: &str, field: &str) -> Result<Pid> {
    let id = SubjectId::parse(raw).map_err(|e| ApiError::invalid_field(field, e.reason()))?;
    Ok(state.pseudonyms().pid(id.expose()))
}

fn anonymous_pid(state: &AppState, raw: &str) -> Result<Pid> {
    let id = AnonymousId::parse(raw).map_err(|e| ApiError::invalid_field("anonymous_id", e.reason()))?;
    Ok(state.pseudonyms().anonymous_pid(id.expose()))
}

fn truncated(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Records consent choices and returns a signed receipt.
///
/// Known subjects need an API key with the `consent` scope; anonymous widget visitors
/// need none, but a browser `Origin` must be one of the catalog's `allowed_origins`.
#[utoipa::path(post, path = "/v1/consents", tag = "consents", request_body = ConsentIn,
    responses((status = 201, body = ConsentOut), (status = 409, description = "notice_version is not current", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security((), ("api_key" = [])))]
async fn record(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ConsentIn>,
) -> Result<(StatusCode, Json<ConsentOut>)> {
    let (pid, kind, actor) = match (&input.subject, &input.anonymous_id) {
        (Some(subject), None) => {
            let actor = caller.require("consent")?;
            (subject_pid(&state, subject, "subject")?, SubjectKind::Known, actor)
        }
        (None, Some(anonymous)) => {
            if matches!(caller, Caller::Key { .. }) {
                caller.require("consent")?;
            } else {
                check_origin(&state, &headers)?;
                if !matches!(input.source, SourceIn::Widget) {
                    return Err(ApiError::invalid_field("source", "only `widget` is allowed without an API key"));
                }
            }
            (anonymous_pid(&state, anonymous)?, SubjectKind::Anonymous, caller.actor())
        }
        _ => return Err(ApiError::invalid_field("subject", "name exactly one of `subject` or `anonymous_id`")),
    };
    let request = ChoiceRequest {
        pid,
        kind,
        choices: input.choices,
        notice_version: input.notice_version,
        source: input.source.into(),
        gpc: input.gpc.unwrap_or(false),
        actor,
        page: input.page,
        subject: input.subject.clone(),
    };
    let outcome = record_choices(&state, &headers, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConsentOut {
            receipt: outcome.receipt,
            receipt_jws: outcome.receipt_jws,
            state: outcome.state,
            needs_reconsent: outcome.needs_reconsent,
        }),
    ))
}

/// A consent write as the API and the control panel both make it.
pub struct ChoiceRequest {
    /// The subject named.
    pub pid: Pid,
    /// Known or anonymous.
    pub kind: SubjectKind,
    /// Purpose id → yes/no; purposes not named keep their state.
    pub choices: BTreeMap<String, bool>,
    /// The notice version shown to the person.
    pub notice_version: i64,
    /// Where the choice was made.
    pub source: Source,
    /// A Global Privacy Control signal in the body (the `Sec-GPC` header counts too).
    pub gpc: bool,
    /// Who asked (`key:<id>`, `public`, `panel`).
    pub actor: String,
    /// The page the choice was made on; defaults to the Referer.
    pub page: Option<String>,
    /// The host's id of a known subject, sealed into `consent.changed` webhooks so
    /// processors know whom a change concerns (`None`: no webhook names the subject).
    pub subject: Option<String>,
}

/// Records choices through the consent writer, the one path every consent takes: checks
/// the request's shape, adds the proof the request headers carry (user agent, page, GPC)
/// and returns once the choices are durable, with their signed receipt.
pub async fn record_choices(state: &AppState, headers: &HeaderMap, request: ChoiceRequest) -> Result<ConsentOutcome> {
    let gpc = request.gpc || headers.get("sec-gpc").is_some_and(|v| v.as_bytes() == b"1");
    let mut errors = Vec::new();
    if request.choices.is_empty() && !gpc {
        errors.push(FieldError::new("choices", "empty"));
    }
    if request.choices.len() > 100 {
        errors.push(FieldError::new("choices", "too_many"));
    }
    if let Some(page) = &request.page
        && page.len() > MAX_PAGE
    {
        errors.push(FieldError::new("page", "too_long"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid("the consent request is invalid", errors));
    }
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let job = ConsentJob {
        pid: request.pid,
        kind: request.kind,
        choices: request.choices,
        notice_version: request.notice_version,
        source: request.source,
        gpc,
        actor: request.actor,
        user_agent: header_text(header::USER_AGENT).map(|ua| truncated(&ua, MAX_USER_AGENT)),
        page: request.page.or_else(|| header_text(header::REFERER)).map(|p| truncated(&p, MAX_PAGE)),
        sealed_subject: request.subject.as_deref().map(|s| crate::delivery::seal_subject(state.outbox_key(), s)),
    };
    state.writer().submit(job).await
}

/// Browsers send `Origin`; a public write from a page not on the allow-list is refused.
/// Callers without an `Origin` (servers, curl) are not browsers and pass.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<()> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().unwrap_or_default();
    let notice = state.notice()?;
    let allowed =
        origin == state.public_url() || notice.notice.organization.allowed_origins.iter().any(|o| o == origin);
    if allowed { Ok(()) } else { Err(ApiError::forbidden("this origin is not in the catalog's allowed_origins")) }
}

/// The ledger of a known subject, oldest first; 404 if candor does not know it. Known
/// subjects are never merged into others, so one query usually answers.
async fn known_history(state: &AppState, pid: Pid) -> Result<Vec<candor_store::ConsentRecord>> {
    let history = state.store().consent_history(pid).await?;
    if history.is_empty() && state.store().subject(pid).await?.is_none() {
        return Err(ApiError::not_found("unknown subject"));
    }
    Ok(history)
}

/// Follows an anonymous subject merged into a known one.
async fn resolve(state: &AppState, pid: Pid) -> Result<Option<Pid>> {
    Ok(state.store().subject(pid).await?.map(|s| s.merged_into.unwrap_or(pid)))
}

/// The widget's own view of an anonymous visitor: state per purpose and what to ask again.
#[utoipa::path(get, path = "/v1/consents", tag = "consents", params(AnonymousQuery),
    responses((status = 200, body = AnonymousConsentsOut), (status = 404, body = crate::error::Problem)))]
async fn anonymous_state(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AnonymousQuery>,
) -> Result<Json<AnonymousConsentsOut>> {
    let pid = anonymous_pid(&state, &q.anonymous_id)?;
    let pid = resolve(&state, pid).await?.ok_or_else(|| ApiError::not_found("no choices recorded for this visitor"))?;
    let notice = state.notice()?;
    let rules = rules_view(&latest_per_purpose(state.store().consent_states(pid).await?));
    Ok(Json(AnonymousConsentsOut {
        notice_version: notice.version,
        purposes: effective_states(&notice, &rules),
        needs_reconsent: consent::needs_reconsent(&notice.notice, &notice.last_material, &rules, now_ms()),
    }))
}

/// Current state per purpose, each with the notice version it was given under, and the
/// purposes to ask again about.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents", tag = "consents",
    params(("id" = String, Path, description = "The host's external subject id")),
    responses((status = 200, body = ConsentsOut), (status = 404, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn subject_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ConsentsOut>> {
    caller.require("consent")?;
    let pid = subject_pid(&state, &id, "id")?;
    let notice = state.notice()?;
    let latest = match state.consents().get(&pid) {
        Some(latest) => latest,
        None => state.reader().latest(pid).await?.ok_or_else(|| ApiError::not_found("unknown subject"))?,
    };
    let rules = rules_view(&latest);
    let states = effective_states(&notice, &rules);
    let purposes = notice
        .notice
        .purposes
        .iter()
        .map(|p| {
            let row = latest.get(&p.id).filter(|_| !p.legal_basis.always_on());
            let out = PurposeStateOut {
                state: states[&p.id].clone(),
                legal_basis: p.legal_basis.as_str().to_string(),
                default: row.is_none(),
                notice_version: row.map(|r| r.notice_version),
                at: row.map(|r| rfc3339(r.at)),
                source: row.map(|r| r.source.clone()),
                method: row.map(|r| r.method.clone()),
            };
            (p.id.clone(), out)
        })
        .collect();
    Ok(Json(ConsentsOut {
        notice_version: notice.version,
        purposes,
        needs_reconsent: consent::needs_reconsent(&notice.notice, &notice.last_material, &rules, now_ms()),
    }))
}

/// The subject's consent ledger, oldest first.
#[utoipa::path(get, path = "/v1/subjects/{id}/consents/history", tag = "consents",
    params(("id" = String, Path, description = "The host's external subject id")),
    responses((status = 200, body = HistoryOut), (status = 404, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn history(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<HistoryOut>> {
    caller.require("consent")?;
    let pid = subject_pid(&state, &id, "id")?;
    let records = known_history(&state, pid)
        .await?
        .into_iter()
        .map(|r| RecordOut {
            proof: serde_json::from_str(&r.proof).unwrap_or_default(),
            at: rfc3339(r.at),
            id: r.id,
            purpose: r.purpose,
            state: r.state,
            notice_version: r.notice_version,
            source: r.source,
            method: r.method,
            receipt_id: r.receipt_id,
        })
        .collect();
    Ok(Json(HistoryOut { records }))
}

/// Merges an anonymous visitor into a known subject (the newest choice per purpose wins).
#[utoipa::path(post, path = "/v1/subjects/{id}/aliases", tag = "consents", request_body = AliasIn,
    params(("id" = String, Path, description = "The host's external subject id")),
    responses((status = 200, body = AliasOut), (status = 404, description = "unknown anonymous id", body = crate::error::Problem),
        (status = 409, description = "already merged into another subject", body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn alias(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AliasIn>,
) -> Result<Json<AliasOut>> {
    let actor = caller.require("consent")?;
    let known = subject_pid(&state, &id, "id")?;
    let anonymous = anonymous_pid(&state, &input.anonymous_id)?;
    let chain = candor_privacy::AuditChain::new(state.signer());
    let audit = audit_entry(&actor, "subject.merged", Some(known), serde_json::Value::Null);
    let merged = state
        .store()
        .merge_anonymous(anonymous, known, now_ms(), || uuid::Uuid::now_v7().to_string(), &chain, audit)
        .await?
        .ok_or_else(|| ApiError::not_found("no choices recorded for this anonymous id"))?;
    state.consents().forget(&known);
    let notice = state.notice()?;
    let rules = rules_view(&latest_per_purpose(state.store().consent_states(known).await?));
    Ok(Json(AliasOut { merged, state: effective_states(&notice, &rules) }))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(record, anonymous_state))
        .routes(routes!(subject_state))
        .routes(routes!(history))
        .routes(routes!(alias))
}
