//! `candor keys create|list|revoke|rotate-master`.

use std::process::ExitCode;

use candor_privacy::ApiKeySecret;
use candor_store::{ApiKeyRow, now_ms};

use crate::cli::{Cli, KeysCommand};
use crate::clock::rfc3339;
use crate::instance::{Instance, audit_entry};

/// Scopes an API key may carry (`read:<purpose>` besides).
pub const SCOPES: [&str; 6] = ["ingest", "consent", "recommend", "dsar", "analytics", "admin"];

/// Whether `scope` is one we know.
pub fn valid_scope(scope: &str) -> bool {
    SCOPES.contains(&scope)
        || scope.strip_prefix("read:").is_some_and(|p| {
            !p.is_empty()
                && p.len() <= 64
                && p.starts_with(|c: char| c.is_ascii_lowercase())
                && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

/// Creates a key with these scopes and returns its token (shown once, stored hashed).
pub async fn create(instance: &Instance, scopes: &[String], name: &str) -> anyhow::Result<String> {
    let secret = ApiKeySecret::generate();
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes.dedup();
    let row = ApiKeyRow {
        id: secret.id.clone(),
        name: name.to_string(),
        scopes: scopes.clone(),
        secret_hash: secret.hash.to_vec(),
        created_at: now_ms(),
        revoked_at: None,
    };
    let audit = audit_entry("cli", "key.created", None, serde_json::json!({"key": row.id, "scopes": scopes}));
    instance.store.create_api_key(&row, &instance.chain(), audit).await?;
    Ok(secret.token)
}

pub async fn run(cli: &Cli, command: &KeysCommand) -> anyhow::Result<ExitCode> {
    if let KeysCommand::Create { scopes, .. } = command
        && let Some(bad) = scopes.iter().find(|s| !valid_scope(s))
    {
        anyhow::bail!("unknown scope {bad:?}; use {}, or read:<purpose>", SCOPES.join(", "));
    }
    let instance = super::open(cli).await?;
    let chain = instance.chain();
    let code = match command {
        KeysCommand::Create { scopes, name } => {
            let name = name.clone().unwrap_or_else(|| "unnamed".to_string());
            println!("{}", create(&instance, scopes, &name).await?);
            ExitCode::SUCCESS
        }
        KeysCommand::List => {
            println!("{:<16}  {:<24}  {:<24}  {:<30}  scopes", "id", "name", "created", "revoked");
            for k in instance.store.api_keys().await? {
                println!(
                    "{:<16}  {:<24}  {:<24}  {:<30}  {}",
                    k.id,
                    k.name,
                    rfc3339(k.created_at),
                    k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into()),
                    k.scopes.join(" ")
                );
            }
            ExitCode::SUCCESS
        }
        KeysCommand::RotateMaster => {
            let audit = audit_entry("cli", "key.master_rotated", None, serde_json::Value::Null);
            let kid = instance.store.rotate_master(&instance.keyring, &chain, audit).await?;
            eprintln!("every subject key is now wrapped under master key {kid}; the old master key is gone");
            ExitCode::SUCCESS
        }
        KeysCommand::Revoke { id } => {
            let audit = audit_entry("cli", "key.revoked", None, serde_json::json!({"key": id}));
            if instance.store.revoke_api_key(id, now_ms(), &chain, audit).await? {
                eprintln!("revoked {id}");
                ExitCode::SUCCESS
            } else {
                eprintln!("error: no active key {id}");
                ExitCode::FAILURE
            }
        }
    };
    instance.store.close().await;
    Ok(code)
}
