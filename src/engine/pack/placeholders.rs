//! Params whose shipped value is an example (`spec.paramsToConfigure`): `allowedRegistries:
//! [registry.example.com/]` only makes sense once an operator replaces it. While such a param
//! still holds its example, a rule that reads it cannot judge the input as its author meant: a
//! finding of that rule that would deny (or patch) warns instead, and its message says which
//! param to configure and where.
//!
//! A pack marks such params in `spec.paramsToConfigure`, a map from the param's name to its example.
//! A param counts as configured once the input's params set it (a tenant's `params` in
//! `celgate.yaml`, a test case's `params`) or the pack's merged `spec.params` no longer hold the
//! example (the value edited in the pack file, or a later document of the same pack setting it).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::load::DocContext;
use super::template::{Segment, Template};
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::Action;
use crate::engine::facts::overrides::{Mode, Overrides};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule};
use crate::engine::pack::error::{PackError, PackErrorKind};

/// The params of one pack that must be configured, and the rules each one softens.
#[derive(Debug, Clone, Default)]
pub struct ParamsToConfigure {
    /// Param name -> the example value the pack ships.
    examples: BTreeMap<String, serde_json::Value>,
    /// Rule id -> the params of [`Self::examples`] its condition, `validate` or patch reads
    /// (directly or through pack variables), in name order.
    readers: BTreeMap<String, Vec<String>>,
}

impl ParamsToConfigure {
    /// Param name -> example value, for every param the pack marks.
    pub fn examples(&self) -> &BTreeMap<String, serde_json::Value> {
        &self.examples
    }

    /// True when the pack marks no param.
    pub fn is_empty(&self) -> bool {
        self.examples.is_empty()
    }

    /// The marked params `rule` reads (empty for a rule that reads none).
    pub fn read_by(&self, rule: &str) -> &[String] {
        self.readers.get(rule).map_or(&[], Vec::as_slice)
    }

    /// True when `name` is marked and still holds its example: `overrides` (the input's params)
    /// do not set it and `pack_params` (the pack's merged `spec.params`) hold the example. An
    /// input that sets it, even to the example, has configured it.
    pub fn is_unconfigured(
        &self,
        name: &str,
        pack_params: &serde_json::Value,
        overrides: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        self.examples
            .get(name)
            .is_some_and(|example| !overrides.contains_key(name) && pack_params.get(name) == Some(example))
    }
}

/// A marked param that still holds its example for some input, with the rules it softens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnconfiguredParam {
    /// Pack name.
    pub pack: String,
    /// Param name (`allowedRegistries`).
    pub param: String,
    /// The example value it still holds.
    pub example: serde_json::Value,
    /// Ids of the rules (action `deny` or `patch`) that read it and so warn instead.
    pub rules: Vec<String>,
}

/// The marked params of `packs` that still hold their examples when the input's params are
/// `params`, in pack order, then by name; each with the rules (action `deny` or `patch`, not
/// switched off by `overrides`) that read it. A param no such rule reads is left out: it softens
/// nothing.
pub fn unconfigured<'a>(
    packs: impl IntoIterator<Item = &'a CompiledPack>,
    params: &serde_json::Map<String, serde_json::Value>,
    overrides: &dyn Overrides,
) -> Vec<UnconfiguredParam> {
    let mut out = Vec::new();
    for pack in packs {
        let marked = &pack.params_to_configure;
        for (name, example) in marked.examples() {
            if !marked.is_unconfigured(name, &pack.params, params) {
                continue;
            }
            let rules: Vec<String> = pack
                .rules
                .iter()
                .filter(|r| matches!(r.spec.action, Action::Deny | Action::Patch))
                .filter(|r| marked.read_by(&r.spec.id).contains(name))
                .filter(|r| {
                    overrides
                        .mode(&pack.metadata.name, &r.spec.id)
                        .is_none_or(|m| m.mode != Mode::Off)
                })
                .map(|r| r.spec.id.clone())
                .collect();
            if rules.is_empty() {
                continue;
            }
            out.push(UnconfiguredParam {
                pack: pack.metadata.name.clone(),
                param: name.clone(),
                example: example.clone(),
                rules,
            });
        }
    }
    out
}

/// Records the `spec.paramsToConfigure` of one pack document: each name must be a param of the
/// pack (set in `params`, this document's `spec.params`, or `pack_params`, those of the pack's
/// earlier documents).
pub(crate) fn record(
    ctx: &DocContext<'_>,
    pack_name: &str,
    pack_params: &serde_json::Value,
    params: &BTreeMap<String, serde_json::Value>,
    marked: &BTreeMap<String, serde_json::Value>,
    target: &mut ParamsToConfigure,
    errors: &mut Vec<PackError>,
) {
    for (name, example) in marked {
        if params.contains_key(name) || pack_params.get(name).is_some() {
            target.examples.insert(name.clone(), example.clone());
            continue;
        }
        let mut known: Vec<&str> = params.keys().map(String::as_str).collect();
        if let Some(earlier) = pack_params.as_object() {
            known.extend(earlier.keys().map(String::as_str).filter(|k| !params.contains_key(*k)));
        }
        known.sort_unstable();
        let known = if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        };
        errors.push(ctx.invalid(
            &format!("/spec/paramsToConfigure/{}", crate::source::escape_segment(name)),
            format!("pack '{pack_name}'"),
            "spec.paramsToConfigure",
            PackErrorKind::UnknownParam {
                name: name.clone(),
                known,
            },
        ));
    }
}

/// Fills [`ParamsToConfigure::readers`] of every pack once all its documents are loaded.
pub(crate) fn assign_readers(packs: &mut [CompiledPack]) {
    for pack in packs.iter_mut() {
        if pack.params_to_configure.is_empty() {
            continue;
        }
        let mut readers = BTreeMap::new();
        for rule in &pack.rules {
            let read = params_read(rule, pack);
            let marked: Vec<String> = pack
                .params_to_configure
                .examples
                .keys()
                .filter(|name| read.reads(name))
                .cloned()
                .collect();
            if !marked.is_empty() {
                readers.insert(rule.spec.id.clone(), marked);
            }
        }
        pack.params_to_configure.readers = readers;
    }
}

/// What an expression set reads of `params`.
#[derive(Default)]
struct ParamsRead {
    /// Reads `params` by a computed key or as a whole.
    all: bool,
    /// Names it reads.
    keys: BTreeSet<String>,
}

impl ParamsRead {
    fn reads(&self, name: &str) -> bool {
        self.all || self.keys.contains(name)
    }
}

/// The params the expressions that decide a rule's outcome read: its condition, `validate` and
/// patch (paths and values), and the pack variables they read, transitively. The message and
/// pointer only word a finding, so they do not count.
fn params_read(rule: &CompiledRule, pack: &CompiledPack) -> ParamsRead {
    fn template_exprs(template: &Template) -> impl Iterator<Item = &CompiledExpr> {
        template.segments.iter().filter_map(|segment| match segment {
            Segment::Expr(expr) => Some(expr.as_ref()),
            Segment::Literal(_) => None,
        })
    }
    let mut exprs: Vec<&CompiledExpr> = rule.condition.iter().collect();
    exprs.push(&rule.validate);
    for op in &rule.patch {
        exprs.extend(template_exprs(&op.path));
        exprs.extend(op.value_expression.as_ref());
    }
    let mut read = ParamsRead::default();
    let mut pending: Vec<usize> = Vec::new();
    let note = |expr: &CompiledExpr, read: &mut ParamsRead, pending: &mut Vec<usize>| {
        read.all |= expr.whole_roots.contains("params");
        read.keys.extend(expr.param_keys.iter().cloned());
        if expr.reads_all_variables() {
            pending.extend(0..pack.variables.len());
        } else {
            pending.extend(
                expr.pack_variables
                    .iter()
                    .filter_map(|name| pack.variables.iter().position(|v| &v.name == name)),
            );
        }
    };
    for expr in exprs {
        note(expr, &mut read, &mut pending);
    }
    let mut seen = BTreeSet::new();
    while let Some(index) = pending.pop() {
        if !seen.insert(index) {
            continue;
        }
        if let Some(var) = pack.variables.get(index) {
            note(&var.expr, &mut read, &mut pending);
            pending.extend(var.deps.iter().copied());
        }
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::facts::overrides::NoOverrides;
    use crate::engine::loader::load_packs;
    use crate::engine::pack::compiled::PackSource;

    fn load(spec: &str) -> Result<Vec<CompiledPack>, String> {
        let text = format!(
            "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: demo, version: 1.0.0}}\nspec:\n{spec}"
        );
        let env = crate::engine::cel::compile::environment();
        load_packs(
            &env,
            &[PackSource {
                origin: "demo.yaml".to_owned(),
                text,
            }],
        )
        .map_err(|e| e.to_string())
    }

    const RULES: &str = r"
  variables:
    - name: registries
      expression: params.allowedRegistries
    - name: approved
      expression: variables.registries.exists(r, object.spec.image.startsWith(r))
  rules:
    - {id: demo-direct, title: t, controls: [c], severity: high, match: {kinds: [Pod]},
       validate: 'params.allowedRegistries.size() > 0', message: m, remediation: r}
    - {id: demo-via-variable, title: t, controls: [c], severity: high, match: {kinds: [Pod]},
       validate: variables.approved, message: m, remediation: r}
    - {id: demo-message-only, title: t, controls: [c], severity: high, match: {kinds: [Pod]},
       validate: 'true', message: '{params.allowedRegistries}', remediation: r}
    - {id: demo-computed-key, title: t, controls: [c], severity: high, match: {kinds: [Pod]},
       validate: 'params[object.kind] == 1', message: m, remediation: r}
    - {id: demo-other, title: t, controls: [c], severity: high, match: {kinds: [Pod]},
       validate: 'params.other == 1', message: m, remediation: r}
";

    #[test]
    fn readers_follow_variables_and_computed_keys_but_not_messages() {
        let packs = load(&format!(
            "  params: {{allowedRegistries: [registry.example.com/], other: 1}}\n  paramsToConfigure: {{allowedRegistries: [registry.example.com/]}}\n{RULES}"
        ))
        .unwrap();
        let marked = &packs[0].params_to_configure;
        assert_eq!(
            marked.examples().get("allowedRegistries"),
            Some(&serde_json::json!(["registry.example.com/"]))
        );
        assert_eq!(marked.read_by("demo-direct"), ["allowedRegistries"]);
        assert_eq!(marked.read_by("demo-via-variable"), ["allowedRegistries"]);
        assert_eq!(marked.read_by("demo-computed-key"), ["allowedRegistries"]);
        assert!(marked.read_by("demo-message-only").is_empty());
        assert!(marked.read_by("demo-other").is_empty());
    }

    #[test]
    fn an_unknown_name_or_a_list_is_a_load_error() {
        let err = load("  params: {a: 1}\n  paramsToConfigure: {a: 1, allowedRegistries: []}\n").unwrap_err();
        assert!(err.contains("demo.yaml"), "{err}");
        assert!(err.contains("spec.paramsToConfigure"), "{err}");
        assert!(
            err.contains("names 'allowedRegistries', which is not a param of the pack (its params: a)"),
            "{err}"
        );
        let err = load("  paramsToConfigure: {a: 1}\n").unwrap_err();
        assert!(err.contains("(its params: none)"), "{err}");
        let err = load("  params: {a: 1}\n  paramsToConfigure: [a]\n").unwrap_err();
        assert!(err.contains("paramsToConfigure"), "{err}");
    }

    #[test]
    fn a_later_document_may_mark_a_param_an_earlier_one_sets() {
        let env = crate::engine::cel::compile::environment();
        let doc = |spec: &str| PackSource {
            origin: "demo.yaml".to_owned(),
            text: format!(
                "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: demo, version: 1.0.0}}\nspec:\n{spec}"
            ),
        };
        let packs = load_packs(
            &env,
            &[doc("  params: {a: [x]}\n"), doc("  paramsToConfigure: {a: [x]}\n")],
        )
        .unwrap();
        let marked = &packs[0].params_to_configure;
        assert!(marked.is_unconfigured("a", &packs[0].params, &serde_json::Map::new()));
    }

    #[test]
    fn configured_by_the_input_or_a_changed_pack_value() {
        let packs = load(&format!(
            "  params: {{allowedRegistries: [registry.example.com/], other: 1}}\n  paramsToConfigure: {{allowedRegistries: [registry.example.com/]}}\n{RULES}"
        ))
        .unwrap();
        let pack = &packs[0];
        let marked = &pack.params_to_configure;
        let none = serde_json::Map::new();
        assert!(marked.is_unconfigured("allowedRegistries", &pack.params, &none));
        assert!(!marked.is_unconfigured("other", &pack.params, &none), "not marked");
        // Set by the input, even to the example: an operator chose it.
        let mut set = serde_json::Map::new();
        set.insert(
            "allowedRegistries".to_owned(),
            serde_json::json!(["registry.example.com/"]),
        );
        assert!(!marked.is_unconfigured("allowedRegistries", &pack.params, &set));
        // The pack's own value changed (edited in place, or set by a later document of the pack).
        let edited = serde_json::json!({"allowedRegistries": ["ghcr.io/acme/"]});
        assert!(!marked.is_unconfigured("allowedRegistries", &edited, &none));

        let listed = unconfigured(&packs, &none, &NoOverrides);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].param, "allowedRegistries");
        assert_eq!(
            listed[0].rules,
            ["demo-direct", "demo-via-variable", "demo-computed-key"]
        );
        assert!(unconfigured(&packs, &set, &NoOverrides).is_empty());
    }
}
