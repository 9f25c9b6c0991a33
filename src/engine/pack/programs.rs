//! Giving every expression of a pack (rule pack or admission policy) its compiled program
//! (design §1, "CEL, compiled") once the pack's variables are known, and recording what the
//! compiler did not cover: an expression it refuses runs on the interpreter, a function it does
//! not implement runs on the interpreter one call at a time. Both still work; both are named at load ([`Coverage`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::cel::compiled::{self, Layout};
use crate::engine::pack::compiled::{CompiledPack, PackKind, RootReads};

/// How much of a pack the compiled evaluator runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// Expressions compiled.
    pub compiled: usize,
    /// Functions the compiled programs hand to the interpreter, call by call.
    pub bridged: BTreeSet<String>,
    /// Expressions that run on the interpreter, and why.
    pub interpreted: Vec<Interpreted>,
}

impl Coverage {
    /// True when every expression runs on compiled programs.
    pub fn is_complete(&self) -> bool {
        self.interpreted.is_empty()
    }
}

/// An expression the compiler refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreted {
    /// `variable 'x'`, `rule 'y'`, `matchCondition 'z'` or `auditAnnotation 'k'`.
    pub subject: String,
    /// The expression.
    pub source: String,
    /// What the compiler does not cover.
    pub reason: String,
}

/// Compiles every expression of the packs in `packs` (rule packs and admission policies alike)
/// and records each pack's coverage.
pub(crate) fn attach_programs(packs: &mut [CompiledPack]) {
    for pack in packs {
        let layout = Layout {
            variables: pack.variables.iter().map(|v| v.name.clone()).collect(),
            ..Layout::default()
        };
        let mut coverage = Coverage::default();
        let mut reads = RootReads::NONE;
        for var in &mut pack.variables {
            let subject = format!("variable '{}'", var.name);
            reads = reads.and(RootReads::of(&var.expr));
            attach(&mut var.expr, &layout, &subject, &mut coverage);
        }
        for rule in &mut pack.rules {
            // Nothing else holds a rule at load.
            let Some(rule) = Arc::get_mut(rule) else {
                continue;
            };
            let subject = format!("rule '{}'", rule.spec.id);
            for expr in super::share::rule_expressions_mut(rule) {
                reads = reads.and(RootReads::of(expr));
                attach(expr, &layout, &subject, &mut coverage);
            }
        }
        // A rule pack's expressions are all above; an admission policy runs more (its
        // authorizer, its object construction) on the interpreter, so it is taken to read both.
        pack.reads = match pack.kind {
            PackKind::Rules => reads,
            PackKind::AdmissionPolicies(_) => RootReads::default(),
        };
        if let PackKind::AdmissionPolicies(admission) = &mut pack.kind {
            for (name, expr) in &mut admission.match_conditions {
                attach(expr, &layout, &format!("matchCondition '{name}'"), &mut coverage);
            }
            for (key, expr) in &mut admission.audit_annotations {
                attach(expr, &layout, &format!("auditAnnotation '{key}'"), &mut coverage);
            }
        }
        pack.coverage = coverage;
    }
}

fn attach(expr: &mut CompiledExpr, layout: &Layout, subject: &str, coverage: &mut Coverage) {
    match compiled::compile(&expr.expr, layout) {
        Ok(program) => {
            coverage.compiled += 1;
            coverage.bridged.extend(program.bridged().iter().cloned());
            expr.program = Some(Arc::new(program));
            expr.pack_variable_indices = expr
                .pack_variables
                .iter()
                .filter_map(|name| layout.variables.iter().position(|v| v == name))
                .collect();
        }
        Err(unsupported) => coverage.interpreted.push(Interpreted {
            subject: subject.to_owned(),
            source: expr.source.clone(),
            reason: unsupported.what,
        }),
    }
}
