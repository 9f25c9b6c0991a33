//! Which rules apply to an input: kinds, operations, namespaces and label selectors. (The CEL
//! `condition` is evaluated by `eval`.)

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};

use crate::engine::facts::input::{split_api_version, Input, Operation};
use crate::engine::pack::{LabelSelector, MatchSpec, SelectorOperator};

/// A compiled [`MatchSpec`].
#[derive(Debug, Clone)]
pub struct Matcher {
    kinds: Vec<KindPattern>,
    operations: Vec<Operation>,
    namespaces: Vec<GlobMatcher>,
    exclude_namespaces: Vec<GlobMatcher>,
    selector: Option<LabelSelector>,
    namespace_selector: Option<LabelSelector>,
}

#[derive(Debug, Clone)]
struct KindPattern {
    group: Option<String>,
    version: Option<String>,
    kind: String,
}

/// Why a match spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// An operation name that is not CREATE/UPDATE/DELETE/CONNECT/*.
    #[error("unknown operation '{0}' (expected CREATE, UPDATE, DELETE, CONNECT or *)")]
    Operation(String),
    /// A namespace glob that does not parse.
    #[error("bad namespace glob '{glob}': {message}")]
    Glob {
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
    /// A kind entry with too many `/` parts or an empty part.
    #[error("bad kind '{0}' (expected Kind, version/Kind or group/version/Kind)")]
    Kind(String),
    /// A selector requirement with values where none are allowed, or none where some are needed.
    #[error("selector requirement on '{key}': {message}")]
    Selector {
        /// Label key.
        key: String,
        /// Why.
        message: String,
    },
}

impl Matcher {
    /// Compiles a match spec.
    pub fn new(spec: &MatchSpec) -> Result<Matcher, MatchError> {
        let kinds = spec
            .kinds
            .iter()
            .map(|k| parse_kind(k))
            .collect::<Result<Vec<_>, _>>()?;
        let mut operations = Vec::new();
        if spec.operations.is_empty() {
            operations = vec![Operation::Create, Operation::Update];
        }
        for op in &spec.operations {
            if op == "*" {
                operations = vec![
                    Operation::Create,
                    Operation::Update,
                    Operation::Delete,
                    Operation::Connect,
                ];
                break;
            }
            operations.push(Operation::parse(op).ok_or_else(|| MatchError::Operation(op.clone()))?);
        }
        for selector in [&spec.selector, &spec.namespace_selector].into_iter().flatten() {
            check_selector(selector)?;
        }
        Ok(Matcher {
            kinds,
            operations,
            namespaces: globs(&spec.namespaces)?,
            exclude_namespaces: globs(&spec.exclude_namespaces)?,
            selector: spec.selector.clone(),
            namespace_selector: spec.namespace_selector.clone(),
        })
    }

    /// True when the rule applies to `input` (before its `condition`).
    pub fn matches(&self, input: &Input) -> bool {
        self.matches_facts(&MatchFacts::of(input))
    }

    /// [`Matcher::matches`] with what it reads of the input worked out once ([`MatchFacts`]),
    /// for matching many rules against one input.
    pub fn matches_facts(&self, facts: &MatchFacts<'_>) -> bool {
        if !self.operations.contains(&facts.input.operation) {
            return false;
        }
        if !self.kinds.is_empty()
            && !self
                .kinds
                .iter()
                .any(|p| p.matches(facts.group, facts.version, facts.kind))
        {
            return false;
        }
        let namespace = facts.namespace;
        if !self.namespaces.is_empty() {
            match namespace {
                Some(ns) if self.namespaces.iter().any(|g| g.is_match(ns)) => {}
                _ => return false,
            }
        }
        if let Some(ns) = namespace {
            if self.exclude_namespaces.iter().any(|g| g.is_match(ns)) {
                return false;
            }
        }
        if let Some(selector) = &self.selector {
            if !selector_matches(selector, facts.labels.get_or_init(|| facts.input.labels())) {
                return false;
            }
        }
        if let Some(selector) = &self.namespace_selector {
            let labels = facts
                .namespace_labels
                .get_or_init(|| namespace_labels(namespace, facts.input.namespace_labels.as_ref()));
            if !namespace_selector_matches(selector, labels) {
                return false;
            }
        }
        true
    }
}

/// What rule matching reads of one input: its kind, group, version and namespace, and (made on
/// first use) its labels and its namespace's labels.
pub struct MatchFacts<'a> {
    input: &'a Input,
    group: &'a str,
    version: &'a str,
    kind: &'a str,
    namespace: Option<&'a str>,
    labels: std::cell::OnceCell<BTreeMap<&'a str, &'a str>>,
    namespace_labels: std::cell::OnceCell<NamespaceLabels<'a>>,
}

impl<'a> MatchFacts<'a> {
    /// The facts of `input`: the kind the review names at the admission door, the object's
    /// own `apiVersion` and `kind` otherwise.
    pub fn of(input: &'a Input) -> Self {
        let (group, version, kind) = if let Some(request) = &input.request {
            let kind = &request.kind;
            (kind.group.as_str(), kind.version.as_str(), kind.kind.as_str())
        } else {
            let (group, version) = split_api_version(input.api_version());
            (group, version, input.kind())
        };
        MatchFacts {
            input,
            group,
            version,
            kind,
            namespace: input.effective_namespace(),
            labels: std::cell::OnceCell::new(),
            namespace_labels: std::cell::OnceCell::new(),
        }
    }
}

impl KindPattern {
    fn matches(&self, group: &str, version: &str, kind: &str) -> bool {
        (self.kind == "*" || self.kind == kind)
            && self.group.as_deref().is_none_or(|g| g == "*" || g == group)
            && self.version.as_deref().is_none_or(|v| v == "*" || v == version)
    }
}

fn parse_kind(text: &str) -> Result<KindPattern, MatchError> {
    let parts: Vec<&str> = text.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(MatchError::Kind(text.to_owned()));
    }
    let (group, version, kind) = match parts.as_slice() {
        [kind] => (None, None, *kind),
        [version, kind] => (Some(""), Some(*version), *kind),
        [group, version, kind] => (Some(*group), Some(*version), *kind),
        _ => return Err(MatchError::Kind(text.to_owned())),
    };
    Ok(KindPattern {
        group: group.map(str::to_owned),
        version: version.map(str::to_owned),
        kind: kind.to_owned(),
    })
}

fn globs(patterns: &[String]) -> Result<Vec<GlobMatcher>, MatchError> {
    patterns
        .iter()
        .map(|p| {
            Glob::new(p).map(|g| g.compile_matcher()).map_err(|e| MatchError::Glob {
                glob: p.clone(),
                message: e.kind().to_string(),
            })
        })
        .collect()
}

/// Checks a selector's expressions are well formed (`In`/`NotIn` need values, `Exists`/`DoesNotExist` take none).
pub fn check_selector(selector: &LabelSelector) -> Result<(), MatchError> {
    for req in &selector.match_expressions {
        let needs_values = matches!(req.operator, SelectorOperator::In | SelectorOperator::NotIn);
        if needs_values && req.values.is_empty() {
            return Err(MatchError::Selector {
                key: req.key.clone(),
                message: "In and NotIn need at least one value".to_owned(),
            });
        }
        if !needs_values && !req.values.is_empty() {
            return Err(MatchError::Selector {
                key: req.key.clone(),
                message: "Exists and DoesNotExist take no values".to_owned(),
            });
        }
    }
    Ok(())
}

/// The label the API server gives every namespace, set to the namespace's name (Kubernetes 1.22+).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// What is known of the labels of the namespace `name`: its labels when the door knows them
/// (`known`), and in any case [`NAMESPACE_NAME_LABEL`]; `None` when the object has no namespace.
/// [`NamespaceLabels::partial`] says whether other labels may be missing.
pub fn namespace_labels<'a>(name: Option<&'a str>, known: Option<&'a BTreeMap<String, String>>) -> NamespaceLabels<'a> {
    let mut labels: BTreeMap<&str, &str> = known
        .iter()
        .flat_map(|l| l.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    if let Some(name) = name {
        labels.entry(NAMESPACE_NAME_LABEL).or_insert(name);
    }
    NamespaceLabels {
        labels,
        partial: known.is_none(),
    }
}

/// The labels of an object's namespace, as far as they are known.
#[derive(Debug, Clone)]
pub struct NamespaceLabels<'a> {
    /// Known labels (at least the name label when the object has a namespace).
    pub labels: BTreeMap<&'a str, &'a str>,
    /// True when the namespace's other labels are unknown (no Namespace document among the
    /// inputs; the webhook is never told them).
    pub partial: bool,
}

/// Whether a `namespaceSelector` matches. With the namespace's labels partly unknown, a selector
/// that reads only [`NAMESPACE_NAME_LABEL`] is decided from the name; any other cannot scope the
/// object out, so it matches (fail closed: the rule applies).
pub fn namespace_selector_matches(selector: &LabelSelector, namespace: &NamespaceLabels<'_>) -> bool {
    let reads_only_name = selector.match_labels.keys().all(|k| k == NAMESPACE_NAME_LABEL)
        && selector.match_expressions.iter().all(|r| r.key == NAMESPACE_NAME_LABEL);
    if namespace.partial && !reads_only_name {
        return true;
    }
    selector_matches(selector, &namespace.labels)
}

/// Kubernetes label-selector semantics: every `matchLabels` pair and every expression must hold.
pub fn selector_matches(selector: &LabelSelector, labels: &BTreeMap<&str, &str>) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| labels.get(k.as_str()) == Some(&v.as_str()))
        && selector.match_expressions.iter().all(|req| {
            let value = labels.get(req.key.as_str());
            match req.operator {
                SelectorOperator::In => value.is_some_and(|v| req.values.iter().any(|x| x == v)),
                SelectorOperator::NotIn => value.is_none_or(|v| !req.values.iter().any(|x| x == v)),
                SelectorOperator::Exists => value.is_some(),
                SelectorOperator::DoesNotExist => value.is_none(),
            }
        })
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::engine::pack::{LabelSelectorRequirement, SelectorOperator};

    fn requirement(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.to_owned(),
                operator,
                values: values.iter().map(|v| (*v).to_owned()).collect(),
            }],
        }
    }

    #[rstest]
    // Labels unknown: a selector on the name label alone is decided from the name...
    #[case::not_in_own_name(requirement(NAMESPACE_NAME_LABEL, SelectorOperator::NotIn, &["kube-system"]), None, false)]
    #[case::not_in_other_name(requirement(NAMESPACE_NAME_LABEL, SelectorOperator::NotIn, &["default"]), None, true)]
    #[case::in_own_name(requirement(NAMESPACE_NAME_LABEL, SelectorOperator::In, &["kube-system"]), None, true)]
    #[case::in_other_name(requirement(NAMESPACE_NAME_LABEL, SelectorOperator::In, &["default"]), None, false)]
    // ...any other cannot scope the object out.
    #[case::other_key_unknown(requirement("team", SelectorOperator::In, &["a"]), None, true)]
    // Labels known: the name label is added to them.
    #[case::other_key_known(requirement("team", SelectorOperator::In, &["a"]), Some(&[("team", "b")][..]), false)]
    #[case::name_label_added(requirement(NAMESPACE_NAME_LABEL, SelectorOperator::NotIn, &["kube-system"]), Some(&[][..]), false)]
    fn namespace_selectors_know_the_name_label(
        #[case] selector: LabelSelector,
        #[case] known: Option<&[(&str, &str)]>,
        #[case] expected: bool,
    ) {
        let known: Option<BTreeMap<String, String>> =
            known.map(|l| l.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect());
        let labels = namespace_labels(Some("kube-system"), known.as_ref());
        assert_eq!(namespace_selector_matches(&selector, &labels), expected);
    }

    fn spec(kinds: &[&str], ops: &[&str], ns: &[&str]) -> MatchSpec {
        MatchSpec {
            kinds: kinds.iter().map(|s| (*s).to_owned()).collect(),
            operations: ops.iter().map(|s| (*s).to_owned()).collect(),
            namespaces: ns.iter().map(|s| (*s).to_owned()).collect(),
            ..MatchSpec::default()
        }
    }

    fn deployment(ns: &str) -> Input {
        Input::new(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns, "labels": {"tier": "front"}}
        }))
    }

    #[rstest]
    #[case(&["Deployment"], &[], &[], true)]
    #[case(&["apps/v1/Deployment"], &[], &[], true)]
    #[case(&["v1/Deployment"], &[], &[], false)]
    #[case(&["apps/*/Deployment"], &[], &[], true)]
    #[case(&["*"], &[], &[], true)]
    #[case(&["Pod"], &[], &[], false)]
    #[case(&[], &["DELETE"], &[], false)]
    #[case(&[], &["*"], &[], true)]
    #[case(&[], &[], &["team-*"], true)]
    #[case(&[], &[], &["prod"], false)]
    fn matching(#[case] kinds: &[&str], #[case] ops: &[&str], #[case] ns: &[&str], #[case] expected: bool) {
        let m = Matcher::new(&spec(kinds, ops, ns)).expect("valid");
        assert_eq!(m.matches(&deployment("team-a")), expected);
    }

    #[test]
    fn selectors() {
        let mut s = spec(&[], &[], &[]);
        s.selector = Some(LabelSelector {
            match_labels: BTreeMap::from([("tier".to_owned(), "front".to_owned())]),
            match_expressions: vec![],
        });
        assert!(Matcher::new(&s).expect("valid").matches(&deployment("a")));
        s.selector = Some(LabelSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![crate::engine::pack::LabelSelectorRequirement {
                key: "tier".into(),
                operator: SelectorOperator::NotIn,
                values: vec!["front".into()],
            }],
        });
        assert!(!Matcher::new(&s).expect("valid").matches(&deployment("a")));
    }

    #[test]
    fn kinds_follow_the_kind_the_review_names() {
        use crate::engine::facts::request::{GroupVersionKind, GroupVersionResource, RequestFacts};
        // A deployments/scale review whose object (a Scale) left out apiVersion and kind.
        let mut input = Input::new(serde_json::json!({"metadata": {"name": "web"}, "spec": {"replicas": 3}}));
        input.operation = Operation::Update;
        let kind = GroupVersionKind {
            group: "autoscaling".into(),
            version: "v1".into(),
            kind: "Scale".into(),
        };
        let resource = GroupVersionResource {
            group: "apps".into(),
            version: "v1".into(),
            resource: "deployments".into(),
        };
        input.request = Some(RequestFacts {
            request_kind: kind.clone(),
            request_resource: resource.clone(),
            request_sub_resource: "scale".into(),
            kind,
            resource,
            sub_resource: "scale".into(),
            name: "web".into(),
            options: None,
        });
        let matches = |kinds: &[&str]| Matcher::new(&spec(kinds, &[], &[])).expect("valid").matches(&input);
        assert!(matches(&["autoscaling/v1/Scale"]));
        assert!(matches(&["Scale"]));
        assert!(!matches(&["Deployment"]));
        assert!(!matches(&["apps/v1/Scale"]));
    }

    #[test]
    fn bad_operation_is_named() {
        assert_eq!(
            Matcher::new(&spec(&[], &["CRATE"], &[])).err(),
            Some(MatchError::Operation("CRATE".into()))
        );
    }
}
