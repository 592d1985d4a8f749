use super::*;
use crate::catalog::EXAMPLE_CATALOG;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn catalog(source: &str) -> Catalog {
    Catalog::parse(source).unwrap_or_else(|e| panic!("catalog must parse:\n{e}"))
}

fn example() -> Notice {
    Notice::from_catalog(&catalog(EXAMPLE_CATALOG))
}

/// The example notice after replacing `old` (which must occur once) with `new` in its TOML.
fn edited(old: &str, new: &str) -> Notice {
    assert_eq!(EXAMPLE_CATALOG.matches(old).count(), 1, "{old:?}");
    Notice::from_catalog(&catalog(&EXAMPLE_CATALOG.replacen(old, new, 1)))
}

fn appended(extra: &str) -> Notice {
    Notice::from_catalog(&catalog(&format!("{EXAMPLE_CATALOG}{extra}")))
}

#[track_caller]
fn entry<'d>(d: &'d NoticeDiff, purpose: &str) -> &'d PurposeDiff {
    d.purpose(purpose).unwrap_or_else(|| panic!("no entry for {purpose}: {d:#?}"))
}

#[track_caller]
fn assert_summary(p: &PurposeDiff, sentence: &str) {
    assert!(p.summary.iter().any(|s| s == sentence), "summary of {} lacks {sentence:?}: {:#?}", p.purpose, p.summary);
}

// --- building a notice --------------------------------------------------------------------

#[test]
fn notice_lists_fields_categories_benefits_and_processors_per_purpose() {
    let n = example();
    let ids: Vec<&str> = n.purposes.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["account", "personalization", "newsletter", "analytics"]);

    let newsletter = n.purpose("newsletter").unwrap();
    assert_eq!(newsletter.legal_basis, LegalBasis::Consent);
    assert_eq!(newsletter.retention_days, 730);
    assert_eq!(newsletter.title.get("de"), "Angebote per E-Mail");
    assert_eq!(
        newsletter.fields,
        vec![NoticeField {
            name: "email".into(),
            kind: FieldType::String,
            category: "contact.email".into(),
            pii: true,
            // The shortest of account (1095) and newsletter (730).
            retention_days: 730,
        }]
    );
    assert_eq!(newsletter.categories, vec!["contact.email"]);
    assert_eq!(newsletter.benefits.len(), 1);
    assert_eq!(newsletter.benefits[0].id, "welcome10");
    assert_eq!(newsletter.benefits[0].kind, BenefitKind::Discount);
    assert_eq!(newsletter.benefits[0].requires, vec!["newsletter"]);
    assert_eq!(newsletter.processors, vec!["mailer"]);

    let analytics = n.purpose("analytics").unwrap();
    assert_eq!(analytics.fields[0].retention_days, 90);
    assert!(analytics.benefits.is_empty());
    assert!(analytics.processors.is_empty());
    assert!(n.purpose("personalization").unwrap().recommendations);

    assert_eq!(
        n.processors,
        vec![NoticeProcessor {
            id: "mailer".into(),
            name: Some("Mailer Inc.".into()),
            purposes: vec!["newsletter".into()],
        }]
    );
    assert_eq!(n.organization.name, "Acme Outdoor");
    assert_eq!(n.organization.consent_valid_days, 395);
}

#[test]
fn categories_are_sorted_and_unique() {
    let n = appended(
        "\n[[field]]\nname = \"phone\"\ntype = \"string\"\ncategory = \"contact.phone\"\npurposes = [\"newsletter\"]\n\n[[field]]\nname = \"work_email\"\ntype = \"string\"\ncategory = \"contact.email\"\npurposes = [\"newsletter\"]\n\n[[field]]\nname = \"clicks\"\ntype = \"number\"\ncategory = \"behavior.clicks\"\npurposes = [\"newsletter\"]\n",
    );
    assert_eq!(n.purpose("newsletter").unwrap().categories, vec!["behavior.clicks", "contact.email", "contact.phone"]);
    assert_eq!(n.fields_of("newsletter"), vec!["email", "phone", "work_email", "clicks"]);
}

#[test]
fn fields_of_names_a_purposes_fields() {
    let n = example();
    assert_eq!(n.fields_of("account"), vec!["email"]);
    assert_eq!(n.fields_of("personalization"), vec!["product_id"]);
    assert!(n.fields_of("nope").is_empty());
}

#[test]
fn notice_never_contains_processor_secrets_or_urls() {
    let json = serde_json::to_string(&example()).unwrap();
    assert!(!json.contains("change-me-mailer-secret"), "{json}");
    assert!(!json.contains("mailer.example/candor-webhook"), "{json}");
    assert!(json.contains("Mailer Inc."));
}

#[test]
fn notice_serializes_with_stable_names_and_round_trips() {
    let n = example();
    let json = serde_json::to_value(&n).unwrap();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["organization", "processors", "purposes"]);
    let field = &json["purposes"][2]["fields"][0];
    assert_eq!(field["type"], "string");
    assert_eq!(field["retention_days"], 730);
    assert_eq!(json["purposes"][0]["legal_basis"], "contract");
    assert_eq!(json["purposes"][2]["title"], serde_json::json!({"en": "Deals by email", "de": "Angebote per E-Mail"}));
    assert_eq!(serde_json::from_value::<Notice>(json).unwrap(), n);
    // Serialized text keeps declaration order, so hashing it is stable.
    let text = serde_json::to_string(&n).unwrap();
    assert!(text.starts_with(r#"{"organization":{"name":"Acme Outdoor""#), "{text}");
    assert_eq!(serde_json::to_string(&example()).unwrap(), text);
}

// --- the diff: nothing changed ------------------------------------------------------------

#[test]
fn diff_of_a_notice_with_itself_is_unchanged_and_not_material() {
    let n = example();
    let d = diff(&n, &n);
    assert!(!d.organization_changed);
    assert_eq!(d.purposes.len(), 4);
    for p in &d.purposes {
        assert_eq!(p.change, Change::Unchanged);
        assert!(!p.material);
        assert!(p.summary.is_empty());
        assert!(!p.text_changed);
    }
    assert!(d.material_purposes().is_empty());
}

#[test]
fn purpose_diff_always_serializes_every_key() {
    let d = diff(&example(), &example());
    let json = serde_json::to_value(&d.purposes[0]).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    for key in [
        "purpose",
        "change",
        "material",
        "added_fields",
        "removed_fields",
        "added_categories",
        "removed_categories",
        "retention_days",
        "legal_basis",
        "added_processors",
        "removed_processors",
        "text_changed",
        "summary",
    ] {
        assert!(keys.contains(&key), "missing {key} in {json}");
    }
    assert_eq!(json["change"], "unchanged");
    assert!(json["retention_days"].is_null());
    assert_eq!(json["added_fields"], serde_json::json!([]));
    let round: NoticeDiff = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert_eq!(round, d);
}

// --- the diff: material changes -----------------------------------------------------------

#[test]
fn an_added_purpose_is_material() {
    let to = appended(
        "\n[[purpose]]\nid = \"surveys\"\ntitle = \"Surveys\"\ndescription = \"We ask your opinion.\"\nlegal_basis = \"consent\"\nretention_days = 30\n",
    );
    let d = diff(&example(), &to);
    let p = entry(&d, "surveys");
    assert_eq!(p.change, Change::Added);
    assert!(p.material);
    assert_summary(p, "New purpose: Surveys.");
    assert_summary(p, "Data is kept for 30 days.");
    assert_eq!(d.material_purposes(), vec!["surveys"]);
    assert_eq!(d.purposes.last().unwrap().purpose, "surveys");
}

#[test]
fn an_added_purpose_lists_its_fields_categories_and_processors() {
    let from = example();
    let mut to = from.clone();
    let mut surveys = to.purpose("newsletter").unwrap().clone();
    surveys.id = "surveys".into();
    to.purposes.insert(0, surveys);
    let d = diff(&from, &to);
    let p = entry(&d, "surveys");
    assert_eq!(p.added_fields, vec!["email"]);
    assert_eq!(p.added_categories, vec!["contact.email"]);
    assert_eq!(p.added_processors, vec!["mailer"]);
    assert_summary(p, "Uses your email (contact.email).");
    assert_summary(p, "Shared with Mailer Inc. (mailer).");
    assert_eq!(d.purposes[0].purpose, "surveys", "purposes follow `to` order");
}

#[test]
fn a_field_added_to_a_purpose_is_material_for_that_purpose_only() {
    // email also serves analytics now; for account and newsletter it is kept shorter (90 days).
    let to = edited(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["account", "newsletter", "analytics"]"#);
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["analytics"]);
    let p = entry(&d, "analytics");
    assert_eq!(p.change, Change::Changed);
    assert_eq!(p.added_fields, vec!["email"]);
    assert_eq!(p.added_categories, vec!["contact.email"]);
    assert_summary(p, "Now also uses your email (contact.email).");
    let newsletter = entry(&d, "newsletter");
    assert_eq!(newsletter.change, Change::Changed);
    assert!(!newsletter.material, "a shorter retention is not material");
    assert_summary(newsletter, "Your email (contact.email) is now kept for 90 days instead of 730.");
}

#[test]
fn a_new_field_in_an_existing_category_is_still_material() {
    let to = appended(
        "\n[[field]]\nname = \"work_email\"\ntype = \"string\"\ncategory = \"contact.email\"\npurposes = [\"newsletter\"]\n",
    );
    let d = diff(&example(), &to);
    let p = entry(&d, "newsletter");
    assert!(p.material);
    assert_eq!(p.added_fields, vec!["work_email"]);
    assert!(p.added_categories.is_empty());
    assert_summary(p, "Now also uses your work email (contact.email).");
    assert_eq!(d.material_purposes(), vec!["newsletter"]);
}

#[test]
fn a_category_added_by_reclassifying_a_field_is_material() {
    let to = edited(r#"category = "behavior.browsing""#, r#"category = "behavior.purchases""#);
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["personalization", "analytics"]);
    let p = entry(&d, "personalization");
    assert!(p.added_fields.is_empty());
    assert_eq!(p.added_categories, vec!["behavior.purchases"]);
    assert_eq!(p.removed_categories, vec!["behavior.browsing"]);
    assert_summary(p, "Now also covers data of category behavior.purchases.");
    assert_summary(p, "No longer covers data of category behavior.browsing.");
}

#[test]
fn a_longer_purpose_retention_is_material() {
    let to = edited("retention_days = 730", "retention_days = 1000");
    let d = diff(&example(), &to);
    let p = entry(&d, "newsletter");
    assert!(p.material);
    assert_eq!(p.retention_days, Some(Transition { from: 730, to: 1000 }));
    assert_summary(p, "Data is now kept for 1000 days instead of 730.");
    // email, shared with account, is now kept 1000 days instead of 730 there too.
    let account = entry(&d, "account");
    assert!(account.material);
    assert_eq!(account.retention_days, None);
    assert_summary(account, "Your email (contact.email) is now kept for 1000 days instead of 730.");
    assert_eq!(d.material_purposes(), vec!["account", "newsletter"]);
}

#[test]
fn a_longer_field_retention_is_material_and_named() {
    let to = edited(
        "purposes = [\"personalization\", \"analytics\"]\n",
        "purposes = [\"personalization\", \"analytics\"]\nretention_days = 2000\n",
    );
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["personalization", "analytics"]);
    let p = entry(&d, "analytics");
    assert_eq!(p.retention_days, None);
    assert!(p.added_fields.is_empty());
    assert_summary(p, "Your product id (behavior.browsing) is now kept for 2000 days instead of 90.");
}

#[test]
fn an_added_processor_is_material_for_the_purposes_it_receives() {
    let to = appended(
        "\n[[processor]]\nid = \"stats\"\nname = \"Stats Co\"\nurl = \"https://stats.example/hook\"\npurposes = [\"analytics\"]\nsecret = \"stats-secret-0123456789\"\n",
    );
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["analytics"]);
    let p = entry(&d, "analytics");
    assert_eq!(p.added_processors, vec!["stats"]);
    assert_summary(p, "Now also shared with Stats Co (stats).");
}

#[test]
fn an_existing_processor_receiving_another_purpose_is_material_for_it() {
    let to = edited("purposes = [\"newsletter\"]\nsecret", "purposes = [\"newsletter\", \"account\"]\nsecret");
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["account"]);
    assert_eq!(entry(&d, "account").added_processors, vec!["mailer"]);
}

#[test]
fn a_changed_legal_basis_is_material() {
    let to = edited(
        "legal_basis = \"consent\"\nretention_days = 90",
        "legal_basis = \"legitimate_interest\"\nretention_days = 90",
    );
    let d = diff(&example(), &to);
    assert_eq!(d.material_purposes(), vec!["analytics"]);
    let p = entry(&d, "analytics");
    assert_eq!(p.legal_basis, Some(Transition { from: LegalBasis::Consent, to: LegalBasis::LegitimateInterest }));
    assert_summary(p, "Now based on our legitimate interest instead of your consent.");
}

// --- the diff: changes that are not material ----------------------------------------------

#[test]
fn a_removed_purpose_is_not_material_and_listed_last() {
    let from = example();
    let mut to = from.clone();
    to.purposes.retain(|p| p.id != "personalization");
    to.purposes.reverse();
    let d = diff(&from, &to);
    let order: Vec<&str> = d.purposes.iter().map(|p| p.purpose.as_str()).collect();
    assert_eq!(order, ["analytics", "newsletter", "account", "personalization"]);
    let p = entry(&d, "personalization");
    assert_eq!(p.change, Change::Removed);
    assert!(!p.material);
    assert_eq!(p.removed_fields, vec!["product_id"]);
    assert_eq!(p.removed_categories, vec!["behavior.browsing"]);
    assert_summary(p, "This purpose is no longer used: Recommendations for you.");
    assert!(d.material_purposes().is_empty());
}

#[test]
fn a_removed_field_is_not_material() {
    let to = edited(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["account"]"#);
    let d = diff(&example(), &to);
    let p = entry(&d, "newsletter");
    assert!(!p.material);
    assert_eq!(p.change, Change::Changed);
    assert_eq!(p.removed_fields, vec!["email"]);
    assert_eq!(p.removed_categories, vec!["contact.email"]);
    assert_summary(p, "No longer uses your email (contact.email).");
    // account keeps email, and now keeps it for its own 1095 days rather than newsletter's
    // 730: that side effect is a longer retention, so it is material for account.
    assert_eq!(d.material_purposes(), vec!["account"]);

    let to = edited(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["newsletter"]"#);
    let d = diff(&example(), &to);
    assert!(d.material_purposes().is_empty(), "{d:#?}");
    assert_eq!(entry(&d, "account").removed_fields, vec!["email"]);
}

#[test]
fn a_shorter_retention_is_not_material() {
    let to = edited("retention_days = 730", "retention_days = 365");
    let d = diff(&example(), &to);
    assert!(d.material_purposes().is_empty(), "{d:#?}");
    let p = entry(&d, "newsletter");
    assert_eq!(p.change, Change::Changed);
    assert_eq!(p.retention_days, Some(Transition { from: 730, to: 365 }));
    assert_summary(p, "Data is now kept for 365 days instead of 730.");
}

#[test]
fn text_edits_are_not_material() {
    let to = edited(r#"de = "Angebote per E-Mail""#, r#"de = "Angebote per Mail""#);
    let d = diff(&example(), &to);
    assert!(d.material_purposes().is_empty());
    let p = entry(&d, "newsletter");
    assert_eq!(p.change, Change::Changed);
    assert!(p.text_changed);
    assert_summary(p, "The title or description was reworded.");

    let to = edited("One email a week with offers.", "One email a week with our best offers.");
    let p = diff(&example(), &to).purposes[2].clone();
    assert!(p.text_changed && !p.material);
}

#[test]
fn benefit_changes_are_not_material() {
    let to = appended(
        "\n[[benefit]]\nid = \"early_access\"\ntitle = \"Early access to sales\"\nkind = \"feature\"\nrequires = [\"newsletter\", \"personalization\"]\n",
    );
    let d = diff(&example(), &to);
    assert!(d.material_purposes().is_empty());
    let p = entry(&d, "personalization");
    assert_eq!(p.change, Change::Changed);
    assert_summary(p, "New benefit: Early access to sales.");
    let back = diff(&to, &example());
    assert_summary(entry(&back, "newsletter"), "Benefit no longer offered: Early access to sales.");
    assert!(back.material_purposes().is_empty());
}

#[test]
fn a_removed_processor_is_not_material() {
    let from = example();
    let to = Notice::from_catalog(&catalog(EXAMPLE_CATALOG.split("[[processor]]").next().unwrap()));
    let d = diff(&from, &to);
    assert!(d.material_purposes().is_empty());
    let p = entry(&d, "newsletter");
    assert_eq!(p.removed_processors, vec!["mailer"]);
    assert_summary(p, "No longer shared with Mailer Inc. (mailer).");
}

#[test]
fn gpc_and_recommendation_flags_are_described_but_not_material() {
    let from = edited("gpc_opt_out = true\n", "");
    let d = diff(&from, &example());
    assert!(d.material_purposes().is_empty());
    assert_summary(entry(&d, "analytics"), "A Global Privacy Control signal now counts as a refusal.");
}

#[test]
fn organization_changes_are_flagged_but_not_material() {
    let to = edited(r#"name = "Acme Outdoor""#, r#"name = "Acme Outdoor GmbH""#);
    let d = diff(&example(), &to);
    assert!(d.organization_changed);
    assert!(d.material_purposes().is_empty());
    assert!(d.purposes.iter().all(|p| p.change == Change::Unchanged));
}

#[test]
fn change_serializes_snake_case() {
    for (change, name) in [
        (Change::Added, "added"),
        (Change::Removed, "removed"),
        (Change::Changed, "changed"),
        (Change::Unchanged, "unchanged"),
    ] {
        assert_eq!(serde_json::to_value(change).unwrap(), serde_json::json!(name));
    }
}

// --- properties ----------------------------------------------------------------------------

fn text() -> impl Strategy<Value = Text> {
    ("[A-Z][a-z ]{0,12}", prop::collection::btree_map("de|fr|es|pt-BR", "[a-z ]{1,12}", 0..3))
        .prop_map(|(default, translations)| Text { default, translations })
}

fn field() -> impl Strategy<Value = NoticeField> {
    (
        "[a-z][a-z0-9_]{0,8}",
        prop::sample::select(FieldType::ALL.to_vec()),
        "(contact|behavior|special|profile)\\.(email|browsing|health|age)",
        any::<bool>(),
        1u32..2000,
    )
        .prop_map(|(name, kind, category, pii, retention_days)| NoticeField {
            name,
            kind,
            category,
            pii,
            retention_days,
        })
}

fn categories_of(fields: &[NoticeField]) -> Vec<String> {
    let set: BTreeSet<&str> = fields.iter().map(|f| f.category.as_str()).collect();
    set.into_iter().map(str::to_owned).collect()
}

fn purpose(id: String) -> impl Strategy<Value = NoticePurpose> {
    (
        (text(), text()),
        prop::sample::select(LegalBasis::ALL.to_vec()),
        1u32..2000,
        (any::<bool>(), any::<bool>()),
        prop::collection::vec(field(), 0..5),
        prop::collection::btree_set("[a-z]{1,6}", 0..3),
        prop::collection::vec(
            (
                "[a-z]{1,6}",
                text(),
                prop::sample::select(vec![BenefitKind::Discount, BenefitKind::Content, BenefitKind::Feature]),
            ),
            0..2,
        ),
    )
        .prop_map(
            move |(
                (title, description),
                legal_basis,
                retention_days,
                (gpc_opt_out, recommendations),
                fields,
                processors,
                benefits,
            )| {
                let mut seen = BTreeSet::new();
                let fields: Vec<NoticeField> = fields.into_iter().filter(|f| seen.insert(f.name.clone())).collect();
                NoticePurpose {
                    id: id.clone(),
                    title,
                    description,
                    legal_basis,
                    retention_days,
                    gpc_opt_out,
                    recommendations,
                    categories: categories_of(&fields),
                    fields,
                    benefits: benefits
                        .into_iter()
                        .map(|(id, title, kind)| NoticeBenefit { id, title, kind, requires: Vec::new() })
                        .collect(),
                    processors: processors.into_iter().collect(),
                }
            },
        )
}

fn notice() -> impl Strategy<Value = Notice> {
    let purposes = prop::collection::btree_set("[a-z][a-z0-9_]{0,6}", 1..5)
        .prop_flat_map(|ids| ids.into_iter().map(purpose).collect::<Vec<_>>().prop_shuffle());
    (purposes, "[A-Z][a-z]{0,10}", 1u32..1000).prop_map(|(purposes, name, days)| {
        let mut receivers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for p in &purposes {
            for processor in &p.processors {
                receivers.entry(processor.clone()).or_default().push(p.id.clone());
            }
        }
        Notice {
            organization: NoticeOrganization {
                name,
                contact: "privacy@example.com".into(),
                allowed_origins: vec!["https://example.com".into()],
                consent_valid_days: days,
            },
            purposes,
            processors: receivers
                .into_iter()
                .map(|(id, purposes)| NoticeProcessor { name: Some(id.to_uppercase()), id, purposes })
                .collect(),
        }
    })
}

proptest! {
    #[test]
    fn diff_with_itself_is_never_material(n in notice()) {
        let d = diff(&n, &n);
        prop_assert!(!d.organization_changed);
        prop_assert!(d.material_purposes().is_empty());
        prop_assert_eq!(d.purposes.len(), n.purposes.len());
        for p in &d.purposes {
            prop_assert_eq!(p.change, Change::Unchanged);
            prop_assert!(!p.material);
        }
    }

    #[test]
    fn adding_a_field_is_material_for_exactly_that_purpose(
        n in notice(),
        which in any::<prop::sample::Index>(),
        mut new_field in field(),
    ) {
        let mut to = n.clone();
        let target = &mut to.purposes[which.index(n.purposes.len())];
        while target.field(&new_field.name).is_some() {
            new_field.name.push('x');
        }
        target.fields.push(new_field.clone());
        target.categories = categories_of(&target.fields);
        let id = target.id.clone();

        let d = diff(&n, &to);
        prop_assert_eq!(d.material_purposes(), vec![id.clone()]);
        let p = d.purpose(&id).unwrap();
        prop_assert_eq!(p.change, Change::Changed);
        prop_assert_eq!(&p.added_fields, &vec![new_field.name.clone()]);
        prop_assert!(p.summary.iter().any(|s| s.starts_with("Now also uses your")));
    }

    #[test]
    fn diff_lists_new_purposes_in_order_then_removed_ones(a in notice(), b in notice()) {
        let d = diff(&a, &b);
        let mut expected: Vec<&str> = b.purposes.iter().map(|p| p.id.as_str()).collect();
        expected.extend(
            a.purposes.iter().map(|p| p.id.as_str()).filter(|id| b.purpose(id).is_none()),
        );
        let got: Vec<&str> = d.purposes.iter().map(|p| p.purpose.as_str()).collect();
        prop_assert_eq!(got, expected);
        for p in &d.purposes {
            match p.change {
                Change::Added => prop_assert!(p.material),
                Change::Removed | Change::Unchanged => prop_assert!(!p.material),
                Change::Changed => prop_assert!(!p.summary.is_empty()),
            }
        }
    }

    #[test]
    fn adding_a_field_through_the_catalog_is_material_for_its_purpose(
        which in 0usize..4,
        name in "[a-z]{1,8}",
        category in "(contact|behavior|profile)\\.[a-z]{1,8}",
    ) {
        let base = catalog(EXAMPLE_CATALOG);
        let purpose = base.purposes[which].id.clone();
        let name = format!("new_{name}");
        let mut grown = base.clone();
        grown.fields.push(crate::catalog::Field {
            name: name.clone(),
            kind: FieldType::String,
            max_len: None,
            values: Vec::new(),
            category,
            pii: false,
            purposes: vec![purpose.clone()],
            retention_days: None,
        });
        let d = diff(&Notice::from_catalog(&base), &Notice::from_catalog(&grown));
        prop_assert_eq!(d.material_purposes(), vec![purpose.clone()]);
        prop_assert_eq!(&d.purpose(&purpose).unwrap().added_fields, &vec![name]);
    }
}
