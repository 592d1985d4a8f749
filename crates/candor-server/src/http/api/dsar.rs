//! Data-subject requests over HTTP: export, erasure, benefits and the DSAR queue.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use candor_store::dsar::{DUE_MS, DsarRow};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::{now_ms, rfc3339};
use crate::dsar::{self, BenefitOut, ErasureOut, Export, known_subject};
use crate::error::{ApiError, Result};
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::instance::audit_entry;
use crate::state::AppState;

/// The export format.
#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `json` (default) or `csv` (a zip of CSV files).
    pub format: Option<String>,
}

/// Exports everything held about a subject: decrypted traits and events, consents,
/// receipts, benefits and who accessed the data. Recorded as a DSAR and sent to processors.
#[utoipa::path(get, path = "/v1/subjects/{id}/export", tag = "dsar",
    params(("id" = String, Path, description = "The host's external subject id"), ExportQuery),
    responses((status = 200, body = Export, description = "JSON, or application/zip with format=csv"),
        (status = 404, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response> {
    let actor = caller.require("dsar")?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(ApiError::invalid_field("format", "expected json or csv"));
    }
    let (subject, pid) = known_subject(&state, &id).await?;
    let export = dsar::export(&state, Some(&subject), pid, &actor, format).await?;
    if format == "csv" {
        let zip = dsar::export_zip(&export)?;
        let disposition = "attachment; filename=\"candor-export.zip\"";
        return Ok(([(header::CONTENT_TYPE, "application/zip"), (header::CONTENT_DISPOSITION, disposition)], zip)
            .into_response());
    }
    Ok(Json(export).into_response())
}

/// Which open erasure request this completes, if any.
#[derive(Deserialize, IntoParams)]
pub struct EraseQuery {
    /// An open erasure DSAR to complete.
    pub dsar: Option<String>,
}

/// Erases a subject: its data key is destroyed and its rows deleted; returns a signed
/// erasure certificate. Afterwards the subject is 404 everywhere.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "dsar",
    params(("id" = String, Path, description = "The host's external subject id"), EraseQuery),
    responses((status = 200, body = ErasureOut), (status = 404, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EraseQuery>,
) -> Result<Json<ErasureOut>> {
    let actor = caller.require("dsar")?;
    let (subject, pid) = known_subject(&state, &id).await?;
    if let Some(dsar_id) = &q.dsar {
        match state.store().dsar(dsar_id).await? {
            Some(d) if d.kind == "erasure" && d.status == "open" => {}
            Some(_) => return Err(ApiError::invalid_field("dsar", "not an open erasure request")),
            None => return Err(ApiError::not_found("no such request")),
        }
    }
    let out = dsar::erase(&state, Some(&subject), pid, &actor, q.dsar).await?;
    out.map(Json).ok_or_else(|| ApiError::not_found("unknown subject"))
}

/// Unlocked benefits, with the subject's codes.
#[derive(Serialize, ToSchema)]
pub struct BenefitsOut {
    /// Benefits whose required purposes are all granted now.
    pub benefits: Vec<BenefitOut>,
}

/// The benefits a subject has unlocked, with codes.
#[utoipa::path(get, path = "/v1/subjects/{id}/benefits", tag = "consents",
    params(("id" = String, Path, description = "The host's external subject id")),
    responses((status = 200, body = BenefitsOut), (status = 404, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn benefits(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<BenefitsOut>> {
    caller.require("consent")?;
    let (_, pid) = known_subject(&state, &id).await?;
    let notice = state.notice()?;
    Ok(Json(BenefitsOut { benefits: dsar::benefits(&state, &notice, pid).await? }))
}

/// A new data-subject request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DsarIn {
    /// The host's external subject id.
    pub subject: String,
    /// `access`, `export`, `rectification`, `erasure` or `objection`.
    pub kind: String,
    /// What the person asked, in their words (at most 2000 characters).
    #[serde(default)]
    pub note: String,
}

/// A data-subject request with its processors' acknowledgements.
#[derive(Serialize, ToSchema)]
pub struct DsarOut {
    /// Its id.
    pub id: String,
    /// The kind.
    pub kind: String,
    /// `open`, `completed` or `rejected`.
    pub status: String,
    /// When it was made.
    pub created_at: String,
    /// When it must be answered by (30 days).
    pub due_at: String,
    /// When it was answered.
    pub completed_at: Option<String>,
    /// Free text.
    pub note: String,
    /// The outcome (e.g. the erasure certificate).
    #[schema(value_type = Object)]
    pub result: Option<Value>,
    /// One entry per processor told about it.
    pub processors: Vec<AckOut>,
}

/// A processor's handling of a request.
#[derive(Serialize, ToSchema)]
pub struct AckOut {
    /// The processor.
    pub processor: String,
    /// `acknowledged`, `pending` or `retrying`.
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// When it acknowledged.
    pub acknowledged_at: Option<String>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// The queue of requests.
#[derive(Serialize, ToSchema)]
pub struct DsarListOut {
    /// Requests, newest first.
    pub requests: Vec<DsarOut>,
}

/// Filters for the queue.
#[derive(Deserialize, IntoParams)]
pub struct DsarListQuery {
    /// Only requests with this status.
    pub status: Option<String>,
}

const KINDS: [&str; 5] = ["access", "export", "rectification", "erasure", "objection"];

async fn dsar_out(state: &AppState, d: DsarRow) -> Result<DsarOut> {
    let processors = state
        .store()
        .dsar_deliveries(&d.id)
        .await?
        .into_iter()
        .map(|x| AckOut {
            status: match (x.delivered_at, x.attempts) {
                (Some(_), _) => "acknowledged",
                (None, 0) => "pending",
                (None, _) => "retrying",
            }
            .to_string(),
            processor: x.processor,
            attempts: x.attempts,
            acknowledged_at: x.delivered_at.map(rfc3339),
            last_error: x.last_error,
        })
        .collect();
    Ok(DsarOut {
        result: d.result.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        id: d.id,
        kind: d.kind,
        status: d.status,
        created_at: rfc3339(d.created_at),
        due_at: rfc3339(d.due_at),
        completed_at: d.completed_at.map(rfc3339),
        note: d.note,
        processors,
    })
}

/// Records a data-subject request (due in 30 days). Export and erasure are carried out by
/// `GET /v1/subjects/{id}/export` and `DELETE /v1/subjects/{id}?dsar=`.
#[utoipa::path(post, path = "/v1/dsar", tag = "dsar", request_body = DsarIn,
    responses((status = 201, body = DsarOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(input): ApiJson<DsarIn>,
) -> Result<(StatusCode, Json<DsarOut>)> {
    let actor = caller.require("dsar")?;
    if !KINDS.contains(&input.kind.as_str()) {
        return Err(ApiError::invalid_field("kind", "expected access, export, rectification, erasure or objection"));
    }
    if input.note.chars().count() > 2000 {
        return Err(ApiError::invalid_field("note", "too_long"));
    }
    let (_, pid) = known_subject(&state, &input.subject).await?;
    let now = now_ms();
    let row = DsarRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: input.kind,
        status: "open".into(),
        created_at: now,
        due_at: now + DUE_MS,
        completed_at: None,
        note: input.note,
        result: None,
    };
    let audit = audit_entry(&actor, "dsar.created", Some(pid), json!({"dsar": row.id, "kind": row.kind}));
    let chain = candor_privacy::AuditChain::new(state.signer());
    state.store().create_dsar(pid, &row, &[], &chain, audit).await?;
    Ok((StatusCode::CREATED, Json(dsar_out(&state, row).await?)))
}

/// The request queue, newest first.
#[utoipa::path(get, path = "/v1/dsar", tag = "dsar", params(DsarListQuery),
    responses((status = 200, body = DsarListOut)), security(("api_key" = [])))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DsarListQuery>,
) -> Result<Json<DsarListOut>> {
    caller.require("dsar")?;
    let mut requests = Vec::new();
    for d in state.store().dsars(q.status.as_deref(), 500).await? {
        requests.push(dsar_out(&state, d).await?);
    }
    Ok(Json(DsarListOut { requests }))
}

/// One request, with each processor's acknowledgement.
#[utoipa::path(get, path = "/v1/dsar/{id}", tag = "dsar",
    params(("id" = String, Path, description = "The request id")),
    responses((status = 200, body = DsarOut), (status = 404, body = crate::error::Problem)), security(("api_key" = [])))]
async fn get(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<DsarOut>> {
    caller.require("dsar")?;
    let d = state.store().dsar(&id).await?.ok_or_else(|| ApiError::not_found("no such request"))?;
    Ok(Json(dsar_out(&state, d).await?))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(erase))
        .routes(routes!(benefits))
        .routes(routes!(create, list))
        .routes(routes!(get))
}
