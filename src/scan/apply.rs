//! Writing a scan's reports to the cluster: server-side apply (field manager `celgate`, forced)
//! of one report per namespace and the cluster report, each replacing its previous results, then
//! deleting celgate's reports (found by their `app.kubernetes.io/managed-by: celgate` label) that
//! this scan did not write: those of namespaces with no judged object left.

use std::collections::BTreeSet;

use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::discovery::ApiResource;
use kube::Client;

use super::ScanError;
use crate::report::policy_report::{Report, ReportFlavor, MANAGED_BY_LABEL, SOURCE};

/// The field manager of every apply.
pub const FIELD_MANAGER: &str = "celgate";

/// What an apply did, each report as `namespace/name` (`name` for the cluster report).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// Reports written.
    pub applied: Vec<String>,
    /// Stale reports deleted.
    pub deleted: Vec<String>,
}

/// The `kube` description of `flavor`'s namespaced (`cluster == false`) or cluster report.
fn report_resource(flavor: ReportFlavor, cluster: bool) -> ApiResource {
    let api_version = flavor.api_version();
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let (kind, plural) = if cluster {
        (flavor.cluster_kind(), flavor.cluster_resource())
    } else {
        (flavor.namespaced_kind(), flavor.namespaced_resource())
    };
    ApiResource {
        group: group.to_owned(),
        version: version.to_owned(),
        api_version: api_version.to_owned(),
        kind: kind.to_owned(),
        plural: plural.to_owned(),
    }
}

fn key(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_owned(),
    }
}

/// Writes reports one at a time as a scan finishes them, then deletes celgate's reports of the
/// flavor it did not write ([`Applier::finish`]).
pub struct Applier {
    client: Client,
    flavor: ReportFlavor,
    outcome: ApplyOutcome,
}

impl Applier {
    /// An applier of `flavor` reports.
    pub fn new(client: Client, flavor: ReportFlavor) -> Applier {
        Applier {
            client,
            flavor,
            outcome: ApplyOutcome::default(),
        }
    }

    /// Server-side applies `report`, replacing its previous results.
    pub async fn apply(&mut self, report: &Report) -> Result<(), ScanError> {
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let resource = report_resource(self.flavor, report.namespace().is_none());
        let api: Api<DynamicObject> = match report.namespace() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        let name = &report.metadata.name;
        let id = key(report.namespace(), name);
        let patch = Patch::Apply(report.to_value());
        super::cluster::retrying(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| report_error(&resource, format!("apply {} {id}", resource.kind), e))?;
        self.outcome.applied.push(id);
        Ok(())
    }

    /// Deletes celgate's reports of the flavor that were not applied, and says what was done.
    pub async fn finish(mut self) -> Result<ApplyOutcome, ScanError> {
        let written: BTreeSet<String> = self.outcome.applied.iter().cloned().collect();
        for cluster in [false, true] {
            let resource = report_resource(self.flavor, cluster);
            let mut stale = Vec::new();
            for_each_managed(&self.client, &resource, 500, true, |report| {
                let name = report.metadata.name.clone().unwrap_or_default();
                let namespace = report.metadata.namespace.clone();
                if !written.contains(&key(namespace.as_deref(), &name)) {
                    stale.push((namespace, name));
                }
            })
            .await?;
            for (namespace, name) in stale {
                let id = key(namespace.as_deref(), &name);
                let api: Api<DynamicObject> = match &namespace {
                    Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
                    None => Api::all_with(self.client.clone(), &resource),
                };
                api.delete(&name, &DeleteParams::default())
                    .await
                    .map_err(|e| report_error(&resource, format!("delete {} {id}", resource.kind), e))?;
                self.outcome.deleted.push(id);
            }
        }
        Ok(self.outcome)
    }
}

/// Hands every report of `flavor` celgate wrote (the previous scan's, of this or another
/// replica) to `each`, a few at a time (reports are up to 1 MB each).
pub async fn for_each_stored_report(
    client: &Client,
    flavor: ReportFlavor,
    mut each: impl FnMut(&serde_json::Value),
) -> Result<(), ScanError> {
    for cluster in [false, true] {
        let resource = report_resource(flavor, cluster);
        let mut failed = None;
        for_each_managed(client, &resource, 10, false, |report| {
            match serde_json::to_value(report) {
                Ok(value) => each(&value),
                Err(e) => failed = Some(e),
            }
        })
        .await?;
        if let Some(e) = failed {
            return Err(ScanError::Decode(e));
        }
    }
    Ok(())
}

/// Every report of `resource` carrying celgate's label, `page` at a time; with `metadata_only`
/// without their results.
async fn for_each_managed(
    client: &Client,
    resource: &ApiResource,
    page: u32,
    metadata_only: bool,
    mut each: impl FnMut(&DynamicObject),
) -> Result<(), ScanError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let selector = format!("{MANAGED_BY_LABEL}={SOURCE}");
    let what = || format!("list {}", resource.plural);
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(&selector).limit(page);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let continue_token = if metadata_only {
            let list = super::cluster::retrying(|| api.list_metadata(&params))
                .await
                .map_err(|e| report_error(resource, what(), e))?;
            for item in list.items {
                each(&DynamicObject {
                    types: None,
                    metadata: item.metadata,
                    data: serde_json::Value::Null,
                });
            }
            list.metadata.continue_
        } else {
            let list = super::cluster::retrying(|| api.list(&params))
                .await
                .map_err(|e| report_error(resource, what(), e))?;
            list.items.iter().for_each(&mut each);
            list.metadata.continue_
        };
        token = continue_token.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(());
        }
    }
}

/// An API error about reports; a 404 on the resource itself means its CRD is not installed.
fn report_error(resource: &ApiResource, what: String, error: kube::Error) -> ScanError {
    if let kube::Error::Api(status) = &error {
        if status.code == 404 && !what.starts_with("delete") {
            return ScanError::MissingCrd {
                resource: format!("{}.{}", resource.plural, resource.group),
            };
        }
    }
    ScanError::Api(what, error)
}
