//! Loading pack sources: each document goes to the rule-pack loader
//! ([`crate::engine::pack::load`]) or, when it is an admission policy, a binding or a param
//! object, to [`vap::convert`]; then the packs loaded together are checked and linked as a whole.
//! It sits above both so that `pack` never needs `vap`.

use std::collections::HashMap;

use cel::Env;

use crate::engine::pack::compiled::{CompiledPack, PackKind, PackSource};
use crate::engine::pack::error::{LoadErrors, Location, PackError, PackErrorKind};
use crate::engine::pack::load::{compile_into, is_pack_document, parse_document, resolve_variable_reads, DocContext};
use crate::engine::pack::share;
use crate::engine::pack::PackDocument;
use crate::engine::vap;
use crate::source;

/// Parses and compiles `sources` into packs (documents with the same `metadata.name` merge). A
/// list document (`kind: List`, `ValidatingAdmissionPolicyList`, ...) is split into its items.
pub fn load_packs(env: &Env, sources: &[PackSource]) -> Result<Vec<CompiledPack>, LoadErrors> {
    let mut errors = Vec::new();
    let mut packs: Vec<CompiledPack> = Vec::new();
    let mut rule_origins: HashMap<String, String> = HashMap::new();
    // Admission policies and the documents that may be their params are compiled once every
    // file is read: a binding may come before its policy.
    let (mut admission, mut others) = (Vec::new(), Vec::new());
    for src in sources {
        let docs = match source::parse_documents(&src.text) {
            Ok(docs) => docs,
            Err(e) => {
                errors.push(PackError::new(
                    Location::file(src.origin.clone()),
                    PackErrorKind::Syntax(e),
                ));
                continue;
            }
        };
        // A `kind: List` (or `ValidatingAdmissionPolicyList`, ...) is read item by item, each
        // as if it were a document of its own.
        for doc in docs.into_iter().flat_map(source::SourceDoc::split_list) {
            if vap::convert::is_admission_document(&doc.value) || !is_pack_document(&doc.value) {
                let pending = vap::convert::PendingDoc {
                    origin: src.origin.clone(),
                    doc,
                };
                if vap::convert::is_admission_document(&pending.doc.value) {
                    admission.push(pending);
                } else {
                    others.push(pending);
                }
                continue;
            }
            let ctx = DocContext {
                file: &src.origin,
                positions: &doc.positions,
            };
            let Some(parsed) = parse_document(&ctx, doc.value, &mut errors) else {
                continue;
            };
            let Some(index) = pack_index(&ctx, &parsed, &mut packs, &mut errors) else {
                continue;
            };
            compile_into(env, &ctx, parsed, &mut packs[index], &mut rule_origins, &mut errors);
        }
    }
    for pending in vap::convert::convert(env, admission, others, &mut packs, &mut errors) {
        // Neither a pack, a policy nor a param object: report it as before.
        let ctx = DocContext::new(&pending.origin, &pending.doc.positions);
        parse_document(&ctx, pending.doc.value, &mut errors);
    }
    check_retired_rules(&packs, &mut errors);
    if errors.is_empty() {
        packs.iter_mut().for_each(resolve_variable_reads);
        share::assign_share_ids(&mut packs);
        share::assign_result_share_ids(&mut packs);
        crate::engine::pack::placeholders::assign_readers(&mut packs);
        crate::engine::pack::programs::attach_programs(&mut packs);
        Ok(packs)
    } else {
        Err(LoadErrors(errors))
    }
}

/// Where in `packs` the document `parsed` goes: the pack of its name (which must have its
/// version), or a new one.
fn pack_index(
    ctx: &DocContext<'_>,
    parsed: &PackDocument,
    packs: &mut Vec<CompiledPack>,
    errors: &mut Vec<PackError>,
) -> Option<usize> {
    let Some(i) = packs.iter().position(|p| p.metadata.name == parsed.metadata.name) else {
        packs.push(CompiledPack {
            metadata: parsed.metadata.clone(),
            origins: Vec::new(),
            params: serde_json::Value::Object(serde_json::Map::new()),
            variables: Vec::new(),
            rules: Vec::new(),
            kind: PackKind::Rules,
            params_to_configure: crate::engine::pack::placeholders::ParamsToConfigure::default(),
            retired_rules: std::collections::BTreeMap::new(),
            coverage: crate::engine::pack::programs::Coverage::default(),
            reads: crate::engine::pack::compiled::RootReads::default(),
        });
        return Some(packs.len() - 1);
    };
    if packs[i].metadata.version != parsed.metadata.version {
        errors.push(ctx.invalid(
            "/metadata/version",
            format!("pack '{}'", parsed.metadata.name),
            "metadata.version",
            PackErrorKind::VersionDiffers {
                found: parsed.metadata.version.clone(),
                version: packs[i].metadata.version.clone(),
                origins: packs[i].origins.join(", "),
            },
        ));
        return None;
    }
    Some(i)
}

/// A rule listed as retired that a pack still has is an error.
fn check_retired_rules(packs: &[CompiledPack], errors: &mut Vec<PackError>) {
    for pack in packs {
        for retired in pack.retired_rules.keys() {
            if pack.rules.iter().any(|r| &r.spec.id == retired) {
                // A pack may come from several files: no one line to point at.
                errors.push(PackError::new(
                    Location {
                        subject: Some(format!("pack '{}'", pack.metadata.name)),
                        field: Some("spec.retiredRules".to_owned()),
                        ..Location::file(pack.origins.join(", "))
                    },
                    PackErrorKind::RetiredStillARule { id: retired.clone() },
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::engine::pack::compiled::CompiledRule;
    use crate::engine::pack::load::path_to_pointer;

    #[test]
    fn serde_paths_become_pointers() {
        assert_eq!(path_to_pointer("spec.rules[2].severity"), "/spec/rules/2/severity");
        assert_eq!(path_to_pointer("metadata"), "/metadata");
        assert_eq!(path_to_pointer("."), "");
    }

    #[test]
    fn equal_variables_share_ids_across_packs() {
        let env = crate::engine::cel::compile::environment();
        let packs = load_packs(&env, &crate::packs::embedded().packs).unwrap();
        let id = |pack: &str, name: &str| {
            let pack = packs.iter().find(|p| p.metadata.name == pack).unwrap();
            pack.variables.iter().find(|v| v.name == name).unwrap().share_id
        };
        assert!(id("soc2", "pssHostPath").is_some());
        assert_eq!(id("soc2", "pssHostPath"), id("hipaa", "pssHostPath"));
        assert_eq!(id("soc2", "ownLabels"), id("gdpr", "ownLabels"));
        assert_ne!(id("soc2", "ownLabels"), id("soc2", "nsLabels"));
        // Reads params.defaultClassification, which each pack sets to the same default.
        assert!(id("soc2", "cls").is_some());
        assert_eq!(id("soc2", "cls"), id("gdpr", "cls"));
    }

    fn rule<'p>(packs: &'p [CompiledPack], pack: &str, id: &str) -> &'p CompiledRule {
        let pack = packs.iter().find(|p| p.metadata.name == pack).unwrap();
        pack.rules.iter().find(|r| r.spec.id == id).unwrap()
    }

    #[test]
    fn equal_rule_expressions_share_ids_across_the_shipped_packs() {
        let env = crate::engine::cel::compile::environment();
        let packs = load_packs(&env, &crate::packs::embedded().packs).unwrap();
        // Same validate, reading params.podSecurityExemptNamespaces (equal in all three) and the
        // Pod Security variables every pack carries.
        let gdpr = rule(&packs, "gdpr", "gdpr-pod-security-restricted");
        let hipaa = rule(&packs, "hipaa", "hipaa-workload-isolation-container");
        assert!(gdpr.validate.share_id.is_some());
        assert_eq!(gdpr.validate.share_id, hipaa.validate.share_id);
        let host = rule(&packs, "gdpr", "gdpr-pod-security-baseline");
        let phi_host = rule(&packs, "hipaa", "hipaa-workload-isolation");
        assert_eq!(host.validate.share_id, phi_host.validate.share_id);
        assert_ne!(host.validate.share_id, gdpr.validate.share_id);
        let exempted = |pack: &str| rule(&packs, pack, &format!("{pack}-pss-exempted")).validate.share_id;
        assert!(exempted("soc2").is_some());
        assert_eq!(exempted("soc2"), exempted("hipaa"));
        assert_eq!(exempted("soc2"), exempted("gdpr"));
        // `variables.personalData && ...` and `variables.phi && ...`: both shared, not alike.
        let condition = |r: &CompiledRule| r.condition.as_ref().and_then(|c| c.share_id);
        assert!(condition(host).is_some() && condition(phi_host).is_some());
        assert_ne!(condition(host), condition(phi_host));
    }

    #[test]
    fn rule_expressions_reading_unequal_params_or_unshared_variables_are_not_shared() {
        let rules = [
            ("x", "params.x == 1"),
            ("x-by-index", "params['x'] == 1"),
            ("y", "params.y == 1"),
            ("whole", "params[['x'][0]] == 1"),
            ("kind", "variables.kind == 'Pod'"),
            ("kind-optional", "variables.?kind.orValue('') == 'Pod'"),
            ("kind-dynamic", "['kind'].all(k, variables[k] == 'Pod')"),
            ("limit", "variables.limit > 1"),
            ("base", "variables.base > 1"),
        ];
        let pack = |name: &str, y: i64| {
            let mut text = format!(
                "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: {name}, version: 0.1.0}}\n\
                 spec:\n  params: {{x: 1, y: {y}}}\n  variables:\n\
                 \x20   - {{name: kind, expression: object.kind}}\n\
                 \x20   - {{name: limit, expression: params.y + 1}}\n\
                 \x20   - {{name: base, expression: params.x + 1}}\n  rules:\n"
            );
            for (id, validate) in rules {
                let _ = writeln!(
                    text,
                    "    - {{id: {name}-{id}, title: t, controls: [c], severity: low, validate: \"{validate}\", \
                     message: m, remediation: r}}"
                );
            }
            PackSource {
                origin: format!("test:{name}.yaml"),
                text,
            }
        };
        let env = crate::engine::cel::compile::environment();
        let packs = load_packs(&env, &[pack("a", 1), pack("b", 2)]).unwrap();
        let id = |pack: &str, rule_id: &str| rule(&packs, pack, &format!("{pack}-{rule_id}")).validate.share_id;
        // params.x is 1 in both, however it is named; the variable reads only object.
        for shared in ["x", "x-by-index", "kind", "kind-optional", "base"] {
            assert!(id("a", shared).is_some(), "{shared}");
            assert_eq!(id("a", shared), id("b", shared), "{shared}");
        }
        // params.y differs, and so does the whole params map (read by a computed key).
        assert_ne!(id("a", "y"), id("b", "y"));
        assert!(id("a", "whole").is_some());
        assert_ne!(id("a", "whole"), id("b", "whole"));
        // A variable that reads params.y differs between the packs, and so do its readers.
        assert!(id("a", "limit").is_some());
        assert_ne!(id("a", "limit"), id("b", "limit"));
        // `variables` read by a computed key: the map a rule sees differs between packs.
        assert_eq!(id("a", "kind-dynamic"), None);
    }

    #[test]
    fn changed_in_is_a_version_no_later_than_the_pack() {
        let pack = |changed: &str| PackSource {
            origin: "test:v.yaml".to_owned(),
            text: format!(
                "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: v, version: 0.2.0}}\n\
                 spec:\n  rules:\n    - {{id: v-a, title: t, controls: [c], severity: low, validate: 'true', \
                 message: m, remediation: r, changedIn: '{changed}'}}\n"
            ),
        };
        let env = crate::engine::cel::compile::environment();
        assert!(load_packs(&env, &[pack("0.2.0")]).is_ok());
        let later = load_packs(&env, &[pack("0.3.0")]).unwrap_err().to_string();
        assert!(
            later.contains("test:v.yaml:6: rule 'v-a': changedIn: '0.3.0' is later than the pack's version '0.2.0'"),
            "{later}"
        );
        let bad = load_packs(&env, &[pack("next")]).unwrap_err().to_string();
        assert!(bad.contains("changedIn: 'next' is not a semantic version"), "{bad}");
    }
}
