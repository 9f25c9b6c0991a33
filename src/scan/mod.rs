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

/// What a scan found out before listing: the resources to list, who it is, the namespaces.
#[derive(Debug)]
pub struct Prepared {
    targets: Vec<ServedResource>,
    user: UserInfo,
    namespaces: Option<BTreeMap<String, BTreeMap<String, String>>>,
    /// Resources found forbidden (said once, then skipped).
    forbidden: std::collections::BTreeSet<String>,
    started: Instant,
    now: chrono::DateTime<chrono::Utc>,
}

/// Says that listing `label` is forbidden and adds it to `forbidden`, so the rest of the scan
/// skips it.
fn forbid(
    forbidden: &mut std::collections::BTreeSet<String>,
    label: String,
    why: &str,
    notice: &mut dyn FnMut(Notice),
) {
    notice(Notice::Note(format!(
        "{label}: listing is forbidden ({why}); skipped (grant list in the scan's ClusterRole)"
    )));
    forbidden.insert(label);
}

/// A part of the cluster listed together, so its reports can be written and dropped before the
/// next part is listed (memory stays bounded by the largest namespace, not the cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The namespaced resources of one namespace.
    Namespace(String),
    /// The cluster-scoped resources.
    Cluster,
    /// Every resource in every namespace at once (when namespaces cannot be listed).
    Everything,
}

impl Scan<'_> {
    /// Runs the whole scan; `notice` hears about progress and skipped kinds, `sink` gets every
    /// judged object, page by page.
    pub async fn run(
        &self,
        notice: &mut dyn FnMut(Notice),
        sink: &mut dyn FnMut(ScannedObject),
    ) -> Result<ScanStats, ScanError> {
        let mut prepared = self.prepare(notice).await?;
        let mut stats = ScanStats::default();
        for part in self.parts(&mut prepared, notice).await {
            self.scan_part(&mut prepared, &part, &mut stats, notice, sink).await?;
        }
        stats.duration = prepared.started.elapsed();
        Ok(stats)
    }

    /// Discovery, identity and namespace labels: everything before the first list.
    pub async fn prepare(&self, notice: &mut dyn FnMut(Notice)) -> Result<Prepared, ScanError> {
        let started = Instant::now();
        let targets = self.targets(notice).await?;
        let user = self.identity(notice).await;
        let namespaces = match cluster::namespace_labels(&self.client, self.settings.page_size).await {
            Ok(labels) => Some(labels),
            Err(e) => {
                notice(Notice::Note(format!(
                    "{e}; namespace selectors see only the namespace's name"
                )));
                None
            }
        };
        Ok(Prepared {
            targets,
            user,
            namespaces,
            forbidden: std::collections::BTreeSet::new(),
            started,
            now: chrono::Utc::now(),
        })
    }

    /// The parts to list in order: each namespace, then the cluster-scoped resources. The
    /// namespaces are those listed and those the namespaced resources' objects are in (a
    /// metadata-only list, so none is missed); everything at once when those lists fail.
    pub async fn parts(&self, prepared: &mut Prepared, notice: &mut dyn FnMut(Notice)) -> Vec<Part> {
        let mut namespaces: std::collections::BTreeSet<String> =
            prepared.namespaces.iter().flat_map(|n| n.keys().cloned()).collect();
        for target in prepared.targets.iter().filter(|t| t.namespaced) {
            let label = resource_label(target);
            match cluster::namespaces_in_use(&self.client, target, self.settings.page_size, &mut namespaces).await {
                Ok(()) => {}
                Err(ScanError::Api(_, kube::Error::Api(status))) if status.code == 403 => {
                    forbid(&mut prepared.forbidden, label, &status.message, notice);
                }
                Err(e) => {
                    notice(Notice::Note(format!(
                        "{e}; listing every namespace at once instead of one at a time"
                    )));
                    return vec![Part::Everything];
                }
            }
        }
        namespaces
            .into_iter()
            .map(Part::Namespace)
            .chain([Part::Cluster])
            .collect()
    }

    /// Lists and judges one part, adding to `stats`.
    pub async fn scan_part(
        &self,
        prepared: &mut Prepared,
        part: &Part,
        stats: &mut ScanStats,
        notice: &mut dyn FnMut(Notice),
        sink: &mut dyn FnMut(ScannedObject),
    ) -> Result<(), ScanError> {
        let outputs = Outputs {
            unconfigured: false,
            ..Outputs::default()
        };
        let judge = ObjectJudge {
            service: Service::new(self.engine, self.tenancy, prepared.now, outputs),
            engine: self.engine,
            caller: self.settings.caller.clone(),
            user: prepared.user.clone(),
            namespaces: prepared.namespaces.as_ref(),
        };
        let (namespace, targets): (Option<&str>, Vec<&ServedResource>) = match part {
            Part::Namespace(ns) => (Some(ns), prepared.targets.iter().filter(|t| t.namespaced).collect()),
            Part::Cluster => (None, prepared.targets.iter().filter(|t| !t.namespaced).collect()),
            Part::Everything => (None, prepared.targets.iter().collect()),
        };
        for target in targets {
            let label = resource_label(target);
            if prepared.forbidden.contains(&label) {
                continue;
            }
            notice(Notice::Listing(label.clone()));
            let mut seen = stats.objects;
            let listed = cluster::list_pages(&self.client, target, namespace, self.settings.page_size, |page| {
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
                    forbid(&mut prepared.forbidden, label, &status.message, notice);
                    continue;
                }
                Err(e) => return Err(e),
            };
            stats.objects += count;
            *stats.by_resource.entry(label).or_default() += count;
        }
        stats.duration = prepared.started.elapsed();
        Ok(())
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
