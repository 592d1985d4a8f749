//! candor's integration suite: the real server over real HTTP and the real binary,
//! on SQLite and on PostgreSQL (`on_both!`).

mod helpers;

mod audit;
mod cli;
mod consents;
mod dsar;
mod errors;
mod ingest;
mod keys;
mod notice;
mod pages;
mod panel;
mod receipts;
mod storage;
mod webhooks;
mod widget;
