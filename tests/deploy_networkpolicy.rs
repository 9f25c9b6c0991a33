//! `deploy/45-networkpolicy.yaml` (issue 15, item 9): the celgate pods admit only the control
//! plane on the admission port, and the policy selects exactly the pods of the Deployment.

use serde_json::Value;

/// The first document of `file` (repository-relative), read with celgate's own YAML parser.
fn load(file: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).expect("manifest");
    let docs = celgate::source::parse_documents(&text).expect("YAML parses");
    docs.into_iter().next().expect("one document").value
}

#[test]
fn only_the_control_plane_reaches_the_admission_port() {
    let policy = load("deploy/45-networkpolicy.yaml");
    let deployment = load("deploy/30-deployment.yaml");
    assert_eq!(policy["kind"], "NetworkPolicy");
    assert_eq!(policy["metadata"]["namespace"], deployment["metadata"]["namespace"]);
    assert_eq!(policy["spec"]["policyTypes"], serde_json::json!(["Ingress"]));

    // The policy selects the Deployment's pods.
    let pod_labels = &deployment["spec"]["template"]["metadata"]["labels"];
    let selector = policy["spec"]["podSelector"]["matchLabels"]
        .as_object()
        .expect("matchLabels");
    assert!(!selector.is_empty());
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "selector {key}");
    }

    // The container's admission port is admitted only from ipBlocks (the control plane), never
    // from pods or namespaces, and no rule admits every source on it.
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let https = container["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .find(|p| p["containerPort"] == 8443)
        .expect("the admission port");
    let names_https = |rule: &Value| {
        rule["ports"]
            .as_array()
            .is_some_and(|ports| ports.iter().any(|p| p["port"] == https["name"] || p["port"] == 8443))
    };
    let rules = policy["spec"]["ingress"].as_array().expect("ingress rules");
    let admission: Vec<&Value> = rules.iter().filter(|r| names_https(r)).collect();
    assert_eq!(admission.len(), 1, "one rule for the admission port: {admission:?}");
    let from = admission[0]["from"]
        .as_array()
        .expect("a `from` list (absent would admit everyone)");
    assert!(!from.is_empty());
    for peer in from {
        assert!(
            peer.get("ipBlock").is_some()
                && peer.get("podSelector").is_none()
                && peer.get("namespaceSelector").is_none(),
            "only ipBlocks on the admission port: {peer}"
        );
        assert_ne!(peer["ipBlock"]["cidr"], "0.0.0.0/0", "not everyone");
    }
    // Every other rule names its ports (a rule without ports would open 8443 too).
    for rule in rules {
        assert!(rule["ports"].as_array().is_some_and(|p| !p.is_empty()), "{rule}");
    }
}
