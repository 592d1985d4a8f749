//! `candor bench`: the benchmarks of BENCHMARKS.md. Each figure is printed beside a
//! baseline measured in the same run, as a ratio, because these machines are noisy.
//!
//! The server runs as a child process (`candor serve`), so its memory is measured alone
//! and the load goes over real loopback HTTP.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use candor_core::catalog::EXAMPLE_CATALOG;
use candor_store::now_ms;
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::config::FlagOverrides;
use crate::instance::{self, Instance};

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Which {
    /// Consent writes and current-state reads over HTTP, with durable commits.
    Consent,
    /// Event ingestion over HTTP (gate, sealing, durable commit), export and erasure.
    Ingest,
}

/// Latency summary of one phase (latencies sorted).
struct Phase {
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// CPU time the server and the load generator spent during the phase.
    cpu: Cpu,
}

/// CPU time (user + system) of the server and of this process, the load generator.
#[derive(Clone, Copy, Default)]
struct Cpu {
    server: Duration,
    client: Duration,
}

impl Phase {
    /// Several rounds of one phase as one.
    fn merge(rounds: Vec<Phase>) -> Phase {
        let mut latencies: Vec<Duration> = rounds.iter().flat_map(|r| r.latencies.iter().copied()).collect();
        latencies.sort();
        Phase {
            requests: rounds.iter().map(|r| r.requests).sum(),
            elapsed: rounds.iter().map(|r| r.elapsed).sum(),
            latencies,
            cpu: Cpu {
                server: rounds.iter().map(|r| r.cpu.server).sum(),
                client: rounds.iter().map(|r| r.cpu.client).sum(),
            },
        }
    }

    /// Server and load-generator CPU per request (µs).
    fn cpu_per_request(&self) -> (f64, f64) {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / self.requests.max(1) as f64;
        (per(self.cpu.server), per(self.cpu.client))
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let sorted = &self.latencies;
        sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
    }
}

/// Runs a benchmark and prints its table.
pub async fn run(which: Which, requests: usize, concurrency: usize) -> anyhow::Result<ExitCode> {
    match which {
        Which::Consent => consent(requests.max(100), concurrency.max(1)).await,
        Which::Ingest => ingest(requests.max(1000), concurrency.max(1)).await,
    }
}

async fn consent(requests: usize, concurrency: usize) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    eprintln!("bench: instance in {}", dir.path().display());
    // The example catalog's processor receives a `consent.changed` webhook for every
    // newsletter choice; here it is a local endpoint that acknowledges them, so the
    // outbox rows written with the consents are delivered during the run, as they would be.
    let processor = WebhookSink::start().await?;
    std::fs::write(
        dir.path().join("candor.toml"),
        EXAMPLE_CATALOG.replace("https://mailer.example/candor-webhook", &processor.url),
    )?;
    instance::init(dir.path(), FlagOverrides::default()).await?;
    let key = create_key(dir.path(), &["consent"]).await?;

    let mut server = Server::start(dir.path()).await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle_rss = server.rss_kib("VmRSS");

    let version: i64 =
        client.get(format!("{base}/v1/notice")).send().await?.json::<serde_json::Value>().await?["version"]
            .as_i64()
            .context("notice version")?;
    let write = |i: usize| {
        let client = client.clone();
        let (base, key) = (base.clone(), key.clone());
        async move {
            let body = serde_json::json!({
                "subject": format!("bench-subject-{i}"),
                "choices": {"newsletter": i.is_multiple_of(2), "personalization": true, "analytics": i.is_multiple_of(3)},
                "notice_version": version,
                "source": "api",
            });
            let r = client.post(format!("{base}/v1/consents")).bearer_auth(&key).json(&body).send().await?;
            anyhow::ensure!(r.status() == 201, "consent write answered {}", r.status());
            Ok(())
        }
    };
    eprintln!("bench: warm-up");
    let warm_up = requests / 10;
    drive(server.pid, warm_up, concurrency, |i| write(requests + i)).await?;
    // Each phase runs in ROUNDS rounds, alternating with its baseline, so that the noise of
    // a shared machine (it varies by minutes) weighs on both sides of each ratio alike.
    let per_round = requests.div_ceil(ROUNDS);
    let baseline_rows = requests.min(5_000).div_ceil(ROUNDS);
    let mut baseline_db = BareLedger::open(dir.path()).await?;
    eprintln!("bench: {requests} consent writes, {concurrency} clients, in {ROUNDS} rounds with the baseline");
    // The WAL must stay bounded under sustained writes (`Store::checkpoint`): watch its size.
    let largest_wal = Arc::new(AtomicU64::new(0));
    let watcher = {
        let (wal, largest) = (dir.path().join("candor.db-wal"), largest_wal.clone());
        tokio::spawn(async move {
            loop {
                largest.fetch_max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let (mut writes, mut baseline) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let first = round * per_round;
        writes.push(drive(server.pid, per_round.min(requests - first), concurrency, |i| write(first + i)).await?);
        baseline.push(baseline_db.insert(baseline_rows).await?);
    }
    let (writes, baseline) = (Phase::merge(writes), Phase::merge(baseline));
    baseline_db.close().await;
    watcher.abort();
    let writes_rss = server.rss_kib("VmHWM");
    // Reads run against a restarted server: the first read of each subject comes from the
    // database, the second from the consent cache.
    server.stop().await;
    let mut server = Server::start(dir.path()).await?;
    let base = format!("http://{}", server.addr);
    let read = |i: usize| {
        let client = client.clone();
        let (base, key) = (base.clone(), key.clone());
        async move {
            let r =
                client.get(format!("{base}/v1/subjects/bench-subject-{i}/consents")).bearer_auth(&key).send().await?;
            anyhow::ensure!(r.status() == 200, "consent read answered {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    };
    let health = |_| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let r = client.get(format!("{base}/healthz")).send().await?;
            anyhow::ensure!(r.status() == 200, "healthz answered {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    };
    eprintln!(
        "bench: {requests} current-state reads after a restart (database), again (cache) and /healthz, in {ROUNDS} rounds"
    );
    let (mut cold_reads, mut reads, mut healthz) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let first = round * per_round;
        let count = per_round.min(requests - first);
        cold_reads.push(drive(server.pid, count, concurrency, |i| read(first + i)).await?);
        reads.push(drive(server.pid, count, concurrency, |i| read(first + i)).await?);
        healthz.push(drive(server.pid, count, concurrency, health).await?);
    }
    let (cold_reads, reads, healthz) = (Phase::merge(cold_reads), Phase::merge(reads), Phase::merge(healthz));
    let peak_rss = server.rss_kib("VmHWM").max(writes_rss);
    server.stop().await;

    println!(
        "\ncandor bench consent — {requests} requests per phase in {ROUNDS} rounds, each round beside its baseline, {concurrency} concurrent clients, SQLite (WAL, durable commits)\n"
    );
    println!("| measure | candor | baseline | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| durable consent writes/s (HTTP) vs bare one-row durable inserts/s | {:.0} | {:.0} | {:.2} |",
        writes.rate(),
        baseline.rate(),
        writes.rate() / baseline.rate()
    );
    println!(
        "| write latency p50 / p99 (ms) | {:.2} / {:.2} | {:.3} / {:.3} | |",
        ms(writes.percentile(0.5)),
        ms(writes.percentile(0.99)),
        ms(baseline.percentile(0.5)),
        ms(baseline.percentile(0.99))
    );
    println!(
        "| write latency p90 / p99.9 / max (ms) | {:.2} / {:.2} / {:.2} | | |",
        ms(writes.percentile(0.9)),
        ms(writes.percentile(0.999)),
        ms(writes.percentile(1.0))
    );
    // With every client always waiting on a write, latency is clients ÷ rate (Little's law),
    // and the rate can go no higher than the CPU allows: server and load generator share
    // this machine's cores.
    let (server_us, client_us) = writes.cpu_per_request();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "| writes/s with every core busy ({cores} cores ÷ server + load generator CPU per write) | {:.0} | | |",
        cores as f64 * 1e6 / (server_us + client_us)
    );
    for (name, phase) in [("first read after a restart (database)", &cold_reads), ("read again (cache)", &reads)] {
        println!(
            "| current-state reads/s, {name}, vs /healthz/s | {:.0} | {:.0} | {:.2} |",
            phase.rate(),
            healthz.rate(),
            phase.rate() / healthz.rate()
        );
        println!(
            "| read latency p50 / p99 (ms), {name} | {:.2} / {:.2} | {:.2} / {:.2} | |",
            ms(phase.percentile(0.5)),
            ms(phase.percentile(0.99)),
            ms(healthz.percentile(0.5)),
            ms(healthz.percentile(0.99))
        );
    }
    for (name, phase) in
        [("consent write", &writes), ("first read", &cold_reads), ("cached read", &reads), ("/healthz", &healthz)]
    {
        let (server, client) = phase.cpu_per_request();
        println!("| CPU per {name} (µs): server / load generator | {server:.0} / {client:.0} | | |");
    }
    println!(
        "| server RSS idle / peak (MiB) | {:.1} / {:.1} | | |",
        idle_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    println!(
        "| largest WAL file during the writes (MB; started over past 128 MiB) | {:.1} | | |",
        largest_wal.load(Ordering::Relaxed) as f64 / 1e6
    );
    // Every write decides `newsletter`, whose processor hears of it; and publishing the
    // first notice version told it too.
    let sent = requests + warm_up + 1;
    println!(
        "\nwebhooks acknowledged by the local processor during the run (`consent.changed` per write, one `notice.published`): {} of {sent}",
        processor.received()
    );
    Ok(ExitCode::SUCCESS)
}

/// A processor's webhook endpoint on loopback that acknowledges everything it receives
/// (the bench's processor, and the demo's).
pub(crate) struct WebhookSink {
    pub(crate) url: String,
    received: Arc<AtomicUsize>,
}

impl WebhookSink {
    pub(crate) async fn start() -> anyhow::Result<WebhookSink> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/webhook", listener.local_addr()?);
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        let app = axum::Router::new().route(
            "/webhook",
            axum::routing::post(move |_: axum::body::Bytes| {
                count.fetch_add(1, Ordering::Relaxed);
                async { axum::http::StatusCode::NO_CONTENT }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(WebhookSink { url, received })
    }

    pub(crate) fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}

/// Rounds each consent phase is split into, alternating with its baseline.
const ROUNDS: usize = 5;

/// Events per batch, as the issue's figures assume.
const BATCH: usize = 100;
/// Distinct subjects behind the events of the ingest bench.
const SUBJECTS: usize = 1000;
/// Subjects in one batch (a backend flushing a queue of several customers' events).
const SUBJECTS_PER_BATCH: usize = 20;

async fn ingest(events: usize, concurrency: usize) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    eprintln!("bench: instance in {}", dir.path().display());
    instance::init(dir.path(), FlagOverrides::default()).await?;
    let key = create_key(dir.path(), &["ingest", "consent", "dsar"]).await?;
    let mut server = Server::start(dir.path()).await?;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency.max(32)).build()?;
    let version: i64 =
        client.get(format!("{base}/v1/notice")).send().await?.json::<serde_json::Value>().await?["version"]
            .as_i64()
            .context("notice version")?;
    let post = |path: String, body: serde_json::Value| {
        let (client, base, key) = (client.clone(), base.clone(), key.clone());
        async move {
            let r = client.post(format!("{base}{path}")).bearer_auth(&key).json(&body).send().await?;
            anyhow::ensure!(r.status().is_success(), "{path} answered {}", r.status());
            Ok(r.json::<serde_json::Value>().await?)
        }
    };
    eprintln!("bench: {SUBJECTS} subjects grant personalization");
    let subjects: Vec<String> =
        (0..SUBJECTS).map(|i| format!("ingest-subject-{i}")).chain(["s10", "s1k", "s100k"].map(String::from)).collect();
    drive(server.pid, subjects.len(), 32, |i| {
        let body = serde_json::json!({"subject": subjects[i], "choices": {"personalization": true},
            "notice_version": version, "source": "api"});
        let fut = post("/v1/consents".into(), body);
        async move { fut.await.map(|_| ()) }
    })
    .await?;
    let batch = |b: usize| -> serde_json::Value {
        let events: Vec<serde_json::Value> = (0..BATCH)
            .map(|e| {
                let subject = (b * SUBJECTS_PER_BATCH + e % SUBJECTS_PER_BATCH) % SUBJECTS;
                serde_json::json!({"subject": format!("ingest-subject-{subject}"), "type": "product_viewed",
                    "properties": {"product_id": format!("product-{:05}", (b * 7919 + e * 104_729) % 50_000)}})
            })
            .collect();
        serde_json::json!({ "events": events })
    };
    let batches = events.div_ceil(BATCH);
    let send = |b: usize| {
        let fut = post("/v1/events".into(), batch(b));
        async move {
            let reply = fut.await?;
            let stored = reply["results"].as_array().map_or(0, |r| r.iter().filter(|x| x["accepted"] == true).count());
            anyhow::ensure!(stored == BATCH, "only {stored} of {BATCH} events stored");
            Ok(())
        }
    };
    eprintln!("bench: warm-up");
    drive(server.pid, batches / 10 + 1, concurrency, |b| send(batches + b)).await?;
    eprintln!("bench: {} events in batches of {BATCH}, {concurrency} clients", batches * BATCH);
    let http = drive(server.pid, batches, concurrency, send).await?;

    // Subjects holding 10, 1,000 and 100,000 events: export and erasure times.
    let mut sizes = Vec::new();
    for (subject, n) in [("s10", 10usize), ("s1k", 1_000), ("s100k", 100_000)] {
        eprintln!("bench: loading {n} events for one subject");
        drive(server.pid, n.div_ceil(BATCH), concurrency, |b| {
            let count = BATCH.min(n - b * BATCH);
            let events: Vec<serde_json::Value> = (0..count)
                .map(|e| {
                    serde_json::json!({"subject": subject, "type": "product_viewed",
                    "properties": {"product_id": format!("p-{b}-{e}")}})
                })
                .collect();
            let fut = post("/v1/events".into(), serde_json::json!({ "events": events }));
            async move { fut.await.map(|_| ()) }
        })
        .await?;
        let t = Instant::now();
        let r = client.get(format!("{base}/v1/subjects/{subject}/export")).bearer_auth(&key).send().await?;
        anyhow::ensure!(r.status() == 200, "export answered {}", r.status());
        let exported = r.json::<serde_json::Value>().await?["events"].as_array().map_or(0, Vec::len);
        let export = t.elapsed();
        anyhow::ensure!(exported == n, "exported {exported} of {n} events");
        let t = Instant::now();
        let r = client.delete(format!("{base}/v1/subjects/{subject}")).bearer_auth(&key).send().await?;
        anyhow::ensure!(r.status() == 200, "erasure answered {}", r.status());
        sizes.push((n, export, t.elapsed()));
    }
    let peak_rss = server.rss_kib("VmHWM");
    server.stop().await;

    eprintln!("bench: baseline, the same rows inserted bare into the same schema");
    let baseline = bare_event_inserts(dir.path(), batches * BATCH).await?;
    let seal_us = seal_cost_us();
    let rate = (batches * BATCH) as f64 / http.elapsed.as_secs_f64();
    println!(
        "\ncandor bench ingest — {} events in batches of {BATCH} ({SUBJECTS_PER_BATCH} subjects per batch, {SUBJECTS} subjects), \
         {concurrency} concurrent clients, SQLite (WAL, durable commits)\n",
        batches * BATCH
    );
    println!("| measure | candor | baseline | ratio |");
    println!("| --- | ---: | ---: | ---: |");
    println!(
        "| events/s: HTTP + gate + sealing + durable commit vs bare inserts of the same rows, 100 per transaction | {:.0} | {:.0} | {:.2} |",
        rate,
        baseline,
        rate / baseline
    );
    println!(
        "| batch latency p50 / p99 (ms) | {:.2} / {:.2} | | |",
        ms(http.percentile(0.5)),
        ms(http.percentile(0.99))
    );
    println!(
        "| sealing one event (µs, in process) / share of the time per ingested event | {seal_us:.2} / {:.1}% | | |",
        seal_us * rate / 1e6 * 100.0
    );
    for (n, export, erase) in sizes {
        println!("| subject with {n} events: export / erasure (ms) | {:.1} / {:.1} | | |", ms(export), ms(erase));
    }
    println!("| server RSS peak over the whole bench (MiB) | {:.1} | | |", peak_rss as f64 / 1024.0);
    Ok(ExitCode::SUCCESS)
}

/// What sealing one event's properties costs (a 30-byte JSON object, as in the bench).
fn seal_cost_us() -> f64 {
    let key = candor_privacy::SealingKey::generate();
    let pid = candor_privacy::Pid([7; 32]);
    let aad = candor_privacy::sealing::event_aad(&pid, &[1; 16], "product_id");
    let plain = br#"{"product_id":"product-01234"}"#;
    let rounds = 200_000;
    let start = Instant::now();
    let mut bytes = 0;
    for _ in 0..rounds {
        bytes += std::hint::black_box(key.seal(&aad, plain)).len();
    }
    std::hint::black_box(bytes);
    start.elapsed().as_secs_f64() * 1e6 / rounds as f64
}

/// The ingest baseline: rows shaped like candor's (pid, 16-byte id, type, time, field
/// names, a sealed value of the same size) inserted into the same events schema, 100 per
/// durable transaction, one multi-row INSERT each, by one writer.
async fn bare_event_inserts(dir: &Path, rows: usize) -> anyhow::Result<f64> {
    let pool = baseline_pool(dir, "baseline-events.db").await?;
    sqlx::query(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, pid BLOB NOT NULL, id BLOB NOT NULL, type TEXT NOT NULL, \
         at INTEGER NOT NULL, fields TEXT NOT NULL, sealed BLOB NOT NULL)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE INDEX events_subject ON events (pid, at)").execute(&pool).await?;
    // A sealed {"product_id":"product-01234"}: 24-byte nonce + 30 bytes + 16-byte tag.
    let sealed = vec![7u8; 24 + 30 + 16];
    let start = Instant::now();
    for b in 0..rows.div_ceil(BATCH) {
        let mut tx = pool.begin().await?;
        let mut q = sqlx::QueryBuilder::new("INSERT INTO events (pid, id, type, at, fields, sealed) ");
        q.push_values(0..BATCH, |mut row, e| {
            let subject = (b * SUBJECTS_PER_BATCH + e % SUBJECTS_PER_BATCH) % SUBJECTS;
            let pid: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(subject.to_le_bytes()).into();
            row.push_bind(pid.to_vec())
                .push_bind(uuid::Uuid::now_v7().as_bytes().to_vec())
                .push_bind("product_viewed")
                .push_bind(now_ms())
                .push_bind("product_id")
                .push_bind(sealed.clone());
        });
        q.build().execute(&mut *tx).await?;
        tx.commit().await?;
    }
    let rate = rows as f64 / start.elapsed().as_secs_f64();
    pool.close().await;
    Ok(rate)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) a process has used so far, from `/proc/PID/stat` (Linux
/// counts it in ticks of 10 ms; summed over a phase's rounds that is precise enough).
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesized command name: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// Runs `n` calls of `task` with `concurrency` in flight against the server process
/// `server`, timing each and counting the CPU both sides used.
async fn drive<F, Fut>(server: u32, n: usize, concurrency: usize, task: F) -> anyhow::Result<Phase>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let cpu_before = (cpu_time(server), cpu_time(std::process::id()));
    let start = Instant::now();
    let results: Vec<anyhow::Result<Duration>> = futures::stream::iter(0..n)
        .map(|i| {
            let fut = task(i);
            async move {
                let t = Instant::now();
                fut.await?;
                Ok(t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let cpu = Cpu {
        server: cpu_time(server).saturating_sub(cpu_before.0),
        client: cpu_time(std::process::id()).saturating_sub(cpu_before.1),
    };
    let mut latencies = results.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    latencies.sort();
    Ok(Phase { requests: n, elapsed, latencies, cpu })
}

async fn create_key(dir: &Path, scopes: &[&str]) -> anyhow::Result<String> {
    let instance = Instance::open(crate::config::Settings::load(dir, FlagOverrides::default())?).await?;
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    let token = crate::commands::create_key(&instance, &scopes, "bench").await?;
    instance.store.close().await;
    Ok(token)
}

/// The baseline: the same ledger rows inserted one per durable transaction, by one
/// writer, into a fresh database with the same schema.
/// One connection to a fresh baseline database in `dir`: WAL, `synchronous=FULL`.
async fn baseline_pool(dir: &Path, file: &str) -> anyhow::Result<sqlx::SqlitePool> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    let options = SqliteConnectOptions::new()
        .filename(dir.join(file))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    Ok(SqlitePoolOptions::new().max_connections(1).connect_with(options).await?)
}

/// The write baseline: the same ledger rows, inserted one per durable transaction
/// (`synchronous=FULL`) into a bare table of their own.
struct BareLedger {
    pool: sqlx::SqlitePool,
    proof: String,
    inserted: usize,
}

impl BareLedger {
    async fn open(dir: &Path) -> anyhow::Result<BareLedger> {
        let pool = baseline_pool(dir, "baseline.db").await?;
        sqlx::query(
            "CREATE TABLE consent_records (pid BLOB NOT NULL, id TEXT NOT NULL, purpose TEXT NOT NULL, state TEXT NOT NULL, \
             notice_version INTEGER NOT NULL, at INTEGER NOT NULL, source TEXT NOT NULL, method TEXT NOT NULL, proof TEXT NOT NULL, \
             receipt_id TEXT NOT NULL, PRIMARY KEY (pid, id))",
        )
        .execute(&pool)
        .await?;
        let proof =
            serde_json::json!({"notice_sha256": "0".repeat(64), "user_agent": "bench", "page": null, "gpc": false})
                .to_string();
        Ok(BareLedger { pool, proof, inserted: 0 })
    }

    /// Inserts `rows` rows, one durable transaction each.
    async fn insert(&mut self, rows: usize) -> anyhow::Result<Phase> {
        let mut latencies = Vec::with_capacity(rows);
        let start = Instant::now();
        for _ in 0..rows {
            let i = self.inserted;
            self.inserted += 1;
            let t = Instant::now();
            let pid: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(i.to_le_bytes()).into();
            sqlx::query(
                "INSERT INTO consent_records VALUES ($1, $2, 'newsletter', 'granted', 1, $3, 'api', 'api', $4, $5)",
            )
            .bind(&pid[..])
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(now_ms())
            .bind(&self.proof)
            .bind(uuid::Uuid::now_v7().to_string())
            .execute(&self.pool)
            .await?;
            latencies.push(t.elapsed());
        }
        let elapsed = start.elapsed();
        latencies.sort();
        Ok(Phase { requests: rows, elapsed, latencies, cpu: Cpu::default() })
    }

    async fn close(self) {
        self.pool.close().await;
    }
}

/// A `candor serve` child process.
struct Server {
    child: tokio::process::Child,
    addr: String,
    pid: u32,
}

impl Server {
    async fn start(dir: &Path) -> anyhow::Result<Server> {
        // CANDOR_BENCH_SERVER names another build to serve, to compare two builds under
        // the same load generator (BENCHMARKS.md).
        let exe = match std::env::var_os("CANDOR_BENCH_SERVER") {
            Some(other) => std::path::PathBuf::from(other),
            None => std::env::current_exe()?,
        };
        let mut child = tokio::process::Command::new(exe)
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(dir)
            .env("CANDOR_LOG", std::env::var("CANDOR_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().context("server pid")?;
        let mut lines = BufReader::new(child.stderr.take().context("server stderr")?).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("candor is serving on http://") {
                    return Ok(addr.trim().to_string());
                }
            }
            anyhow::bail!("the server exited before serving")
        })
        .await
        .context("the server did not start within 30 s")??;
        // Keep draining stderr so the child never blocks on a full pipe; pass it on when
        // CANDOR_BENCH_SERVER_LOG asked for server logs.
        let echo = std::env::var("CANDOR_BENCH_SERVER_LOG").is_ok();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    eprintln!("server: {line}");
                }
            }
        });
        Ok(Server { child, addr, pid })
    }

    /// A memory figure from /proc (VmRSS now, VmHWM peak), in KiB; 0 where unavailable.
    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field).and_then(|v| v.trim_start_matches(':').split_whitespace().next()?.parse().ok())
            })
            .unwrap_or(0)
    }

    async fn stop(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
