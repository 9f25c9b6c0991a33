//! From a document's kind to the REST resource the apiserver would name in `request.resource`:
//! a table of the built-in kinds (with their irregular plurals and their scope) and the rule
//! custom resources usually follow (lowercase plural) for the rest.

/// Built-in kinds: (kind, resource, cluster-scoped).
const KINDS: &[(&str, &str, bool)] = &[
    // core
    ("Binding", "bindings", false),
    ("ComponentStatus", "componentstatuses", true),
    ("ConfigMap", "configmaps", false),
    ("Endpoints", "endpoints", false),
    ("Event", "events", false),
    ("LimitRange", "limitranges", false),
    ("Namespace", "namespaces", true),
    ("Node", "nodes", true),
    ("PersistentVolume", "persistentvolumes", true),
    ("PersistentVolumeClaim", "persistentvolumeclaims", false),
    ("Pod", "pods", false),
    ("PodTemplate", "podtemplates", false),
    ("ReplicationController", "replicationcontrollers", false),
    ("ResourceQuota", "resourcequotas", false),
    ("Secret", "secrets", false),
    ("Service", "services", false),
    ("ServiceAccount", "serviceaccounts", false),
    // apps, batch, autoscaling, policy
    ("ControllerRevision", "controllerrevisions", false),
    ("DaemonSet", "daemonsets", false),
    ("Deployment", "deployments", false),
    ("ReplicaSet", "replicasets", false),
    ("StatefulSet", "statefulsets", false),
    ("CronJob", "cronjobs", false),
    ("Job", "jobs", false),
    ("HorizontalPodAutoscaler", "horizontalpodautoscalers", false),
    ("PodDisruptionBudget", "poddisruptionbudgets", false),
    ("Eviction", "evictions", false),
    // networking, discovery
    ("Ingress", "ingresses", false),
    ("IngressClass", "ingressclasses", true),
    ("NetworkPolicy", "networkpolicies", false),
    ("IPAddress", "ipaddresses", true),
    ("ServiceCIDR", "servicecidrs", true),
    ("EndpointSlice", "endpointslices", false),
    // rbac
    ("ClusterRole", "clusterroles", true),
    ("ClusterRoleBinding", "clusterrolebindings", true),
    ("Role", "roles", false),
    ("RoleBinding", "rolebindings", false),
    // storage, scheduling, node
    ("CSIDriver", "csidrivers", true),
    ("CSINode", "csinodes", true),
    ("CSIStorageCapacity", "csistoragecapacities", false),
    ("StorageClass", "storageclasses", true),
    ("VolumeAttachment", "volumeattachments", true),
    ("VolumeAttributesClass", "volumeattributesclasses", true),
    ("PriorityClass", "priorityclasses", true),
    ("RuntimeClass", "runtimeclasses", true),
    // admission, apiextensions, apiregistration, certificates, coordination, flowcontrol
    ("MutatingWebhookConfiguration", "mutatingwebhookconfigurations", true),
    (
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        true,
    ),
    ("ValidatingAdmissionPolicy", "validatingadmissionpolicies", true),
    (
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        true,
    ),
    ("MutatingAdmissionPolicy", "mutatingadmissionpolicies", true),
    (
        "MutatingAdmissionPolicyBinding",
        "mutatingadmissionpolicybindings",
        true,
    ),
    ("CustomResourceDefinition", "customresourcedefinitions", true),
    ("APIService", "apiservices", true),
    ("CertificateSigningRequest", "certificatesigningrequests", true),
    ("Lease", "leases", false),
    ("FlowSchema", "flowschemas", true),
    ("PriorityLevelConfiguration", "prioritylevelconfigurations", true),
    // authentication, authorization
    ("TokenReview", "tokenreviews", true),
    ("SelfSubjectReview", "selfsubjectreviews", true),
    ("SubjectAccessReview", "subjectaccessreviews", true),
    ("SelfSubjectAccessReview", "selfsubjectaccessreviews", true),
    ("SelfSubjectRulesReview", "selfsubjectrulesreviews", true),
    ("LocalSubjectAccessReview", "localsubjectaccessreviews", false),
];

/// The resource name (lowercase plural) the apiserver uses for `kind`.
pub fn resource_for_kind(kind: &str) -> String {
    if let Some((_, resource, _)) = KINDS.iter().find(|(k, _, _)| *k == kind) {
        return (*resource).to_owned();
    }
    plural(&kind.to_ascii_lowercase())
}

/// The built-in kind whose resource (lowercase plural) is `resource`, if the table knows it.
pub fn kind_for_resource(resource: &str) -> Option<&'static str> {
    KINDS.iter().find(|(_, r, _)| *r == resource).map(|(k, _, _)| *k)
}

/// True when `kind` is a built-in cluster-scoped kind; `None` when the table does not know it.
pub fn is_cluster_scoped(kind: &str) -> Option<bool> {
    KINDS
        .iter()
        .find(|(k, _, _)| *k == kind)
        .map(|(_, _, cluster)| *cluster)
}

/// True when `resource` (a built-in's plural, `deployments`) is cluster-scoped; `None` when the
/// table does not know it.
pub fn is_cluster_scoped_resource(resource: &str) -> Option<bool> {
    KINDS
        .iter()
        .find(|(_, r, _)| *r == resource)
        .map(|(_, _, cluster)| *cluster)
}

/// English plural as CRDs usually spell it: `policy` -> `policies`, `ingress` -> `ingresses`,
/// `box` -> `boxes`, anything else + `s`.
fn plural(lower: &str) -> String {
    let ends = |s: &str| lower.ends_with(s);
    if ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh") {
        format!("{lower}es")
    } else if let Some(stem) = lower.strip_suffix('y') {
        if stem.ends_with(['a', 'e', 'i', 'o', 'u']) {
            format!("{lower}s")
        } else {
            format!("{stem}ies")
        }
    } else {
        format!("{lower}s")
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("Deployment", "deployments")]
    #[case("Endpoints", "endpoints")]
    #[case("NetworkPolicy", "networkpolicies")]
    #[case("Ingress", "ingresses")]
    #[case("ReplicaLimit", "replicalimits")]
    #[case("Gateway", "gateways")]
    #[case("Prometheus", "prometheuses")]
    #[case("Proxy", "proxies")]
    fn kinds_map_to_resources(#[case] kind: &str, #[case] resource: &str) {
        assert_eq!(resource_for_kind(kind), resource);
    }

    #[test]
    fn scope_is_known_for_built_ins_only() {
        assert_eq!(is_cluster_scoped("Namespace"), Some(true));
        assert_eq!(is_cluster_scoped("Pod"), Some(false));
        assert_eq!(is_cluster_scoped("ReplicaLimit"), None);
        assert_eq!(is_cluster_scoped_resource("clusterroles"), Some(true));
        assert_eq!(is_cluster_scoped_resource("deployments"), Some(false));
        assert_eq!(is_cluster_scoped_resource("replicalimits"), None);
    }
}
