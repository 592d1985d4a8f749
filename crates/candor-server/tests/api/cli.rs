//! The command line as a new user meets it: `init`, `catalog check`, and what they print.

use crate::helpers::{catalog_with, cli_in, stderr, stdout};

#[test]
fn init_creates_a_private_instance_once_and_is_safe_to_rerun() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shop");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("init")
        .arg(&dir)
        .env_remove("CANDOR_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.starts_with("admin password (shown once): "), "{printed}");
    assert!(stderr(&out).contains("published notice version 1"));
    assert!(dir.join("candor.toml").exists() && dir.join("candor.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for file in ["keys/master.key", "keys/pseudonym.key", "keys/signing.key", "candor.db"] {
            let mode = std::fs::metadata(dir.join(file)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{file}");
        }
    }
    let key_before = std::fs::read(dir.join("keys/signing.key")).unwrap();

    let again = cli_in(&dir, None, &["init"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stdout(&again).is_empty(), "the password is printed only once");
    assert!(!stderr(&again).contains("published"), "no second version 1");
    assert_eq!(std::fs::read(dir.join("keys/signing.key")).unwrap(), key_before, "keys are never replaced");
    let verify = cli_in(&dir, None, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn init_takes_the_admin_password_from_the_environment() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("shop");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("init")
        .arg(&dir)
        .env("CANDOR_ADMIN_PASSWORD", "correct horse battery staple")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "a given password is not echoed");
    let short = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .arg("init")
        .arg(parent.path().join("other"))
        .env("CANDOR_ADMIN_PASSWORD", "short")
        .output()
        .unwrap();
    assert!(!short.status.success());
    assert!(stderr(&short).contains("at least 12"), "{}", stderr(&short));
}

#[test]
fn catalog_check_names_the_line_of_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, candor_core::catalog::EXAMPLE_CATALOG).unwrap();
    let out = cli_in(dir.path(), None, &["catalog", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("ok (4 purposes"), "{}", stdout(&out));

    let bad_text = catalog_with(|c| {
        c.replace(
            "description = { en = \"One email a week with offers.\", de = \"Eine E-Mail pro Woche mit Angeboten.\" }",
            "description = \"\"",
        )
        .replace("category = \"contact.email\"", "category = \"special.health\"")
        .replace("fields = [\"product_id\"]", "fields = [\"product_id\", \"colour\"]")
    });
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, &bad_text).unwrap();
    let out = cli_in(dir.path(), None, &["catalog", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let errors = stderr(&out);
    let line_of = |needle: &str| bad_text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let prefix = bad.display().to_string();
    assert!(errors.contains(&format!("{prefix}:{}:", line_of("description = \"\""))), "{errors}");
    // A special category under a contract purpose is reported where that purpose is named.
    assert!(errors.contains(&format!("{prefix}:{}:", line_of("purposes = [\"account\", \"newsletter\"]"))), "{errors}");
    assert!(errors.contains("special"), "{errors}");
    assert!(errors.contains(&format!("{prefix}:{}:", line_of("\"colour\""))), "{errors}");
    assert!(errors.contains("colour"), "{errors}");
    assert!(errors.contains("3 error(s)"), "{errors}");

    let missing = cli_in(dir.path(), None, &["catalog", "check", "/nonexistent/candor.toml"]);
    assert!(!missing.status.success());
    assert!(stderr(&missing).contains("/nonexistent/candor.toml"), "{}", stderr(&missing));
}

#[test]
fn commands_on_a_folder_without_an_instance_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli_in(dir.path(), None, &["keys", "list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("candor init"), "{}", stderr(&out));
}

/// The consent benchmark runs end to end at a small size: every write answered 201, every
/// read 200 (the bench stops at the first other answer), its table printed in full, and the
/// webhooks of its writes delivered to its local processor.
#[test]
fn bench_consent_runs_end_to_end_and_prints_its_table() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_candor"))
        .args(["bench", "consent", "--requests", "100", "--concurrency", "4"])
        .env_remove("CANDOR_DATABASE_URL")
        .env_remove("CANDOR_BENCH_SERVER")
        .output()
        .unwrap();
    assert!(out.status.success(), "bench failed: {}", stderr(&out));
    let table = stdout(&out);
    for row in [
        "| durable consent writes/s (HTTP) vs bare one-row durable inserts/s |",
        "| write latency p90 / p99.9 / max (ms) |",
        "| writes/s with every core busy (",
        "| current-state reads/s, first read after a restart (database), vs /healthz/s |",
        "| current-state reads/s, read again (cache), vs /healthz/s |",
        "| server RSS idle / peak (MiB) |",
    ] {
        assert!(table.contains(row), "no row {row:?} in:\n{table}");
    }
    // 100 writes and 10 of warm-up, each deciding `newsletter`, and the first notice.
    let count = table.lines().find_map(|l| l.split_once("`notice.published`): ")).expect("the webhook count").1;
    let (delivered, sent) = count.split_once(" of ").expect("N of M");
    assert_eq!(sent, "111");
    let delivered: usize = delivered.parse().unwrap();
    assert!((1..=111).contains(&delivered), "{delivered} webhooks acknowledged");
}
