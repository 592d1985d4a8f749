//! Webhook delivery from the outbox: signed with the processor's secret
//! (`Candor-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), with the
//! delivery id as `Idempotency-Key`, retried with exponential backoff until a 2xx answer.
//! A restart loses nothing: the outbox row stays due until it is acknowledged.

use std::time::Duration;

use candor_privacy::SealingKey;
use candor_store::{Attempted, Delivery};
use futures::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::clock::{now_ms, rfc3339};
use crate::state::AppState;

/// Associated data of a subject id sealed in the outbox.
const SUBJECT_AAD: &[u8] = b"candor/outbox-subject";

/// Seals a host subject id for the outbox (opened only to send it to a processor).
pub fn seal_subject(key: &SealingKey, subject: &str) -> Vec<u8> {
    key.seal(SUBJECT_AAD, subject.as_bytes())
}

/// Longest wait between two attempts.
const MAX_BACKOFF_MS: i64 = 3600 * 1000;
/// How long one attempt may take before it counts as failed.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts in flight at once.
const PARALLEL: usize = 8;
/// Webhooks claimed by one pass.
const PASS: usize = 64;
/// After a pass that found fewer than [`PASS`] webhooks due, how long the next ones may
/// gather: under sustained consent writes this makes one claim and one settlement per
/// [`PASS`] webhooks instead of per handful, and those transactions queue with consent
/// writes for the one writer.
const GATHER: Duration = Duration::from_millis(50);

/// How long a claim keeps other workers off its webhooks. A pass starts no attempt that
/// could still be running when its lease ends (they wait for the lease to end), so a slow
/// processor never gets a webhook twice at once; a crashed worker's claims are due again
/// after it.
const LEASE: Duration = Duration::from_secs(ATTEMPT_TIMEOUT.as_secs() * 3);

/// Delivers due webhooks forever: every second, and at once when woken.
pub async fn run(state: AppState) {
    let client = client();
    // Each pass's outcomes are recorded in the same transaction as the next pass's claim.
    let mut outcomes = Vec::new();
    loop {
        match deliver_due(&state, &client, &outcomes).await {
            Ok(attempted) => {
                let count = attempted.len();
                outcomes = attempted;
                if count == PASS {
                    continue;
                }
                if count > 0 {
                    tokio::time::sleep(GATHER).await;
                    continue;
                }
            }
            // The outcomes stay to be recorded by the next pass.
            Err(e) => tracing::warn!(error = %e, "webhook delivery pass failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = state.outbox_wake().notified() => {}
        }
    }
}

/// The HTTP client used for webhooks.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(ATTEMPT_TIMEOUT).build().expect("a plain HTTP client builds")
}

/// One pass: records the previous pass's `outcomes` and claims up to [`PASS`] due
/// webhooks in one short transaction (one commit per pass, not one per webhook, queued
/// with consent writes for the writer), then attempts each once (each that can start early
/// enough to end within the lease; the others are due again when it ends). Returns the
/// outcomes of this pass, still to be recorded.
pub async fn deliver_due(
    state: &AppState,
    client: &reqwest::Client,
    outcomes: &[Attempted],
) -> anyhow::Result<Vec<Attempted>> {
    let now = now_ms();
    let lease = now + LEASE.as_millis() as i64;
    let claimed = state.store().settle_and_claim(outcomes, now, PASS as i64, lease).await?;
    let last_start = tokio::time::Instant::now() + LEASE - ATTEMPT_TIMEOUT;
    let outcomes = attempt_each(claimed, last_start, |d| attempt(state, client, d)).await;
    let mut failures = outcomes.iter().filter(|o| matches!(o, Attempted::Failed { .. }));
    if let Some(Attempted::Failed { error, .. }) = failures.next() {
        tracing::warn!(failed = failures.count() + 1, attempted = outcomes.len(), first_error = %error,
            "webhooks not acknowledged; they will be retried");
    }
    Ok(outcomes)
}

/// Runs `attempt` on each item, [`PARALLEL`] at a time, starting none at or after
/// `last_start`; returns the outcomes of those it started.
async fn attempt_each<T, O, Fut>(items: Vec<T>, last_start: tokio::time::Instant, attempt: impl Fn(T) -> Fut) -> Vec<O>
where
    Fut: std::future::Future<Output = O>,
{
    let attempt = &attempt;
    futures::stream::iter(items)
        .map(|item| async move {
            if tokio::time::Instant::now() < last_start { Some(attempt(item).await) } else { None }
        })
        .buffer_unordered(PARALLEL)
        .filter_map(std::future::ready)
        .collect()
        .await
}

async fn attempt(state: &AppState, client: &reqwest::Client, d: Delivery) -> Attempted {
    match send(state, client, &d).await {
        Ok(()) => Attempted::Acknowledged { id: d.id },
        Err(error) => Attempted::Failed { next_attempt_at: now_ms() + backoff_ms(d.attempts), id: d.id, error },
    }
}

/// 1 s, 2 s, 4 s, … up to an hour, with up to 20% jitter so retries of many webhooks
/// spread out.
pub fn backoff_ms(attempts: i64) -> i64 {
    let base = 1000i64.saturating_mul(1 << attempts.clamp(0, 22)).min(MAX_BACKOFF_MS);
    base + rand::random::<u32>() as i64 % (base / 5 + 1)
}

async fn send(state: &AppState, client: &reqwest::Client, d: &Delivery) -> Result<(), String> {
    let notice = state.notice().map_err(|_| "no notice".to_string())?;
    let processor = notice.catalog.processor(&d.processor).ok_or("the processor is no longer in the catalog")?;
    let subject = match &d.sealed_subject {
        Some(sealed) => {
            let plain = state.outbox_key().open(SUBJECT_AAD, sealed).map_err(|e| e.to_string())?;
            Some(String::from_utf8(plain).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let data: Value = serde_json::from_str(&d.payload).map_err(|e| e.to_string())?;
    let body = json!({
        "id": d.id,
        "type": d.kind,
        "created_at": rfc3339(d.created_at),
        "subject": subject,
        "data": data,
    })
    .to_string();
    let timestamp = now_ms() / 1000;
    let response = client
        .post(&processor.url)
        .header("content-type", "application/json")
        .header("idempotency-key", &d.id)
        .header("candor-signature", signature(&processor.secret, timestamp, &body))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", e.without_url()))?;
    if response.status().is_success() { Ok(()) } else { Err(format!("answered {}", response.status())) }
}

/// The `Candor-Signature` header value for a body sent at `timestamp` (Unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every attempt of a pass hangs until it times out: the attempts that start are those
    /// that end within the claim's lease; the others wait for it to end.
    #[tokio::test(start_paused = true)]
    async fn a_pass_starts_no_attempt_that_could_outlive_its_lease() {
        let started = std::sync::atomic::AtomicUsize::new(0);
        let last_start = tokio::time::Instant::now() + LEASE - ATTEMPT_TIMEOUT;
        let outcomes = attempt_each((0..PASS).collect(), last_start, |i| {
            started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async move {
                tokio::time::sleep(ATTEMPT_TIMEOUT).await;
                i
            }
        })
        .await;
        // LEASE is three timeouts: two waves of PARALLEL attempts fit, the third would not.
        assert_eq!(outcomes.len(), 2 * PARALLEL);
        assert_eq!(started.into_inner(), 2 * PARALLEL, "no attempt began after the last start");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!((1000..=1200).contains(&backoff_ms(0)));
        assert!((8000..=9600).contains(&backoff_ms(3)));
        assert!(backoff_ms(40) <= MAX_BACKOFF_MS * 6 / 5);
    }

    #[test]
    fn signature_is_an_hmac_of_timestamp_and_body() {
        let sig = signature("secret", 1_700_000_000, "{}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_ne!(sig, signature("other", 1_700_000_000, "{}"));
        assert_ne!(sig, signature("secret", 1_700_000_001, "{}"));
    }
}
