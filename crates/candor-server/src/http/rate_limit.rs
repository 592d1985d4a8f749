//! Request rate limits (SPEC §4: too many requests get 429 with `Retry-After`).
//!
//! Two budgets, each a token bucket of "N per minute" (N requests at once, then one every
//! 60/N s): requests without an API key, per client address (the widget, the pages, the
//! control panel, anyone probing), and requests with a valid API key, per key. A request
//! with a key that does not authenticate is charged to its address, so guessing keys is
//! throttled like any anonymous traffic. Health checks are never limited. The key is
//! checked once, here, for the whole request ([`admit`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::config::Settings;
use crate::error::ApiError;
use crate::http::extract::{Caller, Credentials};
use crate::state::AppState;

/// The budgets of one server.
pub struct RateLimits {
    public: Option<DefaultKeyedRateLimiter<IpAddr>>,
    keys: Option<DefaultKeyedRateLimiter<String>>,
    trust_forwarded_for: bool,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(per_minute: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_minute).map(|n| DefaultKeyedRateLimiter::dashmap(Quota::per_minute(n)))
}

impl RateLimits {
    /// The budgets the settings ask for (0 turns one off).
    pub fn new(settings: &Settings) -> RateLimits {
        RateLimits {
            public: limiter(settings.public_requests_per_minute),
            keys: limiter(settings.key_requests_per_minute),
            trust_forwarded_for: settings.trust_forwarded_for,
        }
    }

    /// The client's address: the peer, or the first `X-Forwarded-For` entry when the
    /// settings say a proxy in front of candor sets it.
    pub fn client(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> IpAddr {
        let forwarded = self
            .trust_forwarded_for
            .then(|| headers.get("x-forwarded-for")?.to_str().ok()?.split(',').next()?.trim().parse().ok())
            .flatten();
        forwarded.or(peer.map(|p| p.ip())).unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Charges one request without a (valid) key to its address.
    pub fn charge_public(&self, client: IpAddr) -> Result<(), ApiError> {
        match &self.public {
            Some(limiter) => limiter.check_key(&client).map_err(too_many),
            None => Ok(()),
        }
    }

    /// Charges one request to an authenticated key.
    pub fn charge_key(&self, key_id: &str) -> Result<(), ApiError> {
        match &self.keys {
            Some(limiter) => limiter.check_key(&key_id.to_string()).map_err(too_many),
            None => Ok(()),
        }
    }

    /// Forgets the buckets that are full again, every minute, so memory follows the
    /// clients of the last minute rather than every address ever seen.
    pub async fn prune(self: std::sync::Arc<Self>) {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            if let Some(l) = &self.public {
                l.retain_recent();
                l.shrink_to_fit();
            }
            if let Some(l) = &self.keys {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    }
}

fn too_many(not_until: governor::NotUntil<<DefaultClock as Clock>::Instant>) -> ApiError {
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
}

/// Middleware in front of every route: checks the API key once (handlers read the verdict
/// through [`Caller`]) and charges the request to its key, or, without a valid one, to
/// its client address, whatever the route (a made-up `Authorization` header buys nothing).
pub async fn admit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    let credentials = match Credentials::check(&state, request.headers()).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let charged = match &credentials {
        Some(Credentials::Valid(Caller::Key { id, .. })) => state.limits().charge_key(id),
        _ => {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0);
            state.limits().charge_public(state.limits().client(request.headers(), peer))
        }
    };
    if let Err(e) = charged {
        return e.into_response();
    }
    if let Some(c) = credentials {
        request.extensions_mut().insert(c);
    }
    next.run(request).await
}
