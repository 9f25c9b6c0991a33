//! The audit trail (issue 6): every decision from every door appended to a hash-chained JSON
//! Lines log, optionally encrypted at rest, verifiable without the key. See `docs/audit.md`.
//!
//! - [`record`]: [`AuditRecord`], what a door knows about one decision — never the document,
//!   only the SHA-256 of its canonical JSON;
//! - [`chain`]: how a record becomes a stored line that carries its own hash and its
//!   predecessor's;
//! - [`crypto`]: AES-256-GCM keys, key files and the keyring `show` decrypts with;
//! - [`config`]: [`AuditConfig`], the `audit:` section of `celgate.yaml`;
//! - [`layout`]: file names, rotation order and reading back the tail of a log;
//! - [`writer`]: [`AuditWriter`], the synchronous core (CI uses it directly);
//! - [`log`]: [`AuditLog`], the non-blocking front for the server (bounded queue, writer
//!   thread, metrics, health);
//! - [`verify`] and [`show`]: checking chains and reading records back.

pub mod chain;
mod commit;
pub mod config;
pub mod crypto;
pub mod fsync;
pub mod layout;
pub mod log;
pub mod metrics;
pub mod record;
pub mod show;
pub mod verify;
pub mod verify_report;
pub mod writer;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::{AuditConfig, AuditConfigError, EncryptionConfig, FsyncPolicy};
pub use crypto::{AuditKey, KeyError, Keyring};
pub use log::{AuditLog, Receipt, RecordSink, WriteFailure};
pub use metrics::AuditMetrics;
pub use record::{AuditRecord, Door, ExceptionUsed, RuleHit};
pub use writer::{Appended, AuditWriter};

/// Why the audit trail could not record something.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The `audit:` configuration is invalid.
    #[error(transparent)]
    Config(#[from] AuditConfigError),
    /// A file operation on the log failed.
    #[error("audit log {path}: cannot {action}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What was being done (`open`, `append to`, `fsync`, ...).
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The last whole record of an existing log is damaged, so the chain cannot be continued.
    #[error("audit log {path}: cannot continue the chain from its damaged last record (run `celgate audit verify`, then move the file aside)")]
    DamagedTail {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: chain::LineError,
    },
    /// The encryption key could not be loaded or used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A record could not be serialised.
    #[error("cannot serialise an audit record")]
    Serialize(#[source] serde_json::Error),
    /// The queue in front of the writer is full: the record was not accepted.
    #[error("audit queue full ({capacity} records waiting): record dropped")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The writer's last attempt failed: records are refused until it recovers.
    #[error("audit writer is failing: record dropped")]
    WriterFailing(#[source] Arc<AuditError>),
    /// The log was closed (shutdown).
    #[error("audit log is closed")]
    Closed,
    /// The writer thread stopped unexpectedly (it panicked).
    #[error("audit writer thread stopped unexpectedly")]
    WriterGone,
}

impl AuditError {
    pub(crate) fn io(path: impl Into<PathBuf>, action: &'static str, source: std::io::Error) -> Self {
        AuditError::Io {
            path: path.into(),
            action,
            source,
        }
    }
}
