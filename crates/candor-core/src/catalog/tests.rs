use super::*;
use proptest::prelude::*;

fn example() -> Catalog {
    Catalog::parse(EXAMPLE_CATALOG).unwrap_or_else(|e| panic!("example must parse:\n{e}"))
}

/// The example with `old` (which must occur exactly once) replaced by `new`.
fn edit(old: &str, new: &str) -> String {
    assert_eq!(EXAMPLE_CATALOG.matches(old).count(), 1, "{old:?} must occur once in the example");
    EXAMPLE_CATALOG.replacen(old, new, 1)
}

fn errors(source: &str) -> Vec<CatalogError> {
    match Catalog::parse(source) {
        Ok(_) => panic!("expected errors, but the catalog parsed:\n{source}"),
        Err(errors) => errors.0,
    }
}

/// Asserts that parsing `source` reports exactly one problem, on `line` at `path`,
/// whose message contains `fragment`.
#[track_caller]
fn expect_only(source: &str, line: usize, path: &str, fragment: &str) {
    let errors = errors(source);
    assert_eq!(errors.len(), 1, "expected exactly one error, got: {errors:#?}");
    let e = &errors[0];
    assert_eq!((e.line, e.path.as_str()), (line, path), "wrong place: {e:#?}");
    assert!(e.message.contains(fragment), "message {:?} lacks {fragment:?}", e.message);
}

/// Like `expect_only`, but other errors may be reported too.
#[track_caller]
fn expect_among(source: &str, line: usize, path: &str, fragment: &str) {
    let errors = errors(source);
    assert!(
        errors.iter().any(|e| e.line == line && e.path == path && e.message.contains(fragment)),
        "no error at line {line}, {path}, containing {fragment:?}; got: {errors:#?}"
    );
}

// --- the example -------------------------------------------------------------------------

#[test]
fn example_parses_with_defaults_translations_and_processor() {
    let c = example();
    assert_eq!(c.organization.name, "Acme Outdoor");
    assert_eq!(c.organization.consent_valid_days, 395);
    assert_eq!(c.organization.allowed_origins, vec!["https://shop.acme.example"]);
    let ids: Vec<&str> = c.purposes.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["account", "personalization", "newsletter", "analytics"]);
    for p in &c.purposes {
        assert!(p.title.translations.contains_key("de"), "{} title", p.id);
        assert!(p.description.translations.contains_key("de"), "{} description", p.id);
    }
    let newsletter = c.purpose("newsletter").unwrap();
    assert_eq!(newsletter.title.get("de"), "Angebote per E-Mail");
    assert_eq!(newsletter.legal_basis, LegalBasis::Consent);
    assert!(!newsletter.gpc_opt_out);
    assert!(c.purpose("personalization").unwrap().recommendations);
    assert!(!newsletter.recommendations);

    let product = c.field("product_id").unwrap();
    assert_eq!(product.kind, FieldType::Id);
    assert!(!product.pii);
    assert_eq!(product.max_len, None);
    let email = c.field("email").unwrap();
    assert_eq!(email.max_len, Some(254));
    assert!(email.pii);

    let event = c.event("product_viewed").unwrap();
    assert_eq!(event.item_field.as_deref(), Some("product_id"));
    assert_eq!(event.weight, 1.0);

    let benefit = c.benefit("welcome10").unwrap();
    assert_eq!(benefit.kind, BenefitKind::Discount);
    assert_eq!(benefit.requires, vec!["newsletter"]);
    assert_eq!(benefit.description, None);

    let mailer = c.processor("mailer").unwrap();
    assert_eq!(mailer.name.as_deref(), Some("Mailer Inc."));
    assert_eq!(mailer.url, "https://mailer.example/candor-webhook");
    assert_eq!(mailer.purposes, vec!["newsletter"]);
    assert_eq!(mailer.secret, "change-me-mailer-secret-0123456789");

    assert!(c.purpose("nope").is_none());
    assert!(c.field("nope").is_none());
    assert!(c.event("nope").is_none());
}

#[test]
fn the_spec_example_without_extras_parses() {
    // SPEC §9 verbatim: plain-string titles, no processor.
    let spec = EXAMPLE_CATALOG
        .split("[[processor]]")
        .next()
        .unwrap()
        .replace(r#"{ en = "Run your account", de = "Ihr Kundenkonto führen" }"#, r#""Run your account""#);
    let c = Catalog::parse(&spec).unwrap();
    assert!(c.processors.is_empty());
    assert_eq!(c.purpose("account").unwrap().title, Text::from("Run your account"));
}

#[test]
fn defaults_apply_when_keys_are_omitted() {
    let source = edit("weight = 1.0\n", "");
    let c = Catalog::parse(&source).unwrap();
    assert_eq!(c.event("product_viewed").unwrap().weight, 1.0);
    let source = r#"
[organization]
name = "A"
contact = "a@a.example"

[[purpose]]
id = "p"
title = "P"
description = "D"
legal_basis = "consent"
retention_days = 1

[[event]]
name = "ping"
"#;
    let c = Catalog::parse(source).unwrap();
    assert_eq!(c.organization.allowed_origins, Vec::<String>::new());
    assert_eq!(c.organization.consent_valid_days, DEFAULT_CONSENT_VALID_DAYS);
    assert_eq!(c.event("ping").unwrap().fields, Vec::<String>::new());
    assert!(c.fields.is_empty() && c.benefits.is_empty() && c.processors.is_empty());
}

#[test]
fn catalog_written_back_as_toml_parses_to_the_same_value() {
    let c = example();
    let written = toml::to_string(&c).unwrap();
    assert_eq!(Catalog::parse(&written).unwrap(), c);
    let json = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<Catalog>(&json).unwrap(), c);
}

#[test]
fn effective_retention_is_the_fields_own_else_the_shortest_purpose() {
    let c = example();
    // email serves account (1095) and newsletter (730).
    assert_eq!(c.field("email").unwrap().effective_retention_days(&c), 730);
    // product_id serves personalization (365) and analytics (90).
    assert_eq!(c.field("product_id").unwrap().effective_retention_days(&c), 90);
    let own = Catalog::parse(&edit("pii = true\n", "pii = true\nretention_days = 2000\n")).unwrap();
    assert_eq!(own.field("email").unwrap().effective_retention_days(&own), 2000);
}

#[test]
fn special_fields_are_recognised_by_category() {
    let mut field = example().field("email").unwrap().clone();
    assert!(!field.is_special());
    field.category = "special.health".into();
    assert!(field.is_special());
    field.category = "specialty.food".into();
    assert!(!field.is_special());
}

#[test]
fn legal_basis_names_and_always_on() {
    let names: Vec<&str> = LegalBasis::ALL.iter().map(LegalBasis::as_str).collect();
    assert_eq!(names, ["consent", "contract", "legal_obligation", "legitimate_interest"]);
    for basis in LegalBasis::ALL {
        assert_eq!(serde_json::to_string(&basis).unwrap(), format!("\"{}\"", basis.as_str()));
        assert_eq!(LegalBasis::parse(basis.as_str()), Some(basis));
    }
    assert!(LegalBasis::Contract.always_on());
    assert!(LegalBasis::LegalObligation.always_on());
    assert!(!LegalBasis::Consent.always_on());
    assert!(!LegalBasis::LegitimateInterest.always_on());
}

#[test]
fn field_type_and_benefit_kind_serialize_lowercase() {
    assert_eq!(serde_json::to_string(&FieldType::Timestamp).unwrap(), "\"timestamp\"");
    assert_eq!(serde_json::to_string(&BenefitKind::Feature).unwrap(), "\"feature\"");
    let field = example().field("email").unwrap().clone();
    let json = serde_json::to_value(&field).unwrap();
    assert_eq!(json["type"], "string");
}

// --- Text ----------------------------------------------------------------------------------

#[test]
fn text_parses_as_plain_string_or_translation_table() {
    let source = edit(
        r#"title = "10% off your next order""#,
        "title = \"10% off\"\ndescription.en = \"Once.\"\ndescription.fr = \"Une fois.\"\ndescription.pt-BR = \"Uma vez.\"",
    );
    let c = Catalog::parse(&source).unwrap();
    let benefit = c.benefit("welcome10").unwrap();
    assert_eq!(benefit.title, Text::from("10% off"));
    let description = benefit.description.as_ref().unwrap();
    assert_eq!(description.default, "Once.");
    assert_eq!(description.get("fr"), "Une fois.");
    assert_eq!(description.get("pt-BR"), "Uma vez.");
    assert_eq!(description.get("pt-PT"), "Once.");
    assert_eq!(description.translations.len(), 2);
}

#[test]
fn text_get_falls_back_by_region_then_default() {
    let text = example().purpose("newsletter").unwrap().title.clone();
    assert_eq!(text.get("de"), "Angebote per E-Mail");
    assert_eq!(text.get("de-DE"), "Angebote per E-Mail");
    assert_eq!(text.get("DE-at"), "Angebote per E-Mail");
    assert_eq!(text.get("de_CH"), "Angebote per E-Mail");
    assert_eq!(text.get("en"), "Deals by email");
    assert_eq!(text.get("en-GB"), "Deals by email");
    assert_eq!(text.get("fr"), "Deals by email");
    assert_eq!(text.get(""), "Deals by email");
}

#[test]
fn text_serializes_as_string_or_table_and_round_trips() {
    let plain = Text::from("Hello");
    assert_eq!(serde_json::to_string(&plain).unwrap(), "\"Hello\"");
    assert_eq!(serde_json::from_str::<Text>("\"Hello\"").unwrap(), plain);

    let translated = example().purpose("newsletter").unwrap().title.clone();
    let json = serde_json::to_value(&translated).unwrap();
    assert_eq!(json, serde_json::json!({"en": "Deals by email", "de": "Angebote per E-Mail"}));
    assert_eq!(serde_json::from_value::<Text>(json).unwrap(), translated);
    assert!(serde_json::from_str::<Text>(r#"{"de": "Hallo"}"#).is_err());
}

// --- syntax, types, keys -------------------------------------------------------------------

#[test]
fn toml_syntax_error_has_its_line() {
    let source = edit("retention_days = 730\n", "retention_days = \n");
    let errors = errors(&source);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 26);
    assert!(!errors[0].message.is_empty());
}

#[test]
fn toml_syntax_messages_fit_on_one_line() {
    let shown = Catalog::parse("a = [1,").unwrap_err().to_string();
    assert_eq!(shown, "line 1: invalid array; expected `]`");
    let shown = Catalog::parse("\n\nname =").unwrap_err().to_string();
    assert_eq!(shown, "line 3: invalid TOML syntax");
}

#[test]
fn duplicate_toml_key_is_a_syntax_error_with_line() {
    let source = edit("retention_days = 730\n", "retention_days = 730\nretention_days = 731\n");
    let errors = errors(&source);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, 27);
    assert!(errors[0].message.contains("duplicate"), "{errors:#?}");
}

#[test]
fn wrong_type_is_reported_at_the_value() {
    expect_only(
        &edit("retention_days = 730", "retention_days = \"730\""),
        26,
        "purpose \"newsletter\".retention_days",
        "expected a whole number, found a string",
    );
    expect_only(&edit("pii = true", "pii = \"yes\""), 40, "field \"email\".pii", "expected a boolean");
    expect_only(
        &edit(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["account", 7]"#),
        41,
        "field \"email\".purposes[1]",
        "expected a string, found an integer",
    );
    expect_only(
        &edit(r#"title = "10% off your next order""#, "title = 10"),
        57,
        "benefit \"welcome10\".title",
        "expected a string or a table of translations",
    );
    expect_only(
        &edit("weight = 1.0", "weight = \"heavy\""),
        53,
        "event \"product_viewed\".weight",
        "expected a number, found a string",
    );
}

#[test]
fn sections_of_the_wrong_shape_are_reported() {
    expect_among(
        &format!("processor = 5\n{}", EXAMPLE_CATALOG.split("[[processor]]").next().unwrap()),
        1,
        "processor",
        "expected an array of tables ([[processor]])",
    );
    expect_among(
        &EXAMPLE_CATALOG.replacen("[organization]\n", "organization = \"Acme\"\n[ignored]\n", 1),
        1,
        "organization",
        "expected a table, found a string",
    );
}

#[test]
fn integers_out_of_range_are_reported() {
    expect_only(
        &edit("retention_days = 730", "retention_days = -1"),
        26,
        "purpose \"newsletter\".retention_days",
        "out of range",
    );
    expect_only(
        &edit("retention_days = 730", "retention_days = 99999999999"),
        26,
        "purpose \"newsletter\".retention_days",
        "out of range",
    );
}

#[test]
fn unknown_key_is_reported_with_a_suggestion() {
    expect_only(
        &edit("retention_days = 730", "retension_days = 730"),
        26,
        "purpose \"newsletter\".retension_days",
        "unknown key \"retension_days\" (did you mean \"retention_days\"?)",
    );
    // The misspelt key also leaves the real one missing.
    let errors = errors(&edit("retention_days = 730", "retension_days = 730"));
    assert_eq!(errors.len(), 1, "{errors:#?}");
}

#[test]
fn unknown_key_without_a_close_match_lists_the_known_ones() {
    let source = edit("pii = true\n", "pii = true\ncolour = \"red\"\n");
    let errors = errors(&source);
    let e = errors.iter().find(|e| e.path == "field \"email\".colour").unwrap_or_else(|| panic!("{errors:#?}"));
    assert_eq!(e.line, 41);
    assert!(e.message.contains("expected one of: name, type"), "{e:#?}");
}

#[test]
fn unknown_top_level_table_is_reported() {
    let source = format!("{EXAMPLE_CATALOG}\n[purpse]\nid = \"x\"\n");
    expect_only(&source, 68, "purpse", "did you mean \"purpose\"?");
}

#[test]
fn unknown_key_in_translations_or_organization_is_reported() {
    expect_only(
        &edit("allowed_origins = [", "consent_valid_dais = 10\nallowed_origins = ["),
        4,
        "organization.consent_valid_dais",
        "did you mean \"consent_valid_days\"?",
    );
    expect_only(
        &edit(
            r#"title = { en = "Deals by email", de = "Angebote per E-Mail" }"#,
            r#"title = { en = "Deals by email", DE = "Angebote per E-Mail" }"#,
        ),
        23,
        "purpose \"newsletter\".title.DE",
        "\"DE\" is not a language code",
    );
}

#[test]
fn missing_required_key_is_reported_at_its_table() {
    // Deleting a line shifts nothing above it: the account purpose starts on line 6.
    expect_only(
        &edit("legal_basis = \"contract\"\n", ""),
        6,
        "purpose \"account\".legal_basis",
        "missing required key \"legal_basis\"",
    );
    expect_only(&edit("kind = \"discount\"\n", ""), 55, "benefit \"welcome10\".kind", "missing required key \"kind\"");
    expect_only(&edit("contact = \"privacy@acme.example\"\n", ""), 1, "organization.contact", "missing required key");
    expect_only(&edit("id = \"mailer\"\n", ""), 61, "processor[0].id", "missing required key \"id\"");
}

#[test]
fn missing_organization_and_purposes_are_reported() {
    let without_org = EXAMPLE_CATALOG.replacen(
        "[organization]\nname = \"Acme Outdoor\"\ncontact = \"privacy@acme.example\"\nallowed_origins = [\"https://shop.acme.example\"]\n",
        "",
        1,
    );
    expect_only(&without_org, 0, "organization", "missing required key");

    let only_org = "[organization]\nname = \"A\"\ncontact = \"a@a.example\"\n";
    expect_only(only_org, 0, "purpose", "declares no purpose");
    let empty = format!("purpose = []\n{only_org}");
    expect_only(&empty, 1, "purpose", "declares no purpose");
}

#[test]
fn server_table_is_accepted_and_ignored() {
    let source = format!(
        "{EXAMPLE_CATALOG}\n[server]\nlisten = \"0.0.0.0:8080\"\nanything = {{ goes = true }}\n\n[server.tls]\ncert = \"x\"\n"
    );
    assert_eq!(Catalog::parse(&source).unwrap(), example());
    // Nested only, with no `[server]` header: an implicit table.
    let implicit = format!("{EXAMPLE_CATALOG}\n[server.limits]\nbody = 1\n");
    assert_eq!(Catalog::parse(&implicit).unwrap(), example());
    expect_only(&format!("server = 1\n{EXAMPLE_CATALOG}"), 1, "server", "expected a table");
}

#[test]
fn every_error_is_reported_in_line_order() {
    let source = edit("retention_days = 730", "retention_days = 0")
        .replacen("weight = 1.0", "weight = 0.0", 1)
        .replacen(r#"name = "Acme Outdoor""#, r#"name = """#, 1)
        .replacen(r#"requires = ["newsletter"]"#, r#"requires = ["account"]"#, 1);
    let errors = errors(&source);
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 26, 53, 59], "{errors:#?}");
    let shown = CatalogErrors(errors).to_string();
    assert_eq!(shown.lines().count(), 4);
    assert!(shown.starts_with("line 2: organization.name: must not be empty"), "{shown}");
}

#[test]
fn odd_keys_and_values_are_escaped_so_each_error_keeps_one_line() {
    let source = edit("pii = true\n", "pii = true\n\"two\\nlines\" = 1\ncategory2 = \"x\"\n").replacen(
        r#"type = "string""#,
        "type = \"str\\ning\"",
        1,
    );
    let errors = Catalog::parse(&source).unwrap_err();
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), errors.0.len(), "{shown}");
    assert!(shown.contains(r#"field "email"."two\nlines": unknown key "two\nlines""#), "{shown}");
    assert!(shown.contains(r#"unknown type "str\ning""#), "{shown}");
}

#[test]
fn display_names_line_path_and_message() {
    let source = edit(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["account", "newsleter"]"#);
    let shown = Catalog::parse(&source).unwrap_err().to_string();
    assert_eq!(shown, "line 41: field \"email\".purposes: unknown purpose \"newsleter\"");
    let no_line = CatalogError { line: 0, path: "organization".into(), message: "missing".into() };
    assert_eq!(no_line.to_string(), "organization: missing");
}

// --- organization -------------------------------------------------------------------------

#[test]
fn organization_name_and_contact_must_not_be_empty() {
    expect_only(&edit(r#"name = "Acme Outdoor""#, r#"name = "  ""#), 2, "organization.name", "must not be empty");
    expect_only(
        &edit(r#"contact = "privacy@acme.example""#, r#"contact = """#),
        3,
        "organization.contact",
        "must not be empty",
    );
}

#[test]
fn allowed_origins_must_be_origins() {
    let cases = [
        ("https://shop.acme.example/", "trailing slash"),
        ("https://shop.acme.example/path", "path"),
        ("https://shop.acme.example?q=1", "query"),
        ("ftp://shop.acme.example", "http:// or https://"),
        ("shop.acme.example", "http:// or https://"),
        ("https://", "no host"),
        ("https://shop.acme.example:0", "port"),
        ("https://shop.acme.example:99999", "port"),
        ("https://shop.acme.example:", "port"),
        ("https://Shop.Acme.example", "lowercase"),
        ("https://user@shop.acme.example", "user"),
        ("https://shop..example", "host name"),
        ("https://sh op.example", "host name"),
        ("https://[::1", "closing ]"),
        ("*", "http:// or https://"),
    ];
    for (origin, fragment) in cases {
        let source = edit(
            r#"allowed_origins = ["https://shop.acme.example"]"#,
            &format!("allowed_origins = [\"https://ok.example\", \"{origin}\"]"),
        );
        expect_only(&source, 4, "organization.allowed_origins[1]", fragment);
        let message = &errors(&source)[0].message;
        assert!(message.contains("is not an origin (scheme://host[:port])"), "{message}");
    }
}

#[test]
fn valid_origins_are_accepted() {
    let source = edit(
        r#"allowed_origins = ["https://shop.acme.example"]"#,
        r#"allowed_origins = ["https://shop.acme.example", "http://localhost:8080", "http://127.0.0.1:3000", "https://[::1]:8443", "https://xn--bcher-kva.example"]"#,
    );
    assert_eq!(Catalog::parse(&source).unwrap().organization.allowed_origins.len(), 5);
}

#[test]
fn consent_valid_days_must_be_positive() {
    expect_only(
        &edit("allowed_origins = [", "consent_valid_days = 0\nallowed_origins = ["),
        4,
        "organization.consent_valid_days",
        "must be at least 1",
    );
    let c = Catalog::parse(&edit("allowed_origins = [", "consent_valid_days = 180\nallowed_origins = [")).unwrap();
    assert_eq!(c.organization.consent_valid_days, 180);
}

// --- names and duplicates -----------------------------------------------------------------

#[test]
fn ids_and_names_must_be_lowercase_identifiers() {
    let too_long = format!("a{}", "b".repeat(64));
    let bad_ids = ["Newsletter", "1st", "news-letter", "", "_x", "né", too_long.as_str()];
    for bad in bad_ids {
        let source = edit(r#"id = "mailer""#, &format!("id = \"{bad}\""));
        expect_only(&source, 62, "processor[0].id", "is not a valid name");
    }
    assert!(is_valid_id(&"a".repeat(64)));
    assert!(is_valid_id("a_1"));

    // The bad id is reported once; the field still naming "analytics" now points at nothing.
    let source = edit(r#"id = "analytics""#, r#"id = "Analytics""#);
    expect_among(&source, 29, "purpose[3].id", "\"Analytics\" is not a valid name");
    expect_among(&source, 47, "field \"product_id\".purposes", "unknown purpose \"analytics\"");
    assert_eq!(errors(&source).len(), 2);

    expect_among(&edit(r#"name = "email""#, r#"name = "e-mail""#), 36, "field[0].name", "is not a valid name");
    expect_only(
        &edit(r#"name = "product_viewed""#, r#"name = "Product viewed""#),
        50,
        "event[0].name",
        "is not a valid name",
    );
    expect_only(&edit(r#"id = "welcome10""#, r#"id = "10welcome""#), 56, "benefit[0].id", "is not a valid name");
}

#[test]
fn duplicates_name_the_first_definition() {
    let source = edit(r#"id = "analytics""#, r#"id = "newsletter""#);
    expect_among(
        &source,
        29,
        "purpose \"newsletter\".id",
        "duplicate purpose id \"newsletter\" (first defined on line 22)",
    );

    let source = edit(r#"name = "product_id""#, r#"name = "email""#);
    expect_among(&source, 44, "field \"email\".name", "duplicate field \"email\" (first defined on line 36)");

    let event = "\n[[event]]\nname = \"product_viewed\"\n";
    expect_only(
        &format!("{EXAMPLE_CATALOG}{event}"),
        69,
        "event \"product_viewed\".name",
        "duplicate event \"product_viewed\" (first defined on line 50)",
    );

    let benefit =
        "\n[[benefit]]\nid = \"welcome10\"\ntitle = \"Again\"\nkind = \"content\"\nrequires = [\"newsletter\"]\n";
    expect_only(
        &format!("{EXAMPLE_CATALOG}{benefit}"),
        69,
        "benefit \"welcome10\".id",
        "duplicate benefit id \"welcome10\" (first defined on line 56)",
    );

    let processor = "\n[[processor]]\nid = \"mailer\"\nurl = \"https://other.example\"\npurposes = [\"newsletter\"]\nsecret = \"another-secret-0123456789\"\n";
    expect_only(
        &format!("{EXAMPLE_CATALOG}{processor}"),
        69,
        "processor \"mailer\".id",
        "duplicate processor id \"mailer\" (first defined on line 62)",
    );
}

// --- purposes ------------------------------------------------------------------------------

#[test]
fn purpose_title_and_description_must_not_be_empty() {
    expect_only(
        &edit(r#"title = { en = "Deals by email", de = "Angebote per E-Mail" }"#, r#"title = """#),
        23,
        "purpose \"newsletter\".title",
        "must not be empty",
    );
    expect_only(
        &edit(
            r#"description = { en = "One email a week with offers.", de = "Eine E-Mail pro Woche mit Angeboten." }"#,
            r#"description = { en = "One email a week with offers.", de = " " }"#,
        ),
        24,
        "purpose \"newsletter\".description.de",
        "must not be empty",
    );
    expect_only(
        &edit(
            r#"title = { en = "Deals by email", de = "Angebote per E-Mail" }"#,
            r#"title = { en = "", de = "Angebote per E-Mail" }"#,
        ),
        23,
        "purpose \"newsletter\".title.en",
        "must not be empty",
    );
}

#[test]
fn translation_tables_must_contain_english() {
    expect_only(
        &edit(
            r#"title = { en = "Deals by email", de = "Angebote per E-Mail" }"#,
            r#"title = { de = "Angebote per E-Mail" }"#,
        ),
        23,
        "purpose \"newsletter\".title",
        "must include \"en\"",
    );
    expect_only(
        &edit(
            r#"title = { en = "Deals by email", de = "Angebote per E-Mail" }"#,
            r#"title = { en = "Deals by email", de = 3 }"#,
        ),
        23,
        "purpose \"newsletter\".title.de",
        "expected a string",
    );
}

#[test]
fn purpose_retention_must_be_positive() {
    expect_only(
        &edit("retention_days = 730", "retention_days = 0"),
        26,
        "purpose \"newsletter\".retention_days",
        "must be at least 1",
    );
}

#[test]
fn unknown_legal_basis_lists_the_valid_ones() {
    expect_only(
        &edit("legal_basis = \"contract\"", "legal_basis = \"contrat\""),
        10,
        "purpose \"account\".legal_basis",
        "unknown legal basis \"contrat\"; expected one of: consent, contract, legal_obligation, legitimate_interest",
    );
}

#[test]
fn only_one_purpose_may_feed_recommendations() {
    expect_only(
        &edit("retention_days = 730\n", "retention_days = 730\nrecommendations = true\n"),
        21,
        "purpose \"newsletter\".recommendations",
        "\"personalization\" (line 13) already does",
    );
}

#[test]
fn gpc_opt_out_is_read() {
    let c = Catalog::parse(EXAMPLE_CATALOG).unwrap();
    assert!(c.purpose("analytics").unwrap().gpc_opt_out);
    let c = Catalog::parse(&edit("gpc_opt_out = true\n", "")).unwrap();
    assert!(!c.purpose("analytics").unwrap().gpc_opt_out, "off by default");
}

// --- fields --------------------------------------------------------------------------------

#[test]
fn field_purposes_must_exist_and_not_be_empty() {
    expect_only(
        &edit(r#"purposes = ["account", "newsletter"]"#, r#"purposes = ["account", "newsleter"]"#),
        41,
        "field \"email\".purposes",
        "unknown purpose \"newsleter\"",
    );
    expect_only(
        &edit(r#"purposes = ["account", "newsletter"]"#, "purposes = []"),
        41,
        "field \"email\".purposes",
        "must name at least one purpose",
    );
    expect_only(
        &edit(r#"purposes = ["account", "newsletter"]"#, "purposes = [\"account\", \"account\"]"),
        41,
        "field \"email\".purposes",
        "purpose \"account\" is listed twice",
    );
    expect_only(
        &edit("purposes = [\"personalization\", \"analytics\"]\n", ""),
        43,
        "field \"product_id\".purposes",
        "missing required key",
    );
}

#[test]
fn unknown_purpose_in_a_multiline_list_names_its_own_line() {
    let source = edit(r#"purposes = ["account", "newsletter"]"#, "purposes = [\n  \"account\",\n  \"newsleter\",\n]");
    expect_only(&source, 43, "field \"email\".purposes", "unknown purpose \"newsleter\"");
}

#[test]
fn special_fields_may_only_serve_consent_purposes() {
    let field = "\n[[field]]\nname = \"allergies\"\ntype = \"string\"\ncategory = \"special.health\"\npii = true\npurposes = [\"newsletter\", \"account\"]\n";
    expect_only(
        &format!("{EXAMPLE_CATALOG}{field}"),
        73,
        "field \"allergies\".purposes",
        "special category data may only serve consent purposes; \"account\" is based on contract",
    );
    let ok = field.replace("\"newsletter\", \"account\"", "\"newsletter\"");
    assert!(Catalog::parse(&format!("{EXAMPLE_CATALOG}{ok}")).is_ok());
}

#[test]
fn categories_must_be_two_lowercase_words() {
    for bad in
        ["contact", "Contact.Email", "contact.email.work", "contact.", ".email", "contact email", "1contact.email"]
    {
        expect_only(
            &edit(r#"category = "contact.email""#, &format!("category = \"{bad}\"")),
            39,
            "field \"email\".category",
            "is not a category",
        );
    }
    assert!(Catalog::parse(&edit(r#"category = "contact.email""#, r#"category = "contact.email_work2""#)).is_ok());
}

#[test]
fn max_len_only_on_string_and_id_and_positive() {
    expect_only(&edit("max_len = 254", "max_len = 0"), 38, "field \"email\".max_len", "must be at least 1");
    expect_only(
        &edit("type = \"string\"\nmax_len = 254", "type = \"number\"\nmax_len = 254"),
        38,
        "field \"email\".max_len",
        "max_len applies only to string and id fields, not number",
    );
    assert!(Catalog::parse(&edit("type = \"id\"\ncategory", "type = \"id\"\nmax_len = 64\ncategory")).is_ok());
}

#[test]
fn enum_values_are_required_for_enums_only() {
    let enum_field = |values: &str| {
        format!(
            "{EXAMPLE_CATALOG}\n[[field]]\nname = \"size\"\ntype = \"enum\"\n{values}category = \"preference.size\"\npurposes = [\"personalization\"]\n"
        )
    };
    let c = Catalog::parse(&enum_field("values = [\"s\", \"m\", \"l\"]\n")).unwrap();
    assert_eq!(c.field("size").unwrap().values, vec!["s", "m", "l"]);
    expect_only(&enum_field(""), 68, "field \"size\".values", "an enum field needs `values`");
    expect_only(&enum_field("values = []\n"), 71, "field \"size\".values", "needs at least one value");
    expect_only(&enum_field("values = [\"s\", \"s\"]\n"), 71, "field \"size\".values", "value \"s\" is listed twice");
    expect_only(
        &edit("max_len = 254", "values = [\"a\"]"),
        38,
        "field \"email\".values",
        "values apply only to enum fields, not string",
    );
}

#[test]
fn field_retention_must_be_positive_and_type_known() {
    expect_only(
        &edit("pii = true\n", "pii = true\nretention_days = 0\n"),
        41,
        "field \"email\".retention_days",
        "must be at least 1",
    );
    expect_only(
        &edit("type = \"string\"", "type = \"text\""),
        37,
        "field \"email\".type",
        "unknown type \"text\"; expected one of: string, number, bool, enum, timestamp, id",
    );
}

// --- events --------------------------------------------------------------------------------

#[test]
fn event_fields_must_be_declared_and_unique() {
    expect_only(
        &edit(r#"fields = ["product_id"]"#, r#"fields = ["product_id", "price"]"#),
        51,
        "event \"product_viewed\".fields",
        "unknown field \"price\"",
    );
    expect_only(
        &edit(r#"fields = ["product_id"]"#, r#"fields = ["product_id", "product_id"]"#),
        51,
        "event \"product_viewed\".fields",
        "field \"product_id\" is listed twice",
    );
}

#[test]
fn item_field_must_be_one_of_the_events_fields() {
    expect_only(
        &edit(r#"fields = ["product_id"]"#, r#"fields = ["email"]"#),
        52,
        "event \"product_viewed\".item_field",
        "\"product_id\" is not one of this event's fields",
    );
}

#[test]
fn event_weight_must_be_positive_and_finite() {
    for bad in ["0.0", "-1.5", "nan", "inf", "-inf", "0"] {
        expect_only(
            &edit("weight = 1.0", &format!("weight = {bad}")),
            53,
            "event \"product_viewed\".weight",
            "must be a positive finite number",
        );
    }
    let c = Catalog::parse(&edit("weight = 1.0", "weight = 3")).unwrap();
    assert_eq!(c.event("product_viewed").unwrap().weight, 3.0);
}

// --- benefits ------------------------------------------------------------------------------

#[test]
fn benefit_requires_known_consent_purposes() {
    expect_only(
        &edit(r#"requires = ["newsletter"]"#, "requires = []"),
        59,
        "benefit \"welcome10\".requires",
        "must name at least one purpose",
    );
    expect_only(
        &edit(r#"requires = ["newsletter"]"#, r#"requires = ["newsleter"]"#),
        59,
        "benefit \"welcome10\".requires",
        "unknown purpose \"newsleter\"",
    );
    expect_only(
        &edit(r#"requires = ["newsletter"]"#, r#"requires = ["newsletter", "account"]"#),
        59,
        "benefit \"welcome10\".requires",
        "a benefit may only require consent purposes, and \"account\" is based on contract",
    );
}

#[test]
fn benefit_title_kind_and_description_are_checked() {
    expect_only(
        &edit(r#"title = "10% off your next order""#, r#"title = """#),
        57,
        "benefit \"welcome10\".title",
        "must not be empty",
    );
    expect_only(
        &edit(r#"kind = "discount""#, r#"kind = "voucher""#),
        58,
        "benefit \"welcome10\".kind",
        "unknown kind \"voucher\"; expected one of: discount, content, feature",
    );
    expect_only(
        &edit(r#"kind = "discount""#, "kind = \"discount\"\ndescription = \"\""),
        59,
        "benefit \"welcome10\".description",
        "must not be empty",
    );
}

// --- processors ----------------------------------------------------------------------------

#[test]
fn processor_url_must_be_http() {
    for bad in ["ftp://mailer.example/hook", "mailer.example/hook", "https://", "https:///x", "https://mail er.example"]
    {
        expect_only(
            &edit(r#"url = "https://mailer.example/candor-webhook""#, &format!("url = \"{bad}\"")),
            64,
            "processor \"mailer\".url",
            bad,
        );
    }
    assert!(Catalog::parse(&edit("https://mailer.example/candor-webhook", "http://localhost:9000/hook")).is_ok());
}

#[test]
fn processor_purposes_must_exist_and_not_be_empty() {
    let list = r#"purposes = ["newsletter"]
secret"#;
    expect_only(
        &edit(list, "purposes = [\"newsleter\"]\nsecret"),
        65,
        "processor \"mailer\".purposes",
        "unknown purpose \"newsleter\"",
    );
    expect_only(
        &edit(list, "purposes = []\nsecret"),
        65,
        "processor \"mailer\".purposes",
        "must name at least one purpose",
    );
    // Processors may receive any purpose, whatever its basis.
    assert!(Catalog::parse(&edit(list, "purposes = [\"account\", \"newsletter\"]\nsecret")).is_ok());
}

#[test]
fn processor_secret_must_be_long_and_is_never_echoed() {
    let source = edit(r#"secret = "change-me-mailer-secret-0123456789""#, r#"secret = "hunter2-short""#);
    expect_only(&source, 66, "processor \"mailer\".secret", "must be at least 16 characters");
    let shown = Catalog::parse(&source).unwrap_err().to_string();
    assert!(!shown.contains("hunter2"), "{shown}");
    // Characters, not bytes.
    let sixteen = "ääääääääääääääää";
    assert!(Catalog::parse(&edit("change-me-mailer-secret-0123456789", sixteen)).is_ok());
    assert!(Catalog::parse(&edit("change-me-mailer-secret-0123456789", &sixteen[2..])).is_err());
}

#[test]
fn processor_name_is_optional_but_not_empty() {
    let c = Catalog::parse(&edit("name = \"Mailer Inc.\"\n", "")).unwrap();
    assert_eq!(c.processor("mailer").unwrap().name, None);
    expect_only(&edit(r#"name = "Mailer Inc.""#, r#"name = """#), 63, "processor \"mailer\".name", "must not be empty");
}

// --- robustness ----------------------------------------------------------------------------

/// One random edit of a catalog's text.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(prop::sample::Index),
    DuplicateLine(prop::sample::Index),
    SwapLines(prop::sample::Index, prop::sample::Index),
    Insert(prop::sample::Index, String),
    Truncate(prop::sample::Index),
    ReplaceChar(prop::sample::Index, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let index = any::<prop::sample::Index>;
    prop_oneof![
        index().prop_map(Mutation::DeleteLine),
        index().prop_map(Mutation::DuplicateLine),
        (index(), index()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (index(), r##"[\[\]{}="#,.a-z0-9 \n\\-]{0,12}|\PC{0,4}"##).prop_map(|(i, s)| Mutation::Insert(i, s)),
        index().prop_map(Mutation::Truncate),
        (index(), any::<char>()).prop_map(|(i, c)| Mutation::ReplaceChar(i, c)),
    ]
}

fn apply(source: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = source.lines().map(str::to_owned).collect();
    let boundaries: Vec<usize> = source.char_indices().map(|(i, _)| i).chain([source.len()]).collect();
    // Earlier mutations may have emptied the text: nothing left to pick from.
    if source.is_empty() || lines.is_empty() {
        return match mutation {
            Mutation::Insert(_, text) => text.clone(),
            _ => source.to_owned(),
        };
    }
    match mutation {
        Mutation::DeleteLine(i) => {
            lines.remove(i.index(lines.len()));
        }
        Mutation::DuplicateLine(i) => {
            let at = i.index(lines.len());
            lines.insert(at, lines[at].clone());
        }
        Mutation::SwapLines(a, b) => {
            let (a, b) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(a, b);
        }
        Mutation::Insert(i, text) => {
            let at = boundaries[i.index(boundaries.len())];
            return format!("{}{text}{}", &source[..at], &source[at..]);
        }
        Mutation::Truncate(i) => return source[..boundaries[i.index(boundaries.len())]].to_owned(),
        Mutation::ReplaceChar(i, c) => {
            let at = boundaries[i.index(boundaries.len() - 1)];
            let next = source[at..].chars().next().map_or(0, char::len_utf8);
            return format!("{}{c}{}", &source[..at], &source[at + next..]);
        }
    }
    lines.join("\n")
}

fn assert_one_error_per_line(errors: &CatalogErrors) {
    assert_eq!(errors.to_string().lines().count(), errors.0.len(), "{errors}");
}

fn check_result(source: &str) {
    if let Err(errors) = Catalog::parse(source) {
        assert!(!errors.0.is_empty(), "an Err must carry at least one error");
        let last_line = source.split('\n').count();
        for e in &errors.0 {
            assert!(e.line <= last_line, "line {} beyond the end ({last_line}): {e:?}", e.line);
            assert!(!e.message.is_empty());
        }
        // One error per line, whatever odd keys or values the file holds.
        assert_one_error_per_line(&errors);
    }
}

proptest! {
    #[test]
    fn parser_never_panics_on_random_text(source in r"\PC{0,300}") {
        check_result(&source);
    }

    #[test]
    fn parser_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_result(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parser_never_panics_on_mutated_example(mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut source = EXAMPLE_CATALOG.to_owned();
        for m in &mutations {
            source = apply(&source, m);
        }
        check_result(&source);
    }

    #[test]
    fn a_valid_catalog_reports_nothing_and_survives_a_round_trip(days in 1u32..100_000, weight in 0.001f64..1000.0) {
        let source = edit("retention_days = 730", &format!("retention_days = {days}"))
            .replacen("weight = 1.0", &format!("weight = {weight:?}"), 1);
        let c = Catalog::parse(&source).unwrap();
        prop_assert_eq!(c.purpose("newsletter").unwrap().retention_days, days);
        prop_assert_eq!(Catalog::parse(&toml::to_string(&c).unwrap()).unwrap(), c);
    }
}

#[test]
fn debug_empty_message() {
    for n in [1usize, 2, 5, 14, 15, 40, 100, 200] {
        let s = &EXAMPLE_CATALOG[..n];
        if let Err(e) = Catalog::parse(s) {
            for x in &e.0 {
                if x.message.is_empty() {
                    println!("{n}: {s:?} -> {x:?}");
                }
            }
        }
    }
    for s in ["#\0", "a = \"\0\"", "["] {
        println!("{s:?} -> {:?}", Catalog::parse(s).map(|_| ()));
    }
}
