//! Param objects (`paramKind` + a binding's `paramRef`): the objects celgate is given (files
//! next to the policies, `celgate check --params FILE`, or a list from the server's config) and
//! how a binding finds the ones that apply to one request.

use super::matching::{object_labels, RequestView};
use super::model::{ParamKind, ParamRef};
use crate::engine::facts::resources::is_cluster_scoped;
use crate::engine::pack::select::selector_matches;
use crate::engine::pack::{LabelSelector, SelectorOperator};

/// One object usable as `params`.
#[derive(Debug, Clone)]
pub struct ParamObject {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, when it has one.
    pub namespace: Option<String>,
    /// Where it came from (file, document), for messages.
    pub origin: String,
    /// The whole object, as CEL sees it in `params`.
    pub value: serde_json::Value,
}

impl ParamObject {
    /// The namespace the object is in: for a namespaced kind, `metadata.namespace` or else
    /// [`DEFAULT_NAMESPACE`]; for a cluster-scoped kind, `metadata.namespace` as written (an
    /// object that has one is not found).
    fn namespace_as(&self, namespaced: bool) -> Option<&str> {
        match self.namespace.as_deref() {
            None if namespaced => Some(DEFAULT_NAMESPACE),
            ns => ns,
        }
    }
}

/// Why an object cannot be a param object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// It lacks `apiVersion`, `kind` or `metadata.name`.
    #[error("{origin}: a param object needs {field} (a non-empty string)")]
    Missing {
        /// File and document.
        origin: String,
        /// The missing field.
        field: &'static str,
    },
    /// Two objects with the same apiVersion, kind, namespace and name.
    #[error("{origin}: param object {kind} '{name}' is also defined in {first}")]
    Duplicate {
        /// Where the second one is.
        origin: String,
        /// Its kind.
        kind: String,
        /// Its namespace/name.
        name: String,
        /// Where the first one is.
        first: String,
    },
}

/// The param objects an engine knows. Cheap to share; built once.
#[derive(Debug, Clone, Default)]
pub struct ParamStore {
    objects: Vec<ParamObject>,
}

/// The param objects one binding selected for one request.
#[derive(Debug)]
pub enum Resolved<'a> {
    /// No `paramKind`: the policy runs once with `params` null.
    NoParams,
    /// The objects found (the policy runs once per object); never empty.
    Found(Vec<&'a serde_json::Value>),
    /// No object matched: what was looked for (kind, name or selector, namespace) and which
    /// objects of that kind there are, for the message.
    NotFound(String),
    /// The binding cannot look for params for this request (why).
    Misconfigured(String),
}

/// The namespace `kubectl apply` puts an object without `metadata.namespace` in (that of a
/// kubeconfig context that names none): where a namespaced param object without one is looked
/// for, and the namespace of a namespaced request without one.
pub const DEFAULT_NAMESPACE: &str = "default";

impl ParamStore {
    /// A store of `objects`, each given with its origin (`file#document`).
    pub fn new(objects: Vec<(String, serde_json::Value)>) -> Result<ParamStore, Vec<ParamError>> {
        let mut store = ParamStore::default();
        let mut errors = Vec::new();
        for (origin, value) in objects {
            if let Err(e) = store.add(origin, value) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(store)
        } else {
            Err(errors)
        }
    }

    /// Adds one object.
    pub fn add(&mut self, origin: String, value: serde_json::Value) -> Result<(), ParamError> {
        let text =
            |v: Option<&serde_json::Value>| v.and_then(|s| s.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
        let missing = |field| ParamError::Missing {
            origin: origin.clone(),
            field,
        };
        let api_version = text(value.get("apiVersion")).ok_or_else(|| missing("apiVersion"))?;
        let kind = text(value.get("kind")).ok_or_else(|| missing("kind"))?;
        let metadata = value.get("metadata");
        let name = text(metadata.and_then(|m| m.get("name"))).ok_or_else(|| missing("metadata.name"))?;
        let namespace = text(metadata.and_then(|m| m.get("namespace")));
        if let Some(first) = self
            .objects
            .iter()
            .find(|o| o.api_version == api_version && o.kind == kind && o.name == name && o.namespace == namespace)
        {
            return Err(ParamError::Duplicate {
                origin,
                kind,
                name: format!("{}/{name}", namespace.as_deref().unwrap_or("")),
                first: first.origin.clone(),
            });
        }
        self.objects.push(ParamObject {
            api_version,
            kind,
            name,
            namespace,
            origin,
            value,
        });
        Ok(())
    }

    /// Adds every object of `other` (duplicates are errors).
    pub fn merge(&mut self, other: &ParamStore) -> Result<(), Vec<ParamError>> {
        let errors: Vec<ParamError> = other
            .objects
            .iter()
            .filter_map(|o| self.add(o.origin.clone(), o.value.clone()).err())
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when the store holds nothing.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    fn of_kind<'s>(&'s self, kind: &ParamKind) -> Vec<&'s ParamObject> {
        self.objects
            .iter()
            .filter(|o| o.api_version == kind.api_version && o.kind == kind.kind)
            .collect()
    }
}

/// The param objects `param_ref` selects from `stores` for the request described by `facts`.
/// A kind the built-in table does not know is namespaced when any of its objects has a namespace
/// or `param_ref` names one. Objects of a namespaced kind without `metadata.namespace` are in
/// [`DEFAULT_NAMESPACE`], where `kubectl apply` would create them.
pub fn resolve<'a>(
    stores: &[&'a ParamStore],
    kind: Option<&ParamKind>,
    param_ref: Option<&ParamRef>,
    facts: &RequestView<'_>,
) -> Resolved<'a> {
    let (Some(kind), Some(param_ref)) = (kind, param_ref) else {
        return Resolved::NoParams;
    };
    let candidates: Vec<&'a ParamObject> = stores.iter().flat_map(|s| s.of_kind(kind)).collect();
    let namespaced = is_cluster_scoped(&kind.kind).map_or_else(
        || param_ref.namespace.is_some() || candidates.iter().any(|o| o.namespace.is_some()),
        |cluster| !cluster,
    );
    let namespace = match search_namespace(kind, param_ref, facts, namespaced) {
        Ok(namespace) => namespace,
        Err(why) => return Resolved::Misconfigured(why),
    };
    let mut found: Vec<&'a ParamObject> = candidates
        .iter()
        .copied()
        .filter(|o| o.namespace_as(namespaced) == namespace)
        .filter(|o| match (&param_ref.name, &param_ref.selector) {
            (Some(name), _) => &o.name == name,
            (None, Some(selector)) => selector_matches(selector, &object_labels(&o.value)),
            (None, None) => false,
        })
        .collect();
    if found.is_empty() {
        return Resolved::NotFound(describe_search(kind, param_ref, namespace, namespaced, &candidates));
    }
    found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Resolved::Found(found.into_iter().map(|o| &o.value).collect())
}

/// The namespace `param_ref` looks in for this request: `paramRef.namespace`, else the
/// request's (a namespaced request without one is in [`DEFAULT_NAMESPACE`]); `None` for a
/// cluster-scoped kind. An error says why the binding cannot look for params at all.
fn search_namespace<'r>(
    kind: &ParamKind,
    param_ref: &'r ParamRef,
    facts: &RequestView<'r>,
    namespaced: bool,
) -> Result<Option<&'r str>, String> {
    if !namespaced {
        return match &param_ref.namespace {
            Some(ns) => Err(format!(
                "paramRef.namespace is '{ns}' but {} params are cluster-scoped",
                kind.kind
            )),
            None => Ok(None),
        };
    }
    match (param_ref.namespace.as_deref(), facts.namespace) {
        (Some(ns), _) | (None, Some(ns)) => Ok(Some(ns)),
        (None, None) if !facts.cluster_scoped => Ok(Some(DEFAULT_NAMESPACE)),
        (None, None) => {
            Err(format!(
            "paramRef.namespace is unset and {} '{}' is cluster-scoped, so there is no namespace to find {} params in",
            facts.kind, facts.name(), kind.kind
        ))
        }
    }
}

/// Most loaded objects a not-found message lists.
const LISTED_CANDIDATES: usize = 5;

/// What a binding looked for and did not find, and which objects of the kind there are
/// (`namespace/name`, as [`ParamObject::namespace_as`] places them): `looked for
/// rules.example.com/v1 ReplicaLimit named 'limit' in namespace 'default'; loaded ReplicaLimit
/// objects: prod/limit`.
fn describe_search(
    kind: &ParamKind,
    param_ref: &ParamRef,
    namespace: Option<&str>,
    namespaced: bool,
    candidates: &[&ParamObject],
) -> String {
    let what = match (&param_ref.name, &param_ref.selector) {
        (Some(name), _) => format!("named '{name}'"),
        (None, Some(selector)) => format!("with labels matching '{}'", selector_text(selector)),
        (None, None) => "(paramRef names nothing)".to_owned(),
    };
    let place = namespace.map_or_else(|| "cluster-wide".to_owned(), |ns| format!("in namespace '{ns}'"));
    let mut loaded: Vec<String> = candidates
        .iter()
        .map(|o| match o.namespace_as(namespaced) {
            Some(ns) => format!("{ns}/{}", o.name),
            None => o.name.clone(),
        })
        .collect();
    loaded.sort();
    let listed = if loaded.is_empty() {
        "none".to_owned()
    } else if loaded.len() > LISTED_CANDIDATES {
        let more = loaded.len() - LISTED_CANDIDATES;
        loaded.truncate(LISTED_CANDIDATES);
        format!("{} and {more} more", loaded.join(", "))
    } else {
        loaded.join(", ")
    };
    format!(
        "looked for {} {} {what} {place}; loaded {} objects: {listed}",
        kind.api_version, kind.kind, kind.kind
    )
}

/// A label selector as `kubectl get -l` writes one: `tier=gold,env in (a,b),!legacy`;
/// `<everything>` for an empty one.
fn selector_text(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector.match_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.extend(selector.match_expressions.iter().map(|e| match e.operator {
        SelectorOperator::In => format!("{} in ({})", e.key, e.values.join(",")),
        SelectorOperator::NotIn => format!("{} notin ({})", e.key, e.values.join(",")),
        SelectorOperator::Exists => e.key.clone(),
        SelectorOperator::DoesNotExist => format!("!{}", e.key),
    }));
    if parts.is_empty() {
        "<everything>".to_owned()
    } else {
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::Input;

    fn store() -> ParamStore {
        ParamStore::new(vec![
            (
                "a#0".into(),
                json!({"apiVersion": "rules.example.com/v1", "kind": "ReplicaLimit",
                       "metadata": {"name": "limit", "namespace": "default", "labels": {"tier": "gold"}}, "maxReplicas": 3}),
            ),
            (
                "a#1".into(),
                json!({"apiVersion": "rules.example.com/v1", "kind": "ReplicaLimit",
                       "metadata": {"name": "limit", "namespace": "prod"}, "maxReplicas": 100}),
            ),
        ])
        .expect("valid")
    }

    fn kind() -> ParamKind {
        ParamKind {
            api_version: "rules.example.com/v1".into(),
            kind: "ReplicaLimit".into(),
        }
    }

    fn values(r: Resolved<'_>) -> Vec<i64> {
        match r {
            Resolved::Found(v) => v.iter().filter_map(|p| p["maxReplicas"].as_i64()).collect(),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn deployment_in_prod() -> Input {
        Input::new(
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x", "namespace": "prod"}}),
        )
    }

    fn by_name(name: &str) -> ParamRef {
        ParamRef {
            name: Some(name.into()),
            ..ParamRef::default()
        }
    }

    #[test]
    fn name_and_namespace_select_one() {
        let s = store();
        let input = deployment_in_prod();
        let facts = RequestView::of(&input);
        let by_name = by_name("limit");
        assert_eq!(values(resolve(&[&s], Some(&kind()), Some(&by_name), &facts)), [100]);
        let pinned = ParamRef {
            namespace: Some("default".into()),
            ..by_name.clone()
        };
        assert_eq!(values(resolve(&[&s], Some(&kind()), Some(&pinned), &facts)), [3]);
        let selector = ParamRef {
            namespace: Some("default".into()),
            selector: Some(crate::engine::pack::LabelSelector::default()),
            ..ParamRef::default()
        };
        assert_eq!(values(resolve(&[&s], Some(&kind()), Some(&selector), &facts)), [3]);
    }

    #[test]
    fn cluster_scoped_request_without_namespace_is_misconfigured() {
        let s = store();
        let input = Input::new(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
        let r = by_name("limit");
        assert!(matches!(
            resolve(&[&s], Some(&kind()), Some(&r), &RequestView::of(&input)),
            Resolved::Misconfigured(_)
        ));
    }

    #[test]
    fn objects_without_namespace_are_in_default_when_the_kind_is_namespaced() {
        let s = ParamStore::new(vec![(
            "b#0".into(),
            json!({"apiVersion": "rules.example.com/v1", "kind": "ReplicaLimit",
                   "metadata": {"name": "limit"}, "maxReplicas": 7}),
        )])
        .expect("valid");
        let input = deployment_in_prod();
        let facts = RequestView::of(&input);
        // No namespace anywhere: the kind counts as cluster-scoped, as before.
        let by_name = by_name("limit");
        assert_eq!(values(resolve(&[&s], Some(&kind()), Some(&by_name), &facts)), [7]);
        // A binding that names a namespace makes it namespaced: the object is in default.
        let pinned = |ns: &str| ParamRef {
            namespace: Some(ns.into()),
            ..by_name.clone()
        };
        assert_eq!(
            values(resolve(&[&s], Some(&kind()), Some(&pinned("default")), &facts)),
            [7]
        );
        match resolve(&[&s], Some(&kind()), Some(&pinned("prod")), &facts) {
            Resolved::NotFound(searched) => assert_eq!(
                searched,
                "looked for rules.example.com/v1 ReplicaLimit named 'limit' in namespace 'prod'; \
                 loaded ReplicaLimit objects: default/limit"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn not_found_names_the_selector() {
        let s = store();
        let input = deployment_in_prod();
        let selector: crate::engine::pack::LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"tier": "gold"},
            "matchExpressions": [{"key": "env", "operator": "In", "values": ["a", "b"]},
                                 {"key": "legacy", "operator": "DoesNotExist"}]
        }))
        .expect("selector");
        let r = ParamRef {
            selector: Some(selector),
            ..ParamRef::default()
        };
        match resolve(&[&s], Some(&kind()), Some(&r), &RequestView::of(&input)) {
            Resolved::NotFound(searched) => assert_eq!(
                searched,
                "looked for rules.example.com/v1 ReplicaLimit with labels matching 'tier=gold,env in (a,b),!legacy' \
                 in namespace 'prod'; loaded ReplicaLimit objects: default/limit, prod/limit"
            ),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn bad_objects_are_named() {
        let err = ParamStore::new(vec![(
            "f.yaml#2".into(),
            json!({"apiVersion": "v1", "kind": "ConfigMap"}),
        )])
        .expect_err("no name");
        assert_eq!(
            err[0].to_string(),
            "f.yaml#2: a param object needs metadata.name (a non-empty string)"
        );
    }
}
