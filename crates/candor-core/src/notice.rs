//! Notice versions: what the catalog tells people, and what changed between two versions.
//!
//! A consent covers exactly what the notice said when it was given. The diff decides, per
//! purpose, whether a change is *material* (SPEC §2) and therefore needs a fresh consent.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::catalog::{BenefitKind, Catalog, FieldType, LegalBasis, Text};

/// What the catalog tells people, as published: immutable once stored, serialized in a stable
/// field order so the exact text shown can be hashed as consent proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Who is responsible for the data.
    pub organization: NoticeOrganization,
    /// Every purpose with the data it uses, in catalog order.
    pub purposes: Vec<NoticePurpose>,
    /// Who receives data, without anything secret.
    pub processors: Vec<NoticeProcessor>,
}

/// The organization part of a notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeOrganization {
    /// Its name as shown to people.
    pub name: String,
    /// Where people reach the privacy officer.
    pub contact: String,
    /// Web origins allowed to embed the widget.
    pub allowed_origins: Vec<String>,
    /// How many days a consent stays valid.
    pub consent_valid_days: u32,
}

/// One purpose as people are told about it: the choice, the data, who gets it, what it earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticePurpose {
    /// Stable identifier.
    pub id: String,
    /// Short name shown on the switch.
    pub title: Text,
    /// What the purpose does with the data.
    pub description: Text,
    /// Why processing is lawful.
    pub legal_basis: LegalBasis,
    /// How long data kept for this purpose lives.
    pub retention_days: u32,
    /// Whether a Global Privacy Control signal counts as "no".
    pub gpc_opt_out: bool,
    /// Whether it feeds personalized recommendations.
    pub recommendations: bool,
    /// The fields collected for it, in catalog order.
    pub fields: Vec<NoticeField>,
    /// The categories of those fields, sorted and unique.
    pub categories: Vec<String>,
    /// Benefits that need this purpose.
    pub benefits: Vec<NoticeBenefit>,
    /// Ids of the processors receiving this purpose's data.
    pub processors: Vec<String>,
}

/// A field as listed under a purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeField {
    /// Stable name.
    pub name: String,
    /// The value type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// What kind of data it is.
    pub category: String,
    /// Whether it relates to a person on its own.
    pub pii: bool,
    /// How long its values are kept (the field's own retention, else its purposes' shortest).
    pub retention_days: u32,
}

/// A benefit as listed under the purposes it needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeBenefit {
    /// Stable identifier.
    pub id: String,
    /// Short name.
    pub title: Text,
    /// What kind of value it is.
    pub kind: BenefitKind,
    /// All purposes that must be granted to unlock it.
    pub requires: Vec<String>,
}

/// A processor as people are told about it: never its secret or webhook URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeProcessor {
    /// Stable identifier.
    pub id: String,
    /// Its name, if declared.
    pub name: Option<String>,
    /// The purposes whose data it receives.
    pub purposes: Vec<String>,
}

impl Notice {
    /// The notice a catalog gives people.
    pub fn from_catalog(catalog: &Catalog) -> Notice {
        let organization = NoticeOrganization {
            name: catalog.organization.name.clone(),
            contact: catalog.organization.contact.clone(),
            allowed_origins: catalog.organization.allowed_origins.clone(),
            consent_valid_days: catalog.organization.consent_valid_days,
        };
        let purposes = catalog
            .purposes
            .iter()
            .map(|purpose| {
                let serves = |list: &[String]| list.contains(&purpose.id);
                let fields: Vec<NoticeField> = catalog
                    .fields
                    .iter()
                    .filter(|f| serves(&f.purposes))
                    .map(|f| NoticeField {
                        name: f.name.clone(),
                        kind: f.kind,
                        category: f.category.clone(),
                        pii: f.pii,
                        retention_days: f.effective_retention_days(catalog),
                    })
                    .collect();
                let categories: BTreeSet<&str> = fields.iter().map(|f| f.category.as_str()).collect();
                NoticePurpose {
                    id: purpose.id.clone(),
                    title: purpose.title.clone(),
                    description: purpose.description.clone(),
                    legal_basis: purpose.legal_basis,
                    retention_days: purpose.retention_days,
                    gpc_opt_out: purpose.gpc_opt_out,
                    recommendations: purpose.recommendations,
                    categories: categories.into_iter().map(str::to_owned).collect(),
                    fields,
                    benefits: catalog
                        .benefits
                        .iter()
                        .filter(|b| serves(&b.requires))
                        .map(|b| NoticeBenefit {
                            id: b.id.clone(),
                            title: b.title.clone(),
                            kind: b.kind,
                            requires: b.requires.clone(),
                        })
                        .collect(),
                    processors: catalog
                        .processors
                        .iter()
                        .filter(|p| serves(&p.purposes))
                        .map(|p| p.id.clone())
                        .collect(),
                }
            })
            .collect();
        let processors = catalog
            .processors
            .iter()
            .map(|p| NoticeProcessor { id: p.id.clone(), name: p.name.clone(), purposes: p.purposes.clone() })
            .collect();
        Notice { organization, purposes, processors }
    }

    /// The purpose with this id.
    pub fn purpose(&self, id: &str) -> Option<&NoticePurpose> {
        self.purposes.iter().find(|p| p.id == id)
    }

    /// The processor with this id.
    pub fn processor(&self, id: &str) -> Option<&NoticeProcessor> {
        self.processors.iter().find(|p| p.id == id)
    }

    /// Field names of purpose `id` (empty if absent).
    pub fn fields_of(&self, purpose: &str) -> Vec<&str> {
        self.purpose(purpose).map(|p| p.fields.iter().map(|f| f.name.as_str()).collect()).unwrap_or_default()
    }
}

impl NoticePurpose {
    /// The field with this name, if this purpose uses it.
    pub fn field(&self, name: &str) -> Option<&NoticeField> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// What changed between two notice versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeDiff {
    /// Whether the organization's name, contact, origins or consent validity changed.
    pub organization_changed: bool,
    /// One entry per purpose: those of the newer notice in its order, then the removed ones.
    pub purposes: Vec<PurposeDiff>,
}

/// What changed for one purpose, and whether it needs a fresh consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeDiff {
    /// The purpose id.
    pub purpose: String,
    /// Whether the purpose was added, removed, changed or left alone.
    pub change: Change,
    /// Whether consent given under the older notice no longer covers it.
    pub material: bool,
    /// Fields it now uses that it did not.
    pub added_fields: Vec<String>,
    /// Fields it no longer uses.
    pub removed_fields: Vec<String>,
    /// Data categories it now covers that it did not.
    pub added_categories: Vec<String>,
    /// Data categories it no longer covers.
    pub removed_categories: Vec<String>,
    /// The purpose's retention, when it changed.
    pub retention_days: Option<Transition<u32>>,
    /// The legal basis, when it changed.
    pub legal_basis: Option<Transition<LegalBasis>>,
    /// Processors that now receive its data.
    pub added_processors: Vec<String>,
    /// Processors that no longer receive its data.
    pub removed_processors: Vec<String>,
    /// Whether its title or description (in any language) was reworded.
    pub text_changed: bool,
    /// The change in plain English sentences, for the privacy page and the re-consent prompt.
    pub summary: Vec<String>,
}

/// How a purpose differs between two notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the newer notice.
    Added,
    /// Only in the older notice.
    Removed,
    /// In both, with differences.
    Changed,
    /// In both, identical.
    Unchanged,
}

/// A value before and after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition<T> {
    /// The older value.
    pub from: T,
    /// The newer value.
    pub to: T,
}

impl NoticeDiff {
    /// Ids of the purposes whose consent must be asked for again.
    pub fn material_purposes(&self) -> Vec<String> {
        self.purposes.iter().filter(|p| p.material).map(|p| p.purpose.clone()).collect()
    }

    /// The entry for purpose `id`.
    pub fn purpose(&self, id: &str) -> Option<&PurposeDiff> {
        self.purposes.iter().find(|p| p.purpose == id)
    }
}

/// Compares two notices purpose by purpose: `to`'s purposes in order, then removed ones.
pub fn diff(from: &Notice, to: &Notice) -> NoticeDiff {
    let mut purposes: Vec<PurposeDiff> = to
        .purposes
        .iter()
        .map(|new| match from.purpose(&new.id) {
            Some(old) => compare(old, new, from, to),
            None => added(new, to),
        })
        .collect();
    purposes.extend(from.purposes.iter().filter(|old| to.purpose(&old.id).is_none()).map(|old| removed(old, from)));
    NoticeDiff { organization_changed: from.organization != to.organization, purposes }
}

fn empty_diff(purpose: &str, change: Change) -> PurposeDiff {
    PurposeDiff {
        purpose: purpose.to_owned(),
        change,
        material: false,
        added_fields: Vec::new(),
        removed_fields: Vec::new(),
        added_categories: Vec::new(),
        removed_categories: Vec::new(),
        retention_days: None,
        legal_basis: None,
        added_processors: Vec::new(),
        removed_processors: Vec::new(),
        text_changed: false,
        summary: Vec::new(),
    }
}

fn added(new: &NoticePurpose, notice: &Notice) -> PurposeDiff {
    let mut summary = vec![format!("New purpose: {}.", sentence(&new.title.default))];
    summary.push(format!("Based on {}.", basis_phrase(new.legal_basis)));
    summary.extend(new.fields.iter().map(|f| format!("Uses your {}.", describe_field(f))));
    summary.push(format!("Data is kept for {} days.", new.retention_days));
    summary.extend(new.processors.iter().map(|p| format!("Shared with {}.", processor_name(notice, p))));
    PurposeDiff {
        material: true,
        added_fields: names(&new.fields),
        added_categories: new.categories.clone(),
        added_processors: new.processors.clone(),
        summary,
        ..empty_diff(&new.id, Change::Added)
    }
}

fn removed(old: &NoticePurpose, notice: &Notice) -> PurposeDiff {
    let mut summary = vec![format!("This purpose is no longer used: {}.", sentence(&old.title.default))];
    summary.extend(old.processors.iter().map(|p| format!("No longer shared with {}.", processor_name(notice, p))));
    PurposeDiff {
        removed_fields: names(&old.fields),
        removed_categories: old.categories.clone(),
        removed_processors: old.processors.clone(),
        summary,
        ..empty_diff(&old.id, Change::Removed)
    }
}

fn compare(old: &NoticePurpose, new: &NoticePurpose, from: &Notice, to: &Notice) -> PurposeDiff {
    if old == new {
        return empty_diff(&new.id, Change::Unchanged);
    }
    let mut d = empty_diff(&new.id, Change::Changed);
    let mut summary = Vec::new();

    if old.legal_basis != new.legal_basis {
        d.legal_basis = Some(Transition { from: old.legal_basis, to: new.legal_basis });
        summary.push(format!(
            "Now based on {} instead of {}.",
            basis_phrase(new.legal_basis),
            basis_phrase(old.legal_basis)
        ));
    }

    let new_fields: Vec<&NoticeField> = new.fields.iter().filter(|f| old.field(&f.name).is_none()).collect();
    let gone_fields: Vec<&NoticeField> = old.fields.iter().filter(|f| new.field(&f.name).is_none()).collect();
    d.added_fields = new_fields.iter().map(|f| f.name.clone()).collect();
    d.removed_fields = gone_fields.iter().map(|f| f.name.clone()).collect();
    summary.extend(new_fields.iter().map(|f| format!("Now also uses your {}.", describe_field(f))));
    summary.extend(gone_fields.iter().map(|f| format!("No longer uses your {}.", describe_field(f))));

    d.added_categories = missing_from(&new.categories, &old.categories);
    d.removed_categories = missing_from(&old.categories, &new.categories);
    // A category arriving with a new field is already said; one arriving because an existing
    // field was reclassified is not.
    summary.extend(
        d.added_categories
            .iter()
            .filter(|c| !new_fields.iter().any(|f| f.category == **c))
            .map(|c| format!("Now also covers data of category {c}.")),
    );
    summary.extend(
        d.removed_categories
            .iter()
            .filter(|c| !gone_fields.iter().any(|f| f.category == **c))
            .map(|c| format!("No longer covers data of category {c}.")),
    );

    if old.retention_days != new.retention_days {
        d.retention_days = Some(Transition { from: old.retention_days, to: new.retention_days });
        summary.push(format!("Data is now kept for {} days instead of {}.", new.retention_days, old.retention_days));
    }
    let mut field_kept_longer = false;
    for field in &new.fields {
        let Some(before) = old.field(&field.name) else {
            continue;
        };
        if before.retention_days == field.retention_days {
            continue;
        }
        field_kept_longer |= field.retention_days > before.retention_days;
        // A field that simply follows its purpose's retention is covered by the sentence above.
        let follows_purpose = before.retention_days == old.retention_days && field.retention_days == new.retention_days;
        if !follows_purpose {
            summary.push(format!(
                "Your {} is now kept for {} days instead of {}.",
                describe_field(field),
                field.retention_days,
                before.retention_days
            ));
        }
    }

    d.added_processors = missing_from(&new.processors, &old.processors);
    d.removed_processors = missing_from(&old.processors, &new.processors);
    summary.extend(d.added_processors.iter().map(|p| format!("Now also shared with {}.", processor_name(to, p))));
    summary.extend(d.removed_processors.iter().map(|p| format!("No longer shared with {}.", processor_name(from, p))));

    d.text_changed = old.title != new.title || old.description != new.description;
    if d.text_changed {
        summary.push("The title or description was reworded.".to_owned());
    }
    if old.gpc_opt_out != new.gpc_opt_out {
        summary.push(if new.gpc_opt_out {
            "A Global Privacy Control signal now counts as a refusal.".to_owned()
        } else {
            "A Global Privacy Control signal no longer counts as a refusal.".to_owned()
        });
    }
    if old.recommendations != new.recommendations {
        summary.push(if new.recommendations {
            "Now used for personalized recommendations.".to_owned()
        } else {
            "No longer used for personalized recommendations.".to_owned()
        });
    }
    for benefit in &new.benefits {
        if !old.benefits.iter().any(|b| b.id == benefit.id) {
            summary.push(format!("New benefit: {}.", sentence(&benefit.title.default)));
        }
    }
    for benefit in &old.benefits {
        if !new.benefits.iter().any(|b| b.id == benefit.id) {
            summary.push(format!("Benefit no longer offered: {}.", sentence(&benefit.title.default)));
        }
    }
    if summary.is_empty() {
        summary.push("Details of the data used were updated.".to_owned());
    }

    let retention_longer = new.retention_days > old.retention_days || field_kept_longer;
    d.material = d.legal_basis.is_some()
        || !d.added_fields.is_empty()
        || !d.added_categories.is_empty()
        || retention_longer
        || !d.added_processors.is_empty();
    d.summary = summary;
    d
}

fn names(fields: &[NoticeField]) -> Vec<String> {
    fields.iter().map(|f| f.name.clone()).collect()
}

/// Entries of `list` that `other` lacks, in `list`'s order.
fn missing_from(list: &[String], other: &[String]) -> Vec<String> {
    list.iter().filter(|x| !other.contains(x)).cloned().collect()
}

fn describe_field(field: &NoticeField) -> String {
    format!("{} ({})", field.name.replace('_', " "), field.category)
}

fn processor_name(notice: &Notice, id: &str) -> String {
    match notice.processor(id).and_then(|p| p.name.as_deref()) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_owned(),
    }
}

fn basis_phrase(basis: LegalBasis) -> &'static str {
    match basis {
        LegalBasis::Consent => "your consent",
        LegalBasis::Contract => "our contract with you",
        LegalBasis::LegalObligation => "a legal obligation",
        LegalBasis::LegitimateInterest => "our legitimate interest",
    }
}

/// A title inside a sentence, without doubling its final full stop.
fn sentence(title: &str) -> &str {
    title.trim_end_matches('.')
}

#[cfg(test)]
mod tests;
