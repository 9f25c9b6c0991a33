//! The scan's side of the Kubernetes API (the `kube` crate): connecting, discovery, paginated
//! lists, who the scanner is, and namespace labels.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::Client;

use super::targets::ServedResource;
use super::ScanError;
use crate::engine::UserInfo;

/// A client from `kubeconfig` (with `context`, else its current one); without a file, from
/// `KUBECONFIG` or `~/.kube/config`, else the pod's service account (in-cluster).
pub async fn connect(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Client, ScanError> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = match kubeconfig {
        Some(path) => {
            let file =
                Kubeconfig::read_from(path).map_err(|e| ScanError::Config(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| ScanError::Config(format!("{}: {e}", path.display())))?
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| ScanError::Config(e.to_string()))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| ScanError::Config(e.to_string()))?,
    };
    Client::try_from(config).map_err(|e| ScanError::Config(e.to_string()))
}

/// Every resource the cluster serves, at every version, from discovery.
pub async fn served_resources(client: &Client) -> Result<Vec<ServedResource>, ScanError> {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .map_err(|e| ScanError::Api("discovery".to_owned(), e))?;
    let mut served = Vec::new();
    for group in discovery.groups() {
        let preferred = group.preferred_version_or_latest().to_owned();
        for version in group.versions() {
            for (resource, caps) in group.versioned_resources(version) {
                if resource.plural.contains('/') {
                    continue;
                }
                served.push(ServedResource {
                    group: resource.group,
                    version: resource.version,
                    kind: resource.kind,
                    plural: resource.plural,
                    namespaced: caps.scope == Scope::Namespaced,
                    listable: caps.supports_operation(verbs::LIST),
                    preferred: version == preferred,
                });
            }
        }
    }
    Ok(served)
}

/// The `kube` description of a served resource.
pub fn api_resource(served: &ServedResource) -> ApiResource {
    ApiResource {
        group: served.group.clone(),
        version: served.version.clone(),
        api_version: served.api_version(),
        kind: served.kind.clone(),
        plural: served.plural.clone(),
    }
}

/// Lists every object of `resource` in all namespaces, `page_size` at a time (`limit` and
/// `continue`), handing each page to `on_page` before asking for the next; returns how many
/// objects there were. Each object carries its `apiVersion` and `kind` (list items may omit them).
pub async fn list_pages(
    client: &Client,
    resource: &ServedResource,
    page_size: u32,
    mut on_page: impl FnMut(Vec<serde_json::Value>) -> Result<(), ScanError>,
) -> Result<usize, ScanError> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &api_resource(resource));
    let api_version = resource.api_version();
    let mut token: Option<String> = None;
    let mut total = 0;
    loop {
        let mut params = ListParams::default().limit(page_size);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api
            .list(&params)
            .await
            .map_err(|e| ScanError::Api(format!("list {}", resource.plural), e))?;
        let mut objects = Vec::with_capacity(page.items.len());
        for item in page.items {
            let mut value = serde_json::to_value(&item).map_err(ScanError::Decode)?;
            if let Some(map) = value.as_object_mut() {
                map.entry("apiVersion").or_insert_with(|| api_version.clone().into());
                map.entry("kind").or_insert_with(|| resource.kind.clone().into());
            }
            objects.push(value);
        }
        total += objects.len();
        on_page(objects)?;
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(total);
        }
    }
}

/// The labels of every namespace, listed page by page; `None` when namespaces cannot be listed
/// (namespace selectors then see only `kubernetes.io/metadata.name`).
pub async fn namespace_labels(
    client: &Client,
    page_size: u32,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, ScanError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut labels = BTreeMap::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(page_size);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page = api
            .list(&params)
            .await
            .map_err(|e| ScanError::Api("list namespaces".to_owned(), e))?;
        for ns in page.items {
            if let Some(name) = ns.metadata.name {
                labels.insert(name, ns.metadata.labels.unwrap_or_default());
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(labels);
        }
    }
}

/// Who the scanner is, as the API server authenticates it (a `SelfSubjectReview`).
pub async fn whoami(client: &Client) -> Result<UserInfo, ScanError> {
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .map_err(|e| ScanError::Api("create selfsubjectreview".to_owned(), e))?;
    let info = review.status.and_then(|s| s.user_info).unwrap_or_default();
    Ok(UserInfo {
        username: info.username.unwrap_or_default(),
        uid: info.uid.unwrap_or_default(),
        groups: info.groups.unwrap_or_default(),
        extra: info.extra.unwrap_or_default().into_iter().collect(),
    })
}
