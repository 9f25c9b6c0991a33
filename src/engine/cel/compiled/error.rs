//! The compiled evaluator's errors: [`Unsupported`] at compile time (the caller falls back to the
//! interpreter), [`EvalError`] at run time, a small enum until it is reported.

use std::sync::Arc;

/// Why an expression could not be compiled: what it uses that the compiler does not cover.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported: {what}")]
pub struct Unsupported {
    /// The construct or function, as a person reads it (`function 'url'`, `struct literal`).
    pub what: String,
}

impl Unsupported {
    pub(crate) fn new(what: impl Into<String>) -> Unsupported {
        Unsupported { what: what.into() }
    }
}

/// Why an evaluation produced no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A map has no such key (or field).
    #[error("no such key: {0}")]
    NoSuchKey(Arc<str>),
    /// A list index out of range.
    #[error("index {0} out of range")]
    IndexOutOfRange(i64),
    /// No overload of the operator or function for the operand kinds.
    #[error("no such overload: {} applied to ({})", .0.function, .0.operands)]
    NoOverload(Box<NoOverload>),
    /// Integer arithmetic overflowed.
    #[error("{0} overflows")]
    Overflow(&'static str),
    /// Division or remainder by zero.
    #[error("{0} by zero")]
    DivideByZero(&'static str),
    /// A value of the wrong kind where a bool was needed.
    #[error("expected bool, got {0}")]
    NotBool(&'static str),
    /// A conversion or a function refused its argument.
    #[error("{}: {}", .0.function, .0.message)]
    Function(Box<FunctionError>),
    /// A regex that does not compile (a pattern computed at run time).
    #[error("invalid regex: {0}")]
    Regex(Box<str>),
    /// The interpreter, running a function the compiler hands to it, failed.
    #[error("{0}")]
    Interpreter(Box<str>),
    /// A pack variable failed (the caller says why).
    #[error("variable '{0}' failed")]
    Variable(Arc<str>),
    /// The expression's or the request's step budget is spent.
    #[error("evaluation exceeded its budget of {limit} steps")]
    BudgetExceeded {
        /// The limit that was reached (the smaller of the expression's and what the request had left).
        limit: u64,
    },
    /// The deadline passed while it ran.
    #[error("evaluation passed its deadline after {steps} steps")]
    DeadlineExceeded {
        /// Steps taken when the deadline was noticed.
        steps: u64,
    },
}

/// The operator or function an [`EvalError::NoOverload`] names, and the operand kinds (boxed:
/// every evaluation step returns a `Result` with an `EvalError` in it, so it is kept small).
#[derive(Debug, Clone, PartialEq)]
pub struct NoOverload {
    /// The operator or function.
    pub function: &'static str,
    /// The operand kinds.
    pub operands: String,
}

/// The function an [`EvalError::Function`] names, and why it refused its argument.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    /// The function.
    pub function: &'static str,
    /// Why.
    pub message: String,
}

impl EvalError {
    /// True for the errors that stop an evaluation whatever the expression does (budget,
    /// deadline): `||`, `&&` and comprehensions never absorb them.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            EvalError::BudgetExceeded { .. } | EvalError::DeadlineExceeded { .. }
        )
    }

    pub(crate) fn no_overload(function: &'static str, operands: &[&super::Value<'_>]) -> EvalError {
        let names: Vec<&str> = operands.iter().map(|v| v.type_name().unwrap_or("opaque")).collect();
        EvalError::NoOverload(Box::new(NoOverload {
            function,
            operands: names.join(", "),
        }))
    }

    pub(crate) fn function(function: &'static str, message: impl Into<String>) -> EvalError {
        EvalError::Function(Box::new(FunctionError {
            function,
            message: message.into(),
        }))
    }
}
