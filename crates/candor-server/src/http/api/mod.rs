//! One module per API resource.

pub mod consents;
pub mod data;
pub mod dsar;
pub mod health;
pub mod ingest;
pub mod notice;
pub mod sessions;
pub mod well_known;
