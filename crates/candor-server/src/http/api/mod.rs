//! One module per API resource.

pub mod consents;
pub mod health;
pub mod notice;
pub mod sessions;
pub mod well_known;
