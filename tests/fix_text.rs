//! `--fix` text edits over real manifests: every kind of patch the shipped packs make (and the
//! JSONPatch operations in general) applied to every document of every real manifest, checking
//! that the output reads back as the patched documents and that only the patched lines change.

use std::path::{Path, PathBuf};

use celgate::fix::{apply, Patched};
use serde_json::{json, Value};
use similar::{ChangeTag, TextDiff};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// The containers lists of a workload, as pointers.
fn container_lists(doc: &Value) -> Vec<String> {
    [
        "/spec/containers",
        "/spec/template/spec/containers",
        "/spec/jobTemplate/spec/template/spec/containers",
    ]
    .into_iter()
    .filter(|p| doc.pointer(p).is_some_and(Value::is_array))
    .map(str::to_owned)
    .collect()
}

fn object_at<'a>(doc: &'a mut Value, pointer: &str) -> Option<&'a mut serde_json::Map<String, Value>> {
    doc.pointer_mut(pointer)?.as_object_mut()
}

fn ensure_map<'a>(doc: &'a mut Value, parent: &str, key: &str) -> Option<&'a mut serde_json::Map<String, Value>> {
    let parent = object_at(doc, parent)?;
    let slot = parent.entry(key.to_owned()).or_insert_with(|| json!({}));
    if !slot.is_object() {
        *slot = json!({});
    }
    slot.as_object_mut()
}

/// One kind of patch, named by what it does (`add…`, `append…`, `replace…`, `remove…`), and
/// whether it changed the document.
type Mutation = (&'static str, fn(&mut Value) -> bool);

fn mutations() -> Vec<Mutation> {
    vec![
        ("add label with escaped key", |d| {
            ensure_map(d, "/metadata", "labels")
                .map(|m| m.insert("example.com/fixed".into(), json!("by-celgate")))
                .is_some()
        }),
        ("add annotation", |d| {
            ensure_map(d, "/metadata", "annotations")
                .map(|m| m.insert("celgate.io/note".into(), json!("patched")))
                .is_some()
        }),
        ("add root field", |d| {
            object_at(d, "")
                .map(|m| m.insert("automountServiceAccountToken".into(), json!(false)))
                .is_some()
        }),
        ("add securityContext fields", |d| {
            let mut changed = false;
            for list in container_lists(d) {
                let count = d.pointer(&list).and_then(Value::as_array).map_or(0, Vec::len);
                for i in 0..count {
                    if let Some(sc) = ensure_map(d, &format!("{list}/{i}"), "securityContext") {
                        sc.insert("allowPrivilegeEscalation".into(), json!(false));
                        sc.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
                        changed = true;
                    }
                }
            }
            changed
        }),
        ("replace name", |d| match d.pointer_mut("/metadata/name") {
            Some(v) => {
                *v = json!("renamed");
                true
            }
            None => false,
        }),
        ("remove first label", |d| {
            let Some(labels) = object_at(d, "/metadata/labels") else {
                return false;
            };
            if labels.len() < 2 {
                return false;
            }
            let first = labels.keys().next().cloned().unwrap_or_default();
            labels.remove(&first).is_some()
        }),
        ("append container", |d| {
            let Some(list) = container_lists(d).into_iter().next() else {
                return false;
            };
            d.pointer_mut(&list)
                .and_then(Value::as_array_mut)
                .map(|l| l.push(json!({"name": "sidecar", "image": "busybox:1.36"})))
                .is_some()
        }),
        ("remove first container", |d| {
            let Some(list) = container_lists(d).into_iter().next() else {
                return false;
            };
            match d.pointer_mut(&list).and_then(Value::as_array_mut) {
                Some(l) if l.len() >= 2 => {
                    l.remove(0);
                    true
                }
                _ => false,
            }
        }),
        ("replace image in a list item", |d| {
            let Some(list) = container_lists(d).into_iter().next() else {
                return false;
            };
            match d.pointer_mut(&format!("{list}/0/image")) {
                Some(v) => {
                    *v = json!("registry.example.com/fixed:1.0");
                    true
                }
                None => false,
            }
        }),
    ]
}

#[test]
fn patches_change_only_their_lines_in_real_manifests() {
    let mut paths = Vec::new();
    files(Path::new("tests/fixtures/real"), &mut paths);
    files(Path::new("tests/fixtures/manifests"), &mut paths);
    files(Path::new("examples"), &mut paths);
    // Rule packs and the deployment manifests: long block scalars, comments, flow lists.
    files(Path::new("policies"), &mut paths);
    files(Path::new("deploy"), &mut paths);
    paths.sort();
    let mut stats = std::collections::BTreeMap::<&str, (usize, usize, usize)>::new();
    for path in &paths {
        let Ok(lf) = std::fs::read_to_string(path) else {
            continue;
        };
        let Ok(docs) = celgate::source::parse_documents(lf.trim_start_matches('\u{feff}')) else {
            continue;
        };
        // Each file as it is and with CRLF line endings.
        let crlf = lf.replace("\r\n", "\n").replace('\n', "\r\n");
        for ((name, mutate), text) in mutations().into_iter().flat_map(|m| [(m, &lf), (m, &crlf)]) {
            let text = text.as_str();
            let mut values = Vec::new();
            for doc in &docs {
                if doc.value.get("kind").is_none() {
                    continue;
                }
                let mut value = doc.value.clone();
                if mutate(&mut value) && value != doc.value {
                    values.push((doc.index, value));
                }
            }
            if values.is_empty() {
                continue;
            }
            let patched: Vec<Patched<'_>> = values
                .iter()
                .map(|(index, value)| Patched {
                    index: *index,
                    item: None,
                    value,
                })
                .collect();
            let out = apply(text, &patched).expect("applies");
            if text.contains("\r\n") {
                assert!(
                    !out.replace("\r\n", "").contains('\n'),
                    "{} {name}: a bare line feed in CRLF text",
                    path.display()
                );
            }
            let back = celgate::source::parse_documents(out.trim_start_matches('\u{feff}')).expect("output parses");
            for (index, value) in &values {
                let doc = back.iter().find(|d| d.index == *index).expect("document kept");
                assert_eq!(
                    &doc.value,
                    value,
                    "{} {name}: document {index} does not read back",
                    path.display()
                );
            }
            let diff = TextDiff::from_lines(text, &out);
            let removed = diff.iter_all_changes().filter(|c| c.tag() == ChangeTag::Delete).count();
            let added = diff.iter_all_changes().filter(|c| c.tag() == ChangeTag::Insert).count();
            let entry = stats.entry(name).or_default();
            entry.0 += values.len();
            entry.1 += removed;
            entry.2 += added;
            let n = values.len();
            let shown = || format!("{} {name}: -{removed} +{added} lines for {n} documents", path.display());
            if name.starts_with("add") || name.starts_with("append") {
                // At most one line per document is rewritten: a last line gaining its line break,
                // or an empty flow mapping (`labels: {}`) gaining the entry.
                assert!(removed <= n && added >= n, "{}", shown());
            } else if name.starts_with("replace") {
                assert!(removed == n && added == n, "{}", shown());
            } else if name == "remove first label" {
                assert!(removed == n && added == 0, "{}", shown());
            } else {
                assert!(removed >= n && added == 0, "{}", shown());
            }
        }
    }
    eprintln!("{stats:#?}");
}
