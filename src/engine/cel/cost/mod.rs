//! Bounding what CEL may cost, as Kubernetes does: the `cel` interpreter has no step counter or
//! timeout, so celgate estimates each expression's worst case at load and checks it again, with
//! the input's actual sizes, before every run.
//!
//! - [`estimate()`] turns an expression into a [`Poly`] in `L` (most entries of a list or map)
//!   and `S` (most bytes of a string); the unit is one evaluation step, roughly one node of the
//!   tree, with string and regex functions charged per byte as cel-go and Kubernetes charge them.
//! - **At load** the estimate, at the rule's declared [`InputLimits`] (or the defaults
//!   [`DEFAULT_MAX_LIST_LENGTH`], [`DEFAULT_MAX_STRING_LENGTH`]), must not exceed
//!   [`MAX_EXPRESSION_COST`]; [`check_load`] says which bounds it used and how to fix it.
//! - **At run time** ([`CostMeter`]) each expression's estimate at the input's sizes must stay
//!   under [`CostLimits::per_expression`], and the estimates of the expressions run for one input
//!   (every pack, every `forEach` item, the second pass after a patch) add up to at most
//!   [`CostLimits::per_request`]. An input larger than a *declared* bound is refused for that rule.
//!
//! The runtime figure is the estimate evaluated on the actual input, an upper bound, not a count
//! of the steps the interpreter took.

mod estimate;
mod functions;
mod meter;
mod poly;
pub mod reads;
pub mod sizes;
#[cfg(test)]
mod tests;

pub use estimate::estimate;
pub use functions::{REGEX, TRAVERSAL};
pub use meter::{declared_bound_exceeded, CostFailure, CostMeter};
pub use poly::Poly;

use serde::{Deserialize, Serialize};

/// Largest estimated cost of one expression, at load (at its input bounds) and at run time (at
/// the input's sizes), in evaluation steps. The value of Kubernetes' per-expression limit on
/// the estimated cost of a CRD validation rule (`StaticEstimatedCostLimit`); Kubernetes counts
/// about 50 ns per unit.
pub const MAX_EXPRESSION_COST: u128 = 10_000_000;

/// Default budget of all expressions run for one input, in the same unit: ten expressions at
/// the per-expression limit. Kubernetes allows 10 000 000 per policy binding; celgate's budget
/// spans every pack at once.
pub const DEFAULT_REQUEST_COST: u128 = 100_000_000;

/// List (and map) length the load-time estimate assumes when a rule declares none.
pub const DEFAULT_MAX_LIST_LENGTH: u64 = 128;

/// String length (bytes) the load-time estimate assumes when a rule declares none.
pub const DEFAULT_MAX_STRING_LENGTH: u64 = 256;

/// `inputLimits`: the largest lists (or maps) and strings the expressions are written for, like
/// `maxItems` / `maxLength` in a Kubernetes schema. Unset fields fall back to the pack's, then
/// to the defaults here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct InputLimits {
    /// Most entries of any list or map of the input.
    #[serde(default)]
    pub max_list_length: Option<u64>,
    /// Longest string of the input, in bytes.
    #[serde(default)]
    pub max_string_length: Option<u64>,
}

impl InputLimits {
    /// These limits, with the fields they leave unset taken from `outer` (a rule's over its pack's).
    #[must_use]
    pub fn or(self, outer: Option<InputLimits>) -> InputLimits {
        let outer = outer.unwrap_or_default();
        InputLimits {
            max_list_length: self.max_list_length.or(outer.max_list_length),
            max_string_length: self.max_string_length.or(outer.max_string_length),
        }
    }
}

/// The runtime limits an engine enforces (server config: `limits.celCostPerExpression`,
/// `limits.celCostPerRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLimits {
    /// Largest estimate of one expression at the input's sizes; over it the expression is not run.
    pub per_expression: u128,
    /// Sum of the estimates of the expressions run for one input; once spent, the rules not yet
    /// evaluated become evaluation errors.
    pub per_request: u128,
}

impl Default for CostLimits {
    fn default() -> Self {
        CostLimits {
            per_expression: MAX_EXPRESSION_COST,
            per_request: DEFAULT_REQUEST_COST,
        }
    }
}

/// The sizes an estimate is evaluated at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Most entries of a list or map.
    pub list: u64,
    /// Most bytes of a string of the input.
    pub string: u64,
    /// Most bytes of a string of the params.
    pub param_string: u64,
    /// Most bytes of a key of a map of the input.
    pub key: u64,
}

impl Sizes {
    /// Lists of `list` entries, and strings (of the input and the params) of `string` bytes.
    pub fn new(list: u64, string: u64) -> Sizes {
        Sizes {
            list,
            string,
            param_string: string,
            key: string,
        }
    }

    /// The declared bounds, with the defaults for what is not declared; params strings at the
    /// default string bound (a bound on the input says nothing of the params), keys at the
    /// string bound.
    pub fn bounds(limits: InputLimits) -> Sizes {
        let string = limits.max_string_length.unwrap_or(DEFAULT_MAX_STRING_LENGTH);
        Sizes {
            list: limits.max_list_length.unwrap_or(DEFAULT_MAX_LIST_LENGTH),
            string,
            param_string: DEFAULT_MAX_STRING_LENGTH,
            key: string,
        }
    }

    /// The sizes of the values an expression reads: of the input (`doc`) and of the params.
    pub fn of_reads(reads: sizes::ReadSizes) -> Sizes {
        let wide = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        Sizes {
            list: wide(reads.doc.max_collection.max(reads.params.max_collection)),
            string: wide(reads.doc.max_string),
            param_string: wide(reads.params.max_string),
            key: wide(reads.doc.max_key.max(reads.params.max_key)),
        }
    }

    /// The estimate of `cost` at these sizes.
    pub fn estimate(&self, cost: &Poly) -> u128 {
        cost.at_sizes([self.list, self.string, self.param_string, self.key])
    }
}

/// An expression whose estimate at its input bounds exceeds [`MAX_EXPRESSION_COST`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "estimated cost {estimate} exceeds the per-expression limit of {limit} (steps, estimated for lists of up to {list} entries ({list_origin}) and strings of up to {string} bytes ({string_origin}); the cost grows as {growth}, {legend}); {hint}"
)]
pub struct TooCostly {
    /// The estimate at the bounds.
    pub estimate: u128,
    /// The limit.
    pub limit: u128,
    /// List bound used.
    pub list: u64,
    /// `declared` or `default`.
    pub list_origin: &'static str,
    /// String bound used.
    pub string: u64,
    /// `declared` or `default`.
    pub string_origin: &'static str,
    /// What the letters of `growth` stand for.
    pub legend: String,
    /// The leading terms of the estimate (`L^3`).
    pub growth: String,
    /// How to fix it.
    pub hint: &'static str,
}

/// Where bounds can be declared, for the advice a refusal gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundsSite {
    /// A rule or pack variable of a rule pack: `inputLimits` can be declared.
    Pack,
    /// An admission policy: the defaults always apply.
    Policy,
}

/// Checks the estimate of `cost` at the bounds `limits` (defaults for what is undeclared)
/// against [`MAX_EXPRESSION_COST`].
pub fn check_load(cost: &Poly, limits: InputLimits, site: BoundsSite) -> Result<(), Box<TooCostly>> {
    let sizes = Sizes::bounds(limits);
    let estimate = sizes.estimate(cost);
    if estimate <= MAX_EXPRESSION_COST {
        return Ok(());
    }
    let origin = |declared: bool| if declared { "declared" } else { "default" };
    Err(Box::new(TooCostly {
        estimate,
        limit: MAX_EXPRESSION_COST,
        list: sizes.list,
        list_origin: origin(limits.max_list_length.is_some()),
        string: sizes.string,
        string_origin: origin(limits.max_string_length.is_some()),
        legend: legend(cost, sizes),
        growth: cost.to_string(),
        hint: match site {
            BoundsSite::Pack => "declare the input it is written for with smaller bounds (`inputLimits: {maxListLength: N, maxStringLength: N}` on the rule, or `spec.inputLimits` on the pack), or restructure it: fewer nested macros, filter before nesting, look values up in a map instead of scanning a list",
            BoundsSite::Policy => "admission policies are estimated at the default bounds; restructure it: fewer nested macros, filter before nesting, look values up in a map instead of scanning a list",
        },
    }))
}

/// What the letters of a cost's growth stand for.
fn legend(cost: &Poly, sizes: Sizes) -> String {
    let mut out = "L = list length, S = string length".to_owned();
    if cost.has_param_strings() {
        out.push_str(", P = length of a params string (estimated at ");
        out.push_str(&sizes.param_string.to_string());
        out.push_str(" bytes)");
    }
    if cost.has_keys() {
        out.push_str(", K = length of a map key (at most S)");
    }
    out
}

/// A declared input bound of 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be at least 1")]
pub struct ZeroBound {
    /// `maxListLength` or `maxStringLength`.
    pub name: &'static str,
}

/// Checks declared bounds for sense: each at least 1.
pub fn validate_limits(limits: InputLimits) -> Result<(), ZeroBound> {
    for (name, value) in [
        ("maxListLength", limits.max_list_length),
        ("maxStringLength", limits.max_string_length),
    ] {
        if value == Some(0) {
            return Err(ZeroBound { name });
        }
    }
    Ok(())
}
