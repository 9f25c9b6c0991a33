//! The periodic scan of `celgate serve` (`scan:` in `celgate.yaml`): on its own thread and
//! runtime, off the admission path. Every `intervalSeconds` it takes or renews the `Lease` (one
//! replica scans at a time), scans with the packs and tenancy in force at that moment, applies the
//! reports, updates the `celgate_scan_*` metrics, and posts a Slack system event when `fail`
//! results of `high` or `critical` rules appear that the reports in the cluster (the previous
//! scan's, whichever replica wrote them) did not have.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use super::apply::Applier;
use super::config::ScanConfig;
use super::lease::LeaseSettings;
use super::metrics::{count_results, FindingCounts, ScanMetrics};
use super::{apply, cluster, lease, Notice, Scan, ScanError, ScanSettings, ScanStats, ScannedObject};
use crate::engine::{Engine, Severity};
use crate::notify::{Notifier, ScanFinding, SystemEvent, SCAN_FINDINGS_SHOWN};
use crate::report::policy_report::{Report, ReportFlavor, ReportSet, ReportSeverity, ResultStatus, RuleCatalog};
use crate::tenant::Tenancy;

/// The packs and tenancy in force (the server's, which reloads swap).
pub type Current = Arc<dyn Fn() -> (Arc<Engine>, Arc<Tenancy>) + Send + Sync>;

/// Everything the periodic scan needs.
pub struct PeriodicScan {
    /// The `scan:` section.
    pub config: ScanConfig,
    /// The lease and this replica's identity.
    pub lease: LeaseSettings,
    /// `celgate_scan_*`.
    pub metrics: Arc<ScanMetrics>,
    /// Slack, when configured.
    pub notifier: Option<Notifier>,
    /// The packs and tenancy in force.
    pub current: Current,
}

/// A `fail` result of a high or critical rule, as compared between scans.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct FailKey {
    namespace: String,
    kind: String,
    name: String,
    rule: String,
}

impl PeriodicScan {
    /// The lease settings from `config` and the pod's environment: `POD_NAMESPACE` (else the
    /// service account's namespace file, else `celgate-system`) and `POD_NAME` (else `HOSTNAME`).
    pub fn lease_settings(config: &ScanConfig, env: &dyn Fn(&str) -> Option<String>) -> LeaseSettings {
        let namespace = config
            .lease
            .namespace
            .clone()
            .or_else(|| env("POD_NAMESPACE"))
            .or_else(|| {
                std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                    .ok()
                    .map(|s| s.trim().to_owned())
            })
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "celgate-system".to_owned());
        let holder = env("POD_NAME")
            .or_else(|| env("HOSTNAME"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| format!("celgate-{}", std::process::id()));
        LeaseSettings {
            namespace,
            name: config.lease.name.clone().unwrap_or_else(|| "celgate-scan".to_owned()),
            holder,
            duration_seconds: config.lease_duration_seconds(),
        }
    }

    /// Runs the loop on a thread of its own, with its own runtime, until the process exits.
    pub fn spawn(self) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("celgate-scan".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("celgate-scan-io")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        tracing::error!(error = %e, "periodic scan: cannot start its runtime; no scans");
                        return;
                    }
                };
                runtime.block_on(self.run());
            })
    }

    async fn run(self) {
        let interval = Duration::from_secs(self.config.interval_seconds);
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut client = None;
        loop {
            ticker.tick().await;
            if client.is_none() {
                match cluster::connect(None, None).await {
                    Ok(c) => client = Some(c),
                    Err(e) => {
                        self.metrics.run("error");
                        tracing::warn!(error = %e, "periodic scan: no Kubernetes client; trying again next interval");
                        continue;
                    }
                }
            }
            let Some(client) = &client else { continue };
            match lease::acquire(client, &self.lease).await {
                Ok(None) => {}
                Ok(Some(holder)) => {
                    self.metrics.run("not-leader");
                    tracing::debug!(%holder, lease = %self.lease.name, "periodic scan: another replica holds the lease");
                    continue;
                }
                Err(e) => {
                    self.metrics.run("error");
                    tracing::warn!(error = %e, "periodic scan: cannot take the lease");
                    continue;
                }
            }
            match self.scan_once(client).await {
                Ok(()) => self.metrics.run("ok"),
                Err(e) => {
                    self.metrics.run("error");
                    tracing::warn!(error = %e, "periodic scan failed; its reports were not written");
                }
            }
        }
    }

    /// One scan: judge namespace by namespace, apply each namespace's reports, delete stale
    /// ones, update metrics, alert on new high/critical failures.
    async fn scan_once(&self, client: &kube::Client) -> Result<(), ScanError> {
        let (engine, tenancy) = (self.current)();
        let flavor = self.config.format;
        let catalog = RuleCatalog::from_engine(&engine);
        let scan = Scan {
            client: client.clone(),
            engine: &engine,
            tenancy: Some(&tenancy),
            settings: ScanSettings {
                page_size: self.config.page_size.unwrap_or(super::DEFAULT_PAGE_SIZE),
                kinds: self.config.kinds.clone(),
                ..ScanSettings::default()
            },
        };
        let previous = match previous_failures(client, flavor).await {
            Ok(previous) => previous,
            Err(e) => {
                tracing::warn!(error = %e, "periodic scan: cannot read the previous reports; every failure counts as new");
                BTreeSet::new()
            }
        };
        let mut notice = |n: Notice| {
            if let Notice::Note(text) = n {
                tracing::info!("periodic scan: {text}");
            }
        };
        let mut prepared = scan.prepare(&mut notice).await?;
        let mut stats = ScanStats::default();
        let mut applier = Applier::new(client.clone(), flavor);
        let mut counts = FindingCounts::new();
        let mut new = Vec::new();
        let now = chrono::Utc::now();
        for part in scan.parts(&mut prepared, &mut notice).await {
            let mut set = ReportSet::new(flavor, now);
            let mut sink = |scanned: ScannedObject| scanned.add_to_reports(&mut set, &catalog);
            scan.scan_part(&mut prepared, &part, &mut stats, &mut notice, &mut sink)
                .await?;
            let reports = set.finish();
            count_results(&mut counts, &reports);
            new.extend(new_failures(&reports, &previous));
            for report in &reports {
                applier.apply(report).await?;
            }
        }
        let outcome = applier.finish().await?;
        self.metrics
            .objects
            .inc_by(u64::try_from(stats.objects).unwrap_or(u64::MAX));
        self.metrics.duration.observe(stats.duration.as_secs_f64());
        self.metrics.set_findings(&counts);
        self.metrics.last_success.set(chrono::Utc::now().timestamp());
        tracing::info!(
            objects = stats.objects,
            seconds = stats.duration.as_secs_f64(),
            reports = outcome.applied.len(),
            deleted = outcome.deleted.len(),
            "periodic scan done"
        );
        new.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.cmp(b)));
        if let (Some(notifier), false) = (&self.notifier, new.is_empty()) {
            let total = new.len();
            notifier.notify(SystemEvent::ScanFindings {
                findings: new.into_iter().take(SCAN_FINDINGS_SHOWN).collect(),
                total,
            });
        }
        Ok(())
    }
}

/// The failures of high or critical rules in the reports celgate wrote last time.
async fn previous_failures(client: &kube::Client, flavor: ReportFlavor) -> Result<BTreeSet<FailKey>, ScanError> {
    let mut failures = BTreeSet::new();
    apply::for_each_stored_report(client, flavor, |report| {
        failures.extend(stored_failures(std::slice::from_ref(report)));
    })
    .await?;
    Ok(failures)
}

/// The failures of high or critical rules in stored report objects (JSON).
fn stored_failures(reports: &[serde_json::Value]) -> BTreeSet<FailKey> {
    reports
        .iter()
        .flat_map(|r| r["results"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["result"] == "fail" && matches!(r["severity"].as_str(), Some("high" | "critical")))
        .map(|r| {
            let object = &r["resources"][0];
            let field = |v: &serde_json::Value| v.as_str().unwrap_or("").to_owned();
            FailKey {
                namespace: field(&object["namespace"]),
                kind: field(&object["kind"]),
                name: field(&object["name"]),
                rule: field(&r["rule"]),
            }
        })
        .collect()
}

/// The failures of high or critical rules in `reports` that `previous` does not have.
fn new_failures(reports: &[Report], previous: &BTreeSet<FailKey>) -> Vec<ScanFinding> {
    reports
        .iter()
        .flat_map(|r| &r.results)
        .filter(|r| r.result == ResultStatus::Fail)
        .filter_map(|r| {
            let severity = match r.severity {
                Some(ReportSeverity::Critical) => Severity::Critical,
                Some(ReportSeverity::High) => Severity::High,
                _ => return None,
            };
            let object = r.resources.first()?;
            let key = FailKey {
                namespace: object.namespace.clone(),
                kind: object.kind.clone(),
                name: object.name.clone(),
                rule: r.rule.clone(),
            };
            (!previous.contains(&key)).then(|| ScanFinding {
                severity,
                object: if object.namespace.is_empty() {
                    format!("{} {}", object.kind, object.name)
                } else {
                    format!("{} {}/{}", object.kind, object.namespace, object.name)
                },
                pack: r.policy.clone(),
                rule: r.rule.clone(),
                message: r.message.clone(),
            })
        })
        .collect()
}
