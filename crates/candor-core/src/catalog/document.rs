//! A TOML document as a tree that remembers where every key and value was written.
//!
//! `toml::Spanned<T>` alone is not enough: it fails outright on tables that carry no span
//! (implicit tables such as `[server.tls]` without `[server]`, or dotted keys), and a typed
//! `#[derive(Deserialize)]` stops at the first wrong type or unknown key. Reading the file
//! into this tree first lets the catalog report every problem, each with its line.
//!
//! toml 0.8 hands out spans only through serde_spanned's struct protocol, so the visitor
//! below speaks it directly and falls back to a plain value when no span is offered.

use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

// The names serde_spanned 0.6 (used by toml 0.8) recognises as "give me the span".
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
// toml_datetime presents a date-time to `deserialize_any` as a one-entry map with this key.
const DATETIME_KEY: &str = "$__toml_private_datetime";

/// A value with the byte range it was written at, when the parser knows it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub(super) span: Option<Range<usize>>,
    pub(super) value: Value,
}

/// The TOML data model, with spanned children.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// One `key = value` of a table, in file order.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Entry {
    pub(super) key: String,
    pub(super) key_span: Option<Range<usize>>,
    pub(super) node: Node,
}

impl Value {
    /// The type as a user would name it in an error message ("expected a string, found …").
    pub(super) fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }
}

/// Parses a whole TOML document; syntax errors come back from the toml crate with a span.
pub(super) fn parse(source: &str) -> Result<Node, toml::de::Error> {
    let root: Root = toml::from_str(source)?;
    Ok(root.0)
}

struct Root(Node);

impl<'de> de::Deserialize<'de> for Root {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The document root has no span and must not be asked for one.
        BareSeed.deserialize(deserializer).map(Root)
    }
}

/// Asks for a span, then reads the value.
struct SpannedSeed;

impl<'de> DeserializeSeed<'de> for SpannedSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, NodeVisitor)
    }
}

/// Reads the value without asking for a span (inside the span protocol, or at the root).
struct BareSeed;

impl<'de> DeserializeSeed<'de> for BareSeed {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

fn bare(value: Value) -> Node {
    Node { span: None, value }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(bare(Value::Boolean(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(bare(Value::Integer(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v).map(|v| bare(Value::Integer(v))).map_err(|_| E::custom("integer out of range"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(bare(Value::Float(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(bare(Value::String(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(bare(Value::String(v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(SpannedSeed)? {
            items.push(item);
        }
        Ok(bare(Value::Array(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key_seed(KeySeed)? else {
            return Ok(bare(Value::Table(Vec::new())));
        };
        // Protocol keys never carry a span; a user's key (even a quoted look-alike) does.
        if first.span.is_none() && first.name == SPANNED_START {
            let start: usize = map.next_value()?;
            expect_protocol_key(&mut map, SPANNED_END)?;
            let end: usize = map.next_value()?;
            expect_protocol_key(&mut map, SPANNED_VALUE)?;
            let mut node = map.next_value_seed(BareSeed)?;
            node.span = Some(start..end);
            return Ok(node);
        }
        if first.span.is_none() && first.name == DATETIME_KEY {
            let text: String = map.next_value()?;
            return Ok(bare(Value::Datetime(text)));
        }
        let mut entries = Vec::new();
        let mut key = Some(first);
        while let Some(k) = key {
            let node = map.next_value_seed(SpannedSeed)?;
            entries.push(Entry { key: k.name, key_span: k.span, node });
            key = map.next_key_seed(KeySeed)?;
        }
        Ok(bare(Value::Table(entries)))
    }
}

fn expect_protocol_key<'de, A: MapAccess<'de>>(map: &mut A, want: &str) -> Result<(), A::Error> {
    match map.next_key_seed(KeySeed)? {
        Some(key) if key.name == want => Ok(()),
        _ => Err(de::Error::custom("unexpected span layout from the TOML parser")),
    }
}

struct Key {
    name: String,
    span: Option<Range<usize>>,
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key { name: v.to_owned(), span: None })
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        expect_plain_key(&mut map, SPANNED_START)?;
        let start: usize = map.next_value()?;
        expect_plain_key(&mut map, SPANNED_END)?;
        let end: usize = map.next_value()?;
        expect_plain_key(&mut map, SPANNED_VALUE)?;
        let name: String = map.next_value()?;
        Ok(Key { name, span: Some(start..end) })
    }
}

// Inside a spanned key the protocol keys are plain strings; reading them as `Key` would recurse.
fn expect_plain_key<'de, A: MapAccess<'de>>(map: &mut A, want: &str) -> Result<(), A::Error> {
    match map.next_key::<String>()? {
        Some(key) if key == want => Ok(()),
        _ => Err(de::Error::custom("unexpected span layout from the TOML parser")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_of(source: &str, span: &Option<Range<usize>>) -> usize {
        let start = span.clone().expect("span").start;
        source[..start].matches('\n').count() + 1
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Entry {
        match &node.value {
            Value::Table(entries) => entries.iter().find(|e| e.key == key).expect(key),
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn keeps_spans_of_keys_values_and_array_elements() {
        let source = "[organization]\nname = \"x\"\n\n[[purpose]]\nid = \"a\"\n\n[[purpose]]\nid = \"b\"\nlist = [\n  \"p\",\n  \"q\",\n]\n";
        let root = parse(source).unwrap();
        let name = get(&get(&root, "organization").node, "name");
        assert_eq!(line_of(source, &name.key_span), 2);
        assert_eq!(line_of(source, &name.node.span), 2);
        let Value::Array(purposes) = &get(&root, "purpose").node.value else { panic!("purpose is not an array") };
        assert_eq!(purposes.len(), 2);
        assert_eq!(line_of(source, &purposes[1].span), 7);
        let list = get(&purposes[1], "list");
        let Value::Array(items) = &list.node.value else { panic!("list is not an array") };
        assert_eq!(line_of(source, &items[1].span), 11);
    }

    #[test]
    fn reads_implicit_tables_dotted_keys_and_datetimes() {
        let source = "[server.tls]\ncert = \"a\"\n[[purpose]]\ntitle.en = \"x\"\ntitle.de = \"y\"\nwhen = 1979-05-27\n\"$__serde_spanned_private_start\" = 1\n";
        let root = parse(source).unwrap();
        let tls = get(&get(&root, "server").node, "tls");
        assert_eq!(line_of(source, &get(&tls.node, "cert").node.span), 2);
        let Value::Array(purposes) = &get(&root, "purpose").node.value else { panic!("purpose is not an array") };
        let title = get(&purposes[0], "title");
        assert_eq!(line_of(source, &get(&title.node, "de").node.span), 5);
        assert!(matches!(get(&purposes[0], "when").node.value, Value::Datetime(_)));
        assert!(matches!(get(&purposes[0], "$__serde_spanned_private_start").node.value, Value::Integer(1)));
    }

    #[test]
    fn syntax_errors_carry_a_span() {
        let err = parse("a = 1\nb = \n").unwrap_err();
        assert!(err.span().is_some());
    }
}
