//! Where `--fix` writes: every input to one stream (stdout), a folder mirroring the inputs
//! (`--out`), or the inputs themselves (`--in-place`).

use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::{apply, Patched};

/// One input of `check`, with its patched documents.
#[derive(Debug, Clone)]
pub struct FixSource<'a> {
    /// The path as given, or `-` for stdin.
    pub source: &'a str,
    /// Its text, when it was UTF-8 text; `None` for inputs that were not (kept byte for byte).
    pub text: Option<&'a str>,
    /// Its patched documents (none when nothing is patched).
    pub patched: Vec<Patched<'a>>,
}

/// Where fixed inputs go.
pub enum FixDestination<'a> {
    /// Every input, one after another, to this stream.
    Stream(&'a mut dyn Write),
    /// A folder mirroring the input paths; with `changed_only`, only inputs that changed.
    Folder {
        /// The folder.
        dir: &'a Path,
        /// Write only the inputs a patch changed.
        changed_only: bool,
    },
    /// Over the inputs themselves (only those that changed).
    InPlace,
}

/// What was written.
#[derive(Debug, Default)]
pub struct FixOutcome {
    /// Inputs whose text changed.
    pub changed: Vec<String>,
}

/// Why fixes could not be written.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    /// Writing a file or the stream failed.
    #[error("{path}: {source}")]
    Write {
        /// The file (or `standard output`).
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An input could not be read again to be fixed.
    #[error("{path}: {source}")]
    Reparse {
        /// The input.
        path: String,
        /// The cause.
        #[source]
        source: crate::source::SourceError,
    },
}

/// Writes every input of `sources` to `destination`, each patched where a patch applies and
/// otherwise unchanged.
///
/// # Errors
///
/// [`FixError`] when a file or the stream cannot be written.
pub fn write_fixes(sources: &[FixSource<'_>], destination: FixDestination<'_>) -> Result<FixOutcome, FixError> {
    let mut outcome = FixOutcome::default();
    let mut stream_text = String::new();
    let stream = matches!(destination, FixDestination::Stream(_));
    for source in sources {
        let fixed = match source.text {
            Some(text) => Some(apply(text, &source.patched).map_err(|e| FixError::Reparse {
                path: source.source.to_owned(),
                source: e,
            })?),
            None => None,
        };
        let changed = match (source.text, &fixed) {
            (Some(text), Some(fixed)) => text != fixed,
            _ => false,
        };
        if changed {
            outcome.changed.push(source.source.to_owned());
        }
        match &destination {
            FixDestination::Stream(_) => {
                if let Some(fixed) = &fixed {
                    join_stream(&mut stream_text, fixed);
                }
            }
            FixDestination::Folder { dir, changed_only } => {
                if *changed_only && !changed {
                    continue;
                }
                let target = dir.join(mirrored(source.source));
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, e))?;
                }
                match &fixed {
                    Some(fixed) => std::fs::write(&target, fixed).map_err(|e| write_error(&target, e))?,
                    None if source.source != "-" => {
                        std::fs::copy(source.source, &target).map_err(|e| write_error(&target, e))?;
                    }
                    None => {}
                }
            }
            FixDestination::InPlace => {
                if let (true, Some(fixed)) = (changed, &fixed) {
                    let path = Path::new(source.source);
                    replace_file(path, fixed).map_err(|e| write_error(path, e))?;
                }
            }
        }
    }
    if stream {
        if let FixDestination::Stream(out) = destination {
            out.write_all(stream_text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| FixError::Write {
                    path: "standard output".to_owned(),
                    source: e,
                })?;
        }
    }
    Ok(outcome)
}

/// Replaces the contents of `path`: written next to it and renamed over it, so that a failed
/// write leaves the input as it was, with the input's permissions. A symbolic link is written
/// through, so that it stays a link.
fn replace_file(path: &Path, contents: &str) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let (false, Some(name)) = (meta.file_type().is_symlink(), name) else {
        return std::fs::write(path, contents);
    };
    let temporary = path.with_file_name(format!(".{name}.celgate-fix"));
    let written = std::fs::write(&temporary, contents)
        .and_then(|()| std::fs::set_permissions(&temporary, meta.permissions()))
        .and_then(|()| std::fs::rename(&temporary, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

fn write_error(path: &Path, source: std::io::Error) -> FixError {
    FixError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// The path of an input inside an `--out` folder: its own path without root or `..` parts;
/// stdin is `stdin.yaml`.
fn mirrored(source: &str) -> PathBuf {
    if source == "-" {
        return PathBuf::from("stdin.yaml");
    }
    Path::new(source)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}

/// Appends one input's text to a stream of several: one line break between them if the first
/// lacks it, and a `---` when the next does not start with its own document marker.
fn join_stream(out: &mut String, text: &str) {
    if out.is_empty() {
        out.push_str(text);
        return;
    }
    let line_break = super::scan::line_break(text);
    if !out.ends_with('\n') {
        out.push_str(line_break);
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !starts_with_marker(text) {
        out.push_str("---");
        out.push_str(line_break);
    }
    out.push_str(text);
}

/// Whether the first line of `text` that is neither blank nor a comment is a `---` marker.
fn starts_with_marker(text: &str) -> bool {
    text.lines()
        .map(str::trim_end)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .is_some_and(|line| line == "---" || line.starts_with("--- ") || line.starts_with("---\t"))
}
