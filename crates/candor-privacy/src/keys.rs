//! The instance's secret keys, kept as files in `DIR/keys/` (mode 0600).
//!
//! - `master.key`: wraps every subject data key (can come from `CANDOR_MASTER_KEY`).
//! - `pseudonym.key`: turns external subject ids into pids.
//! - `signing.key`: Ed25519 seed that signs receipts, erasure certificates and audit heads.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use rand::RngCore;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

/// Why keys could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file or variable does not hold 32 base64 bytes.
    #[error("{what} is not a base64-encoded 32-byte key")]
    Malformed {
        /// Which key.
        what: String,
    },
    /// The keys folder is missing (the instance was never initialised).
    #[error("no keys in {0}; run `candor init` first")]
    Missing(PathBuf),
}

/// The three instance keys.
pub struct InstanceKeys {
    /// Wraps subject data keys.
    pub master: Zeroizing<[u8; 32]>,
    /// Key of the pseudonym HMAC.
    pub pseudonym: Zeroizing<[u8; 32]>,
    /// Signs receipts, certificates and audit heads.
    pub signing: SigningKey,
}

const FILES: [&str; 3] = ["master.key", "pseudonym.key", "signing.key"];
const NEXT_MASTER: &str = "master.key.next";

impl InstanceKeys {
    /// The keys folder of an instance directory.
    pub fn dir(instance: &Path) -> PathBuf {
        instance.join("keys")
    }

    /// Loads the keys of `instance`, creating any that are missing (as `candor init` does).
    /// Returns the keys and whether any file was created.
    pub fn load_or_create(instance: &Path) -> Result<(InstanceKeys, bool), KeyError> {
        let dir = Self::dir(instance);
        fs::create_dir_all(&dir).map_err(|source| KeyError::Io { path: dir.clone(), source })?;
        set_mode(&dir, 0o700)?;
        let mut created = false;
        for name in FILES {
            let path = dir.join(name);
            if !path.exists() {
                let mut bytes = Zeroizing::new([0u8; 32]);
                OsRng.fill_bytes(bytes.as_mut());
                write_secret(&path, &bytes)?;
                created = true;
            }
        }
        Ok((Self::load(instance)?, created))
    }

    /// Loads existing keys; `CANDOR_MASTER_KEY` (base64) overrides `master.key`.
    pub fn load(instance: &Path) -> Result<InstanceKeys, KeyError> {
        let dir = Self::dir(instance);
        if !dir.is_dir() {
            return Err(KeyError::Missing(dir));
        }
        let master = match std::env::var("CANDOR_MASTER_KEY") {
            Ok(text) if !text.is_empty() => decode(&text, "CANDOR_MASTER_KEY")?,
            _ => read_secret(&dir.join("master.key"))?,
        };
        let pseudonym = read_secret(&dir.join("pseudonym.key"))?;
        let seed = read_secret(&dir.join("signing.key"))?;
        Ok(InstanceKeys { master, pseudonym, signing: SigningKey::from_bytes(&seed) })
    }

    /// Whether the master key comes from `CANDOR_MASTER_KEY` (then candor cannot replace it).
    pub fn master_from_env() -> bool {
        std::env::var("CANDOR_MASTER_KEY").is_ok_and(|v| !v.is_empty())
    }

    /// The master keys an instance holds: `master.key` (or `CANDOR_MASTER_KEY`) and, while a
    /// rotation is in flight, `master.key.next`. Rows name the key that wrapped them, so a
    /// reader picks the right one whichever side of a rotation it is on.
    pub fn master_keys(instance: &Path) -> Result<Vec<Zeroizing<[u8; 32]>>, KeyError> {
        let dir = Self::dir(instance);
        let mut keys = vec![Self::load(instance)?.master];
        let next = dir.join(NEXT_MASTER);
        if !Self::master_from_env() && next.exists() {
            keys.push(read_secret(&next)?);
        }
        Ok(keys)
    }

    /// First step of a master key rotation: writes the new key to `master.key.next`
    /// (durably) before any row is wrapped with it.
    pub fn stage_master(instance: &Path, key: &[u8; 32]) -> Result<(), KeyError> {
        let path = Self::dir(instance).join(NEXT_MASTER);
        let _ = fs::remove_file(&path);
        write_secret(&path, key)
    }

    /// Last step of a rotation, once every row is wrapped with the staged key: it replaces
    /// `master.key`, and the old master key is gone.
    pub fn promote_master(instance: &Path) -> Result<(), KeyError> {
        let dir = Self::dir(instance);
        let next = dir.join(NEXT_MASTER);
        fs::rename(&next, dir.join("master.key")).map_err(|source| KeyError::Io { path: next, source })?;
        fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|source| KeyError::Io { path: dir, source })
    }

    /// Abandons a staged master key that no row uses (a rotation that did not commit).
    pub fn discard_staged_master(instance: &Path) -> Result<(), KeyError> {
        let path = Self::dir(instance).join(NEXT_MASTER);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(KeyError::Io { path, source: e }),
            _ => Ok(()),
        }
    }

    /// Keys made from fixed bytes, for tests and benchmarks that need no files.
    pub fn from_seed(seed: u8) -> InstanceKeys {
        InstanceKeys {
            master: Zeroizing::new([seed; 32]),
            pseudonym: Zeroizing::new([seed.wrapping_add(1); 32]),
            signing: SigningKey::from_bytes(&[seed.wrapping_add(2); 32]),
        }
    }
}

fn decode(text: &str, what: &str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bytes = Zeroizing::new(STANDARD.decode(text.trim()).map_err(|_| KeyError::Malformed { what: what.into() })?);
    let array: [u8; 32] = bytes.as_slice().try_into().map_err(|_| KeyError::Malformed { what: what.into() })?;
    Ok(Zeroizing::new(array))
}

fn read_secret(path: &Path) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.into(), source })?);
    decode(&text, &path.display().to_string())
}

/// Writes a key file readable by its owner only, created with that mode so it is never
/// briefly world-readable.
fn write_secret(path: &Path, bytes: &[u8; 32]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.into(), source };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    let text = Zeroizing::new(STANDARD.encode(bytes));
    file.write_all(text.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)?;
    set_mode(path, 0o600)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(|source| KeyError::Io { path: path.into(), source })?;
    }
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_keys_are_private_and_reload_identically() {
        let dir = tempfile::tempdir().unwrap();
        let (first, created) = InstanceKeys::load_or_create(dir.path()).unwrap();
        assert!(created);
        let (second, created) = InstanceKeys::load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(*first.pseudonym, *second.pseudonym);
        assert_eq!(first.signing.to_bytes(), second.signing.to_bytes());
        #[cfg(unix)]
        for name in FILES {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(InstanceKeys::dir(dir.path()).join(name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn a_staged_master_is_seen_until_promoted_and_then_replaces_the_old_one() {
        let dir = tempfile::tempdir().unwrap();
        let (keys, _) = InstanceKeys::load_or_create(dir.path()).unwrap();
        let old = *keys.master;
        assert_eq!(InstanceKeys::master_keys(dir.path()).unwrap().len(), 1);
        InstanceKeys::stage_master(dir.path(), &[9; 32]).unwrap();
        let both = InstanceKeys::master_keys(dir.path()).unwrap();
        assert_eq!((*both[0], *both[1]), (old, [9; 32]));
        InstanceKeys::promote_master(dir.path()).unwrap();
        let after = InstanceKeys::master_keys(dir.path()).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(*after[0], [9; 32]);
        InstanceKeys::stage_master(dir.path(), &[10; 32]).unwrap();
        InstanceKeys::discard_staged_master(dir.path()).unwrap();
        assert_eq!(*InstanceKeys::master_keys(dir.path()).unwrap()[0], [9; 32]);
    }

    #[test]
    fn missing_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(InstanceKeys::load(dir.path()), Err(KeyError::Missing(_))));
    }
}
