//! Data-subject requests: export (JSON, CSV zip, CLI), erasure that is final (SPEC §3.6)
//! even against an old copy of the database, the DSAR queue and master key rotation.

use std::io::Read;

use candor_privacy::sealing::{bucket_aad, bucket_of, subject_aad};
use candor_privacy::{InstanceKeys, Pseudonymizer, SealingKey};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, stderr, stdout};
use crate::on_both;

on_both!(
    export_holds_everything_decrypted_and_is_recorded,
    every_receipt_is_exported_and_erased,
    csv_export_is_a_zip_of_tables,
    erasure_is_final_and_certified,
    an_old_copy_of_the_database_cannot_be_read_after_an_erasure,
    erasing_one_subject_keeps_its_bucket_neighbours_readable,
    dsar_queue_tracks_requests_to_completion,
    rotating_the_master_key_keeps_every_value_readable,
    cli_exports_and_erases,
);

async fn seed(app: &TestApp, subject: &str) {
    app.consent(subject, json!({"personalization": true, "newsletter": true})).await;
    let r = app
        .put(
            &format!("/v1/subjects/{subject}/traits"),
            Some(&app.admin_key),
            &json!({"traits": {"email": format!("{subject}@example.com")}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.events(json!([
        {"subject": subject, "type": "product_viewed", "properties": {"product_id": format!("{subject}-tent")}},
        {"subject": subject, "type": "product_viewed", "properties": {"product_id": format!("{subject}-stove")}},
    ]))
    .await;
}

fn keys(app: &TestApp) -> InstanceKeys {
    InstanceKeys::load(app.dir.path()).unwrap()
}

async fn export_holds_everything_decrypted_and_is_recorded(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let reader = app.key(&["read:newsletter"]).await;
    app.get("/v1/subjects/ada/data?purpose=newsletter", Some(&reader)).await;
    let dsar = app.key(&["dsar"]).await;
    let r = app.get("/v1/subjects/ada/export", Some(&dsar)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let e = &r.body;
    assert_eq!(e["subject"], "ada");
    assert_eq!(e["traits"]["email"]["value"], "ada@example.com");
    assert_eq!(e["traits"]["email"]["category"], "contact.email");
    let products: Vec<&str> =
        e["events"].as_array().unwrap().iter().map(|x| x["properties"]["product_id"].as_str().unwrap()).collect();
    assert_eq!(products, ["ada-stove", "ada-tent"]);
    assert_eq!(e["consents"].as_array().unwrap().len(), 2);
    assert_eq!(e["receipts"].as_array().unwrap().len(), 1);
    assert_eq!(e["receipts"][0]["jws"].as_str().unwrap().split('.').count(), 3);
    assert_eq!(e["benefits"][0]["id"], "welcome10");
    let code = e["benefits"][0]["code"].as_str().unwrap();
    assert!(code.starts_with("WELCOME10-"), "{code}");
    assert_eq!(e["access_log"][0]["purpose"], "newsletter");
    assert_eq!(e["requests"][0]["kind"], "export");
    assert_eq!(e["requests"][0]["status"], "completed");

    let benefits = app.get("/v1/subjects/ada/benefits", Some(&app.consent_key)).await;
    assert_eq!(benefits.body["benefits"][0]["code"], code, "the code is stable");
    app.consent("ada", json!({"newsletter": false})).await;
    let benefits = app.get("/v1/subjects/ada/benefits", Some(&app.consent_key)).await;
    assert_eq!(benefits.body["benefits"], json!([]), "withdrawing newsletter locks the benefit");

    app.get("/v1/subjects/ada/export", Some(&app.consent_key)).await.problem(403);
    app.get("/v1/subjects/ada/export", None).await.problem(401);
    app.get("/v1/subjects/nobody/export", Some(&dsar)).await.problem(404);
    app.get("/v1/subjects/ada/export?format=xml", Some(&dsar)).await.problem(422);
    let audit = app.store.audit().recent(20).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "subject.exported"));
}

/// A receipt is kept on the first ledger row it covers, or in a row of its own when its
/// request recorded nothing (a GPC signal for purposes already decided): the export holds
/// both, as issued and in order, and the erasure counts and deletes both.
async fn every_receipt_is_exported_and_erased(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.consent("ada", json!({"analytics": true, "newsletter": true})).await;
    let version = app.notice_version().await;
    let body = json!({"subject": "ada", "choices": {}, "gpc": true, "notice_version": version, "source": "api"});
    let nothing_changed = app.post("/v1/consents", Some(&app.consent_key), &body).await;
    assert_eq!(nothing_changed.status, 201, "{}", nothing_changed.text);
    assert!(
        nothing_changed.body["receipt"]["purposes"].as_array().unwrap().iter().all(|p| p["changed"] == false),
        "analytics (gpc_opt_out) was already decided: this request records no row"
    );
    let dsar = app.key(&["dsar"]).await;
    let export = app.get("/v1/subjects/ada/export", Some(&dsar)).await;
    assert_eq!(export.status, 200, "{}", export.text);
    assert_eq!(export.body["consents"].as_array().unwrap().len(), 2);
    let receipts: Vec<&Value> = export.body["receipts"].as_array().unwrap().iter().map(|r| &r["jws"]).collect();
    assert_eq!(receipts, [&first["receipt_jws"], &nothing_changed.body["receipt_jws"]]);

    let pid = Pseudonymizer::new(&keys(&app).pseudonym).pid("ada");
    assert_eq!(app.store.receipts(pid).await.unwrap().len(), 2);
    let erased = app.delete("/v1/subjects/ada", Some(&dsar)).await;
    assert_eq!(erased.status, 200, "{}", erased.text);
    assert_eq!(erased.body["certificate"]["erased"]["receipts"], 2);
    assert_eq!(erased.body["certificate"]["erased"]["consents"], 2);
    assert!(app.store.receipts(pid).await.unwrap().is_empty(), "no receipt of the subject is left");
}

async fn csv_export_is_a_zip_of_tables(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let r =
        app.client.get(app.url("/v1/subjects/ada/export?format=csv")).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/zip");
    let bytes = r.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut names: Vec<String> = zip.file_names().map(str::to_string).collect();
    names.sort();
    assert_eq!(
        names,
        ["access_log.csv", "benefits.csv", "consents.csv", "events.csv", "export.json", "receipts.csv", "traits.csv"]
    );
    let mut traits = String::new();
    zip.by_name("traits.csv").unwrap().read_to_string(&mut traits).unwrap();
    let mut rows = csv::Reader::from_reader(traits.as_bytes());
    let row = rows.records().next().unwrap().unwrap();
    assert_eq!(&row[0], "email");
    assert_eq!(&row[1], "ada@example.com");
    let mut events = String::new();
    zip.by_name("events.csv").unwrap().read_to_string(&mut events).unwrap();
    assert_eq!(events.lines().count(), 3, "header and two events");
    assert!(events.contains("ada-tent"));
}

async fn erasure_is_final_and_certified(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    seed(&app, "bo").await;
    let r = app.delete("/v1/subjects/ada", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let certificate = &r.body["certificate"];
    assert_eq!(certificate["erased"]["traits"], 1);
    assert_eq!(certificate["erased"]["events"], 2);
    assert_eq!(certificate["erased"]["consents"], 2);
    assert_eq!(certificate["erased"]["receipts"], 1);
    let signed = app.signer.verify(r.body["certificate_jws"].as_str().unwrap()).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&signed).unwrap(), *certificate, "the JWS signs the certificate");

    let dsar = app.key(&["dsar"]).await;
    let reader = app.key(&["read:personalization"]).await;
    for (path, key) in [
        ("/v1/subjects/ada/consents", &app.consent_key),
        ("/v1/subjects/ada/consents/history", &app.consent_key),
        ("/v1/subjects/ada/benefits", &app.consent_key),
        ("/v1/subjects/ada/data?purpose=personalization", &reader),
        ("/v1/subjects/ada/export", &dsar),
    ] {
        app.get(path, Some(key)).await.problem(404);
    }
    app.delete("/v1/subjects/ada", Some(&dsar)).await.problem(404);
    assert_eq!(
        app.post("/v1/subjects/ada/sessions", Some(&app.consent_key), &json!({})).await.status,
        201,
        "a new session creates a new, empty subject: the erased one stays gone"
    );

    // The rows go in the background; the key went at once.
    let pid = Pseudonymizer::new(&keys(&app).pseudonym).pid("ada");
    assert!(
        app.store
            .subject_key(&candor_store::Keyring::open(app.dir.path().to_path_buf()).unwrap(), pid)
            .await
            .unwrap()
            .is_none()
    );
    app.sweep();
    assert_eq!(app.store.event_count(pid).await.unwrap(), 0);
    assert!(app.find_in_database("ada@example.com").await.is_empty());

    let r = app.get("/v1/subjects/bo/export", Some(&dsar)).await;
    assert_eq!(r.body["traits"]["email"]["value"], "bo@example.com", "others are untouched");
    let audit = app.cli(&["audit", "verify"]);
    assert!(audit.status.success(), "{}", stderr(&audit));
}

/// A copy of the database taken before an erasure holds the erased subject's wrapped key;
/// with the keys that remain afterwards it opens nothing.
async fn an_old_copy_of_the_database_cannot_be_read_after_an_erasure(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let pid = Pseudonymizer::new(&keys(&app).pseudonym).pid("ada");
    let bucket = bucket_of(&pid);
    // "The copy": every row the erased subject's values depend on, as stored before erasure.
    let copy = old_rows(&app, &pid, bucket).await;
    let master_before = SealingKey::from_bytes(&keys(&app).master);
    assert!(open_copy(&copy, &master_before, &pid, bucket).is_some(), "with the old master key, the copy opens");

    let r = app.delete("/v1/subjects/ada", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let remaining = keys(&app);
    let master_after = SealingKey::from_bytes(&remaining.master);
    assert_ne!(master_after.kid(), master_before.kid(), "the master key was replaced");
    assert!(open_copy(&copy, &master_after, &pid, bucket).is_none(), "the remaining keys cannot open the old copy");
    for other in [&remaining.pseudonym, &remaining.signing.to_bytes()] {
        assert!(open_copy(&copy, &SealingKey::from_bytes(other), &pid, bucket).is_none());
    }
    assert!(!InstanceKeys::dir(app.dir.path()).join("master.key.next").exists());
}

struct OldRows {
    bucket_wrapped: Vec<u8>,
    subject_wrapped: Vec<u8>,
    trait_sealed: Vec<u8>,
}

async fn old_rows(app: &TestApp, pid: &candor_privacy::Pid, bucket: u8) -> OldRows {
    let traits = app.store.traits(*pid).await.unwrap();
    let (bucket_wrapped, subject_wrapped): (Vec<u8>, Vec<u8>) = match app.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", app.dir.path().join("candor.db").display()))
                .await
                .unwrap();
            let (b,): (Vec<u8>,) = sqlx::query_as("SELECT wrapped FROM key_buckets WHERE bucket = $1")
                .bind(i32::from(bucket))
                .fetch_one(&pool)
                .await
                .unwrap();
            let (s,): (Vec<u8>,) = sqlx::query_as("SELECT wrapped FROM subject_keys WHERE pid = $1")
                .bind(&pid.0[..])
                .fetch_one(&pool)
                .await
                .unwrap();
            (b, s)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(app.database_url.as_deref().unwrap()).await.unwrap();
            let (b,): (Vec<u8>,) = sqlx::query_as("SELECT wrapped FROM key_buckets WHERE bucket = $1")
                .bind(i32::from(bucket))
                .fetch_one(&pool)
                .await
                .unwrap();
            let (s,): (Vec<u8>,) = sqlx::query_as("SELECT wrapped FROM subject_keys WHERE pid = $1")
                .bind(&pid.0[..])
                .fetch_one(&pool)
                .await
                .unwrap();
            (b, s)
        }
    };
    OldRows { bucket_wrapped, subject_wrapped, trait_sealed: traits[0].sealed.clone() }
}

/// Follows the key chain of the copy with `master`: the trait's plaintext, if it opens.
fn open_copy(copy: &OldRows, master: &SealingKey, pid: &candor_privacy::Pid, bucket: u8) -> Option<String> {
    let bucket_key = master.unwrap_key(&bucket_aad(bucket), &copy.bucket_wrapped).ok()?;
    let subject_key = bucket_key.unwrap_key(&subject_aad(pid), &copy.subject_wrapped).ok()?;
    let plain = subject_key.open(&candor_privacy::sealing::trait_aad(pid, "email"), &copy.trait_sealed).ok()?;
    Some(String::from_utf8(plain).unwrap())
}

async fn erasing_one_subject_keeps_its_bucket_neighbours_readable(backend: Backend) {
    let app = spawn_app(backend).await;
    let pseudonyms = Pseudonymizer::new(&keys(&app).pseudonym);
    // Two subjects whose pids share a bucket (the first byte): the erasure re-keys it.
    let mut seen = std::collections::HashMap::new();
    let (a, b) = (0..)
        .find_map(|i| {
            let name = format!("neighbour-{i}");
            let bucket = bucket_of(&pseudonyms.pid(&name));
            seen.insert(bucket, name.clone()).map(|other| (other, name))
        })
        .unwrap();
    seed(&app, &a).await;
    seed(&app, &b).await;
    seed(&app, "elsewhere").await;
    assert_eq!(app.delete(&format!("/v1/subjects/{a}"), Some(&app.admin_key)).await.status, 200);
    for subject in [&b, "elsewhere"] {
        let r = app.get(&format!("/v1/subjects/{subject}/export"), Some(&app.admin_key)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["traits"]["email"]["value"], format!("{subject}@example.com"));
        assert_eq!(r.body["events"].as_array().unwrap().len(), 2);
    }
    // And new subjects in that bucket get keys under the new bucket key.
    app.events(json!([{"subject": b, "type": "product_viewed", "properties": {"product_id": "after"}}])).await;
    let r = app.get(&format!("/v1/subjects/{b}/export"), Some(&app.admin_key)).await;
    assert_eq!(r.body["events"].as_array().unwrap().len(), 3);
}

async fn dsar_queue_tracks_requests_to_completion(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let dsar = app.key(&["dsar"]).await;
    let r = app.post("/v1/dsar", Some(&dsar), &json!({"subject": "ada", "kind": "erasure", "note": "by email"})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.body["status"], "open");
    let created = candor_server::clock::parse_rfc3339(r.body["created_at"].as_str().unwrap()).unwrap();
    let due = candor_server::clock::parse_rfc3339(r.body["due_at"].as_str().unwrap()).unwrap();
    assert_eq!(due - created, 30 * 24 * 3600 * 1000, "due in 30 days");
    let open = app.get("/v1/dsar?status=open", Some(&dsar)).await;
    assert_eq!(open.body["requests"].as_array().unwrap().len(), 1);

    app.post("/v1/dsar", Some(&dsar), &json!({"subject": "ada", "kind": "cake"})).await.problem(422);
    app.post("/v1/dsar", Some(&dsar), &json!({"subject": "nobody", "kind": "access"})).await.problem(404);
    app.post("/v1/dsar", Some(&app.consent_key), &json!({"subject": "ada", "kind": "access"})).await.problem(403);
    app.delete("/v1/subjects/ada?dsar=no-such-request", Some(&dsar)).await.problem(404);

    let r = app.delete(&format!("/v1/subjects/ada?dsar={id}"), Some(&dsar)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let done = app.get(&format!("/v1/dsar/{id}"), Some(&dsar)).await;
    assert_eq!(done.body["status"], "completed");
    assert_eq!(done.body["kind"], "erasure");
    assert_eq!(done.body["result"]["certificate"]["certificate_id"], id);
    assert_eq!(done.body["processors"][0]["processor"], "mailer", "processors are told: {}", done.text);
    assert_eq!(app.get("/v1/dsar?status=open", Some(&dsar)).await.body["requests"], json!([]));
    app.get("/v1/dsar/unknown", Some(&dsar)).await.problem(404);
}

async fn rotating_the_master_key_keeps_every_value_readable(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let before = SealingKey::from_bytes(&keys(&app).master).kid();
    let out = app.cli(&["keys", "rotate-master"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = SealingKey::from_bytes(&keys(&app).master).kid();
    assert_ne!(before, after);
    assert!(stderr(&out).contains(&after));
    // The running server learns the new master key from the key file when it meets it.
    let r = app.get("/v1/subjects/ada/export", Some(&app.admin_key)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["traits"]["email"]["value"], "ada@example.com");
    seed(&app, "bo").await;
    assert_eq!(
        app.get("/v1/subjects/bo/export", Some(&app.admin_key)).await.body["events"].as_array().unwrap().len(),
        2
    );
    let audit = app.store.audit().recent(50).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "key.master_rotated"));
}

async fn cli_exports_and_erases(backend: Backend) {
    let app = spawn_app(backend).await;
    seed(&app, "ada").await;
    let out = app.cli(&["export", "ada"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let export: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(export["traits"]["email"]["value"], "ada@example.com");
    let file = app.dir.path().join("ada.zip");
    let out = app.cli(&["export", "ada", "--format", "csv", "--output", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(zip::ZipArchive::new(std::fs::File::open(&file).unwrap()).unwrap().len() >= 6);
    let out = app.cli(&["export", "nobody"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown subject"), "{}", stderr(&out));

    let out = app.cli(&["erase", "ada"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let certificate: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(certificate["certificate"]["erased"]["events"], 2);
    app.get("/v1/subjects/ada/export", Some(&app.admin_key)).await.problem(404);
    let out = app.cli(&["erase", "ada"]);
    assert!(!out.status.success(), "erasing twice is an error: the subject is gone");
}
