//! The words of the pages, in English and German. Catalog texts carry their own
//! translations (`Text::get`); everything the pages say themselves is here, in one table
//! per language, plus the sentences that are built from numbers and names.

use candor_core::catalog::{BenefitKind, LegalBasis};
use candor_core::consent::ConsentState;
use time::OffsetDateTime;

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English, the default.
    En,
    /// German.
    De,
}

impl Lang {
    /// Every language, in the order the switcher lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::De];

    /// The BCP 47 code (`<html lang>`, `?lang=`, `Text::get`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The language's own name, for the switcher.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::De => "Deutsch",
        }
    }

    /// A language tag (`de`, `de-AT`, `EN_us`) if we speak its primary language.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Lang::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// The page language: `?lang=` if it names one we speak, else the best of
    /// `Accept-Language` by quality (ties go to the earlier entry), else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        query.and_then(Lang::parse).or_else(|| accept_language.and_then(best_accepted)).unwrap_or(Lang::En)
    }

    /// The words of this language.
    pub fn ui(self) -> &'static Ui {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }
}

/// The highest-quality language of an `Accept-Language` header that we speak. Entries with
/// `q=0` are refusals; a malformed quality counts as 0.
fn best_accepted(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for entry in header.split(',') {
        let mut parts = entry.split(';');
        let Some(lang) = parts.next().and_then(Lang::parse) else { continue };
        let mut q = 1.0f32;
        for param in parts {
            if let Some(value) = param.trim().strip_prefix("q=").or_else(|| param.trim().strip_prefix("Q=")) {
                q = value.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)).unwrap_or(0.0);
            }
        }
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

/// Every fixed string the pages show.
pub struct Ui {
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_notice: &'static str,
    pub nav_changes: &'static str,
    pub language: &'static str,
    pub footer_made_with: &'static str,

    pub privacy_title: &'static str,
    pub privacy_intro: &'static str,
    pub version_label: &'static str,
    pub published_label: &'static str,
    pub controller_heading: &'static str,
    pub controller_text: &'static str,
    pub contact_label: &'static str,
    pub purposes_heading: &'static str,
    pub purposes_intro: &'static str,
    pub what_label: &'static str,
    pub why_label: &'static str,
    pub kept_label: &'static str,
    pub data_label: &'static str,
    pub no_personal_data: &'static str,
    pub recipients_label: &'static str,
    pub no_recipients: &'static str,
    pub benefits_label: &'static str,
    pub gpc_note: &'static str,
    pub pii_note: &'static str,
    pub kept_short: &'static str,
    pub badge_consent: &'static str,
    pub badge_objectable: &'static str,
    pub eyebrow_notice: &'static str,
    pub eyebrow_panel: &'static str,
    pub switch_on: &'static str,
    pub switch_off: &'static str,
    pub data_short: &'static str,
    pub recipients_short: &'static str,
    pub choices_heading: &'static str,
    pub choices_text: &'static str,
    pub choices_panel: &'static str,
    pub choices_gpc: &'static str,
    pub rights_heading: &'static str,
    pub rights_text: &'static str,
    pub changes_link: &'static str,
    pub consent_valid_text: &'static str,

    pub changes_title: &'static str,
    pub changes_intro: &'static str,
    pub version_heading: &'static str,
    pub first_version: &'static str,
    pub no_purpose_changes: &'static str,
    pub material_badge: &'static str,
    pub material_explained: &'static str,
    pub minor_badge: &'static str,
    pub organization_changed: &'static str,
    pub current_badge: &'static str,

    pub me_title: &'static str,
    pub me_intro: &'static str,
    pub saved: &'static str,
    pub receipt_label: &'static str,
    pub unchanged: &'static str,
    pub stale: &'static str,
    pub choices_section: &'static str,
    pub choices_section_intro: &'static str,
    pub always_on: &'static str,
    pub always_on_explained: &'static str,
    pub objectable_explained: &'static str,
    pub consent_explained: &'static str,
    pub save_choices: &'static str,
    pub reconsent_heading: &'static str,
    pub reconsent_intro: &'static str,
    pub reconsent_expired: &'static str,
    pub agree: &'static str,
    pub disagree: &'static str,
    pub benefits_heading: &'static str,
    pub benefits_intro: &'static str,
    pub benefit_unlocked: &'static str,
    pub benefit_locked: &'static str,
    pub benefit_needs: &'static str,
    pub your_code: &'static str,
    pub no_benefits: &'static str,
    pub activity_heading: &'static str,
    pub activity_intro: &'static str,
    pub activity_empty: &'static str,
    pub col_when: &'static str,
    pub col_what: &'static str,
    pub col_where: &'static str,
    pub col_version: &'static str,
    pub read_by_key: &'static str,
    pub read_by_admin: &'static str,
    pub data_heading: &'static str,
    pub data_intro: &'static str,
    pub data_empty: &'static str,
    pub data_value: &'static str,
    pub data_kept: &'static str,
    pub data_saved_on: &'static str,
    pub data_events: &'static str,
    pub data_newest: &'static str,
    pub data_used_for: &'static str,
    pub data_undeclared: &'static str,
    pub data_undeclared_note: &'static str,
    pub download_heading: &'static str,
    pub download_intro: &'static str,
    pub download_json: &'static str,
    pub download_csv: &'static str,
    pub download_note: &'static str,
    pub delete_heading: &'static str,
    pub delete_intro: &'static str,
    pub delete_start: &'static str,
    pub delete_title: &'static str,
    pub delete_lead: &'static str,
    pub delete_what_heading: &'static str,
    pub delete_session_item: &'static str,
    pub delete_keep_heading: &'static str,
    pub delete_keep: &'static str,
    pub delete_shop_note: &'static str,
    pub delete_download_first: &'static str,
    pub delete_confirm: &'static str,
    pub delete_cancel: &'static str,
    pub erased_title: &'static str,
    pub erased_text: &'static str,
    pub certificate_label: &'static str,
    pub certificate_note: &'static str,
    pub sign_out: &'static str,
    pub session_note: &'static str,
    pub signed_out_title: &'static str,
    pub signed_out_text: &'static str,

    pub error_link_invalid_title: &'static str,
    pub error_link_invalid: &'static str,
    pub error_link_used_title: &'static str,
    pub error_link_used: &'static str,
    pub error_link_expired_title: &'static str,
    pub error_link_expired: &'static str,
    pub error_no_session_title: &'static str,
    pub error_no_session: &'static str,
    pub error_csrf_title: &'static str,
    pub error_csrf: &'static str,
    pub error_bad_form_title: &'static str,
    pub error_bad_form: &'static str,
    pub error_unavailable_title: &'static str,
    pub error_unavailable: &'static str,
    pub error_internal_title: &'static str,
    pub error_internal: &'static str,
    pub error_help: &'static str,
}

static EN: Ui = Ui {
    skip_to_content: "Skip to content",
    nav_label: "Privacy",
    nav_notice: "Privacy notice",
    nav_changes: "Changes",
    language: "Language",
    footer_made_with: "This notice is generated from the same catalog that decides what is collected.",

    privacy_title: "How we use your data",
    privacy_intro: "This page says, in plain words, which data we collect, why, for how long, who receives it and what you get in return. You decide about everything that needs your consent, and you can change your mind at any time.",
    version_label: "Version",
    published_label: "published",
    controller_heading: "Who is responsible",
    controller_text: "is responsible for your data (the “controller”). For any question about your data or your rights, write to:",
    contact_label: "Privacy contact",
    purposes_heading: "What we use your data for",
    purposes_intro: "Each purpose below is one choice. Purposes that need your consent stay off until you switch them on.",
    what_label: "What we do",
    why_label: "Why we may do it",
    kept_label: "How long we keep the data",
    data_label: "Which data",
    no_personal_data: "No data about you is collected for this purpose.",
    recipients_label: "Who receives it",
    no_recipients: "Nobody outside our company.",
    benefits_label: "What you get in return",
    gpc_note: "If your browser sends a Global Privacy Control signal, we treat it as a “no” for this purpose.",
    pii_note: "identifies you",
    kept_short: "kept for",
    badge_consent: "Only with your consent",
    badge_objectable: "On unless you object",
    eyebrow_notice: "Privacy notice",
    eyebrow_panel: "Privacy control panel",
    switch_on: "On",
    switch_off: "Off",
    data_short: "Data",
    recipients_short: "Shared with",
    choices_heading: "How to change your choices",
    choices_text: "You can say yes or no to each purpose that needs your consent, and change your mind at any time: use the privacy settings on our website (the cookie banner’s “Choose” button), or open your privacy control panel from your account. Withdrawing is as easy as agreeing, and takes effect at once.",
    choices_panel: "In your control panel you also see what changed since you last agreed, the benefits you unlocked and every change you made.",
    choices_gpc: "We honour the Global Privacy Control signal of your browser where stated above.",
    rights_heading: "Your rights",
    rights_text: "You may ask us what data we hold about you, receive a copy, have it corrected or erased, restrict or object to its use, and complain to a data protection authority. Write to the privacy contact above; we answer within 30 days.",
    changes_link: "See every version of this notice and what changed",
    consent_valid_text: "We ask again for your consent when what a purpose does changes in a way that matters to you, and at the latest after",

    changes_title: "What changed in this notice",
    changes_intro: "Every published version of this notice, newest first, with what changed for each purpose. A change that matters to you — new data, longer storage, a new recipient or a new legal basis — is marked, and we ask for your consent again before it applies.",
    version_heading: "Version",
    first_version: "First published version of this notice.",
    no_purpose_changes: "No purpose changed in this version.",
    material_badge: "Important change",
    material_explained: "This change needs your consent again before it applies to you.",
    minor_badge: "Minor change",
    organization_changed: "Our company details or privacy contact changed.",
    current_badge: "current",

    me_title: "Your privacy choices",
    me_intro: "Here you see and change what you agreed to, what changed since, the benefits you unlocked and the history of your choices.",
    saved: "Your choices were saved.",
    receipt_label: "Receipt",
    unchanged: "Nothing changed: your choices are as they were.",
    stale: "Our privacy notice changed while this page was open. Please review your choices below and save again.",
    choices_section: "Your choices",
    choices_section_intro: "Switch each purpose on or off, then save. Nothing that needs your consent is on unless you switched it on.",
    always_on: "Always on",
    always_on_explained: "Needed to provide what you asked us for; it cannot be switched off.",
    objectable_explained: "On by default because we have a legitimate interest; switch it off to object.",
    consent_explained: "Only with your consent; you can withdraw it at any time.",
    save_choices: "Save my choices",
    reconsent_heading: "What changed since you last agreed",
    reconsent_intro: "We changed how we use your data for the purposes below. Until you agree again, we only use what you agreed to before.",
    reconsent_expired: "You agreed to this some time ago. Please confirm whether you still agree.",
    agree: "I agree",
    disagree: "I do not agree",
    benefits_heading: "Your benefits",
    benefits_intro: "What you get in return for sharing data with us.",
    benefit_unlocked: "Unlocked",
    benefit_locked: "Not unlocked",
    benefit_needs: "Switch on to unlock:",
    your_code: "Your code",
    no_benefits: "We currently offer no benefits.",
    activity_heading: "Your activity",
    activity_intro: "Every choice you made and every time your data was read, newest first.",
    activity_empty: "Nothing yet: you have made no choice and nobody has read your data.",
    col_when: "When",
    col_what: "What happened",
    col_where: "Where and how",
    col_version: "Version",
    read_by_key: "The shop’s systems, with an API key",
    read_by_admin: "Our staff, in the administration console",
    data_heading: "Data we hold about you",
    data_intro: "Everything we store about you, by kind of data: the values, what we use them for and how long we keep them. Values are stored encrypted.",
    data_empty: "We hold no data about you apart from your choices.",
    data_value: "Value",
    data_kept: "Kept for",
    data_saved_on: "saved on",
    data_events: "Events",
    data_newest: "newest first",
    data_used_for: "Used for",
    data_undeclared: "Data our notice no longer describes",
    data_undeclared_note: "We no longer collect this and delete it at the next clean-up.",
    download_heading: "Download my data",
    download_intro: "Get a copy of everything we hold about you: your data, your choices with their receipts, your benefits and every time your data was read.",
    download_json: "Download as JSON",
    download_csv: "Download as CSV (zip)",
    download_note: "JSON suits other apps and services; the zip holds one spreadsheet file per kind of data. Each download is recorded as a request for access to your data.",
    delete_heading: "Delete my data",
    delete_intro: "You can have everything we hold about you deleted. The next page shows what will be deleted and asks you to confirm.",
    delete_start: "Delete my data…",
    delete_title: "Delete all your data?",
    delete_lead: "If you confirm, we delete everything listed below at once. This cannot be undone.",
    delete_what_heading: "What will be deleted",
    delete_session_item: "This control panel session: you will be signed out.",
    delete_keep_heading: "What we keep",
    delete_keep: "A certificate that the deletion happened: its number, the time and how many items were deleted. It holds none of the data listed above.",
    delete_shop_note: "Your customer account at the shop is separate and stays open. To close it, write to",
    delete_download_first: "You may want to download a copy of your data first.",
    delete_confirm: "Yes, delete all my data",
    delete_cancel: "No, keep my data",
    erased_title: "Your data was deleted",
    erased_text: "We deleted everything we held about you and signed you out. Your choices, your data and your benefits are gone; if you visit the shop again, we will ask you afresh.",
    certificate_label: "Deletion certificate",
    certificate_note: "Keep this number: it proves the deletion if you ever ask us about it.",
    sign_out: "Sign out",
    session_note: "For your security this page signs you out automatically after an hour.",
    signed_out_title: "You are signed out",
    signed_out_text: "Your privacy control panel is closed. To open it again, use the link in your account at the shop.",

    error_link_invalid_title: "This link is not valid",
    error_link_invalid: "We could not recognise this link. Open your privacy control panel again from your account at the shop.",
    error_link_used_title: "This link was already used",
    error_link_used: "For your security each link opens your privacy control panel only once. Open the panel again from your account at the shop to get a new link.",
    error_link_expired_title: "This link has expired",
    error_link_expired: "For your security links to your privacy control panel work for a short time only. Open the panel again from your account at the shop to get a new link.",
    error_no_session_title: "You are not signed in",
    error_no_session: "Your session has ended or was never opened. Open your privacy control panel from your account at the shop.",
    error_csrf_title: "This form could not be verified",
    error_csrf: "For your security nothing was changed. Go back to your privacy control panel, reload it and try again.",
    error_bad_form_title: "This form could not be read",
    error_bad_form: "Nothing was changed. Go back to your privacy control panel and try again.",
    error_unavailable_title: "Please try again in a moment",
    error_unavailable: "We cannot reach our records right now. Nothing was changed.",
    error_internal_title: "Something went wrong",
    error_internal: "An error occurred on our side and was logged. Nothing was changed.",
    error_help: "Questions about your data? Write to",
};

static DE: Ui = Ui {
    skip_to_content: "Zum Inhalt springen",
    nav_label: "Datenschutz",
    nav_notice: "Datenschutzhinweise",
    nav_changes: "Änderungen",
    language: "Sprache",
    footer_made_with: "Diese Hinweise entstehen aus demselben Katalog, der festlegt, was erhoben wird.",

    privacy_title: "Wie wir Ihre Daten nutzen",
    privacy_intro: "Diese Seite sagt in einfachen Worten, welche Daten wir erheben, wozu, wie lange, wer sie erhält und was Sie dafür bekommen. Über alles, was Ihre Einwilligung braucht, entscheiden Sie – und Sie können Ihre Meinung jederzeit ändern.",
    version_label: "Version",
    published_label: "veröffentlicht am",
    controller_heading: "Wer verantwortlich ist",
    controller_text: "ist für Ihre Daten verantwortlich (der „Verantwortliche“). Bei Fragen zu Ihren Daten oder Ihren Rechten schreiben Sie an:",
    contact_label: "Datenschutzkontakt",
    purposes_heading: "Wofür wir Ihre Daten nutzen",
    purposes_intro: "Jeder Zweck unten ist eine eigene Entscheidung. Zwecke, die Ihre Einwilligung brauchen, bleiben aus, bis Sie sie einschalten.",
    what_label: "Was wir tun",
    why_label: "Warum wir es dürfen",
    kept_label: "Wie lange wir die Daten speichern",
    data_label: "Welche Daten",
    no_personal_data: "Für diesen Zweck werden keine Daten über Sie erhoben.",
    recipients_label: "Wer sie erhält",
    no_recipients: "Niemand außerhalb unseres Unternehmens.",
    benefits_label: "Was Sie dafür bekommen",
    gpc_note: "Sendet Ihr Browser ein Global-Privacy-Control-Signal, werten wir es für diesen Zweck als „Nein“.",
    pii_note: "identifiziert Sie",
    kept_short: "gespeichert für",
    badge_consent: "Nur mit Ihrer Einwilligung",
    badge_objectable: "Aktiv, außer Sie widersprechen",
    eyebrow_notice: "Datenschutzhinweise",
    eyebrow_panel: "Datenschutz-Bereich",
    switch_on: "An",
    switch_off: "Aus",
    data_short: "Daten",
    recipients_short: "Weitergegeben an",
    choices_heading: "So ändern Sie Ihre Entscheidungen",
    choices_text: "Sie können zu jedem Zweck, der Ihre Einwilligung braucht, Ja oder Nein sagen und Ihre Meinung jederzeit ändern: über die Datenschutzeinstellungen auf unserer Website (Schaltfläche „Auswählen“ im Cookie-Banner) oder in Ihrem Datenschutz-Bereich, den Sie aus Ihrem Kundenkonto öffnen. Widerrufen ist so einfach wie Zustimmen und wirkt sofort.",
    choices_panel: "In Ihrem Datenschutz-Bereich sehen Sie außerdem, was sich seit Ihrer letzten Zustimmung geändert hat, welche Vorteile Sie freigeschaltet haben und jede Ihrer Änderungen.",
    choices_gpc: "Wo oben angegeben, beachten wir das Global-Privacy-Control-Signal Ihres Browsers.",
    rights_heading: "Ihre Rechte",
    rights_text: "Sie können Auskunft über Ihre gespeicherten Daten verlangen, eine Kopie erhalten, sie berichtigen oder löschen lassen, ihre Nutzung einschränken oder ihr widersprechen und sich bei einer Datenschutzaufsichtsbehörde beschweren. Schreiben Sie an den Datenschutzkontakt oben; wir antworten innerhalb von 30 Tagen.",
    changes_link: "Alle Versionen dieser Hinweise und was sich geändert hat",
    consent_valid_text: "Wir fragen erneut nach Ihrer Einwilligung, wenn sich ein Zweck auf eine für Sie wichtige Weise ändert, spätestens aber nach",

    changes_title: "Was sich an diesen Hinweisen geändert hat",
    changes_intro: "Jede veröffentlichte Version dieser Hinweise, die neueste zuerst, mit den Änderungen je Zweck. Eine für Sie wichtige Änderung – neue Daten, längere Speicherung, ein neuer Empfänger oder eine neue Rechtsgrundlage – ist markiert, und wir fragen erneut nach Ihrer Einwilligung, bevor sie für Sie gilt.",
    version_heading: "Version",
    first_version: "Erste veröffentlichte Version dieser Hinweise.",
    no_purpose_changes: "In dieser Version hat sich kein Zweck geändert.",
    material_badge: "Wichtige Änderung",
    material_explained: "Diese Änderung braucht erneut Ihre Einwilligung, bevor sie für Sie gilt.",
    minor_badge: "Kleine Änderung",
    organization_changed: "Unsere Unternehmensangaben oder unser Datenschutzkontakt haben sich geändert.",
    current_badge: "aktuell",

    me_title: "Ihre Datenschutz-Einstellungen",
    me_intro: "Hier sehen und ändern Sie, wozu Sie zugestimmt haben, was sich seitdem geändert hat, welche Vorteile Sie freigeschaltet haben und den Verlauf Ihrer Entscheidungen.",
    saved: "Ihre Entscheidungen wurden gespeichert.",
    receipt_label: "Beleg",
    unchanged: "Nichts geändert: Ihre Entscheidungen sind unverändert.",
    stale: "Unsere Datenschutzhinweise haben sich geändert, während diese Seite offen war. Bitte prüfen Sie Ihre Entscheidungen unten und speichern Sie erneut.",
    choices_section: "Ihre Entscheidungen",
    choices_section_intro: "Schalten Sie jeden Zweck ein oder aus und speichern Sie dann. Nichts, was Ihre Einwilligung braucht, ist eingeschaltet, wenn Sie es nicht selbst eingeschaltet haben.",
    always_on: "Immer aktiv",
    always_on_explained: "Nötig, um zu liefern, was Sie bei uns angefragt haben; kann nicht ausgeschaltet werden.",
    objectable_explained: "Standardmäßig aktiv, weil wir ein berechtigtes Interesse haben; schalten Sie es aus, um zu widersprechen.",
    consent_explained: "Nur mit Ihrer Einwilligung; Sie können sie jederzeit widerrufen.",
    save_choices: "Meine Entscheidungen speichern",
    reconsent_heading: "Was sich seit Ihrer letzten Zustimmung geändert hat",
    reconsent_intro: "Wir haben geändert, wie wir Ihre Daten für die folgenden Zwecke nutzen. Bis Sie erneut zustimmen, nutzen wir nur, wozu Sie zuvor zugestimmt haben.",
    reconsent_expired: "Ihre Zustimmung liegt schon einige Zeit zurück. Bitte bestätigen Sie, ob Sie weiterhin zustimmen.",
    agree: "Ich stimme zu",
    disagree: "Ich stimme nicht zu",
    benefits_heading: "Ihre Vorteile",
    benefits_intro: "Was Sie dafür bekommen, dass Sie Daten mit uns teilen.",
    benefit_unlocked: "Freigeschaltet",
    benefit_locked: "Nicht freigeschaltet",
    benefit_needs: "Zum Freischalten einschalten:",
    your_code: "Ihr Code",
    no_benefits: "Derzeit bieten wir keine Vorteile an.",
    activity_heading: "Ihr Verlauf",
    activity_intro: "Jede Ihrer Entscheidungen und jeder Zugriff auf Ihre Daten, die neuesten zuerst.",
    activity_empty: "Noch nichts: Sie haben keine Entscheidung getroffen, und niemand hat Ihre Daten gelesen.",
    col_when: "Wann",
    col_what: "Was geschah",
    col_where: "Wo und wie",
    col_version: "Version",
    read_by_key: "Die Systeme des Shops, mit einem API-Schlüssel",
    read_by_admin: "Unsere Mitarbeitenden, in der Verwaltungskonsole",
    data_heading: "Daten, die wir über Sie speichern",
    data_intro: "Alles, was wir über Sie speichern, nach Art der Daten: die Werte, wofür wir sie nutzen und wie lange wir sie aufbewahren. Die Werte werden verschlüsselt gespeichert.",
    data_empty: "Außer Ihren Entscheidungen speichern wir keine Daten über Sie.",
    data_value: "Wert",
    data_kept: "Speicherdauer",
    data_saved_on: "gespeichert am",
    data_events: "Ereignisse",
    data_newest: "die neuesten zuerst",
    data_used_for: "Genutzt für",
    data_undeclared: "Daten, die unsere Hinweise nicht mehr beschreiben",
    data_undeclared_note: "Wir erheben sie nicht mehr und löschen sie bei der nächsten Bereinigung.",
    download_heading: "Meine Daten herunterladen",
    download_intro: "Erhalten Sie eine Kopie von allem, was wir über Sie speichern: Ihre Daten, Ihre Entscheidungen mit ihren Belegen, Ihre Vorteile und jeden Zugriff auf Ihre Daten.",
    download_json: "Als JSON herunterladen",
    download_csv: "Als CSV herunterladen (ZIP)",
    download_note: "JSON eignet sich für andere Apps und Dienste; das ZIP enthält eine Tabellendatei je Art von Daten. Jeder Download wird als Auskunftsersuchen festgehalten.",
    delete_heading: "Meine Daten löschen",
    delete_intro: "Sie können alles löschen lassen, was wir über Sie speichern. Die nächste Seite zeigt, was gelöscht wird, und bittet Sie um Bestätigung.",
    delete_start: "Meine Daten löschen …",
    delete_title: "Alle Ihre Daten löschen?",
    delete_lead: "Wenn Sie bestätigen, löschen wir sofort alles, was unten aufgeführt ist. Das lässt sich nicht rückgängig machen.",
    delete_what_heading: "Was gelöscht wird",
    delete_session_item: "Diese Sitzung im Datenschutz-Bereich: Sie werden abgemeldet.",
    delete_keep_heading: "Was wir behalten",
    delete_keep: "Eine Bestätigung, dass gelöscht wurde: ihre Nummer, die Uhrzeit und wie viele Einträge gelöscht wurden. Sie enthält keine der oben aufgeführten Daten.",
    delete_shop_note: "Ihr Kundenkonto im Shop ist davon getrennt und bleibt bestehen. Um es zu schließen, schreiben Sie an",
    delete_download_first: "Vielleicht möchten Sie vorher eine Kopie Ihrer Daten herunterladen.",
    delete_confirm: "Ja, alle meine Daten löschen",
    delete_cancel: "Nein, meine Daten behalten",
    erased_title: "Ihre Daten wurden gelöscht",
    erased_text: "Wir haben alles gelöscht, was wir über Sie gespeichert hatten, und Sie abgemeldet. Ihre Entscheidungen, Ihre Daten und Ihre Vorteile sind entfernt; wenn Sie den Shop wieder besuchen, fragen wir Sie neu.",
    certificate_label: "Löschbestätigung",
    certificate_note: "Bewahren Sie diese Nummer auf: Sie belegt die Löschung, falls Sie uns je danach fragen.",
    sign_out: "Abmelden",
    session_note: "Zu Ihrer Sicherheit meldet Sie diese Seite nach einer Stunde automatisch ab.",
    signed_out_title: "Sie sind abgemeldet",
    signed_out_text: "Ihr Datenschutz-Bereich ist geschlossen. Um ihn wieder zu öffnen, nutzen Sie den Link in Ihrem Kundenkonto im Shop.",

    error_link_invalid_title: "Dieser Link ist ungültig",
    error_link_invalid: "Wir konnten diesen Link nicht erkennen. Öffnen Sie Ihren Datenschutz-Bereich erneut aus Ihrem Kundenkonto im Shop.",
    error_link_used_title: "Dieser Link wurde bereits verwendet",
    error_link_used: "Zu Ihrer Sicherheit öffnet jeder Link Ihren Datenschutz-Bereich nur einmal. Öffnen Sie den Bereich erneut aus Ihrem Kundenkonto im Shop, um einen neuen Link zu erhalten.",
    error_link_expired_title: "Dieser Link ist abgelaufen",
    error_link_expired: "Zu Ihrer Sicherheit gelten Links zu Ihrem Datenschutz-Bereich nur kurz. Öffnen Sie den Bereich erneut aus Ihrem Kundenkonto im Shop, um einen neuen Link zu erhalten.",
    error_no_session_title: "Sie sind nicht angemeldet",
    error_no_session: "Ihre Sitzung ist abgelaufen oder wurde nie geöffnet. Öffnen Sie Ihren Datenschutz-Bereich aus Ihrem Kundenkonto im Shop.",
    error_csrf_title: "Dieses Formular konnte nicht geprüft werden",
    error_csrf: "Zu Ihrer Sicherheit wurde nichts geändert. Gehen Sie zurück zu Ihrem Datenschutz-Bereich, laden Sie ihn neu und versuchen Sie es noch einmal.",
    error_bad_form_title: "Dieses Formular konnte nicht gelesen werden",
    error_bad_form: "Es wurde nichts geändert. Gehen Sie zurück zu Ihrem Datenschutz-Bereich und versuchen Sie es noch einmal.",
    error_unavailable_title: "Bitte versuchen Sie es gleich noch einmal",
    error_unavailable: "Wir erreichen unsere Unterlagen gerade nicht. Es wurde nichts geändert.",
    error_internal_title: "Etwas ist schiefgegangen",
    error_internal: "Bei uns ist ein Fehler aufgetreten; er wurde protokolliert. Es wurde nichts geändert.",
    error_help: "Fragen zu Ihren Daten? Schreiben Sie an",
};

/// The legal basis in plain words: what it is, and what it means for the person's choice.
pub fn legal_basis(lang: Lang, basis: LegalBasis) -> (&'static str, &'static str) {
    match (lang, basis) {
        (Lang::En, LegalBasis::Consent) => (
            "Your consent",
            "We do this only if you say yes. It is off until you switch it on, and you can withdraw your consent at any time; withdrawing does not affect what was done before.",
        ),
        (Lang::En, LegalBasis::Contract) => (
            "Our contract with you",
            "We need this to provide what you asked us for, such as your account, orders and deliveries. It is always on while you use our services.",
        ),
        (Lang::En, LegalBasis::LegalObligation) => {
            ("A legal obligation", "The law requires us to do this, for example to keep invoices. It is always on.")
        }
        (Lang::En, LegalBasis::LegitimateInterest) => (
            "Our legitimate interest",
            "We do this because it serves a reasonable interest of ours that does not outweigh yours. It is on by default, and you can object at any time.",
        ),
        (Lang::De, LegalBasis::Consent) => (
            "Ihre Einwilligung",
            "Wir tun dies nur, wenn Sie Ja sagen. Es ist aus, bis Sie es einschalten, und Sie können Ihre Einwilligung jederzeit widerrufen; der Widerruf berührt nicht, was vorher geschah.",
        ),
        (Lang::De, LegalBasis::Contract) => (
            "Unser Vertrag mit Ihnen",
            "Wir brauchen dies, um zu liefern, was Sie bei uns angefragt haben, etwa Ihr Kundenkonto, Bestellungen und Lieferungen. Es ist immer aktiv, solange Sie unsere Dienste nutzen.",
        ),
        (Lang::De, LegalBasis::LegalObligation) => (
            "Eine rechtliche Verpflichtung",
            "Das Gesetz verlangt dies von uns, zum Beispiel die Aufbewahrung von Rechnungen. Es ist immer aktiv.",
        ),
        (Lang::De, LegalBasis::LegitimateInterest) => (
            "Unser berechtigtes Interesse",
            "Wir tun dies, weil es einem vernünftigen Interesse von uns dient, das Ihres nicht überwiegt. Es ist standardmäßig aktiv, und Sie können jederzeit widersprechen.",
        ),
    }
}

/// The legal basis inside a sentence ("based on …").
fn basis_phrase(lang: Lang, basis: LegalBasis) -> &'static str {
    match (lang, basis) {
        (Lang::En, LegalBasis::Consent) => "your consent",
        (Lang::En, LegalBasis::Contract) => "our contract with you",
        (Lang::En, LegalBasis::LegalObligation) => "a legal obligation",
        (Lang::En, LegalBasis::LegitimateInterest) => "our legitimate interest",
        (Lang::De, LegalBasis::Consent) => "Ihrer Einwilligung",
        (Lang::De, LegalBasis::Contract) => "unseres Vertrags mit Ihnen",
        (Lang::De, LegalBasis::LegalObligation) => "einer rechtlichen Verpflichtung",
        (Lang::De, LegalBasis::LegitimateInterest) => "unseres berechtigten Interesses",
    }
}

/// A ledger state as the person reads it.
pub fn consent_state(lang: Lang, state: ConsentState) -> &'static str {
    match (lang, state) {
        (Lang::En, ConsentState::Granted) => "Agreed",
        (Lang::En, ConsentState::Denied) => "Declined",
        (Lang::En, ConsentState::Withdrawn) => "Withdrawn",
        (Lang::En, ConsentState::Objected) => "Objected",
        (Lang::De, ConsentState::Granted) => "Zugestimmt",
        (Lang::De, ConsentState::Denied) => "Abgelehnt",
        (Lang::De, ConsentState::Withdrawn) => "Widerrufen",
        (Lang::De, ConsentState::Objected) => "Widersprochen",
    }
}

/// Where a choice was made (`widget`, `panel`, `api`, `import`).
pub fn source(lang: Lang, source: &str) -> String {
    let word = match (lang, source) {
        (Lang::En, "widget") => "Privacy banner on the website",
        (Lang::En, "panel") => "This control panel",
        (Lang::En, "api") => "Through the shop",
        (Lang::En, "import") => "Imported from earlier records",
        (Lang::De, "widget") => "Datenschutz-Banner der Website",
        (Lang::De, "panel") => "Dieser Datenschutz-Bereich",
        (Lang::De, "api") => "Über den Shop",
        (Lang::De, "import") => "Aus früheren Unterlagen übernommen",
        _ => return source.to_string(),
    };
    word.to_string()
}

/// How a choice was expressed (`checkbox`, `gpc`, `api`).
pub fn method(lang: Lang, method: &str) -> String {
    let word = match (lang, method) {
        (Lang::En, "checkbox") => "you set a switch or box",
        (Lang::En, "gpc") => "your browser’s Global Privacy Control signal",
        (Lang::En, "api") => "sent by the shop’s systems",
        (Lang::De, "checkbox") => "Sie haben einen Schalter gesetzt",
        (Lang::De, "gpc") => "Global-Privacy-Control-Signal Ihres Browsers",
        (Lang::De, "api") => "von den Systemen des Shops übermittelt",
        _ => return method.to_string(),
    };
    word.to_string()
}

/// What kind of benefit it is.
pub fn benefit_kind(lang: Lang, kind: BenefitKind) -> &'static str {
    match (lang, kind) {
        (Lang::En, BenefitKind::Discount) => "Discount",
        (Lang::En, BenefitKind::Content) => "Content",
        (Lang::En, BenefitKind::Feature) => "Feature",
        (Lang::De, BenefitKind::Discount) => "Rabatt",
        (Lang::De, BenefitKind::Content) => "Inhalte",
        (Lang::De, BenefitKind::Feature) => "Funktion",
    }
}

/// A data category in plain words, when it is a common one; else the category as written.
pub fn category(lang: Lang, category: &str) -> String {
    let word = match (lang, category) {
        (Lang::En, "contact.email") => "email address",
        (Lang::En, "contact.phone") => "phone number",
        (Lang::En, "contact.address") => "postal address",
        (Lang::En, "identity.name") => "name",
        (Lang::En, "behavior.browsing") => "pages and products you view",
        (Lang::En, "behavior.purchases") => "what you buy",
        (Lang::En, "location.coarse") => "approximate location",
        (Lang::En, "location.precise") => "precise location",
        (Lang::En, "device.id") => "device identifier",
        (Lang::De, "contact.email") => "E-Mail-Adresse",
        (Lang::De, "contact.phone") => "Telefonnummer",
        (Lang::De, "contact.address") => "Postanschrift",
        (Lang::De, "identity.name") => "Name",
        (Lang::De, "behavior.browsing") => "Seiten und Produkte, die Sie ansehen",
        (Lang::De, "behavior.purchases") => "was Sie kaufen",
        (Lang::De, "location.coarse") => "ungefährer Standort",
        (Lang::De, "location.precise") => "genauer Standort",
        (Lang::De, "device.id") => "Gerätekennung",
        _ => match category.strip_prefix("special.") {
            Some(rest) => {
                return match lang {
                    Lang::En => format!("{rest} (sensitive data)"),
                    Lang::De => format!("{rest} (besonders schützenswerte Daten)"),
                };
            }
            None => return category.to_string(),
        },
    };
    word.to_string()
}

/// Who read a person's data, as logged (`key:<id>` or an admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// An API key of the shop.
    Key,
    /// Someone in the administration console.
    Admin,
}

/// A logged read in plain words: "An API key read your data for Recommendations for you:
/// product_id." A read that returned no field (no current basis) says so.
pub fn data_read(lang: Lang, reader: Reader, purpose: &str, fields: &[&str]) -> String {
    let list = fields.join(", ");
    match (lang, reader, fields.is_empty()) {
        (Lang::En, Reader::Key, false) => format!("An API key read your data for {purpose}: {list}."),
        (Lang::En, Reader::Admin, false) => format!("An administrator read your data for {purpose}: {list}."),
        (Lang::En, Reader::Key, true) => {
            format!(
                "An API key asked for your data for {purpose}; nothing was returned, as none of it may be used for that now."
            )
        }
        (Lang::En, Reader::Admin, true) => format!(
            "An administrator asked for your data for {purpose}; nothing was returned, as none of it may be used for that now."
        ),
        (Lang::De, Reader::Key, false) => format!("Ein API-Schlüssel hat Ihre Daten für „{purpose}“ gelesen: {list}."),
        (Lang::De, Reader::Admin, false) => {
            format!("Ein Administrator hat Ihre Daten für „{purpose}“ gelesen: {list}.")
        }
        (Lang::De, Reader::Key, true) => format!(
            "Ein API-Schlüssel hat Ihre Daten für „{purpose}“ angefragt; es wurde nichts herausgegeben, weil derzeit keine davon dafür genutzt werden dürfen."
        ),
        (Lang::De, Reader::Admin, true) => format!(
            "Ein Administrator hat Ihre Daten für „{purpose}“ angefragt; es wurde nichts herausgegeben, weil derzeit keine davon dafür genutzt werden dürfen."
        ),
    }
}

/// How many events hold a field: "Recorded in 3 events".
pub fn recorded_in(lang: Lang, n: i64) -> String {
    match (lang, n) {
        (Lang::En, 1) => "Recorded in 1 event".to_string(),
        (Lang::En, n) => format!("Recorded in {n} events"),
        (Lang::De, 1) => "In 1 Ereignis erfasst".to_string(),
        (Lang::De, n) => format!("In {n} Ereignissen erfasst"),
    }
}

/// What an erasure will delete, counted, one line each (the confirmation step).
pub struct ErasureScope {
    /// Stored values (traits).
    pub traits: usize,
    /// Recorded events.
    pub events: i64,
    /// Kinds of data held, in plain words.
    pub categories: Vec<String>,
    /// Consent ledger rows.
    pub choices: usize,
    /// Whether the catalog offers benefits (codes stop working).
    pub benefits: bool,
    /// Logged reads.
    pub reads: usize,
}

/// The lines of the confirmation step: what goes, counted.
pub fn erasure_lines(lang: Lang, s: &ErasureScope) -> Vec<String> {
    let en = lang == Lang::En;
    let mut out = Vec::new();
    let held = s.traits as i64 + s.events;
    if held > 0 {
        let kinds = s.categories.join(", ");
        out.push(match (en, held) {
            (true, 1) => format!("1 item of data about you ({kinds})."),
            (true, n) => format!("{n} items of data about you ({kinds})."),
            (false, 1) => format!("1 Eintrag mit Daten über Sie ({kinds})."),
            (false, n) => format!("{n} Einträge mit Daten über Sie ({kinds})."),
        });
    }
    if s.choices > 0 {
        out.push(match (en, s.choices) {
            (true, 1) => "Your recorded choice and its receipt.".to_string(),
            (true, n) => format!("Your {n} recorded choices and their receipts."),
            (false, 1) => "Ihre festgehaltene Entscheidung und ihr Beleg.".to_string(),
            (false, n) => format!("Ihre {n} festgehaltenen Entscheidungen und ihre Belege."),
        });
    }
    if s.benefits {
        out.push(if en {
            "Your benefits and discount codes.".to_string()
        } else {
            "Ihre Vorteile und Rabattcodes.".to_string()
        });
    }
    if s.reads > 0 {
        out.push(if en {
            "The record of who read your data.".to_string()
        } else {
            "Die Aufzeichnung, wer Ihre Daten gelesen hat.".to_string()
        });
    }
    out
}

/// Who else is told about an erasure: processors that received some of the data.
pub fn erasure_processors(lang: Lang, names: &[String]) -> String {
    let names = names.join(", ");
    match lang {
        Lang::En => format!("We also tell {names}, who received some of your data, about the deletion."),
        Lang::De => {
            format!("Wir informieren außerdem {names}, die einen Teil Ihrer Daten erhalten haben, über die Löschung.")
        }
    }
}

/// A number of days, with a rounder reading when it helps ("730 days (2 years)").
pub fn days(lang: Lang, n: u32) -> String {
    let plain = match (lang, n) {
        (Lang::En, 1) => "1 day".to_string(),
        (Lang::En, n) => format!("{n} days"),
        (Lang::De, 1) => "1 Tag".to_string(),
        (Lang::De, n) => format!("{n} Tage"),
    };
    let years = n / 365;
    let round = if n >= 365 && n.is_multiple_of(365) {
        Some(match (lang, years) {
            (Lang::En, 1) => "1 year".to_string(),
            (Lang::En, y) => format!("{y} years"),
            (Lang::De, 1) => "1 Jahr".to_string(),
            (Lang::De, y) => format!("{y} Jahre"),
        })
    } else if n >= 60 {
        let months = (n + 15) / 30;
        Some(match lang {
            Lang::En => format!("about {months} months"),
            Lang::De => format!("etwa {months} Monate"),
        })
    } else {
        None
    };
    match round {
        Some(round) => format!("{plain} ({round})"),
        None => plain,
    }
}

/// "kept for N days" as a sentence fragment used in the notice and in diffs.
pub fn kept_for(lang: Lang, n: u32) -> String {
    match lang {
        Lang::En => format!("Kept for {}.", days(lang, n)),
        Lang::De => format!("{} gespeichert.", days(lang, n)),
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_DE: [&str; 12] = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
];

fn datetime(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A date as people write it ("4 May 2026", "4. Mai 2026"), in UTC.
pub fn date(lang: Lang, ms: i64) -> String {
    let t = datetime(ms);
    let month = usize::from(u8::from(t.month())) - 1;
    match lang {
        Lang::En => format!("{} {} {}", t.day(), MONTHS_EN[month], t.year()),
        Lang::De => format!("{}. {} {}", t.day(), MONTHS_DE[month], t.year()),
    }
}

/// A time of day ("14:03 UTC").
pub fn time_of_day(ms: i64) -> String {
    let t = datetime(ms);
    format!("{:02}:{:02} UTC", t.hour(), t.minute())
}

/// Sentences describing one purpose's change between two notices, built from the
/// structured diff (never from its English `summary`).
pub mod diff {
    use candor_core::notice::{Change, Notice, NoticeField, PurposeDiff};

    use super::{Lang, basis_phrase, category, days};

    /// A field as named in a sentence: its name and, in plain words, its category.
    fn field(lang: Lang, f: &NoticeField) -> String {
        format!("{} ({})", f.name.replace('_', " "), category(lang, &f.category))
    }

    fn named_field(lang: Lang, notice: &Notice, purpose: &str, name: &str) -> String {
        match notice.purpose(purpose).and_then(|p| p.field(name)) {
            Some(f) => field(lang, f),
            None => name.replace('_', " "),
        }
    }

    fn processor(notice: &Notice, id: &str) -> String {
        match notice.processor(id).and_then(|p| p.name.as_deref()) {
            Some(name) => name.to_string(),
            None => id.to_string(),
        }
    }

    /// The change of `d.purpose` from `from` to `to`, in `lang`.
    pub fn sentences(lang: Lang, d: &PurposeDiff, from: &Notice, to: &Notice) -> Vec<String> {
        let en = lang == Lang::En;
        let mut out = Vec::new();
        match d.change {
            Change::Unchanged => return out,
            Change::Added => {
                let Some(p) = to.purpose(&d.purpose) else { return out };
                out.push(if en { "A new purpose.".into() } else { "Ein neuer Zweck.".into() });
                out.push(if en {
                    format!("Based on {}.", basis_phrase(lang, p.legal_basis))
                } else {
                    format!("Auf Grundlage {}.", basis_phrase(lang, p.legal_basis))
                });
                for f in &p.fields {
                    out.push(if en {
                        format!("Uses your {}.", field(lang, f))
                    } else {
                        format!("Nutzt: {}.", field(lang, f))
                    });
                }
                out.push(if en {
                    format!("Data is kept for {}.", days(lang, p.retention_days))
                } else {
                    format!("Daten werden {} gespeichert.", days(lang, p.retention_days))
                });
                for id in &p.processors {
                    let name = processor(to, id);
                    out.push(if en { format!("Shared with {name}.") } else { format!("Weitergegeben an {name}.") });
                }
                return out;
            }
            Change::Removed => {
                out.push(if en { "This purpose is no longer used.".into() } else { "Dieser Zweck entfällt.".into() });
                for id in &d.removed_processors {
                    let name = processor(from, id);
                    out.push(if en {
                        format!("No longer shared with {name}.")
                    } else {
                        format!("Nicht mehr weitergegeben an {name}.")
                    });
                }
                return out;
            }
            Change::Changed => {}
        }
        let (Some(old), Some(new)) = (from.purpose(&d.purpose), to.purpose(&d.purpose)) else { return out };

        if let Some(t) = &d.legal_basis {
            out.push(if en {
                format!("Now based on {} instead of {}.", basis_phrase(lang, t.to), basis_phrase(lang, t.from))
            } else {
                format!("Jetzt auf Grundlage {} statt {}.", basis_phrase(lang, t.to), basis_phrase(lang, t.from))
            });
        }
        for name in &d.added_fields {
            let f = named_field(lang, to, &d.purpose, name);
            out.push(if en { format!("Now also uses your {f}.") } else { format!("Nutzt jetzt auch: {f}.") });
        }
        for name in &d.removed_fields {
            let f = named_field(lang, from, &d.purpose, name);
            out.push(if en { format!("No longer uses your {f}.") } else { format!("Nutzt nicht mehr: {f}.") });
        }
        // A category that arrived or left with a field is said with the field.
        for c in d
            .added_categories
            .iter()
            .filter(|c| !d.added_fields.iter().any(|n| new.field(n).is_some_and(|f| &f.category == *c)))
        {
            let c = category(lang, c);
            out.push(if en { format!("Now also covers your {c}.") } else { format!("Umfasst jetzt auch: {c}.") });
        }
        for c in d
            .removed_categories
            .iter()
            .filter(|c| !d.removed_fields.iter().any(|n| old.field(n).is_some_and(|f| &f.category == *c)))
        {
            let c = category(lang, c);
            out.push(if en { format!("No longer covers your {c}.") } else { format!("Umfasst nicht mehr: {c}.") });
        }
        if let Some(t) = &d.retention_days {
            out.push(if en {
                format!("Data is now kept for {} instead of {}.", days(lang, t.to), days(lang, t.from))
            } else {
                format!("Daten werden jetzt {} statt {} gespeichert.", days(lang, t.to), days(lang, t.from))
            });
        }
        for f in &new.fields {
            let Some(before) = old.field(&f.name) else { continue };
            let follows_purpose = before.retention_days == old.retention_days && f.retention_days == new.retention_days;
            if before.retention_days != f.retention_days && !follows_purpose {
                let (name, to_days, from_days) =
                    (field(lang, f), days(lang, f.retention_days), days(lang, before.retention_days));
                out.push(if en {
                    format!("Your {name} is now kept for {to_days} instead of {from_days}.")
                } else {
                    format!("{name}: jetzt {to_days} statt {from_days} gespeichert.")
                });
            }
        }
        for id in &d.added_processors {
            let name = processor(to, id);
            out.push(if en {
                format!("Now also shared with {name}.")
            } else {
                format!("Jetzt auch weitergegeben an {name}.")
            });
        }
        for id in &d.removed_processors {
            let name = processor(from, id);
            out.push(if en {
                format!("No longer shared with {name}.")
            } else {
                format!("Nicht mehr weitergegeben an {name}.")
            });
        }
        if d.text_changed {
            out.push(if en {
                "The title or description was reworded.".into()
            } else {
                "Titel oder Beschreibung wurden umformuliert.".into()
            });
        }
        if old.gpc_opt_out != new.gpc_opt_out {
            out.push(match (en, new.gpc_opt_out) {
                (true, true) => "A Global Privacy Control signal now counts as a “no”.".into(),
                (true, false) => "A Global Privacy Control signal no longer counts as a “no”.".into(),
                (false, true) => "Ein Global-Privacy-Control-Signal gilt jetzt als „Nein“.".into(),
                (false, false) => "Ein Global-Privacy-Control-Signal gilt nicht mehr als „Nein“.".into(),
            });
        }
        if old.recommendations != new.recommendations {
            out.push(match (en, new.recommendations) {
                (true, true) => "Now used for personal recommendations.".into(),
                (true, false) => "No longer used for personal recommendations.".into(),
                (false, true) => "Wird jetzt für persönliche Empfehlungen genutzt.".into(),
                (false, false) => "Wird nicht mehr für persönliche Empfehlungen genutzt.".into(),
            });
        }
        for b in new.benefits.iter().filter(|b| !old.benefits.iter().any(|o| o.id == b.id)) {
            let title = b.title.get(lang.code()).trim_end_matches('.');
            out.push(if en { format!("New benefit: {title}.") } else { format!("Neuer Vorteil: {title}.") });
        }
        for b in old.benefits.iter().filter(|b| !new.benefits.iter().any(|n| n.id == b.id)) {
            let title = b.title.get(lang.code()).trim_end_matches('.');
            out.push(if en {
                format!("Benefit no longer offered: {title}.")
            } else {
                format!("Vorteil nicht mehr angeboten: {title}.")
            });
        }
        if out.is_empty() {
            out.push(if en {
                "Details of the data used were updated.".into()
            } else {
                "Details zu den genutzten Daten wurden aktualisiert.".into()
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_wins_then_accept_language_by_quality_then_english() {
        assert_eq!(Lang::negotiate(Some("de"), Some("en")), Lang::De);
        assert_eq!(Lang::negotiate(Some("fr"), Some("de-DE,de;q=0.9")), Lang::De, "unknown ?lang= falls through");
        assert_eq!(Lang::negotiate(None, Some("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("en;q=0.3, de;q=0.8")), Lang::De, "quality, not order, decides");
        assert_eq!(Lang::negotiate(None, Some("de;q=0, en;q=0.1")), Lang::En, "q=0 refuses");
        assert_eq!(Lang::negotiate(None, Some("de;q=0")), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("de;q=abc")), Lang::En, "a malformed quality counts as 0");
        assert_eq!(Lang::negotiate(None, Some("de-AT")), Lang::De);
        assert_eq!(Lang::negotiate(None, Some("en, de")), Lang::En, "ties go to the earlier entry");
        assert_eq!(Lang::negotiate(None, None), Lang::En);
    }

    #[test]
    fn durations_and_dates_read_naturally() {
        assert_eq!(days(Lang::En, 730), "730 days (2 years)");
        assert_eq!(days(Lang::De, 365), "365 Tage (1 Jahr)");
        assert_eq!(days(Lang::En, 90), "90 days (about 3 months)");
        assert_eq!(days(Lang::En, 30), "30 days");
        assert_eq!(date(Lang::En, 1_764_000_000_123), "24 November 2025");
        assert_eq!(date(Lang::De, 1_764_000_000_123), "24. November 2025");
        assert_eq!(time_of_day(1_764_000_000_123), "16:00 UTC");
    }
}
