//! Keeping each report under the size the API server stores: etcd refuses objects over 1.5 MiB,
//! and a namespace's report holds one result per object and evaluated rule (with the shipped
//! packs about 24 KiB per workload). A report over [`MAX_REPORT_BYTES`] is cut into several,
//! `celgate-<namespace>`, `celgate-<namespace>-2`, ..., each with its own summary; the results
//! of one object stay in one report. The next apply deletes parts a smaller scan no longer writes.

use crate::report::policy_report::{Report, ReportResult, Summary};

/// Largest report (serialized JSON) a scan writes.
pub const MAX_REPORT_BYTES: usize = 1_000_000;

/// `reports` with every report over `max_bytes` cut into parts of at most `max_bytes` (a single
/// object whose results alone exceed it gets a part of its own).
pub fn split_reports(reports: Vec<Report>, max_bytes: usize) -> Vec<Report> {
    let mut out = Vec::with_capacity(reports.len());
    for report in reports {
        if report_size(&report) <= max_bytes {
            out.push(report);
            continue;
        }
        let mut shell = report;
        let results = std::mem::take(&mut shell.results);
        let overhead = report_size(&shell);
        let mut parts: Vec<Vec<ReportResult>> = Vec::new();
        let mut current: Vec<ReportResult> = Vec::new();
        let mut size = overhead;
        for group in by_object(results) {
            let group_size: usize = group.iter().map(result_size).sum();
            if !current.is_empty() && size + group_size > max_bytes {
                parts.push(std::mem::take(&mut current));
                size = overhead;
            }
            size += group_size;
            current.extend(group);
        }
        parts.push(current);
        for (index, results) in parts.into_iter().enumerate() {
            let mut part = shell.clone();
            if index > 0 {
                part.metadata.name = format!("{}-{}", shell.metadata.name, index + 1);
            }
            part.summary = Summary::of(&results);
            part.results = results;
            out.push(part);
        }
    }
    out
}

/// Consecutive results about the same object, together.
fn by_object(results: Vec<ReportResult>) -> Vec<Vec<ReportResult>> {
    let mut groups: Vec<Vec<ReportResult>> = Vec::new();
    for result in results {
        let same = groups
            .last()
            .and_then(|g| g.last())
            .is_some_and(|last| last.resources == result.resources);
        match groups.last_mut() {
            Some(group) if same => group.push(result),
            _ => groups.push(vec![result]),
        }
    }
    groups
}

fn report_size(report: &Report) -> usize {
    serde_json::to_vec(report).map_or(0, |v| v.len())
}

fn result_size(result: &ReportResult) -> usize {
    // The comma between results.
    serde_json::to_vec(result).map_or(0, |v| v.len()) + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::policy_report::{build_reports, ReportFlavor, RuleCatalog};
    use crate::report::{DocumentResult, Origin};

    #[test]
    fn a_large_report_is_cut_between_objects() {
        let engine = crate::engine::Engine::load(&crate::packs::embedded().packs).expect("packs");
        let results: Vec<DocumentResult> = (0..40)
            .map(|i| {
                let input = crate::engine::Input::new(serde_json::json!({
                    "apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": format!("d{i}"), "namespace": "ns"},
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:latest"}]}}}
                }));
                let decision = engine.evaluate(&input);
                let origin = Origin {
                    source: "s",
                    document: i,
                    item: None,
                    line: 1,
                };
                DocumentResult::judged(origin, &input, decision, |_| None)
            })
            .collect();
        let catalog = RuleCatalog::from_engine(&engine);
        let reports = build_reports(ReportFlavor::PolicyReport, &results, &catalog, chrono::Utc::now());
        assert_eq!(reports.len(), 1);
        let total = reports[0].results.len();
        let whole = report_size(&reports[0]);
        let parts = split_reports(reports, whole / 3);
        assert!(parts.len() >= 3, "{} parts", parts.len());
        let names: Vec<&str> = parts.iter().map(|p| p.metadata.name.as_str()).collect();
        assert_eq!(names[..3], ["celgate-ns", "celgate-ns-2", "celgate-ns-3"]);
        assert_eq!(parts.iter().map(|p| p.results.len()).sum::<usize>(), total);
        for part in &parts {
            assert!(report_size(part) <= whole / 3);
            assert_eq!(part.summary, Summary::of(&part.results));
        }
        // No object's results are split over two parts.
        for pair in parts.windows(2) {
            let (a, b) = (&pair[0].results, &pair[1].results);
            assert_ne!(a.last().map(|r| &r.resources), b.first().map(|r| &r.resources));
        }
    }
}
