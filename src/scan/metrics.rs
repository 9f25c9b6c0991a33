//! Prometheus metrics of the periodic scan, in the server's registry (prefix `celgate_scan_`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::report::policy_report::Report;

/// Labels of `celgate_scan_findings`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanFindingLabels {
    /// Pack (policy) name.
    pub pack: String,
    /// Rule id.
    pub rule: String,
    /// `pass`, `fail`, `warn`, `error` or `skip`.
    pub result: String,
}

/// Labels of `celgate_scan_runs_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScanRunLabels {
    /// `ok`, `error`, or `not-leader` (another replica holds the lease).
    pub outcome: String,
}

/// Every metric of the periodic scan.
#[derive(Debug)]
pub struct ScanMetrics {
    /// Objects judged by scans, in all.
    pub objects: Counter,
    /// Wall time of each finished scan.
    pub duration: Histogram,
    /// Results of the last finished scan by pack, rule and result.
    pub findings: Family<ScanFindingLabels, Gauge>,
    /// Scan attempts by outcome.
    pub runs: Family<ScanRunLabels, Counter>,
    /// Unix time the last scan finished and its reports were written.
    pub last_success: Gauge,
}

impl ScanMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &mut Registry) -> ScanMetrics {
        let metrics = ScanMetrics {
            objects: Counter::default(),
            // 0.1 s .. ~27 min
            duration: Histogram::new(exponential_buckets(0.1, 3.0, 10)),
            findings: Family::default(),
            runs: Family::default(),
            last_success: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("celgate_scan");
        r.register("objects", "Objects judged by periodic scans", metrics.objects.clone());
        r.register(
            "duration_seconds",
            "Wall time of each periodic scan",
            metrics.duration.clone(),
        );
        r.register(
            "findings",
            "Results of the last periodic scan by pack, rule and result",
            metrics.findings.clone(),
        );
        r.register("runs", "Periodic scan attempts by outcome", metrics.runs.clone());
        r.register(
            "last_success_timestamp_seconds",
            "Unix time the last periodic scan finished and wrote its reports",
            metrics.last_success.clone(),
        );
        metrics
    }

    /// Counts one attempt with `outcome`.
    pub fn run(&self, outcome: &str) {
        self.runs
            .get_or_create(&ScanRunLabels {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Replaces the findings gauges with `counts` (see [`count_results`]).
    pub fn set_findings(&self, counts: &FindingCounts) {
        self.findings.clear();
        for ((pack, rule, result), n) in counts {
            self.findings
                .get_or_create(&ScanFindingLabels {
                    pack: pack.clone(),
                    rule: rule.clone(),
                    result: result.clone(),
                })
                .set(*n);
        }
    }
}

/// Results by (pack, rule, result).
pub type FindingCounts = std::collections::BTreeMap<(String, String, String), i64>;

/// Adds the results of `reports` to `counts`.
pub fn count_results(counts: &mut FindingCounts, reports: &[Report]) {
    for result in reports.iter().flat_map(|r| &r.results) {
        *counts
            .entry((
                result.policy.clone(),
                result.rule.clone(),
                result.result.as_str().to_owned(),
            ))
            .or_default() += 1;
    }
}
