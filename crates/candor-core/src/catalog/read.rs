//! Reading the document tree into a catalog, collecting every problem on the way.

use std::collections::{BTreeMap, BTreeSet};

use super::document::{self, Entry, Node, Value};
use super::{
    Benefit, BenefitKind, Catalog, CatalogError, CatalogErrors, DEFAULT_CONSENT_VALID_DAYS, DEFAULT_EVENT_WEIGHT,
    EventType, Field, FieldType, LegalBasis, Organization, Processor, Purpose, Text, is_valid_id,
};

/// Parses `source` and validates it; see [`Catalog::parse`].
pub(super) fn parse(source: &str) -> Result<Catalog, CatalogErrors> {
    let root = match document::parse(source) {
        Ok(root) => root,
        Err(error) => {
            let line = error.span().map_or(0, |span| line_at(source, span.start));
            return Err(CatalogErrors(vec![CatalogError {
                line,
                path: String::new(),
                message: syntax_message(error.message()),
            }]));
        }
    };
    let mut cx = Cx { source, errors: Vec::new() };
    let catalog = read_catalog(&mut cx, &root);
    // Stable: problems on one line keep the order they were found in.
    cx.errors.sort_by_key(|e| e.line);
    match catalog {
        Some(catalog) if cx.errors.is_empty() => Ok(catalog),
        _ => Err(CatalogErrors(cx.errors)),
    }
}

/// The toml crate's message on one line (errors are listed one per line), never empty: it
/// leaves some blank, e.g. for a key with no value at the end of the file.
fn syntax_message(message: &str) -> String {
    let parts: Vec<&str> = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if parts.is_empty() { "invalid TOML syntax".to_owned() } else { parts.join("; ") }
}

const TOP_KEYS: &[&str] = &["organization", "purpose", "field", "event", "benefit", "processor", "server"];
const ORGANIZATION_KEYS: &[&str] = &["name", "contact", "allowed_origins", "consent_valid_days"];
const PURPOSE_KEYS: &[&str] =
    &["id", "title", "description", "legal_basis", "retention_days", "gpc_opt_out", "recommendations"];
const FIELD_KEYS: &[&str] = &["name", "type", "max_len", "values", "category", "pii", "purposes", "retention_days"];
const EVENT_KEYS: &[&str] = &["name", "fields", "item_field", "weight"];
const BENEFIT_KEYS: &[&str] = &["id", "title", "description", "kind", "requires"];
const PROCESSOR_KEYS: &[&str] = &["id", "name", "url", "purposes", "secret"];

/// Webhook signatures are only as strong as the key; 16 characters is the floor we accept.
const MIN_SECRET_CHARS: usize = 16;

struct Cx<'s> {
    source: &'s str,
    errors: Vec<CatalogError>,
}

impl Cx<'_> {
    fn line(&self, node: &Node) -> Option<usize> {
        node.span.as_ref().map(|span| line_at(self.source, span.start))
    }

    fn error(&mut self, line: usize, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(CatalogError { line, path: path.into(), message: message.into() });
    }

    fn wrong_type(&mut self, item: &Item<'_>, expected: &str) {
        let found = item.node.value.type_name();
        self.error(item.line, item.path.clone(), format!("expected {expected}, found {found}"));
    }
}

fn line_at(source: &str, offset: usize) -> usize {
    let end = offset.min(source.len());
    source.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

fn join(path: &str, key: &str) -> String {
    // Keys outside TOML's bare-key alphabet are shown quoted and escaped, as TOML would.
    let bare = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let key = if bare { key.to_owned() } else { format!("{key:?}") };
    if path.is_empty() { key } else { format!("{path}.{key}") }
}

/// A value with the line it was written on.
#[derive(Debug, Clone)]
struct Loc<T> {
    value: T,
    line: usize,
}

/// A value found in a table, with where it is.
struct Item<'n> {
    node: &'n Node,
    line: usize,
    path: String,
}

/// A table being read: remembers which keys were used so the rest can be reported as unknown.
struct Table<'n> {
    entries: &'n [Entry],
    used: Vec<bool>,
    line: usize,
    path: String,
    known: &'static [&'static str],
    missing: Vec<String>,
}

impl<'n> Table<'n> {
    fn open(cx: &mut Cx<'_>, item: &Item<'n>, known: &'static [&'static str]) -> Option<Table<'n>> {
        let Value::Table(entries) = &item.node.value else {
            cx.wrong_type(item, "a table");
            return None;
        };
        Some(Table {
            entries,
            used: vec![false; entries.len()],
            line: item.line,
            path: item.path.clone(),
            known,
            missing: Vec::new(),
        })
    }

    fn optional(&mut self, cx: &Cx<'_>, key: &str) -> Option<Item<'n>> {
        let index = self.entries.iter().position(|e| e.key == key)?;
        self.used[index] = true;
        let entry = &self.entries[index];
        let key_line = entry.key_span.as_ref().map(|s| line_at(cx.source, s.start));
        Some(Item {
            node: &entry.node,
            line: cx.line(&entry.node).or(key_line).unwrap_or(self.line),
            path: join(&self.path, key),
        })
    }

    /// Reads a key that must be present; its absence is reported by [`Table::finish`].
    fn required(&mut self, cx: &Cx<'_>, key: &str) -> Option<Item<'n>> {
        let item = self.optional(cx, key);
        if item.is_none() {
            self.missing.push(key.to_owned());
        }
        item
    }

    /// Reports unknown and missing keys. A typo is reported once, as an unknown key that
    /// names what was meant, not again as the missing key it should have been.
    fn finish(self, cx: &mut Cx<'_>) {
        let mut suggested = Vec::new();
        for (entry, used) in self.entries.iter().zip(self.used) {
            if used {
                continue;
            }
            let line = entry
                .key_span
                .as_ref()
                .map(|s| line_at(cx.source, s.start))
                .or_else(|| cx.line(&entry.node))
                .unwrap_or(self.line);
            let hint = match closest(&entry.key, self.known) {
                Some(known) => {
                    suggested.push(known);
                    format!(" (did you mean \"{known}\"?)")
                }
                None => format!("; expected one of: {}", self.known.join(", ")),
            };
            cx.error(line, join(&self.path, &entry.key), format!("unknown key {:?}{hint}", entry.key));
        }
        for key in self.missing {
            if !suggested.contains(&key.as_str()) {
                cx.error(self.line, join(&self.path, &key), format!("missing required key \"{key}\""));
            }
        }
    }
}

/// The known key a typo most likely meant: at most two edits away.
fn closest<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    known.iter().map(|k| (edit_distance(key, k), *k)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d).map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitute.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

impl<'n> Item<'n> {
    fn element(&self, cx: &Cx<'_>, index: usize, node: &'n Node) -> Item<'n> {
        Item { node, line: cx.line(node).unwrap_or(self.line), path: format!("{}[{index}]", self.path) }
    }

    fn string(&self, cx: &mut Cx<'_>) -> Option<Loc<String>> {
        match &self.node.value {
            Value::String(s) => Some(Loc { value: s.clone(), line: self.line }),
            _ => {
                cx.wrong_type(self, "a string");
                None
            }
        }
    }

    fn non_empty_string(&self, cx: &mut Cx<'_>) -> Option<Loc<String>> {
        let s = self.string(cx)?;
        if s.value.trim().is_empty() {
            cx.error(self.line, self.path.clone(), "must not be empty");
        }
        Some(s)
    }

    fn boolean(&self, cx: &mut Cx<'_>) -> Option<bool> {
        match self.node.value {
            Value::Boolean(b) => Some(b),
            _ => {
                cx.wrong_type(self, "a boolean (true or false)");
                None
            }
        }
    }

    fn number(&self, cx: &mut Cx<'_>) -> Option<f64> {
        match self.node.value {
            Value::Float(f) => Some(f),
            // Integers are exact in f64 far beyond any sensible weight.
            Value::Integer(i) => Some(i as f64),
            _ => {
                cx.wrong_type(self, "a number");
                None
            }
        }
    }

    fn u32(&self, cx: &mut Cx<'_>) -> Option<u32> {
        let Value::Integer(i) = self.node.value else {
            cx.wrong_type(self, "a whole number");
            return None;
        };
        match u32::try_from(i) {
            Ok(n) => Some(n),
            Err(_) => {
                cx.error(self.line, self.path.clone(), format!("{i} is out of range (0 to {})", u32::MAX));
                None
            }
        }
    }

    /// A whole number of at least 1 (days, lengths).
    fn positive_u32(&self, cx: &mut Cx<'_>) -> Option<u32> {
        let n = self.u32(cx)?;
        if n == 0 {
            cx.error(self.line, self.path.clone(), "must be at least 1");
        }
        Some(n)
    }

    fn strings(&self, cx: &mut Cx<'_>) -> Option<Vec<Loc<String>>> {
        let Value::Array(nodes) = &self.node.value else {
            cx.wrong_type(self, "an array of strings");
            return None;
        };
        let mut out = Vec::with_capacity(nodes.len());
        let mut ok = true;
        for (index, node) in nodes.iter().enumerate() {
            match self.element(cx, index, node).string(cx) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn tables(&self, cx: &mut Cx<'_>, header: &str) -> Vec<Item<'n>> {
        let Value::Array(nodes) = &self.node.value else {
            cx.wrong_type(self, &format!("an array of tables ([[{header}]])"));
            return Vec::new();
        };
        nodes.iter().enumerate().map(|(index, node)| self.element(cx, index, node)).collect()
    }

    fn text(&self, cx: &mut Cx<'_>) -> Option<Text> {
        match &self.node.value {
            Value::String(s) => {
                if s.trim().is_empty() {
                    cx.error(self.line, self.path.clone(), "must not be empty");
                }
                Some(Text::from(s.as_str()))
            }
            Value::Table(entries) => {
                let mut default = None;
                let mut translations = BTreeMap::new();
                let mut ok = true;
                for entry in entries {
                    let key_line = entry.key_span.as_ref().map(|s| line_at(cx.source, s.start));
                    let item = Item {
                        node: &entry.node,
                        line: cx.line(&entry.node).or(key_line).unwrap_or(self.line),
                        path: join(&self.path, &entry.key),
                    };
                    if !is_language_code(&entry.key) {
                        cx.error(
                            key_line.unwrap_or(item.line),
                            item.path.clone(),
                            format!("{:?} is not a language code (e.g. \"de\" or \"pt-BR\")", entry.key),
                        );
                        ok = false;
                        continue;
                    }
                    let Some(text) = item.non_empty_string(cx) else {
                        ok = false;
                        continue;
                    };
                    if entry.key == Text::DEFAULT_LANGUAGE {
                        default = Some(text.value);
                    } else {
                        translations.insert(entry.key.clone(), text.value);
                    }
                }
                let Some(default) = default else {
                    cx.error(self.line, self.path.clone(), "translations must include \"en\", the default text");
                    return None;
                };
                ok.then_some(Text { default, translations })
            }
            _ => {
                cx.wrong_type(self, "a string or a table of translations (e.g. { en = \"…\", de = \"…\" })");
                None
            }
        }
    }
}

fn is_language_code(code: &str) -> bool {
    let mut parts = code.split('-');
    let primary = parts.next().unwrap_or_default();
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// How an array element names itself in paths: by its id when it has a usable one.
fn label(kind: &str, id_key: &str, index: usize, node: &Node) -> String {
    let id = match &node.value {
        Value::Table(entries) => entries.iter().find(|e| e.key == id_key).and_then(|e| match &e.node.value {
            Value::String(id) => Some(id.as_str()),
            _ => None,
        }),
        _ => None,
    };
    match id {
        Some(id) if is_valid_id(id) => format!("{kind} \"{id}\""),
        _ => format!("{kind}[{index}]"),
    }
}

fn check_id(cx: &mut Cx<'_>, item: &Item<'_>, id: &Loc<String>) {
    if !is_valid_id(&id.value) {
        cx.error(
            id.line,
            item.path.clone(),
            format!(
                "{:?} is not a valid name: use 1 to 64 characters of a-z, 0-9 and _, starting with a letter",
                id.value
            ),
        );
    }
}

/// Where each declared name was first seen, to report duplicates by their first line.
struct Registry {
    noun: &'static str,
    first_lines: BTreeMap<String, usize>,
}

impl Registry {
    fn new(noun: &'static str) -> Registry {
        Registry { noun, first_lines: BTreeMap::new() }
    }

    /// Returns false when the name was already declared.
    fn declare(&mut self, cx: &mut Cx<'_>, path: &str, name: &Loc<String>) -> bool {
        if let Some(first) = self.first_lines.get(&name.value) {
            cx.error(
                name.line,
                path,
                format!("duplicate {} {:?} (first defined on line {first})", self.noun, name.value),
            );
            return false;
        }
        self.first_lines.insert(name.value.clone(), name.line);
        true
    }
}

/// Reports list entries that appear more than once.
fn check_unique(cx: &mut Cx<'_>, path: &str, list: &[Loc<String>], noun: &str) {
    let mut seen = BTreeSet::new();
    for entry in list {
        if !seen.insert(entry.value.as_str()) {
            cx.error(entry.line, path, format!("{noun} {:?} is listed twice", entry.value));
        }
    }
}

fn read_catalog(cx: &mut Cx<'_>, root: &Node) -> Option<Catalog> {
    let root_item = Item { node: root, line: 0, path: String::new() };
    let mut top = Table::open(cx, &root_item, TOP_KEYS)?;
    let organization = top.required(cx, "organization").and_then(|item| read_organization(cx, &item));

    let purpose_items = match top.optional(cx, "purpose") {
        Some(item) => {
            if matches!(&item.node.value, Value::Array(a) if a.is_empty()) {
                cx.error(item.line, item.path.clone(), "the catalog declares no purpose; add at least one [[purpose]]");
            }
            item.tables(cx, "purpose")
        }
        None => {
            cx.error(0, "purpose", "the catalog declares no purpose; add at least one [[purpose]]");
            Vec::new()
        }
    };
    let mut purpose_ids = Registry::new("purpose id");
    // Every purpose id seen, with its legal basis when readable, so references are checked
    // even when the purpose itself has other problems.
    let mut bases: BTreeMap<String, Option<LegalBasis>> = BTreeMap::new();
    let mut purposes = Vec::new();
    let mut recommendation_purpose: Option<Loc<String>> = None;
    for (index, item) in purpose_items.iter().enumerate() {
        let item = Item { path: label("purpose", "id", index, item.node), ..*item };
        let draft = read_purpose(cx, &item);
        if let Some(id) = &draft.id
            && purpose_ids.declare(cx, &join(&item.path, "id"), id)
        {
            bases.insert(id.value.clone(), draft.legal_basis);
        }
        if let Some(purpose) = draft.purpose {
            if purpose.recommendations {
                match &recommendation_purpose {
                    Some(first) => cx.error(
                        item.line,
                        join(&item.path, "recommendations"),
                        format!(
                            "only one purpose may feed recommendations; {:?} (line {}) already does",
                            first.value, first.line
                        ),
                    ),
                    None => recommendation_purpose = Some(Loc { value: purpose.id.clone(), line: item.line }),
                }
            }
            purposes.push(purpose);
        }
    }

    let field_items = section(cx, &mut top, "field");
    let mut field_names = Registry::new("field");
    let mut fields = Vec::new();
    for (index, item) in field_items.iter().enumerate() {
        let item = Item { path: label("field", "name", index, item.node), ..*item };
        let (name, field) = read_field(cx, &item, &bases);
        if let Some(name) = &name {
            field_names.declare(cx, &join(&item.path, "name"), name);
        }
        fields.extend(field);
    }

    let event_items = section(cx, &mut top, "event");
    let mut event_names = Registry::new("event");
    let mut events = Vec::new();
    for (index, item) in event_items.iter().enumerate() {
        let item = Item { path: label("event", "name", index, item.node), ..*item };
        let (name, event) = read_event(cx, &item, &field_names);
        if let Some(name) = &name {
            event_names.declare(cx, &join(&item.path, "name"), name);
        }
        events.extend(event);
    }

    let benefit_items = section(cx, &mut top, "benefit");
    let mut benefit_ids = Registry::new("benefit id");
    let mut benefits = Vec::new();
    for (index, item) in benefit_items.iter().enumerate() {
        let item = Item { path: label("benefit", "id", index, item.node), ..*item };
        let (id, benefit) = read_benefit(cx, &item, &bases);
        if let Some(id) = &id {
            benefit_ids.declare(cx, &join(&item.path, "id"), id);
        }
        benefits.extend(benefit);
    }

    let processor_items = section(cx, &mut top, "processor");
    let mut processor_ids = Registry::new("processor id");
    let mut processors = Vec::new();
    for (index, item) in processor_items.iter().enumerate() {
        let item = Item { path: label("processor", "id", index, item.node), ..*item };
        let (id, processor) = read_processor(cx, &item, &bases);
        if let Some(id) = &id {
            processor_ids.declare(cx, &join(&item.path, "id"), id);
        }
        processors.extend(processor);
    }

    // `[server]` is runtime configuration, read by the server layer; only its shape is ours.
    if let Some(server) = top.optional(cx, "server")
        && !matches!(server.node.value, Value::Table(_))
    {
        cx.wrong_type(&server, "a table");
    }
    top.finish(cx);

    Some(Catalog { organization: organization?, purposes, fields, events, benefits, processors })
}

fn section<'n>(cx: &mut Cx<'_>, top: &mut Table<'n>, key: &str) -> Vec<Item<'n>> {
    top.optional(cx, key).map(|item| item.tables(cx, key)).unwrap_or_default()
}

fn read_organization(cx: &mut Cx<'_>, item: &Item<'_>) -> Option<Organization> {
    let mut t = Table::open(cx, item, ORGANIZATION_KEYS)?;
    let name = t.required(cx, "name").and_then(|i| i.non_empty_string(cx));
    let contact = t.required(cx, "contact").and_then(|i| i.non_empty_string(cx));
    let allowed_origins = match t.optional(cx, "allowed_origins") {
        Some(list) => {
            let origins = list.strings(cx);
            for (index, origin) in origins.iter().flatten().enumerate() {
                if let Some(problem) = origin_problem(&origin.value) {
                    cx.error(
                        origin.line,
                        format!("{}[{index}]", list.path),
                        format!("{:?} is not an origin (scheme://host[:port]): {problem}", origin.value),
                    );
                }
            }
            origins
        }
        None => Some(Vec::new()),
    };
    let consent_valid_days = match t.optional(cx, "consent_valid_days") {
        Some(i) => i.positive_u32(cx),
        None => Some(DEFAULT_CONSENT_VALID_DAYS),
    };
    t.finish(cx);
    Some(Organization {
        name: name?.value,
        contact: contact?.value,
        allowed_origins: allowed_origins?.into_iter().map(|o| o.value).collect(),
        consent_valid_days: consent_valid_days?,
    })
}

/// Why `origin` is not a browser origin, if it is not. The server compares origins as exact
/// strings (as browsers send them), so anything a browser would never send can never match.
fn origin_problem(origin: &str) -> Option<&'static str> {
    let Some(rest) = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://")) else {
        return Some("it must start with http:// or https://");
    };
    if rest.ends_with('/') {
        return Some("remove the trailing slash");
    }
    if rest.contains(['/', '?', '#']) {
        return Some("it must not have a path, query or fragment");
    }
    if rest.contains('@') {
        return Some("it must not contain a user name");
    }
    if origin.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some("browsers send origins in lowercase, so write it in lowercase");
    }
    let (host, port) = if let Some(bracketed) = rest.strip_prefix('[') {
        let Some((inside, after)) = bracketed.split_once(']') else {
            return Some("the IPv6 address is missing its closing ]");
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return Some("the IPv6 address is not valid");
        }
        match after {
            "" => (inside, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return Some("only :port may follow the host"),
            },
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    if !rest.starts_with('[')
        && (host.split('.').any(str::is_empty)
            || !host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
    {
        return Some("the host is not a valid host name");
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Some("the port must be a number from 1 to 65535");
        }
    }
    None
}

/// Why `url` is not a usable webhook URL, if it is not.
fn url_problem(url: &str) -> Option<&'static str> {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
        return Some("must be an http:// or https:// URL");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.starts_with(':') {
        return Some("has no host");
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("must not contain spaces or control characters");
    }
    None
}

/// Categories are `area.kind`, two lowercase words; `special.*` marks GDPR Art. 9 data.
fn is_category(category: &str) -> bool {
    let word = |w: &str| {
        let mut bytes = w.bytes();
        matches!(bytes.next(), Some(b'a'..=b'z')) && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_'))
    };
    matches!(category.split_once('.'), Some((area, kind)) if word(area) && word(kind))
}

struct PurposeDraft {
    id: Option<Loc<String>>,
    legal_basis: Option<LegalBasis>,
    purpose: Option<Purpose>,
}

fn read_purpose(cx: &mut Cx<'_>, item: &Item<'_>) -> PurposeDraft {
    let Some(mut t) = Table::open(cx, item, PURPOSE_KEYS) else {
        return PurposeDraft { id: None, legal_basis: None, purpose: None };
    };
    let id = t.required(cx, "id").and_then(|i| {
        let id = i.string(cx)?;
        check_id(cx, &i, &id);
        Some(id)
    });
    let title = t.required(cx, "title").and_then(|i| i.text(cx));
    let description = t.required(cx, "description").and_then(|i| i.text(cx));
    let legal_basis = t.required(cx, "legal_basis").and_then(|i| {
        let name = i.string(cx)?;
        let basis = LegalBasis::parse(&name.value);
        if basis.is_none() {
            let expected: Vec<&str> = LegalBasis::ALL.iter().map(LegalBasis::as_str).collect();
            cx.error(
                name.line,
                i.path.clone(),
                format!("unknown legal basis {:?}; expected one of: {}", name.value, expected.join(", ")),
            );
        }
        basis
    });
    let retention_days = t.required(cx, "retention_days").and_then(|i| i.positive_u32(cx));
    let gpc_opt_out = optional_bool(cx, &mut t, "gpc_opt_out");
    let recommendations = optional_bool(cx, &mut t, "recommendations");
    t.finish(cx);

    let purpose = match (&id, title, description, legal_basis, retention_days, gpc_opt_out, recommendations) {
        (
            Some(id),
            Some(title),
            Some(description),
            Some(legal_basis),
            Some(retention_days),
            Some(gpc_opt_out),
            Some(recommendations),
        ) => Some(Purpose {
            id: id.value.clone(),
            title,
            description,
            legal_basis,
            retention_days,
            gpc_opt_out,
            recommendations,
        }),
        _ => None,
    };
    PurposeDraft { id, legal_basis, purpose }
}

fn optional_bool(cx: &mut Cx<'_>, t: &mut Table<'_>, key: &str) -> Option<bool> {
    match t.optional(cx, key) {
        Some(i) => i.boolean(cx),
        None => Some(false),
    }
}

/// Checks a list of purpose references: known, listed once, and (when `consent_only`) based
/// on consent. Returns the ids.
fn read_purpose_refs(
    cx: &mut Cx<'_>,
    item: &Item<'_>,
    bases: &BTreeMap<String, Option<LegalBasis>>,
    mut rule: impl FnMut(&mut Cx<'_>, &Item<'_>, &Loc<String>, LegalBasis),
) -> Option<Vec<String>> {
    let refs = item.strings(cx)?;
    if refs.is_empty() {
        cx.error(item.line, item.path.clone(), "must name at least one purpose");
    }
    for r in &refs {
        match bases.get(&r.value) {
            None => cx.error(r.line, item.path.clone(), format!("unknown purpose {:?}", r.value)),
            Some(Some(basis)) => rule(cx, item, r, *basis),
            // The purpose exists but its legal basis is itself in error; reported there.
            Some(None) => {}
        }
    }
    check_unique(cx, &item.path, &refs, "purpose");
    Some(refs.into_iter().map(|r| r.value).collect())
}

fn read_field(
    cx: &mut Cx<'_>,
    item: &Item<'_>,
    bases: &BTreeMap<String, Option<LegalBasis>>,
) -> (Option<Loc<String>>, Option<Field>) {
    let Some(mut t) = Table::open(cx, item, FIELD_KEYS) else {
        return (None, None);
    };
    let name = t.required(cx, "name").and_then(|i| {
        let name = i.string(cx)?;
        check_id(cx, &i, &name);
        Some(name)
    });
    let kind = t.required(cx, "type").and_then(|i| {
        let name = i.string(cx)?;
        let kind = FieldType::parse(&name.value);
        if kind.is_none() {
            let expected: Vec<&str> = FieldType::ALL.iter().map(FieldType::as_str).collect();
            cx.error(
                name.line,
                i.path.clone(),
                format!("unknown type {:?}; expected one of: {}", name.value, expected.join(", ")),
            );
        }
        kind
    });
    let max_len = match t.optional(cx, "max_len") {
        Some(i) => {
            let n = i.positive_u32(cx);
            if let Some(kind) = kind.filter(|k| !k.has_length()) {
                cx.error(i.line, i.path.clone(), format!("max_len applies only to string and id fields, not {kind}"));
            }
            n.map(Some)
        }
        None => Some(None),
    };
    let values = match t.optional(cx, "values") {
        Some(i) => {
            let values = i.strings(cx);
            match kind {
                Some(FieldType::Enum) if values.as_ref().is_some_and(Vec::is_empty) => {
                    cx.error(i.line, i.path.clone(), "an enum field needs at least one value")
                }
                Some(FieldType::Enum) | None => {}
                Some(other) => {
                    cx.error(i.line, i.path.clone(), format!("values apply only to enum fields, not {other}"))
                }
            }
            if let Some(values) = &values {
                check_unique(cx, &i.path, values, "value");
            }
            values.map(|v| v.into_iter().map(|v| v.value).collect())
        }
        None => {
            if kind == Some(FieldType::Enum) {
                cx.error(t.line, join(&t.path, "values"), "an enum field needs `values`, the list of accepted values");
            }
            Some(Vec::new())
        }
    };
    let category = t.required(cx, "category").and_then(|i| {
        let category = i.string(cx)?;
        if !is_category(&category.value) {
            cx.error(
                category.line,
                i.path.clone(),
                format!(
                    "{:?} is not a category: use two lowercase words joined by a dot, e.g. contact.email",
                    category.value
                ),
            );
        }
        Some(category)
    });
    let pii = optional_bool(cx, &mut t, "pii");
    let special = category.as_ref().is_some_and(|c| c.value.starts_with("special."));
    let purposes = t.required(cx, "purposes").and_then(|i| {
        read_purpose_refs(cx, &i, bases, |cx, list, purpose, basis| {
            if special && basis != LegalBasis::Consent {
                cx.error(
                    purpose.line,
                    list.path.clone(),
                    format!(
                        "special category data may only serve consent purposes; {:?} is based on {basis}",
                        purpose.value
                    ),
                );
            }
        })
    });
    let retention_days = match t.optional(cx, "retention_days") {
        Some(i) => i.positive_u32(cx).map(Some),
        None => Some(None),
    };
    t.finish(cx);

    let field = match (&name, kind, max_len, values, category, pii, purposes, retention_days) {
        (
            Some(name),
            Some(kind),
            Some(max_len),
            Some(values),
            Some(category),
            Some(pii),
            Some(purposes),
            Some(retention_days),
        ) => Some(Field {
            name: name.value.clone(),
            kind,
            max_len,
            values,
            category: category.value,
            pii,
            purposes,
            retention_days,
        }),
        _ => None,
    };
    (name, field)
}

fn read_event(
    cx: &mut Cx<'_>,
    item: &Item<'_>,
    declared_fields: &Registry,
) -> (Option<Loc<String>>, Option<EventType>) {
    let Some(mut t) = Table::open(cx, item, EVENT_KEYS) else {
        return (None, None);
    };
    let name = t.required(cx, "name").and_then(|i| {
        let name = i.string(cx)?;
        check_id(cx, &i, &name);
        Some(name)
    });
    let fields = match t.optional(cx, "fields") {
        Some(i) => {
            let fields = i.strings(cx);
            for field in fields.iter().flatten() {
                if !declared_fields.first_lines.contains_key(&field.value) {
                    cx.error(
                        field.line,
                        i.path.clone(),
                        format!("unknown field {:?}; declare it as a [[field]]", field.value),
                    );
                }
            }
            if let Some(fields) = &fields {
                check_unique(cx, &i.path, fields, "field");
            }
            fields
        }
        None => Some(Vec::new()),
    };
    let item_field = match t.optional(cx, "item_field") {
        Some(i) => {
            let item_field = i.string(cx);
            if let (Some(item_field), Some(fields)) = (&item_field, &fields)
                && !fields.iter().any(|f| f.value == item_field.value)
            {
                cx.error(
                    item_field.line,
                    i.path.clone(),
                    format!("{:?} is not one of this event's fields", item_field.value),
                );
            }
            item_field.map(|f| Some(f.value))
        }
        None => Some(None),
    };
    let weight = match t.optional(cx, "weight") {
        Some(i) => {
            let weight = i.number(cx);
            if let Some(w) = weight.filter(|w| !w.is_finite() || *w <= 0.0) {
                cx.error(i.line, i.path.clone(), format!("must be a positive finite number, not {w}"));
            }
            weight
        }
        None => Some(DEFAULT_EVENT_WEIGHT),
    };
    t.finish(cx);

    let event = match (&name, fields, item_field, weight) {
        (Some(name), Some(fields), Some(item_field), Some(weight)) => Some(EventType {
            name: name.value.clone(),
            fields: fields.into_iter().map(|f| f.value).collect(),
            item_field,
            weight,
        }),
        _ => None,
    };
    (name, event)
}

fn read_benefit(
    cx: &mut Cx<'_>,
    item: &Item<'_>,
    bases: &BTreeMap<String, Option<LegalBasis>>,
) -> (Option<Loc<String>>, Option<Benefit>) {
    let Some(mut t) = Table::open(cx, item, BENEFIT_KEYS) else {
        return (None, None);
    };
    let id = t.required(cx, "id").and_then(|i| {
        let id = i.string(cx)?;
        check_id(cx, &i, &id);
        Some(id)
    });
    let title = t.required(cx, "title").and_then(|i| i.text(cx));
    let description = match t.optional(cx, "description") {
        Some(i) => i.text(cx).map(Some),
        None => Some(None),
    };
    let kind = t.required(cx, "kind").and_then(|i| {
        let name = i.string(cx)?;
        let kind = BenefitKind::parse(&name.value);
        if kind.is_none() {
            let expected: Vec<&str> = BenefitKind::ALL.iter().map(BenefitKind::as_str).collect();
            cx.error(
                name.line,
                i.path.clone(),
                format!("unknown kind {:?}; expected one of: {}", name.value, expected.join(", ")),
            );
        }
        kind
    });
    let requires = t.required(cx, "requires").and_then(|i| {
        read_purpose_refs(cx, &i, bases, |cx, list, purpose, basis| {
            if basis != LegalBasis::Consent {
                cx.error(
                    purpose.line,
                    list.path.clone(),
                    format!(
                        "a benefit may only require consent purposes, and {:?} is based on {basis}: people cannot choose it, so the benefit would not be a free exchange",
                        purpose.value
                    ),
                );
            }
        })
    });
    t.finish(cx);

    let benefit = match (&id, title, description, kind, requires) {
        (Some(id), Some(title), Some(description), Some(kind), Some(requires)) => {
            Some(Benefit { id: id.value.clone(), title, description, kind, requires })
        }
        _ => None,
    };
    (id, benefit)
}

fn read_processor(
    cx: &mut Cx<'_>,
    item: &Item<'_>,
    bases: &BTreeMap<String, Option<LegalBasis>>,
) -> (Option<Loc<String>>, Option<Processor>) {
    let Some(mut t) = Table::open(cx, item, PROCESSOR_KEYS) else {
        return (None, None);
    };
    let id = t.required(cx, "id").and_then(|i| {
        let id = i.string(cx)?;
        check_id(cx, &i, &id);
        Some(id)
    });
    let name = match t.optional(cx, "name") {
        Some(i) => i.non_empty_string(cx).map(|n| Some(n.value)),
        None => Some(None),
    };
    let url = t.required(cx, "url").and_then(|i| {
        let url = i.string(cx)?;
        if let Some(problem) = url_problem(&url.value) {
            cx.error(url.line, i.path.clone(), format!("{:?} {problem}", url.value));
        }
        Some(url.value)
    });
    let purposes = t.required(cx, "purposes").and_then(|i| read_purpose_refs(cx, &i, bases, |_, _, _, _| {}));
    let secret = t.required(cx, "secret").and_then(|i| {
        let secret = i.string(cx)?;
        // Never echo the secret itself into an error that may end up in logs or CI output.
        if secret.value.chars().count() < MIN_SECRET_CHARS {
            cx.error(
                secret.line,
                i.path.clone(),
                format!(
                    "must be at least {MIN_SECRET_CHARS} characters long (it signs the webhooks sent to this processor)"
                ),
            );
        }
        Some(secret.value)
    });
    t.finish(cx);

    let processor = match (&id, name, url, purposes, secret) {
        (Some(id), Some(name), Some(url), Some(purposes), Some(secret)) => {
            Some(Processor { id: id.value.clone(), name, url, purposes, secret })
        }
        _ => None,
    };
    (id, processor)
}
