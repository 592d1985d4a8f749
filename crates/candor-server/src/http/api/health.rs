//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, Result};
use crate::state::AppState;

/// Health status.
#[derive(Serialize, ToSchema)]
pub struct HealthOut {
    /// `ok` or `ready`.
    pub status: &'static str,
    /// The notice version served (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<i64>,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = HealthOut)))]
async fn healthz() -> Json<HealthOut> {
    Json(HealthOut { status: "ok", notice_version: None })
}

/// Readiness: the database answers and a notice is loaded.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, body = HealthOut), (status = 503, body = crate::error::Problem)))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthOut>> {
    state.store().ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness: database unavailable");
        ApiError::unavailable("the database does not answer")
    })?;
    let notice = state.notice()?;
    Ok(Json(HealthOut { status: "ready", notice_version: Some(notice.version) }))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(healthz)).routes(routes!(readyz))
}
