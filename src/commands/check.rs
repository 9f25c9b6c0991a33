//! `celgate check`: the CI door. Reads documents, judges each, renders the report, writes fixes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Component, Path, PathBuf};

use crate::audit::record::pack_versions;
use crate::audit::{AuditConfig, AuditRecord, AuditWriter, Door};
use crate::cli::{CheckArgs, ColorChoice, Format};
use crate::documents::{self, Document};
use crate::engine::{Engine, Input, NoOverrides, UnconfiguredParam, Verdict};
use crate::report::{self, CheckReport, DocumentResult, PackInfo};
use crate::source;
use crate::tenant::{EnvironmentRef, Scope, Tenancy};

use super::{load_engine, load_tenancy, CommandError, Streams, EXIT_ERROR};

/// The tenancy a check runs under: the config's, with the tenant and environment the flags name.
struct CheckTenancy {
    tenancy: Tenancy,
    now: chrono::DateTime<chrono::Utc>,
}

/// Runs `check`; returns the exit code of design §6.
pub fn run(args: &CheckArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    let (engine, _) = load_engine(&args.selection.packs)?;
    let engine = engine.filtered(&args.selection.frameworks)?;
    let engine = super::params::with_param_files(&engine, &args.params)?;
    let engine = if args.bind_all { engine.with_bind_all() } else { engine };
    let mut notices = engine.type_warnings();
    notices.extend(engine.unbound_policies().iter().map(ToString::to_string));
    for line in notices {
        writeln!(streams.stderr, "warning: {line}")?;
    }
    let tenancy = match &args.config {
        Some(path) => {
            let now = chrono::Utc::now();
            let tenancy = load_tenancy(path, &engine, now)?;
            if let Some(name) = &args.tenant {
                tenancy.tenant(name)?;
            }
            if let Some(name) = &args.environment {
                tenancy.environment(name)?;
            }
            for id in tenancy.expired_exceptions() {
                writeln!(
                    streams.stderr,
                    "warning: exception {id} in {} has expired and no longer applies",
                    path.display()
                )?;
            }
            Some(CheckTenancy { tenancy, now })
        }
        None => None,
    };
    let mut audit = match args
        .audit
        .as_deref()
        .map(|p| AuditWriter::open(&AuditConfig::single_file(p)))
    {
        Some(Err(e)) => {
            writeln!(streams.stderr, "error: {}", super::audit::error_chain(&e))?;
            return Ok(EXIT_ERROR);
        }
        opened => opened.and_then(Result::ok),
    };
    let collected = documents::collect(&args.paths, streams.stdin);
    let namespaces = collected.namespace_labels();
    let mut results = Vec::new();
    let mut records = Vec::new();
    // Without tenants every document has the packs' own params: one answer for all of them.
    let mut unconfigured = if tenancy.is_none() || collected.documents.is_empty() {
        engine.unconfigured_params(&serde_json::Map::new(), &NoOverrides)
    } else {
        Vec::new()
    };
    for (result, record, params) in judge_all(&engine, tenancy.as_ref(), &collected.documents, &namespaces, args) {
        results.push(result);
        records.push(record);
        report::merge_unconfigured(&mut unconfigured, params);
    }
    if let Some(writer) = audit.as_mut() {
        let packs = pack_versions(&engine);
        let written = records
            .into_iter()
            .flatten()
            .try_for_each(|r| writer.append(&r.with_packs(packs.clone())).map(|_| ()))
            .and_then(|()| writer.sync());
        if let Err(e) = written {
            writeln!(streams.stderr, "error: {}", super::audit::error_chain(&e))?;
            return Ok(EXIT_ERROR);
        }
    }
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
        unconfigured,
    };
    for problem in &report.problems {
        writeln!(streams.stderr, "error: {problem}")?;
    }
    // The text report and SARIF carry the notice themselves; JSON and JUnit have no place for it.
    if matches!(args.format, Format::Json | Format::Junit) {
        for line in report::unconfigured_notice(&report.unconfigured).unwrap_or_default() {
            writeln!(streams.stderr, "warning: {line}")?;
        }
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

/// What judging one document gives: its result, its audit record (with `--audit`) and, with
/// tenants, the params that still held their examples for it.
type Judged = (DocumentResult, Option<AuditRecord>, Vec<UnconfiguredParam>);

/// Judges every document, spreading the work over the machine's cores; with `--audit`, also
/// the audit record of each decision.
fn judge_all(
    engine: &Engine,
    tenancy: Option<&CheckTenancy>,
    docs: &[Document],
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    args: &CheckArgs,
) -> Vec<Judged> {
    crate::files::map_in_order(docs.iter().collect(), 16, |d| {
        judge(engine, tenancy, d, namespaces, args)
    })
}

/// The scope of one document: the `--tenant` (else the tenant owning its namespace) and the
/// `--environment` (else the one its namespace maps to, else the config's default).
fn scope_of<'a>(t: &'a CheckTenancy, input: &Input, args: &CheckArgs) -> Scope<'a> {
    let by_namespace = Scope::of_input(&t.tenancy, input, t.now);
    let tenant = match &args.tenant {
        Some(name) => t.tenancy.tenant(name).ok(),
        None => by_namespace.tenant_ref(),
    };
    let namespace = input.effective_namespace();
    let environment: Option<EnvironmentRef<'_>> = match &args.environment {
        Some(name) => t.tenancy.environment(name).ok(),
        None => t.tenancy.environment_of_namespace(tenant, namespace),
    };
    Scope::new(&t.tenancy, tenant, environment, t.now)
}

fn judge(
    engine: &Engine,
    tenancy: Option<&CheckTenancy>,
    doc: &Document,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
    args: &CheckArgs,
) -> Judged {
    let namespace = doc.metadata_str("namespace");
    let mut input = Input::new(doc.value.clone());
    input.tenant.clone_from(&args.tenant);
    input.environment.clone_from(&args.environment);
    if !namespace.is_empty() {
        input.namespace_labels = namespaces.get(namespace).cloned();
    }
    let (decision, unconfigured) = match tenancy {
        Some(t) => {
            let scope = scope_of(t, &input, args);
            scope.prepare(&mut input);
            let unconfigured = engine.unconfigured_params(&input.params, &scope);
            (engine.evaluate_with(&input, &scope), unconfigured)
        }
        // `run` lists the unconfigured params once for all documents.
        None => (engine.evaluate_with(&input, &NoOverrides), Vec::new()),
    };
    let locations = decision.violations.iter().map(|v| doc.locate(&v.pointer)).collect();
    let record = args.audit.is_some().then(|| {
        let source = match doc.item {
            Some(item) => format!("{}#{}.{item}", doc.source, doc.index),
            None => format!("{}#{}", doc.source, doc.index),
        };
        AuditRecord::new(Door::Ci, &input, &decision).with_source(source)
    });
    let result = DocumentResult {
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
    };
    (result, record, unconfigured)
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
