//! Counting steps and stopping: every node the evaluator runs, every loop iteration and the
//! elements a function walks are steps, counted against the expression's limit and what the
//! request has left; the deadline is looked at every [`DEADLINE_CHECK_EVERY`] steps.

use std::cell::Cell;
use std::time::Instant;

use super::EvalError;

/// How often (in steps) the clock is read.
pub const DEADLINE_CHECK_EVERY: u64 = 1024;

/// The steps a whole request may take, shared by every expression evaluated for it (on the
/// thread that judges the request).
#[derive(Debug)]
pub struct RequestBudget {
    remaining: Cell<u64>,
}

impl RequestBudget {
    /// A request budget of `steps`.
    pub fn new(steps: u64) -> RequestBudget {
        RequestBudget {
            remaining: Cell::new(steps),
        }
    }

    /// Steps left.
    pub fn remaining(&self) -> u64 {
        self.remaining.get()
    }

    /// Takes `steps` from what is left (down to zero).
    pub fn take(&self, steps: u64) {
        self.remaining.set(self.remaining().saturating_sub(steps));
    }
}

/// The limits of one evaluation.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most steps this expression may take.
    pub per_expression: u64,
    /// When to stop, whatever the steps.
    pub deadline: Option<Instant>,
}

impl Limits {
    /// Limits of `per_expression` steps and no deadline.
    pub fn steps(per_expression: u64) -> Limits {
        Limits {
            per_expression,
            deadline: None,
        }
    }
}

/// The meter of one running evaluation.
pub(crate) struct Meter {
    steps: u64,
    limit: u64,
    next_clock: u64,
    deadline: Option<Instant>,
}

impl Meter {
    pub(crate) fn new(limits: &Limits, request: &RequestBudget) -> Meter {
        Meter {
            steps: 0,
            limit: limits.per_expression.min(request.remaining()),
            next_clock: DEADLINE_CHECK_EVERY,
            deadline: limits.deadline,
        }
    }

    /// Counts `n` steps; an error once over the limit or past the deadline.
    #[inline]
    pub(crate) fn charge(&mut self, n: u64) -> Result<(), EvalError> {
        self.steps = self.steps.saturating_add(n);
        if self.steps > self.limit {
            return Err(EvalError::BudgetExceeded { limit: self.limit });
        }
        if self.steps >= self.next_clock {
            self.next_clock = self.steps + DEADLINE_CHECK_EVERY;
            if let Some(deadline) = self.deadline {
                if Instant::now() >= deadline {
                    return Err(EvalError::DeadlineExceeded { steps: self.steps });
                }
            }
        }
        Ok(())
    }

    /// Steps counted so far.
    pub(crate) fn steps(&self) -> u64 {
        self.steps
    }

    /// Takes the steps counted from the request's budget.
    pub(crate) fn settle(&self, request: &RequestBudget) {
        request.take(self.steps.min(self.limit));
    }
}
