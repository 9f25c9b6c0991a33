//! The Kubernetes list library (`k8s.io/apiserver/pkg/cel/library/lists.go`): `isSorted`,
//! `sum`, `min`, `max`, `indexOf`, `lastIndexOf` and `includes`, on list literals and on lists
//! of a document alike.

use std::cmp::Ordering;

use cel::common::types::{CelBool, CelInt, DYN_TYPE, LIST_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use crate::engine::cel::equality::cel_equals;

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "k8s_list_is_sorted", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "k8s_list_sum", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "k8s_list_min", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "k8s_list_max", LIST_TYPE, vec![], max)?;
    env.add_member_overload("indexOf", "k8s_list_index_of", LIST_TYPE, vec![DYN_TYPE], index_of)?;
    env.add_member_overload(
        "lastIndexOf",
        "k8s_list_last_index_of",
        LIST_TYPE,
        vec![DYN_TYPE],
        last_index_of,
    )?;
    env.add_member_overload("includes", "k8s_dyn_includes", DYN_TYPE, vec![DYN_TYPE], includes)?;
    Ok(())
}

/// The elements of the list `list`, which overload resolution guarantees is a list.
fn elements<'b, 'v>(function: &str, list: &'b (dyn Val + 'v)) -> Result<Vec<&'b (dyn Val + 'v)>, ExecutionError> {
    let iterable = list
        .as_iterable()
        .ok_or_else(|| ExecutionError::function_error(function, "expects a list"))?;
    let mut out = Vec::new();
    let mut items = iterable.iter();
    while let Some(item) = items.next() {
        out.push(item);
    }
    Ok(out)
}

/// `a` compared to `b`, an error naming `function` when they are not comparable.
fn compare(function: &str, a: &dyn Val, b: &dyn Val) -> Result<Ordering, ExecutionError> {
    let not_comparable = || {
        ExecutionError::function_error(
            function,
            format!(
                "list elements of types {} and {} are not comparable",
                a.get_type().name(),
                b.get_type().name()
            ),
        )
    };
    a.as_comparer()
        .ok_or_else(not_comparable)?
        .compare(b)
        .map_err(|_| not_comparable())
}

fn receiver<'a, 'b, 'v>(function: &str, args: &'a [CowVal<'b, 'v>]) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    args.first()
        .map(|a| &**a)
        .ok_or_else(|| ExecutionError::function_error(function, "expects a list receiver"))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements("isSorted", receiver("isSorted", &args)?)?;
    for pair in items.windows(2) {
        if compare("isSorted", pair[0], pair[1])? == Ordering::Greater {
            return Ok(CowVal::owned(CelBool::from(false)));
        }
    }
    Ok(CowVal::owned(CelBool::from(true)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements("sum", receiver("sum", &args)?)?;
    let Some((first, rest)) = items.split_first() else {
        return Ok(CowVal::owned(CelInt::from(0)));
    };
    // Kubernetes declares `sum` on lists of int, uint, double and duration only.
    let summable = |v: &dyn Val| {
        use cel::common::types::Kind;
        matches!(
            v.get_type().kind(),
            Kind::Int | Kind::UInt | Kind::Double | Kind::Duration
        )
    };
    if let Some(bad) = items.iter().find(|v| !summable(**v)) {
        return Err(ExecutionError::function_error(
            "sum",
            format!(
                "no such overload: sum is declared on lists of int, uint, double and duration, not of {}",
                bad.get_type().name()
            ),
        ));
    }
    let mut total: Box<dyn Val + 'v> = first.clone_as_boxed();
    for item in rest {
        let adder = total.as_adder().ok_or_else(|| {
            ExecutionError::function_error("sum", format!("cannot add values of type {}", first.get_type().name()))
        })?;
        let next = adder.add(*item).map_err(|_| {
            ExecutionError::function_error(
                "sum",
                format!(
                    "cannot add {} and {}: a list to sum holds numbers or durations of one type",
                    total.get_type().name(),
                    item.get_type().name()
                ),
            )
        })?;
        total = next.into_owned();
    }
    Ok(CowVal::Owned(total))
}

/// The element `prefer` picks over every other (`Less` for `min`, `Greater` for `max`).
fn extreme<'b, 'v>(
    function: &str,
    args: &[CowVal<'b, 'v>],
    prefer: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let items = elements(function, receiver(function, args)?)?;
    let Some((first, rest)) = items.split_first() else {
        return Err(ExecutionError::function_error(
            function,
            format!("{function} called on empty list"),
        ));
    };
    let mut best = *first;
    for item in rest {
        if compare(function, *item, best)? == prefer {
            best = *item;
        }
    }
    Ok(CowVal::Owned(best.clone_as_boxed()))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("min", &args, Ordering::Less)
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme("max", &args, Ordering::Greater)
}

/// Position of the first (or last) element equal to the needle, or -1.
fn position(function: &str, args: &[CowVal<'_, '_>], last: bool) -> Result<i64, ExecutionError> {
    let items = elements(function, receiver(function, args)?)?;
    let needle = args
        .get(1)
        .ok_or_else(|| ExecutionError::function_error(function, "expects one argument"))?;
    let found = if last {
        items.iter().rposition(|i| cel_equals(*i, &**needle))
    } else {
        items.iter().position(|i| cel_equals(*i, &**needle))
    };
    Ok(found.and_then(|i| i64::try_from(i).ok()).unwrap_or(-1))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::owned(CelInt::from(position("indexOf", &args, false)?)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn last_index_of<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    Ok(CowVal::owned(CelInt::from(position("lastIndexOf", &args, true)?)))
}

/// `list.includes(x)`: whether the list holds `x`; on anything else, whether it equals `x`.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn includes<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let [target, needle] = args.as_slice() else {
        return Err(ExecutionError::function_error("includes", "expects one argument"));
    };
    let found = if target.get_type().kind() == cel::common::types::Kind::List {
        elements("includes", &**target)?
            .iter()
            .any(|i| cel_equals(*i, &**needle))
    } else {
        cel_equals(&**target, &**needle)
    };
    Ok(CowVal::owned(CelBool::from(found)))
}
