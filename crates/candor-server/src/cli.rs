//! The command line. Every command runs without prompts; `--dir` names the instance
//! folder and `--database-url` (or `CANDOR_DATABASE_URL`) the database.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::config::{FlagOverrides, Settings};

/// candor: consent-first personalization in one binary.
#[derive(Debug, Parser)]
#[command(name = "candor", version, about)]
pub struct Cli {
    /// The instance folder (catalog, keys, SQLite file).
    #[arg(long, global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Database URL (`sqlite:PATH` or `postgres://…`); default: the SQLite file in DIR.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an instance: catalog, keys, database, notice version 1, admin password.
    Init {
        /// The folder to create (default: --dir or the current folder).
        dir: Option<PathBuf>,
    },
    /// Serve the API, widget and pages.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// A ready demo shop in a temporary folder, loaded with synthetic customers, served.
    Demo {
        /// How many synthetic customers to load.
        #[arg(long, default_value_t = 3000)]
        customers: usize,
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Work with the catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Publish or compare notice versions.
    Notice {
        #[command(subcommand)]
        command: NoticeCommand,
    },
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Check the audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Export everything held about a subject (the DSAR export of the API).
    Export {
        /// The host's external id of the subject.
        subject: String,
        /// `json` or `csv` (a zip of CSV files).
        #[arg(long, default_value = "json")]
        format: String,
        /// Write to this file instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Erase a subject and print the signed erasure certificate.
    Erase {
        /// The host's external id of the subject.
        subject: String,
    },
    /// Run the retention and withdrawal sweep once.
    Sweep,
    /// Run a benchmark of BENCHMARKS.md and print its table.
    Bench {
        /// Which benchmark.
        #[arg(value_enum)]
        which: crate::bench::Which,
        /// Requests per phase.
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Print the OpenAPI document generated from the code.
    Openapi,
}

/// `candor catalog …`
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Validate a catalog (default: DIR/candor.toml); errors name the line.
    Check {
        /// The catalog file.
        file: Option<PathBuf>,
    },
}

/// `candor notice …`
#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Publish the catalog as the next notice version.
    Publish {
        /// The catalog file (default: DIR/candor.toml).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Show what publishing the catalog would change.
    Diff {
        /// The catalog file (default: DIR/candor.toml).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// `candor keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it (only it) on stdout.
    Create {
        /// A scope: ingest, consent, read:<purpose>, recommend, dsar, analytics, admin.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// A name to recognise it by.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key by id.
    Revoke {
        /// The key id (the part after `cnd_`).
        id: String,
    },
    /// Re-wrap every subject key under a new master key (the old one is destroyed).
    RotateMaster,
}

/// `candor audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain; exit 1 naming the first bad entry.
    Verify,
}

impl Cli {
    /// The instance folder in effect.
    pub fn instance_dir(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| PathBuf::from("."))
    }

    /// Settings with these flags applied.
    pub fn settings(&self, listen: Option<String>) -> anyhow::Result<Settings> {
        Settings::load(&self.instance_dir(), FlagOverrides { listen, database_url: self.database_url.clone() })
    }
}

/// Parses the command line, runs the command and returns its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
