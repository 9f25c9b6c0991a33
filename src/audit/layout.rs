//! Files of a log: the names of rotated files and reading back where a file ends (its last
//! whole line, and a torn line after it if a crash cut a write short).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Name of rotated file number `index` of `replica`.
pub fn rotated_name(prefix: &str, replica: &str, index: u32) -> String {
    format!("{prefix}-{replica}-{index:06}.jsonl")
}

/// Indices of the rotated files of `replica` in `dir`, ascending (any entry with a matching
/// name counts, so a folder in the way makes opening fail loudly rather than skipping it).
pub fn indices(dir: &Path, prefix: &str, replica: &str) -> io::Result<Vec<u32>> {
    let head = format!("{prefix}-{replica}-");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(number) = name.strip_prefix(&head).and_then(|n| n.strip_suffix(".jsonl")) else {
            continue;
        };
        if number.len() == 6 && number.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(index) = number.parse() {
                found.push(index);
            }
        }
    }
    found.sort_unstable();
    Ok(found)
}

/// Files of a log under `paths`: files as given, folders searched recursively for `*.jsonl`.
pub fn collect_files(paths: &[PathBuf]) -> io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<_>>()?;
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out)?;
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        if std::fs::metadata(path)?.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    // The same file named twice (a folder and a file in it) is read once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// How a file ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tail {
    /// The last newline-terminated line, without its newline.
    pub last_line: Option<Vec<u8>>,
    /// Length of the file up to and including its last newline.
    pub whole_len: u64,
    /// Bytes after the last newline: a line whose write was cut short.
    pub torn_len: u64,
}

/// Reads the end of `file` (of length `len`) backwards until it has the last whole line.
pub fn read_tail(file: &mut File, len: u64) -> io::Result<Tail> {
    let mut chunk: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(chunk);
        let mut buf = Vec::new();
        file.seek(SeekFrom::Start(start))?;
        file.by_ref().take(len - start).read_to_end(&mut buf)?;
        match buf.iter().rposition(|b| *b == b'\n') {
            None if start == 0 => {
                return Ok(Tail {
                    last_line: None,
                    whole_len: 0,
                    torn_len: len,
                })
            }
            None => {}
            Some(end) => {
                let torn_len = (buf.len() - end - 1) as u64;
                let begin = match buf[..end].iter().rposition(|b| *b == b'\n') {
                    Some(nl) => Some(nl + 1),
                    None if start == 0 => Some(0),
                    None => None,
                };
                if let Some(begin) = begin {
                    return Ok(Tail {
                        last_line: Some(buf[begin..end].to_vec()),
                        whole_len: len - torn_len,
                        torn_len,
                    });
                }
            }
        }
        chunk *= 4;
    }
}

/// Calls `visit` on the whole lines of the first `whole_len` bytes of `file` (which end with a
/// newline), last line first, until it returns `Some`; reads the file backwards in chunks, so
/// only the lines from the end up to the one found are read (never the whole file to find the
/// chain's last record).
pub fn find_line_backwards<T>(
    file: &mut File,
    whole_len: u64,
    mut visit: impl FnMut(&[u8]) -> Option<T>,
) -> io::Result<Option<T>> {
    const CHUNK: u64 = 64 * 1024;
    if whole_len == 0 {
        return Ok(None);
    }
    // `pending` holds the bytes from `pos` up to (not including) the last unvisited newline.
    let mut pos = whole_len - 1;
    let mut pending: Vec<u8> = Vec::new();
    loop {
        while let Some(nl) = pending.iter().rposition(|b| *b == b'\n') {
            if let Some(found) = visit(&pending[nl + 1..]) {
                return Ok(Some(found));
            }
            pending.truncate(nl);
        }
        if pos == 0 {
            return Ok(visit(&pending));
        }
        let start = pos.saturating_sub(CHUNK);
        let mut chunk = Vec::new();
        file.seek(SeekFrom::Start(start))?;
        file.by_ref().take(pos - start).read_to_end(&mut chunk)?;
        if chunk.len() as u64 != pos - start {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        chunk.extend_from_slice(&pending);
        pending = chunk;
        pos = start;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn tail_of(bytes: &[u8]) -> Tail {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        read_tail(&mut f, bytes.len() as u64).expect("tail")
    }

    #[test]
    fn tails() {
        assert_eq!(tail_of(b"").last_line, None);
        let t = tail_of(b"a\nbb\n");
        assert_eq!(
            (t.last_line.as_deref(), t.torn_len, t.whole_len),
            (Some(&b"bb"[..]), 0, 5)
        );
        let t = tail_of(b"a\nbb\n{\"v\":1,");
        assert_eq!(
            (t.last_line.as_deref(), t.torn_len, t.whole_len),
            (Some(&b"bb"[..]), 7, 5)
        );
        let t = tail_of(b"only-torn");
        assert_eq!((t.last_line, t.torn_len), (None, 9));
        let long = [vec![b'x'; 200_000], b"\n".to_vec(), vec![b'y'; 100_000], b"\n".to_vec()].concat();
        assert_eq!(tail_of(&long).last_line.map(|l| l.len()), Some(100_000));
    }

    fn lines_backwards(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(bytes).expect("write");
        let mut seen = Vec::new();
        let none: Option<()> = find_line_backwards(&mut f, bytes.len() as u64, |line| {
            seen.push(line.to_vec());
            None
        })
        .expect("read");
        assert!(none.is_none());
        seen
    }

    #[test]
    fn lines_are_visited_last_first_across_chunks() {
        assert!(lines_backwards(b"").is_empty());
        assert_eq!(lines_backwards(b"a\n"), [b"a".to_vec()]);
        assert_eq!(
            lines_backwards(b"a\n\nbb\n"),
            [b"bb".to_vec(), Vec::new(), b"a".to_vec()]
        );
        let big: Vec<u8> = (0..30_000).flat_map(|i| format!("line-{i}\n").into_bytes()).collect();
        let seen = lines_backwards(&big);
        assert_eq!(seen.len(), 30_000);
        assert_eq!(seen[0], b"line-29999");
        assert_eq!(seen[29_999], b"line-0");
        assert!(seen
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("line-{}", 29_999 - i).into_bytes()));
        let mut f = tempfile::tempfile().expect("temp file");
        f.write_all(&big).expect("write");
        let found = find_line_backwards(&mut f, big.len() as u64, |l| (l == b"line-29990").then_some(7)).expect("read");
        assert_eq!(found, Some(7));
    }
}
