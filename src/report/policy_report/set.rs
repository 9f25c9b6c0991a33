//! [`ReportSet`]: results collected document by document into one report per namespace plus
//! the cluster report, each split into parts that stay under the size the API server stores.

use std::collections::BTreeMap;

use super::types::{
    ObjectReference, Report, ReportMetadata, ReportResult, ReportSeverity, ResultStatus, Summary, Timestamp,
    MANAGED_BY_LABEL, SOURCE,
};
use super::{report_part_name, results, ReportFlavor, RuleCatalog};
use crate::report::DocumentResult;

/// The most bytes of results (as compact JSON) one report holds by default: 1 MB, well under
/// etcd's default 1.5 MiB request limit with room for the rest of the object. A namespace
/// with more is written as several reports (`celgate-<ns>`, `celgate-<ns>-2`, ...).
pub const DEFAULT_MAX_REPORT_BYTES: usize = 1_000_000;

/// Collects results, one report per namespace plus the cluster report, as documents are judged.
///
/// The results of one object always stay in one report; a report whose results would pass
/// the size limit ([`ReportSet::with_max_bytes`]) continues in a next part.
#[derive(Debug, Clone)]
pub struct ReportSet {
    flavor: ReportFlavor,
    timestamp: Timestamp,
    max_bytes: usize,
    /// Per namespace (`None`: the cluster report), each object's results with their size.
    scopes: BTreeMap<Option<String>, Vec<Group>>,
}

/// The results of one object and their size as compact JSON.
#[derive(Debug, Clone)]
struct Group {
    bytes: usize,
    results: Vec<ReportResult>,
}

impl ReportSet {
    /// An empty set of `flavor` reports whose results are stamped `now`, parts of at most
    /// [`DEFAULT_MAX_REPORT_BYTES`].
    pub fn new(flavor: ReportFlavor, now: chrono::DateTime<chrono::Utc>) -> ReportSet {
        ReportSet {
            flavor,
            timestamp: Timestamp::from(now),
            max_bytes: DEFAULT_MAX_REPORT_BYTES,
            scopes: BTreeMap::new(),
        }
    }

    /// The same set with parts of at most `max_bytes` bytes of results.
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> ReportSet {
        self.max_bytes = max_bytes;
        self
    }

    /// The timestamp every result gets.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Adds one result per rule `result` evaluated to the report of its namespace (the cluster
    /// report when it has none).
    pub fn add(&mut self, result: &DocumentResult, catalog: &RuleCatalog) {
        let results = results::document_results(result, catalog, self.timestamp);
        self.push(scope_of(result), results);
    }

    /// Adds a `skip` result of rule `rule` for the object of `result`, with `reason` as its
    /// message (e.g. a rule a scan did not evaluate because it matches other operations only).
    pub fn add_skipped(&mut self, result: &DocumentResult, catalog: &RuleCatalog, rule: &str, reason: &str) {
        let info = catalog.rule(rule);
        let mut properties = BTreeMap::new();
        if let Some(info) = info {
            properties.insert("title".to_owned(), info.title.clone());
            if !info.controls.is_empty() {
                properties.insert("controls".to_owned(), info.controls.join("; "));
            }
        }
        let skipped = ReportResult {
            source: SOURCE,
            policy: info.map(|i| i.pack.clone()).unwrap_or_default(),
            rule: rule.to_owned(),
            category: info.and_then(|i| i.framework.clone()),
            severity: info.map(|i| ReportSeverity::from(i.severity)),
            timestamp: self.timestamp,
            result: ResultStatus::Skip,
            scored: true,
            message: reason.to_owned(),
            resources: vec![results::object_reference(result)],
            properties,
        };
        self.push(scope_of(result), vec![skipped]);
    }

    /// Makes sure a report for `namespace` (`None`: the cluster report) is written even when
    /// no result lands in it, so applying the set empties a previous report there.
    pub fn include(&mut self, namespace: Option<&str>) {
        self.scopes.entry(namespace.map(str::to_owned)).or_default();
    }

    /// The reports: by namespace name, the cluster report last, each namespace's parts in
    /// order; only namespaces with results or asked for with [`ReportSet::include`].
    pub fn finish(self) -> Vec<Report> {
        let mut reports = Vec::with_capacity(self.scopes.len());
        let mut cluster = Vec::new();
        for (namespace, groups) in self.scopes {
            let parts = split(groups, self.max_bytes);
            let target = if namespace.is_some() {
                &mut reports
            } else {
                &mut cluster
            };
            for (index, results) in parts.into_iter().enumerate() {
                target.push(make_report(self.flavor, namespace.clone(), index, results));
            }
        }
        reports.extend(cluster);
        reports
    }

    fn push(&mut self, scope: Option<String>, results: Vec<ReportResult>) {
        if results.is_empty() {
            return;
        }
        // Each result and the comma after it; a result always serializes.
        let bytes = results
            .iter()
            .map(|r| serde_json::to_vec(r).map_or(0, |v| v.len()) + 1)
            .sum();
        self.scopes.entry(scope).or_default().push(Group { bytes, results });
    }
}

/// The namespace whose report holds `result`: its own, unless it has none or one no namespace
/// can be named (a template placeholder, say), which go to the cluster report.
fn scope_of(result: &DocumentResult) -> Option<String> {
    is_namespace_name(&result.namespace).then(|| result.namespace.clone())
}

/// An RFC 1123 label, as namespace names are: 1 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit.
fn is_namespace_name(name: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => {
            bytes.len() <= 63 && alnum(first) && alnum(last) && bytes.iter().all(|&b| alnum(b) || b == b'-')
        }
        _ => false,
    }
}

/// The groups' results in parts of at most `max_bytes` (a larger group alone in its part);
/// always at least one part, empty when there are no groups.
fn split(groups: Vec<Group>, max_bytes: usize) -> Vec<Vec<ReportResult>> {
    let mut parts: Vec<Vec<ReportResult>> = vec![Vec::new()];
    let mut used = 0;
    for group in groups {
        if used > 0 && used + group.bytes > max_bytes {
            parts.push(Vec::new());
            used = 0;
        }
        used += group.bytes;
        if let Some(part) = parts.last_mut() {
            part.extend(group.results);
        }
    }
    parts
}

fn make_report(flavor: ReportFlavor, namespace: Option<String>, part: usize, results: Vec<ReportResult>) -> Report {
    let labels = BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), SOURCE.to_owned())]);
    let scope = namespace.as_ref().map(|ns| ObjectReference {
        api_version: "v1".to_owned(),
        kind: "Namespace".to_owned(),
        name: ns.clone(),
        namespace: String::new(),
        uid: String::new(),
    });
    Report {
        api_version: flavor.api_version(),
        kind: if namespace.is_some() {
            flavor.namespaced_kind()
        } else {
            flavor.cluster_kind()
        },
        metadata: ReportMetadata {
            name: report_part_name(namespace.as_deref(), part),
            namespace,
            labels,
        },
        scope,
        source: (flavor == ReportFlavor::OpenReports).then_some(SOURCE),
        summary: Summary::of(&results),
        results,
    }
}
