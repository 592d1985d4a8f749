//! Public keys and signals under `/.well-known/`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::rfc3339;
use crate::error::Result;
use crate::state::AppState;

/// The receipt signing key as a JWK (RFC 8037), so anyone can verify receipts.
#[utoipa::path(get, path = "/.well-known/candor/receipt-key.jwk", tag = "receipts",
    responses((status = 200, description = "Ed25519 public key as a JWK", body = Object)))]
async fn receipt_key(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.signer().jwk())
}

/// The GPC support resource (Global Privacy Control spec, section 5.2).
#[derive(Serialize, ToSchema)]
pub struct GpcOut {
    /// This site honours GPC signals.
    pub gpc: bool,
    /// Date of the last change of the notice (YYYY-MM-DD).
    #[serde(rename = "lastUpdate")]
    pub last_update: String,
}

/// Declares that candor honours Global Privacy Control.
#[utoipa::path(get, path = "/.well-known/gpc.json", tag = "receipts", responses((status = 200, body = GpcOut)))]
async fn gpc(State(state): State<AppState>) -> Result<Json<GpcOut>> {
    let notice = state.notice()?;
    Ok(Json(GpcOut { gpc: true, last_update: rfc3339(notice.published_at)[..10].to_string() }))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receipt_key)).routes(routes!(gpc))
}
