//! Comprehensions (`all`, `exists`, `exists_one`, `map`, `filter`, the two-variable forms), run
//! as the interpreter runs them: the condition before each element (so `all` and `exists` stop
//! at the first deciding element), `map`/`filter` appending in place, and an error of an
//! `all`/`exists` step kept until an element decides the result regardless of it.

use super::eval::{eval, to_bool, Cx};
use super::ir::{Loop, LoopShape, Node};
use super::value::{List, Map, Value};
use super::EvalError;

/// What a comprehension walks: a list's elements or a map's keys.
enum Range<'v> {
    List(List<'v>),
    Keys(Vec<Value<'v>>),
}

impl<'v> Range<'v> {
    fn of(value: Value<'v>) -> Result<Range<'v>, EvalError> {
        match value {
            Value::List(l) => Ok(Range::List(l)),
            Value::Map(m) => Ok(Range::Keys(keys(&m))),
            other => Err(EvalError::no_overload("comprehension", &[&other])),
        }
    }

    fn len(&self) -> usize {
        match self {
            Range::List(l) => l.len(),
            Range::Keys(k) => k.len(),
        }
    }

    fn get(&self, i: usize) -> Option<Value<'v>> {
        match self {
            Range::List(l) => l.get(i),
            Range::Keys(k) => k.get(i).cloned(),
        }
    }
}

fn keys<'v>(map: &Map<'v>) -> Vec<Value<'v>> {
    let mut out = Vec::with_capacity(map.len());
    let _ = map.try_each_key::<()>(|k| {
        out.push(k);
        Ok(true)
    });
    out
}

fn set<'v>(cx: &mut Cx<'_, 'v>, slot: usize, value: Value<'v>) {
    if let Some(s) = cx.locals.get_mut(slot) {
        *s = value;
    }
}

/// Runs one comprehension.
#[inline(never)]
pub(crate) fn run<'v>(l: &Loop, cx: &mut Cx<'_, 'v>) -> Result<Value<'v>, EvalError> {
    let init = eval(&l.init, cx)?;
    let range = eval(&l.range, cx)?;
    if let LoopShape::Append { guard, items } = &l.shape {
        if matches!(&init, Value::List(list) if list.is_empty()) {
            return append(l, guard.as_ref(), items, &Range::of(range)?, cx);
        }
    }
    let range = Range::of(range)?;
    if let LoopShape::Quantifier { or, pred } = &l.shape {
        return quantifier(l, *or, pred, &range, cx);
    }
    let fold_or = match l.shape {
        LoopShape::Fold { or } => Some(or),
        _ => None,
    };
    set(cx, l.accu_slot, init);
    let mut pending: Option<EvalError> = None;
    for i in 0..range.len() {
        cx.meter.charge(1)?;
        if !to_bool(eval(&l.cond, cx))? {
            break;
        }
        let Some(item) = range.get(i) else { break };
        set(cx, l.iter_slot, item);
        let step = eval(&l.step, cx);
        match (step, fold_or) {
            (Err(e), _) if e.is_fatal() => return Err(e),
            (Err(e), Some(_)) => pending = Some(e),
            (Err(e), None) => return Err(e),
            (Ok(accu), Some(or)) if pending.is_some() && !matches!(accu, Value::Bool(b) if b == or) => {}
            (Ok(accu), _) => {
                pending = None;
                set(cx, l.accu_slot, accu);
            }
        }
    }
    if let Some(e) = pending {
        return Err(e);
    }
    eval(&l.result, cx)
}

/// `all` (`or` false) or `exists`: the first element whose predicate is `or` decides; an error
/// decides only if no element does.
fn quantifier<'v>(
    l: &Loop,
    or: bool,
    pred: &Node,
    range: &Range<'v>,
    cx: &mut Cx<'_, 'v>,
) -> Result<Value<'v>, EvalError> {
    let mut pending: Option<EvalError> = None;
    for i in 0..range.len() {
        cx.meter.charge(1)?;
        let Some(item) = range.get(i) else { break };
        set(cx, l.iter_slot, item);
        match to_bool(eval(pred, cx)) {
            Ok(b) if b == or => {
                set(cx, l.accu_slot, Value::Bool(or));
                return Ok(Value::Bool(or));
            }
            Ok(_) => {}
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => pending = Some(e),
        }
    }
    match pending {
        Some(e) => Err(e),
        None => Ok(Value::Bool(!or)),
    }
}

/// `map`/`filter`: appends each step's items to one list.
fn append<'v>(
    l: &Loop,
    guard: Option<&Node>,
    items: &Node,
    range: &Range<'v>,
    cx: &mut Cx<'_, 'v>,
) -> Result<Value<'v>, EvalError> {
    // Allocated when the first item is appended (most filters over a document keep nothing).
    let mut out: Vec<Value<'v>> = Vec::new();
    for i in 0..range.len() {
        cx.meter.charge(1)?;
        if !to_bool(eval(&l.cond, cx))? {
            break;
        }
        let Some(item) = range.get(i) else { break };
        set(cx, l.iter_slot, item);
        if let Some(guard) = guard {
            if !to_bool(eval(guard, cx))? {
                continue;
            }
        }
        match items {
            Node::List(elements, optional) if optional.is_empty() => {
                out.reserve(range.len().max(elements.len()));
                for e in elements {
                    out.push(eval(e, cx)?);
                }
            }
            other => match eval(other, cx)? {
                Value::List(list) => {
                    let _ = list.try_each::<()>(|v| {
                        out.push(v);
                        Ok(true)
                    });
                }
                v => return Err(EvalError::no_overload("_+_", &[&Value::list(Vec::new()), &v])),
            },
        }
    }
    Ok(Value::list(out))
}
