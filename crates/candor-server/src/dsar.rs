//! Data-subject requests: export (JSON, or CSV files in a zip) and erasure (with a signed
//! certificate), each recorded as a DSAR and fanned out to the catalog's processors.

use std::collections::BTreeMap;
use std::io::Write;

use candor_core::benefit;
use candor_core::subject::SubjectId;
use candor_privacy::Pid;
use candor_store::dsar::{DUE_MS, DsarRow};
use candor_store::{ErasureCounts, ErasureRecord, NewDelivery};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::clock::{now_ms, rfc3339};
use crate::error::ApiError;
use crate::instance::audit_entry;
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;
use crate::subject_data::{self, EventOut, TraitOut, consent_rules};

/// Every event is exported; this bounds one response's memory (a subject past it gets
/// the newest ones and `events_truncated: true`).
pub const EXPORT_EVENT_LIMIT: i64 = 200_000;

/// Everything held about a subject.
#[derive(Serialize, ToSchema)]
pub struct Export {
    /// The host's id of the subject, as asked for; absent in an export made from the
    /// control panel, which knows the person only by their pseudonym.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When this export was made.
    pub exported_at: String,
    /// Who holds the data.
    pub organization: String,
    /// The notice version in force.
    pub notice_version: i64,
    /// Traits by field, with value, time, category, purposes and retention.
    #[schema(value_type = Object)]
    pub traits: BTreeMap<String, Value>,
    /// Events, newest first, with their stored properties.
    pub events: Vec<EventOut>,
    /// Whether older events were left out (see `EXPORT_EVENT_LIMIT`).
    pub events_truncated: bool,
    /// The consent ledger, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub consents: Vec<Value>,
    /// Signed consent receipts (compact JWS).
    #[schema(value_type = Vec<Object>)]
    pub receipts: Vec<Value>,
    /// Unlocked benefits with their codes.
    pub benefits: Vec<BenefitOut>,
    /// Every read of the data by an API key or an admin, newest first.
    #[schema(value_type = Vec<Object>)]
    pub access_log: Vec<Value>,
    /// Data-subject requests about this subject.
    #[schema(value_type = Vec<Object>)]
    pub requests: Vec<Value>,
}

/// An unlocked benefit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BenefitOut {
    /// Catalog id.
    pub id: String,
    /// Title (English).
    pub title: String,
    /// `discount`, `content` or `feature`.
    pub kind: String,
    /// The subject's own code, for discounts.
    pub code: Option<String>,
}

/// The benefits a subject has unlocked now, with codes.
pub async fn benefits(state: &AppState, notice: &CurrentNotice, pid: Pid) -> Result<Vec<BenefitOut>, ApiError> {
    let rules = consent_rules(state.store(), pid).await?;
    let codes = candor_privacy::BenefitCodes::new(state.pseudonyms());
    Ok(benefit::unlocked(&notice.catalog, &rules)
        .into_iter()
        .map(|b| BenefitOut {
            id: b.id.clone(),
            title: b.title.default.clone(),
            kind: b.kind.as_str().to_string(),
            code: (b.kind == candor_core::BenefitKind::Discount).then(|| codes.code(pid, &b.id)),
        })
        .collect())
}

/// 404 unless candor knows this subject (erased subjects are unknown).
pub async fn known_subject(state: &AppState, raw: &str) -> Result<(SubjectId, Pid), ApiError> {
    let id = SubjectId::parse(raw).map_err(|e| ApiError::invalid_field("id", e.reason()))?;
    let pid = state.pseudonyms().pid(id.expose());
    match state.store().subject(pid).await? {
        Some(s) if s.kind == "known" => Ok((id, pid)),
        _ => Err(ApiError::not_found("unknown subject")),
    }
}

/// Builds the export of a subject (everything held), records it as a completed DSAR (or
/// completes the open one named), audits it and tells processors.
///
/// `subject` is the host's id when the caller knows it (API, CLI). The control panel
/// knows only the pid: its export then carries no `subject`, and the processors' webhooks
/// name no subject either (they carry the DSAR id only).
pub async fn export(
    state: &AppState,
    subject: Option<&SubjectId>,
    pid: Pid,
    actor: &str,
    format: &str,
) -> Result<Export, ApiError> {
    let notice = state.notice()?;
    let held = subject_data::held_data(state, pid, EXPORT_EVENT_LIMIT).await?;
    let events_truncated = held.events.len() as i64 >= EXPORT_EVENT_LIMIT;
    let (trait_count, event_count) = (held.traits.len(), held.events.len());
    let traits = held
        .traits
        .into_iter()
        .map(|(field, TraitOut { value, at })| {
            let decl = notice.catalog.field(&field);
            let detail = json!({
                "value": value,
                "at": at,
                "category": decl.map(|f| f.category.clone()),
                "purposes": decl.map(|f| f.purposes.clone()),
                "retention_days": decl.map(|f| f.effective_retention_days(&notice.catalog)),
            });
            (field, detail)
        })
        .collect();
    let consents = state
        .store()
        .consent_history(pid)
        .await?
        .into_iter()
        .map(|r| {
            json!({"id": r.id, "purpose": r.purpose, "state": r.state, "notice_version": r.notice_version,
                "at": rfc3339(r.at), "source": r.source, "method": r.method,
                "proof": serde_json::from_str::<Value>(&r.proof).unwrap_or_default(), "receipt_id": r.receipt_id})
        })
        .collect();
    let receipts = state
        .store()
        .receipts(pid)
        .await?
        .into_iter()
        .map(|r| json!({"id": r.id, "at": rfc3339(r.at), "jws": r.jws}))
        .collect();
    let access_log = state
        .store()
        .data_reads(pid)
        .await?
        .into_iter()
        .map(|r| json!({"at": rfc3339(r.at), "actor": r.actor, "purpose": r.purpose, "fields": split(&r.fields)}))
        .collect();
    let now = now_ms();
    let dsar_id = uuid::Uuid::now_v7().to_string();
    let row = DsarRow {
        id: dsar_id.clone(),
        kind: "export".into(),
        status: "completed".into(),
        created_at: now,
        due_at: now + DUE_MS,
        completed_at: Some(now),
        note: format!("exported as {format} by {actor}"),
        result: Some(json!({"format": format, "events": event_count, "traits": trait_count}).to_string()),
    };
    let deliveries = processor_deliveries(
        state,
        &notice,
        "dsar.export",
        subject,
        Some(&dsar_id),
        now,
        |_| json!({"dsar_id": dsar_id, "kind": "export"}),
    );
    let audit = audit_entry(actor, "subject.exported", Some(pid), json!({"dsar": dsar_id, "format": format}));
    let chain = candor_privacy::AuditChain::new(state.signer());
    state.store().create_dsar(pid, &row, &deliveries, &chain, audit).await?;
    if !deliveries.is_empty() {
        state.wake_outbox();
    }
    let requests = state.store().subject_dsars(pid).await?.into_iter().map(|d| dsar_json(&d)).collect();
    Ok(Export {
        subject: subject.map(|s| s.expose().to_string()),
        exported_at: rfc3339(now),
        organization: notice.catalog.organization.name.clone(),
        notice_version: notice.version,
        traits,
        events: held.events,
        events_truncated,
        consents,
        receipts,
        benefits: benefits(state, &notice, pid).await?,
        access_log,
        requests,
    })
}

fn split(fields: &str) -> Vec<&str> {
    fields.split(',').filter(|f| !f.is_empty()).collect()
}

/// A DSAR row as JSON (without processor acknowledgements).
pub fn dsar_json(d: &DsarRow) -> Value {
    json!({"id": d.id, "kind": d.kind, "status": d.status, "created_at": rfc3339(d.created_at),
        "due_at": rfc3339(d.due_at), "completed_at": d.completed_at.map(rfc3339), "note": d.note})
}

/// The export as CSV files in a zip: one file per kind of data, plus the whole export
/// as JSON for machines.
pub fn export_zip(export: &Export) -> Result<Vec<u8>, ApiError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: Vec<u8>| -> Result<(), ApiError> {
        zip.start_file(name, options).map_err(ApiError::internal)?;
        zip.write_all(&bytes).map_err(ApiError::internal)
    };
    let cell = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let table = |header: &[&str], rows: Vec<Vec<String>>| -> Result<Vec<u8>, ApiError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header).map_err(ApiError::internal)?;
        for row in rows {
            w.write_record(&row).map_err(ApiError::internal)?;
        }
        w.into_inner().map_err(ApiError::internal)
    };
    let traits = export
        .traits
        .iter()
        .map(|(field, t)| {
            vec![field.clone(), cell(&t["value"]), cell(&t["at"]), cell(&t["category"]), cell(&t["purposes"])]
        })
        .collect();
    add("traits.csv", table(&["field", "value", "at", "category", "purposes"], traits)?)?;
    let events = export
        .events
        .iter()
        .map(|e| vec![e.id.clone(), e.kind.clone(), e.at.clone(), Value::Object(e.properties.clone()).to_string()])
        .collect();
    add("events.csv", table(&["id", "type", "at", "properties"], events)?)?;
    let consents = export
        .consents
        .iter()
        .map(|c| {
            ["id", "purpose", "state", "notice_version", "at", "source", "method", "receipt_id"]
                .iter()
                .map(|k| cell(&c[*k]))
                .collect()
        })
        .collect();
    add(
        "consents.csv",
        table(&["id", "purpose", "state", "notice_version", "at", "source", "method", "receipt_id"], consents)?,
    )?;
    let receipts = export.receipts.iter().map(|r| vec![cell(&r["id"]), cell(&r["at"]), cell(&r["jws"])]).collect();
    add("receipts.csv", table(&["id", "at", "jws"], receipts)?)?;
    let benefits = export
        .benefits
        .iter()
        .map(|b| vec![b.id.clone(), b.title.clone(), b.kind.clone(), b.code.clone().unwrap_or_default()])
        .collect();
    add("benefits.csv", table(&["id", "title", "kind", "code"], benefits)?)?;
    let reads = export
        .access_log
        .iter()
        .map(|r| vec![cell(&r["at"]), cell(&r["actor"]), cell(&r["purpose"]), cell(&r["fields"])])
        .collect();
    add("access_log.csv", table(&["at", "actor", "purpose", "fields"], reads)?)?;
    add("export.json", serde_json::to_vec_pretty(export).map_err(ApiError::internal)?)?;
    Ok(zip.finish().map_err(ApiError::internal)?.into_inner())
}

/// A signed erasure certificate.
#[derive(Serialize, ToSchema)]
pub struct ErasureOut {
    /// What was erased and when.
    #[schema(value_type = Object)]
    pub certificate: Value,
    /// The certificate as a compact JWS (EdDSA), verifiable with the receipt key.
    pub certificate_jws: String,
}

/// Erases a subject: its key is destroyed and its rows deleted in one transaction; the
/// DSAR (the open one named, or a new one) is completed with the signed certificate, and
/// every processor is told to erase too. `None` if the subject is unknown.
///
/// `subject` is the host's id when the caller knows it (API, CLI); processors need it to
/// find the person in their own records. An erasure from the control panel has only the
/// pid, so its webhooks carry no subject id: a processor gets only the DSAR id, and the
/// operator has to tell it whom the request concerns.
pub async fn erase(
    state: &AppState,
    subject: Option<&SubjectId>,
    pid: Pid,
    actor: &str,
    dsar_id: Option<String>,
) -> Result<Option<ErasureOut>, ApiError> {
    let notice = state.notice()?;
    let now = now_ms();
    let dsar_id = dsar_id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let deliveries = processor_deliveries(
        state,
        &notice,
        "dsar.erasure",
        subject,
        Some(&dsar_id),
        now,
        |_| json!({"dsar_id": dsar_id, "kind": "erasure"}),
    );
    let chain = candor_privacy::AuditChain::new(state.signer());
    let mut signed = None;
    let record = |counts: &ErasureCounts| {
        let certificate = json!({
            "certificate_id": dsar_id,
            "organization": notice.catalog.organization.name,
            "subject": pid.to_hex(),
            "erased_at": rfc3339(now),
            "erased": counts,
            "processors_notified": deliveries.iter().map(|d| d.processor.clone()).collect::<Vec<_>>(),
            "method": "subject key destroyed; bucket key and master key replaced; rows deleted",
        });
        let jws = state.signer().sign(&certificate);
        let result = json!({"certificate": certificate, "certificate_jws": jws}).to_string();
        signed = Some((certificate, jws));
        ErasureRecord {
            dsar_id: dsar_id.clone(),
            note: format!("erased by {actor}"),
            result,
            audit: audit_entry(actor, "subject.erased", Some(pid), json!({"dsar": dsar_id, "erased": counts})),
            deliveries: deliveries.clone(),
        }
    };
    let erased = state.store().erase_subject(state.keyring(), pid, now, &chain, record).await?;
    state.consents().forget(&pid);
    if erased.is_none() {
        return Ok(None);
    }
    if !deliveries.is_empty() {
        state.wake_outbox();
    }
    let (certificate, certificate_jws) = signed.expect("the record closure ran");
    Ok(Some(ErasureOut { certificate, certificate_jws }))
}

/// One webhook per processor of the catalog (DSARs concern every processor: each may hold
/// data of the subject). The subject's id is sealed until the processor acknowledges.
pub fn processor_deliveries(
    state: &AppState,
    notice: &CurrentNotice,
    kind: &str,
    subject: Option<&SubjectId>,
    dsar_id: Option<&str>,
    now: i64,
    payload: impl Fn(&str) -> Value,
) -> Vec<NewDelivery> {
    notice
        .catalog
        .processors
        .iter()
        .map(|p| {
            let id = uuid::Uuid::now_v7().to_string();
            let sealed_subject = subject.map(|s| crate::delivery::seal_subject(state.outbox_key(), s.expose()));
            NewDelivery {
                payload: payload(&p.id).to_string(),
                id,
                processor: p.id.clone(),
                kind: kind.to_string(),
                sealed_subject,
                dsar_id: dsar_id.map(str::to_string),
                created_at: now,
            }
        })
        .collect()
}
