//! `matchConstraints` / `matchResources`: which requests a policy or binding applies to, decided
//! the way the apiserver does from the request's resource, operation, scope, name, object labels
//! and namespace labels.

use super::model::{MatchPolicy, MatchResources, NamedRuleWithOperations};
use super::resources::{is_cluster_scoped, resource_for_kind};
pub use crate::engine::input::object_labels;
use crate::engine::input::{split_api_version, Input, Operation};
use crate::engine::pack::LabelSelector;
pub use crate::engine::select::NAMESPACE_NAME_LABEL;
use crate::engine::select::{self, namespace_labels, selector_matches};

/// What matching needs to know about a request, derived from an [`Input`] once.
#[derive(Debug, Clone)]
pub struct RequestFacts<'a> {
    /// The operation.
    pub operation: Operation,
    /// API group (`""` for core).
    pub group: &'a str,
    /// API version.
    pub version: &'a str,
    /// Kind of the object.
    pub kind: &'a str,
    /// REST resource (`deployments`).
    pub resource: String,
    /// Subresource (`""`: the inputs celgate sees are whole objects).
    pub sub_resource: &'a str,
    /// `metadata.name`.
    pub name: &'a str,
    /// The request namespace, `None` for a cluster-scoped object.
    pub namespace: Option<&'a str>,
    /// True for a cluster-scoped object.
    pub cluster_scoped: bool,
}

impl<'a> RequestFacts<'a> {
    /// The facts of `input`: the resource from the kind table, the scope from the table or (for
    /// kinds it does not know) from whether the object has a namespace.
    pub fn of(input: &'a Input) -> Self {
        let (group, version) = split_api_version(input.api_version());
        let kind = input.kind();
        let namespace = input.effective_namespace().filter(|n| !n.is_empty());
        let cluster_scoped = is_cluster_scoped(kind).unwrap_or(namespace.is_none());
        RequestFacts {
            operation: input.operation,
            group,
            version,
            kind,
            resource: resource_for_kind(kind),
            sub_resource: "",
            name: input.name(),
            namespace: if cluster_scoped { None } else { namespace },
            cluster_scoped,
        }
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
    pub fn matches(&self, facts: &RequestFacts<'_>, input: &Input) -> bool {
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

fn rule_matches(rule: &NamedRuleWithOperations, facts: &RequestFacts<'_>, policy: MatchPolicy) -> bool {
    let operation = rule
        .operations
        .iter()
        .any(|op| op == "*" || op == facts.operation.as_str());
    let scope = match rule.scope.as_deref() {
        Some("Cluster") => facts.cluster_scoped,
        Some("Namespaced") => !facts.cluster_scoped,
        _ => true,
    };
    let names = rule.resource_names.is_empty() || rule.resource_names.iter().any(|n| n == facts.name);
    if !(operation && scope && names && resource_matches(&rule.resources, facts)) {
        return false;
    }
    let exact = contains(&rule.api_groups, facts.group) && contains(&rule.api_versions, facts.version);
    if exact || policy == MatchPolicy::Exact {
        return exact;
    }
    // Equivalent: the same resource under any version the rule names, or under a group the
    // apiserver serves it from too.
    let groups: Vec<&str> = EQUIVALENT_GROUPS
        .iter()
        .find(|(resource, groups)| *resource == facts.resource && groups.contains(&facts.group))
        .map_or_else(|| vec![facts.group], |(_, groups)| groups.to_vec());
    groups.iter().any(|g| contains(&rule.api_groups, g))
}

fn contains(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

fn resource_matches(resources: &[String], facts: &RequestFacts<'_>) -> bool {
    resources.iter().any(|pattern| {
        let (res, sub) = pattern.split_once('/').unwrap_or((pattern.as_str(), ""));
        let res_ok = res == "*" || res == facts.resource;
        let sub_ok = sub == "*" || sub == facts.sub_resource;
        res_ok && sub_ok
    })
}

/// The namespace selector, as the apiserver applies it: a Namespace object is judged by its own
/// labels, any other cluster-scoped object always matches, and a namespaced object by its
/// namespace's labels (plus `kubernetes.io/metadata.name`). When those labels are unknown (no
/// Namespace among the CI inputs), a selector on the name label alone is still decided; any
/// other cannot scope the object out, so it matches.
fn namespace_selector_matches(selector: &LabelSelector, facts: &RequestFacts<'_>, input: &Input) -> bool {
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
        assert_eq!(m.matches(&RequestFacts::of(&input), &input), expected);
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
        assert!(!m.matches(&RequestFacts::of(&input), &input));
    }

    #[test]
    fn exclusions_and_selectors() {
        let mut spec = MatchResources {
            resource_rules: vec![rule(&["*"], &["*"], &["*"], None)],
            exclude_resource_rules: vec![rule(&["apps"], &["*"], &["deployments"], None)],
            ..MatchResources::default()
        };
        let input = deployment("apps/v1");
        let facts = RequestFacts::of(&input);
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
}
