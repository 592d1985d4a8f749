//! `candor notice publish` and `candor notice diff`.

use std::process::ExitCode;

use anyhow::Context;
use candor_core::notice::Change;

use crate::cli::{Cli, NoticeCommand};
use crate::commands::catalog::print_catalog_errors;
use crate::publish::{self, PublishError};

pub async fn run(cli: &Cli, command: &NoticeCommand) -> anyhow::Result<ExitCode> {
    let (NoticeCommand::Publish { file } | NoticeCommand::Diff { file }) = command;
    let path = file.clone().unwrap_or_else(|| cli.instance_dir().join("candor.toml"));
    let toml = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let instance = super::open(cli).await?;
    let result = match command {
        NoticeCommand::Publish { .. } => {
            publish::publish(&instance.store, &instance.chain(), &toml, "cli").await.map(|outcome| {
                if outcome.unchanged {
                    println!("unchanged: version {} is current", outcome.version);
                } else if outcome.material.is_empty() {
                    println!("published version {} (no material change)", outcome.version);
                } else {
                    println!(
                        "published version {}; materially changed: {} (those grants must be renewed)",
                        outcome.version,
                        outcome.material.join(", ")
                    );
                }
            })
        }
        NoticeCommand::Diff { .. } => publish::propose(&instance.store, &toml).await.map(|proposal| {
            let d = proposal.diff;
            println!("changes against version {}:", proposal.current.map_or(0, |c| c.version));
            let mut any = false;
            for p in d.purposes.iter().filter(|p| p.change != Change::Unchanged) {
                any = true;
                let tag = if p.material { "material" } else { "not material" };
                let change = match p.change {
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Changed => "changed",
                    Change::Unchanged => "unchanged",
                };
                println!("  {} ({change}, {tag})", p.purpose);
                for line in &p.summary {
                    println!("    - {line}");
                }
            }
            if d.organization_changed {
                any = true;
                println!("  organization details changed");
            }
            if !any {
                println!("  none");
            }
        }),
    };
    instance.store.close().await;
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(PublishError::Invalid(errors)) => {
            print_catalog_errors(&path.display().to_string(), &errors);
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
