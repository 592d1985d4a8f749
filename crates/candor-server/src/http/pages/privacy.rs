//! The privacy notice in plain words (`GET /privacy`) and every version with what changed
//! (`GET /privacy/changes`), both generated from the published notices.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use candor_core::catalog::LegalBasis;
use candor_core::notice::{self, Change, Notice, NoticePurpose};

use super::{Chrome, PageContext, PageError, html, lang_param};
use crate::i18n::{self, Lang};
use crate::state::AppState;

/// One datum collected for a purpose.
pub struct FieldView {
    /// Its category in plain words (what people recognise).
    pub category: String,
    /// Its name, whether it identifies the person, and its own retention when that differs
    /// from the purpose's.
    pub note: String,
}

/// One purpose as the notice explains it.
pub struct PurposeView {
    /// Stable id (anchor).
    pub id: String,
    /// Title in the page language.
    pub title: String,
    /// Description in the page language.
    pub description: String,
    /// The legal basis, named.
    pub basis: &'static str,
    /// The legal basis, explained.
    pub basis_text: &'static str,
    /// `consent`, `always` or `objectable`: which badge it gets.
    pub choice: &'static str,
    /// The badge's words.
    pub badge: &'static str,
    /// How long its data is kept, in words.
    pub retention: String,
    /// The data it uses.
    pub fields: Vec<FieldView>,
    /// Who receives it, by name.
    pub recipients: Vec<String>,
    /// Benefits it helps unlock.
    pub benefits: Vec<String>,
    /// Whether a GPC signal counts as "no".
    pub gpc: bool,
}

/// Which badge a purpose gets, by legal basis.
pub fn choice_kind(basis: LegalBasis) -> &'static str {
    match basis {
        LegalBasis::Consent => "consent",
        LegalBasis::Contract | LegalBasis::LegalObligation => "always",
        LegalBasis::LegitimateInterest => "objectable",
    }
}

/// A purpose of `notice` explained in `lang`.
pub fn purpose_view(lang: Lang, notice: &Notice, p: &NoticePurpose) -> PurposeView {
    let (basis, basis_text) = i18n::legal_basis(lang, p.legal_basis);
    let t = lang.ui();
    let choice = choice_kind(p.legal_basis);
    PurposeView {
        id: p.id.clone(),
        title: p.title.get(lang.code()).to_string(),
        description: p.description.get(lang.code()).to_string(),
        basis,
        basis_text,
        choice,
        badge: match choice {
            "consent" => t.badge_consent,
            "objectable" => t.badge_objectable,
            _ => t.always_on,
        },
        retention: i18n::days(lang, p.retention_days),
        fields: p
            .fields
            .iter()
            .map(|f| {
                let mut note = vec![f.name.replace('_', " ")];
                if f.pii {
                    note.push(t.pii_note.to_string());
                }
                if f.retention_days != p.retention_days {
                    note.push(format!("{} {}", t.kept_short, i18n::days(lang, f.retention_days)));
                }
                FieldView { category: i18n::category(lang, &f.category), note: note.join(" · ") }
            })
            .collect(),
        recipients: p
            .processors
            .iter()
            .map(|id| notice.processor(id).and_then(|x| x.name.clone()).unwrap_or_else(|| id.clone()))
            .collect(),
        benefits: p.benefits.iter().map(|b| b.title.get(lang.code()).to_string()).collect(),
        gpc: p.gpc_opt_out,
    }
}

/// A link for the privacy contact: `mailto:` for an address, the URL for a web page, none
/// for anything else (a catalog cannot smuggle a `javascript:` link in).
pub fn contact_href(contact: &str) -> Option<String> {
    let contact = contact.trim();
    if contact.starts_with("https://") || contact.starts_with("http://") {
        Some(contact.to_string())
    } else if contact.contains('@') && !contact.contains(char::is_whitespace) && !contact.contains(':') {
        Some(format!("mailto:{contact}"))
    } else {
        None
    }
}

/// `GET /privacy`.
#[derive(Template)]
#[template(path = "privacy.html")]
pub struct PrivacyPage {
    /// The layout.
    pub chrome: Chrome,
    /// The organization.
    pub org: String,
    /// Its privacy contact.
    pub contact: String,
    /// A link for it.
    pub contact_href: Option<String>,
    /// The notice version.
    pub version: i64,
    /// When it was published.
    pub published: String,
    /// Every purpose.
    pub purposes: Vec<PurposeView>,
    /// How long a consent lasts, in words.
    pub consent_valid: String,
    /// Whether any purpose honours GPC.
    pub any_gpc: bool,
    /// Link to the changes page (keeps `?lang=`).
    pub changes_href: String,
}

/// The current privacy notice, in plain words.
async fn notice_page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, &headers, lang_param(&uri).as_deref());
    let current = ctx.notice(&state)?;
    let notice = &current.notice;
    let lang = ctx.lang;
    let purposes: Vec<PurposeView> = notice.purposes.iter().map(|p| purpose_view(lang, notice, p)).collect();
    Ok(html(&PrivacyPage {
        chrome: ctx.chrome("notice"),
        org: notice.organization.name.clone(),
        contact: notice.organization.contact.clone(),
        contact_href: contact_href(&notice.organization.contact),
        version: current.version,
        published: i18n::date(lang, current.published_at),
        any_gpc: purposes.iter().any(|p| p.gpc),
        purposes,
        consent_valid: i18n::days(lang, notice.organization.consent_valid_days),
        changes_href: format!("/privacy/changes{}", ctx.lang_query(true)),
    }))
}

/// One purpose's change in one version.
pub struct ChangeView {
    /// The purpose's title (from the newer notice, or the older for a removed one).
    pub title: String,
    /// Whether the change is material.
    pub material: bool,
    /// Whether it needs the person's consent again (a material change to a consent purpose).
    pub reconsent: bool,
    /// What changed, in sentences.
    pub sentences: Vec<String>,
}

/// One published version.
pub struct VersionView {
    /// Its number.
    pub version: i64,
    /// When it was published.
    pub published: String,
    /// Whether it is the current one.
    pub current: bool,
    /// Whether it is the first.
    pub first: bool,
    /// Whether the organization's details changed.
    pub organization_changed: bool,
    /// Its changed purposes.
    pub changes: Vec<ChangeView>,
}

/// `GET /privacy/changes`.
#[derive(Template)]
#[template(path = "changes.html")]
pub struct ChangesPage {
    /// The layout.
    pub chrome: Chrome,
    /// Every version, newest first.
    pub versions: Vec<VersionView>,
    /// Link to the notice (keeps `?lang=`).
    pub notice_href: String,
}

/// What changed in `to` against `from`, purpose by purpose, in `lang`.
pub fn changes(lang: Lang, from: &Notice, to: &Notice) -> Vec<ChangeView> {
    notice::diff(from, to)
        .purposes
        .iter()
        .filter(|d| d.change != Change::Unchanged)
        .map(|d| {
            let title = to.purpose(&d.purpose).or_else(|| from.purpose(&d.purpose)).map(|p| p.title.get(lang.code()));
            ChangeView {
                title: title.unwrap_or(&d.purpose).to_string(),
                material: d.material,
                reconsent: d.material && to.purpose(&d.purpose).is_some_and(|p| p.legal_basis == LegalBasis::Consent),
                sentences: i18n::diff::sentences(lang, d, from, to),
            }
        })
        .collect()
}

/// Every published version of the notice, newest first, with what changed.
async fn changes_page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, &headers, lang_param(&uri).as_deref());
    let stored = state.store().notices().await.map_err(|e| ctx.failed(e.into()))?;
    let mut notices = Vec::with_capacity(stored.len());
    for v in &stored {
        let parsed: Notice = serde_json::from_str(&v.notice_json)
            .map_err(|e| ctx.failed(crate::error::ApiError::internal(format!("notice {}: {e}", v.version))))?;
        notices.push((v.version, v.published_at, parsed));
    }
    let latest = notices.last().map(|(v, _, _)| *v);
    let lang = ctx.lang;
    let mut versions: Vec<VersionView> = notices
        .iter()
        .enumerate()
        .map(|(i, (version, published_at, notice))| {
            let previous = i.checked_sub(1).map(|j| &notices[j].2);
            VersionView {
                version: *version,
                published: i18n::date(lang, *published_at),
                current: Some(*version) == latest,
                first: previous.is_none(),
                organization_changed: previous.is_some_and(|p| p.organization != notice.organization),
                changes: previous.map(|p| changes(lang, p, notice)).unwrap_or_default(),
            }
        })
        .collect();
    versions.reverse();
    Ok(html(&ChangesPage {
        chrome: ctx.chrome("changes"),
        versions,
        notice_href: format!("/privacy{}", ctx.lang_query(true)),
    }))
}

/// Routes of the notice pages.
pub fn router() -> Router<AppState> {
    Router::new().route("/privacy", get(notice_page)).route("/privacy/changes", get(changes_page))
}
