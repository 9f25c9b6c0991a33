//! The one evaluation kernel of rule packs and admission policies: one pass over the rules that
//! apply to an input ([`rules`]), with the documents bound once ([`roots`]) and what packs share
//! computed once ([`shared`]); expressions on compiled programs ([`programs`]), the
//! interpreter's scope built only when one needs it ([`scope`]); one rule at a time ([`rule`],
//! [`pointers`]); an admission policy
//! per binding and param object ([`policies`]); example params softening findings ([`soften`]).
//! Imports every layer below it: `cel/`, `facts/`, `pack/`, `vap/`.

mod pointers;
pub(crate) mod policies;
mod programs;
mod roots;
mod rule;
mod rules;
mod scope;
mod shared;
pub(crate) mod soften;

use std::sync::Arc;

use crate::engine::facts::decision::{Action, FindingType, Violation};
use crate::engine::pack::compiled::CompiledRule;
use crate::engine::pack::patch::ResolvedOp;
use crate::engine::pack::OnError;

pub(crate) use crate::engine::cel::expr_eval::{Costing, ExprFailure};
pub(crate) use roots::{bind_roots, program_roots, RootReads, Subject};
pub(crate) use rule::RuleContext;
pub(crate) use rules::{run_rules, Rulebook};
pub(crate) use scope::{Interpreter, PackScope};
pub(crate) use shared::{compute_variables, ForEachCache, SharedResults, SharedVariables};

/// A finding plus the patch ops its rule asks for.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub violation: Violation,
    pub ops: Vec<ResolvedOp>,
}

impl Finding {
    /// An evaluation error of `rule` at `pointer`, with the outcome its `onError` asks for.
    pub(crate) fn error(rule: &CompiledRule, pointer: &str, message: &str) -> Finding {
        let action = match rule.spec.error_action() {
            OnError::Deny => Action::Deny,
            OnError::Warn => Action::Warn,
            OnError::Allow => Action::Audit,
        };
        Finding::new(
            rule,
            FindingType::EvaluationError,
            action,
            message.to_owned(),
            pointer.to_owned(),
        )
    }

    /// A finding of `rule`: its labels (shared, not copied), with this action, message and pointer.
    pub(crate) fn new(
        rule: &CompiledRule,
        finding: FindingType,
        action: Action,
        message: String,
        pointer: String,
    ) -> Finding {
        Finding {
            violation: Violation {
                pack: Arc::clone(&rule.labels.pack),
                rule: Arc::clone(&rule.labels.rule),
                title: Arc::clone(&rule.labels.title),
                controls: Arc::clone(&rule.labels.controls),
                severity: rule.spec.severity,
                action,
                finding,
                message,
                pointer,
                rationale: Arc::clone(&rule.labels.rationale),
                remediation: Arc::clone(&rule.labels.remediation),
                patched: false,
                reason: None,
                mode: None,
                exception: None,
            },
            ops: Vec::new(),
        }
    }
}

/// Most findings of one kind (violation, evaluation error) one `forEach` rule keeps per pass;
/// the last one kept says how many more there were (see [`super::decision::omitted_note`]).
/// Every item is still checked, so the verdict is the same; for a patching rule, the patch
/// operations of the findings left out are carried by the last one kept.
pub const MAX_FINDINGS_PER_RULE: usize = 100;

/// Result of one pass over the rules.
#[derive(Debug, Default)]
pub(crate) struct Pass {
    pub findings: Vec<Finding>,
    pub evaluated: Vec<Arc<str>>,
    /// Audit annotations computed by admission policies (`<policy>/<key>` -> value).
    pub annotations: std::collections::BTreeMap<String, String>,
}
