//! Recording consent with group commit. Consent is proof, so a write is acknowledged only
//! after it is durable (SQLite `synchronous=FULL`, PostgreSQL commit). One task drains
//! every request waiting at that moment into one transaction, so concurrent callers share
//! one fsync instead of queueing for one each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use candor_core::consent::{self, ConsentState, LatestRecord, Method, Source};
use candor_privacy::audit::AuditChain;
use candor_privacy::{Pid, ReceiptSigner};
use candor_store::{
    Ahead, ConsentRecord, ConsentRequest, NewDelivery, PreparedConsent, Store, SubjectKind, latest_per_purpose,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::clock::{now_ms, rfc3339};
use crate::consent_cache::{ConsentCache, Latest};
use crate::error::{ApiError, FieldError};
use crate::instance::audit_entry;
use crate::notice_cache::{CurrentNotice, NoticeCache};

/// At most this many requests share one transaction.
const MAX_BATCH: usize = 256;

/// How long a batch may wait for the requests that recent load says are coming.
const MAX_LINGER: Duration = Duration::from_millis(1);

/// One consent request, validated for shape, waiting to be recorded.
#[derive(Debug)]
pub struct ConsentJob {
    /// The subject named.
    pub pid: Pid,
    /// Known or anonymous.
    pub kind: SubjectKind,
    /// Explicit choices.
    pub choices: BTreeMap<String, bool>,
    /// The notice version the subject saw.
    pub notice_version: i64,
    /// Where the choice was made.
    pub source: Source,
    /// Whether a Global Privacy Control signal came with it.
    pub gpc: bool,
    /// Who called (`key:<id>` or `public`).
    pub actor: String,
    /// Browser user agent, for the proof.
    pub user_agent: Option<String>,
    /// Page the choice was made on, for the proof.
    pub page: Option<String>,
    /// The host's subject id sealed for the webhook outbox (known subjects only), so
    /// processors of the changed purposes can be told whom the change concerns.
    pub sealed_subject: Option<Vec<u8>>,
}

/// A signed consent receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receipt {
    /// Receipt id (UUIDv7).
    pub receipt_id: String,
    /// When it was issued.
    pub issued_at: String,
    /// Who collects the data.
    pub organization: ReceiptOrganization,
    /// The subject's pseudonymous id (hex), never the external id.
    pub subject: String,
    /// The notice version the choices were made under.
    pub notice_version: i64,
    /// SHA-256 of that notice's exact text.
    pub notice_sha256: String,
    /// Where the choices were made.
    pub source: String,
    /// Every purpose with its state after this request.
    pub purposes: Vec<ReceiptPurpose>,
}

/// The organization named on a receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptOrganization {
    /// Name.
    pub name: String,
    /// Privacy contact.
    pub contact: String,
}

/// One purpose on a receipt.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceiptPurpose {
    /// Purpose id.
    pub purpose: String,
    /// Its legal basis.
    pub legal_basis: String,
    /// Its state after this request.
    pub state: String,
    /// Whether this request recorded it.
    pub changed: bool,
    /// How it was expressed, when recorded now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

/// What a recorded request returns.
#[derive(Debug)]
pub struct ConsentOutcome {
    /// The receipt.
    pub receipt: Receipt,
    /// The receipt as a compact JWS.
    pub receipt_jws: String,
    /// State per purpose after the write.
    pub state: BTreeMap<String, String>,
    /// Purposes to ask again about.
    pub needs_reconsent: Vec<String>,
    /// The subject that holds the rows (a merged anonymous visitor's known subject).
    pub target: Pid,
    /// That subject's newest row per purpose after the write (proofs left out), for the
    /// consent cache; `None` for anonymous visitors, whom the cache does not hold.
    pub latest: Option<Latest>,
}

type Reply = oneshot::Sender<Result<ConsentOutcome, ApiError>>;

/// Handle to the group-commit task.
#[derive(Clone)]
pub struct ConsentWriter {
    tx: mpsc::Sender<(ConsentJob, Reply)>,
}

impl ConsentWriter {
    /// Starts the writer task.
    pub fn start(store: Store, signer: ReceiptSigner, notices: NoticeCache, cache: ConsentCache) -> ConsentWriter {
        let (tx, rx) = mpsc::channel(4096);
        tokio::spawn(run(rx, store, signer, notices, cache));
        ConsentWriter { tx }
    }

    /// Records one request; returns once it is durable (or refused).
    pub async fn submit(&self, job: ConsentJob) -> Result<ConsentOutcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((job, reply)).await.map_err(|_| ApiError::unavailable("the consent writer stopped"))?;
        answer.await.map_err(|_| ApiError::unavailable("the consent writer stopped"))?
    }
}

async fn run(
    mut rx: mpsc::Receiver<(ConsentJob, Reply)>,
    store: Store,
    signer: ReceiptSigner,
    notices: NoticeCache,
    cache: ConsentCache,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut recent = [0usize; 2];
    let mut committing: Option<oneshot::Receiver<()>> = None;
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Adaptive group commit: when the last batches were larger than what is queued,
        // the callers they answered are about to send again; waiting up to MAX_LINGER for
        // them lets one fsync serve them all instead of splitting the load into
        // alternating half-batches. Under light load the recent sizes are small and
        // nothing waits.
        let expected = recent.iter().copied().max().unwrap_or(0).min(MAX_BATCH);
        let deadline = tokio::time::Instant::now() + MAX_LINGER;
        while batch.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => batch.push(job),
                _ => break,
            }
        }
        recent = [recent[1], batch.len()];
        let jobs = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        let notice = notices.get();
        let requests: Vec<ConsentRequest> =
            jobs.iter().map(|(job, _)| ConsentRequest { pid: job.pid, kind: job.kind }).collect();

        // Pipelining: read and decide this batch (and sign its receipts) outside the write
        // lock, while the previous batch commits; the commit re-checks what it relied on.
        let ahead = match store.consent_snapshot(&requests).await {
            Ok(mut snapshot) => {
                let prepared = jobs
                    .iter()
                    .enumerate()
                    .map(|(i, (job, _))| {
                        let target = snapshot.target(i);
                        let current = snapshot.current();
                        let history = snapshot.history(target);
                        let result = prepare(
                            job,
                            target,
                            current,
                            latest_per_purpose(history.clone()),
                            notice.as_deref(),
                            &signer,
                        );
                        if let Ok((p, _)) = &result {
                            history.extend(p.rows.iter().cloned());
                        }
                        result
                    })
                    .collect();
                Some((snapshot, prepared))
            }
            Err(e) => {
                tracing::warn!(error = %e, "consent snapshot failed; the batch is prepared inside its transaction");
                None
            }
        };
        // The previous batch must have committed (its flush may still be in flight: this
        // batch's statements run meanwhile, and its own flush covers both).
        if let Some(previous) = committing.take() {
            let _ = previous.await;
        }
        let (committed, next) = oneshot::channel();
        let task = commit(
            jobs,
            requests,
            ahead,
            store.clone(),
            signer.clone(),
            notices.clone(),
            notice,
            cache.clone(),
            committed,
        );
        tokio::spawn(task);
        committing = Some(next);
    }
}

/// Commits one prepared batch, updates the consent cache, says so on `committed` (the next
/// batch may then begin), and answers its callers once the batch is flushed to disk.
#[allow(clippy::too_many_arguments)]
async fn commit(
    jobs: Vec<(ConsentJob, Reply)>,
    requests: Vec<ConsentRequest>,
    ahead: Option<Ahead<ConsentOutcome, ApiError>>,
    store: Store,
    signer: ReceiptSigner,
    notices: NoticeCache,
    notice: Option<Arc<CurrentNotice>>,
    cache: ConsentCache,
    committed: oneshot::Sender<()>,
) {
    let started = std::time::Instant::now();
    let chain = AuditChain::new(&signer);
    // Another process may have published a version the cache has not loaded yet.
    let mut cache_behind =
        ahead.as_ref().is_some_and(|(s, _)| notice.as_ref().is_none_or(|n| n.version != s.current()));
    let result = store
        .record_consents(&requests, ahead, &chain, |i, target, current, latest| {
            cache_behind |= notice.as_ref().is_none_or(|n| n.version != current);
            prepare(&jobs[i].0, target, current, latest, notice.as_deref(), &signer)
        })
        .await;
    tracing::debug!(requests = jobs.len(), micros = started.elapsed().as_micros() as u64, "consent batch committed");
    match result {
        Ok((outcomes, audit_head, unflushed)) => {
            // In commit order: the next batch begins only after these puts.
            for outcome in outcomes.iter().flatten() {
                if let Some(latest) = &outcome.latest {
                    cache.put(outcome.target, latest.clone(), audit_head);
                }
            }
            let _ = committed.send(());
            match unflushed.flush().await {
                Ok(()) => {
                    for ((_, reply), outcome) in jobs.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, requests = jobs.len(), "consent batch committed but not flushed to disk");
                    for (_, reply) in jobs {
                        let _ = reply.send(Err(ApiError::unavailable(
                            "the write could not be confirmed on disk; retry (a retry records the same choices again)",
                        )));
                    }
                }
            }
        }
        Err(e) => {
            let _ = committed.send(());
            let unavailable = e.is_unavailable();
            tracing::error!(error = %e, requests = jobs.len(), "consent batch failed; nothing was recorded");
            for (_, reply) in jobs {
                let _ = reply.send(Err(if unavailable {
                    ApiError::unavailable("the database is unavailable; nothing was recorded, retry shortly")
                } else {
                    ApiError::opaque_internal()
                }));
            }
        }
    }
    if cache_behind && let Err(e) = notices.refresh(&store).await {
        tracing::warn!(error = %e, "notice refresh failed");
    }
}

/// `consent.changed` webhooks for every processor that receives a purpose decided here.
fn consent_deliveries(
    notice: &CurrentNotice,
    decisions: &[consent::Decision],
    sealed_subject: &[u8],
    version: i64,
    receipt_id: &str,
    at: i64,
) -> Vec<NewDelivery> {
    notice
        .catalog
        .processors
        .iter()
        .filter_map(|p| {
            let purposes: BTreeMap<&str, &str> = decisions
                .iter()
                .filter(|d| p.purposes.contains(&d.purpose))
                .map(|d| (d.purpose.as_str(), d.state.as_str()))
                .collect();
            (!purposes.is_empty()).then(|| NewDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                processor: p.id.clone(),
                kind: "consent.changed".into(),
                payload: serde_json::json!({"purposes": purposes, "notice_version": version, "receipt_id": receipt_id})
                    .to_string(),
                sealed_subject: Some(sealed_subject.to_vec()),
                dsar_id: None,
                created_at: at,
            })
        })
        .collect()
}

fn to_rule(r: &ConsentRecord) -> Option<LatestRecord> {
    Some(LatestRecord {
        state: ConsentState::parse(&r.state)?,
        notice_version: r.notice_version,
        at_ms: r.at,
        method: Method::parse(&r.method)?,
    })
}

/// The effective state name of every purpose of the notice.
pub fn effective_states(notice: &CurrentNotice, latest: &HashMap<String, LatestRecord>) -> BTreeMap<String, String> {
    notice
        .notice
        .purposes
        .iter()
        .map(|p| {
            let state = match latest.get(&p.id) {
                Some(r) if !p.legal_basis.always_on() => r.state,
                _ => consent::default_state(p),
            };
            (p.id.clone(), state.as_str().to_string())
        })
        .collect()
}

/// Converts stored newest rows into the rules' view.
pub fn rules_view(latest: &HashMap<String, ConsentRecord>) -> HashMap<String, LatestRecord> {
    latest.iter().filter_map(|(p, r)| Some((p.clone(), to_rule(r)?))).collect()
}

fn prepare(
    job: &ConsentJob,
    target: Pid,
    current: i64,
    latest: HashMap<String, ConsentRecord>,
    notice: Option<&CurrentNotice>,
    signer: &ReceiptSigner,
) -> Result<(PreparedConsent, ConsentOutcome), ApiError> {
    if job.notice_version != current {
        return Err(ApiError::stale_notice(job.notice_version, current));
    }
    let Some(notice) = notice.filter(|n| n.version == current) else {
        return Err(ApiError::unavailable("a new notice version is being loaded; retry shortly"));
    };
    let mut rules = rules_view(&latest);
    let decisions = consent::decide(&notice.notice, &rules, &job.choices, job.gpc, job.source).map_err(|errors| {
        let errors: Vec<FieldError> =
            errors.into_iter().map(|e| FieldError::new(format!("choices.{}", e.purpose), e.reason)).collect();
        ApiError::invalid("some choices cannot be recorded", errors)
    })?;

    let at = now_ms();
    let receipt_id = uuid::Uuid::now_v7().to_string();
    let proof = serde_json::json!({
        "notice_sha256": notice.sha256,
        "user_agent": job.user_agent,
        "page": job.page,
        "gpc": job.gpc,
    })
    .to_string();
    let rows: Vec<ConsentRecord> = decisions
        .iter()
        .map(|d| ConsentRecord {
            id: uuid::Uuid::now_v7().to_string(),
            purpose: d.purpose.clone(),
            state: d.state.as_str().to_string(),
            notice_version: current,
            at,
            source: job.source.as_str().to_string(),
            method: d.method.as_str().to_string(),
            proof: proof.clone(),
            receipt_id: receipt_id.clone(),
        })
        .collect();
    for d in &decisions {
        rules.insert(
            d.purpose.clone(),
            LatestRecord { state: d.state, notice_version: current, at_ms: at, method: d.method },
        );
    }
    let state = effective_states(notice, &rules);
    let needs_reconsent = consent::needs_reconsent(&notice.notice, &notice.last_material, &rules, at);
    let org = &notice.notice.organization;
    let receipt = Receipt {
        receipt_id: receipt_id.clone(),
        issued_at: rfc3339(at),
        organization: ReceiptOrganization { name: org.name.clone(), contact: org.contact.clone() },
        subject: target.to_hex(),
        notice_version: current,
        notice_sha256: notice.sha256.clone(),
        source: job.source.as_str().to_string(),
        purposes: notice
            .notice
            .purposes
            .iter()
            .map(|p| {
                let decided = decisions.iter().find(|d| d.purpose == p.id);
                ReceiptPurpose {
                    purpose: p.id.clone(),
                    legal_basis: p.legal_basis.as_str().to_string(),
                    state: state[&p.id].clone(),
                    changed: decided.is_some(),
                    method: decided.map(|d| d.method.as_str().to_string()),
                }
            })
            .collect(),
    };
    let receipt_jws = signer.sign(&receipt);
    let changes: BTreeMap<&str, &str> = decisions.iter().map(|d| (d.purpose.as_str(), d.state.as_str())).collect();
    let audit = audit_entry(
        &job.actor,
        "consent.recorded",
        Some(target),
        serde_json::json!({"purposes": changes, "notice_version": current, "source": job.source.as_str(), "receipt_id": receipt_id}),
    );
    let deliveries = match &job.sealed_subject {
        Some(sealed) => consent_deliveries(notice, &decisions, sealed, current, &receipt_id, at),
        None => Vec::new(),
    };
    let latest = (job.kind == SubjectKind::Known || target != job.pid).then(|| {
        let mut newest = latest;
        newest.extend(rows.iter().map(|row| (row.purpose.clone(), row.clone())));
        newest.values_mut().for_each(|row| row.proof.clear());
        Arc::new(newest)
    });
    let prepared = PreparedConsent { rows, receipt_id, receipt_jws: receipt_jws.clone(), at, audit, deliveries };
    Ok((prepared, ConsentOutcome { receipt, receipt_jws, state, needs_reconsent, target, latest }))
}
