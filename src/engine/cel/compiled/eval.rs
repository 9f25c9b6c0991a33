//! Running a compiled expression: one `match` per [`Node`], each counted as a step.

use std::sync::Arc;

use cel::Env;

use super::budget::Meter;
use super::builtins::{self, Outcome};
use super::ir::{ArithOp, CmpOp, EqConst, Node, OptChain, OptStep, Root};
use super::value::{json_member, json_members, Key, Map, Value};
use super::{bridge, ops, EvalError, Roots, Variables};

/// What one evaluation runs with.
pub(crate) struct Cx<'a, 'v> {
    pub roots: &'a Roots<'v>,
    pub vars: &'a dyn Variables<'v>,
    pub locals: &'a mut [Value<'v>],
    pub meter: Meter,
    pub env: &'a Arc<Env>,
}

/// The bool in `value`, or the error a non-bool is.
pub(crate) fn to_bool(value: Result<Value<'_>, EvalError>) -> Result<bool, EvalError> {
    match value {
        Ok(Value::Bool(b)) => Ok(b),
        Ok(other) => Err(EvalError::NotBool(other.type_name().unwrap_or("opaque"))),
        Err(e) => Err(e),
    }
}

fn root_name(root: Root) -> &'static str {
    match root {
        Root::Object => "object",
        Root::OldObject => "oldObject",
        Root::Request => "request",
        Root::Params => "params",
        Root::NamespaceObject => "namespaceObject",
        Root::Item => "item",
    }
}

/// Evaluates `node`. A thin dispatch: the leaves are read here, every other kind of node runs
/// in its own function, so the frame this (the most called) function sets up stays small.
pub(crate) fn eval<'v>(node: &Node, cx: &mut Cx<'_, 'v>) -> Result<Value<'v>, EvalError> {
    cx.meter.charge(1)?;
    match node {
        Node::Const(v) => Ok(v.clone()),
        Node::Local(slot) => cx
            .locals
            .get(*slot)
            .cloned()
            .ok_or_else(|| EvalError::Interpreter("unbound comprehension variable".into())),
        Node::Var(index) => cx.vars.get(*index),
        Node::Root(root) => cx
            .roots
            .get(*root)
            .map(Value::from_json)
            .ok_or_else(|| EvalError::NoSuchKey(Arc::from(root_name(*root)))),
        Node::Fail(e) => Err(e.clone()),
        Node::ItemPointer => item_pointer(cx),
        Node::Extra(index) => cx
            .roots
            .extra
            .get(*index)
            .map(|(_, json)| Value::from_json(json))
            .ok_or_else(|| EvalError::Interpreter("unbound extra root".into())),
        Node::Select(operand, field) => select(cx, operand, field),
        Node::Has(operand, field) => has(cx, operand, field),
        Node::Path(base, fields) => path(cx, base, fields),
        Node::HasPath(base, fields, last) => has_path(cx, base, fields, last),
        Node::Index(operand, index) => index_of(cx, operand, index),
        Node::OptChain(chain) => opt_chain(cx, chain),
        Node::And(a, b) => logical(cx, a, b, false),
        Node::Or(a, b) => logical(cx, a, b, true),
        Node::Not(a) => not(cx, a),
        Node::NotStrictlyFalse(a) => not_strictly_false(cx, a),
        Node::Cond(parts) => cond(cx, parts),
        Node::Eq(a, b, negate) => equals(cx, a, b, *negate),
        Node::EqConst(eq) => equals_constant(cx, eq),
        Node::In(needle, haystack) => contains(cx, needle, haystack),
        Node::Cmp(op, left, right) => compare(cx, *op, left, right),
        Node::Arith(op, left, right) => arith(cx, *op, left, right),
        Node::AddChain(first, added) => add_chain(cx, first, added),
        Node::Neg(a) => negate(cx, a),
        Node::List(elements, optional) => list(cx, elements, optional),
        Node::Map(entries) => map(cx, entries),
        Node::Call(builtin, args, fallback) => call(cx, *builtin, args, fallback.as_deref()),
        Node::Matches(text, re) => matches_regex(cx, text, re),
        Node::Bridge(bridge, args) => bridge_call(cx, bridge, args),
        Node::Loop(l) => super::comprehension::run(l, cx),
    }
}

#[inline(never)]
fn item_pointer<'v>(cx: &Cx<'_, 'v>) -> Result<Value<'v>, EvalError> {
    cx.roots
        .item_pointer
        .as_ref()
        .map(|p| Value::Str(super::value::Str::Owned(Arc::clone(p))))
        .ok_or_else(|| EvalError::NoSuchKey(Arc::from("itemPointer")))
}

#[inline(never)]
fn select<'v>(cx: &mut Cx<'_, 'v>, operand: &Node, field: &Arc<str>) -> Result<Value<'v>, EvalError> {
    let v = eval(operand, cx)?;
    match ops::select(&v, field) {
        Some(r) => r,
        None => bridge::select(cx.env, &v, field, false),
    }
}

#[inline(never)]
fn has<'v>(cx: &mut Cx<'_, 'v>, operand: &Node, field: &Arc<str>) -> Result<Value<'v>, EvalError> {
    let v = eval(operand, cx)?;
    has_field(cx, &v, field)
}

/// `has(v.field)` once `v` is known.
fn has_field<'v>(cx: &Cx<'_, 'v>, v: &Value<'v>, field: &Arc<str>) -> Result<Value<'v>, EvalError> {
    match ops::has(v, field) {
        Some(r) => r.map(Value::Bool),
        None => bridge::select(cx.env, v, field, true),
    }
}

#[inline(never)]
fn path<'v>(cx: &mut Cx<'_, 'v>, base: &Node, fields: &[Arc<str>]) -> Result<Value<'v>, EvalError> {
    let v = eval(base, cx)?;
    cx.meter.charge(fields.len() as u64)?;
    walk(cx, v, fields)
}

#[inline(never)]
fn has_path<'v>(
    cx: &mut Cx<'_, 'v>,
    base: &Node,
    fields: &[Arc<str>],
    last: &Arc<str>,
) -> Result<Value<'v>, EvalError> {
    let v = eval(base, cx)?;
    cx.meter.charge(fields.len() as u64)?;
    let v = walk(cx, v, fields)?;
    has_field(cx, &v, last)
}

#[inline(never)]
fn index_of<'v>(cx: &mut Cx<'_, 'v>, operand: &Node, index: &Node) -> Result<Value<'v>, EvalError> {
    let v = eval(operand, cx)?;
    let i = eval(index, cx)?;
    match ops::index(&v, &i) {
        Some(r) => r,
        None => bridge::op(cx.env, "_[_]", &[v, i]),
    }
}

#[inline(never)]
fn not<'v>(cx: &mut Cx<'_, 'v>, a: &Node) -> Result<Value<'v>, EvalError> {
    match eval(a, cx)? {
        Value::Bool(b) => Ok(Value::Bool(!b)),
        other => Err(EvalError::no_overload("!_", &[&other])),
    }
}

#[inline(never)]
fn not_strictly_false<'v>(cx: &mut Cx<'_, 'v>, a: &Node) -> Result<Value<'v>, EvalError> {
    match eval(a, cx) {
        Err(e) if e.is_fatal() => Err(e),
        Ok(Value::Bool(false)) => Ok(Value::Bool(false)),
        _ => Ok(Value::Bool(true)),
    }
}

#[inline(never)]
fn cond<'v>(cx: &mut Cx<'_, 'v>, parts: &[Node; 3]) -> Result<Value<'v>, EvalError> {
    let [c, t, f] = parts;
    if to_bool(eval(c, cx))? {
        eval(t, cx)
    } else {
        eval(f, cx)
    }
}

#[inline(never)]
fn equals<'v>(cx: &mut Cx<'_, 'v>, a: &Node, b: &Node, negate: bool) -> Result<Value<'v>, EvalError> {
    let x = eval(a, cx)?;
    let y = eval(b, cx)?;
    Ok(Value::Bool(ops::equals(&x, &y) != negate))
}

/// The steps are those of `Eq` over a `Const`: the constant's counted when it would have run.
#[inline(never)]
fn equals_constant<'v>(cx: &mut Cx<'_, 'v>, eq: &EqConst) -> Result<Value<'v>, EvalError> {
    if eq.constant_left {
        cx.meter.charge(1)?;
    }
    let x = eval(&eq.operand, cx)?;
    let equal = if eq.constant_left {
        ops::equals(&eq.constant, &x)
    } else {
        cx.meter.charge(1)?;
        ops::equals(&x, &eq.constant)
    };
    Ok(Value::Bool(equal != eq.negate))
}

#[inline(never)]
fn contains<'v>(cx: &mut Cx<'_, 'v>, needle: &Node, haystack: &Node) -> Result<Value<'v>, EvalError> {
    let x = eval(needle, cx)?;
    let y = eval(haystack, cx)?;
    let mut extra = 0;
    let found = ops::contains(&x, &y, &mut extra);
    cx.meter.charge(extra)?;
    match found {
        Some(found) => found.map(Value::Bool),
        None => bridge::op(cx.env, "@in", &[x, y]),
    }
}

#[inline(never)]
fn compare<'v>(cx: &mut Cx<'_, 'v>, op: CmpOp, left: &Node, right: &Node) -> Result<Value<'v>, EvalError> {
    let x = eval(left, cx)?;
    let y = eval(right, cx)?;
    match ops::compare(op, &x, &y) {
        Some(ordered) => ordered.map(Value::Bool),
        None => bridge::op(cx.env, cmp_name(op), &[x, y]),
    }
}

#[inline(never)]
fn arith<'v>(cx: &mut Cx<'_, 'v>, op: ArithOp, left: &Node, right: &Node) -> Result<Value<'v>, EvalError> {
    let x = eval(left, cx)?;
    let y = eval(right, cx)?;
    apply_arith(cx, op, x, y)
}

/// `x op y` of two evaluated operands, counting what the operation costs.
fn apply_arith<'v>(cx: &mut Cx<'_, 'v>, op: ArithOp, x: Value<'v>, y: Value<'v>) -> Result<Value<'v>, EvalError> {
    let mut extra = 0;
    let computed = ops::arith(op, &x, &y, &mut extra);
    cx.meter.charge(extra)?;
    match computed {
        Some(computed) => computed,
        None => bridge::op(cx.env, arith_name(op), &[x, y]),
    }
}

/// A sum being added up by [`add_chain`]: a value, or the text of a string sum so far.
enum Sum<'v> {
    Value(Value<'v>),
    Text(String),
}

impl<'v> Sum<'v> {
    fn into_value(self) -> Value<'v> {
        match self {
            Sum::Value(v) => v,
            Sum::Text(text) => Value::string(text),
        }
    }
}

/// `a + b + c ...`: each `+` as [`arith`] runs it, in the same order, with the same results,
/// errors and steps (the nested nodes it stands for are all entered before the first operand
/// runs); a run of strings is joined in one buffer and becomes one string at the end.
#[inline(never)]
fn add_chain<'v>(cx: &mut Cx<'_, 'v>, first: &Node, rest: &[Node]) -> Result<Value<'v>, EvalError> {
    for _ in 1..rest.len() {
        cx.meter.charge(1)?; // one at a time: a budget stops it where it stops the nested nodes
    }
    let mut sum = Sum::Value(eval(first, cx)?);
    for operand in rest {
        let y = eval(operand, cx)?;
        sum = match (sum, y) {
            (Sum::Text(mut text), Value::Str(s)) => {
                cx.meter.charge(((text.len() + s.as_str().len()) / 64) as u64)?;
                text.push_str(s.as_str());
                Sum::Text(text)
            }
            (Sum::Value(Value::Str(x)), Value::Str(s)) => {
                cx.meter.charge(((x.as_str().len() + s.as_str().len()) / 64) as u64)?;
                // Joining with '' is the other string itself, as `arith` has it.
                if s.as_str().is_empty() {
                    Sum::Value(Value::Str(x))
                } else if x.as_str().is_empty() {
                    Sum::Value(Value::Str(s))
                } else {
                    let (x, s) = (x.as_str(), s.as_str());
                    let mut text = String::with_capacity(x.len() + s.len() + ADD_CHAIN_TEXT_SLACK);
                    text.push_str(x);
                    text.push_str(s);
                    Sum::Text(text)
                }
            }
            (sum, y) => Sum::Value(apply_arith(cx, ArithOp::Add, sum.into_value(), y)?),
        };
    }
    Ok(sum.into_value())
}

/// Bytes a joined string reserves beyond its first two parts, for the parts after them.
const ADD_CHAIN_TEXT_SLACK: usize = 48;

#[inline(never)]
fn negate<'v>(cx: &mut Cx<'_, 'v>, a: &Node) -> Result<Value<'v>, EvalError> {
    match eval(a, cx)? {
        Value::Int(i) => i.checked_neg().map(Value::Int).ok_or(EvalError::Overflow("negate")),
        Value::Double(d) => Ok(Value::Double(-d)),
        other => bridge::op(cx.env, "-_", &[other]),
    }
}

#[inline(never)]
fn matches_regex<'v>(cx: &mut Cx<'_, 'v>, text: &Node, re: &regex::Regex) -> Result<Value<'v>, EvalError> {
    match eval(text, cx)? {
        Value::Str(s) => {
            cx.meter.charge((s.as_str().len() / 64) as u64)?;
            Ok(Value::Bool(re.is_match(s.as_str())))
        }
        other => bridge::op(cx.env, "__celgate_matches", &[other, Value::string(re.as_str())]),
    }
}

#[inline(never)]
fn bridge_call<'v>(cx: &mut Cx<'_, 'v>, bridge: &bridge::Bridge, args: &[Node]) -> Result<Value<'v>, EvalError> {
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(eval(a, cx)?);
    }
    bridged(cx, bridge.call(cx.env, &values))
}

#[inline(never)]
fn list<'v>(cx: &mut Cx<'_, 'v>, elements: &[Node], optional: &[usize]) -> Result<Value<'v>, EvalError> {
    let mut items = Vec::with_capacity(elements.len());
    for (i, e) in elements.iter().enumerate() {
        let v = eval(e, cx)?;
        match v {
            Value::Optional(inner) if optional.contains(&i) => {
                if let Some(inner) = inner {
                    items.push((*inner).clone());
                }
            }
            v => items.push(v),
        }
    }
    Ok(Value::list(items))
}

#[inline(never)]
fn map<'v>(cx: &mut Cx<'_, 'v>, entries: &[(Node, Node, bool)]) -> Result<Value<'v>, EvalError> {
    let mut out: Vec<(Key<'v>, Value<'v>)> = Vec::with_capacity(entries.len());
    for (k, v, optional) in entries {
        let key = eval(k, cx)?;
        let Some(key) = Key::of(&key) else {
            return Err(EvalError::no_overload("map key", &[&key]));
        };
        let value = match (eval(v, cx)?, optional) {
            (Value::Optional(None), true) => continue,
            (Value::Optional(Some(inner)), true) => (*inner).clone(),
            (v, _) => v,
        };
        // The environment refuses a key written twice (`cel`'s default).
        if out.iter().any(|(k, _)| k.same(&key)) {
            return Err(EvalError::function("map literal", "duplicate key"));
        }
        out.push((key, value));
    }
    Ok(Value::Map(Map::Owned(Arc::new(out))))
}

#[inline(never)]
fn call<'v>(
    cx: &mut Cx<'_, 'v>,
    builtin: builtins::Builtin,
    args: &[Node],
    fallback: Option<&bridge::Bridge>,
) -> Result<Value<'v>, EvalError> {
    // Builtins take at most three arguments: no allocation for them.
    let mut buf = [Value::Null, Value::Null, Value::Null];
    let mut spilled = Vec::new();
    let values: &[Value<'v>] = if args.len() <= buf.len() {
        for (slot, a) in buf.iter_mut().zip(args) {
            *slot = eval(a, cx)?;
        }
        &buf[..args.len()]
    } else {
        for a in args {
            spilled.push(eval(a, cx)?);
        }
        &spilled
    };
    let mut extra = 0;
    let outcome = builtins::call(builtin, values, &mut extra);
    cx.meter.charge(extra)?;
    match (outcome, fallback) {
        (Outcome::Done(r), _) => r,
        (Outcome::Other, Some(bridge)) => bridged(cx, bridge.call(cx.env, values)),
        (Outcome::Other, None) => Err(EvalError::no_overload("function", &values.iter().collect::<Vec<_>>())),
    }
}

/// Charges what an interpreter call returned by its size (it may have built a large list).
fn bridged<'v>(cx: &mut Cx<'_, 'v>, result: Result<Value<'v>, EvalError>) -> Result<Value<'v>, EvalError> {
    let size = match &result {
        Ok(Value::List(l)) => l.len(),
        Ok(Value::Map(m)) => m.len(),
        Ok(Value::Str(s)) => s.as_str().len() / 64,
        _ => 0,
    };
    cx.meter.charge(size as u64)?;
    result
}

fn cmp_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Lt => "_<_",
        CmpOp::Le => "_<=_",
        CmpOp::Gt => "_>_",
        CmpOp::Ge => "_>=_",
    }
}

fn arith_name(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "_+_",
        ArithOp::Sub => "_-_",
        ArithOp::Mul => "_*_",
        ArithOp::Div => "_/_",
        ArithOp::Rem => "_%_",
    }
}

/// `value.f1.f2...`: through the document's objects without building values, then (for
/// computed, optional or foreign values) select by select.
fn walk<'v>(cx: &Cx<'_, 'v>, value: Value<'v>, fields: &[Arc<str>]) -> Result<Value<'v>, EvalError> {
    let mut value = value;
    let mut done = 0;
    if let Value::Map(Map::Json(mut json)) = value {
        while let (Some(members), Some(field)) = (json_members(json), fields.get(done)) {
            json = json_member(members, field).ok_or_else(|| EvalError::NoSuchKey(field.clone()))?;
            done += 1;
        }
        value = Value::from_json(json);
    }
    for field in &fields[done..] {
        value = match ops::select(&value, field) {
            Some(r) => r?,
            None => bridge::select(cx.env, &value, field, false)?,
        };
    }
    Ok(value)
}

/// `a && b` (`or` false) or `a || b`, as the interpreter runs them: the right side's error is
/// the result unless the left side decided it, and an error on the left gives way to a deciding
/// right side.
#[inline(never)]
fn logical<'v>(cx: &mut Cx<'_, 'v>, a: &Node, b: &Node, or: bool) -> Result<Value<'v>, EvalError> {
    let left = to_bool(eval(a, cx));
    match &left {
        Err(e) if e.is_fatal() => return Err(e.clone()),
        Ok(l) if *l == or => return Ok(Value::Bool(or)),
        _ => {}
    }
    let right = eval(b, cx)?;
    match (left, right) {
        (Ok(_), Value::Bool(r)) => Ok(Value::Bool(r)),
        (Err(_), Value::Bool(r)) if r == or => Ok(Value::Bool(or)),
        (Err(e), _) => Err(e),
        (Ok(_), other) => Err(EvalError::no_overload(
            if or { "_||_" } else { "_&&_" },
            &[&Value::Bool(!or), &other],
        )),
    }
}

/// Where an optional chain stands: nothing found (`optional.none()`), or a value found. A
/// value the chain started from (not found by a step) is `wrapped` only if it was an
/// `optional` itself.
enum Found<'v> {
    None,
    Some { value: Value<'v>, wrapped: bool },
}

impl<'v> Found<'v> {
    /// What a value a step (or the chain's operand) gave stands for.
    fn of(value: Value<'v>) -> Found<'v> {
        match value {
            Value::Optional(None) => Found::None,
            Value::Optional(Some(inner)) => Found::Some {
                value: Arc::unwrap_or_clone(inner),
                wrapped: true,
            },
            value => Found::Some { value, wrapped: false },
        }
    }

    fn of_step(value: Option<Value<'v>>) -> Found<'v> {
        match value {
            Some(value) => Found::Some { value, wrapped: true },
            None => Found::None,
        }
    }
}

/// An [`OptChain`]: each step as `_?._` / `_[?_]` runs it on what the step before found,
/// without building the `optional`s in between.
#[inline(never)]
fn opt_chain<'v>(cx: &mut Cx<'_, 'v>, chain: &OptChain) -> Result<Value<'v>, EvalError> {
    cx.meter.charge(chain.counted)?;
    let early_default = match &chain.end {
        Some(end) if end.default_first => Some(eval(&end.default, cx)?),
        _ => None,
    };
    let mut at = Found::of(eval(&chain.operand, cx)?);
    for step in &chain.steps {
        at = match step {
            OptStep::Field(field) => match at {
                Found::None => Found::None,
                Found::Some { value, .. } => match &value {
                    Value::Map(map) => Found::of_step(map.get_str(field)),
                    Value::Foreign(_) => Found::of(bridge::op(cx.env, "_?._", &[value, Value::string(field.clone())])?),
                    _ => Found::None,
                },
            },
            OptStep::Index(index) => {
                let i = eval(index, cx)?;
                match at {
                    Found::None => Found::None,
                    Found::Some { value, wrapped } => {
                        // An `optional` of a list or map is indexed in place; of anything else it
                        // goes to the interpreter as the `optional` it is.
                        let value = if wrapped && !matches!(value, Value::List(_) | Value::Map(_)) {
                            Value::Optional(Some(Arc::new(value)))
                        } else {
                            value
                        };
                        match ops::lookup(&value, &i) {
                            Some(found) => Found::of_step(found),
                            None => Found::of(bridge::op(cx.env, "_[?_]", &[value, i])?),
                        }
                    }
                }
            }
        };
    }
    let Some(end) = &chain.end else {
        return Ok(match at {
            Found::None => Value::Optional(None),
            Found::Some { value, wrapped: true } => Value::Optional(Some(Arc::new(value))),
            Found::Some { value, wrapped: false } => value,
        });
    };
    let default = match early_default {
        Some(d) => d,
        None => eval(&end.default, cx)?,
    };
    Ok(match at {
        Found::None => default,
        Found::Some { value, .. } => value,
    })
}
