//! The runtime side: one [`CostMeter`] per input, charged with the estimate of every expression
//! before it runs.

use std::cell::Cell;
use std::fmt;

use super::{CostLimits, Poly, Sizes};
use crate::engine::cel::cost::InputLimits;
use crate::engine::cel::value::ValueStats;

/// Why an expression was not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostFailure {
    /// Its estimate at the input's sizes exceeds the per-expression limit.
    Expression {
        /// The estimate.
        estimate: u128,
        /// The limit.
        limit: u128,
        /// The input's sizes.
        sizes: Sizes,
    },
    /// The request's budget does not cover it.
    Request {
        /// The budget.
        budget: u128,
        /// What the expressions run before it used.
        spent: u128,
        /// Its own estimate (0 once the budget has run out).
        estimate: u128,
    },
}

impl fmt::Display for CostFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostFailure::Expression { estimate, limit, sizes } => write!(
                f,
                "its estimated cost ({estimate} steps, for the values it reads: their largest list or map has {} entries and their longest string {} bytes) exceeds the per-expression limit of {limit}",
                sizes.list, sizes.string
            ),
            CostFailure::Request { budget, spent, .. } => write!(
                f,
                "the CEL cost budget of this request ({budget} steps) is exhausted ({spent} spent by the expressions run before it)"
            ),
        }
    }
}

impl std::error::Error for CostFailure {}

/// Counts the estimated cost of the expressions run for one input. Not shared across threads:
/// one per evaluation.
#[derive(Debug)]
pub struct CostMeter {
    limits: CostLimits,
    spent: Cell<u128>,
    exhausted: Cell<bool>,
}

impl CostMeter {
    /// A meter with nothing spent.
    pub fn new(limits: CostLimits) -> CostMeter {
        CostMeter {
            limits,
            spent: Cell::new(0),
            exhausted: Cell::new(false),
        }
    }

    /// Charges the estimate of `cost` at `sizes`, or says why the expression must not run. Once
    /// an expression did not fit the budget, every later one is refused too (the rules after it
    /// are reported, not silently skipped).
    pub fn charge(&self, cost: &Poly, sizes: Sizes) -> Result<(), CostFailure> {
        let estimate = sizes.estimate(cost);
        if estimate > self.limits.per_expression {
            return Err(CostFailure::Expression {
                estimate,
                limit: self.limits.per_expression,
                sizes,
            });
        }
        self.check_budget()?;
        let spent = self.spent.get().saturating_add(estimate);
        if spent > self.limits.per_request {
            self.exhausted.set(true);
            return Err(CostFailure::Request {
                budget: self.limits.per_request,
                spent: self.spent.get(),
                estimate,
            });
        }
        self.spent.set(spent);
        Ok(())
    }

    /// `Err` once the budget has run out.
    pub fn check_budget(&self) -> Result<(), CostFailure> {
        if self.exhausted.get() {
            Err(CostFailure::Request {
                budget: self.limits.per_request,
                spent: self.spent.get(),
                estimate: 0,
            })
        } else {
            Ok(())
        }
    }

    /// The estimated cost of what ran so far.
    pub fn spent(&self) -> u128 {
        self.spent.get()
    }
}

/// The message when the input is larger than what a rule declares it is written for, or `None`.
pub fn declared_bound_exceeded(rule: &str, limits: InputLimits, stats: ValueStats) -> Option<String> {
    if let Some(max) = limits.max_list_length {
        if u64::try_from(stats.max_collection).unwrap_or(u64::MAX) > max {
            return Some(format!(
                "rule {rule} not evaluated: the input has a list or map of {} entries; rule {rule} is declared for at most {max} (inputLimits.maxListLength)",
                stats.max_collection
            ));
        }
    }
    if let Some(max) = limits.max_string_length {
        if u64::try_from(stats.max_string).unwrap_or(u64::MAX) > max {
            return Some(format!(
                "rule {rule} not evaluated: the input has a string of {} bytes; rule {rule} is declared for at most {max} (inputLimits.maxStringLength)",
                stats.max_string
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_and_stays_out() {
        let meter = CostMeter::new(CostLimits {
            per_expression: 100,
            per_request: 250,
        });
        let sizes = Sizes::new(10, 1);
        let ten_l = Poly::list().scale(10.0);
        assert!(matches!(
            meter.charge(&ten_l.mul(&Poly::list()), sizes),
            Err(CostFailure::Expression { estimate: 1000, .. })
        ));
        assert_eq!(meter.charge(&ten_l, sizes), Ok(()));
        assert_eq!(meter.charge(&ten_l, sizes), Ok(()));
        assert!(matches!(
            meter.charge(&ten_l, sizes),
            Err(CostFailure::Request { spent: 200, .. })
        ));
        // Even a cheap expression is refused now.
        assert!(meter.charge(&Poly::constant(1.0), sizes).is_err());
        assert_eq!(meter.spent(), 200);
    }

    #[test]
    fn declared_bounds_are_enforced_only_when_declared() {
        let stats = ValueStats {
            max_collection: 30,
            max_string: 5,
            nodes: 100,
            max_key: 5,
        };
        assert_eq!(declared_bound_exceeded("r", InputLimits::default(), stats), None);
        let limits = InputLimits {
            max_list_length: Some(20),
            max_string_length: None,
        };
        let message = declared_bound_exceeded("r", limits, stats).expect("over");
        assert!(
            message.contains("list or map of 30 entries; rule r is declared for at most 20"),
            "{message}"
        );
    }
}
