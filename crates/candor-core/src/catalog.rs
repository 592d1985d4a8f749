//! The catalog (`candor.toml`): privacy as code.
//!
//! It declares what is collected, why, on which legal basis and for how long, what people
//! get in return and which processors receive data. [`Catalog::parse`] validates all of it
//! and reports every problem with its line, so a privacy officer can fix a catalog in one
//! pass instead of one error at a time.

mod document;
mod read;

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// The catalog of SPEC §9, with a processor and German translations: what `candor init` writes.
pub const EXAMPLE_CATALOG: &str = r#"[organization]
name = "Acme Outdoor"
contact = "privacy@acme.example"
allowed_origins = ["https://shop.acme.example"]

[[purpose]]
id = "account"
title = { en = "Run your account", de = "Ihr Kundenkonto führen" }
description = { en = "Sign-in, orders and delivery.", de = "Anmeldung, Bestellungen und Lieferung." }
legal_basis = "contract"
retention_days = 1095

[[purpose]]
id = "personalization"
title = { en = "Recommendations for you", de = "Empfehlungen für Sie" }
description = { en = "We use the products you view and buy to suggest others you may like.", de = "Wir nutzen die Produkte, die Sie ansehen und kaufen, um Ihnen andere vorzuschlagen, die Ihnen gefallen könnten." }
legal_basis = "consent"
retention_days = 365
recommendations = true

[[purpose]]
id = "newsletter"
title = { en = "Deals by email", de = "Angebote per E-Mail" }
description = { en = "One email a week with offers.", de = "Eine E-Mail pro Woche mit Angeboten." }
legal_basis = "consent"
retention_days = 730

[[purpose]]
id = "analytics"
title = { en = "Improve the shop", de = "Den Shop verbessern" }
description = { en = "Anonymous, aggregated statistics about how the shop is used.", de = "Anonyme, zusammengefasste Statistiken darüber, wie der Shop genutzt wird." }
legal_basis = "consent"
retention_days = 90
gpc_opt_out = true
[[field]]
name = "email"
type = "string"
max_len = 254
category = "contact.email"
pii = true
purposes = ["account", "newsletter"]

[[field]]
name = "product_id"
type = "id"
category = "behavior.browsing"
purposes = ["personalization", "analytics"]

[[event]]
name = "product_viewed"
fields = ["product_id"]
item_field = "product_id"
weight = 1.0

[[benefit]]
id = "welcome10"
title = "10% off your next order"
kind = "discount"
requires = ["newsletter"]

[[processor]]
id = "mailer"
name = "Mailer Inc."
url = "https://mailer.example/candor-webhook"
purposes = ["newsletter"]
secret = "change-me-mailer-secret-0123456789"
"#;

/// How long a consent stays valid when the catalog does not say (13 months, per CNIL guidance).
pub const DEFAULT_CONSENT_VALID_DAYS: u32 = 395;

/// A validated catalog. Build it with [`Catalog::parse`]; `Deserialize` alone does not validate.
///
/// Serde names follow the TOML file (`purpose`, `field`, …), so a catalog written back with
/// `toml::to_string` parses again to the same value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Catalog {
    /// Who is responsible for the data.
    pub organization: Organization,
    /// Why data is collected, in declaration order.
    #[serde(rename = "purpose", default)]
    pub purposes: Vec<Purpose>,
    /// Every datum that may be collected.
    #[serde(rename = "field", default)]
    pub fields: Vec<Field>,
    /// The event types that may be sent, and the fields each may carry.
    #[serde(rename = "event", default)]
    pub events: Vec<EventType>,
    /// What people get in exchange for their consent.
    #[serde(rename = "benefit", default)]
    pub benefits: Vec<Benefit>,
    /// Downstream systems that receive data or act on requests.
    #[serde(rename = "processor", default)]
    pub processors: Vec<Processor>,
}

/// The organization responsible for the data (the controller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    /// Its name as shown to people.
    pub name: String,
    /// Where people reach the privacy officer.
    pub contact: String,
    /// Web origins (`scheme://host[:port]`) allowed to call the public API from a browser.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// How many days a consent stays valid before people are asked again.
    #[serde(default = "default_consent_valid_days")]
    pub consent_valid_days: u32,
}

fn default_consent_valid_days() -> u32 {
    DEFAULT_CONSENT_VALID_DAYS
}

/// A reason for processing data, shown to people as one choice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purpose {
    /// Stable identifier (`^[a-z][a-z0-9_]{0,63}$`).
    pub id: String,
    /// Short name shown on the switch.
    pub title: Text,
    /// What the purpose does with the data, in plain words.
    pub description: Text,
    /// Why processing is lawful, which decides whether people opt in, object or just see it.
    pub legal_basis: LegalBasis,
    /// How long data kept for this purpose lives.
    pub retention_days: u32,
    /// Whether a Global Privacy Control signal counts as "no" for this purpose.
    #[serde(default)]
    pub gpc_opt_out: bool,
    /// Whether this purpose feeds personalized recommendations.
    #[serde(default)]
    pub recommendations: bool,
}

/// The lawful basis of a purpose (GDPR Art. 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// Opt-in, never pre-ticked.
    Consent,
    /// Needed to fulfil a contract with the person; always on.
    Contract,
    /// Required by law; always on.
    LegalObligation,
    /// On by default; the person can object.
    LegitimateInterest,
}

impl LegalBasis {
    /// Every legal basis, in the order they are documented.
    pub const ALL: [LegalBasis; 4] =
        [LegalBasis::Consent, LegalBasis::Contract, LegalBasis::LegalObligation, LegalBasis::LegitimateInterest];

    /// The name used in the catalog and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            LegalBasis::Consent => "consent",
            LegalBasis::Contract => "contract",
            LegalBasis::LegalObligation => "legal_obligation",
            LegalBasis::LegitimateInterest => "legitimate_interest",
        }
    }

    /// Whether the purpose applies without a choice (shown as such, never as a switch).
    pub fn always_on(&self) -> bool {
        matches!(self, LegalBasis::Contract | LegalBasis::LegalObligation)
    }

    /// Parses the catalog name of a legal basis.
    pub fn parse(name: &str) -> Option<LegalBasis> {
        LegalBasis::ALL.into_iter().find(|b| b.as_str() == name)
    }
}

impl fmt::Display for LegalBasis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A declared datum: what it is, its limits, and the purposes it serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Stable name, as sent in events and traits.
    pub name: String,
    /// The value type (TOML key `type`).
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// Longest accepted value in characters (string and id fields).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<u32>,
    /// The accepted values (enum fields).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// What kind of data this is, `area.kind` (e.g. `contact.email`, `special.health`).
    pub category: String,
    /// Whether the value identifies or relates to a person on its own.
    #[serde(default)]
    pub pii: bool,
    /// The purposes this field is collected for (never empty).
    pub purposes: Vec<String>,
    /// Retention overriding the purposes' (else the shortest of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
}

impl Field {
    /// Whether this is special category data (GDPR Art. 9), allowed only with consent.
    pub fn is_special(&self) -> bool {
        self.category.starts_with("special.")
    }

    /// Days a value of this field is kept: its own retention, else the shortest of its purposes.
    pub fn effective_retention_days(&self, catalog: &Catalog) -> u32 {
        self.retention_days.unwrap_or_else(|| {
            self.purposes
                .iter()
                .filter_map(|id| catalog.purpose(id))
                .map(|p| p.retention_days)
                .min()
                // Only reachable for a field whose purposes are all unknown, which parse rejects;
                // keeping nothing is the safe reading.
                .unwrap_or(0)
        })
    }
}

/// The type of a field's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// Text, limited by `max_len`.
    String,
    /// A finite number.
    Number,
    /// True or false.
    Bool,
    /// One of the declared `values`.
    Enum,
    /// An RFC 3339 date-time.
    Timestamp,
    /// An identifier such as a product id, limited by `max_len`.
    Id,
}

impl FieldType {
    /// Every field type, in the order they are documented.
    pub const ALL: [FieldType; 6] =
        [FieldType::String, FieldType::Number, FieldType::Bool, FieldType::Enum, FieldType::Timestamp, FieldType::Id];

    /// The name used in the catalog and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Bool => "bool",
            FieldType::Enum => "enum",
            FieldType::Timestamp => "timestamp",
            FieldType::Id => "id",
        }
    }

    /// Parses the catalog name of a field type.
    pub fn parse(name: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.as_str() == name)
    }

    /// Whether `max_len` means something for this type.
    pub fn has_length(&self) -> bool {
        matches!(self, FieldType::String | FieldType::Id)
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind of event the host may send, and the fields it may carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventType {
    /// Stable name, as sent in `type`.
    pub name: String,
    /// Declared fields this event may carry; anything else is dropped.
    #[serde(default)]
    pub fields: Vec<String>,
    /// The field naming a recommendable item, if this event feeds recommendations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_field: Option<String>,
    /// How strongly this event signals interest in the item.
    #[serde(default = "default_weight")]
    pub weight: f64,
}

/// The weight of an event type that does not declare one.
pub const DEFAULT_EVENT_WEIGHT: f64 = 1.0;

fn default_weight() -> f64 {
    DEFAULT_EVENT_WEIGHT
}

/// Something of value given in exchange for consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Benefit {
    /// Stable identifier.
    pub id: String,
    /// Short name shown next to the purposes it needs.
    pub title: Text,
    /// Longer explanation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// What kind of value it is.
    pub kind: BenefitKind,
    /// Consent purposes that must all be granted to unlock it.
    pub requires: Vec<String>,
}

/// The kind of a benefit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenefitKind {
    /// A price reduction; each subject gets a unique code.
    Discount,
    /// Access to content.
    Content,
    /// Access to a product feature.
    Feature,
}

impl BenefitKind {
    /// Every benefit kind, in the order they are documented.
    pub const ALL: [BenefitKind; 3] = [BenefitKind::Discount, BenefitKind::Content, BenefitKind::Feature];

    /// The name used in the catalog and the API.
    pub fn as_str(&self) -> &'static str {
        match self {
            BenefitKind::Discount => "discount",
            BenefitKind::Content => "content",
            BenefitKind::Feature => "feature",
        }
    }

    /// Parses the catalog name of a benefit kind.
    pub fn parse(name: &str) -> Option<BenefitKind> {
        BenefitKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A downstream system that receives data or must act on requests, through signed webhooks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Processor {
    /// Stable identifier.
    pub id: String,
    /// Its name as shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its webhook URL.
    pub url: String,
    /// The purposes whose data and requests it receives.
    pub purposes: Vec<String>,
    /// Key that signs the webhooks sent to it; never shown in a notice.
    pub secret: String,
}

/// A human text with optional translations. In TOML either a plain string, or a table of
/// language code -> string that must contain "en" (e.g. `title = { en = "Deals by email",
/// de = "Angebote per E-Mail" }`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Text {
    /// The English text, used when no translation fits.
    pub default: String,
    /// Other languages, by language code (`de`, `pt-BR`); never contains `en`.
    pub translations: BTreeMap<String, String>,
}

impl Text {
    /// The language of [`Text::default`].
    pub const DEFAULT_LANGUAGE: &'static str = "en";

    /// The translation for `lang` (also matches "de-DE" -> "de"), else the default.
    pub fn get(&self, lang: &str) -> &str {
        let lang = lang.trim();
        let primary = lang.split(['-', '_']).next().unwrap_or_default();
        [lang, primary]
            .into_iter()
            .find_map(|wanted| {
                self.translations
                    .iter()
                    .find(|(code, _)| code.eq_ignore_ascii_case(wanted))
                    .map(|(_, text)| text.as_str())
            })
            .unwrap_or(&self.default)
    }
}

impl From<&str> for Text {
    fn from(default: &str) -> Text {
        Text::from(default.to_owned())
    }
}

impl From<String> for Text {
    fn from(default: String) -> Text {
        Text { default, translations: BTreeMap::new() }
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.default)
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.translations.is_empty() {
            return serializer.serialize_str(&self.default);
        }
        let others = self.translations.iter().filter(|(code, _)| code.as_str() != Text::DEFAULT_LANGUAGE);
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(Text::DEFAULT_LANGUAGE, &self.default)?;
        for (code, text) in others {
            map.serialize_entry(code, text)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        struct TextVisitor;

        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a map of language code to string containing \"en\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::from(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text, A::Error> {
                let mut default = None;
                let mut translations = BTreeMap::new();
                while let Some((code, text)) = map.next_entry::<String, String>()? {
                    if code == Text::DEFAULT_LANGUAGE {
                        default = Some(text);
                    } else {
                        translations.insert(code, text);
                    }
                }
                let default = default.ok_or_else(|| de::Error::missing_field("en"))?;
                Ok(Text { default, translations })
            }
        }

        deserializer.deserialize_any(TextVisitor)
    }
}

/// One problem in a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CatalogError {
    /// 1-based line in the file; 0 when the problem has no single place (a missing table).
    pub line: usize,
    /// Where in the catalog, e.g. `purpose[2].legal_basis` or `field "email".purposes`.
    pub path: String,
    /// What is wrong, in words a privacy officer understands.
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CatalogError {}

/// Every problem found in a catalog, ordered by line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogErrors(pub Vec<CatalogError>);

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CatalogErrors {}

impl Catalog {
    /// Parses and validates; returns EVERY error found, not just the first.
    pub fn parse(source: &str) -> Result<Catalog, CatalogErrors> {
        read::parse(source)
    }

    /// The purpose with this id.
    pub fn purpose(&self, id: &str) -> Option<&Purpose> {
        self.purposes.iter().find(|p| p.id == id)
    }

    /// The field with this name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The event type with this name.
    pub fn event(&self, name: &str) -> Option<&EventType> {
        self.events.iter().find(|e| e.name == name)
    }

    /// The benefit with this id.
    pub fn benefit(&self, id: &str) -> Option<&Benefit> {
        self.benefits.iter().find(|b| b.id == id)
    }

    /// The processor with this id.
    pub fn processor(&self, id: &str) -> Option<&Processor> {
        self.processors.iter().find(|p| p.id == id)
    }
}

/// Whether `id` is a valid purpose id, field, event, benefit or processor name.
pub fn is_valid_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && id.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
}

#[cfg(test)]
mod tests;
