//! The audit chain: every entry carries the hash of the one before it, and the newest
//! (the head) is signed with the instance key, so changing, deleting, reordering or
//! truncating entries is detected by [`AuditChain::verify`].

use sha2::{Digest, Sha256};

use crate::receipt::ReceiptSigner;

/// One audit entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// Who: `key:<id>`, `admin`, `cli`, `public`, `system`.
    pub actor: String,
    /// What, e.g. `consent.recorded`, `key.created`, `notice.published`.
    pub action: String,
    /// The subject concerned, as a pid in hex, if any.
    pub subject: Option<String>,
    /// Details as a JSON text, hashed exactly as stored.
    pub detail: String,
    /// Hash of the previous entry (zeros for the first).
    pub prev_hash: [u8; 32],
    /// Hash of this entry.
    pub hash: [u8; 32],
}

/// The signed newest position of the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditHead {
    /// Sequence number of the newest entry (0 when empty).
    pub seq: i64,
    /// Its hash.
    pub hash: [u8; 32],
    /// Ed25519 signature over both.
    pub signature: Vec<u8>,
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("audit entry {seq}: {reason}")]
pub struct ChainBreak {
    /// The first bad entry (or the position where one is missing).
    pub seq: i64,
    /// What is wrong, in words.
    pub reason: String,
}

/// Builds and checks chain hashes with the instance signing key.
pub struct AuditChain<'a> {
    signer: &'a ReceiptSigner,
}

/// A new entry before it is chained.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The subject's pid in hex, if any.
    pub subject: Option<String>,
    /// Details as JSON text.
    pub detail: String,
}

impl<'a> AuditChain<'a> {
    /// A chain signed by `signer`.
    pub fn new(signer: &'a ReceiptSigner) -> AuditChain<'a> {
        AuditChain { signer }
    }

    /// Appends `entries` after `head`, returning the chained entries and the new signed head.
    pub fn extend(&self, head: (i64, [u8; 32]), entries: Vec<NewAuditEntry>) -> (Vec<AuditEntry>, AuditHead) {
        let (mut seq, mut prev) = head;
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            seq += 1;
            let hash = entry_hash(seq, e.at_ms, &e.actor, &e.action, e.subject.as_deref(), &e.detail, &prev);
            out.push(AuditEntry {
                seq,
                at_ms: e.at_ms,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                detail: e.detail,
                prev_hash: prev,
                hash,
            });
            prev = hash;
        }
        (out, self.sign_head(seq, prev))
    }

    /// Signs a head position.
    pub fn sign_head(&self, seq: i64, hash: [u8; 32]) -> AuditHead {
        AuditHead { seq, hash, signature: self.signer.sign_detached(&head_message(seq, &hash)).to_vec() }
    }

    /// Checks entries given in `seq` order against each other and against the signed head.
    /// Returns the number of entries checked.
    pub fn verify(
        &self,
        entries: impl IntoIterator<Item = AuditEntry>,
        head: Option<&AuditHead>,
    ) -> Result<i64, ChainBreak> {
        let mut verifier = self.verifier();
        for e in entries {
            verifier.push(&e)?;
        }
        verifier.finish(head)
    }

    /// An incremental verifier, for logs too large to hold in memory.
    pub fn verifier(&self) -> ChainVerifier<'_> {
        ChainVerifier { signer: self.signer, last_seq: 0, last_hash: [0; 32] }
    }
}

/// Checks a chain one entry at a time (see [`AuditChain::verify`]).
pub struct ChainVerifier<'a> {
    signer: &'a ReceiptSigner,
    last_seq: i64,
    last_hash: [u8; 32],
}

impl ChainVerifier<'_> {
    /// Checks the next entry (entries must come in `seq` order).
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let expected = self.last_seq + 1;
        if e.seq != expected {
            let reason = if e.seq > expected {
                format!("entries {expected}..{} are missing", e.seq - 1)
            } else {
                "is out of order".to_string()
            };
            return Err(ChainBreak { seq: e.seq.min(expected), reason });
        }
        if e.prev_hash != self.last_hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "does not follow the previous entry (deleted, inserted or reordered)".into(),
            });
        }
        let hash = entry_hash(e.seq, e.at_ms, &e.actor, &e.action, e.subject.as_deref(), &e.detail, &e.prev_hash);
        if hash != e.hash {
            return Err(ChainBreak { seq: e.seq, reason: "its content was changed".into() });
        }
        (self.last_seq, self.last_hash) = (e.seq, e.hash);
        Ok(())
    }

    /// Checks the end of the chain against the signed head; returns the entry count.
    pub fn finish(self, head: Option<&AuditHead>) -> Result<i64, ChainBreak> {
        let (last_seq, last_hash) = (self.last_seq, self.last_hash);
        let Some(head) = head else {
            return if last_seq == 0 {
                Ok(0)
            } else {
                Err(ChainBreak { seq: last_seq, reason: "the signed head is missing".into() })
            };
        };
        if !self.signer.verify_detached(&head_message(head.seq, &head.hash), &head.signature) {
            return Err(ChainBreak { seq: head.seq, reason: "the head signature is invalid".into() });
        }
        if head.seq != last_seq || head.hash != last_hash {
            let seq = head.seq.min(last_seq + 1);
            return Err(ChainBreak {
                seq: seq.max(1),
                reason: format!("the chain ends at {last_seq} but the signed head is at {}", head.seq),
            });
        }
        Ok(last_seq)
    }
}

fn head_message(seq: i64, hash: &[u8; 32]) -> Vec<u8> {
    let mut m = b"candor-audit-head-v1\0".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m
}

fn entry_hash(
    seq: i64,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: Option<&str>,
    detail: &str,
    prev: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"candor-audit-v1\0");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    // Length prefixes keep field boundaries unambiguous.
    for part in [actor, action, subject.unwrap_or("\u{0}none"), detail] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn entries(n: usize) -> Vec<NewAuditEntry> {
        (0..n)
            .map(|i| NewAuditEntry {
                at_ms: 1_000 + i as i64,
                actor: "cli".into(),
                action: "test.entry".into(),
                subject: None,
                detail: format!("{{\"i\":{i}}}"),
            })
            .collect()
    }

    #[test]
    fn intact_chain_verifies_and_each_kind_of_tampering_is_named() {
        let signer = ReceiptSigner::new(SigningKey::from_bytes(&[3; 32]));
        let chain = AuditChain::new(&signer);
        let (first, head) = chain.extend((0, [0; 32]), entries(3));
        let (more, head) = chain.extend((head.seq, head.hash), entries(2));
        let all: Vec<_> = first.into_iter().chain(more).collect();
        assert_eq!(chain.verify(all.clone(), Some(&head)), Ok(5));

        let mut changed = all.clone();
        changed[2].detail = "{\"i\":99}".into();
        assert_eq!(chain.verify(changed, Some(&head)).unwrap_err().seq, 3);

        let mut deleted = all.clone();
        deleted.remove(1);
        assert_eq!(chain.verify(deleted, Some(&head)).unwrap_err().seq, 2);

        let mut reordered = all.clone();
        reordered.swap(1, 2);
        (reordered[1].seq, reordered[2].seq) = (2, 3);
        assert_eq!(chain.verify(reordered, Some(&head)).unwrap_err().seq, 2);

        let truncated = all[..4].to_vec();
        assert_eq!(chain.verify(truncated, Some(&head)).unwrap_err().seq, 5);

        let mut forged_head = head.clone();
        forged_head.seq = 4;
        assert!(chain.verify(all.clone(), Some(&forged_head)).is_err());
        assert!(chain.verify(all, None).is_err());
    }
}
