//! `matchConstraints` / `matchResources`: which requests a policy or binding applies to, decided
//! the way the apiserver does from the request's resource, operation, scope, name, object labels
//! and namespace labels.

use std::borrow::Cow;

use super::model::{MatchPolicy, MatchResources, NamedRuleWithOperations};
pub use crate::engine::facts::input::object_labels;
use crate::engine::facts::input::{split_api_version, Input, Operation};
use crate::engine::facts::request::{GroupVersionResource, RequestFacts};
use crate::engine::facts::resources::{is_cluster_scoped, is_cluster_scoped_resource};
pub use crate::engine::pack::select::NAMESPACE_NAME_LABEL;
use crate::engine::pack::select::{self, namespace_labels, selector_matches};
use crate::engine::pack::LabelSelector;

/// A request as admission-policy matching sees it, worked out from an [`Input`] once: the
/// door's [`RequestFacts`] (or those derived from the kind), the object's kind, the namespace
/// and the scope.
#[derive(Debug, Clone)]
pub struct RequestView<'a> {
    /// The operation.
    pub operation: Operation,
    /// Resource, subresource and request name: as the review sent them, or derived from the
    /// object's kind (CI, check API).
    pub facts: Cow<'a, RequestFacts>,
    /// API group of the object (`""` for core).
    pub group: &'a str,
    /// Kind of the object (`PodExecOptions` for a `pods/exec` request).
    pub kind: &'a str,
    /// The request namespace, `None` for a cluster-scoped request.
    pub namespace: Option<&'a str>,
    /// True for a request on a cluster-scoped resource.
    pub cluster_scoped: bool,
}

impl<'a> RequestView<'a> {
    /// The view of `input`. The scope comes from the resource table, else the kind table,
    /// else (for resources neither knows) from whether the request has a namespace.
    pub fn of(input: &'a Input) -> Self {
        let (group, _) = split_api_version(input.api_version());
        let kind = input.kind();
        let facts = input.request_facts();
        let namespace = input.effective_namespace().filter(|n| !n.is_empty());
        let cluster_scoped = is_cluster_scoped_resource(&facts.resource.resource)
            .or_else(|| is_cluster_scoped(kind))
            .unwrap_or(namespace.is_none());
        RequestView {
            operation: input.operation,
            facts,
            group,
            kind,
            namespace: if cluster_scoped { None } else { namespace },
            cluster_scoped,
        }
    }

    /// Name of the object the request is for (`resourceNames` match it).
    pub fn name(&self) -> &str {
        &self.facts.name
    }
}

/// Why a match block was refused at load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchResourcesError {
    /// A rule list that must not be empty is.
    #[error("{list}[{index}].{field} must not be empty")]
    Empty {
        /// `resourceRules` or `excludeResourceRules`.
        list: &'static str,
        /// Index of the rule.
        index: usize,
        /// The empty field.
        field: &'static str,
    },
    /// An operation that is not CREATE/UPDATE/DELETE/CONNECT/*.
    #[error(
        "{list}[{index}].operations: unknown operation '{operation}' (expected CREATE, UPDATE, DELETE, CONNECT or *)"
    )]
    Operation {
        /// `resourceRules` or `excludeResourceRules`.
        list: &'static str,
        /// Index of the rule.
        index: usize,
        /// As written.
        operation: String,
    },
    /// A scope that is not Cluster/Namespaced/*.
    #[error("{list}[{index}].scope: '{scope}' is not Cluster, Namespaced or *")]
    Scope {
        /// `resourceRules` or `excludeResourceRules`.
        list: &'static str,
        /// Index of the rule.
        index: usize,
        /// As written.
        scope: String,
    },
    /// A selector requirement without values for In/NotIn, or with values for Exists.
    #[error("{selector}: requirement on '{key}': {message}")]
    Selector {
        /// `namespaceSelector` or `objectSelector`.
        selector: &'static str,
        /// Label key.
        key: String,
        /// What is wrong.
        message: &'static str,
    },
}

/// A checked `matchConstraints` or `matchResources`.
#[derive(Debug, Clone)]
pub struct CompiledMatch {
    spec: MatchResources,
    /// True for a policy's `matchConstraints` (no resource rule: nothing matches); false for a
    /// binding's `matchResources` (no resource rule: no constraint).
    rules_required: bool,
}

impl CompiledMatch {
    /// The spec it was compiled from.
    pub fn spec(&self) -> &MatchResources {
        &self.spec
    }

    /// Checks `spec`; `rules_required` is true for a policy's `matchConstraints`.
    pub fn new(spec: MatchResources, rules_required: bool) -> Result<Self, MatchResourcesError> {
        for (list, rules) in [
            ("resourceRules", &spec.resource_rules),
            ("excludeResourceRules", &spec.exclude_resource_rules),
        ] {
            for (index, rule) in rules.iter().enumerate() {
                check_rule(list, index, rule)?;
            }
        }
        for (name, selector) in [
            ("namespaceSelector", &spec.namespace_selector),
            ("objectSelector", &spec.object_selector),
        ] {
            if let Some(selector) = selector {
                check_selector(name, selector)?;
            }
        }
        Ok(CompiledMatch { spec, rules_required })
    }

    /// True when the request is matched: a resource rule matches, no exclude rule does, and the
    /// namespace and object selectors hold.
    pub fn matches(&self, facts: &RequestView<'_>, input: &Input) -> bool {
        let policy = self.spec.match_policy.unwrap_or_default();
        let included = if self.spec.resource_rules.is_empty() {
            !self.rules_required
        } else {
            self.spec.resource_rules.iter().any(|r| rule_matches(r, facts, policy))
        };
        if !included
            || self
                .spec
                .exclude_resource_rules
                .iter()
                .any(|r| rule_matches(r, facts, policy))
        {
            return false;
        }
        if let Some(selector) = &self.spec.namespace_selector {
            if !namespace_selector_matches(selector, facts, input) {
                return false;
            }
        }
        if let Some(selector) = &self.spec.object_selector {
            if !object_selector_matches(selector, input) {
                return false;
            }
        }
        true
    }
}

fn check_rule(list: &'static str, index: usize, rule: &NamedRuleWithOperations) -> Result<(), MatchResourcesError> {
    for (field, values) in [
        ("operations", &rule.operations),
        ("apiGroups", &rule.api_groups),
        ("apiVersions", &rule.api_versions),
        ("resources", &rule.resources),
    ] {
        if values.is_empty() {
            return Err(MatchResourcesError::Empty { list, index, field });
        }
    }
    for op in &rule.operations {
        if op != "*" && Operation::parse(op).is_none_or(|parsed| parsed.as_str() != op) {
            return Err(MatchResourcesError::Operation {
                list,
                index,
                operation: op.clone(),
            });
        }
    }
    if let Some(scope) = &rule.scope {
        if !matches!(scope.as_str(), "Cluster" | "Namespaced" | "*") {
            return Err(MatchResourcesError::Scope {
                list,
                index,
                scope: scope.clone(),
            });
        }
    }
    Ok(())
}

fn check_selector(name: &'static str, selector: &LabelSelector) -> Result<(), MatchResourcesError> {
    use crate::engine::pack::SelectorOperator;
    for req in &selector.match_expressions {
        let needs_values = matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
        let message = if needs_values && req.values.is_empty() {
            "In and NotIn need at least one value"
        } else if !needs_values && !req.values.is_empty() {
            "Exists and DoesNotExist take no values"
        } else {
            continue;
        };
        return Err(MatchResourcesError::Selector {
            selector: name,
            key: req.key.clone(),
            message,
        });
    }
    Ok(())
}

/// Groups the apiserver serves the same resource under (matchPolicy: Equivalent).
const EQUIVALENT_GROUPS: &[(&str, &[&str])] = &[
    ("deployments", &["apps", "extensions"]),
    ("daemonsets", &["apps", "extensions"]),
    ("replicasets", &["apps", "extensions"]),
    ("ingresses", &["networking.k8s.io", "extensions"]),
    ("networkpolicies", &["networking.k8s.io", "extensions"]),
    ("podsecuritypolicies", &["policy", "extensions"]),
];

/// Whether `rule` matches the request. The original request (`requestResource`,
/// `requestSubResource`) must match exactly under `matchPolicy: Exact`; under `Equivalent`
/// (the default) the resource the webhook received it as, the same resource under any
/// version, or under a group the apiserver serves it from too, also match.
fn rule_matches(rule: &NamedRuleWithOperations, facts: &RequestView<'_>, policy: MatchPolicy) -> bool {
    let operation = rule
        .operations
        .iter()
        .any(|op| op == "*" || op == facts.operation.as_str());
    let scope = match rule.scope.as_deref() {
        Some("Cluster") => facts.cluster_scoped,
        Some("Namespaced") => !facts.cluster_scoped,
        _ => true,
    };
    let names = rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == facts.name());
    if !(operation && scope && names) {
        return false;
    }
    let original = (&facts.facts.request_resource, facts.facts.request_sub_resource.as_str());
    let exact = |(resource, sub): (&GroupVersionResource, &str)| {
        resource_matches(&rule.resources, resource, sub)
            && contains(&rule.api_groups, &resource.group)
            && contains(&rule.api_versions, &resource.version)
    };
    if exact(original) {
        return true;
    }
    if policy == MatchPolicy::Exact {
        return false;
    }
    let converted = (&facts.facts.resource, facts.facts.sub_resource.as_str());
    [original, converted].into_iter().any(|(resource, sub)| {
        resource_matches(&rule.resources, resource, sub)
            && equivalent_groups(resource)
                .iter()
                .any(|g| contains(&rule.api_groups, g))
    })
}

/// The groups the apiserver serves `resource` from (its own group, plus the others of
/// [`EQUIVALENT_GROUPS`]).
fn equivalent_groups(resource: &GroupVersionResource) -> Vec<&str> {
    EQUIVALENT_GROUPS
        .iter()
        .find(|(name, groups)| *name == resource.resource && groups.contains(&resource.group.as_str()))
        .map_or_else(|| vec![resource.group.as_str()], |(_, groups)| groups.to_vec())
}

fn contains(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// Kubernetes' resource patterns: `pods` (the resource alone), `pods/exec` (one subresource),
/// `pods/*` (the resource and all its subresources), `*` (every resource, no subresource),
/// `*/scale` (that subresource of every resource), `*/*` (everything).
fn resource_matches(patterns: &[String], resource: &GroupVersionResource, sub_resource: &str) -> bool {
    patterns.iter().any(|pattern| {
        let (res, sub) = pattern.split_once('/').unwrap_or((pattern.as_str(), ""));
        (res == "*" || res == resource.resource) && (sub == "*" || sub == sub_resource)
    })
}

/// The namespace selector, as the apiserver applies it: a Namespace object is judged by its own
/// labels, any other cluster-scoped object always matches, and a namespaced object by its
/// namespace's labels (plus `kubernetes.io/metadata.name`). When those labels are unknown (no
/// Namespace among the CI inputs), a selector on the name label alone is still decided; any
/// other cannot scope the object out, so it matches.
fn namespace_selector_matches(selector: &LabelSelector, facts: &RequestView<'_>, input: &Input) -> bool {
    if facts.kind == "Namespace" && facts.group.is_empty() {
        let labels = input.labels();
        return selector_matches(selector, &labels);
    }
    if facts.cluster_scoped {
        return true;
    }
    let labels = namespace_labels(facts.namespace, input.namespace_labels.as_ref());
    select::namespace_selector_matches(selector, &labels)
}

/// The object selector matches when the new or the old object's labels match; an empty selector
/// matches everything.
fn object_selector_matches(selector: &LabelSelector, input: &Input) -> bool {
    if selector.match_labels.is_empty() && selector.match_expressions.is_empty() {
        return true;
    }
    [Some(&input.object), input.old_object.as_ref()]
        .into_iter()
        .flatten()
        .filter(|o| o.is_object())
        .any(|o| selector_matches(selector, &object_labels(o)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rstest::rstest;
    use serde_json::json;

    use super::*;

    fn rule(groups: &[&str], versions: &[&str], resources: &[&str], scope: Option<&str>) -> NamedRuleWithOperations {
        let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        NamedRuleWithOperations {
            resource_names: vec![],
            operations: vec!["CREATE".into(), "UPDATE".into()],
            api_groups: strings(groups),
            api_versions: strings(versions),
            resources: strings(resources),
            scope: scope.map(str::to_owned),
        }
    }

    fn deployment(api_version: &str) -> Input {
        Input::new(json!({
            "apiVersion": api_version, "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team-a", "labels": {"app": "web"}}
        }))
    }

    #[rstest]
    #[case(rule(&["apps"], &["v1"], &["deployments"], None), "apps/v1", true)]
    #[case(rule(&["apps"], &["v1"], &["deployments/scale"], None), "apps/v1", false)]
    #[case(rule(&["*"], &["*"], &["*"], None), "apps/v1", true)]
    #[case(rule(&["*"], &["*"], &["*/*"], None), "apps/v1", true)]
    #[case(rule(&["*"], &["*"], &["*/scale"], None), "apps/v1", false)]
    #[case(rule(&["apps"], &["v1"], &["deployments"], Some("Cluster")), "apps/v1", false)]
    #[case(rule(&["apps"], &["v1"], &["deployments"], Some("Namespaced")), "apps/v1", true)]
    #[case(rule(&[""], &["v1"], &["pods"], None), "apps/v1", false)]
    #[case(rule(&["apps"], &["v1"], &["deployments"], None), "apps/v1beta1", true)]
    #[case(rule(&["apps"], &["v1"], &["deployments"], None), "extensions/v1beta1", true)]
    fn resource_rules(#[case] r: NamedRuleWithOperations, #[case] api_version: &str, #[case] expected: bool) {
        let m = CompiledMatch::new(
            MatchResources {
                resource_rules: vec![r],
                ..MatchResources::default()
            },
            true,
        )
        .expect("valid");
        let input = deployment(api_version);
        assert_eq!(m.matches(&RequestView::of(&input), &input), expected);
    }

    #[test]
    fn exact_match_policy_needs_the_written_version() {
        let m = CompiledMatch::new(
            MatchResources {
                resource_rules: vec![rule(&["apps"], &["v1"], &["deployments"], None)],
                match_policy: Some(MatchPolicy::Exact),
                ..MatchResources::default()
            },
            true,
        )
        .expect("valid");
        let input = deployment("apps/v1beta1");
        assert!(!m.matches(&RequestView::of(&input), &input));
    }

    #[test]
    fn exclusions_and_selectors() {
        let mut spec = MatchResources {
            resource_rules: vec![rule(&["*"], &["*"], &["*"], None)],
            exclude_resource_rules: vec![rule(&["apps"], &["*"], &["deployments"], None)],
            ..MatchResources::default()
        };
        let input = deployment("apps/v1");
        let facts = RequestView::of(&input);
        assert!(!CompiledMatch::new(spec.clone(), true)
            .expect("valid")
            .matches(&facts, &input));
        spec.exclude_resource_rules.clear();
        spec.object_selector = Some(LabelSelector {
            match_labels: BTreeMap::from([("app".to_owned(), "db".to_owned())]),
            match_expressions: vec![],
        });
        assert!(!CompiledMatch::new(spec.clone(), true)
            .expect("valid")
            .matches(&facts, &input));
        spec.object_selector = None;
        spec.namespace_selector = Some(LabelSelector {
            match_labels: BTreeMap::from([(NAMESPACE_NAME_LABEL.to_owned(), "team-a".to_owned())]),
            match_expressions: vec![],
        });
        let mut known = input.clone();
        known.namespace_labels = Some(BTreeMap::new());
        assert!(CompiledMatch::new(spec.clone(), true)
            .expect("valid")
            .matches(&facts, &known));
        // The name label is known even when the namespace's other labels are not.
        assert_eq!(input.namespace_labels, None);
        assert!(CompiledMatch::new(spec.clone(), true)
            .expect("valid")
            .matches(&facts, &input));
        spec.namespace_selector = Some(LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![crate::engine::pack::LabelSelectorRequirement {
                key: NAMESPACE_NAME_LABEL.to_owned(),
                operator: crate::engine::pack::SelectorOperator::NotIn,
                values: vec!["team-a".to_owned()],
            }],
        });
        assert!(!CompiledMatch::new(spec, true).expect("valid").matches(&facts, &input));
    }

    #[test]
    fn bad_rules_are_named() {
        let mut r = rule(&["apps"], &["v1"], &[], None);
        let err = CompiledMatch::new(
            MatchResources {
                resource_rules: vec![r.clone()],
                ..MatchResources::default()
            },
            true,
        )
        .expect_err("empty resources");
        assert_eq!(err.to_string(), "resourceRules[0].resources must not be empty");
        r.resources = vec!["pods".into()];
        r.operations = vec!["create".into()];
        let err = CompiledMatch::new(
            MatchResources {
                exclude_resource_rules: vec![r],
                ..MatchResources::default()
            },
            true,
        )
        .expect_err("lowercase operation");
        assert!(err.to_string().contains("excludeResourceRules[0].operations"), "{err}");
    }

    fn gvk(group: &str, version: &str, kind: &str) -> crate::engine::facts::request::GroupVersionKind {
        crate::engine::facts::request::GroupVersionKind {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        }
    }

    fn gvr(group: &str, version: &str, resource: &str) -> GroupVersionResource {
        GroupVersionResource {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource.to_owned(),
        }
    }

    /// A review of `resource`/`sub` whose object is of `kind`, as the admission door builds it.
    fn review(
        operation: Operation,
        kind: crate::engine::facts::request::GroupVersionKind,
        resource: GroupVersionResource,
        sub: &str,
    ) -> Input {
        let api_version = if kind.group.is_empty() {
            kind.version.clone()
        } else {
            format!("{}/{}", kind.group, kind.version)
        };
        let mut input = Input::new(json!({"apiVersion": api_version, "kind": kind.kind}));
        input.operation = operation;
        input.namespace = Some("prod".to_owned());
        input.request = Some(RequestFacts {
            request_kind: kind.clone(),
            request_resource: resource.clone(),
            request_sub_resource: sub.to_owned(),
            kind,
            resource,
            sub_resource: sub.to_owned(),
            name: "web".to_owned(),
            options: None,
        });
        input
    }

    fn pod_exec() -> Input {
        review(
            Operation::Connect,
            gvk("", "v1", "PodExecOptions"),
            gvr("", "v1", "pods"),
            "exec",
        )
    }

    fn deployment_scale() -> Input {
        review(
            Operation::Update,
            gvk("autoscaling", "v1", "Scale"),
            gvr("apps", "v1", "deployments"),
            "scale",
        )
    }

    fn ephemeral_containers() -> Input {
        review(
            Operation::Update,
            gvk("", "v1", "Pod"),
            gvr("", "v1", "pods"),
            "ephemeralcontainers",
        )
    }

    fn any_operation(groups: &[&str], resources: &[&str]) -> NamedRuleWithOperations {
        let mut r = rule(groups, &["*"], resources, None);
        r.operations = vec!["*".to_owned()];
        r
    }

    #[rstest]
    #[case::exec_named(pod_exec(), any_operation(&[""], &["pods/exec"]), true)]
    #[case::exec_not_by_the_plain_resource(pod_exec(), any_operation(&[""], &["pods"]), false)]
    #[case::exec_by_all_subresources(pod_exec(), any_operation(&[""], &["pods/*"]), true)]
    #[case::exec_by_any_resource_exec(pod_exec(), any_operation(&["*"], &["*/exec"]), true)]
    #[case::exec_not_by_star(pod_exec(), any_operation(&["*"], &["*"]), false)]
    #[case::exec_by_star_star(pod_exec(), any_operation(&["*"], &["*/*"]), true)]
    #[case::exec_not_attach(pod_exec(), any_operation(&[""], &["pods/attach"]), false)]
    #[case::exec_needs_connect(pod_exec(), rule(&[""], &["v1"], &["pods/exec"], None), false)]
    #[case::exec_is_namespaced(pod_exec(), { let mut r = any_operation(&[""], &["pods/exec"]); r.scope = Some("Namespaced".into()); r }, true)]
    #[case::exec_resource_names(pod_exec(), { let mut r = any_operation(&[""], &["pods/exec"]); r.resource_names = vec!["db".into()]; r }, false)]
    #[case::scale_named(deployment_scale(), any_operation(&["apps"], &["deployments/scale"]), true)]
    #[case::scale_of_anything(deployment_scale(), any_operation(&["*"], &["*/scale"]), true)]
    #[case::scale_not_by_the_plain_resource(deployment_scale(), any_operation(&["apps"], &["deployments"]), false)]
    #[case::scale_in_the_resource_group(deployment_scale(), any_operation(&["autoscaling"], &["deployments/scale"]), false)]
    #[case::scale_not_of_statefulsets(deployment_scale(), any_operation(&["apps"], &["statefulsets/scale"]), false)]
    #[case::ephemeral_named(ephemeral_containers(), any_operation(&[""], &["pods/ephemeralcontainers"]), true)]
    #[case::ephemeral_not_by_pods(ephemeral_containers(), any_operation(&[""], &["pods"]), false)]
    fn subresources_match_as_the_apiserver_does(
        #[case] input: Input,
        #[case] r: NamedRuleWithOperations,
        #[case] expected: bool,
    ) {
        let m = CompiledMatch::new(
            MatchResources {
                resource_rules: vec![r],
                ..MatchResources::default()
            },
            true,
        )
        .expect("valid");
        assert_eq!(m.matches(&RequestView::of(&input), &input), expected);
    }

    #[test]
    fn a_plain_resource_rule_still_matches_the_object_at_the_door() {
        let input = review(
            Operation::Update,
            gvk("apps", "v1", "Deployment"),
            gvr("apps", "v1", "deployments"),
            "",
        );
        let m = CompiledMatch::new(
            MatchResources {
                resource_rules: vec![rule(&["apps"], &["v1"], &["deployments"], None)],
                ..MatchResources::default()
            },
            true,
        )
        .expect("valid");
        assert!(m.matches(&RequestView::of(&input), &input));
    }

    #[test]
    fn exact_matches_the_original_request_and_equivalent_the_converted_one_too() {
        // Made through extensions/v1beta1, sent to the webhook as apps/v1.
        let mut input = review(
            Operation::Create,
            gvk("apps", "v1", "Deployment"),
            gvr("apps", "v1", "deployments"),
            "",
        );
        if let Some(facts) = input.request.as_mut() {
            facts.request_kind = gvk("extensions", "v1beta1", "Deployment");
            facts.request_resource = gvr("extensions", "v1beta1", "deployments");
        }
        let matcher = |policy: MatchPolicy, groups: &[&str], versions: &[&str]| {
            CompiledMatch::new(
                MatchResources {
                    resource_rules: vec![rule(groups, versions, &["deployments"], None)],
                    match_policy: Some(policy),
                    ..MatchResources::default()
                },
                true,
            )
            .expect("valid")
        };
        let view = RequestView::of(&input);
        assert!(!matcher(MatchPolicy::Exact, &["apps"], &["v1"]).matches(&view, &input));
        assert!(matcher(MatchPolicy::Exact, &["extensions"], &["v1beta1"]).matches(&view, &input));
        assert!(matcher(MatchPolicy::Equivalent, &["apps"], &["v1"]).matches(&view, &input));
    }

    #[test]
    fn scope_comes_from_the_resource_not_the_subresource_kind() {
        let mut input = review(
            Operation::Create,
            gvk("authentication.k8s.io", "v1", "TokenRequest"),
            gvr("", "v1", "serviceaccounts"),
            "token",
        );
        assert!(!RequestView::of(&input).cluster_scoped);
        input.namespace = None;
        input.request = Some(RequestFacts {
            sub_resource: "status".into(),
            ..RequestFacts::derived("v1", "Node", "n1")
        });
        assert!(RequestView::of(&input).cluster_scoped);
    }
}
