//! `celgate audit verify`: checks the hash chains of one or several replicas' files and
//! locates the first broken link, altered record, missing or out-of-order records, and torn
//! lines left by a crash (reported apart: they are not tampering).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::chain::{self, LineError, GENESIS};
use super::layout;
pub use super::verify_report::{Location, Problem, ReplicaReport, Torn, VerifyReport};

pub use super::verify_report::{EXIT_BROKEN, EXIT_INTACT, EXIT_TORN, EXIT_UNREADABLE};

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
    #[error("no audit files (*.jsonl) under {0}: nothing to verify")]
    NoFiles(String),
    /// The files hold no record at all.
    #[error("no audit records in {files}: {what}, nothing to verify")]
    Empty {
        /// The files, comma-separated.
        files: String,
        /// `the file is empty` or `all N files are empty`.
        what: String,
    },
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
    if by_replica.is_empty() {
        return Err(VerifyError::Empty {
            files: files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            what: if files.len() == 1 {
                "the file is empty".to_owned()
            } else {
                format!("all {} files are empty", files.len())
            },
        });
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
        LineError::CarriageReturn { intact_without } => LineError::CarriageReturn {
            intact_without: *intact_without,
        },
        LineError::Json(e) => LineError::Json(serde_json::Error::io(std::io::Error::other(e.to_string()))),
    }
}
