//! Discount codes for unlocked benefits: unique per subject and benefit, stable across
//! sessions, and derived rather than stored, so there is no table of codes to keep in
//! step with consents or to erase.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::pseudonym::{Pid, Pseudonymizer};

/// Crockford's base32: no I, L, O or U, so a code read aloud or typed is not misread.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Derives benefit codes with a key of their own, taken from the pseudonym key.
#[derive(Clone)]
pub struct BenefitCodes {
    key: Zeroizing<[u8; 32]>,
}

impl BenefitCodes {
    /// The codes of this instance. The key is `HMAC(pseudonym_key, label)`: a code never
    /// equals (or reveals) a pid, and no new key file is needed.
    pub fn new(pseudonyms: &Pseudonymizer) -> BenefitCodes {
        let mut mac = Hmac::<Sha256>::new_from_slice(pseudonyms.key.as_ref()).expect("any key length");
        mac.update(b"candor benefit codes v1");
        BenefitCodes { key: Zeroizing::new(mac.finalize().into_bytes().into()) }
    }

    /// The code of `benefit` for `pid`, like `WELCOME10-7KQ3-P9XM`: the benefit id in
    /// capitals, then 40 bits of `HMAC(key, pid ‖ benefit)` in two groups of four.
    pub fn code(&self, pid: Pid, benefit: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.as_ref()).expect("any key length");
        mac.update(&pid.0);
        mac.update(benefit.as_bytes());
        let tag = mac.finalize().into_bytes();
        let bits = tag[..5].iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars: String = (0..8).map(|i| ALPHABET[((bits >> (35 - 5 * i)) & 31) as usize] as char).collect();
        format!("{}-{}-{}", benefit.to_ascii_uppercase(), &chars[..4], &chars[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_per_subject_and_benefit_and_keyed() {
        let a = BenefitCodes::new(&Pseudonymizer::new(&[1; 32]));
        let b = BenefitCodes::new(&Pseudonymizer::new(&[2; 32]));
        let (p1, p2) = (Pid([7; 32]), Pid([8; 32]));
        let code = a.code(p1, "welcome10");
        assert_eq!(code, a.code(p1, "welcome10"), "stable");
        assert_ne!(code, a.code(p2, "welcome10"), "unique per subject");
        assert_ne!(code, a.code(p1, "welcome20"), "unique per benefit");
        assert_ne!(code, b.code(p1, "welcome10"), "keyed by the instance");
        let (prefix, rest) = code.split_at("WELCOME10-".len());
        assert_eq!(prefix, "WELCOME10-");
        assert_eq!(rest.len(), 9);
        assert_eq!(&rest[4..5], "-");
        assert!(rest.chars().filter(|c| *c != '-').all(|c| ALPHABET.contains(&(c as u8))));
    }
}
