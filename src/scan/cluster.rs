//! The scan's side of the Kubernetes API (the `kube` crate): connecting, discovery, paginated
//! lists, who the scanner is, and namespace labels.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
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
    client_with_bounded_retries(config)
}

/// A client without `kube`'s default retries (15 over some 5 minutes, which would stall a scan
/// on an aggregated API whose backend is down); the scan's requests go through [`retrying`].
fn client_with_bounded_retries(mut config: kube::Config) -> Result<Client, ScanError> {
    config.default_retry = false;
    Client::try_from(config).map_err(|e| ScanError::Config(e.to_string()))
}

/// Runs `call`, again after 0.2, 0.4 and 0.8 s while it answers 429, 503 or 504.
pub async fn retrying<T, F, Fut>(mut call: F) -> kube::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = kube::Result<T>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        match call().await {
            Err(kube::Error::Api(status)) if matches!(status.code, 429 | 503 | 504) && attempt < 3 => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Every resource the cluster serves, at every version, from discovery (`/api`, `/apis`, then
/// each group version). A group version that does not answer (an aggregated API whose backend is
/// down answers 503) is left out and said in the second list, instead of failing the scan.
pub async fn served_resources(client: &Client) -> Result<(Vec<ServedResource>, Vec<String>), ScanError> {
    let api = |what: &str| {
        let what = what.to_owned();
        move |e| ScanError::Api(format!("discovery: {what}"), e)
    };
    let core = retrying(|| client.list_core_api_versions())
        .await
        .map_err(api("/api"))?;
    let groups = retrying(|| client.list_api_groups()).await.map_err(api("/apis"))?;
    let mut versions: Vec<(String, String, bool)> = core
        .versions
        .iter()
        .enumerate()
        .map(|(i, v)| (String::new(), v.clone(), i == 0))
        .collect();
    for group in groups.groups {
        let preferred = group
            .preferred_version
            .as_ref()
            .map(|p| p.version.clone())
            .or_else(|| group.versions.first().map(|v| v.version.clone()))
            .unwrap_or_default();
        for version in &group.versions {
            versions.push((
                group.name.clone(),
                version.version.clone(),
                version.version == preferred,
            ));
        }
    }
    let mut served = Vec::new();
    let mut unavailable = Vec::new();
    for (group, version, preferred) in versions {
        let gv = if group.is_empty() {
            version.clone()
        } else {
            format!("{group}/{version}")
        };
        let listed = if group.is_empty() {
            retrying(|| client.list_core_api_resources(&gv)).await
        } else {
            retrying(|| client.list_api_group_resources(&gv)).await
        };
        let list = match listed {
            Ok(list) => list,
            Err(e) => {
                let gv = if group.is_empty() {
                    version.clone()
                } else {
                    format!("{group}/{version}")
                };
                unavailable.push(format!("{gv}: {e}"));
                continue;
            }
        };
        for resource in list.resources {
            if resource.name.contains('/') {
                continue;
            }
            served.push(ServedResource {
                group: group.clone(),
                version: version.clone(),
                kind: resource.kind,
                plural: resource.name,
                namespaced: resource.namespaced,
                listable: resource.verbs.iter().any(|v| v == "list"),
                preferred,
            });
        }
    }
    Ok((served, unavailable))
}

/// The URL path of `resource`'s collection in `namespace`, or in all namespaces.
fn collection_path(resource: &ServedResource, namespace: Option<&str>) -> String {
    let base = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    match namespace {
        Some(ns) => format!("{base}/namespaces/{ns}/{}", resource.plural),
        None => format!("{base}/{}", resource.plural),
    }
}

/// Lists every object of `resource` in `namespace` (all namespaces for `None`), `page_size` at a time (`limit` and
/// `continue`), handing each page to `on_page` before asking for the next; returns how many
/// objects there were. Objects are the API server's JSON as sent, with `apiVersion` and `kind`
/// added (list items omit them).
pub async fn list_pages(
    client: &Client,
    resource: &ServedResource,
    namespace: Option<&str>,
    page_size: u32,
    on_page: impl FnMut(Vec<serde_json::Value>) -> Result<(), ScanError>,
) -> Result<usize, ScanError> {
    pages(client, resource, namespace, page_size, false, on_page).await
}

/// The namespaces that hold objects of `resource`, from a metadata-only list (the API server
/// sends `PartialObjectMetadata`, no specs), page by page.
pub async fn namespaces_in_use(
    client: &Client,
    resource: &ServedResource,
    page_size: u32,
    into: &mut std::collections::BTreeSet<String>,
) -> Result<(), ScanError> {
    pages(client, resource, None, page_size, true, |page| {
        into.extend(
            page.iter()
                .filter_map(|o| o.pointer("/metadata/namespace").and_then(serde_json::Value::as_str))
                .map(str::to_owned),
        );
        Ok(())
    })
    .await
    .map(|_| ())
}

async fn pages(
    client: &Client,
    resource: &ServedResource,
    namespace: Option<&str>,
    page_size: u32,
    metadata_only: bool,
    mut on_page: impl FnMut(Vec<serde_json::Value>) -> Result<(), ScanError>,
) -> Result<usize, ScanError> {
    let request = kube::core::Request::new(collection_path(resource, namespace));
    let api_version = resource.api_version();
    let what = || format!("list {}", resource.plural);
    let mut token: Option<String> = None;
    let mut total = 0;
    loop {
        let mut params = ListParams::default().limit(page_size);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let http = if metadata_only {
            request.list_metadata(&params)
        } else {
            request.list(&params)
        }
        .map_err(|e| ScanError::Api(what(), kube::Error::BuildRequest(e)))?;
        let mut page: serde_json::Value = retrying(|| client.request(http.clone()))
            .await
            .map_err(|e| ScanError::Api(what(), e))?;
        let items = match page.get_mut("items").map(serde_json::Value::take) {
            Some(serde_json::Value::Array(items)) => items,
            _ => Vec::new(),
        };
        let mut objects = Vec::with_capacity(items.len());
        for mut item in items {
            if let Some(map) = item.as_object_mut() {
                map.entry("apiVersion").or_insert_with(|| api_version.clone().into());
                map.entry("kind").or_insert_with(|| resource.kind.clone().into());
                objects.push(item);
            }
        }
        total += objects.len();
        on_page(objects)?;
        token = page
            .pointer("/metadata/continue")
            .and_then(serde_json::Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
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
