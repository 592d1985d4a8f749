//! What each command does. Output meant for scripts goes to stdout; everything else
//! (progress, logs) to stderr.

mod audit;
mod catalog;
mod data;
mod demo;
mod keys;
mod notice;

pub use keys::create as create_key;

use std::process::ExitCode;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::app::Application;
use crate::cli::{Cli, Command};
use crate::instance::{self, Instance};

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Init { dir } => {
            let dir = dir.clone().unwrap_or_else(|| cli.instance_dir());
            let flags = crate::config::FlagOverrides { listen: None, database_url: cli.database_url.clone() };
            let outcome = instance::init(&dir, flags).await?;
            if outcome.wrote_catalog {
                eprintln!("wrote {}", dir.join("candor.toml").display());
            }
            if let Some(v) = outcome.published {
                eprintln!("published notice version {v}");
            }
            match outcome.generated_password {
                Some(p) => println!("admin password (shown once): {p}"),
                None => eprintln!("admin password already set (or taken from CANDOR_ADMIN_PASSWORD)"),
            }
            eprintln!("ready: candor serve --dir {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { listen } => {
            let settings = cli.settings(listen.clone())?;
            init_logging(&settings.log);
            let instance = Instance::open(settings).await?;
            let app = Application::build(instance).await?;
            tracing::info!(addr = %app.addr(), "candor is serving");
            eprintln!("candor is serving on http://{}", app.addr());
            app.run_until_stopped().await.context("serving")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { customers, listen } => demo::run(*customers, listen.clone()).await,
        Command::Catalog { command } => catalog::run(&cli, command),
        Command::Notice { command } => notice::run(&cli, command).await,
        Command::Keys { command } => keys::run(&cli, command).await,
        Command::Export { subject, format, output } => data::export(&cli, subject, format, output.as_ref()).await,
        Command::Erase { subject } => data::erase(&cli, subject).await,
        Command::Sweep => data::sweep(&cli).await,
        Command::Audit { command } => audit::run(&cli, command).await,
        Command::Bench { which, requests, concurrency } => crate::bench::run(*which, *requests, *concurrency).await,
        Command::Openapi => {
            print!("{}", crate::http::openapi_json());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Logs to stderr, filtered by `CANDOR_LOG`/`RUST_LOG` or the configured filter.
pub fn init_logging(default: &str) {
    let filter = EnvFilter::try_from_env("CANDOR_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}

/// Opens the instance named on the command line.
async fn open(cli: &Cli) -> anyhow::Result<Instance> {
    Instance::open(cli.settings(None)?).await
}
