//! The webhook configurations in `deploy/` send the API server's writes of every kind the shipped
//! packs judge: a kind a rule matches but no webhook rule sends is never checked at admission.

use std::path::Path;

use celgate::documents;
use celgate::engine::facts::resources::resource_for_kind;
use celgate::engine::Engine;
use serde_json::Value;

/// The API group of a kind the packs name without one (`Pod`, `Deployment`, ...).
fn group_of(kind: &str) -> &'static str {
    match kind {
        "Pod"
        | "ReplicationController"
        | "Service"
        | "PersistentVolumeClaim"
        | "PersistentVolume"
        | "ServiceAccount"
        | "ConfigMap"
        | "Secret"
        | "Namespace" => "",
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps",
        "Job" | "CronJob" => "batch",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io",
        "StorageClass" => "storage.k8s.io",
        "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding" => "rbac.authorization.k8s.io",
        other => panic!("a shipped rule matches kind {other}: add its API group to this table"),
    }
}

/// (group, version, resource) of every kind a shipped rule matches; version `*` when the rule
/// names none.
fn judged_resources() -> Vec<(String, String, String)> {
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    let mut out: Vec<(String, String, String)> = Vec::new();
    for pack in engine.packs() {
        for rule in &pack.rules {
            for kind in &rule.spec.match_.kinds {
                let parts: Vec<&str> = kind.split('/').collect();
                let (group, version, kind) = match parts.as_slice() {
                    [kind] => (group_of(kind), "*", *kind),
                    [version, kind] => ("", *version, *kind),
                    [group, version, kind] => (*group, *version, *kind),
                    _ => panic!("rule {}: kind {kind}", rule.spec.id),
                };
                let entry = (group.to_owned(), version.to_owned(), resource_for_kind(kind));
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
        }
    }
    assert!(out.len() >= 20, "only {} kinds", out.len());
    out
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// True when one of `webhook`'s rules sends CREATE of `resource` in `group`/`version`.
fn sends(webhook: &Value, (group, version, resource): &(String, String, String)) -> bool {
    webhook["rules"].as_array().into_iter().flatten().any(|rule| {
        let has = |field: &str, want: &str| strings(&rule[field]).iter().any(|v| *v == "*" || *v == want);
        has("apiGroups", group)
            && (version == "*" || has("apiVersions", version))
            && has("resources", resource)
            && has("operations", "CREATE")
    })
}

#[test]
fn every_kind_the_packs_judge_is_sent_by_every_webhook() {
    let resources = judged_resources();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["deploy/90-webhooks.yaml", "deploy/cert-manager/90-webhooks.yaml"] {
        let collected = documents::collect(&[root.join(file)], &mut std::io::empty());
        assert!(collected.problems.is_empty(), "{file} parses");
        let mut webhooks = 0;
        for doc in &collected.documents {
            for webhook in doc.value["webhooks"].as_array().into_iter().flatten() {
                webhooks += 1;
                let missing: Vec<String> = resources
                    .iter()
                    .filter(|r| !sends(webhook, r))
                    .map(|(g, v, r)| format!("{g}/{v}/{r}"))
                    .collect();
                assert!(
                    missing.is_empty(),
                    "{file}: webhook {} does not send {missing:?}",
                    webhook["name"]
                );
            }
        }
        assert_eq!(webhooks, 2, "{file}: a validating and a mutating webhook");
    }
}
