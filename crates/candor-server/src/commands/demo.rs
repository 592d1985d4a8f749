//! `candor demo`: a ready demo shop in a temporary folder — the example catalog, a few
//! thousand synthetic customers whose consents go through the real consent path (rules,
//! receipts, audit chain, group commit) and whose emails and product views go through the
//! real ingestion path (gate, sealing), then served.

use std::process::ExitCode;

use candor_core::catalog::EXAMPLE_CATALOG;
use candor_core::consent::Source;
use candor_store::SubjectKind;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;

use crate::app::Application;
use crate::bench::WebhookSink;
use crate::config::{FlagOverrides, Settings};
use crate::consent_cache::ConsentCache;
use crate::consent_writer::{ConsentJob, ConsentWriter};
use crate::instance::{self, Instance};
use crate::notice_cache::NoticeCache;
use crate::state::AppState;
use crate::subject_data;

/// Runs the demo: builds it, loads customers, serves until stopped.
pub async fn run(customers: usize, listen: Option<String>) -> anyhow::Result<ExitCode> {
    let dir = tempfile::Builder::new().prefix("candor-demo-").tempdir()?;
    // The example catalog's processor does not exist: the demo plays it on loopback, so
    // the `consent.changed` webhooks of its customers' choices are delivered, not retried.
    let processor = WebhookSink::start().await?;
    std::fs::write(
        dir.path().join("candor.toml"),
        EXAMPLE_CATALOG.replace("https://mailer.example/candor-webhook", &processor.url),
    )?;
    let outcome = instance::init(dir.path(), FlagOverrides::default()).await?;
    let settings = Settings::load(dir.path(), FlagOverrides { listen, database_url: None })?;
    super::init_logging("warn");
    let instance = Instance::open(settings).await?;
    let admin = super::keys::create(&instance, &["admin".into()], "demo admin").await?;
    let scopes = ["consent", "ingest", "dsar", "read:personalization", "read:newsletter"].map(String::from);
    let consent = super::keys::create(&instance, &scopes, "demo backend").await?;
    load_customers(&instance, customers).await?;

    let app = Application::build(instance).await?;
    load_data(app.state(), customers).await?;
    let base = format!("http://{}", app.addr());
    println!("\ncandor demo is running (instance in {}, deleted on exit)\n", dir.path().display());
    println!("  notice            {base}/v1/notice");
    println!("  notice versions   {base}/v1/notice/versions");
    println!("  API description   {base}/openapi.json");
    println!("  receipt key       {base}/.well-known/candor/receipt-key.jwk");
    println!("  privacy notice    {base}/privacy   (what changed: {base}/privacy/changes)");
    println!("  widget            <script src=\"{base}/widget.js\" data-candor-origin=\"{base}/\"></script>");
    println!(
        "  processor         {} (the catalog's \"mailer\", played by the demo: it acknowledges every webhook)",
        processor.url
    );
    if let Some(p) = outcome.generated_password {
        println!("  admin password    {p}");
    }
    println!("  admin API key     {admin}");
    println!("  backend API key   {consent}   (consent, ingest, dsar, read:personalization, read:newsletter)");
    let auth = format!("-H 'Authorization: Bearer {consent}'");
    println!("\n  try: curl -s {base}/v1/subjects/demo-customer-0001/consents {auth}");
    println!("       curl -s '{base}/v1/subjects/demo-customer-0001/data?purpose=personalization' {auth}");
    println!("       curl -s -X POST {base}/v1/subjects/demo-customer-0001/sessions {auth}   # a control-panel link");
    println!("\nCtrl-C stops it.");
    app.run_until_stopped().await?;
    Ok(ExitCode::SUCCESS)
}

/// Sends each customer's email and a few product views through the real ingestion path
/// (gate, sealing): what their consents allow is stored, the rest dropped.
async fn load_data(state: &AppState, n: usize) -> anyhow::Result<()> {
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("loading data      {bar:40} {pos}/{len} ({per_sec})").expect("valid template"),
    );
    let ids: Vec<usize> = (1..=n).collect();
    for chunk in ids.chunks(20) {
        let events = chunk
            .iter()
            .flat_map(|i| {
                (0..5).map(move |k| {
                    serde_json::json!({"subject": format!("demo-customer-{i:04}"), "type": "product_viewed",
                        "properties": {"product_id": format!("product-{:03}", (i * 7 + k * 13) % 120)}})
                })
            })
            .collect();
        subject_data::ingest_events(state, events, false).await?;
        for i in chunk {
            let pid = state.pseudonyms().pid(&format!("demo-customer-{i:04}"));
            let traits = serde_json::json!({"email": format!("customer{i:04}@example.com")});
            subject_data::ingest_traits(state, pid, traits.as_object().expect("an object"), false).await?;
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish();
    Ok(())
}

/// Records consents for `n` synthetic customers through the consent writer.
async fn load_customers(instance: &Instance, n: usize) -> anyhow::Result<()> {
    let notices = NoticeCache::default();
    let version = notices.refresh(&instance.store).await?.unwrap_or(1);
    // The server starts after loading, with a cache of its own; this one is dropped.
    let cache = ConsentCache::new(0);
    let writer = ConsentWriter::start(instance.store.clone(), instance.signer.clone(), notices, cache);
    let bar = ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template("loading customers {bar:40} {pos}/{len} ({per_sec})").expect("valid template"),
    );
    let jobs = (1..=n).map(|i| {
        let mut rng = rand::thread_rng();
        let choices = [("newsletter", 0.4), ("personalization", 0.55), ("analytics", 0.35)]
            .into_iter()
            .map(|(p, rate)| (p.to_string(), rng.gen_bool(rate)))
            .collect();
        let widget = rng.gen_bool(0.7);
        ConsentJob {
            pid: instance.pseudonyms.pid(&format!("demo-customer-{i:04}")),
            kind: SubjectKind::Known,
            choices,
            notice_version: version,
            source: if widget { Source::Widget } else { Source::Api },
            gpc: rng.gen_bool(0.08),
            actor: "demo".into(),
            user_agent: widget.then(|| "Mozilla/5.0 (demo)".to_string()),
            page: widget.then(|| "https://shop.acme.example/".to_string()),
            sealed_subject: None,
        }
    });
    let results: Vec<_> = futures::stream::iter(jobs)
        .map(|job| {
            let writer = writer.clone();
            let bar = bar.clone();
            async move {
                let r = writer.submit(job).await;
                bar.inc(1);
                r
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    bar.finish();
    if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
        anyhow::bail!("loading customers failed: {}", e.problem().detail);
    }
    Ok(())
}
