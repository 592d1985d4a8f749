//! The HTTP surface: one module per API resource under `api/`, each ending in
//! `pub fn router()`, merged here with the pages (`pages/`, not part of the OpenAPI
//! document) and the middleware every response shares.

pub mod api;
pub mod extract;
pub mod pages;
pub mod rate_limit;
pub mod widget;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "candor",
        description = "Consent-first personalization: catalog, notices, consent ledger, receipts, gated ingestion, purpose-bound reads, data-subject requests. Errors are application/problem+json (RFC 9457).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// Every documented route, with its OpenAPI description.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(api::health::router())
        .merge(api::well_known::router())
        .merge(api::notice::router())
        .merge(api::consents::router())
        .merge(api::sessions::router())
        .merge(api::ingest::router())
        .merge(api::data::router())
        .merge(api::dsar::router())
}

/// The OpenAPI document, generated from the code.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().split_for_parts().1
}

/// The OpenAPI document as committed in `openapi.json` (pretty, trailing newline).
pub fn openapi_json() -> String {
    render_openapi(&openapi())
}

fn render_openapi(api: &utoipa::openapi::OpenApi) -> String {
    let mut text = api.to_pretty_json().expect("openapi serializes");
    text.push('\n');
    text
}

/// The whole application: routes, OpenAPI, fallbacks and middleware.
pub fn app(state: AppState) -> Router {
    let (router, api) = api_router().split_for_parts();
    let api_text: Arc<str> = Arc::from(render_openapi(&api));
    let origins = state.notices().clone();
    let cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            let Ok(origin) = origin.to_str() else { return false };
            origins.get().is_some_and(|n| n.notice.organization.allowed_origins.iter().any(|o| o == origin))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600));

    router
        .merge(pages::router())
        .merge(widget::router())
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let text = api_text.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], text.to_string()) }
            }),
        )
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::admit))
        .with_state(state)
        .layer(DefaultBodyLimit::max(extract::MAX_BODY))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(request_span).on_request(()).on_response(
            DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(tower_http::LatencyUnit::Micros),
        ))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The span of a request names the route template, never the concrete path: paths carry
/// subject ids, which must not reach the logs.
fn request_span(request: &Request) -> tracing::Span {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str()).unwrap_or("unmatched");
    let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), route, request_id = id)
}
