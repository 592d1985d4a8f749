//! The one error type of the HTTP API, answered as `application/problem+json` (RFC 9457).
//! Client errors carry a stable code (the last segment of `type`); everything else is
//! logged with its cause and answered with an opaque 500 (or 503 when the database is
//! unavailable, so callers know to retry).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One thing wrong with a request.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    /// Where: a JSON path (`choices.newsletter`), a query parameter or a catalog location.
    pub field: String,
    /// Why, as a stable machine reason or a precise message.
    pub reason: String,
    /// For catalog errors: the 1-based line in the TOML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl FieldError {
    /// A field error without a line.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), reason: reason.into(), line: None }
    }
}

/// A problem document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI reference naming the kind of problem; its last segment is a stable code.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened here.
    pub detail: String,
    /// Every individual failure, when several things were wrong.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// For stale-notice conflicts: the version to use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_version: Option<i64>,
}

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    current_version: Option<i64>,
    retry_after: Option<u64>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)?;
        for e in &self.errors {
            write!(f, "; {}: {}", e.field, e.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The result type of handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError { status, code, detail: detail.into(), errors: Vec::new(), current_version: None, retry_after: None }
    }

    /// 400: the body is not valid JSON (or not UTF-8 text where text is expected).
    pub fn malformed(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::BAD_REQUEST, "malformed", detail)
    }

    /// 401: credentials missing or invalid.
    pub fn unauthorized(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
    }

    /// 403: the credentials lack a scope, or the request comes from a foreign origin.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 409: the notice version named is not the current one.
    pub fn stale_notice(named: i64, current: i64) -> ApiError {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "stale-notice",
            format!("notice version {named} is not the current one ({current}); show the current notice and ask again"),
        );
        e.current_version = Some(current);
        e
    }

    /// 409: another conflict.
    pub fn conflict(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::CONFLICT, "conflict", detail)
    }

    /// 413.
    pub fn too_large(detail: impl Into<String>) -> ApiError {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", detail)
    }

    /// 422 with every failure.
    pub fn invalid(detail: impl Into<String>, errors: Vec<FieldError>) -> ApiError {
        let mut e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail);
        e.errors = errors;
        e
    }

    /// 422 for one field.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let error = FieldError::new(field, reason);
        Self::invalid(format!("{}: {}", error.field, error.reason), vec![error])
    }

    /// 405.
    pub fn method_not_allowed() -> ApiError {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "this route does not take that method")
    }

    /// 429: over a rate limit; the client may try again after `seconds`.
    pub fn too_many_requests(seconds: u64) -> ApiError {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            format!("too many requests; try again in {seconds} s"),
        );
        e.retry_after = Some(seconds.max(1));
        e
    }

    /// 503: the database is unavailable; nothing was committed.
    pub fn unavailable(detail: impl Into<String>) -> ApiError {
        let mut e = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        e.retry_after = Some(1);
        e
    }

    /// 500 for a cause that is logged, never shown.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it was logged")
    }

    /// 500 whose cause was already logged.
    pub fn opaque_internal() -> ApiError {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it was logged")
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("/problems/{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_string(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            errors: self.errors.clone(),
            current_version: self.current_version,
        }
    }
}

impl From<candor_store::StoreError> for ApiError {
    fn from(e: candor_store::StoreError) -> ApiError {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            ApiError::unavailable("the database is unavailable; nothing was stored, retry shortly")
        } else if let candor_store::StoreError::Conflict(detail) = e {
            ApiError::conflict(detail)
        } else {
            ApiError::internal(e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.problem()).expect("problem serializes");
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        // The rest of an oversized body is not read, so the connection cannot carry another
        // request: say so, or a client may send its next request on it and lose it.
        if self.status == StatusCode::PAYLOAD_TOO_LARGE {
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
