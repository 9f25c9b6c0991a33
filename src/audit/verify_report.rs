//! What `celgate audit verify` found: per replica, the intact records, the evidence of
//! tampering or loss, and torn lines (crash residue); rendering and exit codes.

use std::fmt::{self, Write as _};
use std::path::PathBuf;

use super::chain::LineError;

/// Exit code: every chain intact.
pub const EXIT_INTACT: u8 = 0;
/// Exit code: a record altered, missing, inserted or out of order.
pub const EXIT_BROKEN: u8 = 1;
/// Exit code: the files could not be read (or none was found).
pub const EXIT_UNREADABLE: u8 = 2;
/// Exit code: chains intact except for torn lines left by a crash mid-write.
pub const EXIT_TORN: u8 = 3;

/// A line of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Something that shows records were altered, removed, inserted or reordered.
#[derive(Debug)]
pub enum Problem {
    /// A line that is not an intact record (its own hash does not match, or it does not parse).
    Damaged {
        /// Where.
        at: Location,
        /// Its sequence number, when it can still be read.
        seq: Option<u64>,
        /// What is wrong.
        error: LineError,
    },
    /// A record whose `prev` is not the hash of the record before it.
    BrokenLink {
        /// Where.
        at: Location,
        /// Its sequence number.
        seq: u64,
        /// The record before it.
        prev_at: Location,
    },
    /// A record that does not follow its predecessor's sequence number.
    OutOfOrder {
        /// Where.
        at: Location,
        /// Its sequence number.
        seq: u64,
        /// The sequence number before it.
        prev_seq: u64,
        /// The record before it.
        prev_at: Location,
    },
    /// Sequence numbers that appear nowhere in the files given.
    Missing {
        /// First missing.
        from: u64,
        /// Last missing.
        to: u64,
        /// The record after the gap.
        before: Location,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Damaged { at, seq: Some(seq), error } => write!(f, "{at}: record seq {seq}: {error}"),
            Problem::Damaged { at, seq: None, error } => write!(f, "{at}: {error}"),
            Problem::BrokenLink { at, seq, prev_at } => write!(
                f,
                "{at}: broken link: record seq {seq} does not carry the hash of record seq {} ({prev_at}); \
                 that record was altered, or records were removed or inserted between them",
                seq - 1
            ),
            Problem::OutOfOrder {
                at,
                seq,
                prev_seq,
                prev_at,
            } => write!(
                f,
                "{at}: record seq {seq} follows record seq {prev_seq} ({prev_at}): records missing, reordered or duplicated"
            ),
            Problem::Missing { from, to, before } if from == to => {
                write!(f, "missing record: seq {from} (before {before})")
            }
            Problem::Missing { from, to, before } => write!(f, "missing records: seq {from}..{to} (before {before})"),
        }
    }
}

/// A torn line: the bytes after the last newline of a file, left by a crash mid-write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Torn {
    /// Where.
    pub at: Location,
    /// Its length.
    pub bytes: usize,
}

/// The result for one replica's chain.
#[derive(Debug, Default)]
pub struct ReplicaReport {
    /// Replica id.
    pub replica: String,
    /// Intact records.
    pub records: u64,
    /// Lowest and highest sequence numbers seen.
    pub seq_range: Option<(u64, u64)>,
    /// Hash of the last record.
    pub last_hash: Option<String>,
    /// Its files, in chain order.
    pub files: Vec<PathBuf>,
    /// Evidence of tampering or loss, in chain order.
    pub problems: Vec<Problem>,
    /// Torn lines (crash residue).
    pub torn: Vec<Torn>,
    /// The chain does not start at seq 1 in the files given (older files rotated away).
    pub starts_at: Option<u64>,
}

/// The result for every replica.
#[derive(Debug, Default)]
pub struct VerifyReport {
    /// One per replica, by id.
    pub replicas: Vec<ReplicaReport>,
}

impl ReplicaReport {
    /// True when nothing shows tampering or loss (torn lines aside).
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    fn summary(&self) -> String {
        let range = self
            .seq_range
            .map_or_else(|| "no records".to_owned(), |(a, b)| format!("seq {a}..{b}"));
        let files = match self.files.len() {
            1 => "1 file".to_owned(),
            n => format!("{n} files"),
        };
        let hash = self
            .last_hash
            .as_deref()
            .map_or(String::new(), |h| format!(", last hash {}", &h[..h.len().min(16)]));
        format!("{} records ({range}) in {files}{hash}", self.records)
    }
}

impl VerifyReport {
    /// 0 intact, 1 tampering or loss, 3 only torn lines (crash residue).
    pub fn exit_code(&self) -> u8 {
        if self.replicas.iter().any(|r| !r.is_intact()) {
            EXIT_BROKEN
        } else if self.replicas.iter().any(|r| !r.torn.is_empty()) {
            EXIT_TORN
        } else {
            EXIT_INTACT
        }
    }

    /// One line per replica, then the problems of broken chains, first one first.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for r in &self.replicas {
            let _ = write!(out, "replica {}: ", r.replica);
            if let Some(first) = r.problems.first() {
                let _ = writeln!(out, "BROKEN: {first}");
                let _ = writeln!(out, "  {} problem(s); {}", r.problems.len(), r.summary());
                for problem in r.problems.iter().skip(1) {
                    let _ = writeln!(out, "  {problem}");
                }
            } else {
                match r.torn.as_slice() {
                    [] => {
                        let _ = writeln!(out, "intact, {}", r.summary());
                    }
                    torn => {
                        let t = &torn[torn.len() - 1];
                        let which = if r.files.last() == Some(&t.at.file) {
                            "torn last line"
                        } else {
                            "torn line"
                        };
                        let _ = writeln!(
                            out,
                            "{which} (crash mid-write) at {} ({} bytes); every record before it is intact, {}",
                            t.at,
                            t.bytes,
                            r.summary()
                        );
                        for t in &torn[..torn.len() - 1] {
                            let _ = writeln!(
                                out,
                                "  also a torn line at {} ({} bytes, crash mid-write; the chain continues in the next file)",
                                t.at, t.bytes
                            );
                        }
                    }
                }
            }
            if let Some(seq) = r.starts_at {
                let _ = writeln!(
                    out,
                    "  note: the chain starts at seq {seq}: earlier records are not among the files given"
                );
            }
        }
        out
    }
}
