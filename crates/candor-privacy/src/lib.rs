//! candor's cryptography: the instance keys, pseudonyms, signed consent receipts,
//! API key secrets, the admin password and the tamper-evident audit chain.
//!
//! Nothing here touches the network or the database; the store and the server call in.

pub mod apikey;
pub mod audit;
pub mod benefit_code;
pub mod keys;
pub mod password;
pub mod pseudonym;
pub mod receipt;
pub mod sealing;

pub use apikey::{ApiKeySecret, ParsedApiKey};
pub use audit::{AuditChain, AuditEntry, AuditHead, ChainBreak, ChainVerifier, NewAuditEntry};
pub use benefit_code::BenefitCodes;
pub use keys::InstanceKeys;
pub use pseudonym::{Pid, Pseudonymizer};
pub use receipt::ReceiptSigner;
pub use sealing::SealingKey;

/// SHA-256 of `data`, as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}
