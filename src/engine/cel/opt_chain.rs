//! Optional field chains ending in a default, `x.?a.?b.orValue(d)`, in one call.
//!
//! The interpreter runs such a chain as one `_?._` per field, each boxing an `optional` around
//! the member it found, then a member call `orValue`. At load ([`fuse`]) the chain becomes
//! `__celgate_opt_or(d, x, 'a', 'b')`, which walks the fields itself with the same semantics:
//! * `d` is evaluated first, then `x` (a member call's argument before its target), and an
//!   error of either is the chain's error;
//! * `x` that is an `optional` is unwrapped once (none: the result is `d`); every later field is
//!   looked up in what the previous one found, as is;
//! * a value with no indexer, or a field it does not have, makes the result `d`; otherwise the
//!   result is what the last field found.

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use cel::common::types::{CelOptional, CelString};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;

/// Function a fused chain calls: `(default, operand, field...)`.
pub const OPT_OR: &str = "__celgate_opt_or";

/// Most fields in a chain that is fused (one overload per length).
pub const MAX_FIELDS: usize = 8;

/// Rewrites every `x.?f1...?fn.orValue(d)` (1 ≤ n ≤ [`MAX_FIELDS`], fields as the parser writes
/// them) in `expr` into a call of [`OPT_OR`]; inner chains first.
pub fn fuse(expr: &mut IdedExpr) {
    for child in super::ast::children_mut(expr) {
        fuse(child);
    }
    let Expr::Call(call) = &mut expr.expr else {
        return;
    };
    if call.func_name != "orValue" || call.args.len() != 1 {
        return;
    }
    let Some(target) = call.target.as_deref() else {
        return;
    };
    // Walk down the `_?._` calls, outermost (last field) first.
    let mut fields = Vec::new();
    let mut operand = target;
    while let Some(inner) = opt_select(operand) {
        fields.push(inner.1);
        operand = inner.0;
    }
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return;
    }
    let fields: Vec<IdedExpr> = fields.into_iter().rev().cloned().collect();
    let operand = operand.clone();
    let mut args = Vec::with_capacity(fields.len() + 2);
    args.append(&mut call.args);
    args.push(operand);
    args.extend(fields);
    call.target = None;
    call.args = args;
    OPT_OR.clone_into(&mut call.func_name);
}

/// `(operand, field)` of `operand.?field` with a string literal field.
fn opt_select(expr: &IdedExpr) -> Option<(&IdedExpr, &IdedExpr)> {
    let Expr::Call(call) = &expr.expr else {
        return None;
    };
    let [operand, field] = call.args.as_slice() else {
        return None;
    };
    let is_field = matches!(field.expr, Expr::Literal(LiteralValue::String(_)));
    (call.func_name == "_?._" && call.target.is_none() && is_field).then_some((operand, field))
}

/// `__celgate_opt_or(default, operand, field...)`: see the module doc.
pub fn opt_or<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let mut args = args.into_iter();
    let (Some(default), Some(operand)) = (args.next(), args.next()) else {
        return Err(ExecutionError::function_error(
            "orValue",
            "expects a default and an operand",
        ));
    };
    let Some(mut current) = unwrap_once(operand) else {
        return Ok(default);
    };
    for field in args {
        let Some(name) = field.downcast_ref::<CelString>() else {
            return Err(ExecutionError::function_error("_?._", "field must be string"));
        };
        match member(current, name) {
            Some(found) => current = found,
            None => return Ok(default),
        }
    }
    Ok(current)
}

/// The value in `value` when it is an `optional` (`None` when empty), else `value` itself.
fn unwrap_once<'b, 'v>(value: CowVal<'b, 'v>) -> Option<CowVal<'b, 'v>> {
    let inner = match &value {
        CowVal::Borrowed(v) => match v.downcast_ref::<CelOptional>() {
            None => return Some(value),
            Some(opt) => return opt.option().map(CowVal::Borrowed),
        },
        CowVal::Owned(b) => match b.downcast_ref::<CelOptional>() {
            None => return Some(value),
            Some(opt) => opt.option().map(Val::clone_as_boxed),
        },
    };
    inner.map(CowVal::Owned)
}

/// The member `name` of `value`, or `None` when it has none (or is no container).
fn member<'b, 'v>(value: CowVal<'b, 'v>, name: &CelString) -> Option<CowVal<'b, 'v>> {
    match value {
        CowVal::Borrowed(v) => v.as_indexer()?.get(name).ok(),
        CowVal::Owned(b) => b.as_indexer()?.get(name).ok().map(|v| CowVal::Owned(v.into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fused(source: &str) -> IdedExpr {
        let env = super::super::compile::environment();
        let mut expr = env.compile(source).unwrap().expression().clone();
        fuse(&mut expr);
        expr
    }

    fn call_name(expr: &IdedExpr) -> &str {
        match &expr.expr {
            Expr::Call(call) => &call.func_name,
            _ => "",
        }
    }

    #[test]
    fn chains_become_one_call() {
        let expr = fused("item.?securityContext.?privileged.orValue(false)");
        assert_eq!(call_name(&expr), OPT_OR);
        let Expr::Call(call) = &expr.expr else { unreachable!() };
        assert_eq!(call.args.len(), 4);
        assert!(call.target.is_none());
    }

    #[test]
    fn other_shapes_are_left_alone() {
        assert_eq!(call_name(&fused("m[?'a'].orValue(1)")), "orValue");
        assert_eq!(call_name(&fused("optional.none().orValue(1)")), "orValue");
        assert_ne!(call_name(&fused("m.?a.b")), OPT_OR);
    }

    /// The result of `source` as written and fused, on the same bindings, must be the same.
    #[test]
    fn fused_chains_evaluate_as_written() {
        let env = super::super::compile::environment();
        let json = serde_json::json!({"spec": {"c": null, "n": 1, "m": {"k": "v"}, "l": [1]}});
        let cases = [
            "{'a': 2}.?a.orValue(1)",
            "{'a': 2}.?b.orValue(1)",
            "{'a': {'b': null}}.?a.?b.orValue(1)",
            "optional.of({'a': {'b': 3}}).?a.?b.orValue(0)",
            "optional.none().?a.orValue(0)",
            "optional.of(optional.of({'a': 1})).?a.orValue(0)",
            "{'a': optional.of({'b': 1})}.?a.?b.orValue(0)",
            "{'a': optional.of(5)}.?a.orValue(0)",
            "null.?a.orValue(0)",
            "'text'.?a.orValue(0)",
            "1.?a.orValue(0)",
            "[1, 2].?a.orValue(0)",
            "{1: 'x'}.?a.orValue(0)",
            "{'a': 1}.?a.orValue(1 / 0)",
            "nope.?a.orValue(1 / 0)",
            "nope.?a.orValue(0)",
            "object.?spec.?c.orValue(7)",
            "object.?spec.?c.?d.orValue(7)",
            "object.?spec.?n.?d.orValue(7)",
            "object.?spec.?x.orValue(7)",
            "object.?spec.?m.?k.orValue(7)",
            "object.?spec.?l.orValue([])",
            "object.?spec.?m.orValue({}).?k.orValue('none')",
            "[object.?spec.?m.?k.orValue(7), object.spec.?m.?x.orValue(8)]",
        ];
        for source in cases {
            let written = env.compile(source).unwrap().expression().clone();
            let mut fused = written.clone();
            fuse(&mut fused);
            let mut ctx = cel::Context::with_env(env.clone());
            ctx.add_variable_as_val("object", super::super::json_val::json_view(&json));
            let run = |expr: &IdedExpr| {
                cel::Value::resolve_val(expr, &ctx)
                    .and_then(|v| super::super::json_val::to_value(&*v))
                    .map_err(|e| e.to_string())
            };
            assert_eq!(run(&fused), run(&written), "{source}");
        }
    }
}
