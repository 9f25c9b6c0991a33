//! Operators on [`Value`]s: equality, ordering, arithmetic, membership, field and index access,
//! with the interpreter's semantics (as celgate runs it: `==`, `!=` and `in` structural across
//! document and computed containers, see `equality`). Operand kinds not handled
//! here answer `None`, and the evaluator asks the interpreter ([`super::bridge`]).

use std::cmp::Ordering;
use std::sync::Arc;

use super::convert::to_val;
use super::ir::{ArithOp, CmpOp};
use super::value::{Key, List, Map, Value};
use super::EvalError;

/// CEL equality across kinds: numbers by value, lists element-wise, maps by keys and values.
pub fn equals(a: &Value<'_>, b: &Value<'_>) -> bool {
    use Value as V;
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Bool(x), V::Bool(y)) => x == y,
        (V::Str(x), V::Str(y)) => x.as_str() == y.as_str(),
        (V::Int(_) | V::UInt(_) | V::Double(_), V::Int(_) | V::UInt(_) | V::Double(_)) => {
            numeric_cmp(a, b) == Some(Ordering::Equal)
        }
        (V::List(x), V::List(y)) => lists_equal(x, y),
        (V::Map(x), V::Map(y)) => maps_equal(x, y),
        (V::Type(x), V::Type(y)) => x == y,
        (V::Optional(_) | V::Foreign(_), _) | (_, V::Optional(_) | V::Foreign(_)) => {
            crate::engine::cel::equality::cel_equals(&*to_val(a), &*to_val(b))
        }
        _ => false,
    }
}

fn lists_equal(x: &List<'_>, y: &List<'_>) -> bool {
    x.len() == y.len() && (0..x.len()).all(|i| matches!((x.get(i), y.get(i)), (Some(a), Some(b)) if equals(&a, &b)))
}

fn maps_equal(x: &Map<'_>, y: &Map<'_>) -> bool {
    if x.len() != y.len() {
        return false;
    }
    x.entries().iter().all(|(k, v)| {
        let Some(key) = Key::of(k) else {
            return false;
        };
        y.get(&key).is_some_and(|w| equals(v, &w))
    })
}

/// Order of two numbers of any numeric kinds (`None`: not both numbers, or a NaN).
fn numeric_cmp(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    use Value as V;
    #[allow(clippy::cast_precision_loss)]
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::UInt(x), V::UInt(y)) => Some(x.cmp(y)),
        (V::Double(x), V::Double(y)) => x.partial_cmp(y),
        (V::Int(x), V::UInt(y)) => Some(u64::try_from(*x).map_or(Ordering::Less, |x| x.cmp(y))),
        (V::UInt(x), V::Int(y)) => Some(i64::try_from(*x).map_or(Ordering::Greater, |x| x.cmp(y))),
        (V::Int(x), V::Double(y)) => (*x as f64).partial_cmp(y),
        (V::UInt(x), V::Double(y)) => (*x as f64).partial_cmp(y),
        (V::Double(x), V::Int(y)) => x.partial_cmp(&(*y as f64)),
        (V::Double(x), V::UInt(y)) => x.partial_cmp(&(*y as f64)),
        _ => None,
    }
}

/// `a < b` and the like; `None` for kinds left to the interpreter.
pub fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>) -> Option<Result<bool, EvalError>> {
    use Value as V;
    let ordering = match (a, b) {
        (V::Int(_) | V::UInt(_) | V::Double(_), V::Int(_) | V::UInt(_) | V::Double(_)) => {
            numeric_cmp(a, b).ok_or_else(|| EvalError::function("compare", "values are not comparable (NaN)"))
        }
        (V::Str(x), V::Str(y)) => Ok(x.as_str().cmp(y.as_str())),
        (V::Bool(x), V::Bool(y)) => Ok(x.cmp(y)),
        (V::Foreign(_), _) | (_, V::Foreign(_)) => return None,
        _ => Err(EvalError::no_overload("compare", &[a, b])),
    };
    Some(ordering.map(|o| match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Le => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Ge => o != Ordering::Less,
    }))
}

/// `a + b` and the like on the kinds handled here; `None` for the rest.
pub fn arith<'v>(
    op: ArithOp,
    left: &Value<'v>,
    right: &Value<'v>,
    steps: &mut u64,
) -> Option<Result<Value<'v>, EvalError>> {
    use Value as V;
    let name = match op {
        ArithOp::Add => "add",
        ArithOp::Sub => "sub",
        ArithOp::Mul => "mul",
        ArithOp::Div => "div",
        ArithOp::Rem => "rem",
    };
    Some(match (op, left, right) {
        (_, V::Int(x), V::Int(y)) => int_op(op, *x, *y, name).map(V::Int),
        (_, V::UInt(x), V::UInt(y)) => uint_op(op, *x, *y, name).map(V::UInt),
        (ArithOp::Add, V::Double(x), V::Double(y)) => Ok(V::Double(x + y)),
        (ArithOp::Sub, V::Double(x), V::Double(y)) => Ok(V::Double(x - y)),
        (ArithOp::Mul, V::Double(x), V::Double(y)) => Ok(V::Double(x * y)),
        (ArithOp::Div, V::Double(x), V::Double(y)) => Ok(V::Double(x / y)),
        (ArithOp::Add, V::Str(x), V::Str(y)) => {
            *steps += ((x.as_str().len() + y.as_str().len()) / 64) as u64;
            // Joining with '' is the other string itself (values are immutable).
            if x.as_str().is_empty() {
                return Some(Ok(V::Str(y.clone())));
            }
            if y.as_str().is_empty() {
                return Some(Ok(V::Str(x.clone())));
            }
            let mut joined = String::with_capacity(x.as_str().len() + y.as_str().len());
            joined.push_str(x.as_str());
            joined.push_str(y.as_str());
            Ok(V::string(joined))
        }
        (ArithOp::Add, V::List(x), V::List(y)) => {
            *steps += (x.len() + y.len()) as u64;
            // Adding [] gives the other list itself (values are immutable).
            if x.is_empty() {
                return Some(Ok(V::List(y.clone())));
            }
            if y.is_empty() {
                return Some(Ok(V::List(x.clone())));
            }
            let mut items = Vec::with_capacity(x.len() + y.len());
            for l in [x, y] {
                let _ = l.try_each::<()>(|v| {
                    items.push(v);
                    Ok(true)
                });
            }
            Ok(V::list(items))
        }
        _ => return None,
    })
}

fn int_op(op: ArithOp, x: i64, y: i64, name: &'static str) -> Result<i64, EvalError> {
    match op {
        ArithOp::Add => x.checked_add(y),
        ArithOp::Sub => x.checked_sub(y),
        ArithOp::Mul => x.checked_mul(y),
        ArithOp::Div | ArithOp::Rem if y == 0 => return Err(EvalError::DivideByZero(name)),
        ArithOp::Div => x.checked_div(y),
        ArithOp::Rem => x.checked_rem(y),
    }
    .ok_or(EvalError::Overflow(name))
}

fn uint_op(op: ArithOp, x: u64, y: u64, name: &'static str) -> Result<u64, EvalError> {
    match op {
        ArithOp::Add => x.checked_add(y),
        ArithOp::Sub => x.checked_sub(y),
        ArithOp::Mul => x.checked_mul(y),
        ArithOp::Div | ArithOp::Rem if y == 0 => return Err(EvalError::DivideByZero(name)),
        ArithOp::Div => x.checked_div(y),
        ArithOp::Rem => x.checked_rem(y),
    }
    .ok_or(EvalError::Overflow(name))
}

/// `needle in haystack` for lists, and maps with string keys; `None` for the rest.
pub fn contains(needle: &Value<'_>, haystack: &Value<'_>, steps: &mut u64) -> Option<Result<bool, EvalError>> {
    match haystack {
        Value::List(list) => {
            let mut found = false;
            let _ = list.try_each::<()>(|item| {
                *steps += 1;
                found = equals(needle, &item);
                Ok(!found)
            });
            Some(Ok(found))
        }
        Value::Map(map) => match needle {
            Value::Str(s) => Some(Ok(map.get_str(s.as_str()).is_some())),
            _ => None,
        },
        Value::Foreign(_) | Value::Optional(_) => None,
        _ => Some(Err(EvalError::no_overload("@in", &[needle, haystack]))),
    }
}

/// `operand.field`: a map's entry; `None` for optionals and foreign values.
pub fn select<'v>(operand: &Value<'v>, field: &Arc<str>) -> Option<Result<Value<'v>, EvalError>> {
    match operand {
        Value::Map(map) => Some(map.get_str(field).ok_or_else(|| EvalError::NoSuchKey(field.clone()))),
        Value::Optional(_) | Value::Foreign(_) => None,
        other => Some(Err(EvalError::no_overload("_._", &[other]))),
    }
}

/// `has(operand.field)`; `None` for optionals and foreign values.
pub fn has(operand: &Value<'_>, field: &str) -> Option<Result<bool, EvalError>> {
    match operand {
        Value::Map(map) => Some(Ok(map.get_str(field).is_some())),
        Value::Optional(_) | Value::Foreign(_) => None,
        other => Some(Err(EvalError::no_overload("has", &[other]))),
    }
}

/// `operand[index]` on lists (by `int`) and maps; `None` for the kinds left to the interpreter.
pub fn index<'v>(operand: &Value<'v>, index: &Value<'v>) -> Option<Result<Value<'v>, EvalError>> {
    let found = lookup(operand, index)?;
    Some(found.ok_or_else(|| match index {
        Value::Int(i) => EvalError::IndexOutOfRange(*i),
        other => EvalError::NoSuchKey(Arc::from(other.as_str().unwrap_or_default())),
    }))
}

/// What [`index`] finds, without the error a missing element would be (`x[?k]` wants none):
/// `Some(None)` when a list or map has no such element, `None` for operand kinds left to the
/// interpreter.
pub fn lookup<'v>(operand: &Value<'v>, index: &Value<'v>) -> Option<Option<Value<'v>>> {
    match (operand, index) {
        (Value::List(list), Value::Int(i)) => Some(usize::try_from(*i).ok().and_then(|at| list.get(at))),
        (Value::Map(map), Value::Str(s)) => Some(map.get_str(s.as_str())),
        _ => None,
    }
}
