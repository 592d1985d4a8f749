//! The sweeper: deletes data whose purposes all lost their basis (withdrawal, objection, a
//! field removed from the catalog) and data past its retention, and finishes erasures by
//! deleting the unreadable rows of erased subjects. Runs every `sweep_interval_secs`
//! (30 s by default, at most 60, so withdrawn data goes within a minute) in the server and
//! once with `candor sweep`.

use std::collections::HashMap;
use std::time::Duration;

use candor_core::gate::Gate;
use candor_privacy::sealing::event_aad;
use candor_privacy::{Pid, SealingKey};
use candor_store::{Keyring, Store, StoreError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::now_ms;
use crate::notice_cache::CurrentNotice;
use crate::state::AppState;
use crate::subject_data::consent_rules;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// Consent changes are re-read over this window, so a ledger row committed late (its
/// time is taken before its commit) is never skipped.
const LATE_COMMIT_MS: i64 = 60_000;
const BATCH: i64 = 5000;

/// What one sweep removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Subjects whose consent changed (or all, after a catalog change) that were checked.
    pub subjects_checked: usize,
    /// Trait values deleted (basis lost or retention passed).
    pub traits_deleted: u64,
    /// Events deleted whole.
    pub events_deleted: u64,
    /// Events that lost some fields and were sealed again with the rest.
    pub events_trimmed: u64,
    /// Rows of erased subjects deleted.
    pub erased_rows_purged: u64,
}

/// Sweeps forever.
pub async fn run(state: AppState) {
    let interval = Duration::from_secs(state.settings().sweep_interval_secs);
    loop {
        tokio::time::sleep(interval).await;
        let Ok(notice) = state.notice() else { continue };
        match sweep_once(state.store(), state.keyring(), &notice).await {
            Ok(report) if report != SweepReport { subjects_checked: report.subjects_checked, ..Default::default() } => {
                tracing::info!(?report, "sweep removed data");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed"),
        }
    }
}

/// One full sweep.
pub async fn sweep_once(store: &Store, keyring: &Keyring, notice: &CurrentNotice) -> Result<SweepReport, StoreError> {
    let mut report = SweepReport::default();
    let gate = notice.gate();
    let now = now_ms();
    let swept_version: i64 = store.setting("sweep_version").await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let watermark: i64 = store.setting("sweep_watermark").await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let subjects: Vec<Pid> = if swept_version != notice.version {
        store.subjects_with_data().await?
    } else {
        store.consent_changes_since(watermark - LATE_COMMIT_MS, i64::MAX).await?.into_iter().map(|(p, _)| p).collect()
    };
    for pid in &subjects {
        sweep_subject(store, keyring, gate, *pid, &mut report).await?;
    }
    report.subjects_checked = subjects.len();
    store.set_setting("sweep_watermark", &now.to_string()).await?;
    store.set_setting("sweep_version", &notice.version.to_string()).await?;
    sweep_retention(store, keyring, notice, now, &mut report).await?;
    loop {
        let purged = store.purge_erased(BATCH).await?;
        report.erased_rows_purged += purged;
        if purged == 0 {
            break;
        }
    }
    Ok(report)
}

/// Removes one subject's data that no purpose covers any more.
async fn sweep_subject(
    store: &Store,
    keyring: &Keyring,
    gate: Gate<'_>,
    pid: Pid,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let rules = consent_rules(store, pid).await?;
    let held: Vec<String> = store.traits(pid).await?.into_iter().map(|t| t.field).collect();
    let held_refs: Vec<&str> = held.iter().map(String::as_str).collect();
    let kept = gate.kept_fields(&held_refs, &rules);
    let lost: Vec<&str> = held_refs.iter().copied().filter(|f| !kept.contains(f)).collect();
    report.traits_deleted += store.delete_traits(pid, &lost).await?;
    for set in store.event_field_sets(Some(pid)).await? {
        let names: Vec<&str> = set.split(',').collect();
        let kept = gate.kept_fields(&names, &rules);
        if kept.len() == names.len() {
            continue;
        }
        if kept.is_empty() {
            report.events_deleted += store.delete_events(Some(pid), &set, i64::MAX).await?;
            continue;
        }
        let mut keys = HashMap::new();
        let keep = |field: &str, _at: i64| kept.contains(&field);
        trim_events(store, keyring, Some(pid), &set, i64::MIN, i64::MAX, &keep, &mut keys, report).await?;
    }
    Ok(())
}

/// Removes values past their field's retention.
async fn sweep_retention(
    store: &Store,
    keyring: &Keyring,
    notice: &CurrentNotice,
    now: i64,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    let catalog = &notice.catalog;
    // A field the catalog no longer declares has no retention left.
    let retention_ms =
        |field: &str| catalog.field(field).map_or(0, |f| i64::from(f.effective_retention_days(catalog)) * DAY_MS);
    for field in store.trait_fields().await? {
        report.traits_deleted += store.delete_expired_traits(&field, now - retention_ms(&field)).await?;
    }
    let mut keys = HashMap::new();
    for set in store.event_field_sets(None).await? {
        let spans: Vec<i64> = set.split(',').map(retention_ms).collect();
        let (longest, shortest) = (spans.iter().copied().max().unwrap_or(0), spans.iter().copied().min().unwrap_or(0));
        report.events_deleted += store.delete_events(None, &set, now - longest).await?;
        if shortest < longest {
            let keep = |field: &str, at: i64| at >= now - retention_ms(field);
            trim_events(store, keyring, None, &set, now - longest, now - shortest, &keep, &mut keys, report).await?;
        }
    }
    Ok(())
}

/// Re-seals events holding exactly `set` with `from <= at < before`, keeping only the fields
/// `keep` allows; events left with nothing are deleted.
#[allow(clippy::too_many_arguments)]
async fn trim_events(
    store: &Store,
    keyring: &Keyring,
    pid: Option<Pid>,
    set: &str,
    from: i64,
    before: i64,
    keep: &(dyn Fn(&str, i64) -> bool + Sync),
    keys: &mut HashMap<Pid, Option<SealingKey>>,
    report: &mut SweepReport,
) -> Result<(), StoreError> {
    loop {
        let rows = store.events_with_fields(pid, set, from, before, BATCH).await?;
        let mut changed = 0;
        for (owner, row) in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = keys.entry(owner) {
                slot.insert(store.subject_key(keyring, owner).await?);
            }
            let id: [u8; 16] = row.id.as_slice().try_into().map_err(|_| StoreError::Corrupt("event id".into()))?;
            let Some(key) = &keys[&owner] else {
                // An erased subject: the purge deletes its rows.
                continue;
            };
            let plain = key
                .open(&event_aad(&owner, &id, &row.fields), &row.sealed)
                .map_err(|_| StoreError::Corrupt("an event does not open with its subject key".into()))?;
            let mut properties: Map<String, Value> =
                serde_json::from_slice(&plain).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            properties.retain(|field, _| keep(field, row.at));
            changed += 1;
            if properties.is_empty() {
                report.events_deleted += store.delete_event(owner, row.seq).await?;
                continue;
            }
            let fields = properties.keys().map(String::as_str).collect::<Vec<_>>().join(",");
            let plain = serde_json::to_vec(&properties).expect("JSON values serialize");
            store.reseal_event(owner, row.seq, &fields, &key.seal(&event_aad(&owner, &id, &fields), &plain)).await?;
            report.events_trimmed += 1;
        }
        // Rows left unchanged (of erased subjects) would come back forever.
        if changed == 0 {
            return Ok(());
        }
    }
}
