//! `candor catalog check`.

use std::process::ExitCode;

use anyhow::Context;
use candor_core::catalog::Catalog;

use crate::cli::{CatalogCommand, Cli};

pub fn run(cli: &Cli, command: &CatalogCommand) -> anyhow::Result<ExitCode> {
    let CatalogCommand::Check { file } = command;
    let path = file.clone().unwrap_or_else(|| cli.instance_dir().join("candor.toml"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    match Catalog::parse(&text) {
        Ok(c) => {
            println!(
                "{}: ok ({} purposes, {} fields, {} events, {} benefits, {} processors)",
                path.display(),
                c.purposes.len(),
                c.fields.len(),
                c.events.len(),
                c.benefits.len(),
                c.processors.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            print_catalog_errors(&path.display().to_string(), &errors);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Prints catalog errors as `FILE:LINE: PATH: MESSAGE`, one per line, on stderr.
pub fn print_catalog_errors(file: &str, errors: &candor_core::catalog::CatalogErrors) {
    for e in &errors.0 {
        eprintln!("{file}:{}: {}: {}", e.line, e.path, e.message);
    }
    eprintln!("{} error(s)", errors.0.len());
}
