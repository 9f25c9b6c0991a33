//! The runtime side: one [`CostMeter`] per input. Expressions the compiled evaluator runs count
//! their real steps against it (the per-expression limit, the request's budget and its
//! deadline, [`CostMeter::step_limits`]); expressions the interpreter runs are charged their
//! estimate before they run, from the same budget.

use std::cell::Cell;
use std::fmt;
use std::time::Instant;

use super::{CostLimits, Poly, Sizes};
use crate::engine::cel::compiled::{EvalError, Limits, RequestBudget};
use crate::engine::cel::cost::InputLimits;
use crate::engine::cel::value::ValueStats;

/// Why an expression was not run, or was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostFailure {
    /// Its estimate at the input's sizes exceeds the per-expression limit (interpreter only).
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
        /// Its own estimate (0 once the budget has run out, or when it was counting steps).
        estimate: u128,
    },
    /// It ran past the per-expression limit of steps and was stopped.
    Steps {
        /// The limit.
        limit: u64,
    },
    /// The request's deadline passed (while it ran, or before it started).
    Deadline {
        /// Steps the request had taken when it was stopped.
        steps: u128,
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
            CostFailure::Steps { limit } => write!(
                f,
                "it ran past the per-expression limit of {limit} steps (it loops over more of the input than a rule should)"
            ),
            CostFailure::Deadline { steps } => write!(
                f,
                "the evaluation deadline of this request passed ({steps} steps taken)"
            ),
        }
    }
}

impl std::error::Error for CostFailure {}

/// Counts the cost of the expressions run for one input. Not shared across threads: one per
/// evaluation.
#[derive(Debug)]
pub struct CostMeter {
    limits: CostLimits,
    /// What is left of the request's budget, in steps (estimates are taken from it too).
    steps: RequestBudget,
    /// The budget it started with.
    initial: u64,
    exhausted: Cell<bool>,
    deadline: Option<Instant>,
    deadline_passed: Cell<bool>,
}

impl CostMeter {
    /// A meter with nothing spent and no deadline.
    pub fn new(limits: CostLimits) -> CostMeter {
        let initial = u64::try_from(limits.per_request).unwrap_or(u64::MAX);
        CostMeter {
            limits,
            steps: RequestBudget::new(initial),
            initial,
            exhausted: Cell::new(false),
            deadline: None,
            deadline_passed: Cell::new(false),
        }
    }

    /// The same meter, stopping what runs at `deadline`.
    #[must_use]
    pub fn with_deadline(self, deadline: Option<Instant>) -> CostMeter {
        CostMeter { deadline, ..self }
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
        if estimate > u128::from(self.steps.remaining()) {
            self.exhausted.set(true);
            return Err(CostFailure::Request {
                budget: self.limits.per_request,
                spent: self.spent(),
                estimate,
            });
        }
        self.steps.take(u64::try_from(estimate).unwrap_or(u64::MAX));
        Ok(())
    }

    /// `Err` once the budget has run out or the deadline has passed.
    pub fn check_budget(&self) -> Result<(), CostFailure> {
        if !self.deadline_passed.get() && self.deadline.is_some_and(|d| Instant::now() >= d) {
            self.deadline_passed.set(true);
        }
        if self.deadline_passed.get() {
            Err(CostFailure::Deadline { steps: self.spent() })
        } else if self.exhausted.get() {
            Err(CostFailure::Request {
                budget: self.limits.per_request,
                spent: self.spent(),
                estimate: 0,
            })
        } else {
            Ok(())
        }
    }

    /// The limits of one compiled evaluation: the per-expression limit and the deadline.
    pub fn step_limits(&self) -> Limits {
        Limits {
            per_expression: u64::try_from(self.limits.per_expression).unwrap_or(u64::MAX),
            deadline: self.deadline,
        }
    }

    /// What is left of the request's budget, for compiled evaluations to count against.
    pub fn step_budget(&self) -> &RequestBudget {
        &self.steps
    }

    /// Why a compiled evaluation stopped, when `error` is a stop (budget or deadline); the
    /// request's budget or deadline, once spent, refuses every later expression too.
    pub fn stopped(&self, error: &EvalError) -> Option<CostFailure> {
        match error {
            EvalError::BudgetExceeded { limit } => {
                if u128::from(*limit) < self.limits.per_expression {
                    self.exhausted.set(true);
                    Some(CostFailure::Request {
                        budget: self.limits.per_request,
                        spent: self.spent(),
                        estimate: 0,
                    })
                } else {
                    Some(CostFailure::Steps { limit: *limit })
                }
            }
            EvalError::DeadlineExceeded { .. } => {
                self.deadline_passed.set(true);
                Some(CostFailure::Deadline { steps: self.spent() })
            }
            _ => None,
        }
    }

    /// The cost of what ran so far: steps counted plus estimates charged.
    pub fn spent(&self) -> u128 {
        u128::from(self.initial - self.steps.remaining())
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
