//! Control-panel sessions: the host's backend asks for a short-lived, single-use link
//! that opens the panel as one subject.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::{now_ms, rfc3339};
use crate::error::Result;
use crate::http::api::consents::subject_pid;
use crate::http::extract::Caller;
use crate::instance::audit_entry;
use crate::state::AppState;

/// A control-panel session link.
#[derive(Serialize, ToSchema)]
pub struct SessionOut {
    /// The single-use token (also inside `url`).
    pub token: String,
    /// Opens the control panel as this subject; valid once.
    pub url: String,
    /// When the token stops working.
    pub expires_at: String,
}

/// Issues a short-lived, single-use control-panel link for a subject.
#[utoipa::path(post, path = "/v1/subjects/{id}/sessions", tag = "sessions",
    params(("id" = String, Path, description = "The host's external subject id")),
    responses((status = 201, body = SessionOut), (status = 401, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<SessionOut>)> {
    let actor = caller.require("consent")?;
    let pid = subject_pid(&state, &id, "id")?;
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = URL_SAFE_NO_PAD.encode(secret);
    let hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let now = now_ms();
    let expires_at = now + state.settings().session_ttl_secs as i64 * 1000;
    let chain = candor_privacy::AuditChain::new(state.signer());
    let audit = audit_entry(&actor, "session.created", Some(pid), serde_json::json!({"expires_at": expires_at}));
    state.store().create_session(pid, &hash, now, expires_at, &chain, audit).await?;
    let url = format!("{}/me?token={token}", state.public_url());
    Ok((StatusCode::CREATED, Json(SessionOut { token, url, expires_at: rfc3339(expires_at) })))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create))
}
