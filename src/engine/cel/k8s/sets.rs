//! cel-go's sets extension as Kubernetes enables it: `sets.contains`, `sets.equivalent` and
//! `sets.intersects` over two lists, by CEL equality (so `1`, `1u` and `1.0` are one element).

use cel::common::types::{CelBool, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::engine::cel::equality::cel_equals;

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload(
        "sets.contains",
        "k8s_sets_contains",
        vec![LIST_TYPE, LIST_TYPE],
        contains,
    )?;
    env.add_overload(
        "sets.equivalent",
        "k8s_sets_equivalent",
        vec![LIST_TYPE, LIST_TYPE],
        equivalent,
    )?;
    env.add_overload(
        "sets.intersects",
        "k8s_sets_intersects",
        vec![LIST_TYPE, LIST_TYPE],
        intersects,
    )?;
    Ok(())
}

fn items<'b, 'v>(function: &str, list: &'b (dyn Val + 'v)) -> Result<Vec<&'b (dyn Val + 'v)>, ExecutionError> {
    let iterable = list
        .as_iterable()
        .ok_or_else(|| ExecutionError::function_error(function, "expects (list, list)"))?;
    let mut out = Vec::new();
    let mut it = iterable.iter();
    while let Some(item) = it.next() {
        out.push(item);
    }
    Ok(out)
}

/// Whether every element of `sub` equals some element of `of`.
fn all_in(sub: &[&dyn Val], of: &[&dyn Val]) -> bool {
    sub.iter().all(|x| of.iter().any(|y| cel_equals(*y, *x)))
}

fn two_lists<R>(
    function: &str,
    args: &[CowVal<'_, '_>],
    f: impl FnOnce(&[&dyn Val], &[&dyn Val]) -> R,
) -> Result<R, ExecutionError> {
    let [a, b] = args else {
        return Err(ExecutionError::function_error(function, "expects (list, list)"));
    };
    let (a, b) = (items(function, &**a)?, items(function, &**b)?);
    Ok(f(&a, &b))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn contains<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let r = two_lists("sets.contains", &args, |a, b| all_in(b, a))?;
    Ok(CowVal::owned(CelBool::from(r)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn equivalent<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let r = two_lists("sets.equivalent", &args, |a, b| all_in(a, b) && all_in(b, a))?;
    Ok(CowVal::owned(CelBool::from(r)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn intersects<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let r = two_lists("sets.intersects", &args, |a, b| {
        a.iter().any(|x| b.iter().any(|y| cel_equals(*x, *y)))
    })?;
    Ok(CowVal::owned(CelBool::from(r)))
}
