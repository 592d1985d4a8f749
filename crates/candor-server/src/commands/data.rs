//! `candor export`, `candor erase`, and `candor sweep`: the data-subject and
//! housekeeping actions of the API, from the shell.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::app::shared_state;
use crate::cli::Cli;
use crate::dsar;
use crate::state::AppState;

async fn state(cli: &Cli) -> anyhow::Result<AppState> {
    let instance = super::open(cli).await?;
    let public_url = instance.settings.public_url(instance.settings.listen.parse()?);
    shared_state(instance, public_url).await
}

async fn subject(state: &AppState, raw: &str) -> anyhow::Result<(candor_core::SubjectId, candor_privacy::Pid)> {
    Ok(dsar::known_subject(state, raw).await?)
}

/// `candor export SUBJECT [--format json|csv] [--output FILE]`.
pub async fn export(cli: &Cli, raw: &str, format: &str, output: Option<&PathBuf>) -> anyhow::Result<ExitCode> {
    if !matches!(format, "json" | "csv") {
        anyhow::bail!("--format must be json or csv");
    }
    let state = state(cli).await?;
    let (subject, pid) = subject(&state, raw).await?;
    let export = dsar::export(&state, Some(&subject), pid, "cli", format).await?;
    let bytes = if format == "csv" {
        dsar::export_zip(&export)?
    } else {
        let mut text = serde_json::to_vec_pretty(&export)?;
        text.push(b'\n');
        text
    };
    match output {
        Some(path) => std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(&bytes)?,
    }
    state.store().close().await;
    Ok(ExitCode::SUCCESS)
}

/// `candor erase SUBJECT`: prints the signed erasure certificate.
pub async fn erase(cli: &Cli, raw: &str) -> anyhow::Result<ExitCode> {
    let state = state(cli).await?;
    let (subject, pid) = subject(&state, raw).await?;
    let out = dsar::erase(&state, Some(&subject), pid, "cli", None).await?.context("unknown subject")?;
    println!("{}", serde_json::to_string_pretty(&serde_json::json!(out))?);
    state.store().close().await;
    Ok(ExitCode::SUCCESS)
}

/// `candor sweep`: one retention and withdrawal sweep, with what it removed.
pub async fn sweep(cli: &Cli) -> anyhow::Result<ExitCode> {
    let state = state(cli).await?;
    let notice = state.notice()?;
    let report = crate::sweeper::sweep_once(state.store(), state.keyring(), &notice).await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    state.store().close().await;
    Ok(ExitCode::SUCCESS)
}
