//! The server-rendered pages people read: the privacy notice (`privacy.rs`) and the
//! control panel (`me.rs`). Templates live in `templates/` and are compiled into the
//! binary; every value is HTML-escaped; no page loads anything from another origin.
//! Pages are not part of the JSON API, so they are not in the OpenAPI document.

pub mod me;
pub mod privacy;

use askama::Template;
use axum::Router;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::i18n::{Lang, Ui};
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;

/// The one stylesheet of every page.
const STYLESHEET: &str = include_str!("../../../templates/candor.css");

/// Where the stylesheet is served.
pub const STYLESHEET_PATH: &str = "/assets/candor.css";

/// What the shared layout (`base.html`) shows around every page.
pub struct Chrome {
    /// `<html lang>`.
    pub lang: &'static str,
    /// The page's words.
    pub t: &'static Ui,
    /// The organization's name, in the header.
    pub org: String,
    /// The notice version in the footer, if one is published.
    pub version: Option<i64>,
    /// The language switcher.
    pub languages: Vec<LangLink>,
    /// Which navigation entry is the current page (`notice`, `changes`, `me`).
    pub current: &'static str,
    /// The path of the stylesheet.
    pub stylesheet: &'static str,
}

/// One entry of the language switcher.
pub struct LangLink {
    /// Its code (`?lang=`, `hreflang`).
    pub code: &'static str,
    /// Its own name.
    pub name: &'static str,
    /// Whether the page is in it.
    pub current: bool,
}

/// The language and organization a page is rendered for.
#[derive(Clone)]
pub struct PageContext {
    /// The negotiated language.
    pub lang: Lang,
    /// Whether the language came from `?lang=` (and so is carried through forms).
    pub explicit: bool,
    /// The organization's name, if a notice is published.
    pub org: String,
    /// The privacy contact, if a notice is published.
    pub contact: String,
    /// The current notice version.
    pub version: Option<i64>,
}

impl PageContext {
    /// Negotiates the language from `?lang=` (or a form's `lang` field) and
    /// `Accept-Language`, and reads the organization from the current notice.
    pub fn new(state: &AppState, headers: &HeaderMap, lang_param: Option<&str>) -> PageContext {
        let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
        let explicit = lang_param.and_then(Lang::parse).is_some();
        let lang = Lang::negotiate(lang_param, accept);
        let notice = state.notices().get();
        PageContext {
            lang,
            explicit,
            org: notice.as_ref().map(|n| n.notice.organization.name.clone()).unwrap_or_default(),
            contact: notice.as_ref().map(|n| n.notice.organization.contact.clone()).unwrap_or_default(),
            version: notice.as_ref().map(|n| n.version),
        }
    }

    /// The words of the page language.
    pub fn t(&self) -> &'static Ui {
        self.lang.ui()
    }

    /// The layout data for a page.
    pub fn chrome(&self, current: &'static str) -> Chrome {
        Chrome {
            lang: self.lang.code(),
            t: self.t(),
            org: self.org.clone(),
            version: self.version,
            languages: Lang::ALL
                .iter()
                .map(|l| LangLink { code: l.code(), name: l.name(), current: *l == self.lang })
                .collect(),
            current,
            stylesheet: STYLESHEET_PATH,
        }
    }

    /// A page-level error in this context.
    pub fn error(&self, kind: PageErrorKind) -> PageError {
        PageError { kind, context: self.clone() }
    }

    /// Turns an API error (a store failure, a refused write) into a page error; the cause
    /// was logged where the API error was made.
    pub fn failed(&self, error: ApiError) -> PageError {
        let kind = if error.status() == StatusCode::SERVICE_UNAVAILABLE {
            PageErrorKind::Unavailable
        } else {
            PageErrorKind::Internal
        };
        self.error(kind)
    }

    /// The current notice, or a 503 page while none is published.
    pub fn notice(&self, state: &AppState) -> Result<std::sync::Arc<CurrentNotice>, PageError> {
        state.notice().map_err(|e| self.failed(e))
    }

    /// The query suffix that keeps an explicit `?lang=` on links and redirects.
    pub fn lang_query(&self, first: bool) -> String {
        match (self.explicit, first) {
            (false, _) => String::new(),
            (true, true) => format!("?lang={}", self.lang.code()),
            (true, false) => format!("&lang={}", self.lang.code()),
        }
    }
}

/// The `lang` parameter of a query string, if any.
pub fn lang_param(uri: &Uri) -> Option<String> {
    query_param(uri, "lang")
}

/// One parameter of a query string.
pub fn query_param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Why a page cannot be shown. Each kind has its own status and explanation, and none
/// shows anything of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageErrorKind {
    /// A session link nobody issued (403).
    LinkInvalid,
    /// A session link already exchanged (410).
    LinkUsed,
    /// A session link past its time (410).
    LinkExpired,
    /// No live panel session (403).
    NoSession,
    /// A form without the right CSRF token (403).
    Csrf,
    /// A form that cannot be read (400).
    BadForm,
    /// The database is unavailable (503).
    Unavailable,
    /// Anything else; the cause was logged (500).
    Internal,
}

impl PageErrorKind {
    fn status(self) -> StatusCode {
        match self {
            PageErrorKind::LinkInvalid | PageErrorKind::NoSession | PageErrorKind::Csrf => StatusCode::FORBIDDEN,
            PageErrorKind::LinkUsed | PageErrorKind::LinkExpired => StatusCode::GONE,
            PageErrorKind::BadForm => StatusCode::BAD_REQUEST,
            PageErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            PageErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn words(self, t: &'static Ui) -> (&'static str, &'static str) {
        match self {
            PageErrorKind::LinkInvalid => (t.error_link_invalid_title, t.error_link_invalid),
            PageErrorKind::LinkUsed => (t.error_link_used_title, t.error_link_used),
            PageErrorKind::LinkExpired => (t.error_link_expired_title, t.error_link_expired),
            PageErrorKind::NoSession => (t.error_no_session_title, t.error_no_session),
            PageErrorKind::Csrf => (t.error_csrf_title, t.error_csrf),
            PageErrorKind::BadForm => (t.error_bad_form_title, t.error_bad_form),
            PageErrorKind::Unavailable => (t.error_unavailable_title, t.error_unavailable),
            PageErrorKind::Internal => (t.error_internal_title, t.error_internal),
        }
    }
}

/// A page that could not be shown, answered as a short HTML page in the page's language.
#[derive(Clone)]
pub struct PageError {
    /// What went wrong.
    pub kind: PageErrorKind,
    context: PageContext,
}

impl std::fmt::Debug for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PageError({:?})", self.kind)
    }
}

/// A short page with a heading and a few sentences: errors and "you are signed out".
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    /// The layout.
    pub chrome: Chrome,
    /// The heading.
    pub title: &'static str,
    /// The explanation.
    pub text: &'static str,
    /// Whom to write to.
    pub contact: String,
    /// Whether it reports a problem (`role="alert"`).
    pub alert: bool,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let t = self.context.t();
        let (title, text) = self.kind.words(t);
        let mut chrome = self.context.chrome("");
        // The page may answer a POST; a `?lang=` link would resolve against its address.
        chrome.languages.clear();
        let page = MessagePage { chrome, title, text, contact: self.context.contact.clone(), alert: true };
        let mut response = html(&page);
        *response.status_mut() = self.kind.status();
        if self.kind == PageErrorKind::Unavailable {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Headers every page carries: nothing from other origins, no framing, no Referer (a
/// session link must not leak through one), and no caching of personal pages.
fn page_headers(headers: &mut HeaderMap) {
    const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-language, cookie"));
}

/// Renders a template as an HTML response (200), or a logged 500 if rendering fails.
pub fn html<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = body.into_response();
            page_headers(response.headers_mut());
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            let mut response =
                (StatusCode::INTERNAL_SERVER_ERROR, "an internal error occurred; it was logged").into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
            response
        }
    }
}

/// The stylesheet, cacheable for an hour.
async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The server's root is its privacy notice (a query such as `?lang=de` is kept).
async fn root(uri: Uri) -> Redirect {
    match uri.query() {
        Some(query) => Redirect::temporary(&format!("/privacy?{query}")),
        None => Redirect::temporary("/privacy"),
    }
}

/// Every page route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(root))
        .route(STYLESHEET_PATH, get(stylesheet))
        .merge(privacy::router())
        .merge(me::router())
}
