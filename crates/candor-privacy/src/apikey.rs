//! API key secrets. A key reads `cnd_<id>_<secret>`: the id finds the row, the secret is
//! stored only as its SHA-256 and compared in constant time. (The secret has 256 random
//! bits, so a fast hash is enough; a slow password hash would only slow every request.)

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A freshly made key: shown once, then only its hash is kept.
pub struct ApiKeySecret {
    /// Public lookup id (16 hex chars).
    pub id: String,
    /// The full key the caller must present.
    pub token: String,
    /// SHA-256 of the secret part.
    pub hash: [u8; 32],
}

/// A presented key split into its parts.
pub struct ParsedApiKey<'a> {
    /// The lookup id.
    pub id: &'a str,
    secret: &'a str,
}

impl ApiKeySecret {
    /// Makes a new random key.
    pub fn generate() -> ApiKeySecret {
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        OsRng.fill_bytes(&mut id);
        OsRng.fill_bytes(&mut secret);
        let id = hex::encode(id);
        let secret = B64.encode(secret);
        let hash = Sha256::digest(secret.as_bytes()).into();
        ApiKeySecret { token: format!("cnd_{id}_{secret}"), id, hash }
    }
}

impl<'a> ParsedApiKey<'a> {
    /// Splits a presented token; `None` if it is not of our form.
    pub fn parse(token: &'a str) -> Option<ParsedApiKey<'a>> {
        let rest = token.strip_prefix("cnd_")?;
        let (id, secret) = rest.split_once('_')?;
        let id_ok = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        (id_ok && secret.len() == 43).then_some(ParsedApiKey { id, secret })
    }

    /// Whether the secret matches a stored hash, in constant time.
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        let hash: [u8; 32] = Sha256::digest(self.secret.as_bytes()).into();
        hash.ct_eq(stored_hash).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_match_only_their_hash() {
        let key = ApiKeySecret::generate();
        let parsed = ParsedApiKey::parse(&key.token).unwrap();
        assert_eq!(parsed.id, key.id);
        assert!(parsed.matches(&key.hash));
        let other = ApiKeySecret::generate();
        assert!(!parsed.matches(&other.hash));
        assert!(!parsed.matches(&key.hash[..31]));
    }

    #[test]
    fn foreign_tokens_do_not_parse() {
        for token in ["", "cnd_", "cnd_zz_abc", "Bearer x", "cnd_0123456789abcdef_short"] {
            assert!(ParsedApiKey::parse(token).is_none(), "{token}");
        }
    }
}
