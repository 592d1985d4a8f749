//! `GET /widget.js`: the consent widget, compiled into the binary so that the script a
//! host page loads always matches the API of the server that serves it.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// The widget's source, as committed in `widget/widget.js`.
pub const WIDGET_JS: &str = include_str!("../../../../widget/widget.js");

/// A strong validator of the embedded bytes: it changes exactly when the widget does.
static ETAG: LazyLock<HeaderValue> = LazyLock::new(|| {
    let digest = Sha256::digest(WIDGET_JS.as_bytes());
    HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16]))).expect("hex is a valid header value")
});

/// Browsers may use a copy for five minutes, then revalidate with the ETag (a new server
/// version reaches pages quickly; meanwhile a stale copy is served while it revalidates).
const CACHE_CONTROL: &str = "public, max-age=300, stale-while-revalidate=86400";

/// The widget script, or 304 when the browser's copy is current.
async fn widget(headers: HeaderMap) -> Response {
    let etag = ETAG.clone();
    let fresh = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == etag.as_bytes());
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (common, [(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"))], WIDGET_JS)
        .into_response()
}

/// The widget route (public, outside the OpenAPI document: it is a script, not an API).
pub fn router() -> Router<AppState> {
    Router::new().route("/widget.js", get(widget))
}
