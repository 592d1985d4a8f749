//! Purpose-bound reads: a key with `read:P` gets only the fields of P that have a current
//! basis for this subject, and every read is logged for the subject to see.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::now_ms;
use crate::dsar::known_subject;
use crate::error::{ApiError, Result};
use crate::http::extract::{ApiQuery, Caller};
use crate::instance::audit_entry;
use crate::state::AppState;
use crate::subject_data::{EventOut, TraitOut, purpose_data};

/// Which purpose the data is read for.
#[derive(Deserialize, IntoParams)]
pub struct DataQuery {
    /// The purpose; the key needs `read:<purpose>`.
    pub purpose: String,
    /// At most this many events, newest first (default 1000, at most 10000).
    pub limit: Option<i64>,
}

/// The data usable for one purpose now.
#[derive(Serialize, ToSchema)]
pub struct DataOut {
    /// The purpose read for.
    pub purpose: String,
    /// Fields of the purpose with a current basis (only these are returned).
    pub fields: Vec<String>,
    /// Traits by field.
    pub traits: BTreeMap<String, TraitOut>,
    /// Events holding any of those fields, newest first, with only those fields.
    pub events: Vec<EventOut>,
}

/// Reads a subject's traits and events usable for one purpose now. Audited, and shown to
/// the subject in their control panel and export.
#[utoipa::path(get, path = "/v1/subjects/{id}/data", tag = "data",
    params(("id" = String, Path, description = "The host's external subject id"), DataQuery),
    responses((status = 200, body = DataOut), (status = 404, body = crate::error::Problem),
        (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<DataQuery>,
) -> Result<Json<DataOut>> {
    let actor = caller.require(&format!("read:{}", q.purpose))?;
    let notice = state.notice()?;
    if notice.catalog.purpose(&q.purpose).is_none() {
        return Err(ApiError::invalid_field("purpose", "unknown_purpose"));
    }
    let limit = q.limit.unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::invalid_field("limit", "out_of_range"));
    }
    let (_, pid) = known_subject(&state, &id).await?;
    let (fields, held) = purpose_data(&state, &notice, pid, &q.purpose, limit).await?;
    let read = candor_store::DataRead {
        id: uuid::Uuid::now_v7().to_string(),
        at: now_ms(),
        actor: actor.clone(),
        purpose: q.purpose.clone(),
        fields: fields.join(","),
    };
    let audit = audit_entry(
        &actor,
        "data.read",
        Some(pid),
        serde_json::json!({"purpose": q.purpose, "fields": fields, "events": held.events.len()}),
    );
    let chain = candor_privacy::AuditChain::new(state.signer());
    state.store().record_read(pid, &read, &chain, audit).await?;
    Ok(Json(DataOut { purpose: q.purpose, fields, traits: held.traits, events: held.events }))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read))
}
