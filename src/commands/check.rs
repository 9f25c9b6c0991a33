//! `celgate check`: the CI door. Reads documents, judges each, renders the report, writes fixes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use crate::cli::{CheckArgs, ColorChoice, Format};
use crate::documents::{self, Document};
use crate::engine::{Engine, Input, Verdict};
use crate::report::{self, CheckReport, DocumentResult, PackInfo};
use crate::source;

use super::{load_engine, CommandError, Streams, EXIT_ERROR};

/// Runs `check`; returns the exit code of design §6.
pub fn run(args: &CheckArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let (engine, _) = load_engine(&args.selection.packs)?;
    let engine = engine.filtered(&args.selection.frameworks)?;
    let engine = super::params::with_param_files(&engine, &args.params)?;
    let collected = documents::collect(&args.paths, streams.stdin);
    let namespaces = collected.namespace_labels();
    let results = judge_all(&engine, &collected.documents, &namespaces, args);
    let report = CheckReport {
        results,
        problems: collected.problems,
        packs: engine
            .packs()
            .iter()
            .map(|p| PackInfo {
                name: p.metadata.name.clone(),
                version: p.metadata.version.clone(),
                framework: p.metadata.framework.clone(),
            })
            .collect(),
    };
    for problem in &report.problems {
        writeln!(streams.stderr, "error: {problem}")?;
    }
    let fix_to_stdout = args.fix && args.out.is_none();
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            let terminal = if fix_to_stdout {
                std::io::stderr().is_terminal()
            } else {
                streams.stdout_is_terminal
            };
            terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let rendered = match args.format {
        Format::Text => report::text::render(&report, color),
        Format::Json => report::json::render(&report),
        Format::Sarif => report::sarif::render(&report),
        Format::Junit => report::junit::render(&report),
    };
    if fix_to_stdout {
        streams.stderr.write_all(rendered.as_bytes())?;
        write_fixes_to(&mut *streams.stdout, &collected.documents, &report)?;
    } else {
        streams.stdout.write_all(rendered.as_bytes())?;
        if let Some(out) = &args.out {
            if let Err(e) = write_fixes_to_dir(out, &collected.documents, &report) {
                writeln!(streams.stderr, "error: {e}")?;
                return Ok(EXIT_ERROR);
            }
        }
    }
    Ok(report.exit_code())
}

/// Judges every document, spreading the work over the machine's cores.
fn judge_all(
    engine: &Engine,
    docs: &[Document],
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    args: &CheckArgs,
) -> Vec<DocumentResult> {
    crate::files::map_in_order(docs.iter().collect(), 16, |d| judge(engine, d, namespaces, args))
}

fn judge(
    engine: &Engine,
    doc: &Document,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    args: &CheckArgs,
) -> DocumentResult {
    let namespace = doc.metadata_str("namespace");
    let mut input = Input::new(doc.value.clone());
    input.tenant.clone_from(&args.tenant);
    input.environment.clone_from(&args.environment);
    if !namespace.is_empty() {
        input.namespace_labels = namespaces.get(namespace).cloned();
    }
    let decision = engine.evaluate(&input);
    let locations = decision.violations.iter().map(|v| doc.locate(&v.pointer)).collect();
    DocumentResult {
        source: doc.source.clone(),
        document: doc.index,
        item: doc.item,
        api_version: input.api_version().to_owned(),
        kind: input.kind().to_owned(),
        name: input.name().to_owned(),
        namespace: namespace.to_owned(),
        line: doc.line,
        decision,
        locations,
    }
}

/// The documents of each source with the patched ones replaced, grouped by source file; only
/// sources with at least one patched document.
fn patched_sources<'a>(docs: &'a [Document], report: &'a CheckReport) -> Vec<(&'a str, Vec<serde_json::Value>)> {
    let mut by_source: Vec<(&str, Vec<serde_json::Value>, bool)> = Vec::new();
    let mut lists: BTreeMap<(String, usize), usize> = BTreeMap::new();
    for (doc, result) in docs.iter().zip(&report.results) {
        let value = match (&result.decision.decision, &result.decision.patched_object) {
            (Verdict::Patch, Some(patched)) => patched.clone(),
            _ => doc.value.clone(),
        };
        let patched = result.decision.decision == Verdict::Patch;
        if by_source.last().is_none_or(|(s, _, _)| *s != doc.source) {
            by_source.push((&doc.source, Vec::new(), false));
        }
        let Some(entry) = by_source.last_mut() else { continue };
        entry.2 |= patched;
        if doc.item.is_none() {
            entry.1.push(value);
        } else {
            let key = (doc.source.clone(), doc.index);
            if let Some(&pos) = lists.get(&key) {
                if let Some(items) = entry.1[pos].get_mut("items").and_then(|i| i.as_array_mut()) {
                    items.push(value);
                }
            } else {
                lists.insert(key, entry.1.len());
                entry
                    .1
                    .push(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [value]}));
            }
        }
    }
    by_source
        .into_iter()
        .filter(|(_, _, patched)| *patched)
        .map(|(s, docs, _)| (s, docs))
        .collect()
}

fn render_documents(source: &str, docs: &[serde_json::Value]) -> String {
    if Path::new(source)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        && docs.len() == 1
    {
        let mut s = serde_json::to_string_pretty(&docs[0]).unwrap_or_default();
        s.push('\n');
        return s;
    }
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&source::to_yaml_string(doc));
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

fn write_fixes_to(out: &mut dyn std::io::Write, docs: &[Document], report: &CheckReport) -> std::io::Result<()> {
    for (source, values) in patched_sources(docs, report) {
        writeln!(out, "# celgate --fix: {source}")?;
        out.write_all(render_documents(source, &values).as_bytes())?;
    }
    Ok(())
}

fn write_fixes_to_dir(dir: &Path, docs: &[Document], report: &CheckReport) -> Result<(), String> {
    for (source, values) in patched_sources(docs, report) {
        let relative = if source == "-" {
            PathBuf::from("stdin.yaml")
        } else {
            Path::new(source)
                .components()
                .filter(|c| matches!(c, Component::Normal(_)))
                .collect()
        };
        let target = dir.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        std::fs::write(&target, render_documents(source, &values)).map_err(|e| format!("{}: {e}", target.display()))?;
    }
    Ok(())
}
