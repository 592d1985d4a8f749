//! `GET /widget.js`: the consent widget, compiled into the binary so that the script a
//! host page loads always matches the API of the server that serves it, followed by the
//! current notice (what `GET /v1/notice` answers) so that a first-time visitor's banner
//! needs no second request.

use std::sync::{Arc, LazyLock, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::http::api::notice::NoticeOut;
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;

/// The widget's source, as committed in `widget/widget.js`.
pub const WIDGET_JS: &str = include_str!("../../../../widget/widget.js");

/// Browsers may use a copy for five minutes, then revalidate with the ETag (a new server
/// version or notice reaches pages quickly; meanwhile a stale copy is served while it
/// revalidates, and a choice made under an old notice is answered 409, which makes the
/// widget fetch the current one and ask again).
const CACHE_CONTROL: &str = "public, max-age=300, stale-while-revalidate=86400";

/// The served bytes and their strong validator.
struct Served {
    /// Which notice they embed: (version, published_at, sha256); `None` before any is published.
    key: Option<(i64, i64, String)>,
    body: Bytes,
    etag: HeaderValue,
}

impl Served {
    fn build(notice: Option<&CurrentNotice>) -> Result<Self, serde_json::Error> {
        let mut body = WIDGET_JS.to_string();
        if let Some(n) = notice {
            body.push_str(&trailer(&serde_json::to_string(&NoticeOut::current(n))?)?);
        }
        let digest = Sha256::digest(body.as_bytes());
        let etag =
            HeaderValue::from_str(&format!("\"{}\"", hex::encode(&digest[..16]))).expect("hex is a valid header value");
        Ok(Served { key: notice.map(|n| (n.version, n.published_at, n.sha256.clone())), body: body.into(), etag })
    }
}

/// The line appended to the widget: hands the notice JSON (as one JS string, parsed by
/// `JSON.parse`, so any key means what it means in JSON) to the script element the widget
/// reads it from. Safe inside an inline `<script>` too: no `<` (so no `</script` or `<!--`)
/// and no U+2028/U+2029 survive unescaped.
fn trailer(notice_json: &str) -> Result<String, serde_json::Error> {
    let literal = serde_json::to_string(notice_json)?
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029");
    Ok(format!(
        "\n// The current notice (GET /v1/notice), added by candor: the widget reads it instead of asking.\n\
         ;(function (s, n) {{ if (s) s.candorNotice = n; }})(document.currentScript, JSON.parse({literal}));\n"
    ))
}

/// The bytes built for the notice version last served (rebuilt when it changes).
static SERVED: LazyLock<Mutex<Option<Arc<Served>>>> = LazyLock::new(|| Mutex::new(None));

fn served(notice: Option<&CurrentNotice>) -> Result<Arc<Served>, serde_json::Error> {
    let key = notice.map(|n| (n.version, n.published_at, n.sha256.clone()));
    if let Some(s) = SERVED.lock().expect("widget lock").as_ref().filter(|s| s.key == key) {
        return Ok(s.clone());
    }
    let built = Arc::new(Served::build(notice)?);
    *SERVED.lock().expect("widget lock") = Some(built.clone());
    Ok(built)
}

/// The widget script with the current notice, or 304 when the browser's copy is current.
async fn widget(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let notice = state.notices().get();
    let served = match served(notice.as_deref()) {
        Ok(s) => s,
        Err(e) => return crate::error::ApiError::internal(e).into_response(),
    };
    let etag = served.etag.clone();
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
    (
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"))],
        served.body.clone(),
    )
        .into_response()
}

/// The widget route (public, outside the OpenAPI document: it is a script, not an API).
pub fn router() -> Router<AppState> {
    Router::new().route("/widget.js", get(widget))
}

#[cfg(test)]
mod tests {
    use super::trailer;

    #[test]
    fn the_trailer_cannot_close_a_script_or_break_a_line() {
        let json =
            serde_json::json!({ "description": "x</script><script>alert(1)</script><!-- \u{2028}\u{2029} \"q\" \\" })
                .to_string();
        let t = trailer(&json).unwrap();
        assert!(!t.contains('<') && !t.contains('>'), "{t}");
        assert!(!t.contains('\u{2028}') && !t.contains('\u{2029}'), "{t}");
        let start = t.find("JSON.parse(").unwrap() + "JSON.parse(".len();
        let literal = serde_json::Deserializer::from_str(&t[start..]).into_iter::<String>().next().unwrap().unwrap();
        assert_eq!(literal, json);
    }
}
