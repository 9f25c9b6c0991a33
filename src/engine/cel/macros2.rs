//! Two-variable comprehensions: cel-go's `TwoVarComprehensions` extension, which Kubernetes
//! (1.33+) offers to admission CEL and the `cel` crate does not have.
//!
//! | form | result |
//! |---|---|
//! | `t.all(i, v, p)`, `t.exists(i, v, p)`, `t.existsOne(i, v, p)` (also `exists_one`) | `bool` |
//! | `t.transformList(i, v, [filter,] e)` | the list of `e` |
//! | `t.transformMap(i, v, [filter,] e)` | a map from each index or key to its `e` |
//! | `t.transformMapEntry(i, v, [filter,] e)` | the maps `e` returns merged; a key twice is an error |
//!
//! On a list `i` is the index and `v` the element; on a map `i` is the key and `v` its value.
//!
//! They are macros of the parser ([`register`] adds them to the environment), so every later
//! load check (unknown variables, nesting, cost) sees the expansion. A call is rewritten into a
//! one-variable comprehension the crate evaluates, over the `[index or key, value]` pairs of the
//! target ([`ENTRIES`], which evaluates the target once and copies no document):
//!
//! ```text
//! t.all(i, v, p)  =>  @entries(t).all(@e, p[i := @e[0], v := @e[1]])
//! ```
//!
//! `@e` is a name CEL source cannot write, made unique per call (`@e<id>`) so an expansion
//! nested in another cannot capture the outer one's pair; the substitution stops where an inner
//! comprehension binds `i` or `v` again (shadowing). `transformMap` and `transformMapEntry`
//! collect a list (the crate appends to it in place) and turn it into a map once, at the end
//! ([`MAP_OF_PAIRS`], [`MERGE_MAPS`]): building the map entry by entry would copy it each time.

mod runtime;

use cel::common::ast::{operators, CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue};
use cel::parser::{Macro, MacroExprHelper, ParseError};
use cel::Env;

pub use runtime::{ENTRIES, MAP_OF_PAIRS, MERGE_MAPS};

/// The quantifiers: `(name, what the loop computes)`.
const QUANTIFIERS: [(&str, Kind); 4] = [
    ("all", Kind::All),
    ("exists", Kind::Exists),
    ("existsOne", Kind::ExistsOne),
    (operators::EXISTS_ONE, Kind::ExistsOne),
];

/// The transforms, each with and without a filter.
const TRANSFORMS: [(&str, Kind); 3] = [
    ("transformList", Kind::TransformList),
    ("transformMap", Kind::TransformMap),
    ("transformMapEntry", Kind::TransformMapEntry),
];

/// The accumulator name the crate's own macros use; CEL source cannot write it.
const ACCU: &str = "@result";

/// What one two-variable comprehension computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    All,
    Exists,
    ExistsOne,
    TransformList,
    TransformMap,
    TransformMapEntry,
}

/// Adds the two-variable macros and the functions their expansions call to `env`.
///
/// Each macro is for its exact arity (three arguments, or four for a transform with a filter);
/// a transform with any other number of arguments is refused with an error naming it, as is a
/// quantifier with other than two or three (the crate's one-variable macros keep two).
pub fn register(env: &mut Env) {
    // `add_macro` and `add_overload` fail only on a duplicate; these names are not in the
    // standard library or the extensions (a test proves it on celgate's environment).
    for (name, kind) in QUANTIFIERS {
        let _ = env.add_macro(Macro::receiver(name, 3, move |h, t, a| expand(name, kind, h, t, a)));
        let _ = env.add_macro(Macro::receiver_var_arg(name, move |h, _, a| {
            Err(arity_error(
                h,
                name,
                a.len(),
                "(x, predicate) or (index, value, predicate)",
            ))
        }));
    }
    for (name, kind) in TRANSFORMS {
        for arity in [3, 4] {
            let _ = env.add_macro(Macro::receiver(name, arity, move |h, t, a| expand(name, kind, h, t, a)));
        }
        let _ = env.add_macro(Macro::receiver_var_arg(name, move |h, _, a| {
            Err(arity_error(
                h,
                name,
                a.len(),
                "(index, value, transform) or (index, value, filter, transform)",
            ))
        }));
    }
    runtime::register(env);
}

fn arity_error(helper: &mut MacroExprHelper<'_>, name: &str, count: usize, forms: &str) -> ParseError {
    let at = helper.next_expr(Expr::Unspecified);
    helper.new_error(at.id, format!("{name} takes {forms}, not {count} argument(s)"))
}

/// The expansion of `target.name(args)` with three or four arguments.
fn expand(
    name: &'static str,
    kind: Kind,
    helper: &mut MacroExprHelper<'_>,
    target: &mut Option<IdedExpr>,
    args: &mut Vec<IdedExpr>,
) -> Result<Option<IdedExpr>, ParseError> {
    let (Some(first), Some(second)) = (args.first(), args.get(1)) else {
        return Err(arity_error(helper, name, args.len(), "two loop variables first"));
    };
    let index_var = loop_variable(helper, name, first)?;
    let value_var = loop_variable(helper, name, second)?;
    if index_var == value_var {
        return Err(helper.new_error(
            second.id,
            format!("{name}: the two loop variables are both named '{index_var}'; they must differ"),
        ));
    }
    let Some(target) = target.take() else {
        return Err(arity_error(helper, name, args.len(), "a list or map target"));
    };
    let mut rest: Vec<IdedExpr> = args.drain(..).skip(2).collect();

    let range = call(helper, ENTRIES, vec![target]);
    let pair = format!("@e{}", range.id);
    let vars = [(index_var.as_str(), 0), (value_var.as_str(), 1)];
    for e in &mut rest {
        substitute(helper, e, &vars, &pair);
    }
    let (Some(body), filter) = (rest.pop(), rest.pop()) else {
        return Err(arity_error(helper, name, 2, "a predicate or transform"));
    };
    let expanded = match kind {
        Kind::All => quantifier(helper, range, pair, true, body),
        Kind::Exists => quantifier(helper, range, pair, false, body),
        Kind::ExistsOne => exists_one(helper, range, pair, body),
        Kind::TransformList => collect(helper, range, pair, filter, body),
        Kind::TransformMap => {
            let key = index(helper, &pair, 0);
            let entry = list(helper, vec![key, body]);
            let pairs = collect(helper, range, pair, filter, entry);
            call(helper, MAP_OF_PAIRS, vec![pairs])
        }
        Kind::TransformMapEntry => {
            let maps = collect(helper, range, pair, filter, body);
            call(helper, MERGE_MAPS, vec![maps])
        }
    };
    Ok(Some(expanded))
}

fn loop_variable(helper: &MacroExprHelper<'_>, name: &str, arg: &IdedExpr) -> Result<String, ParseError> {
    match &arg.expr {
        Expr::Ident(ident) => Ok(ident.clone()),
        _ => Err(helper.new_error(
            arg.id,
            format!("{name}: the loop variables must be simple names, as in {name}(i, v, ...)"),
        )),
    }
}

/// Replaces each free `vars[n].0` in `expr` by `pair[vars[n].1]`, leaving the places where an
/// inner comprehension binds that name again.
fn substitute(helper: &mut MacroExprHelper<'_>, expr: &mut IdedExpr, vars: &[(&str, i64)], pair: &str) {
    if vars.is_empty() {
        return;
    }
    match &mut expr.expr {
        Expr::Ident(ident) => {
            if let Some(&(_, n)) = vars.iter().find(|(v, _)| v == ident) {
                *expr = index(helper, pair, n);
            }
        }
        Expr::Select(select) => substitute(helper, &mut select.operand, vars, pair),
        Expr::Call(c) => {
            if let Some(t) = c.target.as_deref_mut() {
                substitute(helper, t, vars, pair);
            }
            for a in &mut c.args {
                substitute(helper, a, vars, pair);
            }
        }
        Expr::Comprehension(c) => {
            substitute(helper, &mut c.iter_range, vars, pair);
            substitute(helper, &mut c.accu_init, vars, pair);
            let bound = |v: &str| v == c.iter_var || v == c.accu_var || c.iter_var2.as_deref() == Some(v);
            let inner: Vec<(&str, i64)> = vars.iter().copied().filter(|(v, _)| !bound(v)).collect();
            for e in [&mut c.loop_cond, &mut c.loop_step, &mut c.result] {
                substitute(helper, e, &inner, pair);
            }
        }
        Expr::List(l) => {
            for e in &mut l.elements {
                substitute(helper, e, vars, pair);
            }
        }
        Expr::Map(m) => {
            for entry in &mut m.entries {
                if let EntryExpr::MapEntry(e) = &mut entry.expr {
                    substitute(helper, &mut e.key, vars, pair);
                    substitute(helper, &mut e.value, vars, pair);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &mut s.entries {
                if let EntryExpr::StructField(f) = &mut entry.expr {
                    substitute(helper, &mut f.value, vars, pair);
                }
            }
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn call(helper: &mut MacroExprHelper<'_>, func: &str, args: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::Call(CallExpr {
        func_name: func.to_owned(),
        target: None,
        args,
    }))
}

fn ident(helper: &mut MacroExprHelper<'_>, name: &str) -> IdedExpr {
    helper.next_expr(Expr::Ident(name.to_owned()))
}

fn literal(helper: &mut MacroExprHelper<'_>, value: LiteralValue) -> IdedExpr {
    helper.next_expr(Expr::Literal(value))
}

fn list(helper: &mut MacroExprHelper<'_>, elements: Vec<IdedExpr>) -> IdedExpr {
    helper.next_expr(Expr::List(ListExpr::new(elements)))
}

/// `pair[n]`.
fn index(helper: &mut MacroExprHelper<'_>, pair: &str, n: i64) -> IdedExpr {
    let p = ident(helper, pair);
    let n = literal(helper, LiteralValue::Int(n.into()));
    call(helper, operators::INDEX, vec![p, n])
}

/// The comprehension over `range` binding `pair`, in the shape of the crate's own macros (so its
/// short-circuit, error absorption and in-place append apply).
fn comprehension(helper: &mut MacroExprHelper<'_>, range: IdedExpr, pair: String, parts: [IdedExpr; 4]) -> IdedExpr {
    let [accu_init, loop_cond, loop_step, result] = parts;
    helper.next_expr(Expr::Comprehension(Box::new(ComprehensionExpr {
        iter_range: range,
        iter_var: pair,
        iter_var2: None,
        accu_var: ACCU.to_owned(),
        accu_init,
        loop_cond,
        loop_step,
        result,
    })))
}

/// `all` (`conjunction`) or `exists`: `@result && p` until false, or `@result || p` until true.
fn quantifier(
    helper: &mut MacroExprHelper<'_>,
    range: IdedExpr,
    pair: String,
    conjunction: bool,
    predicate: IdedExpr,
) -> IdedExpr {
    let init = literal(helper, LiteralValue::Boolean(conjunction.into()));
    let accu = ident(helper, ACCU);
    let going = if conjunction {
        accu
    } else {
        call(helper, operators::LOGICAL_NOT, vec![accu])
    };
    let cond = call(helper, operators::NOT_STRICTLY_FALSE, vec![going]);
    let accu = ident(helper, ACCU);
    let op = if conjunction {
        operators::LOGICAL_AND
    } else {
        operators::LOGICAL_OR
    };
    let step = call(helper, op, vec![accu, predicate]);
    let result = ident(helper, ACCU);
    comprehension(helper, range, pair, [init, cond, step, result])
}

/// `existsOne`: counts the matches without stopping early, then compares the count with one.
fn exists_one(helper: &mut MacroExprHelper<'_>, range: IdedExpr, pair: String, predicate: IdedExpr) -> IdedExpr {
    let init = literal(helper, LiteralValue::Int(0.into()));
    let cond = literal(helper, LiteralValue::Boolean(true.into()));
    let accu = ident(helper, ACCU);
    let one = literal(helper, LiteralValue::Int(1.into()));
    let plus_one = call(helper, operators::ADD, vec![accu, one]);
    let accu = ident(helper, ACCU);
    let step = call(helper, operators::CONDITIONAL, vec![predicate, plus_one, accu]);
    let accu = ident(helper, ACCU);
    let one = literal(helper, LiteralValue::Int(1.into()));
    let result = call(helper, operators::EQUALS, vec![accu, one]);
    comprehension(helper, range, pair, [init, cond, step, result])
}

/// The list of `item` for each pair (that passes `filter`): `@result + [item]`.
fn collect(
    helper: &mut MacroExprHelper<'_>,
    range: IdedExpr,
    pair: String,
    filter: Option<IdedExpr>,
    item: IdedExpr,
) -> IdedExpr {
    let init = list(helper, Vec::new());
    let cond = literal(helper, LiteralValue::Boolean(true.into()));
    let accu = ident(helper, ACCU);
    let items = list(helper, vec![item]);
    let mut step = call(helper, operators::ADD, vec![accu, items]);
    if let Some(filter) = filter {
        let accu = ident(helper, ACCU);
        step = call(helper, operators::CONDITIONAL, vec![filter, step, accu]);
    }
    let result = ident(helper, ACCU);
    comprehension(helper, range, pair, [init, cond, step, result])
}

#[cfg(test)]
#[path = "tests/macros2.rs"]
mod tests;
