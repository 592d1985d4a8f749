//! The candor server: configuration, startup, the HTTP API, background work and the CLI.
//!
//! Layout: `cli` parses the command line and dispatches to `commands/`; `app` builds the
//! server; `http/` holds the routes (one file per resource in `http/api/`). Data flows
//! through `subject_data` (gate, seal, store, open) and `dsar` (export, erasure); the
//! consent writer, notice cache, `sweeper` and webhook `delivery` are the background work.

pub mod app;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod consent_cache;
pub mod consent_reader;
pub mod consent_writer;
pub mod delivery;
pub mod dsar;
pub mod error;
pub mod event_writer;
pub mod http;
pub mod i18n;
pub mod instance;
pub mod key_cache;
pub mod notice_cache;
pub mod publish;
pub mod state;
pub mod subject_data;
pub mod sweeper;
