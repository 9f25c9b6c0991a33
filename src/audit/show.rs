//! `celgate audit show`: reads records back (decrypting with a keyring), filters them by time,
//! tenant, rule and decision, and renders them as text or JSON Lines.

use std::fmt::Write as _;
use std::path::PathBuf;

use chrono::{DateTime, FixedOffset};

use super::chain::{self, Sealed};
use super::crypto::{KeyError, Keyring};
use super::layout;
use super::record::AuditRecord;
use super::verify::Location;
use crate::engine::Verdict;

/// Why records could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    /// A file or folder could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// An encrypted record whose key is not in the keyring.
    #[error("{at}: record seq {seq} is encrypted with key id {key_id:?}, which is not among the keys given (use --key-dir or --key-file)")]
    NoKey {
        /// Where.
        at: Location,
        /// Its sequence number.
        seq: u64,
        /// The key id it names.
        key_id: String,
    },
    /// An encrypted record that does not decrypt.
    #[error("{at}: record seq {seq}")]
    Decrypt {
        /// Where.
        at: Location,
        /// Its sequence number.
        seq: u64,
        /// Why.
        #[source]
        source: KeyError,
    },
    /// A record whose content is not an audit record.
    #[error("{at}: record seq {seq} does not hold an audit record")]
    Content {
        /// Where.
        at: Location,
        /// Its sequence number.
        seq: u64,
        /// Where the JSON is wrong.
        #[source]
        source: serde_json::Error,
    },
}

/// Which records to show; every given criterion must match.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// At or after this time.
    pub since: Option<DateTime<FixedOffset>>,
    /// Before this time.
    pub until: Option<DateTime<FixedOffset>>,
    /// This tenant.
    pub tenant: Option<String>,
    /// Records with a finding of this rule id.
    pub rule: Option<String>,
    /// This decision.
    pub decision: Option<Verdict>,
}

impl Filter {
    fn time_matches(&self, time: &str) -> bool {
        let Ok(t) = DateTime::parse_from_rfc3339(time) else {
            return self.since.is_none() && self.until.is_none();
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

    fn matches(&self, r: &AuditRecord) -> bool {
        self.time_matches(&r.time)
            && self.tenant.as_ref().is_none_or(|t| r.tenant.as_ref() == Some(t))
            && self
                .rule
                .as_ref()
                .is_none_or(|id| r.rules.iter().any(|h| &h.rule == id))
            && self.decision.is_none_or(|d| r.decision == d)
    }
}

/// One record read back.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Replica that wrote it.
    pub replica: String,
    /// Its sequence number.
    pub seq: u64,
    /// Where it is stored.
    pub at: Location,
    /// The record (decrypted).
    pub record: AuditRecord,
}

/// What [`read`] found.
#[derive(Debug, Default)]
pub struct ShowResult {
    /// Matching records, by time, replica and sequence number.
    pub records: Vec<Shown>,
    /// Lines skipped (torn or damaged): `celgate audit verify` says more.
    pub skipped: Vec<String>,
}

/// Reads the records under `paths` that match `filter`, decrypting with `keyring`.
pub fn read(paths: &[PathBuf], keyring: &Keyring, filter: &Filter) -> Result<ShowResult, ShowError> {
    let files = layout::collect_files(paths).map_err(|source| ShowError::Read {
        path: paths.first().cloned().unwrap_or_default(),
        source,
    })?;
    let mut out = ShowResult::default();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| ShowError::Read {
            path: file.clone(),
            source,
        })?;
        let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        if pieces.pop().is_some_and(|torn| !torn.is_empty()) {
            out.skipped.push(format!(
                "{}:{}: torn last line (crash mid-write)",
                file.display(),
                pieces.len() + 1
            ));
        }
        for (i, piece) in pieces.iter().enumerate() {
            let at = Location {
                file: file.clone(),
                line: i + 1,
            };
            let header = match chain::decode_header(piece) {
                Ok(h) => h,
                Err(e) => {
                    out.skipped.push(format!("{at}: {e}"));
                    continue;
                }
            };
            if header.time.as_deref().is_some_and(|t| !filter.time_matches(t)) {
                continue;
            }
            let seq = header.seq;
            let record = open_record(piece, &header, &at, keyring)?;
            if filter.matches(&record) {
                out.records.push(Shown {
                    replica: header.replica,
                    seq,
                    at,
                    record,
                });
            }
        }
    }
    out.records
        .sort_by(|a, b| (&a.record.time, &a.replica, a.seq).cmp(&(&b.record.time, &b.replica, b.seq)));
    Ok(out)
}

/// The record on one line (`header` decoded from it), decrypted with its key when sealed.
fn open_record(
    piece: &[u8],
    header: &chain::LineHeader,
    at: &Location,
    keyring: &Keyring,
) -> Result<AuditRecord, ShowError> {
    let seq = header.seq;
    match &header.key_id {
        None => serde_json::from_slice(piece).map_err(|source| ShowError::Content {
            at: at.clone(),
            seq,
            source,
        }),
        Some(key_id) => {
            let Some(key) = keyring.get(key_id) else {
                return Err(ShowError::NoKey {
                    at: at.clone(),
                    seq,
                    key_id: key_id.clone(),
                });
            };
            let sealed: Sealed = serde_json::from_slice(piece).map_err(|source| ShowError::Content {
                at: at.clone(),
                seq,
                source,
            })?;
            let aad = chain::associated_data(&header.replica, seq, &header.prev, key_id);
            let plain = key
                .open(&aad, &sealed.nonce, &sealed.ciphertext)
                .map_err(|source| ShowError::Decrypt {
                    at: at.clone(),
                    seq,
                    source,
                })?;
            serde_json::from_slice(&plain).map_err(|source| ShowError::Content {
                at: at.clone(),
                seq,
                source,
            })
        }
    }
}

/// One line per record, for people.
pub fn render_text(records: &[Shown]) -> String {
    let mut out = String::new();
    for s in records {
        let r = &s.record;
        let _ = write!(out, "{} {:<5} {:<9}", r.time, r.decision.as_str(), r.door.as_str());
        if let Some(t) = &r.tenant {
            let _ = write!(out, " tenant={t}");
        }
        if let Some(e) = &r.environment {
            let _ = write!(out, " env={e}");
        }
        let object = if r.namespace.is_empty() {
            r.name.clone()
        } else {
            format!("{}/{}", r.namespace, r.name)
        };
        let _ = write!(out, " {} {} {object}", r.operation, r.kind);
        if !r.user.is_empty() {
            let _ = write!(out, " user={}", r.user);
        }
        if r.dry_run {
            out.push_str(" dry-run");
        }
        if !r.rules.is_empty() {
            let rules: Vec<String> = r
                .rules
                .iter()
                .map(|h| format!("{}:{}[{}]", h.action.as_str(), h.rule, h.controls.join("; ")))
                .collect();
            let _ = write!(out, " rules={}", rules.join(","));
        }
        if r.patch_ops > 0 {
            let _ = write!(out, " patchOps={}", r.patch_ops);
        }
        for e in &r.exceptions {
            let _ = write!(out, " exception={}", e.id);
        }
        let _ = writeln!(
            out,
            " ({}#{} sha256:{})",
            s.replica,
            s.seq,
            &r.document_sha256[..r.document_sha256.len().min(12)]
        );
    }
    out
}

/// JSON Lines: each record with its replica, sequence number and place.
pub fn render_json(records: &[Shown]) -> String {
    let mut out = String::new();
    for s in records {
        let mut value = serde_json::to_value(&s.record).unwrap_or_default();
        if let Some(map) = value.as_object_mut() {
            map.insert("replica".into(), s.replica.clone().into());
            map.insert("seq".into(), s.seq.into());
            map.insert("file".into(), s.at.file.display().to_string().into());
            map.insert("line".into(), s.at.line.into());
        }
        out.push_str(&value.to_string());
        out.push('\n');
    }
    out
}
