//! `celgate scan`: the background door from the command line. Lists what runs in a cluster,
//! judges it in audit mode (as a CREATE by the scanner, tenant modes and exceptions applying as
//! at admission), and prints the reports or applies them (`crate::scan`).

use std::io::IsTerminal;

use crate::cli::{ColorChoice, ScanArgs, ScanFormat};
use crate::engine::{Engine, Verdict};
use crate::report::policy_report::{self, ReportFlavor, ReportSet, RuleCatalog};
use crate::report::{self, CheckReport, DocumentResult, PackInfo};
use crate::scan::apply::Applier;
use crate::scan::{self, Notice, Scan, ScanSettings, ScanStats, ScannedObject};
use crate::tenant::Tenancy;

use super::{load_judging_engine, load_judging_tenancy, CommandError, Streams, EXIT_DENIED, EXIT_ERROR, EXIT_OK};

/// Runs `scan`; returns the exit code of design §6 (1 when any object would be denied).
pub fn run(args: &ScanArgs, streams: &mut Streams<'_>) -> Result<u8, CommandError> {
    if args.apply && args.format == ScanFormat::Json {
        writeln!(
            streams.stderr,
            "error: --apply writes policy reports: use --format policyreport (the default with --apply) or openreports"
        )?;
        return Ok(EXIT_ERROR);
    }
    let engine = load_judging_engine(&args.selection, &args.policies, streams)?;
    let now = chrono::Utc::now();
    let tenancy = load_judging_tenancy(&args.tenancy, &engine, now, streams)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Output)?;
    runtime.block_on(scan_and_report(args, &engine, tenancy.as_ref(), streams))
}

/// Connects, scans, and writes or applies the reports.
async fn scan_and_report(
    args: &ScanArgs,
    engine: &Engine,
    tenancy: Option<&Tenancy>,
    streams: &mut Streams<'_>,
) -> Result<u8, CommandError> {
    let client = scan::cluster::connect(args.kubeconfig.as_deref(), args.context.as_deref()).await?;
    let flavor = match args.format {
        ScanFormat::Openreports => Some(ReportFlavor::OpenReports),
        ScanFormat::Policyreport => Some(ReportFlavor::PolicyReport),
        ScanFormat::Text | ScanFormat::Json if args.apply => Some(ReportFlavor::PolicyReport),
        ScanFormat::Text | ScanFormat::Json => None,
    };
    let settings = ScanSettings {
        page_size: args.page_size,
        kinds: args.kinds.clone(),
        caller: args.tenancy.caller(),
    };
    let scanner = Scan {
        client,
        engine,
        tenancy,
        settings,
    };
    let progress = std::io::stderr().is_terminal();
    let mut denied = false;
    let scanned = match flavor {
        Some(flavor) => scan_to_reports(&scanner, flavor, args.apply, progress, &mut denied, streams).await,
        None => scan_to_results(args, &scanner, progress, &mut denied, streams).await,
    };
    if progress {
        write!(streams.stderr, "\r\x1b[K")?;
    }
    let stats = scanned?;
    writeln!(
        streams.stderr,
        "scanned {} objects of {} resources in {:.1}s",
        stats.objects,
        stats.by_resource.len(),
        stats.duration.as_secs_f64()
    )?;
    Ok(if denied { EXIT_DENIED } else { EXIT_OK })
}

/// Text or JSON: the whole scan, then every object's result as `check` writes them.
async fn scan_to_results(
    args: &ScanArgs,
    scanner: &Scan<'_>,
    progress: bool,
    denied: &mut bool,
    streams: &mut Streams<'_>,
) -> Result<ScanStats, CommandError> {
    let mut results = Vec::new();
    let stats = {
        let stderr = &mut *streams.stderr;
        let mut notice = |n: Notice| show_notice(stderr, &n, progress);
        let mut sink = |scanned: ScannedObject| {
            *denied |= scanned.result.decision.decision == Verdict::Deny;
            results.push(scanned.result);
        };
        scanner.run(&mut notice, &mut sink).await?
    };
    write_results(args, scanner.engine, results, streams)?;
    Ok(stats)
}

/// Reports: namespace by namespace, each namespace's reports printed or applied (and dropped)
/// before the next is listed; with `apply`, celgate's reports of namespaces with nothing left
/// are deleted at the end.
async fn scan_to_reports(
    scanner: &Scan<'_>,
    flavor: ReportFlavor,
    apply: bool,
    progress: bool,
    denied: &mut bool,
    streams: &mut Streams<'_>,
) -> Result<ScanStats, CommandError> {
    let Streams { stdout, stderr, .. } = streams;
    let mut notice = |n: Notice| show_notice(&mut **stderr, &n, progress);
    let catalog = RuleCatalog::from_engine(scanner.engine);
    let now = chrono::Utc::now();
    let mut applier = apply.then(|| Applier::new(scanner.client.clone(), flavor));
    let mut prepared = scanner.prepare(&mut notice).await?;
    let mut stats = ScanStats::default();
    for part in scanner.parts(&mut prepared, &mut notice).await {
        let mut set = ReportSet::new(flavor, now);
        let mut sink = |scanned: ScannedObject| {
            *denied |= scanned.result.decision.decision == Verdict::Deny;
            scanned.add_to_reports(&mut set, &catalog);
        };
        scanner
            .scan_part(&mut prepared, &part, &mut stats, &mut notice, &mut sink)
            .await?;
        for report in set.finish() {
            match applier.as_mut() {
                Some(applier) => applier.apply(&report).await?,
                None => stdout.write_all(policy_report::render_yaml(std::slice::from_ref(&report)).as_bytes())?,
            }
        }
    }
    if let Some(applier) = applier {
        let outcome = applier.finish().await?;
        for name in &outcome.applied {
            writeln!(stdout, "applied {} {name}", kind_of(flavor, name))?;
        }
        for name in &outcome.deleted {
            writeln!(stdout, "deleted {} {name}", kind_of(flavor, name))?;
        }
    }
    Ok(stats)
}

/// The report kind of `name` (`namespace/name`, or a cluster report's bare name).
fn kind_of(flavor: ReportFlavor, name: &str) -> &'static str {
    if name.contains('/') {
        flavor.namespaced_kind()
    } else {
        flavor.cluster_kind()
    }
}

/// A note on its own line; progress (on a terminal only) rewriting one line.
fn show_notice(stderr: &mut dyn std::io::Write, notice: &Notice, progress: bool) {
    // A failed write to stderr has nowhere else to go.
    let _ = match notice {
        Notice::Note(text) if progress => writeln!(stderr, "\r\x1b[Knote: {text}"),
        Notice::Note(text) => writeln!(stderr, "note: {text}"),
        Notice::Listing(resource) if progress => write!(stderr, "\r\x1b[Klisting {resource}…"),
        Notice::Progress(n) if progress => write!(stderr, "\r\x1b[K{n} objects judged"),
        Notice::Listing(_) | Notice::Progress(_) => Ok(()),
    };
}

/// Text or JSON, as `check` writes them.
fn write_results(
    args: &ScanArgs,
    engine: &Engine,
    results: Vec<DocumentResult>,
    streams: &mut Streams<'_>,
) -> Result<(), CommandError> {
    let report = CheckReport {
        results,
        problems: Vec::new(),
        packs: engine
            .packs()
            .iter()
            .map(|p| PackInfo {
                name: p.metadata.name.clone(),
                version: p.metadata.version.clone(),
                framework: p.metadata.framework.clone(),
            })
            .collect(),
        unconfigured: Vec::new(),
    };
    let rendered = if args.format == ScanFormat::Json {
        report::json::render(&report)
    } else {
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                streams.stdout_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
        report::text::render(&report, color)
    };
    streams.stdout.write_all(rendered.as_bytes())?;
    Ok(())
}
