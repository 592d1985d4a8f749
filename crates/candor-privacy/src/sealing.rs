//! Sealing at rest: every trait and event value is encrypted with its subject's data key.
//!
//! Three layers, so that erasing one subject is final even against an old copy of the
//! database: a random 256-bit key per subject, wrapped by one of 256 bucket keys (the
//! subject's bucket is the first byte of its pid), each wrapped by the master key. Erasing a
//! subject deletes its key, gives its bucket a new key (re-wrapping the bucket's other
//! subjects) and replaces the master key, so the wrapped keys in an old copy can no longer
//! be opened with the keys that remain. All layers use XChaCha20-Poly1305 with a random
//! 192-bit nonce and associated data that binds the ciphertext to where it belongs.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

/// A sealed value could not be opened: wrong key, wrong place, or altered bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("sealed data does not open with this key and context")]
pub struct OpenError;

/// A 256-bit XChaCha20-Poly1305 key (subject, bucket or master).
#[derive(Clone)]
pub struct SealingKey {
    bytes: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
}

impl SealingKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SealingKey {
        SealingKey { bytes: Zeroizing::new(*bytes), cipher: XChaCha20Poly1305::new(bytes.into()) }
    }

    /// A fresh random key.
    pub fn generate() -> SealingKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        SealingKey::from_bytes(&bytes)
    }

    /// A short public identifier of this key (never reveals the key): which master key
    /// wrapped a row, so several processes can tell an old master from the current one.
    pub fn kid(&self) -> String {
        let digest = Sha256::new().chain_update(b"candor/kid\0").chain_update(self.bytes.as_ref()).finalize();
        hex::encode(&digest[..8])
    }

    /// Encrypts `plaintext`, bound to `aad`: `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        // A 192-bit random nonce never repeats in practice; the thread-local CSPRNG (ChaCha,
        // seeded and reseeded from the OS) spares a system call per value sealed.
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`SealingKey::seal`] produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad }).map_err(|_| OpenError)
    }

    /// Wraps another key under this one.
    pub fn wrap(&self, aad: &[u8], key: &SealingKey) -> Vec<u8> {
        self.seal(aad, key.bytes.as_ref())
    }

    /// Unwraps a key wrapped by [`SealingKey::wrap`].
    pub fn unwrap_key(&self, aad: &[u8], wrapped: &[u8]) -> Result<SealingKey, OpenError> {
        let bytes = Zeroizing::new(self.open(aad, wrapped)?);
        let array: &[u8; 32] = bytes.as_slice().try_into().map_err(|_| OpenError)?;
        Ok(SealingKey::from_bytes(array))
    }

    /// The raw key bytes (to write a key file).
    pub fn expose(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealingKey({})", self.kid())
    }
}

/// The bucket (0–255) whose key wraps a subject's key.
pub fn bucket_of(pid: &crate::Pid) -> u8 {
    pid.0[0]
}

/// Associated data of a bucket key wrapped by the master key.
pub fn bucket_aad(bucket: u8) -> Vec<u8> {
    format!("candor/bucket/{bucket}").into_bytes()
}

/// Associated data of a subject key wrapped by its bucket key.
pub fn subject_aad(pid: &crate::Pid) -> Vec<u8> {
    let mut aad = b"candor/subject/".to_vec();
    aad.extend_from_slice(&pid.0);
    aad
}

/// Associated data of one trait value: the subject and the field.
pub fn trait_aad(pid: &crate::Pid, field: &str) -> Vec<u8> {
    let mut aad = b"candor/trait/".to_vec();
    aad.extend_from_slice(&pid.0);
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Associated data of one event: the subject, the event id (the record) and the names of
/// the fields it holds, so a row cannot be moved to another subject or relabelled.
pub fn event_aad(pid: &crate::Pid, event_id: &[u8; 16], fields: &str) -> Vec<u8> {
    let mut aad = b"candor/event/".to_vec();
    aad.extend_from_slice(&pid.0);
    aad.extend_from_slice(event_id);
    aad.extend_from_slice(fields.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pid;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"here", b"alice@example.com");
        assert!(!sealed.windows(5).any(|w| w == b"alice"));
        assert_eq!(key.open(b"here", &sealed).unwrap(), b"alice@example.com");
        assert_eq!(key.open(b"there", &sealed), Err(OpenError));
        assert_eq!(SealingKey::generate().open(b"here", &sealed), Err(OpenError));
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(key.open(b"here", &altered), Err(OpenError));
        assert_eq!(key.open(b"here", &sealed[..10]), Err(OpenError));
        assert_ne!(key.seal(b"here", b"x"), key.seal(b"here", b"x"), "nonces are random");
    }

    #[test]
    fn wrapped_keys_unwrap_to_the_same_key() {
        let master = SealingKey::generate();
        let subject = SealingKey::generate();
        let pid = Pid([7; 32]);
        let wrapped = master.wrap(&subject_aad(&pid), &subject);
        let back = master.unwrap_key(&subject_aad(&pid), &wrapped).unwrap();
        assert_eq!(back.expose(), subject.expose());
        assert!(master.unwrap_key(&subject_aad(&Pid([8; 32])), &wrapped).is_err());
        assert_ne!(master.kid(), subject.kid());
        assert_eq!(master.kid(), SealingKey::from_bytes(master.expose()).kid());
    }
}
