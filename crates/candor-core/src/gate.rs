//! The consent gate: decides, field by field, what of an incoming event or trait update may
//! be stored (SPEC §3.1, §3.2). It is the only place that says yes to data; storage seals
//! and writes exactly what [`Gate::admit_event`] and [`Gate::admit_traits`] return.
//!
//! A field is admitted when its value fits its declaration and at least one of its purposes
//! has a current legal basis that covers it: always for `contract` and `legal_obligation`,
//! unless objected to for `legitimate_interest`, and for `consent` only when the subject's
//! newest record is a grant given under a notice version whose text already listed the
//! field for that purpose (else the field is `consent_stale`).

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::catalog::{Catalog, Field, FieldType, LegalBasis};
use crate::consent::{ConsentState, LatestRecord};
use crate::notice::Notice;

/// Longest string value when a field declares no `max_len`.
pub const DEFAULT_MAX_STRING: usize = 4096;
/// Longest id value when a field declares no `max_len`.
pub const DEFAULT_MAX_ID: usize = 256;

/// Why a datum was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropReason {
    /// The event type is not in the catalog.
    UndeclaredEvent,
    /// The field is not in the catalog, or not declared for this event.
    UndeclaredField,
    /// None of the field's purposes has a legal basis for this subject now.
    NoConsent,
    /// A purpose was granted, but under a notice version that did not yet list this field.
    ConsentStale,
    /// The value breaks the field's type or limits.
    InvalidValue,
}

impl DropReason {
    /// The name used in API results.
    pub fn as_str(&self) -> &'static str {
        match self {
            DropReason::UndeclaredEvent => "undeclared_event",
            DropReason::UndeclaredField => "undeclared_field",
            DropReason::NoConsent => "no_consent",
            DropReason::ConsentStale => "consent_stale",
            DropReason::InvalidValue => "invalid_value",
        }
    }
}

/// One datum not stored, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The field (or property) name as sent.
    pub field: String,
    /// Why.
    pub reason: DropReason,
}

/// What the gate lets through of one event or trait update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Admission {
    /// Fields to store with their (normalized) values, in the order they were sent.
    pub stored: Vec<(String, Value)>,
    /// Everything else, in the order it was sent.
    pub dropped: Vec<Dropped>,
}

impl Admission {
    /// Whether anything is stored. An event none of whose data may be kept is not stored
    /// at all: that it happened is itself a datum about the subject.
    pub fn accepted(&self) -> bool {
        !self.stored.is_empty()
    }
}

/// Which fields each purpose listed at each published notice version: what a consent given
/// under that version covers.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    versions: HashMap<i64, HashMap<String, HashSet<String>>>,
}

impl Coverage {
    /// Coverage from every published version and its notice.
    pub fn new<'a>(notices: impl IntoIterator<Item = (i64, &'a Notice)>) -> Coverage {
        let mut coverage = Coverage::default();
        for (version, notice) in notices {
            coverage.add(version, notice);
        }
        coverage
    }

    /// Adds one version.
    pub fn add(&mut self, version: i64, notice: &Notice) {
        let purposes =
            notice.purposes.iter().map(|p| (p.id.clone(), p.fields.iter().map(|f| f.name.clone()).collect())).collect();
        self.versions.insert(version, purposes);
    }

    /// Whether a consent to `purpose` given under `version` covers `field`.
    pub fn covers(&self, version: i64, purpose: &str, field: &str) -> bool {
        self.versions.get(&version).and_then(|p| p.get(purpose)).is_some_and(|fields| fields.contains(field))
    }
}

/// Whether one purpose gives a basis for one field, for one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Yes.
    Current,
    /// Granted, but the grant predates the field being part of the purpose.
    Stale,
    /// No.
    None,
}

/// The gate for one catalog (the current one) and the coverage of every version.
#[derive(Debug, Clone, Copy)]
pub struct Gate<'a> {
    catalog: &'a Catalog,
    coverage: &'a Coverage,
}

impl<'a> Gate<'a> {
    /// A gate over the current catalog.
    pub fn new(catalog: &'a Catalog, coverage: &'a Coverage) -> Gate<'a> {
        Gate { catalog, coverage }
    }

    /// Whether `purpose` gives a basis for `field` given the subject's newest records.
    pub fn purpose_basis(&self, purpose: &str, field: &str, latest: &HashMap<String, LatestRecord>) -> Basis {
        let Some(p) = self.catalog.purpose(purpose) else { return Basis::None };
        if !self.catalog.field(field).is_some_and(|f| f.purposes.iter().any(|id| id == purpose)) {
            return Basis::None;
        }
        let record = latest.get(purpose);
        match p.legal_basis {
            LegalBasis::Contract | LegalBasis::LegalObligation => Basis::Current,
            LegalBasis::LegitimateInterest => match record {
                Some(r) if r.state == ConsentState::Objected => Basis::None,
                _ => Basis::Current,
            },
            LegalBasis::Consent => match record {
                Some(r) if r.state == ConsentState::Granted => {
                    if self.coverage.covers(r.notice_version, purpose, field) { Basis::Current } else { Basis::Stale }
                }
                _ => Basis::None,
            },
        }
    }

    /// Whether a declared field may be stored or kept for this subject now: `Ok` if any of
    /// its purposes gives a current basis, else why not.
    pub fn field_basis(&self, field: &Field, latest: &HashMap<String, LatestRecord>) -> Result<(), DropReason> {
        let mut stale = false;
        for purpose in &field.purposes {
            match self.purpose_basis(purpose, &field.name, latest) {
                Basis::Current => return Ok(()),
                Basis::Stale => stale = true,
                Basis::None => {}
            }
        }
        Err(if stale { DropReason::ConsentStale } else { DropReason::NoConsent })
    }

    /// Fields of `purpose` that a read for that purpose may return now (SPEC §3.4).
    pub fn readable_fields(&self, purpose: &str, latest: &HashMap<String, LatestRecord>) -> Vec<&'a str> {
        self.catalog
            .fields
            .iter()
            .filter(|f| f.purposes.iter().any(|p| p == purpose))
            .filter(|f| self.purpose_basis(purpose, &f.name, latest) == Basis::Current)
            .map(|f| f.name.as_str())
            .collect()
    }

    /// Of the fields a stored record holds, those that may still be kept (the sweep's rule).
    pub fn kept_fields<'f>(&self, fields: &[&'f str], latest: &HashMap<String, LatestRecord>) -> Vec<&'f str> {
        fields
            .iter()
            .copied()
            .filter(|name| self.catalog.field(name).is_some_and(|f| self.field_basis(f, latest).is_ok()))
            .collect()
    }

    /// Gates one event's properties.
    pub fn admit_event(
        &self,
        event_type: &str,
        properties: &Map<String, Value>,
        latest: &HashMap<String, LatestRecord>,
    ) -> Admission {
        let Some(event) = self.catalog.event(event_type) else {
            let mut dropped: Vec<Dropped> = properties
                .keys()
                .map(|name| Dropped { field: name.clone(), reason: DropReason::UndeclaredEvent })
                .collect();
            if dropped.is_empty() {
                dropped.push(Dropped { field: "type".into(), reason: DropReason::UndeclaredEvent });
            }
            return Admission { stored: Vec::new(), dropped };
        };
        self.admit(properties, latest, |name| event.fields.iter().any(|f| f == name))
    }

    /// Gates a trait update: any declared field may be a trait.
    pub fn admit_traits(&self, traits: &Map<String, Value>, latest: &HashMap<String, LatestRecord>) -> Admission {
        self.admit(traits, latest, |_| true)
    }

    fn admit(
        &self,
        values: &Map<String, Value>,
        latest: &HashMap<String, LatestRecord>,
        declared_here: impl Fn(&str) -> bool,
    ) -> Admission {
        let mut admission = Admission::default();
        for (name, value) in values {
            let verdict = match self.catalog.field(name) {
                Some(field) if declared_here(name) => match normalize(field, value) {
                    Some(value) => self.field_basis(field, latest).map(|()| value),
                    None => Err(DropReason::InvalidValue),
                },
                _ => Err(DropReason::UndeclaredField),
            };
            match verdict {
                Ok(value) => admission.stored.push((name.clone(), value)),
                Err(reason) => admission.dropped.push(Dropped { field: name.clone(), reason }),
            }
        }
        admission
    }
}

/// The value as stored if it fits the field's type and limits, else `None`. Ids may be sent
/// as integers and are stored as strings.
pub fn normalize(field: &Field, value: &Value) -> Option<Value> {
    let max_len = |default: usize| field.max_len.map_or(default, |n| n as usize);
    match (field.kind, value) {
        (FieldType::String, Value::String(s)) if s.chars().count() <= max_len(DEFAULT_MAX_STRING) => {
            Some(value.clone())
        }
        (FieldType::Id, Value::String(s))
            if !s.is_empty() && s.chars().count() <= max_len(DEFAULT_MAX_ID) && !s.chars().any(char::is_control) =>
        {
            Some(value.clone())
        }
        (FieldType::Id, Value::Number(n)) if n.is_i64() || n.is_u64() => {
            let text = n.to_string();
            (text.len() <= max_len(DEFAULT_MAX_ID)).then_some(Value::String(text))
        }
        (FieldType::Number, Value::Number(_)) | (FieldType::Bool, Value::Bool(_)) => Some(value.clone()),
        (FieldType::Enum, Value::String(s)) if field.values.iter().any(|v| v == s) => Some(value.clone()),
        (FieldType::Timestamp, Value::String(s)) if is_rfc3339(s) => Some(value.clone()),
        _ => None,
    }
}

fn is_rfc3339(text: &str) -> bool {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok()
}

#[cfg(test)]
mod tests;
