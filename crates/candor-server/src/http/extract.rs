//! Extractors that turn bad input into precise problems: 400 for malformed JSON, 413
//! for bodies over the limit, 422 with the path of each bad field, 401/403 for
//! credentials.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use candor_privacy::ParsedApiKey;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// Largest request body accepted anywhere (SPEC §4).
pub const MAX_BODY: usize = 1024 * 1024;

/// Reads a whole body within the limit.
async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("the body is over the {MAX_BODY}-byte limit"))
        } else {
            ApiError::malformed(rejection.body_text())
        }
    })
}

/// A JSON body: 400 if it is not JSON, 422 (naming the field) if it has the wrong shape.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parses JSON with the error classes the API promises.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(value) => {
            de.end().map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
            Ok(value)
        }
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { "body".to_string() } else { path };
                    Err(ApiError::invalid_field(field, strip_position(&inner.to_string())))
                }
                _ => Err(ApiError::malformed(format!("the body is not valid JSON: {inner}"))),
            }
        }
    }
}

/// serde_json appends " at line 1 column 42"; the field path already says where.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// A UTF-8 text body (the catalog TOML).
pub struct TextBody(pub String);

impl<S: Send + Sync> FromRequest<S> for TextBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        String::from_utf8(bytes.to_vec()).map(TextBody).map_err(|_| ApiError::malformed("the body is not UTF-8 text"))
    }
}

/// Query parameters; 422 naming the parameter when they do not parse.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(ApiQuery).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { "query".to_string() } else { path };
            ApiError::invalid_field(field, e.into_inner().to_string())
        })
    }
}

/// Who is calling: an API key (by id, with its scopes) or the public.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A valid, unrevoked API key.
    Key {
        /// Its public id.
        id: String,
        /// Its scopes.
        scopes: Vec<String>,
    },
    /// No credentials.
    Public,
}

impl Caller {
    /// Requires `scope` (or `admin`): 401 without credentials, 403 without the scope.
    pub fn require(&self, scope: &str) -> Result<String, ApiError> {
        match self {
            Caller::Public => Err(ApiError::unauthorized(format!(
                "this route needs an API key with the `{scope}` scope (Authorization: Bearer …)"
            ))),
            Caller::Key { id, scopes } => {
                if scopes.iter().any(|s| s == scope || s == "admin") {
                    Ok(format!("key:{id}"))
                } else {
                    Err(ApiError::forbidden(format!("this API key lacks the `{scope}` scope")))
                }
            }
        }
    }

    /// The audit actor name.
    pub fn actor(&self) -> String {
        match self {
            Caller::Key { id, .. } => format!("key:{id}"),
            Caller::Public => "public".to_string(),
        }
    }
}

/// What the admission middleware ([`crate::http::rate_limit::admit`]) found in the
/// `Authorization` header, for [`Caller`] to hand to handlers without checking it again.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A valid key.
    Valid(Caller),
    /// A header that does not authenticate, and why (401 where a route reads the caller).
    Invalid(&'static str),
}

impl Credentials {
    /// Checks the `Authorization` header, if any (`None` without one).
    pub async fn check(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Option<Credentials>, ApiError> {
        let Some(value) = headers.get(AUTHORIZATION) else { return Ok(None) };
        let bearer = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
        let Some(token) = bearer else {
            return Ok(Some(Credentials::Invalid("expected `Authorization: Bearer <key>`")));
        };
        let invalid = Credentials::Invalid("the API key is invalid or revoked");
        let Some(parsed) = ParsedApiKey::parse(token.trim()) else { return Ok(Some(invalid)) };
        let Some(scopes) = state.keys().authenticate(state.store(), &parsed).await? else { return Ok(Some(invalid)) };
        Ok(Some(Credentials::Valid(Caller::Key { id: parsed.id.to_string(), scopes })))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// The caller as admitted: without the admission middleware's verdict, the public
    /// (so a router built without it can only refuse, never grant).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        match parts.extensions.get::<Credentials>() {
            Some(Credentials::Valid(caller)) => Ok(caller.clone()),
            Some(Credentials::Invalid(why)) => Err(ApiError::unauthorized(*why)),
            None => Ok(Caller::Public),
        }
    }
}
