//! Ingestion through the consent gate: events and traits. Every datum is checked against
//! the catalog and the subject's consent before it is sealed and stored; the response says,
//! field by field, what was stored and why anything was dropped.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Result;
use crate::http::api::consents::subject_pid;
use crate::http::extract::{ApiJson, ApiQuery, Caller};
use crate::state::AppState;
use crate::subject_data::{self, IngestResult};

/// A batch of events (at most 1000).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsIn {
    /// Each `{subject, type, at?, properties}`. An event of the wrong shape fails alone.
    #[schema(value_type = Vec<EventSchema>)]
    pub events: Vec<Value>,
}

/// One event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventSchema {
    /// The host's external subject id.
    subject: String,
    /// A catalog event type.
    #[schema(rename = "type")]
    kind: String,
    /// When it happened (RFC 3339); default now.
    at: Option<String>,
    /// Field name → value.
    #[schema(value_type = Object)]
    properties: Map<String, Value>,
}

/// One result per event, in request order.
#[derive(Serialize, ToSchema)]
pub struct EventsOut {
    /// What happened to each event.
    pub results: Vec<IngestResult>,
}

/// A trait update.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TraitsIn {
    /// Field name → value.
    #[schema(value_type = Object)]
    pub traits: Map<String, Value>,
}

/// `?strict=true` turns any drop into 422 and stores nothing.
#[derive(Deserialize, IntoParams)]
pub struct StrictQuery {
    /// Refuse the whole request if anything would be dropped.
    #[serde(default)]
    pub strict: bool,
}

/// Sends events. Each is gated: undeclared events and fields, invalid values, and fields
/// without a current basis are dropped (and never stored), each with its reason.
#[utoipa::path(post, path = "/v1/events", tag = "ingestion", request_body = EventsIn, params(StrictQuery),
    responses((status = 200, body = EventsOut), (status = 413, description = "over 1000 events or 1 MiB", body = crate::error::Problem),
        (status = 422, body = crate::error::Problem), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<StrictQuery>,
    ApiJson(input): ApiJson<EventsIn>,
) -> Result<Json<EventsOut>> {
    caller.require("ingest")?;
    let results = subject_data::ingest_events(&state, input.events, q.strict).await?;
    Ok(Json(EventsOut { results }))
}

/// Sets traits of a subject, through the same gate as events.
#[utoipa::path(put, path = "/v1/subjects/{id}/traits", tag = "ingestion", request_body = TraitsIn,
    params(("id" = String, Path, description = "The host's external subject id"), StrictQuery),
    responses((status = 200, body = IngestResult), (status = 422, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn traits(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<StrictQuery>,
    ApiJson(input): ApiJson<TraitsIn>,
) -> Result<Json<IngestResult>> {
    caller.require("ingest")?;
    let pid = subject_pid(&state, &id, "id")?;
    Ok(Json(subject_data::ingest_traits(&state, pid, &input.traits, q.strict).await?))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events)).routes(routes!(traits))
}
