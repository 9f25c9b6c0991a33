//! `deploy/scan/20-clusterrole.yaml` against the shipped packs: every kind a shipped rule matches
//! (what `celgate scan` lists) is granted `list` and `watch` — except Secrets, left out on purpose
//! (the scan notes and skips them) — and nothing but the report resources is granted more than
//! reading. The kinds are derived the way the scan derives them (`scan::Wanted`), and resolved
//! to API groups and resources with the table below for kinds written without a group.

use std::collections::{BTreeMap, BTreeSet};

use celgate::engine::facts::resources::resource_for_kind;
use celgate::engine::Engine;
use celgate::scan::Wanted;
use serde_json::Value;

/// API groups of the built-in kinds the shipped packs name without one.
const GROUPS: &[(&str, &str)] = &[
    ("ConfigMap", ""),
    ("Namespace", ""),
    ("PersistentVolume", ""),
    ("PersistentVolumeClaim", ""),
    ("Pod", ""),
    ("ReplicationController", ""),
    ("Secret", ""),
    ("Service", ""),
    ("ServiceAccount", ""),
    ("DaemonSet", "apps"),
    ("Deployment", "apps"),
    ("ReplicaSet", "apps"),
    ("StatefulSet", "apps"),
    ("CronJob", "batch"),
    ("Job", "batch"),
    ("Ingress", "networking.k8s.io"),
    ("NetworkPolicy", "networking.k8s.io"),
    ("ClusterRole", "rbac.authorization.k8s.io"),
    ("ClusterRoleBinding", "rbac.authorization.k8s.io"),
    ("Role", "rbac.authorization.k8s.io"),
    ("RoleBinding", "rbac.authorization.k8s.io"),
    ("StorageClass", "storage.k8s.io"),
];

/// Resources the role leaves out on purpose.
const NOT_GRANTED: &[(&str, &str)] = &[("", "secrets")];

/// Report resources, with the verbs `--apply` needs.
const REPORTS: &[(&str, &str)] = &[
    ("wgpolicyk8s.io", "policyreports"),
    ("wgpolicyk8s.io", "clusterpolicyreports"),
    ("openreports.io", "reports"),
    ("openreports.io", "clusterreports"),
];

/// (group, resource) of every kind the shipped packs match.
fn matched_resources() -> BTreeSet<(String, String)> {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let wanted = Wanted::of_engine(&engine);
    assert!(
        wanted.every_kind.is_empty(),
        "rules matching every kind: {:?}",
        wanted.every_kind
    );
    assert!(
        wanted.resources.is_empty(),
        "the shipped packs have no admission policies"
    );
    wanted
        .kinds
        .iter()
        .map(|k| {
            let group = match &k.group {
                Some(group) => group.clone(),
                None => GROUPS
                    .iter()
                    .find(|(kind, _)| *kind == k.kind)
                    .unwrap_or_else(|| panic!("kind {} has no group in GROUPS: add it", k.kind))
                    .1
                    .to_owned(),
            };
            (group, resource_for_kind(&k.kind))
        })
        .collect()
}

/// (group, resource) -> verbs granted by the `ClusterRole`.
fn granted() -> BTreeMap<(String, String), BTreeSet<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/scan/20-clusterrole.yaml");
    let collected = celgate::documents::collect(&[path], &mut std::io::empty());
    assert!(collected.problems.is_empty(), "{:?}", collected.problems);
    let role = collected
        .documents
        .iter()
        .find(|d| d.value["kind"] == "ClusterRole")
        .expect("a ClusterRole");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role.value["rules"].as_array().expect("rules") {
        assert!(rule.get("resourceNames").is_none(), "{rule}");
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                assert!(group != "*" && resource != "*", "no wildcards: {rule}");
                granted
                    .entry((group.clone(), resource))
                    .or_default()
                    .extend(strings(&rule["verbs"]));
            }
        }
    }
    granted
}

#[test]
fn the_scan_role_grants_reading_every_matched_kind_and_writing_only_reports() {
    let granted = granted();
    let read: BTreeSet<String> = ["list", "watch"].map(String::from).into();
    let mut missing = Vec::new();
    for key in matched_resources() {
        if NOT_GRANTED.contains(&(key.0.as_str(), key.1.as_str())) {
            assert!(!granted.contains_key(&key), "{key:?} is meant to be left out");
            continue;
        }
        if !granted.get(&key).is_some_and(|verbs| read.is_subset(verbs)) {
            missing.push(format!("{}/{}", key.0, key.1));
        }
    }
    assert!(missing.is_empty(), "not granted list+watch: {missing:?}");
    for ((group, resource), verbs) in &granted {
        let report = REPORTS.contains(&(group.as_str(), resource.as_str()));
        if report {
            let needed: BTreeSet<String> = ["get", "list", "create", "patch", "delete"].map(String::from).into();
            assert_eq!(verbs, &needed, "{group}/{resource}");
        } else {
            assert_eq!(verbs, &read, "{group}/{resource}: reading only");
        }
    }
    for (group, resource) in REPORTS {
        assert!(
            granted.contains_key(&((*group).to_owned(), (*resource).to_owned())),
            "{group}/{resource}"
        );
    }
}

#[test]
fn the_scan_role_grants_nothing_the_packs_do_not_match() {
    let matched = matched_resources();
    let extra: Vec<_> = granted()
        .into_keys()
        .filter(|key| !matched.contains(key) && !REPORTS.contains(&(key.0.as_str(), key.1.as_str())))
        .collect();
    assert!(extra.is_empty(), "granted but matched by no shipped rule: {extra:?}");
}
