//! Calls the `cel` crate's interpreter runs for the evaluator: functions it does not implement
//! itself (Kubernetes libraries, timestamps, ...) and operand kinds its builtins leave alone.
//!
//! A [`Bridge`] is a one-call expression built at compile time, `f(@a0, @a1)` or
//! `@t.f(@a0)` (a namespace receiver such as `celgate.` or `optional.` is kept as written); at
//! run time the evaluated arguments are bound to those names in a fresh interpreter scope and the
//! call is resolved by the interpreter, with its overloads and its errors.

use std::sync::Arc;

use cel::common::ast::{CallExpr, Expr, IdedExpr};
use cel::{Context, Env};

use super::convert::{from_cow, to_val};
use super::{EvalError, Value};

/// One call handed to the interpreter.
#[derive(Debug)]
pub struct Bridge {
    /// The call over placeholder names.
    expr: IdedExpr,
    /// The placeholder names, in the order the values are given (receiver first).
    names: Vec<String>,
    /// The function's name, for reports.
    pub function: String,
}

/// What receives a bridged call.
pub enum Receiver {
    /// A global call: `f(args)`.
    None,
    /// A member call on a value: `x.f(args)`; the value comes first.
    Value,
    /// A call qualified by a namespace, kept as written: `celgate.isDuration(x)`.
    Namespace(IdedExpr),
}

fn ident(name: &str) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Ident(name.to_owned()),
    }
}

impl Bridge {
    /// The call `function` with `arity` arguments besides the receiver.
    pub fn new(function: &str, receiver: Receiver, arity: usize) -> Bridge {
        let mut names = Vec::with_capacity(arity + 1);
        let target = match receiver {
            Receiver::None => None,
            Receiver::Value => {
                names.push("@t".to_owned());
                Some(Box::new(ident("@t")))
            }
            Receiver::Namespace(ns) => Some(Box::new(ns)),
        };
        let args: Vec<IdedExpr> = (0..arity)
            .map(|i| {
                let name = format!("@a{i}");
                let arg = ident(&name);
                names.push(name);
                arg
            })
            .collect();
        Bridge {
            expr: IdedExpr {
                id: 0,
                expr: Expr::Call(CallExpr {
                    func_name: function.to_owned(),
                    target,
                    args,
                }),
            },
            names,
            function: function.to_owned(),
        }
    }

    /// Runs the call on `values` (receiver first).
    pub fn call<'v>(&self, env: &Arc<Env>, values: &[Value<'v>]) -> Result<Value<'v>, EvalError> {
        let mut ctx: Context<'_, 'v> = Context::with_env(env.clone());
        for (name, value) in self.names.iter().zip(values) {
            ctx.add_variable_as_val(name.clone(), to_val(value));
        }
        let result =
            cel::Value::resolve_val(&self.expr, &ctx).map_err(|e| EvalError::Interpreter(e.to_string().into()))?;
        from_cow(&result).map_err(|e| EvalError::Interpreter(e.to_string().into()))
    }
}

/// Evaluates an expression that reads no variable with the interpreter (constant folding, type
/// names): its value, or the error it would raise whenever it runs.
pub fn fold(env: &Arc<Env>, expr: &IdedExpr) -> Result<Value<'static>, EvalError> {
    let ctx: Context<'_, 'static> = Context::with_env(env.clone());
    let result = cel::Value::resolve_val(expr, &ctx).map_err(|e| EvalError::Interpreter(e.to_string().into()))?;
    from_cow(&result).map_err(|e| EvalError::Interpreter(e.to_string().into()))
}

/// Runs operator or function `function` (no receiver) on `values`, building the call on the
/// spot: for the rare operand kinds the evaluator's own operators leave to the interpreter.
pub fn op<'v>(env: &Arc<Env>, function: &str, values: &[Value<'v>]) -> Result<Value<'v>, EvalError> {
    Bridge::new(function, Receiver::None, values.len()).call(env, values)
}

/// `operand.field` (or `has(operand.field)` when `test`) by the interpreter.
pub fn select<'v>(env: &Arc<Env>, operand: &Value<'v>, field: &str, test: bool) -> Result<Value<'v>, EvalError> {
    let expr = IdedExpr {
        id: 0,
        expr: Expr::Select(cel::common::ast::SelectExpr {
            operand: Box::new(ident("@t")),
            field: field.to_owned(),
            test,
        }),
    };
    let mut ctx: Context<'_, 'v> = Context::with_env(env.clone());
    ctx.add_variable_as_val("@t", to_val(operand));
    let result = cel::Value::resolve_val(&expr, &ctx).map_err(|e| EvalError::Interpreter(e.to_string().into()))?;
    from_cow(&result).map_err(|e| EvalError::Interpreter(e.to_string().into()))
}
