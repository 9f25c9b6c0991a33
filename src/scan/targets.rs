//! Which API resources a scan lists: the kinds the loaded rules name (`match.kinds`) and the
//! resources the loaded admission policies match (`matchConstraints.resourceRules`), resolved
//! against the resources the cluster serves (discovery).
//!
//! A kind without a group or version is looked up in every group, at the group's preferred
//! version; `group/version/Kind` and `version/Kind` name one version. A resource is listed once
//! even when several rules name it (at the first version chosen). Subresources (`pods/status`,
//! `*/scale`) are not listed: their objects are their parents'.

use std::collections::BTreeSet;

use crate::engine::Engine;

/// A kind a rule names: `Kind`, `version/Kind` or `group/version/Kind` (`*` for any part).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KindWant {
    /// API group (`""` core); `None` for any.
    pub group: Option<String>,
    /// API version; `None` for the preferred one.
    pub version: Option<String>,
    /// The kind.
    pub kind: String,
}

impl KindWant {
    /// Parses a rule's kind entry; `None` for an entry with an empty part or too many parts.
    pub fn parse(text: &str) -> Option<KindWant> {
        let parts: Vec<&str> = text.split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let any = |s: &str| (s != "*").then(|| s.to_owned());
        let (group, version, kind) = match parts.as_slice() {
            [kind] => (None, None, *kind),
            [version, kind] => (Some(String::new()), any(version), *kind),
            [group, version, kind] => (any(group), any(version), *kind),
            _ => return None,
        };
        Some(KindWant {
            group,
            version,
            kind: kind.to_owned(),
        })
    }
}

impl std::fmt::Display for KindWant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.group, &self.version) {
            (Some(g), Some(v)) if g.is_empty() => write!(f, "{v}/{}", self.kind),
            (Some(g), Some(v)) => write!(f, "{g}/{v}/{}", self.kind),
            (Some(g), None) => write!(f, "{g}/*/{}", self.kind),
            (None, Some(v)) => write!(f, "*/{v}/{}", self.kind),
            (None, None) => f.write_str(&self.kind),
        }
    }
}

/// Resources an admission policy's resource rule names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResourceWant {
    /// API groups (`""` core, `*` any).
    pub groups: Vec<String>,
    /// API versions (`*` any: the preferred one).
    pub versions: Vec<String>,
    /// The resource (`deployments`, `*`).
    pub resource: String,
}

impl std::fmt::Display for ResourceWant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} in groups [{}] versions [{}]",
            self.resource,
            self.groups.join(", "),
            self.versions.join(", ")
        )
    }
}

/// Everything the loaded packs match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Kinds rules name.
    pub kinds: BTreeSet<KindWant>,
    /// Resources admission policies name.
    pub resources: BTreeSet<ResourceWant>,
    /// Rules that name no kind (they match every kind; a scan lists only the kinds named
    /// elsewhere, so these are said on stderr).
    pub every_kind: Vec<String>,
}

impl Wanted {
    /// What `engine`'s rules and admission policies match.
    pub fn of_engine(engine: &Engine) -> Wanted {
        let mut wanted = Wanted::default();
        for pack in engine.packs() {
            if let Some(admission) = pack.admission() {
                for rule in &admission.constraints.spec().resource_rules {
                    for resource in &rule.resources {
                        if resource.contains('/') {
                            continue;
                        }
                        wanted.resources.insert(ResourceWant {
                            groups: rule.api_groups.clone(),
                            versions: rule.api_versions.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
                continue;
            }
            for rule in &pack.rules {
                let kinds = &rule.spec.match_.kinds;
                if kinds.is_empty() || kinds.iter().any(|k| k == "*") {
                    wanted.every_kind.push(rule.spec.id.clone());
                }
                wanted.kinds.extend(
                    kinds
                        .iter()
                        .filter_map(|k| KindWant::parse(k))
                        .filter(|k| k.kind != "*"),
                );
            }
        }
        wanted
    }

    /// Only the kinds `only` names (`Kind`, `version/Kind`, `group/version/Kind`), as
    /// `celgate scan --kind` and `scan.kinds` ask; admission policies' resources are then
    /// dropped too. Returns the entries that do not parse.
    pub fn restrict_to(&mut self, only: &[String]) -> Vec<String> {
        let mut bad = Vec::new();
        let mut kinds = BTreeSet::new();
        for text in only {
            match KindWant::parse(text) {
                Some(k) => {
                    kinds.insert(k);
                }
                None => bad.push(text.clone()),
            }
        }
        self.kinds = kinds;
        self.resources.clear();
        self.every_kind.clear();
        bad
    }
}

/// A resource the cluster serves, as discovery describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    /// API group (`""` core).
    pub group: String,
    /// API version.
    pub version: String,
    /// The kind of its objects.
    pub kind: String,
    /// The resource name in URLs (`deployments`).
    pub plural: String,
    /// Whether its objects live in namespaces.
    pub namespaced: bool,
    /// Whether it can be listed.
    pub listable: bool,
    /// Whether `version` is its group's preferred version.
    pub preferred: bool,
}

impl ServedResource {
    /// `group/version` (`v1` for the core group).
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The resources to list, and what could not be found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Resources to list, each once.
    pub targets: Vec<ServedResource>,
    /// Kinds and resources the cluster does not serve (or does not let be listed).
    pub missing: Vec<String>,
}

/// Resolves `wanted` against `served` (every group and version the cluster serves).
pub fn resolve(wanted: &Wanted, served: &[ServedResource]) -> Resolved {
    let mut resolved = Resolved::default();
    let push = |resolved: &mut Resolved, found: &ServedResource| {
        if !resolved
            .targets
            .iter()
            .any(|t| t.group == found.group && t.plural == found.plural)
        {
            resolved.targets.push(found.clone());
        }
    };
    for want in &wanted.kinds {
        let found: Vec<&ServedResource> = served
            .iter()
            .filter(|s| s.listable && s.kind == want.kind)
            .filter(|s| want.group.as_ref().is_none_or(|g| g == &s.group))
            .filter(|s| match &want.version {
                Some(v) => v == &s.version,
                None => s.preferred || !served_at_preferred(served, s),
            })
            .collect();
        if found.is_empty() {
            resolved.missing.push(format!("kind {want}"));
        }
        for s in found {
            push(&mut resolved, s);
        }
    }
    for want in &wanted.resources {
        let any_version = want.versions.iter().any(|v| v == "*");
        let found: Vec<&ServedResource> = served
            .iter()
            .filter(|s| s.listable && (want.resource == "*" || want.resource == s.plural))
            .filter(|s| want.groups.iter().any(|g| g == "*" || g == &s.group))
            .filter(|s| {
                if any_version {
                    s.preferred || !served_at_preferred(served, s)
                } else {
                    want.versions.contains(&s.version)
                }
            })
            .collect();
        if found.is_empty() {
            resolved.missing.push(format!("resource {want}"));
        }
        for s in found {
            push(&mut resolved, s);
        }
    }
    resolved
}

/// Whether the resource of `s` is also served at its group's preferred version.
fn served_at_preferred(served: &[ServedResource], s: &ServedResource) -> bool {
    served
        .iter()
        .any(|o| o.preferred && o.group == s.group && o.plural == s.plural)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(group: &str, version: &str, kind: &str, plural: &str, preferred: bool) -> ServedResource {
        ServedResource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced: true,
            listable: true,
            preferred,
        }
    }

    fn cluster() -> Vec<ServedResource> {
        vec![
            served("", "v1", "Pod", "pods", true),
            served("apps", "v1", "Deployment", "deployments", true),
            served("example.io", "v1", "Widget", "widgets", true),
            served("example.io", "v1beta1", "Widget", "widgets", false),
            served("example.io", "v1beta1", "Gadget", "gadgets", false),
        ]
    }

    fn kinds(list: &[&str]) -> Wanted {
        Wanted {
            kinds: list.iter().map(|k| KindWant::parse(k).expect("a kind")).collect(),
            ..Wanted::default()
        }
    }

    #[test]
    fn a_bare_kind_is_listed_once_at_the_preferred_version() {
        let resolved = resolve(&kinds(&["Widget", "Gadget", "Pod"]), &cluster());
        let names: Vec<String> = resolved
            .targets
            .iter()
            .map(|t| format!("{}/{}", t.api_version(), t.plural))
            .collect();
        assert_eq!(
            names,
            ["example.io/v1beta1/gadgets", "v1/pods", "example.io/v1/widgets"]
        );
        assert!(resolved.missing.is_empty());
    }

    #[test]
    fn versioned_kinds_and_missing_kinds() {
        let resolved = resolve(
            &kinds(&["example.io/v1beta1/Widget", "v1/Pod", "apps/v1/StatefulSet"]),
            &cluster(),
        );
        let names: Vec<String> = resolved.targets.iter().map(ServedResource::api_version).collect();
        assert_eq!(names, ["v1", "example.io/v1beta1"]);
        assert_eq!(resolved.missing, ["kind apps/v1/StatefulSet"]);
    }

    #[test]
    fn admission_resources_with_wildcards() {
        let wanted = Wanted {
            resources: [ResourceWant {
                groups: vec!["example.io".into()],
                versions: vec!["*".into()],
                resource: "*".into(),
            }]
            .into(),
            ..Wanted::default()
        };
        let resolved = resolve(&wanted, &cluster());
        let names: Vec<String> = resolved.targets.iter().map(|t| t.plural.clone()).collect();
        assert_eq!(names, ["widgets", "gadgets"]);
    }

    #[test]
    fn restricting_drops_everything_else() {
        let mut wanted = kinds(&["Pod"]);
        let bad = wanted.restrict_to(&["Deployment".into(), "a//b".into()]);
        assert_eq!(bad, ["a//b"]);
        assert_eq!(
            wanted.kinds.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["Deployment"]
        );
    }
}
