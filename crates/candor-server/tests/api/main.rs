//! candor's integration suite: the real server over real HTTP and the real binary,
//! on SQLite and on PostgreSQL (`on_both!`).

mod helpers;

mod audit;
mod cli;
mod consents;
mod errors;
mod keys;
mod notice;
mod receipts;
mod storage;
mod widget;
