//! CEL equality that holds across value representations.
//!
//! Documents are seen by CEL through zero-copy views ([`super::json_val`]), while lists and maps
//! that expressions build are the `cel` crate's own types, whose equality only recognises their
//! own kind. So that `{'app': 'web'} == object.spec.selector`, `variables.ports == object.ports`
//! and `object.m in [{...}]` mean what they say, `==`, `!=` and `in` whose operands may both be
//! containers are rewritten at load to the functions here, which compare maps and lists
//! structurally and leave scalars to the crate's own (numeric-aware) equality.

use cel::common::types::{CelBool, Kind};
use cel::common::value::{CowVal, Val};
use cel::ExecutionError;

/// Function `a == b` is rewritten to.
pub const EQUALS: &str = "__celgate_equals";
/// Function `a != b` is rewritten to.
pub const NOT_EQUALS: &str = "__celgate_not_equals";
/// Function `a in b` is rewritten to.
pub const IN: &str = "__celgate_in";

/// Structural CEL equality: maps by their keys and values, lists element by element, anything
/// else by the left operand's own `equals`.
pub fn cel_equals(a: &dyn Val, b: &dyn Val) -> bool {
    match (a.get_type().kind(), b.get_type().kind()) {
        (Kind::Map, Kind::Map) => maps_equal(a, b),
        (Kind::List, Kind::List) => lists_equal(a, b),
        _ => a.equals(b),
    }
}

fn size_of(v: &dyn Val) -> Option<i64> {
    v.as_sizer().map(|s| *s.size().inner())
}

fn maps_equal(a: &dyn Val, b: &dyn Val) -> bool {
    let (Some(keys), Some(theirs)) = (a.as_iterable(), b.as_indexer()) else {
        return a.equals(b);
    };
    let (Some(mine), true) = (a.as_indexer(), size_of(a) == size_of(b)) else {
        return false;
    };
    let mut keys = keys.iter();
    while let Some(key) = keys.next() {
        let (Ok(x), Ok(y)) = (mine.get(key), theirs.get(key)) else {
            return false;
        };
        if !cel_equals(&*x, &*y) {
            return false;
        }
    }
    true
}

fn lists_equal(a: &dyn Val, b: &dyn Val) -> bool {
    let (Some(xs), Some(ys)) = (a.as_iterable(), b.as_iterable()) else {
        return a.equals(b);
    };
    if size_of(a) != size_of(b) {
        return false;
    }
    let (mut xs, mut ys) = (xs.iter(), ys.iter());
    loop {
        match (xs.next(), ys.next()) {
            (Some(x), Some(y)) if cel_equals(x, y) => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn two<'a>(args: &'a [CowVal<'_, '_>], name: &str) -> Result<(&'a dyn Val, &'a dyn Val), ExecutionError> {
    match args {
        [a, b] => Ok((&**a, &**b)),
        _ => Err(ExecutionError::function_error(name, "expects two arguments")),
    }
}

/// `a == b` across representations.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
pub fn equals_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = two(&args, "_==_")?;
    Ok(CowVal::owned(CelBool::from(cel_equals(a, b))))
}

/// `a != b` across representations.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
pub fn not_equals_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (a, b) = two(&args, "_!=_")?;
    Ok(CowVal::owned(CelBool::from(!cel_equals(a, b))))
}

/// `x in container`: a list holds `x` when an element equals it structurally; a map (or any
/// other container) answers itself.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
pub fn in_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (needle, haystack) = two(&args, "@in")?;
    let found = if haystack.get_type().kind() == Kind::List {
        let Some(items) = haystack.as_iterable() else {
            return Err(ExecutionError::function_error("@in", "list is not iterable"));
        };
        let mut items = items.iter();
        let mut found = false;
        while let Some(item) = items.next() {
            if cel_equals(item, needle) {
                found = true;
                break;
            }
        }
        found
    } else {
        let container = haystack.as_container().ok_or_else(|| {
            ExecutionError::no_such_overload(
                "@in",
                vec![
                    needle.get_type().name().to_owned(),
                    haystack.get_type().name().to_owned(),
                ],
            )
        })?;
        container.contains(needle)?
    };
    Ok(CowVal::owned(CelBool::from(found)))
}
