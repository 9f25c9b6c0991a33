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

/// Applies `reports` (all of `flavor`) and deletes celgate's other reports of that flavor.
pub async fn apply_reports(
    client: &Client,
    flavor: ReportFlavor,
    reports: &[Report],
) -> Result<ApplyOutcome, ScanError> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let mut outcome = ApplyOutcome::default();
    for report in reports {
        let resource = report_resource(flavor, report.namespace().is_none());
        let api: Api<DynamicObject> = match report.namespace() {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
            None => Api::all_with(client.clone(), &resource),
        };
        let name = &report.metadata.name;
        let patch = Patch::Apply(report.to_value());
        super::cluster::retrying(|| api.patch(name, &params, &patch))
            .await
            .map_err(|e| {
                report_error(
                    &resource,
                    format!("apply {} {}", resource.kind, key(report.namespace(), name)),
                    e,
                )
            })?;
        outcome.applied.push(key(report.namespace(), name));
    }
    let written: BTreeSet<String> = outcome.applied.iter().cloned().collect();
    for cluster in [false, true] {
        let resource = report_resource(flavor, cluster);
        for report in managed_reports(client, &resource).await? {
            let (namespace, name) = (report.metadata.namespace, report.metadata.name.unwrap_or_default());
            let id = key(namespace.as_deref(), &name);
            if written.contains(&id) {
                continue;
            }
            let api: Api<DynamicObject> = match &namespace {
                Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
                None => Api::all_with(client.clone(), &resource),
            };
            api.delete(&name, &DeleteParams::default())
                .await
                .map_err(|e| report_error(&resource, format!("delete {} {id}", resource.kind), e))?;
            outcome.deleted.push(id);
        }
    }
    Ok(outcome)
}

/// The reports of `flavor` celgate wrote (by the previous scan, of this or another replica), as
/// JSON, namespaced first.
pub async fn stored_reports(client: &Client, flavor: ReportFlavor) -> Result<Vec<serde_json::Value>, ScanError> {
    let mut reports = Vec::new();
    for cluster in [false, true] {
        for report in managed_reports(client, &report_resource(flavor, cluster)).await? {
            reports.push(serde_json::to_value(&report).map_err(ScanError::Decode)?);
        }
    }
    Ok(reports)
}

/// Every report of `resource` carrying celgate's label.
async fn managed_reports(client: &Client, resource: &ApiResource) -> Result<Vec<DynamicObject>, ScanError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
    let selector = format!("{MANAGED_BY_LABEL}={SOURCE}");
    let mut found = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().labels(&selector).limit(500);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api
            .list(&params)
            .await
            .map_err(|e| report_error(resource, format!("list {}", resource.plural), e))?;
        found.extend(page.items);
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(found);
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
