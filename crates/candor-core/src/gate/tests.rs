use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;
use crate::catalog::{EXAMPLE_CATALOG, EventType, Organization, Purpose, Text};
use crate::consent::Method;

fn example() -> (Catalog, Coverage) {
    let catalog = Catalog::parse(EXAMPLE_CATALOG).unwrap();
    let coverage = Coverage::new([(1, &Notice::from_catalog(&catalog))]);
    (catalog, coverage)
}

fn record(state: ConsentState, version: i64) -> LatestRecord {
    LatestRecord { state, notice_version: version, at_ms: 0, method: Method::Checkbox }
}

fn props(value: Value) -> Map<String, Value> {
    value.as_object().unwrap().clone()
}

fn reasons(a: &Admission) -> Vec<(&str, &str)> {
    a.dropped.iter().map(|d| (d.field.as_str(), d.reason.as_str())).collect()
}

#[test]
fn consent_purpose_fields_need_a_grant() {
    let (catalog, coverage) = example();
    let gate = Gate::new(&catalog, &coverage);
    let none = HashMap::new();
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p1"})), &none);
    assert!(!a.accepted());
    assert_eq!(reasons(&a), [("product_id", "no_consent")]);

    let granted = HashMap::from([("analytics".to_string(), record(ConsentState::Granted, 1))]);
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": 42})), &granted);
    assert!(a.accepted());
    assert_eq!(a.stored, [("product_id".to_string(), json!("42"))], "integer ids are stored as text");
}

#[test]
fn contract_fields_are_always_admitted_and_undeclared_ones_never() {
    let (catalog, coverage) = example();
    let gate = Gate::new(&catalog, &coverage);
    let a = gate.admit_traits(&props(json!({"email": "a@b.example", "shoe_size": 44})), &HashMap::new());
    assert_eq!(a.stored, [("email".to_string(), json!("a@b.example"))]);
    assert_eq!(reasons(&a), [("shoe_size", "undeclared_field")]);
    let a = gate.admit_event("product_viewed", &props(json!({"email": "a@b.example"})), &HashMap::new());
    assert_eq!(reasons(&a), [("email", "undeclared_field")], "a field not declared for this event");
    let a = gate.admit_event("checkout", &props(json!({"product_id": "p"})), &HashMap::new());
    assert_eq!(reasons(&a), [("product_id", "undeclared_event")]);
    let a = gate.admit_event("checkout", &Map::new(), &HashMap::new());
    assert_eq!(reasons(&a), [("type", "undeclared_event")]);
}

#[test]
fn values_must_fit_their_declaration() {
    let (catalog, coverage) = example();
    let gate = Gate::new(&catalog, &coverage);
    for bad in [json!(null), json!(3), json!("x".repeat(255)), json!(["a@b"])] {
        let a = gate.admit_traits(&props(json!({ "email": bad })), &HashMap::new());
        assert_eq!(reasons(&a), [("email", "invalid_value")], "{bad}");
    }
    let granted = HashMap::from([("personalization".to_string(), record(ConsentState::Granted, 1))]);
    for bad in [json!(""), json!("a\u{7}b"), json!(1.5), json!(true)] {
        let a = gate.admit_event("product_viewed", &props(json!({ "product_id": bad })), &granted);
        assert_eq!(reasons(&a), [("product_id", "invalid_value")], "{bad}");
    }
}

#[test]
fn withdrawn_denied_and_objected_give_no_basis() {
    let (catalog, coverage) = example();
    let gate = Gate::new(&catalog, &coverage);
    for state in [ConsentState::Withdrawn, ConsentState::Denied] {
        let latest = HashMap::from([
            ("personalization".to_string(), record(state, 1)),
            ("analytics".to_string(), record(state, 1)),
        ]);
        let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p"})), &latest);
        assert_eq!(reasons(&a), [("product_id", "no_consent")]);
    }
    let mut catalog = catalog;
    catalog.purposes[3].legal_basis = LegalBasis::LegitimateInterest;
    let gate = Gate::new(&catalog, &coverage);
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p"})), &HashMap::new());
    assert!(a.accepted(), "legitimate interest is on by default");
    let objected = HashMap::from([("analytics".to_string(), record(ConsentState::Objected, 1))]);
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p"})), &objected);
    assert_eq!(reasons(&a), [("product_id", "no_consent")]);
}

#[test]
fn a_field_new_to_a_purpose_is_stale_until_consent_under_the_new_version() {
    let (mut catalog, mut coverage) = example();
    catalog.fields.push(Field {
        name: "city".into(),
        kind: FieldType::String,
        max_len: Some(100),
        values: vec![],
        category: "location.city".into(),
        pii: false,
        purposes: vec!["personalization".into()],
        retention_days: None,
    });
    catalog.events[0].fields.push("city".into());
    coverage.add(2, &Notice::from_catalog(&catalog));
    let gate = Gate::new(&catalog, &coverage);
    let old = HashMap::from([("personalization".to_string(), record(ConsentState::Granted, 1))]);
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p", "city": "Bonn"})), &old);
    assert_eq!(a.stored.len(), 1);
    assert_eq!(reasons(&a), [("city", "consent_stale")]);
    assert_eq!(gate.readable_fields("personalization", &old), ["product_id"]);
    let new = HashMap::from([("personalization".to_string(), record(ConsentState::Granted, 2))]);
    let a = gate.admit_event("product_viewed", &props(json!({"product_id": "p", "city": "Bonn"})), &new);
    assert_eq!(a.stored.len(), 2);
    assert_eq!(gate.readable_fields("personalization", &new), ["product_id", "city"]);
}

#[test]
fn sweeps_keep_only_fields_with_a_basis() {
    let (catalog, coverage) = example();
    let gate = Gate::new(&catalog, &coverage);
    let only_analytics = HashMap::from([("analytics".to_string(), record(ConsentState::Granted, 1))]);
    assert_eq!(gate.kept_fields(&["product_id", "email", "gone"], &only_analytics), ["product_id", "email"]);
    assert_eq!(gate.kept_fields(&["product_id"], &HashMap::new()), Vec::<&str>::new());
}

// ---- property: what is stored is always a subset of what is allowed ----

const NAMES: [&str; 6] = ["a", "b", "c", "d", "e", "f"];

fn arb_basis() -> impl Strategy<Value = LegalBasis> {
    prop::sample::select(LegalBasis::ALL.to_vec())
}

fn arb_kind() -> impl Strategy<Value = FieldType> {
    prop::sample::select(FieldType::ALL.to_vec())
}

fn arb_state() -> impl Strategy<Value = ConsentState> {
    prop::sample::select(vec![
        ConsentState::Granted,
        ConsentState::Denied,
        ConsentState::Withdrawn,
        ConsentState::Objected,
    ])
}

fn arb_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        (-1e9f64..1e9).prop_map(|n| json!(n)),
        "[a-z]{0,12}".prop_map(Value::String),
        Just(json!("2026-11-29T10:00:00Z")),
        Just(json!("x\u{1}")),
        Just(json!(["list"])),
    ]
}

#[derive(Debug, Clone)]
struct World {
    catalog: Catalog,
    coverage: Coverage,
    latest: HashMap<String, LatestRecord>,
    event: String,
    properties: Map<String, Value>,
}

fn arb_world() -> impl Strategy<Value = World> {
    let purposes = prop::collection::vec(arb_basis(), 1..4);
    let fields = prop::collection::vec(
        (arb_kind(), prop::option::of(0u32..8), prop::collection::vec(0usize..4, 1..3)),
        1..NAMES.len(),
    );
    (purposes, fields).prop_flat_map(|(bases, fields)| {
        let purpose_ids: Vec<String> = (0..bases.len()).map(|i| format!("p{i}")).collect();
        let field_names: Vec<String> = NAMES[..fields.len()].iter().map(|s| s.to_string()).collect();
        let catalog = Catalog {
            organization: Organization {
                name: "o".into(),
                contact: "c".into(),
                allowed_origins: vec![],
                consent_valid_days: 395,
            },
            purposes: bases
                .iter()
                .zip(&purpose_ids)
                .map(|(basis, id)| Purpose {
                    id: id.clone(),
                    title: Text::from("t"),
                    description: Text::from("d"),
                    legal_basis: *basis,
                    retention_days: 30,
                    gpc_opt_out: false,
                    recommendations: false,
                })
                .collect(),
            fields: fields
                .iter()
                .zip(&field_names)
                .map(|((kind, max_len, purposes), name)| Field {
                    name: name.clone(),
                    kind: *kind,
                    max_len: max_len.filter(|_| kind.has_length()),
                    values: if *kind == FieldType::Enum { vec!["x".into(), "abc".into()] } else { vec![] },
                    category: "c.d".into(),
                    pii: false,
                    purposes: purposes.iter().map(|i| purpose_ids[i % purpose_ids.len()].clone()).collect(),
                    retention_days: None,
                })
                .collect(),
            events: vec![],
            benefits: vec![],
            processors: vec![],
        };
        let event_fields = prop::sample::subsequence(field_names.clone(), 0..=field_names.len());
        let latest = prop::collection::btree_map(
            prop::sample::select(purpose_ids.clone()),
            (arb_state(), 1i64..4),
            0..=purpose_ids.len(),
        );
        // Coverage per version: each (version, purpose, field) covered or not.
        let covered = prop::collection::vec(any::<bool>(), 3 * purpose_ids.len() * field_names.len());
        let property_names = prop::collection::vec(prop::sample::select(NAMES.to_vec()), 0..6);
        let values = prop::collection::vec(arb_value(), 6);
        let event = prop::sample::select(vec!["ev".to_string(), "other".to_string()]);
        (Just(catalog), event_fields, latest, covered, property_names, values, event).prop_map(
            move |(mut catalog, event_fields, latest, covered, names, values, event)| {
                catalog.events.push(EventType {
                    name: "ev".into(),
                    fields: event_fields,
                    item_field: None,
                    weight: 1.0,
                });
                let mut coverage = Coverage::default();
                let mut bit = covered.into_iter();
                for version in 1..4 {
                    let mut purposes = HashMap::new();
                    for p in &catalog.purposes {
                        let fields: HashSet<String> =
                            catalog.fields.iter().filter(|_| bit.next().unwrap()).map(|f| f.name.clone()).collect();
                        purposes.insert(p.id.clone(), fields);
                    }
                    coverage.versions.insert(version, purposes);
                }
                let latest: BTreeMap<String, (ConsentState, i64)> = latest;
                World {
                    catalog,
                    coverage,
                    latest: latest.into_iter().map(|(p, (state, v))| (p, record(state, v))).collect(),
                    event,
                    properties: names.into_iter().zip(values).map(|(n, v)| (n.to_string(), v)).collect(),
                }
            },
        )
    })
}

/// The rules restated independently of the gate's code: may `field` carrying `value` be
/// stored for event `event`?
fn allowed(world: &World, event: &str, field: &str, value: &Value) -> bool {
    let Some(ev) = world.catalog.events.iter().find(|e| e.name == event) else { return false };
    let Some(decl) = world.catalog.fields.iter().find(|f| f.name == field) else { return false };
    if !ev.fields.iter().any(|f| f == field) {
        return false;
    }
    let fits = match decl.kind {
        FieldType::String => value.as_str().is_some_and(|s| s.len() <= decl.max_len.unwrap_or(4096) as usize),
        FieldType::Id => {
            value.as_str().is_some_and(|s| {
                !s.is_empty() && s.len() <= decl.max_len.unwrap_or(256) as usize && !s.contains('\u{1}')
            }) || value.as_i64().is_some_and(|n| n.to_string().len() <= decl.max_len.unwrap_or(256) as usize)
        }
        FieldType::Number => value.is_number(),
        FieldType::Bool => value.is_boolean(),
        FieldType::Enum => value.as_str().is_some_and(|s| s == "x" || s == "abc"),
        FieldType::Timestamp => value.as_str() == Some("2026-11-29T10:00:00Z"),
    };
    fits && world.catalog.purposes.iter().filter(|p| decl.purposes.contains(&p.id)).any(|p| {
        let latest = world.latest.get(&p.id);
        match p.legal_basis {
            LegalBasis::Contract | LegalBasis::LegalObligation => true,
            LegalBasis::LegitimateInterest => latest.is_none_or(|r| r.state != ConsentState::Objected),
            LegalBasis::Consent => latest.is_some_and(|r| {
                r.state == ConsentState::Granted && world.coverage.versions[&r.notice_version][&p.id].contains(field)
            }),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn stored_is_exactly_what_is_allowed_and_every_property_is_accounted_for(world in arb_world()) {
        let gate = Gate::new(&world.catalog, &world.coverage);
        let admission = gate.admit_event(&world.event, &world.properties, &world.latest);
        for (field, _) in &admission.stored {
            let sent = &world.properties[field];
            prop_assert!(allowed(&world, &world.event, field, sent), "stored {field} = {sent} but it is not allowed");
        }
        for (field, value) in &world.properties {
            let stored = admission.stored.iter().filter(|(f, _)| f == field).count();
            let dropped = admission.dropped.iter().filter(|d| &d.field == field).count();
            prop_assert_eq!(stored + dropped, 1, "{} must be stored or dropped, once", field);
            prop_assert_eq!(stored == 1, allowed(&world, &world.event, field, value), "{} = {}", field, value);
        }
        prop_assert_eq!(admission.accepted(), !admission.stored.is_empty());
    }
}
