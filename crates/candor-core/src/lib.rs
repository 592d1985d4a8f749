//! candor's domain: the catalog, notice versions and their diffs, consent rules, the
//! ingestion gate.
//!
//! Pure decisions, no IO: other crates store, encrypt, serve and send; this one decides.

pub mod benefit;
pub mod catalog;
pub mod consent;
pub mod gate;
pub mod notice;
pub mod subject;

pub use catalog::{
    Benefit, BenefitKind, Catalog, CatalogError, CatalogErrors, EXAMPLE_CATALOG, EventType, Field, FieldType,
    LegalBasis, Organization, Processor, Purpose, Text,
};
pub use notice::{
    Change, Notice, NoticeBenefit, NoticeDiff, NoticeField, NoticeOrganization, NoticeProcessor, NoticePurpose,
    PurposeDiff, Transition, diff,
};
pub use subject::{AnonymousId, IdError, SubjectId};
