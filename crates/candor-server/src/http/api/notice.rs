//! The privacy notice: current, every published version, diffs, and publishing.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use candor_core::notice::{Notice, PurposeDiff, diff};
use candor_privacy::audit::AuditChain;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::clock::rfc3339;
use crate::error::{ApiError, FieldError, Result};
use crate::http::extract::{ApiQuery, Caller, TextBody};
use crate::notice_cache::CurrentNotice;
use crate::publish::{self, PublishError};
use crate::state::AppState;

/// A published notice: organization, purposes (with fields, categories, retention,
/// benefits, processors), the version and when it was published.
#[derive(Serialize, ToSchema)]
pub struct NoticeOut {
    /// Version number.
    pub version: i64,
    /// Publication time.
    pub published_at: String,
    /// SHA-256 of the exact notice text (what consent proofs reference).
    pub notice_sha256: String,
    /// The notice itself.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub notice: Notice,
}

/// One version in the list.
#[derive(Serialize, ToSchema)]
pub struct VersionSummary {
    /// Version number.
    pub version: i64,
    /// Publication time.
    pub published_at: String,
    /// SHA-256 of the notice text.
    pub notice_sha256: String,
    /// Purposes materially changed against the previous version.
    pub material: Vec<String>,
}

/// Every published version, oldest first.
#[derive(Serialize, ToSchema)]
pub struct VersionsOut {
    /// The versions.
    pub versions: Vec<VersionSummary>,
}

/// The query of a diff.
#[derive(Deserialize, IntoParams)]
pub struct DiffQuery {
    /// Older version.
    pub from: i64,
    /// Newer version.
    pub to: i64,
}

/// What changed between two versions, per purpose.
#[derive(Serialize, ToSchema)]
pub struct DiffOut {
    /// Older version.
    pub from: i64,
    /// Newer version.
    pub to: i64,
    /// Whether the organization's details changed.
    pub organization_changed: bool,
    /// One entry per purpose, each with `material: bool`.
    #[schema(value_type = Vec<Object>)]
    pub purposes: Vec<PurposeDiff>,
}

/// The result of a publication.
#[derive(Serialize, ToSchema)]
pub struct PublishOut {
    /// The version now current.
    pub version: i64,
    /// Purposes materially changed (their grants must be renewed).
    pub material: Vec<String>,
    /// True when the catalog changed nothing, so no version was made.
    pub unchanged: bool,
}

impl NoticeOut {
    /// The notice in effect, as `GET /v1/notice` serves it (and `GET /widget.js` embeds it).
    pub fn current(n: &CurrentNotice) -> Self {
        NoticeOut {
            version: n.version,
            published_at: rfc3339(n.published_at),
            notice_sha256: n.sha256.clone(),
            notice: n.notice.clone(),
        }
    }
}

fn notice_out(version: i64, published_at: i64, sha: &str, notice_json: &str) -> Result<NoticeOut> {
    let notice: Notice = serde_json::from_str(notice_json).map_err(ApiError::internal)?;
    Ok(NoticeOut { version, published_at: rfc3339(published_at), notice_sha256: sha.to_string(), notice })
}

/// The current notice.
#[utoipa::path(get, path = "/v1/notice", tag = "notice", responses((status = 200, body = NoticeOut)))]
async fn current(State(state): State<AppState>) -> Result<Json<NoticeOut>> {
    let n = state.notice()?;
    Ok(Json(NoticeOut::current(&n)))
}

/// Every published version, oldest first.
#[utoipa::path(get, path = "/v1/notice/versions", tag = "notice", responses((status = 200, body = VersionsOut)))]
async fn versions(State(state): State<AppState>) -> Result<Json<VersionsOut>> {
    let versions = state
        .store()
        .notices()
        .await?
        .into_iter()
        .map(|v| VersionSummary {
            version: v.version,
            published_at: rfc3339(v.published_at),
            notice_sha256: v.notice_sha256,
            material: serde_json::from_str(&v.material_json).unwrap_or_default(),
        })
        .collect();
    Ok(Json(VersionsOut { versions }))
}

fn parse_version(raw: &str) -> Result<i64> {
    raw.parse::<i64>().ok().filter(|v| *v >= 1).ok_or_else(|| ApiError::not_found(format!("no notice version {raw:?}")))
}

/// One published version.
#[utoipa::path(get, path = "/v1/notice/versions/{n}", tag = "notice",
    params(("n" = i64, Path, description = "Version number")),
    responses((status = 200, body = NoticeOut), (status = 404, body = crate::error::Problem)))]
async fn version(State(state): State<AppState>, Path(n): Path<String>) -> Result<Json<NoticeOut>> {
    let n = parse_version(&n)?;
    let v = state.store().notice(n).await?.ok_or_else(|| ApiError::not_found(format!("no notice version {n}")))?;
    Ok(Json(notice_out(v.version, v.published_at, &v.notice_sha256, &v.notice_json)?))
}

/// The change between two versions, per purpose, with `material: bool`.
#[utoipa::path(get, path = "/v1/notice/diff", tag = "notice", params(DiffQuery),
    responses((status = 200, body = DiffOut), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)))]
async fn notice_diff(State(state): State<AppState>, ApiQuery(q): ApiQuery<DiffQuery>) -> Result<Json<DiffOut>> {
    let load = |n: i64| {
        let state = state.clone();
        async move {
            let v =
                state.store().notice(n).await?.ok_or_else(|| ApiError::not_found(format!("no notice version {n}")))?;
            serde_json::from_str::<Notice>(&v.notice_json).map_err(ApiError::internal)
        }
    };
    let (from, to) = (load(q.from).await?, load(q.to).await?);
    let d = diff(&from, &to);
    Ok(Json(DiffOut { from: q.from, to: q.to, organization_changed: d.organization_changed, purposes: d.purposes }))
}

/// Publishes a catalog (TOML body) as the next notice version. Needs the `admin` scope.
/// 422 lists every catalog error with its line.
#[utoipa::path(post, path = "/v1/notice/versions", tag = "notice",
    request_body(content = String, content_type = "application/toml", description = "The catalog, as in candor.toml"),
    responses((status = 201, body = PublishOut), (status = 200, description = "Nothing changed; no version made", body = PublishOut),
        (status = 422, body = crate::error::Problem)),
    security(("api_key" = [])))]
async fn publish_version(
    State(state): State<AppState>,
    caller: Caller,
    TextBody(toml): TextBody,
) -> Result<(StatusCode, Json<PublishOut>)> {
    let actor = caller.require("admin")?;
    let chain = AuditChain::new(state.signer());
    let outcome = publish::publish(state.store(), &chain, &toml, &actor).await.map_err(|e| match e {
        PublishError::Invalid(errors) => {
            let list: Vec<FieldError> = errors
                .0
                .iter()
                .map(|e| FieldError { field: e.path.clone(), reason: e.message.clone(), line: Some(e.line) })
                .collect();
            ApiError::invalid(format!("the catalog has {} error(s)", list.len()), list)
        }
        PublishError::Store(e) => e.into(),
        other => ApiError::internal(other),
    })?;
    state.notices().refresh(state.store()).await?;
    let status = if outcome.unchanged { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(PublishOut { version: outcome.version, material: outcome.material, unchanged: outcome.unchanged }),
    ))
}

/// Routes of this resource.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(current))
        .routes(routes!(versions, publish_version))
        .routes(routes!(version))
        .routes(routes!(notice_diff))
}
