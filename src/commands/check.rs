//! `celgate check`: the CI door. Reads documents, judges each, renders the report, writes fixes.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::audit::record::pack_versions;
use crate::audit::{AuditConfig, AuditRecord, AuditWriter, Door};
use crate::cli::{CheckArgs, ColorChoice, Format};
use crate::documents::{self, Document};
use crate::engine::{Engine, Input, NoOverrides, UnconfiguredParam, Verdict};
use crate::fix::{write_fixes, FixDestination, FixSource, Patched};
use crate::report::{self, CheckReport, DocumentResult, PackInfo};
use crate::tenant::{EnvironmentRef, Scope, Tenancy};

use super::{load_engine, load_tenancy, CommandError, Streams, EXIT_ERROR};

/// The tenancy a check runs under: the config's, with the tenant and environment the flags name.
struct CheckTenancy {
    tenancy: Tenancy,
    now: chrono::DateTime<chrono::Utc>,
}

/// Runs `check`; returns the exit code of design §6.
pub fn run(args: &CheckArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    if args.in_place && args.paths.iter().any(|p| p.as_os_str() == "-") {
        writeln!(
            streams.stderr,
            "error: --in-place cannot rewrite standard input; use --fix without it (fixed documents go to stdout)"
        )?;
        return Ok(EXIT_ERROR);
    }
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
    let fix_to_stdout = args.fix && args.out.is_none() && !args.in_place;
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
    } else {
        streams.stdout.write_all(rendered.as_bytes())?;
    }
    if args.fix {
        let sources = fix_sources(&collected.texts, &collected.documents, &report);
        let destination = match &args.out {
            Some(dir) => FixDestination::Folder {
                dir,
                changed_only: args.changed_only,
            },
            None if args.in_place => FixDestination::InPlace,
            None => FixDestination::Stream(&mut *streams.stdout),
        };
        let sources = if args.changed_only && args.out.is_none() {
            sources.into_iter().filter(|s| !s.patched.is_empty()).collect()
        } else {
            sources
        };
        if let Err(e) = write_fixes(&sources, destination) {
            writeln!(streams.stderr, "error: {e}")?;
            return Ok(EXIT_ERROR);
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

/// Every input with its patched documents, in input order, for `--fix`.
fn fix_sources<'a>(
    texts: &'a [documents::InputText],
    docs: &'a [Document],
    report: &'a CheckReport,
) -> Vec<FixSource<'a>> {
    let mut docs = docs.iter().zip(&report.results).peekable();
    let mut sources = Vec::with_capacity(texts.len());
    for input in texts {
        let mut patched = Vec::new();
        let mut last: Option<(usize, Option<usize>)> = None;
        // Documents of one input are in order: a repeated path starts again at its first one.
        while let Some((doc, result)) =
            docs.next_if(|(d, _)| d.source == input.source && last.is_none_or(|l| (d.index, d.item) > l))
        {
            last = Some((doc.index, doc.item));
            if let (Verdict::Patch, Some(value)) = (&result.decision.decision, &result.decision.patched_object) {
                patched.push(Patched {
                    index: doc.index,
                    item: doc.item,
                    value,
                });
            }
        }
        sources.push(FixSource {
            source: &input.source,
            text: input.text.as_deref(),
            patched,
        });
    }
    sources
}
