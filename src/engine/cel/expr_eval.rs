//! Running one compiled expression: its cost checked and charged first ([`super::cost`]), then
//! the interpreter, then the result's type.

use cel::common::types::CelBool;
use cel::common::value::{CowVal, Val};
use cel::{Context, ExecutionError, Value};

use super::compile::CompiledExpr;
use super::cost::sizes::{read_stats, ReadSizes, RootDocs, SizeMemo, VariableTable};
use super::cost::{CostFailure, CostMeter, Sizes};
use super::json_val::to_value;

/// What an expression's cost is measured against: the documents bound in its scope (of which
/// it is charged on the parts it reads, [`super::cost::reads`]), and the meter of the input
/// being judged.
#[derive(Clone, Copy)]
pub(crate) struct Costing<'m> {
    /// The input's meter.
    pub meter: &'m CostMeter,
    /// Size facts of the pass's documents, measured once per node.
    pub sizes: &'m SizeMemo,
    /// The documents bound as roots.
    pub roots: RootDocs<'m>,
    /// The pack's variables, for reads of `variables.<name>`.
    pub variables: &'m dyn VariableTable,
}

impl<'m> Costing<'m> {
    /// The sizes of what `expr` reads in `scope` (`None`: it reads no pack variable).
    pub(crate) fn stats_of(&self, expr: &CompiledExpr, scope: Option<&Context<'_, '_>>) -> ReadSizes {
        read_stats(
            std::ptr::from_ref(expr).addr(),
            &expr.reads.paths,
            self.roots,
            self.variables,
            scope,
            self.sizes,
        )
    }

    /// Charges `expr` at the sizes of what it reads in `scope`, or says why it must not run.
    pub(crate) fn charge(&self, expr: &CompiledExpr, scope: &Context<'_, '_>) -> Result<(), ExprFailure> {
        // A cost that grows with no size needs no sizes.
        let sizes = if expr.cost.is_constant() {
            Sizes::new(0, 0)
        } else {
            Sizes::of_reads(self.stats_of(expr, Some(scope)))
        };
        self.meter.charge(&expr.cost, sizes).map_err(ExprFailure::Cost)
    }

    /// The same costing with `item` bound (a `forEach` item).
    #[must_use]
    pub(crate) fn with_item(self, item: &'m serde_json::Value) -> Costing<'m> {
        Costing {
            roots: self.roots.with_item(item),
            ..self
        }
    }

    /// The same costing with `params` bound.
    #[must_use]
    pub(crate) fn with_params(self, params: &'m serde_json::Value) -> Costing<'m> {
        Costing {
            roots: self.roots.with_params(params),
            ..self
        }
    }
}

/// Why one expression produced no usable value.
#[derive(Debug, Clone)]
pub(crate) enum ExprFailure {
    Execution(ExecutionError),
    NotBool(String),
    Cost(CostFailure),
    /// A compiled evaluation stopped part way (step limit, request budget, deadline).
    Stopped(CostFailure),
    Variable {
        name: String,
        message: String,
    },
}

impl ExprFailure {
    pub(crate) fn describe(&self, field: &str, source: &str) -> String {
        match self {
            ExprFailure::Execution(e) => {
                format!("{field} `{source}` failed: {}", super::error_text::execution(e, source))
            }
            ExprFailure::NotBool(t) => format!("{field} `{source}` must return a bool, got {t}"),
            ExprFailure::Cost(c) => format!("{field} `{source}` was not run: {c}"),
            ExprFailure::Stopped(c) => format!("{field} `{source}` was stopped: {c}"),
            ExprFailure::Variable { name, message } => {
                format!("{field} `{source}` reads variables.{name}, which failed: {message}")
            }
        }
    }

    /// True when the expression was refused for its cost (the message then names the rule).
    pub(crate) fn is_cost(&self) -> bool {
        matches!(self, ExprFailure::Cost(_) | ExprFailure::Stopped(_))
    }
}

pub(crate) fn eval_val<'v>(
    expr: &CompiledExpr,
    scope: &Context<'_, 'v>,
    costing: Costing<'_>,
) -> Result<Box<dyn Val + 'v>, ExprFailure> {
    costing.charge(expr, scope)?;
    run_val(expr, scope)
}

/// Runs `expr` in `scope` without charging it (the caller did).
pub(crate) fn run_val<'v>(expr: &CompiledExpr, scope: &Context<'_, 'v>) -> Result<Box<dyn Val + 'v>, ExprFailure> {
    Value::resolve_val(&expr.expr, scope)
        .map(CowVal::into_owned)
        .map_err(ExprFailure::Execution)
}

/// Runs `expr` in `scope` as a value, without charging it (the caller did).
pub(crate) fn run_value(expr: &CompiledExpr, scope: &Context<'_, '_>) -> Result<Value, ExprFailure> {
    let val = Value::resolve_val(&expr.expr, scope).map_err(ExprFailure::Execution)?;
    to_value(&*val).map_err(ExprFailure::Execution)
}

/// Runs `expr` in `scope` as a bool, without charging it (the caller did).
pub(crate) fn run_bool(expr: &CompiledExpr, scope: &Context<'_, '_>) -> Result<bool, ExprFailure> {
    let val = Value::resolve_val(&expr.expr, scope).map_err(ExprFailure::Execution)?;
    match val.downcast_ref::<CelBool>() {
        Some(b) => Ok(*b.inner()),
        None => Err(ExprFailure::NotBool(val.get_type().name().to_owned())),
    }
}
