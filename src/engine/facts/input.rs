//! [`Input`]: what every door (admission, CI, check API) hands the engine.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::request::RequestFacts;

/// The admission operation being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    /// A new object (also what CI checks of files use).
    #[default]
    Create,
    /// A change to an existing object (`oldObject` is the previous version).
    Update,
    /// A deletion (`object` is null, `oldObject` is the object).
    Delete,
    /// A connect (exec, attach, port-forward).
    Connect,
}

impl Operation {
    /// Upper-case name as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    /// Parses `CREATE`/`create`, etc.
    pub fn parse(text: &str) -> Option<Operation> {
        match text.to_ascii_uppercase().as_str() {
            "CREATE" => Some(Operation::Create),
            "UPDATE" => Some(Operation::Update),
            "DELETE" => Some(Operation::Delete),
            "CONNECT" => Some(Operation::Connect),
            _ => None,
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which door a submission came through (design §1); recorded in the audit trail and shown in
/// alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Door {
    /// The admission webhooks (`/validate`, `/mutate`: an `AdmissionReview`).
    Admission,
    /// The check API (`POST /v1/check`).
    CheckApi,
    /// `celgate check` in CI.
    Ci,
}

impl Door {
    /// The name as records write it (`admission`, `check-api`, `ci`).
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Admission => "admission",
            Door::CheckApi => "check-api",
            Door::Ci => "ci",
        }
    }

    /// The name people read in messages (`admission`, `check API`, `CI`).
    pub fn label(self) -> &'static str {
        match self {
            Door::Admission => "admission",
            Door::CheckApi => "check API",
            Door::Ci => "CI",
        }
    }
}

/// Who made the request (from the `AdmissionReview`'s `userInfo`, or the CI/API caller).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserInfo {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// User uid.
    #[serde(default)]
    pub uid: String,
    /// Groups the user belongs to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// What the authenticator added (`authentication.kubernetes.io/credential-id`, scopes, …);
    /// omitted when empty, as the API server omits it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

/// One submission to judge. Every door builds the same `Input`.
#[derive(Debug, Clone, Default)]
pub struct Input {
    /// The document; `Null` for a DELETE.
    pub object: serde_json::Value,
    /// The previous version (UPDATE, DELETE).
    pub old_object: Option<serde_json::Value>,
    /// The operation.
    pub operation: Operation,
    /// Namespace of the request; defaults to `object.metadata.namespace`.
    pub namespace: Option<String>,
    /// Labels of that namespace, when the door knows them (admission, or a Namespace in the same
    /// CI bundle); used by `namespaceSelector` and visible as `namespaceObject`.
    pub namespace_labels: Option<BTreeMap<String, String>>,
    /// The requesting user.
    pub user: UserInfo,
    /// Tenant the request belongs to.
    pub tenant: Option<String>,
    /// Environment (production, staging, ...).
    pub environment: Option<String>,
    /// Parameters merged over each pack's `spec.params` (per key).
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Dry-run request: evaluated the same way.
    pub dry_run: bool,
    /// The request as the admission door received it (resource, subresource, request kind,
    /// name, options); `None` for CI and the check API, which derive them from the kind
    /// ([`Input::request_facts`]).
    pub request: Option<RequestFacts>,
}

impl Input {
    /// An input for `object` with operation CREATE and everything else defaulted.
    pub fn new(object: serde_json::Value) -> Self {
        Input {
            object,
            ..Input::default()
        }
    }

    /// The document the kind and metadata come from: `object`, or `oldObject` on DELETE.
    pub fn subject(&self) -> &serde_json::Value {
        if self.object.is_null() {
            self.old_object.as_ref().unwrap_or(&self.object)
        } else {
            &self.object
        }
    }

    /// `kind` of the subject, `""` when absent.
    pub fn kind(&self) -> &str {
        self.subject().get("kind").and_then(|k| k.as_str()).unwrap_or("")
    }

    /// `apiVersion` of the subject, `""` when absent.
    pub fn api_version(&self) -> &str {
        self.subject().get("apiVersion").and_then(|k| k.as_str()).unwrap_or("")
    }

    /// `metadata.name` of the subject, else the request's name (a subresource's object, such as
    /// a `PodExecOptions`, has none); `""` when neither is known.
    pub fn name(&self) -> &str {
        match self.metadata_str("name") {
            Some(name) if !name.is_empty() => name,
            _ => self.request.as_ref().map_or("", |r| r.name.as_str()),
        }
    }

    /// The request's kind, resource and subresource: as the door received them, or derived
    /// from the object's kind (no subresource) when it gave none.
    pub fn request_facts(&self) -> Cow<'_, RequestFacts> {
        match &self.request {
            Some(facts) => Cow::Borrowed(facts),
            None => Cow::Owned(RequestFacts::derived(self.api_version(), self.kind(), self.name())),
        }
    }

    /// Fills [`Input::request`] with the facts derived from the object's kind when the door
    /// gave none, so that selection, admission-policy matching, CEL's `request` and the audit
    /// record all read the one [`RequestFacts`] computed here (the service calls this once).
    pub fn ensure_request_facts(&mut self) {
        if self.request.is_none() {
            self.request = Some(RequestFacts::derived(self.api_version(), self.kind(), self.name()));
        }
    }

    /// The request namespace, else `metadata.namespace`.
    pub fn effective_namespace(&self) -> Option<&str> {
        self.namespace.as_deref().or_else(|| self.metadata_str("namespace"))
    }

    /// Labels of the subject (non-string values ignored).
    pub fn labels(&self) -> BTreeMap<&str, &str> {
        object_labels(self.subject())
    }

    fn metadata_str(&self, field: &str) -> Option<&str> {
        self.subject()
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|v| v.as_str())
    }

    /// The `request` variable CEL sees: the fields of an admission request (from the review at
    /// the admission door; for CI and API inputs, which carry no resource, `resource`,
    /// `requestKind`, `requestResource` and `subResource` are filled from the kind as the API
    /// server would) plus celgate's tenant and environment.
    pub fn request_json(&self) -> serde_json::Value {
        let facts = self.request_facts();
        let mut request = serde_json::json!({
            "operation": self.operation.as_str(),
            "namespace": self.effective_namespace().unwrap_or(""),
            "name": facts.name,
            "kind": facts.kind,
            "requestKind": facts.request_kind,
            "resource": facts.resource,
            "requestResource": facts.request_resource,
            "subResource": facts.sub_resource,
            "requestSubResource": facts.request_sub_resource,
            "userInfo": self.user,
            "dryRun": self.dry_run,
            "tenant": self.tenant.as_deref().unwrap_or(""),
            "environment": self.environment.as_deref().unwrap_or(""),
        });
        if let (Some(options), serde_json::Value::Object(map)) = (&facts.options, &mut request) {
            map.insert("options".to_owned(), options.clone());
        }
        request
    }

    /// The `namespaceObject` variable CEL sees (`null` when the namespace labels are unknown).
    pub fn namespace_object_json(&self) -> serde_json::Value {
        match (&self.namespace_labels, self.effective_namespace()) {
            (Some(labels), ns) => serde_json::json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns.unwrap_or(""), "labels": labels},
            }),
            (None, _) => serde_json::Value::Null,
        }
    }
}

/// The string labels of `object` (`metadata.labels`; non-string values ignored).
pub fn object_labels(object: &serde_json::Value) -> BTreeMap<&str, &str> {
    object
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(|l| l.as_object())
        .map(|l| {
            l.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
                .collect()
        })
        .unwrap_or_default()
}

/// Splits `apps/v1` into (`apps`, `v1`) and `v1` into (`""`, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((group, version)) => (group, version),
        None => ("", api_version),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::engine::facts::request::GroupVersionResource;

    #[test]
    fn request_json_derives_the_resource_without_facts() {
        let input = Input::new(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}));
        let request = input.request_json();
        assert_eq!(
            request["resource"],
            json!({"group": "apps", "version": "v1", "resource": "deployments"})
        );
        assert_eq!(request["requestResource"], request["resource"]);
        assert_eq!(request["subResource"], "");
        assert_eq!(request["name"], "web");
        assert!(request.get("options").is_none(), "{request}");
        assert!(request["userInfo"].get("extra").is_none(), "{request}");
    }

    #[test]
    fn request_json_carries_the_facts_the_door_gave() {
        let mut input = Input::new(json!({"apiVersion": "v1", "kind": "PodExecOptions", "container": "app"}));
        input.operation = Operation::Connect;
        input.user.extra = BTreeMap::from([("example.com/ticket".to_owned(), vec!["INC-1".to_owned()])]);
        input.request = Some(RequestFacts {
            resource: GroupVersionResource {
                group: String::new(),
                version: "v1".into(),
                resource: "pods".into(),
            },
            sub_resource: "exec".into(),
            request_sub_resource: "exec".into(),
            options: Some(json!({"kind": "CreateOptions"})),
            ..RequestFacts::derived("v1", "PodExecOptions", "web-0")
        });
        let request = input.request_json();
        assert_eq!(request["resource"]["resource"], "pods");
        assert_eq!(request["subResource"], "exec");
        assert_eq!(request["requestSubResource"], "exec");
        assert_eq!(request["kind"]["kind"], "PodExecOptions");
        assert_eq!(request["name"], "web-0");
        assert_eq!(input.name(), "web-0");
        assert_eq!(request["options"]["kind"], "CreateOptions");
        assert_eq!(request["userInfo"]["extra"]["example.com/ticket"], json!(["INC-1"]));
    }
}
