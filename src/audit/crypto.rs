//! Encryption at rest: AES-256-GCM with a random 96-bit nonce per record, and key files that
//! carry a key id so keys can rotate while old records stay readable.
//!
//! A key file is JSON: `{"id": "20261103-1a2b3c4d", "created": "<RFC 3339>", "key": "<base64 of
//! 32 random bytes>"}`. The same text can be handed in an environment variable.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use aes_gcm::aead::{Aead, Generate, KeyInit, Nonce, Payload};
use aes_gcm::Aes256Gcm;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::{format_time, hex};

/// The rotation period the shipped packs demand of others' keys, applied to our own.
pub const DEFAULT_MAX_KEY_AGE_DAYS: u32 = 90;

/// Why a key could not be loaded, made or used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("key file {path}: cannot {action}")]
    Io {
        /// The file.
        path: PathBuf,
        /// `read`, `write`, `list`.
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not a key file.
    #[error("key {origin}: not a celgate audit key (expected {{\"id\", \"created\", \"key\"}})")]
    Parse {
        /// File path or environment variable.
        origin: String,
        /// Where the JSON is wrong.
        #[source]
        source: serde_json::Error,
    },
    /// The key material is not 32 bytes of base64.
    #[error("key {origin}: field \"key\" must be 32 bytes in base64, {problem}")]
    Material {
        /// File path or environment variable.
        origin: String,
        /// What is wrong.
        problem: String,
    },
    /// The id is empty or has characters other than letters, digits, `.`, `_`, `-`.
    #[error("key {origin}: field \"id\" {id:?} must be letters, digits, '.', '_' or '-'")]
    Id {
        /// File path or environment variable.
        origin: String,
        /// The id.
        id: String,
    },
    /// The environment variable that should hold the key is not set.
    #[error("environment variable {0} (audit.encryption.keyEnv) is not set or not UTF-8")]
    EnvMissing(String),
    /// Two different keys with the same id were given.
    #[error("key id {id:?} is given twice with different keys ({first} and {second})")]
    Duplicate {
        /// The id.
        id: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// The operating system's random source failed.
    #[error("no random bytes from the operating system")]
    Random,
    /// Encryption failed.
    #[error("cannot encrypt with key {0}")]
    Encrypt(String),
    /// A record's nonce or ciphertext is not base64 of the right size.
    #[error("encrypted record is malformed ({0})")]
    Malformed(&'static str),
    /// Decryption failed: another key with the same id, or the record was altered.
    #[error("cannot decrypt with key {0}: wrong key for this id, or the record was altered")]
    Decrypt(String),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    id: String,
    #[serde(default)]
    created: Option<String>,
    key: String,
}

/// One AES-256 key with its id.
#[derive(Clone)]
pub struct AuditKey {
    id: String,
    created: Option<String>,
    key: [u8; 32],
    origin: String,
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey")
            .field("id", &self.id)
            .field("created", &self.created)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// A new random key created at `now`; its id is the date and the first 8 hex digits of the
    /// key's SHA-256 (so the id never reveals the key and two keys never share an id by chance).
    pub fn generate(now: SystemTime) -> Result<Self, KeyError> {
        let material = aes_gcm::Key::<Aes256Gcm>::try_generate().map_err(|_| KeyError::Random)?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&material);
        let fingerprint = hex(&Sha256::digest(key));
        let date = chrono::DateTime::<chrono::Utc>::from(now).format("%Y%m%d");
        Ok(AuditKey {
            id: format!("{date}-{}", &fingerprint[..8]),
            created: Some(format_time(now)),
            key,
            origin: "generated".to_owned(),
        })
    }

    /// Reads a key file.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            action: "read",
            source,
        })?;
        Self::from_text(&text, &path.display().to_string())
    }

    /// Reads the key held in environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let text = std::env::var(var).map_err(|_| KeyError::EnvMissing(var.to_owned()))?;
        Self::from_text(&text, &format!("${var}"))
    }

    /// Parses key-file text; `origin` names where it came from in errors.
    pub fn from_text(text: &str, origin: &str) -> Result<Self, KeyError> {
        let file: KeyFile = serde_json::from_str(text).map_err(|source| KeyError::Parse {
            origin: origin.to_owned(),
            source,
        })?;
        if file.id.is_empty() || !file.id.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(KeyError::Id {
                origin: origin.to_owned(),
                id: file.id,
            });
        }
        let material = B64.decode(file.key.trim()).map_err(|e| KeyError::Material {
            origin: origin.to_owned(),
            problem: format!("not base64 ({e})"),
        })?;
        let key: [u8; 32] = material.as_slice().try_into().map_err(|_| KeyError::Material {
            origin: origin.to_owned(),
            problem: format!("got {} bytes", material.len()),
        })?;
        Ok(AuditKey {
            id: file.id,
            created: file.created,
            key,
            origin: origin.to_owned(),
        })
    }

    /// The key file's text.
    pub fn to_text(&self) -> String {
        let file = KeyFile {
            id: self.id.clone(),
            created: self.created.clone(),
            key: B64.encode(self.key),
        };
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the key as `<dir>/<id>.key`, readable by its owner only, never over an existing
    /// file; returns the path.
    pub fn write_new(&self, dir: &Path) -> Result<PathBuf, KeyError> {
        use std::io::Write as _;
        let path = dir.join(format!("{}.key", self.id));
        let io = |action, source| KeyError::Io {
            path: path.clone(),
            action,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("create its folder", e))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(|e| io("create", e))?;
        file.write_all(self.to_text().as_bytes()).map_err(|e| io("write", e))?;
        file.sync_all().map_err(|e| io("fsync", e))?;
        Ok(path)
    }

    /// The key id written in every record it encrypts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Where the key came from (file path, `$VAR`).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Whole days since the key was created, when the key file says.
    pub fn age_days(&self, now: SystemTime) -> Option<i64> {
        let created = chrono::DateTime::parse_from_rfc3339(self.created.as_deref()?).ok()?;
        Some((chrono::DateTime::<chrono::Utc>::from(now) - created.with_timezone(&chrono::Utc)).num_days())
    }

    /// Encrypts `plaintext` bound to `aad` with a fresh random nonce; returns (nonce, ciphertext)
    /// in base64.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<(String, String), KeyError> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Nonce::<Aes256Gcm>::try_generate().map_err(|_| KeyError::Random)?;
        let ciphertext = cipher
            .encrypt(&nonce, Payload { msg: plaintext, aad })
            .map_err(|_| KeyError::Encrypt(self.id.clone()))?;
        Ok((B64.encode(nonce), B64.encode(ciphertext)))
    }

    /// Decrypts what [`AuditKey::seal`] made.
    pub fn open(&self, aad: &[u8], nonce: &str, ciphertext: &str) -> Result<Vec<u8>, KeyError> {
        let nonce = B64
            .decode(nonce)
            .map_err(|_| KeyError::Malformed("nonce is not base64"))?;
        let nonce =
            Nonce::<Aes256Gcm>::try_from(nonce.as_slice()).map_err(|_| KeyError::Malformed("nonce is not 96 bits"))?;
        let ciphertext = B64
            .decode(ciphertext)
            .map_err(|_| KeyError::Malformed("ciphertext is not base64"))?;
        Aes256Gcm::new(&self.key.into())
            .decrypt(&nonce, Payload { msg: &ciphertext, aad })
            .map_err(|_| KeyError::Decrypt(self.id.clone()))
    }
}

/// The keys `show` may decrypt with, by id.
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    keys: BTreeMap<String, AuditKey>,
}

impl Keyring {
    /// Adds a key; the same id twice is an error unless it is the same key.
    pub fn add(&mut self, key: AuditKey) -> Result<(), KeyError> {
        if let Some(existing) = self.keys.get(&key.id) {
            if existing.key != key.key {
                return Err(KeyError::Duplicate {
                    id: key.id,
                    first: existing.origin.clone(),
                    second: key.origin,
                });
            }
            return Ok(());
        }
        self.keys.insert(key.id.clone(), key);
        Ok(())
    }

    /// Adds every `*.key` file of `dir`.
    pub fn add_dir(&mut self, dir: &Path) -> Result<(), KeyError> {
        let entries = std::fs::read_dir(dir).map_err(|source| KeyError::Io {
            path: dir.to_owned(),
            action: "list",
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "key") && p.is_file())
            .collect();
        paths.sort();
        for path in paths {
            self.add(AuditKey::from_file(&path)?)?;
        }
        Ok(())
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&AuditKey> {
        self.keys.get(id)
    }

    /// The keys, by id.
    pub fn keys(&self) -> impl Iterator<Item = &AuditKey> {
        self.keys.values()
    }

    /// True when no key was given.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = AuditKey::generate(SystemTime::now()).expect("key");
        let (nonce, ct) = key.seal(b"aad", b"secret").expect("seals");
        assert_eq!(key.open(b"aad", &nonce, &ct).expect("opens"), b"secret");
        assert!(matches!(key.open(b"other", &nonce, &ct), Err(KeyError::Decrypt(_))));
        let (nonce2, _) = key.seal(b"aad", b"secret").expect("seals");
        assert_ne!(nonce, nonce2, "fresh nonce per record");
    }

    #[test]
    fn key_text_round_trips_and_bad_keys_are_named() {
        let key = AuditKey::generate(SystemTime::now()).expect("key");
        let back = AuditKey::from_text(&key.to_text(), "f").expect("parses");
        assert_eq!((back.id(), back.key), (key.id(), key.key));
        let short = r#"{"id": "k1", "key": "AAAA"}"#;
        let err = AuditKey::from_text(short, "k.key").expect_err("short");
        assert!(
            err.to_string().contains("k.key") && err.to_string().contains("got 3 bytes"),
            "{err}"
        );
    }
}
