//! The background door (design §1, issue 19): judging what already runs in a cluster.
//!
//! `celgate scan` and the periodic scan of `celgate serve` list, through the Kubernetes API,
//! every kind the loaded packs and admission policies match ([`targets`]), page by page
//! (`limit`/`continue`, [`cluster::list_pages`]), and judge each object through the same
//! [`Service`] as `check` and admission ([`judge`]): as a CREATE by the scanner's own identity,
//! with the tenancy's modes and exceptions, blocking nothing. The results become policy reports
//! (`crate::report::policy_report`), printed or written to the cluster ([`apply`]).
//!
//! Memory: objects are dropped once their page is judged; what a scan keeps is one
//! [`ScannedObject`] (decision and identity, no object) per object for the caller's sink.

pub mod apply;
pub mod cluster;
pub mod config;
pub mod judge;
pub mod lease;
pub mod metrics;
pub mod periodic;
pub mod split;
pub mod targets;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use judge::{ObjectJudge, ScannedObject, SkippedRule};
pub use targets::{ServedResource, Wanted};

use crate::engine::{Engine, UserInfo};
use crate::service::{Caller, CallerError, Outputs, Service};
use crate::tenant::Tenancy;

/// Objects asked for per list request unless configured otherwise.
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// Why a scan could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// No usable kubeconfig or in-cluster configuration.
    #[error("cannot configure the Kubernetes client: {0}")]
    Config(String),
    /// An API request failed.
    #[error("Kubernetes API: {0}: {1}")]
    Api(String, #[source] kube::Error),
    /// A listed object could not be turned into JSON.
    #[error("cannot decode a listed object: {0}")]
    Decode(#[source] serde_json::Error),
    /// The report CRD is not installed.
    #[error(
        "the cluster does not serve {resource}: install the report CRDs (Policy Reporter or Kyverno install them; the upstream manifests are vendored in tests/fixtures/crds/ of the celgate repository)"
    )]
    MissingCrd {
        /// `plural.group`.
        resource: String,
    },
    /// `--environment` or `--tenant` named something the config does not have.
    #[error(transparent)]
    Caller(#[from] CallerError),
    /// A `--kind` entry that is not `Kind`, `version/Kind` or `group/version/Kind`.
    #[error("bad kind '{0}' (expected Kind, version/Kind or group/version/Kind)")]
    Kind(String),
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    /// Objects per list request.
    pub page_size: u32,
    /// Only these kinds (empty: every kind the packs match).
    pub kinds: Vec<String>,
    /// The tenant and environment choice (default: each object's namespace decides, as at
    /// admission).
    pub caller: Caller,
}

impl Default for ScanSettings {
    fn default() -> Self {
        ScanSettings {
            page_size: DEFAULT_PAGE_SIZE,
            kinds: Vec::new(),
            caller: Caller::default(),
        }
    }
}

/// What a scan found out on the way, for stderr or the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something the scan could not do and went on without.
    Note(String),
    /// Listing a resource started.
    Listing(String),
    /// `n` objects judged so far in all.
    Progress(usize),
}

/// Counts of one finished scan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanStats {
    /// Objects judged, in all.
    pub objects: usize,
    /// Objects judged per resource (`deployments.apps`).
    pub by_resource: BTreeMap<String, usize>,
    /// Wall time.
    pub duration: Duration,
}

/// Lists and judges every object the engine's packs match, handing each to `sink`.
pub struct Scan<'a> {
    /// The cluster.
    pub client: kube::Client,
    /// The packs.
    pub engine: &'a Engine,
    /// Tenants, modes and exceptions (none without a config).
    pub tenancy: Option<&'a Tenancy>,
    /// Page size, kinds, caller.
    pub settings: ScanSettings,
}

impl Scan<'_> {
    /// Runs the scan; `notice` hears about progress and skipped kinds, `sink` gets every judged
    /// object, page by page.
    pub async fn run(
        &self,
        notice: &mut dyn FnMut(Notice),
        sink: &mut dyn FnMut(ScannedObject),
    ) -> Result<ScanStats, ScanError> {
        let started = Instant::now();
        let now = chrono::Utc::now();
        let client = &self.client;
        let targets = self.targets(notice).await?;
        let user = self.identity(notice).await;
        let namespaces = match cluster::namespace_labels(client, self.settings.page_size).await {
            Ok(labels) => Some(labels),
            Err(e) => {
                notice(Notice::Note(format!(
                    "{e}; namespace selectors see only the namespace's name"
                )));
                None
            }
        };
        let outputs = Outputs {
            unconfigured: false,
            ..Outputs::default()
        };
        let judge = ObjectJudge {
            service: Service::new(self.engine, self.tenancy, now, outputs),
            engine: self.engine,
            caller: self.settings.caller.clone(),
            user,
            namespaces: namespaces.as_ref(),
        };
        let mut stats = ScanStats::default();
        for target in &targets {
            let label = resource_label(target);
            notice(Notice::Listing(label.clone()));
            let mut seen = stats.objects;
            let listed = cluster::list_pages(client, target, self.settings.page_size, |page| {
                let judged = tokio::task::block_in_place(|| judge_page(&judge, target, page));
                seen += judged.len();
                for scanned in judged {
                    sink(scanned?);
                }
                notice(Notice::Progress(seen));
                Ok(())
            })
            .await;
            let count = match listed {
                Ok(count) => count,
                Err(ScanError::Api(_, kube::Error::Api(status))) if status.code == 403 => {
                    notice(Notice::Note(format!(
                        "{label}: listing is forbidden ({}); skipped (grant list in the scan's ClusterRole)",
                        status.message
                    )));
                    continue;
                }
                Err(e) => return Err(e),
            };
            stats.objects += count;
            *stats.by_resource.entry(label).or_default() += count;
        }
        stats.duration = started.elapsed();
        Ok(stats)
    }

    /// The resources to list: what the packs match (or `settings.kinds`), as the cluster serves it.
    async fn targets(&self, notice: &mut dyn FnMut(Notice)) -> Result<Vec<ServedResource>, ScanError> {
        let mut wanted = Wanted::of_engine(self.engine);
        if !self.settings.kinds.is_empty() {
            if let Some(bad) = wanted.restrict_to(&self.settings.kinds).into_iter().next() {
                return Err(ScanError::Kind(bad));
            }
        }
        if !wanted.every_kind.is_empty() {
            notice(Notice::Note(format!(
                "rules {} match every kind; the scan lists only the kinds other rules name (add kinds with --kind)",
                wanted.every_kind.join(", ")
            )));
        }
        let (served, unavailable) = cluster::served_resources(&self.client).await?;
        for gv in &unavailable {
            notice(Notice::Note(format!(
                "discovery of {gv}; its resources are not scanned"
            )));
        }
        let resolved = targets::resolve(&wanted, &served);
        for missing in &resolved.missing {
            notice(Notice::Note(format!("{missing}: not served by the cluster, skipped")));
        }
        Ok(resolved.targets)
    }

    /// Who the scanner is, as the API server tells it (`celgate-scan` when it cannot).
    async fn identity(&self, notice: &mut dyn FnMut(Notice)) -> UserInfo {
        match cluster::whoami(&self.client).await {
            Ok(user) => user,
            Err(e) => {
                notice(Notice::Note(format!(
                    "cannot tell who the scanner is ({e}); objects are presented as CREATE by 'celgate-scan'"
                )));
                UserInfo {
                    username: "celgate-scan".to_owned(),
                    ..UserInfo::default()
                }
            }
        }
    }
}

/// `deployments.apps`, `pods`: how kubectl names a resource.
pub fn resource_label(resource: &ServedResource) -> String {
    if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    }
}

/// Judges one page of objects of `target` on every core, in order.
fn judge_page(
    judge: &ObjectJudge<'_>,
    target: &ServedResource,
    page: Vec<serde_json::Value>,
) -> Vec<Result<ScannedObject, CallerError>> {
    let label = resource_label(target);
    crate::files::map_in_order(page, 16, |object| {
        let name = object.pointer("/metadata/name").and_then(|n| n.as_str()).unwrap_or("");
        let source = match object.pointer("/metadata/namespace").and_then(|n| n.as_str()) {
            Some(ns) => format!("{label}/{ns}/{name}"),
            None => format!("{label}/{name}"),
        };
        judge.judge(object, &source)
    })
}
