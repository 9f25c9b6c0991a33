//! [`AuditConfig`]: the `audit:` section of `celgate.yaml` (the lead embeds it in the server
//! configuration). Defaults are safe for one replica writing to `./audit`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::crypto::{AuditKey, KeyError, DEFAULT_MAX_KEY_AGE_DAYS};

/// When records are forced to disk (see `docs/audit.md` for the trade-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FsyncPolicy {
    /// After every record: nothing acknowledged is lost on power failure; slowest.
    Always,
    /// After `fsyncEveryRecords` records or `fsyncIntervalMs`, whichever comes first.
    #[default]
    Interval,
    /// Leave it to the operating system: a process crash loses nothing, a power cut may.
    Never,
}

/// Where the encryption key comes from; never the key itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EncryptionConfig {
    /// A key file (as written by `celgate audit rotate-key`).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Name of an environment variable holding the key file's text.
    #[serde(default)]
    pub key_env: Option<String>,
    /// Age after which the key is reported as due for rotation (days).
    #[serde(default = "default_max_key_age_days")]
    pub max_key_age_days: u32,
}

fn default_max_key_age_days() -> u32 {
    DEFAULT_MAX_KEY_AGE_DAYS
}

impl EncryptionConfig {
    /// Loads the key it points at.
    pub fn load_key(&self) -> Result<AuditKey, KeyError> {
        match (&self.key_file, &self.key_env) {
            (Some(path), _) => AuditKey::from_file(path),
            (None, Some(var)) => AuditKey::from_env(var),
            (None, None) => Err(KeyError::EnvMissing("(none given)".to_owned())),
        }
    }
}

/// The `audit:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct AuditConfig {
    /// Folder of rotated files `<filePrefix>-<replica>-<NNNNNN>.jsonl` (default `audit`).
    pub dir: Option<PathBuf>,
    /// One file, never rotated, instead of a folder (what `celgate check --audit FILE` uses).
    pub file: Option<PathBuf>,
    /// Name prefix of the rotated files.
    pub file_prefix: String,
    /// Size after which the next record starts a new file (bytes).
    pub max_file_bytes: u64,
    /// When records are forced to disk.
    pub fsync: FsyncPolicy,
    /// With `fsync: interval`: the longest a written record stays unsynced (milliseconds).
    pub fsync_interval_ms: u64,
    /// With `fsync: interval`: sync after this many records at the latest.
    pub fsync_every_records: u64,
    /// Records that may wait for the writer; more are dropped (and counted).
    pub queue_capacity: usize,
    /// Refuse to decide unrecorded: the server answers with an error when a record cannot be
    /// queued or the writer is failing.
    pub required: bool,
    /// How often a failing writer tries to recover (milliseconds).
    pub retry_interval_ms: u64,
    /// Encrypt records at rest (AES-256-GCM).
    pub encryption: Option<EncryptionConfig>,
    /// Id of this replica, written in every record (default: `POD_NAME`, else the host name).
    pub replica_id: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            dir: None,
            file: None,
            file_prefix: "celgate-audit".to_owned(),
            max_file_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Interval,
            fsync_interval_ms: 1000,
            fsync_every_records: 256,
            queue_capacity: 4096,
            required: false,
            retry_interval_ms: 1000,
            encryption: None,
            replica_id: None,
        }
    }
}

/// Smallest `maxFileBytes` accepted.
pub const MIN_FILE_BYTES: u64 = 4096;

/// A setting of the `audit:` section that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuditConfigError {
    /// A value out of range or malformed.
    #[error("audit.{field} = {value}: {problem}")]
    Invalid {
        /// The field as `celgate.yaml` spells it.
        field: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// Two settings that exclude each other.
    #[error("audit.{0} and audit.{1}: give one, not both")]
    Conflict(&'static str, &'static str),
    /// Neither of two alternatives.
    #[error("audit.{0}: give {1}")]
    Missing(&'static str, &'static str),
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

impl AuditConfig {
    /// Writing to one file, never rotated (`celgate check --audit FILE`).
    pub fn single_file(path: impl Into<PathBuf>) -> Self {
        AuditConfig {
            file: Some(path.into()),
            ..AuditConfig::default()
        }
    }

    /// Writing rotated files in a folder.
    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        AuditConfig {
            dir: Some(dir.into()),
            ..AuditConfig::default()
        }
    }

    /// Checks every field; the error names the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), AuditConfigError> {
        let invalid = |field, value: &dyn std::fmt::Display, problem| AuditConfigError::Invalid {
            field,
            value: value.to_string(),
            problem,
        };
        if self.dir.is_some() && self.file.is_some() {
            return Err(AuditConfigError::Conflict("dir", "file"));
        }
        if self.dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            return Err(invalid("dir", &"\"\"", "must not be empty"));
        }
        if self.file.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            return Err(invalid("file", &"\"\"", "must not be empty"));
        }
        if !valid_name(&self.file_prefix) {
            return Err(invalid(
                "filePrefix",
                &self.file_prefix,
                "must be letters, digits, '.', '_' or '-'",
            ));
        }
        if self.max_file_bytes < MIN_FILE_BYTES {
            return Err(invalid("maxFileBytes", &self.max_file_bytes, "must be at least 4096"));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_interval_ms == 0 {
            return Err(invalid(
                "fsyncIntervalMs",
                &0,
                "must be at least 1 with fsync: interval",
            ));
        }
        if self.fsync == FsyncPolicy::Interval && self.fsync_every_records == 0 {
            return Err(invalid(
                "fsyncEveryRecords",
                &0,
                "must be at least 1 with fsync: interval",
            ));
        }
        if self.queue_capacity == 0 {
            return Err(invalid("queueCapacity", &0, "must be at least 1"));
        }
        if self.retry_interval_ms == 0 {
            return Err(invalid("retryIntervalMs", &0, "must be at least 1"));
        }
        if let Some(id) = &self.replica_id {
            if !valid_name(id) {
                return Err(invalid(
                    "replicaId",
                    id,
                    "must be 1-128 letters, digits, '.', '_' or '-'",
                ));
            }
        }
        if let Some(enc) = &self.encryption {
            match (&enc.key_file, &enc.key_env) {
                (Some(_), Some(_)) => {
                    return Err(AuditConfigError::Conflict("encryption.keyFile", "encryption.keyEnv"))
                }
                (None, None) => {
                    return Err(AuditConfigError::Missing(
                        "encryption",
                        "keyFile or keyEnv (the key itself is never written in the config)",
                    ))
                }
                (None, Some(var)) if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                    return Err(invalid(
                        "encryption.keyEnv",
                        var,
                        "must be an environment variable name",
                    ));
                }
                _ => {}
            }
            if enc.max_key_age_days == 0 {
                return Err(invalid("encryption.maxKeyAgeDays", &0, "must be at least 1"));
            }
        }
        Ok(())
    }

    /// The folder rotated files go to.
    pub fn dir_or_default(&self) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| PathBuf::from("audit"))
    }

    /// The longest a record stays unsynced under `fsync: interval`.
    pub fn fsync_interval(&self) -> Duration {
        Duration::from_millis(self.fsync_interval_ms)
    }

    /// The replica id: `replicaId`, else `POD_NAME`, else `HOSTNAME`, else the kernel's host
    /// name, else `celgate`; characters other than letters, digits, `.`, `_`, `-` become `_`.
    pub fn replica(&self) -> String {
        self.replica_with(
            |var| std::env::var(var).ok(),
            || {
                std::fs::read_to_string("/proc/sys/kernel/hostname")
                    .or_else(|_| std::fs::read_to_string("/etc/hostname"))
                    .ok()
            },
        )
    }

    /// [`AuditConfig::replica`] with the environment and host name lookups passed in.
    pub fn replica_with(&self, env: impl Fn(&str) -> Option<String>, hostname: impl Fn() -> Option<String>) -> String {
        let raw = self
            .replica_id
            .clone()
            .or_else(|| env("POD_NAME"))
            .or_else(|| env("HOSTNAME"))
            .or_else(hostname)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "celgate".to_owned());
        raw.chars()
            .take(128)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_prefers_config_then_pod_then_host() {
        let env = |v: &str| (v == "POD_NAME").then(|| "celgate-7d9f-x2".to_owned());
        let none = |_: &str| None;
        let host = || Some("node 1\n".to_owned());
        assert_eq!(AuditConfig::default().replica_with(env, host), "celgate-7d9f-x2");
        assert_eq!(AuditConfig::default().replica_with(none, host), "node_1");
        assert_eq!(AuditConfig::default().replica_with(none, || None), "celgate");
        let named = AuditConfig {
            replica_id: Some("a".into()),
            ..AuditConfig::default()
        };
        assert_eq!(named.replica_with(env, host), "a");
    }
}
