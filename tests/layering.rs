//! The crate's module layering, read from its source (`src/`), as `engine/mod.rs` and `lib.rs`
//! describe it:
//!
//! 1. inside `engine`, dependencies point one way: `cel` < `facts` < `pack` < `vap` < `eval` <
//!    the engine's root (`engine/mod.rs`, `engine/loader.rs`); a file may name its own layer or a
//!    lower one, never a higher one (`crate::engine::X` and `super::` paths, `use` trees included);
//! 2. no import cycle between the crate's top-level modules (`audit`, `engine`, `server`, ...);
//! 3. no import cycle between sibling modules of any folder when one of them is a folder (a cycle
//!    between two files of one folder is that folder's own business).
//!
//! Test code (`#[cfg(test)] mod ... { }`, `tests.rs`, files under a `tests/` folder) is not read:
//! a test may use whatever it needs. A path to a folder's `mod.rs` items (a re-export) counts as a
//! dependency on the folder, not on the file the item comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

mod source_scan;

use source_scan::code_only;

/// The engine's layers, lowest first; anything else in `engine` is its root (highest).
const LAYERS: [&str; 5] = ["cel", "facts", "pack", "vap", "eval"];

/// The modules of the engine's root besides `engine/mod.rs`: a new module of `engine` must be
/// placed, in a layer or here.
const ROOT_MODULES: [&str; 1] = ["loader"];

/// One module path named in a source file.
#[derive(Debug, Clone)]
struct Reference {
    /// File it is written in, relative to the crate.
    file: String,
    /// 1-based line.
    line: usize,
    /// The module the file (or inline module) is.
    from: Vec<String>,
    /// The module the path resolves to (longest known module prefix of the path).
    to: Vec<String>,
    /// The path as written.
    text: String,
}

/// Removes `#[cfg(test)]` items: inline modules (to their closing brace) and single `use`s.
fn without_tests(code: &str) -> String {
    let text: Vec<char> = code.chars().collect();
    let mut out = text.clone();
    let marker: Vec<char> = "#[cfg(test)]".chars().collect();
    let mut start = 0;
    while start + marker.len() <= text.len() {
        if text[start..start + marker.len()] != marker[..] {
            start += 1;
            continue;
        }
        let mut j = start + marker.len();
        let (mut depth, mut opened) = (0usize, false);
        while j < text.len() {
            match text[j] {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => {
                    depth = depth.saturating_sub(1);
                    if opened && depth == 0 {
                        break;
                    }
                }
                ';' if !opened => break,
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(text.len());
        for c in &mut out[start..end] {
            if *c != '\n' {
                *c = ' ';
            }
        }
        start = end;
    }
    out.into_iter().collect()
}

/// Expands a `use` tree (`a::{b, c::{d, e as f}}`) into its paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree.split("as").next().unwrap_or("").to_owned()];
    };
    let prefix = &tree[..open];
    let Some(close) = tree.rfind('}') else {
        return Vec::new();
    };
    let body = &tree[open + 1..close];
    let mut items = Vec::new();
    let (mut depth, mut cur) = (0, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            items.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    items.push(cur);
    items
        .into_iter()
        .filter(|i| !i.is_empty())
        .flat_map(|i| {
            expand_use(&i)
                .into_iter()
                .map(|p| format!("{prefix}{p}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The module path of a source file (`src/engine/cel/mod.rs` -> `engine::cel`).
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "tests") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") && path.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(path);
        }
    }
}

/// Every module path written in the crate's non-test source, resolved to a known module.
fn references(root: &Path) -> (Vec<Reference>, BTreeSet<Vec<String>>, BTreeSet<Vec<String>>) {
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut modules: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut folders: BTreeSet<Vec<String>> = BTreeSet::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let m = module_of(rel);
        if rel.file_name().is_some_and(|n| n == "mod.rs") || f.with_extension("").is_dir() {
            folders.insert(m.clone());
        }
        modules.insert(m);
    }
    let mut refs = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let file_mod = module_of(rel);
        if file_mod.is_empty() {
            continue; // lib.rs / main.rs: the crate root names every module.
        }
        let text = fs::read_to_string(f).expect("readable source");
        let code = without_tests(&code_only(&text));
        let shown = format!("src/{}", rel.display());
        scan(&code, &shown, &file_mod, &modules, &mut refs);
    }
    (refs, modules, folders)
}

/// Finds the paths in one file's code, tracking inline modules for `super::`.
fn scan(code: &str, file: &str, file_mod: &[String], modules: &BTreeSet<Vec<String>>, refs: &mut Vec<Reference>) {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    // Inline modules: (name, brace depth at which they close).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let bytes = code.as_bytes();
    let mut i = 0;
    let mut pending_mod: Option<String> = None;
    while i < code.len() {
        let c = bytes[i] as char;
        if c == '{' {
            depth += 1;
            if let Some(name) = pending_mod.take() {
                inline.push((name, depth));
            }
            i += 1;
            continue;
        }
        if c == '}' {
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            depth = depth.saturating_sub(1);
            i += 1;
            continue;
        }
        if c == ';' {
            pending_mod = None;
        }
        if !is_ident(c) || (i > 0 && (is_ident(bytes[i - 1] as char) || bytes[i - 1] == b':')) {
            i += 1;
            continue;
        }
        let word_end = code[i..].find(|ch: char| !is_ident(ch)).map_or(code.len(), |e| i + e);
        let word = &code[i..word_end];
        let current: Vec<String> = file_mod
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        if word == "mod" {
            let rest = code[word_end..].trim_start();
            let name: String = rest.chars().take_while(|&ch| is_ident(ch)).collect();
            pending_mod = Some(name);
            i = word_end;
            continue;
        }
        if word == "use" {
            let Some(end) = code[word_end..].find(';') else { break };
            let tree = &code[word_end..word_end + end];
            for path in expand_use(tree) {
                resolve(&path, &current, modules, file, line_of(i), refs, true);
            }
            i = word_end + end + 1;
            continue;
        }
        if matches!(word, "crate" | "super" | "self") && code[word_end..].starts_with("::") {
            let end = code[i..]
                .find(|ch: char| !(is_ident(ch) || ch == ':'))
                .map_or(code.len(), |e| i + e);
            resolve(&code[i..end], &current, modules, file, line_of(i), refs, false);
            i = end;
            continue;
        }
        i = word_end;
    }
}

/// Resolves `path` written in module `current` to the longest known module it names.
fn resolve(
    path: &str,
    current: &[String],
    modules: &BTreeSet<Vec<String>>,
    file: &str,
    line: usize,
    refs: &mut Vec<Reference>,
    in_use: bool,
) {
    let segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let Some(first) = segs.first() else { return };
    let mut target: Vec<String> = match *first {
        "crate" => Vec::new(),
        "self" | "super" => current.to_vec(),
        // `use child::x` names a child module of the current one (2018 paths); anything else
        // is another crate.
        name if in_use => {
            let mut child = current.to_vec();
            child.push(name.to_owned());
            if !modules.contains(&child) {
                return;
            }
            current.to_vec()
        }
        _ => return,
    };
    let mut rest = &segs[..];
    if matches!(*first, "crate" | "self") {
        rest = &segs[1..];
    }
    while let Some(&"super") = rest.first() {
        target.pop();
        rest = &rest[1..];
    }
    for s in rest {
        if matches!(*s, "*" | "self") {
            break;
        }
        target.push((*s).to_owned());
    }
    while !target.is_empty() && !modules.contains(&target) {
        target.pop();
    }
    if target.is_empty() {
        return;
    }
    refs.push(Reference {
        file: file.to_owned(),
        line,
        from: current.to_vec(),
        to: target,
        text: path.to_owned(),
    });
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The rank of an engine module: its layer's index, or the root's (above every layer).
fn rank(module: &[String]) -> Option<usize> {
    if module.first().map(String::as_str) != Some("engine") {
        return None;
    }
    Some(
        module
            .get(1)
            .and_then(|l| LAYERS.iter().position(|x| x == l))
            .unwrap_or(LAYERS.len()),
    )
}

fn layer_name(rank: usize) -> &'static str {
    LAYERS.get(rank).copied().unwrap_or("the engine root")
}

/// Layer violations among `refs`, one line each.
fn layer_violations(refs: &[Reference]) -> Vec<String> {
    let mut out = Vec::new();
    for r in refs {
        let (Some(from), Some(to)) = (rank(&r.from), rank(&r.to)) else {
            continue;
        };
        if to > from {
            out.push(format!(
                "{}:{}: `{}` ({}) reaches up into {} (`{}`)",
                r.file,
                r.line,
                r.text,
                layer_name(from),
                layer_name(to),
                r.to.join("::")
            ));
        }
    }
    out
}

/// Edges between the children of `parent` (or the top-level modules when `parent` is empty):
/// (from child, to child) -> the first reference making it.
fn sibling_edges<'r>(refs: &'r [Reference], parent: &[String]) -> BTreeMap<(String, String), &'r Reference> {
    let mut edges = BTreeMap::new();
    let depth = parent.len();
    for r in refs {
        if r.from.len() <= depth || r.to.len() <= depth || !r.from.starts_with(parent) || !r.to.starts_with(parent) {
            continue;
        }
        let (a, b) = (&r.from[depth], &r.to[depth]);
        if a != b {
            edges.entry((a.clone(), b.clone())).or_insert(r);
        }
    }
    edges
}

/// A cycle in the graph of `edges`, through at least one node `must` accepts, as its nodes.
fn find_cycle(edges: &BTreeMap<(String, String), &Reference>, must: &dyn Fn(&str) -> bool) -> Option<Vec<String>> {
    let mut graph: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        graph.entry(a.as_str()).or_default().push(b.as_str());
    }
    // For each required node, a DFS for a path back to it.
    for start in graph.keys().copied().filter(|n| must(n)) {
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        let mut on_path: Vec<&str> = vec![start];
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        while let Some((node, next)) = stack.last().copied() {
            let succ = graph.get(node).map_or(&[][..], Vec::as_slice);
            if next >= succ.len() {
                stack.pop();
                on_path.pop();
                continue;
            }
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            let n = succ[next];
            if n == start {
                let mut cycle: Vec<String> = on_path.iter().map(|s| (*s).to_owned()).collect();
                cycle.push(start.to_owned());
                return Some(cycle);
            }
            if seen.insert(n) {
                stack.push((n, 0));
                on_path.push(n);
            }
        }
    }
    None
}

/// Describes a cycle with the reference behind each of its edges.
fn describe(cycle: &[String], parent: &[String], edges: &BTreeMap<(String, String), &Reference>) -> String {
    let name = |n: &str| {
        let mut p = parent.to_vec();
        p.push(n.to_owned());
        p.join("::")
    };
    let mut out = format!(
        "import cycle: {}",
        cycle.iter().map(|n| name(n)).collect::<Vec<_>>().join(" -> ")
    );
    for pair in cycle.windows(2) {
        if let Some(r) = edges.get(&(pair[0].clone(), pair[1].clone())) {
            let _ = write!(out, "\n    {}:{}: `{}`", r.file, r.line, r.text);
        }
    }
    out
}

/// Every cycle problem: top-level modules, then each folder's children.
fn cycle_violations(refs: &[Reference], folders: &BTreeSet<Vec<String>>) -> Vec<String> {
    let mut out = Vec::new();
    let top = sibling_edges(refs, &[]);
    if let Some(cycle) = find_cycle(&top, &|_| true) {
        out.push(describe(&cycle, &[], &top));
    }
    for folder in folders {
        let edges = sibling_edges(refs, folder);
        let is_folder = |n: &str| {
            let mut p = folder.clone();
            p.push(n.to_owned());
            folders.contains(&p)
        };
        if let Some(cycle) = find_cycle(&edges, &is_folder) {
            out.push(describe(&cycle, folder, &edges));
        }
    }
    out
}

#[test]
fn every_engine_module_has_a_place() {
    let (_, modules, _) = references(&crate_root());
    let unplaced: Vec<String> = modules
        .iter()
        .filter(|m| m.len() == 2 && m[0] == "engine")
        .filter(|m| !LAYERS.contains(&m[1].as_str()) && !ROOT_MODULES.contains(&m[1].as_str()))
        .map(|m| m.join("::"))
        .collect();
    assert!(
        unplaced.is_empty(),
        "{} not placed: move each into a layer folder ({}) or, if it belongs to the engine's root, \
         list it in ROOT_MODULES (and in engine/mod.rs's map)",
        unplaced.join(", "),
        LAYERS.join(", ")
    );
}

#[test]
fn engine_layers_depend_downward_only() {
    let (refs, _, _) = references(&crate_root());
    assert!(
        refs.iter().any(|r| r.from.starts_with(&["engine".to_owned()])),
        "the scan found no engine paths: the test reads nothing"
    );
    let bad = layer_violations(&refs);
    assert!(bad.is_empty(), "engine layering broken:\n{}", bad.join("\n"));
}

#[test]
fn no_import_cycles_between_modules_or_folders() {
    let (refs, _, folders) = references(&crate_root());
    let bad = cycle_violations(&refs, &folders);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checks catch what they are for: a made-up crate where `cel` reaches into `eval`, and two
/// folders that import each other.
#[test]
fn the_checks_fail_on_an_upward_import_and_a_cycle() {
    let dir = std::env::temp_dir().join(format!("celgate-layering-{}", std::process::id()));
    let files = [
        ("src/lib.rs", "pub mod engine;\npub mod server;\n"),
        ("src/engine/mod.rs", "pub mod cel;\nmod eval;\n"),
        (
            "src/engine/cel/mod.rs",
            "pub mod compile;\npub mod cost;\n// use crate::engine::eval::Nothing; (a comment)\nconst S: &str = \"crate::engine::eval\";\n",
        ),
        ("src/engine/cel/compile.rs", "use super::cost::Poly;\n"),
        ("src/engine/cel/cost/mod.rs", "use crate::engine::cel::compile::compile;\n"),
        (
            "src/engine/eval/mod.rs",
            "use crate::server::Thing;\n#[cfg(test)]\nmod tests {\n    use crate::server::Other;\n}\n",
        ),
        ("src/server/mod.rs", "use crate::engine::Engine;\n"),
        ("src/engine/cel/tests/x.rs", "use crate::engine::eval::Ignored;\n"),
    ];
    for (path, text) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("temp dir");
        fs::write(&path, text).expect("temp file");
    }
    // The upward import, in a file that was clean.
    fs::write(
        dir.join("src/engine/cel/compile.rs"),
        "use super::cost::Poly;\nuse crate::engine::eval::run_rules;\n",
    )
    .expect("temp file");
    let (refs, _, folders) = references(&dir);
    let layers = layer_violations(&refs);
    let cycles = cycle_violations(&refs, &folders);
    fs::remove_dir_all(&dir).ok();
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert!(
        layers[0]
            .starts_with("src/engine/cel/compile.rs:2: `crate::engine::eval::run_rules` (cel) reaches up into eval"),
        "{}",
        layers[0]
    );
    let text = cycles.join("\n");
    assert!(text.contains("import cycle: engine -> server -> engine"), "{text}");
    assert!(
        text.contains("src/engine/eval/mod.rs:1: `crate::server::Thing`"),
        "{text}"
    );
    assert!(
        text.contains("engine::cel::compile -> engine::cel::cost -> engine::cel::compile")
            || text.contains("engine::cel::cost -> engine::cel::compile -> engine::cel::cost"),
        "{text}"
    );
    assert!(!text.contains("Other"), "test code is not read: {text}");
}
