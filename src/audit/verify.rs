//! `celgate audit verify`: checks the hash chains of one or several replicas' files and
//! locates the first broken link, altered record, missing or out-of-order records, and torn
//! lines left by a crash (reported apart: they are not tampering).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

use super::chain::{self, LineError, GENESIS};
use super::layout;

/// Exit code: every chain intact.
pub const EXIT_INTACT: u8 = 0;
/// Exit code: a record altered, missing, inserted or out of order.
pub const EXIT_BROKEN: u8 = 1;
/// Exit code: the files could not be read (or none was found).
pub const EXIT_UNREADABLE: u8 = 2;
/// Exit code: chains intact except for torn lines left by a crash mid-write.
pub const EXIT_TORN: u8 = 3;

/// Why verification could not run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file or folder could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// Nothing to verify.
    #[error("no audit files (*.jsonl) under {0}")]
    NoFiles(String),
}

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

#[derive(Debug)]
enum Entry {
    Record {
        seq: u64,
        prev: String,
        hash: String,
    },
    Damaged {
        seq: Option<u64>,
        hash: Option<String>,
        error: LineError,
    },
    Torn {
        bytes: usize,
    },
}

struct Line {
    at: Location,
    entry: Entry,
}

/// Reads and checks every `*.jsonl` file under `paths`.
pub fn verify(paths: &[PathBuf]) -> Result<VerifyReport, VerifyError> {
    let files = layout::collect_files(paths).map_err(|source| VerifyError::Read {
        path: paths.first().cloned().unwrap_or_default(),
        source,
    })?;
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(VerifyError::NoFiles(names.join(", ")));
    }
    // replica -> files -> lines, each file in its own order.
    let mut by_replica: BTreeMap<String, Vec<Vec<Line>>> = BTreeMap::new();
    for file in &files {
        for (replica, lines) in read_file(file)? {
            by_replica.entry(replica).or_default().push(lines);
        }
    }
    let replicas = by_replica
        .into_iter()
        .map(|(replica, mut files)| {
            files.sort_by_key(|lines| (first_seq(lines).unwrap_or(u64::MAX), lines[0].at.file.clone()));
            check_chain(replica, &files)
        })
        .collect();
    Ok(VerifyReport { replicas })
}

fn first_seq(lines: &[Line]) -> Option<u64> {
    lines.iter().find_map(|l| match &l.entry {
        Entry::Record { seq, .. } | Entry::Damaged { seq: Some(seq), .. } => Some(*seq),
        _ => None,
    })
}

/// Splits one file into its lines, grouped by the replica that wrote them.
fn read_file(path: &Path) -> Result<Vec<(String, Vec<Line>)>, VerifyError> {
    let bytes = std::fs::read(path).map_err(|source| VerifyError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut lines: Vec<(Option<String>, Line)> = Vec::new();
    let mut pieces: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    let torn = pieces.pop().filter(|rest| !rest.is_empty());
    for (i, piece) in pieces.iter().enumerate() {
        let at = Location {
            file: path.to_owned(),
            line: i + 1,
        };
        let (replica, entry) = match chain::decode_header(piece) {
            Ok(h) => (
                Some(h.replica),
                Entry::Record {
                    seq: h.seq,
                    prev: h.prev,
                    hash: h.hash,
                },
            ),
            Err(error) => {
                let loose: Option<serde_json::Value> = serde_json::from_slice(piece).ok();
                let field = |name: &str| loose.as_ref().and_then(|v| v.get(name)).cloned();
                (
                    field("replica").and_then(|v| v.as_str().map(str::to_owned)),
                    Entry::Damaged {
                        seq: field("seq").and_then(|v| v.as_u64()),
                        hash: field("hash").and_then(|v| v.as_str().map(str::to_owned)),
                        error,
                    },
                )
            }
        };
        lines.push((replica, Line { at, entry }));
    }
    if let Some(rest) = torn {
        let at = Location {
            file: path.to_owned(),
            line: pieces.len() + 1,
        };
        lines.push((
            None,
            Line {
                at,
                entry: Entry::Torn { bytes: rest.len() },
            },
        ));
    }
    // Lines whose replica cannot be read belong to the replica of the line before them (or
    // after them, at the top of a file).
    let fallback = lines
        .iter()
        .find_map(|(r, _)| r.clone())
        .unwrap_or_else(|| "(unknown)".to_owned());
    let mut current = fallback;
    let mut groups: Vec<(String, Vec<Line>)> = Vec::new();
    for (replica, line) in lines {
        if let Some(r) = replica {
            current = r;
        }
        match groups.iter_mut().find(|(r, _)| *r == current) {
            Some((_, group)) => group.push(line),
            None => groups.push((current.clone(), vec![line])),
        }
    }
    Ok(groups)
}

fn check_chain(replica: String, files: &[Vec<Line>]) -> ReplicaReport {
    let mut report = ReplicaReport {
        replica,
        files: files.iter().map(|f| f[0].at.file.clone()).collect(),
        ..ReplicaReport::default()
    };
    let mut seen: BTreeMap<u64, Location> = BTreeMap::new();
    // (seq, hash, where) of the last record or readable damaged line.
    let mut last: Option<(u64, Option<String>, Location)> = None;
    for line in files.iter().flatten() {
        match &line.entry {
            Entry::Torn { bytes } => report.torn.push(Torn {
                at: line.at.clone(),
                bytes: *bytes,
            }),
            Entry::Damaged { seq, hash, error } => {
                report.problems.push(Problem::Damaged {
                    at: line.at.clone(),
                    seq: *seq,
                    error: clone_error(error),
                });
                if let Some(seq) = seq {
                    seen.entry(*seq).or_insert_with(|| line.at.clone());
                    last = Some((*seq, hash.clone(), line.at.clone()));
                }
            }
            Entry::Record { seq, prev, hash } => {
                report.records += 1;
                seen.entry(*seq).or_insert_with(|| line.at.clone());
                match &last {
                    None if *seq == 1 && prev != GENESIS => report.problems.push(Problem::BrokenLink {
                        at: line.at.clone(),
                        seq: 1,
                        prev_at: line.at.clone(),
                    }),
                    None if *seq > 1 => report.starts_at = Some(*seq),
                    None => {}
                    Some((prev_seq, prev_hash, prev_at)) => {
                        if *seq != prev_seq + 1 {
                            report.problems.push(Problem::OutOfOrder {
                                at: line.at.clone(),
                                seq: *seq,
                                prev_seq: *prev_seq,
                                prev_at: prev_at.clone(),
                            });
                        } else if prev_hash.as_ref().is_some_and(|h| h != prev) {
                            report.problems.push(Problem::BrokenLink {
                                at: line.at.clone(),
                                seq: *seq,
                                prev_at: prev_at.clone(),
                            });
                        }
                    }
                }
                last = Some((*seq, Some(hash.clone()), line.at.clone()));
                report.last_hash = Some(hash.clone());
            }
        }
    }
    let seqs: BTreeSet<u64> = seen.keys().copied().collect();
    report.seq_range = seqs.first().zip(seqs.last()).map(|(a, b)| (*a, *b));
    let mut previous: Option<u64> = None;
    for (&seq, at) in &seen {
        if let Some(p) = previous.filter(|p| seq > p + 1) {
            report.problems.push(Problem::Missing {
                from: p + 1,
                to: seq - 1,
                before: at.clone(),
            });
        }
        previous = Some(seq);
    }
    report
}

fn clone_error(error: &LineError) -> LineError {
    match error {
        LineError::NoHash => LineError::NoHash,
        LineError::HashMismatch { stored, computed } => LineError::HashMismatch {
            stored: stored.clone(),
            computed: computed.clone(),
        },
        LineError::Version(v) => LineError::Version(*v),
        LineError::Json(e) => LineError::Json(serde_json::Error::io(std::io::Error::other(e.to_string()))),
    }
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
