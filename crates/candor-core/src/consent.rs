//! The consent ledger's rules: what a request of choices turns into, what each purpose's
//! current state is, and which purposes must be asked again. Pure: the store keeps the
//! rows, the server calls these functions.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::catalog::LegalBasis;
use crate::notice::{Notice, NoticePurpose};

/// Milliseconds in a day.
const DAY_MS: i64 = 86_400_000;

/// The state a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// The subject said yes.
    Granted,
    /// The subject said no (never having said yes).
    Denied,
    /// The subject took back an earlier yes.
    Withdrawn,
    /// The subject objected to a legitimate-interest purpose.
    Objected,
}

/// Where a choice was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The consent widget on the host's pages.
    Widget,
    /// The subject's control panel.
    Panel,
    /// The host's backend, through the API.
    Api,
    /// An import of earlier consents.
    Import,
}

/// How a choice was expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// The subject ticked or unticked a box.
    Checkbox,
    /// A Global Privacy Control signal.
    Gpc,
    /// The host's backend stated it.
    Api,
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            /// The wire and storage name.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            /// Parses the wire and storage name.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }
    };
}
str_enum!(ConsentState { Granted => "granted", Denied => "denied", Withdrawn => "withdrawn", Objected => "objected" });
str_enum!(Source { Widget => "widget", Panel => "panel", Api => "api", Import => "import" });
str_enum!(Method { Checkbox => "checkbox", Gpc => "gpc", Api => "api" });

impl Source {
    /// The method implied by an explicit choice from this source.
    pub fn explicit_method(self) -> Method {
        match self {
            Source::Widget | Source::Panel => Method::Checkbox,
            Source::Api | Source::Import => Method::Api,
        }
    }
}

/// The newest ledger row of one purpose, as far as the rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct LatestRecord {
    /// Its state.
    pub state: ConsentState,
    /// The notice version it was given under.
    pub notice_version: i64,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// How.
    pub method: Method,
}

/// One row to append.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The purpose.
    pub purpose: String,
    /// The new state.
    pub state: ConsentState,
    /// How it was expressed.
    pub method: Method,
}

/// A choice that cannot be recorded, with a stable reason.
#[derive(Debug, Clone, PartialEq)]
pub struct ChoiceError {
    /// The purpose named.
    pub purpose: String,
    /// `unknown_purpose` or `not_optional`.
    pub reason: &'static str,
}

/// Turns a request's explicit choices (and a GPC signal) into ledger rows.
///
/// Explicit choices always produce a row: each one is proof of an interaction. A GPC
/// signal says "no" for every `gpc_opt_out` purpose the subject has not decided yet and
/// did not name in this request; an explicit decision, earlier or later, wins over it.
pub fn decide(
    notice: &Notice,
    latest: &HashMap<String, LatestRecord>,
    choices: &BTreeMap<String, bool>,
    gpc: bool,
    source: Source,
) -> Result<Vec<Decision>, Vec<ChoiceError>> {
    let mut errors = Vec::new();
    let mut decisions = Vec::new();
    for (purpose_id, &yes) in choices {
        let Some(purpose) = notice.purpose(purpose_id) else {
            errors.push(ChoiceError { purpose: purpose_id.clone(), reason: "unknown_purpose" });
            continue;
        };
        let state = match (purpose.legal_basis, yes) {
            (LegalBasis::Contract | LegalBasis::LegalObligation, _) => {
                errors.push(ChoiceError { purpose: purpose_id.clone(), reason: "not_optional" });
                continue;
            }
            (_, true) => ConsentState::Granted,
            (LegalBasis::LegitimateInterest, false) => ConsentState::Objected,
            (_, false) => match latest.get(purpose_id) {
                Some(r) if r.state == ConsentState::Granted => ConsentState::Withdrawn,
                _ => ConsentState::Denied,
            },
        };
        decisions.push(Decision { purpose: purpose_id.clone(), state, method: source.explicit_method() });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if gpc {
        for purpose in notice.purposes.iter().filter(|p| p.gpc_opt_out) {
            if choices.contains_key(&purpose.id) || latest.contains_key(&purpose.id) {
                continue;
            }
            let state = match purpose.legal_basis {
                LegalBasis::Consent => ConsentState::Denied,
                LegalBasis::LegitimateInterest => ConsentState::Objected,
                LegalBasis::Contract | LegalBasis::LegalObligation => continue,
            };
            decisions.push(Decision { purpose: purpose.id.clone(), state, method: Method::Gpc });
        }
    }
    Ok(decisions)
}

/// Whether a purpose currently has a legal basis for this subject.
pub fn has_basis(purpose: &NoticePurpose, latest: Option<&LatestRecord>) -> bool {
    match purpose.legal_basis {
        LegalBasis::Contract | LegalBasis::LegalObligation => true,
        LegalBasis::LegitimateInterest => latest.is_none_or(|r| r.state != ConsentState::Objected),
        LegalBasis::Consent => latest.is_some_and(|r| r.state == ConsentState::Granted),
    }
}

/// What a subject's state looks like without any row: on for always-on and
/// legitimate-interest purposes, off for consent purposes.
pub fn default_state(purpose: &NoticePurpose) -> ConsentState {
    match purpose.legal_basis {
        LegalBasis::Consent => ConsentState::Denied,
        _ => ConsentState::Granted,
    }
}

/// Consent purposes the subject must be asked about again:
/// - a grant given under a version older than the purpose's latest material change,
/// - a grant older than `consent_valid_days`,
/// - a purpose never decided that appeared or changed materially after the subject's
///   newest decision (so a new purpose is asked once, not forever).
///
/// `last_material` maps each purpose to the newest version that changed it materially.
pub fn needs_reconsent(
    notice: &Notice,
    last_material: &HashMap<String, i64>,
    latest: &HashMap<String, LatestRecord>,
    now_ms: i64,
) -> Vec<String> {
    let valid_ms = i64::from(notice.organization.consent_valid_days) * DAY_MS;
    let newest_decision = latest.values().map(|r| r.notice_version).max();
    notice
        .purposes
        .iter()
        .filter(|p| p.legal_basis == LegalBasis::Consent)
        .filter(|p| {
            let changed_at = last_material.get(&p.id).copied().unwrap_or(0);
            match latest.get(&p.id) {
                Some(r) if r.state == ConsentState::Granted => {
                    r.notice_version < changed_at || now_ms.saturating_sub(r.at_ms) > valid_ms
                }
                Some(_) => false,
                None => newest_decision.is_some_and(|v| v < changed_at),
            }
        })
        .map(|p| p.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, EXAMPLE_CATALOG};

    fn notice() -> Notice {
        let mut catalog = Catalog::parse(EXAMPLE_CATALOG).unwrap();
        for p in &mut catalog.purposes {
            if p.id == "analytics" {
                p.gpc_opt_out = true;
            }
        }
        Notice::from_catalog(&catalog)
    }

    fn record(state: ConsentState, version: i64, at_ms: i64) -> LatestRecord {
        LatestRecord { state, notice_version: version, at_ms, method: Method::Checkbox }
    }

    fn choices(pairs: &[(&str, bool)]) -> BTreeMap<String, bool> {
        pairs.iter().map(|(p, v)| (p.to_string(), *v)).collect()
    }

    #[test]
    fn yes_grants_no_denies_and_no_after_yes_withdraws() {
        let n = notice();
        let mut latest = HashMap::new();
        let d =
            decide(&n, &latest, &choices(&[("newsletter", true), ("personalization", false)]), false, Source::Widget)
                .unwrap();
        assert_eq!(
            d[0],
            Decision { purpose: "newsletter".into(), state: ConsentState::Granted, method: Method::Checkbox }
        );
        assert_eq!(d[1].state, ConsentState::Denied);
        latest.insert("newsletter".into(), record(ConsentState::Granted, 1, 0));
        let d = decide(&n, &latest, &choices(&[("newsletter", false)]), false, Source::Api).unwrap();
        assert_eq!(d[0].state, ConsentState::Withdrawn);
        assert_eq!(d[0].method, Method::Api);
    }

    #[test]
    fn unknown_and_always_on_purposes_are_refused_all_at_once() {
        let errors =
            decide(&notice(), &HashMap::new(), &choices(&[("account", false), ("nope", true)]), false, Source::Api)
                .unwrap_err();
        let reasons: Vec<_> = errors.iter().map(|e| (e.purpose.as_str(), e.reason)).collect();
        assert_eq!(reasons, [("account", "not_optional"), ("nope", "unknown_purpose")]);
    }

    #[test]
    fn gpc_denies_undecided_opt_out_purposes_and_explicit_choices_win() {
        let n = notice();
        let d = decide(&n, &HashMap::new(), &BTreeMap::new(), true, Source::Widget).unwrap();
        assert_eq!(d, [Decision { purpose: "analytics".into(), state: ConsentState::Denied, method: Method::Gpc }]);
        let d = decide(&n, &HashMap::new(), &choices(&[("analytics", true)]), true, Source::Widget).unwrap();
        assert_eq!(
            d,
            [Decision { purpose: "analytics".into(), state: ConsentState::Granted, method: Method::Checkbox }]
        );
        let mut latest = HashMap::new();
        latest.insert("analytics".into(), record(ConsentState::Granted, 1, 0));
        assert!(decide(&n, &latest, &BTreeMap::new(), true, Source::Widget).unwrap().is_empty());
    }

    #[test]
    fn basis_follows_legal_basis_and_latest_row() {
        let n = notice();
        let account = n.purpose("account").unwrap();
        let newsletter = n.purpose("newsletter").unwrap();
        assert!(has_basis(account, None));
        assert!(!has_basis(newsletter, None));
        assert!(has_basis(newsletter, Some(&record(ConsentState::Granted, 1, 0))));
        assert!(!has_basis(newsletter, Some(&record(ConsentState::Withdrawn, 1, 0))));
    }

    #[test]
    fn reconsent_after_material_change_expiry_or_new_purpose() {
        let n = notice();
        let now = 400 * DAY_MS;
        let mut latest = HashMap::new();
        latest.insert("newsletter".into(), record(ConsentState::Granted, 1, now - DAY_MS));
        latest.insert("analytics".into(), record(ConsentState::Denied, 1, now - DAY_MS));
        let mut material = HashMap::new();
        assert!(needs_reconsent(&n, &material, &latest, now).is_empty());

        material.insert("newsletter".into(), 2);
        material.insert("analytics".into(), 2);
        assert_eq!(needs_reconsent(&n, &material, &latest, now), ["newsletter"]);

        material.clear();
        material.insert("personalization".into(), 2);
        assert_eq!(needs_reconsent(&n, &material, &latest, now), ["personalization"]);

        material.clear();
        latest.insert("newsletter".into(), record(ConsentState::Granted, 1, now - 396 * DAY_MS));
        assert_eq!(needs_reconsent(&n, &material, &latest, now), ["newsletter"]);
        assert!(needs_reconsent(&n, &material, &HashMap::new(), now).is_empty());
    }
}
