//! `candor audit verify`.

use std::process::ExitCode;

use crate::cli::{AuditCommand, Cli};

pub async fn run(cli: &Cli, command: &AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify = command;
    let instance = super::open(cli).await?;
    let chain = instance.chain();
    let mut verifier = chain.verifier();
    let mut broken = None;
    instance
        .store
        .audit()
        .for_each(|entry| {
            if broken.is_none()
                && let Err(e) = verifier.push(&entry)
            {
                broken = Some(e);
            }
        })
        .await?;
    let result = match broken {
        Some(e) => Err(e),
        None => verifier.finish(instance.store.audit().head().await?.as_ref()),
    };
    instance.store.close().await;
    match result {
        Ok(n) => {
            println!("audit chain intact: {n} entries, head signature valid");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("audit chain BROKEN at entry {}: {}", e.seq, e.reason);
            Ok(ExitCode::FAILURE)
        }
    }
}
