//! Subject data in and out: what the gate admits is sealed with the subject's key and
//! stored; what is read is opened and filtered by purpose. The only code that holds
//! plaintext values next to a subject.

use std::collections::{BTreeMap, HashMap};

use candor_core::consent::LatestRecord;
use candor_core::gate::{Admission, DropReason, Dropped};
use candor_core::subject::SubjectId;
use candor_privacy::sealing::{event_aad, trait_aad};
use candor_privacy::{Pid, SealingKey};
use candor_store::{EventRow, NewEvent, Store, StoreError, TraitRow, latest_per_purpose};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::clock::{now_ms, parse_rfc3339, rfc3339};
use crate::consent_writer::rules_view;
use crate::error::{ApiError, FieldError};
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;

/// The most events one request may carry.
pub const MAX_EVENTS: usize = 1000;

/// What happened to one event or trait update.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IngestResult {
    /// Whether anything was stored.
    pub accepted: bool,
    /// Fields stored.
    pub stored: Vec<String>,
    /// Fields not stored, each with why.
    pub dropped: Vec<DroppedOut>,
}

/// A datum not stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DroppedOut {
    /// The field (or part of the event) concerned.
    pub field: String,
    /// `undeclared_event`, `undeclared_field`, `no_consent`, `consent_stale` or `invalid_value`.
    pub reason: String,
}

impl From<&Dropped> for DroppedOut {
    fn from(d: &Dropped) -> DroppedOut {
        DroppedOut { field: d.field.clone(), reason: d.reason.as_str().to_string() }
    }
}

impl IngestResult {
    fn from_admission(a: &Admission) -> IngestResult {
        IngestResult {
            accepted: a.accepted(),
            stored: a.stored.iter().map(|(f, _)| f.clone()).collect(),
            dropped: a.dropped.iter().map(DroppedOut::from).collect(),
        }
    }

    fn rejected(field: &str, reason: DropReason) -> IngestResult {
        IngestResult {
            accepted: false,
            stored: Vec::new(),
            dropped: vec![DroppedOut { field: field.into(), reason: reason.as_str().into() }],
        }
    }
}

/// One event as sent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventIn {
    subject: String,
    #[serde(rename = "type")]
    kind: String,
    at: Option<String>,
    #[serde(default)]
    properties: Map<String, Value>,
}

/// An event that passed the gate, before sealing.
struct Admitted {
    pid: Pid,
    kind: String,
    at: i64,
    stored: Vec<(String, Value)>,
}

/// The newest consent record per purpose, in the form the rules use.
pub async fn consent_rules(store: &Store, pid: Pid) -> Result<HashMap<String, LatestRecord>, StoreError> {
    Ok(rules_view(&latest_per_purpose(store.consent_states(pid).await?)))
}

/// Gates, seals and stores a batch of events. One bad event fails only itself; with
/// `strict`, any drop fails the whole batch (422) and nothing is stored.
pub async fn ingest_events(state: &AppState, events: Vec<Value>, strict: bool) -> Result<Vec<IngestResult>, ApiError> {
    if events.len() > MAX_EVENTS {
        return Err(ApiError::too_large(format!("at most {MAX_EVENTS} events per request")));
    }
    let notice = state.notice()?;
    let gate = notice.gate();
    let now = now_ms();
    let mut results: Vec<Option<IngestResult>> = vec![None; events.len()];
    let mut parsed: Vec<(usize, Pid, i64, EventIn)> = Vec::with_capacity(events.len());
    for (index, raw) in events.into_iter().enumerate() {
        match parse_event(state, raw, now) {
            Ok((pid, at, event)) => parsed.push((index, pid, at, event)),
            Err(rejected) => results[index] = Some(rejected),
        }
    }
    // One query for the consents of every subject in the batch.
    let mut pids: Vec<Pid> = parsed.iter().map(|(_, pid, _, _)| *pid).collect();
    pids.sort();
    pids.dedup();
    let mut histories = state.store().known_consent_states(&pids).await?;
    let rules: HashMap<Pid, HashMap<String, LatestRecord>> = pids
        .iter()
        .map(|pid| (*pid, rules_view(&latest_per_purpose(histories.remove(pid).unwrap_or_default()))))
        .collect();
    let mut admitted: Vec<Admitted> = Vec::new();
    for (index, pid, at, event) in parsed {
        let admission = gate.admit_event(&event.kind, &event.properties, &rules[&pid]);
        results[index] = Some(IngestResult::from_admission(&admission));
        if admission.accepted() {
            admitted.push(Admitted { pid, kind: event.kind, at, stored: admission.stored });
        }
    }
    let results: Vec<IngestResult> = results.into_iter().map(|r| r.expect("every event has a result")).collect();
    if strict {
        reject_if_dropped(&results, |i| format!("events[{i}]"))?;
    }
    let mut owners: Vec<Pid> = admitted.iter().map(|e| e.pid).collect();
    owners.sort();
    owners.dedup();
    let mut keys = state.store().subject_keys(state.keyring(), &owners).await?;
    for pid in owners {
        if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(pid) {
            slot.insert(state.store().ensure_subject_key(state.keyring(), pid, now).await?);
        }
    }
    let rows: Vec<NewEvent> = admitted.into_iter().map(|event| seal_event(&keys[&event.pid], event)).collect();
    state.events().write(rows).await.map_err(|e| match e {
        crate::event_writer::WriteError::Failed(reason) if reason == "unavailable" => {
            ApiError::unavailable("the database is unavailable; nothing was stored, retry shortly")
        }
        other => ApiError::internal(other),
    })?;
    Ok(results)
}

/// Reads one event of a batch: its subject's pid, its time, its fields; or why it fails.
fn parse_event(state: &AppState, raw: Value, now: i64) -> Result<(Pid, i64, EventIn), IngestResult> {
    let event: EventIn = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        IngestResult::rejected(if path == "." { "event" } else { &path }, DropReason::InvalidValue)
    })?;
    let subject =
        SubjectId::parse(&event.subject).map_err(|_| IngestResult::rejected("subject", DropReason::InvalidValue))?;
    let at = match &event.at {
        None => now,
        Some(text) => parse_rfc3339(text).ok_or_else(|| IngestResult::rejected("at", DropReason::InvalidValue))?,
    };
    Ok((state.pseudonyms().pid(subject.expose()), at, event))
}

/// Gates, seals and stores a trait update of one subject.
pub async fn ingest_traits(
    state: &AppState,
    pid: Pid,
    traits: &Map<String, Value>,
    strict: bool,
) -> Result<IngestResult, ApiError> {
    let notice = state.notice()?;
    let rules = consent_rules(state.store(), pid).await?;
    let admission = notice.gate().admit_traits(traits, &rules);
    let result = IngestResult::from_admission(&admission);
    if strict {
        reject_if_dropped(std::slice::from_ref(&result), |_| "traits".to_string())?;
    }
    if admission.accepted() {
        let now = now_ms();
        let key = state.store().ensure_subject_key(state.keyring(), pid, now).await?;
        let rows: Vec<(String, i64, Vec<u8>)> = admission
            .stored
            .iter()
            .map(|(field, value)| {
                let plain = serde_json::to_vec(value).expect("JSON values serialize");
                (field.clone(), now, key.seal(&trait_aad(&pid, field), &plain))
            })
            .collect();
        state.store().upsert_traits(pid, &rows).await?;
    }
    Ok(result)
}

fn reject_if_dropped(results: &[IngestResult], prefix: impl Fn(usize) -> String) -> Result<(), ApiError> {
    let errors: Vec<FieldError> = results
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            let prefix = prefix(i);
            r.dropped.iter().map(move |d| FieldError::new(format!("{prefix}.{}", d.field), d.reason.clone()))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("strict: some data would be dropped, so nothing was stored", errors))
    }
}

fn seal_event(key: &SealingKey, event: Admitted) -> NewEvent {
    let id = *uuid::Uuid::now_v7().as_bytes();
    let fields = event.stored.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(",");
    let properties: Map<String, Value> = event.stored.into_iter().collect();
    let plain = serde_json::to_vec(&properties).expect("JSON values serialize");
    let sealed = key.seal(&event_aad(&event.pid, &id, &fields), &plain);
    NewEvent { pid: event.pid, id, kind: event.kind, at: event.at, fields, sealed }
}

/// A stored event, opened.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventOut {
    /// Its id.
    pub id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened.
    pub at: String,
    /// The stored properties.
    #[schema(value_type = Object)]
    pub properties: Map<String, Value>,
}

/// A stored trait, opened.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TraitOut {
    /// The value.
    #[schema(value_type = Object)]
    pub value: Value,
    /// When it was set.
    pub at: String,
}

/// Opens a trait row.
pub fn open_trait(key: &SealingKey, pid: &Pid, row: &TraitRow) -> Result<TraitOut, ApiError> {
    let plain = key.open(&trait_aad(pid, &row.field), &row.sealed).map_err(ApiError::internal)?;
    let value = serde_json::from_slice(&plain).map_err(ApiError::internal)?;
    Ok(TraitOut { value, at: rfc3339(row.at) })
}

/// Opens an event row's properties.
pub fn open_event_properties(key: &SealingKey, pid: &Pid, row: &EventRow) -> Result<Map<String, Value>, ApiError> {
    let id: [u8; 16] = row.id.as_slice().try_into().map_err(|_| ApiError::internal("event id length"))?;
    let plain = key.open(&event_aad(pid, &id, &row.fields), &row.sealed).map_err(ApiError::internal)?;
    serde_json::from_slice(&plain).map_err(ApiError::internal)
}

/// Opens an event row.
pub fn open_event(key: &SealingKey, pid: &Pid, row: &EventRow) -> Result<EventOut, ApiError> {
    let properties = open_event_properties(key, pid, row)?;
    let id = uuid::Uuid::from_slice(&row.id).map_err(ApiError::internal)?;
    Ok(EventOut { id: id.to_string(), kind: row.kind.clone(), at: rfc3339(row.at), properties })
}

/// Everything held about a subject, opened: traits by field, events newest first.
pub struct HeldData {
    /// Traits by field.
    pub traits: BTreeMap<String, TraitOut>,
    /// Events, newest first.
    pub events: Vec<EventOut>,
}

/// Opens all of a subject's data (export, control panel). A subject without a key holds
/// no data.
pub async fn held_data(state: &AppState, pid: Pid, event_limit: i64) -> Result<HeldData, ApiError> {
    let Some(key) = state.store().subject_key(state.keyring(), pid).await? else {
        return Ok(HeldData { traits: BTreeMap::new(), events: Vec::new() });
    };
    let mut traits = BTreeMap::new();
    for row in state.store().traits(pid).await? {
        traits.insert(row.field.clone(), open_trait(&key, &pid, &row)?);
    }
    let events = state
        .store()
        .events(pid, event_limit)
        .await?
        .iter()
        .map(|row| open_event(&key, &pid, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HeldData { traits, events })
}

/// The data a read for `purpose` may return now: only fields of that purpose with a
/// current basis (SPEC §3.4). Returns the fields allowed and the data.
pub async fn purpose_data(
    state: &AppState,
    notice: &CurrentNotice,
    pid: Pid,
    purpose: &str,
    event_limit: i64,
) -> Result<(Vec<String>, HeldData), ApiError> {
    let rules = consent_rules(state.store(), pid).await?;
    let allowed: Vec<String> = notice.gate().readable_fields(purpose, &rules).into_iter().map(str::to_string).collect();
    let mut held = HeldData { traits: BTreeMap::new(), events: Vec::new() };
    if allowed.is_empty() {
        return Ok((allowed, held));
    }
    let Some(key) = state.store().subject_key(state.keyring(), pid).await? else { return Ok((allowed, held)) };
    for row in state.store().traits(pid).await? {
        if allowed.contains(&row.field) {
            held.traits.insert(row.field.clone(), open_trait(&key, &pid, &row)?);
        }
    }
    for row in state.store().events(pid, event_limit).await? {
        if !row.fields.split(',').any(|f| allowed.iter().any(|a| a == f)) {
            continue;
        }
        let mut event = open_event(&key, &pid, &row)?;
        event.properties.retain(|field, _| allowed.contains(field));
        held.events.push(event);
    }
    Ok((allowed, held))
}
