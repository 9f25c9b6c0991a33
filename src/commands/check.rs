//! `celgate check`: the CI door. Reads documents, judges each, renders the report, writes fixes.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use crate::audit::{AuditConfig, AuditError, AuditRecord, AuditWriter, Door};
use crate::cli::{CheckArgs, ColorChoice, Format};
use crate::documents::{self, Document};
use crate::engine::{Engine, Input, NoOverrides, UnconfiguredParam, Verdict};
use crate::fix::{write_fixes, FixDestination, FixError, FixOutcome, FixSource, Patched};
use crate::report::policy_report::{self, ReportFlavor, RuleCatalog};
use crate::report::{self, CheckReport, DocumentResult, Origin, PackInfo};
use crate::service::{Caller, CallerError, Outputs, Service};
use crate::tenant::Tenancy;

use super::{load_judging_engine, load_judging_tenancy, CommandError, Streams, EXIT_ERROR};

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
    let engine = load_judging_engine(&args.selection, &args.policies, streams)?;
    let now = args.now.unwrap_or_else(chrono::Utc::now);
    let tenancy =
        load_judging_tenancy(&args.tenancy, &engine, now, streams)?.map(|tenancy| CheckTenancy { tenancy, now });
    let mut audit = match args
        .audit
        .as_deref()
        .map(|p| AuditWriter::open(&AuditConfig::single_file(p)))
        .transpose()
    {
        Ok(audit) => audit,
        Err(e) => return audit_failed(streams, &e),
    };
    let caller = args.tenancy.caller();
    let outputs = Outputs {
        audit: args.audit.is_some(),
        unconfigured: tenancy.is_some(),
        ..Outputs::default()
    };
    let service = Service::new(
        &engine,
        tenancy.as_ref().map(|t| &t.tenancy),
        tenancy.as_ref().map_or(now, |t| t.now),
        outputs,
    );
    service.authorize(Door::Ci, &caller)?;
    let collected = documents::collect(&args.paths, streams.stdin);
    let (results, records, unconfigured) = judge_documents(&engine, &service, &caller, &collected, tenancy.is_some())?;
    if let Some(writer) = audit.as_mut() {
        if let Err(e) = write_audit(writer, records) {
            return audit_failed(streams, &e);
        }
    }
    let report = CheckReport {
        results,
        problems: collected.problems,
        packs: pack_infos(&engine),
        unconfigured,
    };
    render(args, &report, &Reporting { engine: &engine, now }, streams)?;
    if args.fix {
        let sources = fix_sources(&collected.texts, &collected.documents, &report);
        if let Err(e) = write_check_fixes(args, sources, streams) {
            writeln!(streams.stderr, "error: {e}")?;
            return Ok(EXIT_ERROR);
        }
    }
    Ok(report.exit_code())
}

/// Reports an audit failure on stderr; `check` then exits with the error code.
fn audit_failed(streams: &mut Streams<'_>, error: &AuditError) -> Result<u8, CommandError> {
    writeln!(streams.stderr, "error: {}", super::audit::error_chain(error))?;
    Ok(EXIT_ERROR)
}

/// Every document's result and audit record, in input order, with the params that still hold
/// their examples.
type Judgments = (Vec<DocumentResult>, Vec<Option<AuditRecord>>, Vec<UnconfiguredParam>);

/// Judges every collected document with the service over `engine`; `tenanted` says whether a config with tenants is in use.
fn judge_documents(
    engine: &Engine,
    service: &Service<'_>,
    caller: &Caller,
    collected: &documents::Collected,
    tenanted: bool,
) -> Result<Judgments, CallerError> {
    let namespaces = collected.namespace_labels();
    let mut results = Vec::new();
    let mut records = Vec::new();
    // Without tenants every document has the packs' own params: one answer for all of them.
    let mut unconfigured = if !tenanted || collected.documents.is_empty() {
        engine.unconfigured_params(&serde_json::Map::new(), &NoOverrides)
    } else {
        Vec::new()
    };
    for judged in judge_all(service, caller, &collected.documents, &namespaces) {
        let (result, record, params) = judged?;
        results.push(result);
        records.push(record);
        report::merge_unconfigured(&mut unconfigured, params);
    }
    Ok((results, records, unconfigured))
}

/// Appends every audit record and syncs the file.
fn write_audit(writer: &mut AuditWriter, records: Vec<Option<AuditRecord>>) -> Result<(), AuditError> {
    records
        .into_iter()
        .flatten()
        .try_for_each(|r| writer.append(&r).map(|_| ()))
        .and_then(|()| writer.sync())
}

/// The name, version and framework of every pack that judged, for the report.
fn pack_infos(engine: &Engine) -> Vec<PackInfo> {
    engine
        .packs()
        .iter()
        .map(|p| PackInfo {
            name: p.metadata.name.clone(),
            version: p.metadata.version.clone(),
            framework: p.metadata.framework.clone(),
        })
        .collect()
}

/// What the policy-report formats need besides the report: the engine's rules (for the rules
/// that passed) and the time the run judged at.
struct Reporting<'a> {
    engine: &'a Engine,
    now: chrono::DateTime<chrono::Utc>,
}

impl Reporting<'_> {
    /// The reports of `report` in `flavor`, as a YAML stream.
    fn policy_reports(&self, report: &CheckReport, flavor: ReportFlavor) -> String {
        let catalog = RuleCatalog::from_engine(self.engine);
        policy_report::render_yaml(&policy_report::build_reports(
            flavor,
            &report.results,
            &catalog,
            self.now,
        ))
    }
}

/// Writes the problems and notices to stderr and the report in the chosen format to stdout
/// (to stderr when fixed documents go to stdout).
fn render(
    args: &CheckArgs,
    report: &CheckReport,
    reporting: &Reporting<'_>,
    streams: &mut Streams<'_>,
) -> Result<(), CommandError> {
    for problem in &report.problems {
        writeln!(streams.stderr, "error: {problem}")?;
    }
    // The text report and SARIF carry the notice themselves; the other formats have no place for it.
    if !matches!(args.format, Format::Text | Format::Sarif) {
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
        Format::Text => report::text::render(report, color),
        Format::Json => report::json::render(report),
        Format::Sarif => report::sarif::render(report),
        Format::Junit => report::junit::render(report),
        Format::Policyreport => reporting.policy_reports(report, ReportFlavor::PolicyReport),
        Format::Openreports => reporting.policy_reports(report, ReportFlavor::OpenReports),
    };
    if fix_to_stdout {
        streams.stderr.write_all(rendered.as_bytes())?;
    } else {
        streams.stdout.write_all(rendered.as_bytes())?;
    }
    Ok(())
}

/// Writes the fixed documents where `--out`, `--in-place` or stdout say.
fn write_check_fixes(
    args: &CheckArgs,
    sources: Vec<FixSource<'_>>,
    streams: &mut Streams<'_>,
) -> Result<FixOutcome, FixError> {
    let destination = match &args.out {
        Some(dir) => FixDestination::Folder {
            dir,
            changed_only: args.changed_only,
        },
        None if args.in_place => FixDestination::InPlace,
        None => FixDestination::Stream(&mut *streams.stdout),
    };
    let sources: Vec<_> = if args.changed_only && args.out.is_none() {
        sources.into_iter().filter(|s| !s.patched.is_empty()).collect()
    } else {
        sources
    };
    write_fixes(&sources, destination)
}

/// What judging one document gives: its result, its audit record (with `--audit`) and, with
/// tenants, the params that still held their examples for it.
type Judged = (DocumentResult, Option<AuditRecord>, Vec<UnconfiguredParam>);

/// Judges every document through the service, spreading the work over the machine's cores;
/// with `--audit`, also the audit record of each decision.
fn judge_all(
    service: &Service<'_>,
    caller: &Caller,
    docs: &[Document],
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
) -> Vec<Result<Judged, CallerError>> {
    crate::files::map_in_order(docs.iter().collect(), 16, |d| judge(service, caller, d, namespaces))
}

fn judge(
    service: &Service<'_>,
    caller: &Caller,
    doc: &Document,
    namespaces: &BTreeMap<String, BTreeMap<String, String>>,
) -> Result<Judged, CallerError> {
    let namespace = doc.metadata_str("namespace");
    let mut input = Input::new(doc.value.clone());
    if !namespace.is_empty() {
        input.namespace_labels = namespaces.get(namespace).cloned();
    }
    let judgment = service.judge(Door::Ci, input, caller)?;
    let record = judgment.record.map(|record| {
        let source = match doc.item {
            Some(item) => format!("{}#{}.{item}", doc.source, doc.index),
            None => format!("{}#{}", doc.source, doc.index),
        };
        record.with_source(source)
    });
    let origin = Origin {
        source: &doc.source,
        document: doc.index,
        item: doc.item,
        line: doc.line,
    };
    let result = DocumentResult::judged(origin, &judgment.input, judgment.decision, |p| doc.locate(p));
    Ok((result, record, judgment.unconfigured))
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
