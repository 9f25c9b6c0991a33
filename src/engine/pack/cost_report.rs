//! The load-time estimate of every expression of loaded packs, dearest first: what the shipped
//! packs cost, and which expression to restructure when one comes close to the limit.

use std::sync::Arc;

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::cel::cost::InputLimits;
use crate::engine::cel::cost::{Poly, Sizes};
use crate::engine::pack::compiled::{CompiledPack, PackKind};
use crate::engine::pack::template::{Segment, Template};

/// One expression's estimate at its load-time bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostEntry {
    /// Pack (or admission policy) name.
    pub pack: String,
    /// `rule 'id'`, `variable 'name'`, `matchCondition 'name'`, `auditAnnotation 'key'`.
    pub subject: String,
    /// Field holding the expression (`validate`, `message`, ...).
    pub field: String,
    /// The estimate at the bounds.
    pub estimate: u128,
    /// The bounds it was estimated at.
    pub sizes: Sizes,
    /// Its leading terms (`L^2·S`).
    pub growth: String,
}

/// Every expression of `packs` with its estimate at the bounds it was checked at on load (those
/// declared for its rule or pack, else the defaults), dearest first.
pub fn report(packs: &[Arc<CompiledPack>]) -> Vec<CostEntry> {
    let mut out = Vec::new();
    for pack in packs {
        let mut add = |subject: String, field: &str, expr: &CompiledExpr, limits: InputLimits| {
            out.push(entry(&pack.metadata.name, subject, field, &expr.cost, limits));
        };
        for var in &pack.variables {
            add(
                format!("variable '{}'", var.name),
                "expression",
                &var.expr,
                var.input_limits,
            );
        }
        if let PackKind::AdmissionPolicies(admission) = &pack.kind {
            for (name, expr) in &admission.match_conditions {
                add(
                    format!("matchCondition '{name}'"),
                    "expression",
                    expr,
                    InputLimits::default(),
                );
            }
            for (key, expr) in &admission.audit_annotations {
                add(
                    format!("auditAnnotation '{key}'"),
                    "valueExpression",
                    expr,
                    InputLimits::default(),
                );
            }
        }
        for rule in &pack.rules {
            let subject = format!("rule '{}'", rule.spec.id);
            let limits = rule.input_limits;
            let mut fields: Vec<(&str, &CompiledExpr)> = Vec::new();
            fields.extend(rule.condition.as_ref().map(|e| ("condition", e)));
            fields.push(("validate", &rule.validate));
            fields.extend(rule.message_expression.as_ref().map(|e| ("messageExpression", e)));
            template_exprs("message", &rule.message, &mut fields);
            if let Some(pointer) = &rule.pointer {
                template_exprs("pointer", pointer, &mut fields);
            }
            for op in &rule.patch {
                template_exprs("patch.path", &op.path, &mut fields);
                fields.extend(op.value_expression.as_ref().map(|e| ("patch.valueExpression", e)));
            }
            for (field, expr) in fields {
                add(subject.clone(), field, expr, limits);
            }
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.estimate));
    out
}

fn template_exprs<'a>(field: &'a str, template: &'a Template, out: &mut Vec<(&'a str, &'a CompiledExpr)>) {
    for segment in &template.segments {
        if let Segment::Expr(e) = segment {
            out.push((field, e));
        }
    }
}

fn entry(pack: &str, subject: String, field: &str, cost: &Poly, limits: InputLimits) -> CostEntry {
    let sizes = Sizes::bounds(limits);
    CostEntry {
        pack: pack.to_owned(),
        subject,
        field: field.to_owned(),
        estimate: sizes.estimate(cost),
        sizes,
        growth: cost.to_string(),
    }
}
