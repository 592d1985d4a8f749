//! Signed documents: consent receipts and erasure certificates as compact JWS
//! (RFC 7515, `alg: EdDSA`, Ed25519), and the public key as a JWK (RFC 8037).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Signs documents with the instance's Ed25519 key.
#[derive(Clone)]
pub struct ReceiptSigner {
    key: SigningKey,
    kid: String,
}

/// Why a JWS did not verify.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JwsError {
    /// Not three base64url parts.
    #[error("not a compact JWS")]
    Malformed,
    /// The header is not EdDSA with our key id.
    #[error("unexpected JWS header")]
    Header,
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
}

impl ReceiptSigner {
    /// A signer with this key.
    pub fn new(key: SigningKey) -> ReceiptSigner {
        let kid = thumbprint(&key.verifying_key());
        ReceiptSigner { key, kid }
    }

    /// The key id: the RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, for anyone to verify receipts.
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": B64.encode(self.key.verifying_key().as_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }

    /// Signs the JSON form of `payload` as a compact JWS.
    pub fn sign<T: Serialize>(&self, payload: &T) -> String {
        let payload = serde_json::to_vec(payload).expect("payload serializes");
        self.sign_bytes(&payload)
    }

    /// Signs raw bytes as a compact JWS.
    pub fn sign_bytes(&self, payload: &[u8]) -> String {
        let header = serde_json::json!({"alg": "EdDSA", "kid": self.kid, "typ": "JOSE"});
        let signing_input =
            format!("{}.{}", B64.encode(serde_json::to_vec(&header).expect("header serializes")), B64.encode(payload));
        let signature = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(signature.to_bytes()))
    }

    /// Verifies a compact JWS made by this key and returns its payload.
    pub fn verify(&self, jws: &str) -> Result<Vec<u8>, JwsError> {
        verify_with(&self.key.verifying_key(), jws)
    }

    /// Signs arbitrary bytes (detached), e.g. an audit head.
    pub fn sign_detached(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }

    /// Checks a detached signature made by [`ReceiptSigner::sign_detached`].
    pub fn verify_detached(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 64]>::try_from(signature) else { return false };
        self.key.verifying_key().verify(message, &Signature::from_bytes(&bytes)).is_ok()
    }
}

/// Verifies a compact EdDSA JWS with a public key and returns its payload.
pub fn verify_with(key: &VerifyingKey, jws: &str) -> Result<Vec<u8>, JwsError> {
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed);
    };
    let header_json: serde_json::Value = serde_json::from_slice(&B64.decode(header).map_err(|_| JwsError::Malformed)?)
        .map_err(|_| JwsError::Malformed)?;
    if header_json["alg"] != "EdDSA" {
        return Err(JwsError::Header);
    }
    let signature: [u8; 64] =
        B64.decode(signature).map_err(|_| JwsError::Malformed)?.try_into().map_err(|_| JwsError::Malformed)?;
    let signing_input = &jws[..header.len() + 1 + payload.len()];
    key.verify(signing_input.as_bytes(), &Signature::from_bytes(&signature)).map_err(|_| JwsError::Signature)?;
    B64.decode(payload).map_err(|_| JwsError::Malformed)
}

fn thumbprint(key: &VerifyingKey) -> String {
    // RFC 7638: the required members in lexicographic order, no whitespace.
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(key.as_bytes()));
    B64.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> ReceiptSigner {
        ReceiptSigner::new(SigningKey::from_bytes(&[7; 32]))
    }

    #[test]
    fn signed_payload_verifies_and_tampering_is_caught() {
        let s = signer();
        let jws = s.sign(&serde_json::json!({"purpose": "newsletter", "state": "granted"}));
        let payload = s.verify(&jws).unwrap();
        assert_eq!(payload, br#"{"purpose":"newsletter","state":"granted"}"#);

        let parts: Vec<&str> = jws.split('.').collect();
        let forged =
            format!("{}.{}.{}", parts[0], B64.encode(br#"{"purpose":"newsletter","state":"denied"}"#), parts[2]);
        assert_eq!(s.verify(&forged), Err(JwsError::Signature));
        assert_eq!(s.verify("a.b"), Err(JwsError::Malformed));
        let other = ReceiptSigner::new(SigningKey::from_bytes(&[8; 32]));
        assert_eq!(other.verify(&jws), Err(JwsError::Signature));
    }

    #[test]
    fn jwk_names_the_key_id() {
        let s = signer();
        let jwk = s.jwk();
        assert_eq!(jwk["kid"], s.kid());
        assert_eq!(jwk["crv"], "Ed25519");
    }

    #[test]
    fn detached_signatures() {
        let s = signer();
        let sig = s.sign_detached(b"head");
        assert!(s.verify_detached(b"head", &sig));
        assert!(!s.verify_detached(b"head2", &sig));
        assert!(!s.verify_detached(b"head", &sig[..10]));
    }
}
