//! Pseudonyms: storage never holds an external subject id, only its keyed hash.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// A subject's pseudonymous id: `HMAC-SHA256(pseudonym_key, external_id)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub [u8; 32]);

impl Pid {
    /// The pid as lowercase hex (what receipts and the audit log show).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Reads a pid from its hex form ([`Pid::to_hex`]).
    pub fn from_hex(text: &str) -> Option<Pid> {
        hex::decode(text).ok().and_then(|bytes| Pid::from_slice(&bytes))
    }

    /// Reads a pid from its 32 stored bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Pid> {
        bytes.try_into().ok().map(Pid)
    }
}

impl std::fmt::Debug for Pid {
    // A short prefix is enough to tell pids apart in a debugger and reveals nothing.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pid({}…)", &self.to_hex()[..8])
    }
}

/// Computes pids with the instance's pseudonym key.
#[derive(Clone)]
pub struct Pseudonymizer {
    pub(crate) key: Zeroizing<[u8; 32]>,
}

impl Pseudonymizer {
    /// A pseudonymizer with this key.
    pub fn new(key: &[u8; 32]) -> Pseudonymizer {
        Pseudonymizer { key: Zeroizing::new(*key) }
    }

    /// The pid of a host's external subject id.
    pub fn pid(&self, external_id: &str) -> Pid {
        self.hash(b"subject\0", external_id.as_bytes())
    }

    /// The pid of a widget-made anonymous id. A separate domain so that an anonymous id
    /// can never collide with an external id of the same spelling.
    pub fn anonymous_pid(&self, anonymous_id: &str) -> Pid {
        self.hash(b"anonymous\0", anonymous_id.as_bytes())
    }

    /// A secret derived from the pseudonym key for one named use (`domain`), e.g. the key
    /// that seals subject ids waiting in the webhook outbox. Stable across master rotations.
    pub fn derive(&self, domain: &str) -> [u8; 32] {
        self.hash(b"derive\0", domain.as_bytes()).0
    }

    fn hash(&self, domain: &[u8], id: &[u8]) -> Pid {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(domain);
        mac.update(id);
        Pid(mac.finalize().into_bytes().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_is_keyed_and_domain_separated() {
        let a = Pseudonymizer::new(&[1; 32]);
        let b = Pseudonymizer::new(&[2; 32]);
        assert_eq!(a.pid("alice"), a.pid("alice"));
        assert_ne!(a.pid("alice"), b.pid("alice"));
        assert_ne!(a.pid("alice"), a.anonymous_pid("alice"));
        assert!(!format!("{:?}", a.pid("alice")).contains("alice"));
    }
}
