//! Finding rule packs: the shipped ones embedded in the binary, or folders and files on disk.
//! Test-case files (`<pack>/tests/*.yaml`) are returned separately for `celgate test`.

use std::path::{Path, PathBuf};

use crate::engine::PackSource;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_packs.rs"));
}

/// Largest pack or test file read, in bytes.
pub const MAX_PACK_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// A pack test-case file and the pack folder it belongs to.
#[derive(Debug, Clone)]
pub struct TestSource {
    /// Where it came from (path, or `embedded:policies/soc2/tests/x.yaml`).
    pub origin: String,
    /// The YAML.
    pub text: String,
    /// Origin prefix of the pack folder the tests belong to (the parent of `tests/`).
    pub pack_dir: String,
    /// Folder of the test file, for resolving `objectFile` (None when embedded).
    pub dir: Option<PathBuf>,
}

/// Pack and test sources found in one place.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Rule-pack files.
    pub packs: Vec<PackSource>,
    /// Test-case files.
    pub tests: Vec<TestSource>,
}

impl Found {
    fn extend(&mut self, other: Found) {
        self.packs.extend(other.packs);
        self.tests.extend(other.tests);
    }
}

/// Why packs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PacksError {
    /// The path does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(String),
    /// Reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_PACK_FILE_BYTES`].
    #[error("{path}: {size} bytes is larger than the {MAX_PACK_FILE_BYTES}-byte limit for pack files")]
    TooLarge {
        /// The path.
        path: String,
        /// Its size.
        size: u64,
    },
    /// The file is not UTF-8.
    #[error("{path}: not UTF-8 text (invalid byte at offset {offset})")]
    NotUtf8 {
        /// The path.
        path: String,
        /// Offset of the first bad byte.
        offset: usize,
    },
}

/// The shipped packs and their tests.
pub fn embedded() -> Found {
    let mut found = Found::default();
    for (path, text) in embedded::EMBEDDED_FILES {
        let origin = format!("embedded:{path}");
        classify(&mut found, origin, (*text).to_owned(), None);
    }
    found
}

/// Contents of a shipped file by its path relative to the crate (`policies/soc2/tests/x.yaml`);
/// `.` and `..` components are resolved.
pub fn embedded_file(path: &str) -> Option<&'static str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    let wanted = parts.join("/");
    embedded::EMBEDDED_FILES
        .iter()
        .find(|(p, _)| *p == wanted)
        .map(|(_, text)| *text)
}

/// Packs (and tests) under each of `paths`: files are read as they are, folders recursively
/// (`*.yaml`, `*.yml`).
pub fn from_paths(paths: &[PathBuf]) -> Result<Found, PacksError> {
    let mut found = Found::default();
    for path in paths {
        found.extend(from_path(path)?);
    }
    Ok(found)
}

fn from_path(path: &Path) -> Result<Found, PacksError> {
    let display = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            PacksError::NotFound(display.clone())
        } else {
            PacksError::Io {
                path: display.clone(),
                source: e,
            }
        }
    })?;
    let mut files = Vec::new();
    if meta.is_dir() {
        crate::files::find(path, &["yaml", "yml"], &mut files).map_err(|e| PacksError::Io {
            path: display.clone(),
            source: e,
        })?;
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    let mut found = Found::default();
    for file in files {
        let text = read_text(&file)?;
        let dir = file.parent().map(Path::to_path_buf);
        let origin = file.display().to_string();
        // Only folders below the given root decide what is a test: the root may itself sit
        // under a folder called `tests`.
        let relative = file
            .strip_prefix(path)
            .unwrap_or(&file)
            .to_string_lossy()
            .replace('\\', "/");
        if meta.is_dir() && is_test_path(&format!("/{relative}")) {
            let rel_dir = relative.rfind("/tests/").map_or("", |i| &relative[..i]);
            let pack_dir = if rel_dir.is_empty() {
                display.trim_end_matches('/').to_owned()
            } else {
                format!("{}/{rel_dir}", display.trim_end_matches('/'))
            };
            found.tests.push(TestSource {
                origin,
                text,
                pack_dir,
                dir,
            });
        } else {
            found.packs.push(PackSource { origin, text });
        }
    }
    Ok(found)
}

/// True when a folder on the (slash-separated) path is called `tests`.
fn is_test_path(path: &str) -> bool {
    path.contains("/tests/")
}

/// Puts a shipped file among the tests when a folder on its path is `tests`, else among the packs.
fn classify(found: &mut Found, origin: String, text: String, dir: Option<PathBuf>) {
    let normalized = origin.replace('\\', "/");
    if let Some(idx) = normalized.rfind("/tests/").filter(|_| is_test_path(&normalized)) {
        found.tests.push(TestSource {
            pack_dir: normalized[..idx].to_owned(),
            origin,
            text,
            dir,
        });
    } else {
        found.packs.push(PackSource { origin, text });
    }
}

/// Reads a UTF-8 text file of at most [`MAX_PACK_FILE_BYTES`].
pub fn read_text(path: &Path) -> Result<String, PacksError> {
    let display = path.display().to_string();
    let io = |e: std::io::Error| PacksError::Io {
        path: display.clone(),
        source: e,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_PACK_FILE_BYTES {
        return Err(PacksError::TooLarge { path: display, size });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|e| PacksError::NotUtf8 {
        path: display,
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Why `--params` / `params:` files could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// A file could not be read.
    #[error("cannot read params: {source}")]
    Read {
        /// Why (names the path).
        #[source]
        source: PacksError,
    },
    /// A file is not valid YAML or JSON.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// What was wrong, and where.
        #[source]
        source: crate::source::SourceError,
    },
}

/// The objects in `files` (YAML/JSON, any number of documents, `kind: List` split), each with
/// where it came from (`file#doc` or `file#doc/items/i`): param objects for admission policies.
/// The error names the file and what was wrong.
pub fn read_params(files: &[PathBuf]) -> Result<Vec<(String, serde_json::Value)>, ParamsError> {
    let mut objects = Vec::new();
    for file in files {
        let shown = file.display().to_string();
        let text = read_text(file).map_err(|source| ParamsError::Read { source })?;
        let docs = crate::source::parse_documents(&text).map_err(|source| ParamsError::Parse {
            path: shown.clone(),
            source,
        })?;
        for doc in docs.into_iter().flat_map(crate::source::SourceDoc::split_list) {
            objects.push((format!("{shown}#{}", doc.locator()), doc.value));
        }
    }
    Ok(objects)
}

/// [`read_params`] with its error as text. Kept only for `server::reload`, whose
/// `LoadError::Params` still holds a string; remove it once that takes a [`ParamsError`].
pub fn read_param_objects(files: &[PathBuf]) -> Result<Vec<(String, serde_json::Value)>, String> {
    read_params(files).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tests_are_told_apart_from_packs() {
        let mut found = Found::default();
        classify(&mut found, "policies/soc2/pack.yaml".into(), String::new(), None);
        classify(&mut found, "policies/soc2/tests/a.yaml".into(), String::new(), None);
        assert_eq!(found.packs.len(), 1);
        assert_eq!(found.tests.len(), 1);
        assert_eq!(found.tests[0].pack_dir, "policies/soc2");
    }

    #[test]
    fn param_files_split_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("limits.yaml");
        let text = "kind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: rules.example.com/v1\n\
                    kind: ReplicaLimitList\nitems:\n- {kind: ReplicaLimit, metadata: {name: b}}\n";
        std::fs::write(&file, text).expect("write");
        let objects = read_param_objects(std::slice::from_ref(&file)).expect("read");
        let origins: Vec<String> = objects
            .iter()
            .map(|(o, _)| o.replace(&file.display().to_string(), "f"))
            .collect();
        assert_eq!(origins, ["f#0", "f#1/items/0"]);
        assert_eq!(objects[1].1["metadata"]["name"], "b");
    }

    #[test]
    fn missing_folder_is_named() {
        let err = from_paths(&[PathBuf::from("/nonexistent/packs")]).expect_err("missing");
        assert_eq!(err.to_string(), "/nonexistent/packs: no such file or directory");
    }
}
