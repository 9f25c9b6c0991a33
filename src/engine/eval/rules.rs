//! One pass over the rules of every pack that apply to an input.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use cel::Env;

use crate::engine::cel::cost::sizes::SizeMemo;
use crate::engine::cel::cost::CostMeter;
use crate::engine::cel::expr_eval::Costing;
use crate::engine::cel::json_val::json_view;
use crate::engine::facts::input::Input;
use crate::engine::facts::overrides::{Mode, Overrides};
use crate::engine::pack::compiled::{CompiledPack, CompiledRule, PackKind};

use super::programs::{Programs, SharedValues};
use super::roots::{program_roots, root_docs, RootReads, RootScope, Subject};
use super::rule::RuleContext;
use super::scope::{Interpreter, PackScope};
use super::shared::{compute_variables, ForEachCache, SharedResults, SharedVariables};
use super::Pass;

/// What a pass runs: the loaded packs and how.
pub(crate) struct Rulebook<'a> {
    /// The CEL environment.
    pub env: &'a Arc<Env>,
    /// The packs, in load order.
    pub packs: &'a [Arc<CompiledPack>],
    /// Param objects and `--bind-all`, for admission policies.
    pub admission: crate::engine::vap::AdmissionOptions<'a>,
    /// Run expressions (rule packs' and admission policies') on their compiled programs, else
    /// on the interpreter.
    pub compiled: bool,
}

/// Evaluates every rule of the packs of `book` that applies to `input`, with `object` as the
/// document; on compiled programs where the book says so and the expression has one, else on
/// the interpreter.
pub(crate) fn run_rules(
    book: &Rulebook<'_>,
    subject: &Subject<'_>,
    object: &serde_json::Value,
    overrides: &dyn Overrides,
    meter: &CostMeter,
) -> Pass {
    let Rulebook {
        env,
        packs,
        admission: admission_options,
        compiled,
    } = *book;
    let input = subject.input;
    let mut pass = Pass::default();
    let matched = matched_rules(packs, input, overrides);
    if matched.is_empty() {
        return pass;
    }
    let derived = subject.derived(RootReads::of_packs(matched.iter().map(|(pack, _)| *pack)));
    let params: Vec<Cow<'_, serde_json::Value>> = matched.iter().map(|(p, _)| merged_params(p, input)).collect();

    let roots = root_docs(input, object, derived);
    let root_scope = RootScope::new(env, roots);
    let root = &root_scope;
    let sizes = SizeMemo::default();

    let for_each = ForEachCache::default();
    let shared = SharedVariables::default();
    let shared_values = SharedValues::default();
    let results = SharedResults::default();
    for ((pack, rules), params) in matched.iter().zip(&params) {
        if let PackKind::AdmissionPolicies(admission) = &pack.kind {
            let policy = crate::engine::eval::policies::Policy {
                pack,
                admission,
                rules,
                bind_all: admission_options.bind_all,
                compiled,
            };
            let costing = Costing {
                meter,
                sizes: &sizes,
                roots,
                variables: *pack,
            };
            policy.run(root.get(), costing, input, object, admission_options.params, &mut pass);
            continue;
        }
        let costing = Costing {
            meter,
            sizes: &sizes,
            roots: roots.with_params(params),
            variables: *pack,
        };
        let programs = compiled.then(|| Programs::new(pack, program_roots(&costing.roots), meter, &shared_values));
        let shared = &shared;
        let scope = PackScope::lazy(programs, move || {
            let mut scope = root.get().new_inner_scope();
            scope.add_variable_as_val("params", json_view(params));
            let needed: BTreeSet<usize> = rules.iter().flat_map(|r| r.variables.iter().copied()).collect();
            let (variables, failed) = compute_variables(pack, &needed, &scope, costing, shared);
            scope.add_variable_as_val("variables", Box::new(variables));
            Interpreter { scope, failed }
        });
        let ctx = RuleContext {
            for_each: &for_each,
            results: &results,
            scope: &scope,
            costing,
            object,
        };
        for rule in rules {
            pass.evaluated.push(Arc::clone(&rule.labels.rule));
            ctx.evaluate_rule(rule, &mut pass.findings);
        }
    }
    pass
}

/// Each pack with its rules that apply to `input` and are not switched off by `overrides`
/// (admission-policy packs always: their bindings decide).
fn matched_rules<'p>(
    packs: &'p [Arc<CompiledPack>],
    input: &Input,
    overrides: &dyn Overrides,
) -> Vec<(&'p CompiledPack, Vec<&'p Arc<CompiledRule>>)> {
    let switched_off = |pack: &CompiledPack, rule: &CompiledRule| {
        overrides
            .mode(&pack.metadata.name, &rule.spec.id)
            .is_some_and(|m| m.mode == Mode::Off)
    };
    let facts = crate::engine::pack::select::MatchFacts::of(input);
    packs
        .iter()
        .map(|p| {
            (
                p.as_ref(),
                p.rules
                    .iter()
                    .filter(|r| r.matcher.matches_facts(&facts) && !switched_off(p, r))
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(p, rules)| !rules.is_empty() || matches!(p.kind, PackKind::AdmissionPolicies(_)))
        .collect()
}

/// The pack's params with the input's merged over them (per key); borrowed when the input
/// overrides nothing, which is the common case.
fn merged_params<'a>(pack: &'a CompiledPack, input: &Input) -> Cow<'a, serde_json::Value> {
    if input.params.is_empty() {
        return Cow::Borrowed(&pack.params);
    }
    let mut params = pack.params.as_object().cloned().unwrap_or_default();
    for (k, v) in &input.params {
        params.insert(k.clone(), v.clone());
    }
    Cow::Owned(serde_json::Value::Object(params))
}
