//! [`RequestFacts`]: what the admission door knows about a request beyond its documents (the
//! kind and resource it was made through, the subresource, the request's own name and options).
//! `celgate check` and `/v1/check` have none and derive them from the object's kind.

use serde::{Deserialize, Serialize};

use super::input::split_api_version;
use crate::engine::facts::resources::resource_for_kind;

/// A group, version and kind, as an AdmissionReview writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct GroupVersionKind {
    /// API group (`""` for core).
    pub group: String,
    /// API version (`v1`).
    pub version: String,
    /// Kind (`Deployment`, `Scale`, `PodExecOptions`).
    pub kind: String,
}

/// A group, version and REST resource, as an AdmissionReview writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct GroupVersionResource {
    /// API group (`""` for core).
    pub group: String,
    /// API version (`v1`).
    pub version: String,
    /// Plural resource (`deployments`).
    pub resource: String,
}

/// The request as the API server describes it to a webhook. Together with [`Input`]'s
/// operation and user this is design §1's `RequestFacts`: kind, resource, subresource,
/// operation, user.
///
/// [`Input`]: super::input::Input
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFacts {
    /// Kind of `object` (`autoscaling/v1 Scale` for `deployments/scale`).
    pub kind: GroupVersionKind,
    /// The resource being requested (`apps/v1 deployments`).
    pub resource: GroupVersionResource,
    /// The subresource (`scale`, `exec`, `status`), `""` for the resource itself.
    pub sub_resource: String,
    /// Kind of the original request, before the API server converted it for this webhook
    /// (`kind` when the review does not say).
    pub request_kind: GroupVersionKind,
    /// Resource of the original request (`resource` when the review does not say).
    pub request_resource: GroupVersionResource,
    /// Subresource of the original request (`sub_resource` when the review does not say).
    pub request_sub_resource: String,
    /// Name of the object the request is for (the pod of a `pods/exec`); `""` for a CREATE
    /// whose name the server generates.
    pub name: String,
    /// The operation's options (`CreateOptions`, `UpdateOptions`, `DeleteOptions`), as sent.
    pub options: Option<serde_json::Value>,
}

impl RequestFacts {
    /// The facts CI and the check API assume for an object of `api_version` and `kind`: the
    /// resource from the kind table, no subresource, the request as the object.
    pub fn derived(api_version: &str, kind: &str, name: &str) -> Self {
        let (group, version) = split_api_version(api_version);
        let kind = GroupVersionKind {
            group: group.to_owned(),
            version: version.to_owned(),
            kind: kind.to_owned(),
        };
        let resource = GroupVersionResource {
            group: group.to_owned(),
            version: version.to_owned(),
            resource: resource_for_kind(&kind.kind),
        };
        RequestFacts {
            request_kind: kind.clone(),
            request_resource: resource.clone(),
            kind,
            resource,
            sub_resource: String::new(),
            request_sub_resource: String::new(),
            name: name.to_owned(),
            options: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_facts_follow_the_kind() {
        let facts = RequestFacts::derived("apps/v1", "Deployment", "web");
        assert_eq!(facts.resource.resource, "deployments");
        assert_eq!(facts.resource.group, "apps");
        assert_eq!(facts.request_resource, facts.resource);
        assert_eq!(facts.request_kind, facts.kind);
        assert_eq!(facts.sub_resource, "");
        let core = RequestFacts::derived("v1", "Pod", "p");
        assert_eq!(
            (core.kind.group.as_str(), core.resource.resource.as_str()),
            ("", "pods")
        );
    }
}
