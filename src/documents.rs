//! Turning `celgate check` arguments (files, folders, `-`) into documents to judge, refusing bad
//! input with a clear problem and keeping everything else.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::report::{InputProblem, Location};
use crate::source::{self, PositionMap};

/// Largest input file read, in bytes; larger files are refused without being read.
pub const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// One document to judge, with what is needed to point back into its file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The path as given (or `-`).
    pub source: String,
    /// 0-based index of the document in its file.
    pub index: usize,
    /// Index inside a `kind: List`.
    pub item: Option<usize>,
    /// The document.
    pub value: serde_json::Value,
    /// Pointer -> position map of the file document it came from.
    pub positions: Arc<PositionMap>,
    /// Pointer of this document inside that file document (`/items/3` for a List item).
    pub pointer_prefix: String,
    /// 1-based line where the document starts.
    pub line: usize,
}

impl Document {
    /// Line and column of the node at `pointer` (relative to this document), or of its nearest
    /// ancestor.
    pub fn locate(&self, pointer: &str) -> Option<Location> {
        let full = format!("{}{}", self.pointer_prefix, pointer);
        self.positions.locate(&full).map(|p| Location {
            line: p.line,
            column: p.column,
        })
    }

    /// `metadata.<field>` as a string, `""` when absent.
    pub fn metadata_str(&self, field: &str) -> &str {
        self.value
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|v| v.as_str())
            .unwrap_or("")
    }
}

/// Documents and problems found in the inputs.
#[derive(Debug, Default)]
pub struct Collected {
    /// Documents, in input order.
    pub documents: Vec<Document>,
    /// Inputs that could not be read or parsed.
    pub problems: Vec<InputProblem>,
    /// The text of every input that was read, in input order (for `--fix`, which writes them
    /// back).
    pub texts: Vec<InputText>,
}

/// The text of one input as read.
#[derive(Debug, Clone)]
pub struct InputText {
    /// The path as given (or `-`).
    pub source: String,
    /// The text, byte for byte (a byte-order mark included); `None` when the input is not UTF-8
    /// text.
    pub text: Option<Arc<str>>,
}

impl Collected {
    /// Labels of every `Namespace` document among the inputs, by name: used as the namespace's
    /// labels for the objects in it (there is no cluster to ask in CI).
    pub fn namespace_labels(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.documents
            .iter()
            .filter(|d| d.value.get("kind").and_then(|k| k.as_str()) == Some("Namespace"))
            .map(|d| {
                let labels = d
                    .value
                    .get("metadata")
                    .and_then(|m| m.get("labels"))
                    .and_then(|l| l.as_object())
                    .map(|l| {
                        l.iter()
                            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default();
                (d.metadata_str("name").to_owned(), labels)
            })
            .collect()
    }
}

/// One thing to read, in input order.
enum Work {
    Stdin(Vec<u8>),
    File(PathBuf),
    Problem(InputProblem),
}

/// Reads every input: `-` is `stdin`, folders are walked for `*.yaml`, `*.yml` and `*.json`.
/// Files are read and parsed on all cores; documents keep the input order.
pub fn collect(inputs: &[PathBuf], stdin: &mut dyn Read) -> Collected {
    let mut work = Vec::new();
    let mut stdin_used = false;
    for input in inputs {
        if input.as_os_str() == "-" {
            if !stdin_used {
                stdin_used = true;
                work.push(read_stdin(stdin));
            }
            continue;
        }
        let shown = input.display().to_string();
        match std::fs::metadata(input) {
            Ok(meta) if meta.is_dir() => {
                let mut files = Vec::new();
                if let Err(e) = crate::files::find(input, &["yaml", "yml", "json"], &mut files) {
                    work.push(Work::Problem(problem(&shown, format!("cannot read folder: {e}"))));
                }
                files.sort();
                work.extend(files.into_iter().map(Work::File));
            }
            Ok(_) => work.push(Work::File(input.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                work.push(Work::Problem(problem(&shown, "no such file or directory".to_owned())));
            }
            Err(e) => work.push(Work::Problem(problem(&shown, e.to_string()))),
        }
    }
    let parts = crate::files::map_in_order(work, 8, do_work);
    let mut collected = Collected::default();
    for part in parts {
        collected.documents.extend(part.documents);
        collected.problems.extend(part.problems);
        collected.texts.extend(part.texts);
    }
    collected
}

fn read_stdin(stdin: &mut dyn Read) -> Work {
    let mut bytes = Vec::new();
    match stdin.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes) {
        Ok(_) if bytes.len() as u64 > MAX_INPUT_BYTES => Work::Problem(problem(
            "-",
            format!("standard input is larger than the {MAX_INPUT_BYTES}-byte limit"),
        )),
        Ok(_) => Work::Stdin(bytes),
        Err(e) => Work::Problem(problem("-", format!("cannot read standard input: {e}"))),
    }
}

fn do_work(item: Work) -> Collected {
    let mut collected = Collected::default();
    match item {
        Work::Stdin(bytes) => parse_bytes("-", &bytes, &mut collected),
        Work::File(path) => read_file(&path, &mut collected),
        Work::Problem(p) => collected.problems.push(p),
    }
    collected
}

fn problem(source: &str, message: String) -> InputProblem {
    InputProblem {
        source: source.to_owned(),
        document: None,
        location: None,
        message,
    }
}

fn read_file(path: &Path, collected: &mut Collected) {
    let source = path.display().to_string();
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            collected.problems.push(problem(&source, e.to_string()));
            return;
        }
    };
    if size > MAX_INPUT_BYTES {
        collected.problems.push(problem(
            &source,
            format!("file is {size} bytes, larger than the {MAX_INPUT_BYTES}-byte limit; not read"),
        ));
        return;
    }
    match std::fs::read(path) {
        Ok(bytes) => parse_bytes(&source, &bytes, collected),
        Err(e) => collected.problems.push(problem(&source, format!("cannot read: {e}"))),
    }
}

/// Parses one input's bytes into documents (or problems).
pub fn parse_bytes(source: &str, bytes: &[u8], collected: &mut Collected) {
    if bytes.contains(&0) {
        collected.texts.push(InputText {
            source: source.to_owned(),
            text: None,
        });
        collected.problems.push(problem(
            source,
            "binary file (contains NUL bytes); expected YAML or JSON text".to_owned(),
        ));
        return;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            collected.texts.push(InputText {
                source: source.to_owned(),
                text: None,
            });
            collected.problems.push(problem(
                source,
                format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to()),
            ));
            return;
        }
    };
    collected.texts.push(InputText {
        source: source.to_owned(),
        text: Some(Arc::from(text)),
    });
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs = match source::parse_documents(text) {
        Ok(d) => d,
        Err(e) => {
            let pos = e.position();
            collected.problems.push(InputProblem {
                source: source.to_owned(),
                document: None,
                location: Some(Location {
                    line: pos.line,
                    column: pos.column,
                }),
                message: format!("malformed YAML/JSON: {e}"),
            });
            return;
        }
    };
    if docs.is_empty() {
        collected.problems.push(problem(
            source,
            "no documents (the file is empty or only comments)".to_owned(),
        ));
        return;
    }
    for doc in docs {
        let positions = Arc::new(doc.positions);
        add_document(source, doc.index, doc.line, doc.value, &positions, collected);
    }
}

fn add_document(
    source: &str,
    index: usize,
    line: usize,
    value: serde_json::Value,
    positions: &Arc<PositionMap>,
    collected: &mut Collected,
) {
    let doc_problem = |message: String| InputProblem {
        source: source.to_owned(),
        document: Some(index),
        location: Some(Location { line, column: 1 }),
        message,
    };
    let serde_json::Value::Object(map) = &value else {
        collected.problems.push(doc_problem(format!(
            "document is a {}, expected a mapping with apiVersion and kind",
            type_name(&value)
        )));
        return;
    };
    let kind = match map.get("kind") {
        Some(serde_json::Value::String(k)) if !k.is_empty() => k.clone(),
        Some(other) => {
            collected.problems.push(doc_problem(format!(
                "'kind' must be a non-empty string, got {}",
                type_name(other)
            )));
            return;
        }
        None => {
            collected
                .problems
                .push(doc_problem("document has no 'kind'".to_owned()));
            return;
        }
    };
    if let Some(items) = source::list_items(&value) {
        for (i, item) in items.iter().enumerate() {
            let pointer_prefix = format!("/items/{i}");
            let item_line = positions.locate(&pointer_prefix).map_or(line, |p| p.line);
            if item.get("kind").and_then(|k| k.as_str()).is_none_or(str::is_empty) {
                collected.problems.push(InputProblem {
                    source: source.to_owned(),
                    document: Some(index),
                    location: Some(Location {
                        line: item_line,
                        column: 1,
                    }),
                    message: format!("item {i} of the {kind} has no 'kind'"),
                });
                continue;
            }
            collected.documents.push(Document {
                source: source.to_owned(),
                index,
                item: Some(i),
                value: item.clone(),
                positions: Arc::clone(positions),
                pointer_prefix,
                line: item_line,
            });
        }
        return;
    }
    collected.documents.push(Document {
        source: source.to_owned(),
        index,
        item: None,
        value,
        positions: Arc::clone(positions),
        pointer_prefix: String::new(),
        line,
    });
}

fn type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "mapping",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Collected {
        let mut c = Collected::default();
        parse_bytes("t.yaml", text.as_bytes(), &mut c);
        c
    }

    #[test]
    fn lists_are_split_and_located() {
        let c = parse("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: a}\n- kind: Service\n");
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.documents[1].item, Some(1));
        assert_eq!(c.documents[0].locate("/metadata/name").map(|l| l.line), Some(6));
    }

    #[test]
    fn bad_documents_are_problems_and_others_survive() {
        let c = parse("kind: Pod\n---\n- 1\n---\nmetadata: {}\n---\nkind: Service\n");
        assert_eq!(c.documents.len(), 2);
        assert_eq!(c.problems.len(), 2);
        assert!(c.problems[1].message.contains("no 'kind'"), "{:?}", c.problems);
    }

    #[test]
    fn binary_empty_and_non_utf8() {
        assert!(parse("").problems[0].message.contains("no documents"));
        let mut c = Collected::default();
        parse_bytes("b", b"\x00\x01", &mut c);
        parse_bytes("u", b"kind: \xff", &mut c);
        assert!(c.problems[0].message.contains("binary"));
        assert!(c.problems[1].message.contains("not UTF-8"));
    }
}
