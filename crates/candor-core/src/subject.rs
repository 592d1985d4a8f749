//! Subject identifiers as they arrive from outside, validated once.

use std::fmt;

/// A host's external id for a person: 1–256 bytes of UTF-8 without control characters.
/// Only ever used to compute a pid; never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectId(String);

/// A widget-made anonymous visitor id: 22–64 characters of `[A-Za-z0-9_-]`, random and
/// unguessable (the widget uses 128 random bits or more).
#[derive(Clone, PartialEq, Eq)]
pub struct AnonymousId(String);

/// Why an id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdError {
    /// Empty.
    Empty,
    /// Longer than allowed.
    TooLong,
    /// Contains a control character (or, for anonymous ids, a character outside the set).
    BadCharacter,
    /// Shorter than allowed (anonymous ids only).
    TooShort,
}

impl IdError {
    /// A stable machine reason for API errors.
    pub fn reason(self) -> &'static str {
        match self {
            IdError::Empty => "empty",
            IdError::TooLong => "too_long",
            IdError::BadCharacter => "bad_character",
            IdError::TooShort => "too_short",
        }
    }
}

impl SubjectId {
    /// Validates an external id.
    pub fn parse(raw: &str) -> Result<SubjectId, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        if raw.len() > 256 {
            return Err(IdError::TooLong);
        }
        if raw.chars().any(char::is_control) {
            return Err(IdError::BadCharacter);
        }
        Ok(SubjectId(raw.to_owned()))
    }

    /// The id itself (to compute a pid).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl AnonymousId {
    /// Validates an anonymous id.
    pub fn parse(raw: &str) -> Result<AnonymousId, IdError> {
        if raw.is_empty() {
            return Err(IdError::Empty);
        }
        if raw.len() < 22 {
            return Err(IdError::TooShort);
        }
        if raw.len() > 64 {
            return Err(IdError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(IdError::BadCharacter);
        }
        Ok(AnonymousId(raw.to_owned()))
    }

    /// The id itself (to compute a pid).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

// Never print the ids themselves: they identify people.
impl fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubjectId(…)")
    }
}

impl fmt::Debug for AnonymousId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnonymousId(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn subject_id_limits() {
        assert!(SubjectId::parse("customer-42").is_ok());
        assert!(SubjectId::parse("Zoë ✓").is_ok());
        assert_eq!(SubjectId::parse(""), Err(IdError::Empty));
        assert_eq!(SubjectId::parse(&"x".repeat(257)), Err(IdError::TooLong));
        assert!(SubjectId::parse(&"x".repeat(256)).is_ok());
        assert_eq!(SubjectId::parse("a\nb"), Err(IdError::BadCharacter));
        assert_eq!(SubjectId::parse("a\u{7f}"), Err(IdError::BadCharacter));
        assert!(!format!("{:?}", SubjectId::parse("secret").unwrap()).contains("secret"));
    }

    #[test]
    fn anonymous_id_limits() {
        assert!(AnonymousId::parse("abcdefghijklmnopqrstuv").is_ok());
        assert_eq!(AnonymousId::parse("short"), Err(IdError::TooShort));
        assert_eq!(AnonymousId::parse(&"a".repeat(65)), Err(IdError::TooLong));
        assert_eq!(AnonymousId::parse("abcdefghijklmnopqrstu!"), Err(IdError::BadCharacter));
    }

    proptest! {
        #[test]
        fn parse_accepts_exactly_the_valid_ids(raw in "\\PC{0,300}|[\\x00-\\x20]{1,5}") {
            let valid = !raw.is_empty() && raw.len() <= 256 && !raw.chars().any(char::is_control);
            prop_assert_eq!(SubjectId::parse(&raw).is_ok(), valid);
        }
    }
}
