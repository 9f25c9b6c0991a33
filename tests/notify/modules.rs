//! The notify modules import one another one way (issue 17): no cycle, and the vocabulary the
//! config and the routes share imports no other notify module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Notify modules each module's non-test code imports (`super::x`, `crate::notify::x`).
fn import_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/notify");
    let mut modules = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut uses = BTreeSet::new();
        for prefix in ["super::", "crate::notify::"] {
            for (at, _) in code.match_indices(prefix) {
                let rest = &code[at + prefix.len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !target.is_empty() && target != name && rest[target.len()..].starts_with("::") {
                    uses.insert(target);
                }
            }
        }
        if name == "mod" {
            // The parent declares every module; only its `use` lines count.
            uses = code
                .lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix("use ")
                        .or_else(|| l.trim().strip_prefix("pub use "))
                })
                .filter_map(|l| l.split("::").next())
                .map(str::to_owned)
                .collect();
        }
        modules.insert(name, uses);
    }
    modules
}

fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        start: &str,
    ) -> Option<Vec<String>> {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(next.clone());
                return Some(cycle);
            }
            if !path.contains(next) {
                path.push(next.clone());
                if let Some(cycle) = walk(graph, next, path, start) {
                    return Some(cycle);
                }
                path.pop();
            }
        }
        None
    }
    walk(graph, start, &mut vec![start.to_owned()], start)
}

#[test]
fn notify_modules_have_no_import_cycle() {
    let graph = import_graph();
    assert!(
        graph.contains_key("route") && graph.contains_key("resolve"),
        "{graph:?}"
    );
    assert!(
        graph["route"].contains("vocab"),
        "route matches with the vocabulary: {graph:?}"
    );
    assert!(
        graph["config"].contains("vocab"),
        "config parses into the vocabulary: {graph:?}"
    );
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("import cycle {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_vocabulary_and_urls_import_no_notify_module() {
    let graph = import_graph();
    assert_eq!(graph["vocab"], BTreeSet::new(), "vocab imports notify modules");
    assert_eq!(graph["url"], BTreeSet::new(), "url imports notify modules");
}

#[test]
fn the_checker_sees_a_cycle() {
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("config", &["route"][..]),
        ("route", &["resolve"][..]),
        ("resolve", &["route"][..]),
    ]
    .into_iter()
    .map(|(m, uses)| (m.to_owned(), uses.iter().map(|u| (*u).to_owned()).collect()))
    .collect();
    assert_eq!(
        cycle_through(&graph, "route"),
        Some(vec!["route".to_owned(), "resolve".to_owned(), "route".to_owned()])
    );
    assert_eq!(cycle_through(&graph, "config"), None);
}
