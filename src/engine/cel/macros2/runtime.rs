//! The functions the two-variable expansions call. Their names start with `@`, so CEL source
//! cannot call them.

use std::collections::HashMap;

use cel::common::types::{CelInt, CelList, CelMap, CelMapKey, Kind, DYN_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError};

/// `@celgate_entries(t)`: the `[index, element]` pairs of a list, or the `[key, value]` pairs of
/// a map; any other value is an error.
pub const ENTRIES: &str = "@celgate_entries";
/// `@celgate_map_of_pairs(l)`: the map of a list of `[key, value]` pairs (`transformMap`).
pub const MAP_OF_PAIRS: &str = "@celgate_map_of_pairs";
/// `@celgate_merge_maps(l)`: the union of a list of maps; a key in two of them is an error
/// (`transformMapEntry`).
pub const MERGE_MAPS: &str = "@celgate_merge_maps";

pub(super) fn register(env: &mut Env) {
    let functions: [(&str, &str, cel::common::functions::Function); 3] = [
        (ENTRIES, "celgate_entries_dyn", entries),
        (MAP_OF_PAIRS, "celgate_map_of_pairs_dyn", map_of_pairs),
        (MERGE_MAPS, "celgate_merge_maps_dyn", merge_maps),
    ];
    for (name, id, f) in functions {
        let _ = env.add_overload(name, id, vec![DYN_TYPE], f);
    }
}

/// The one argument the expansion always passes.
fn only_arg<'a, 'b, 'v>(function: &str, args: &'a [CowVal<'b, 'v>]) -> Result<&'a (dyn Val + 'v), ExecutionError> {
    match args {
        [arg] => Ok(&**arg),
        _ => Err(ExecutionError::function_error(function, "expects one argument")),
    }
}

fn not_iterable(val: &dyn Val) -> ExecutionError {
    ExecutionError::UnexpectedType {
        got: val.get_type().name().to_owned(),
        want: "list or map".to_owned(),
    }
}

/// Pairs each element (of a list) with its index, or each key (of a map) with its value.
#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn entries<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let target = only_arg(ENTRIES, &args)?;
    let kind = target.get_type().kind();
    let items = target.as_iterable().ok_or_else(|| not_iterable(target))?;
    let mut out: Vec<Box<dyn Val + 'v>> = Vec::new();
    let mut iter = items.iter();
    match kind {
        Kind::List => {
            let mut i: i64 = 0;
            while let Some(item) = iter.next() {
                let pair: Vec<Box<dyn Val + 'v>> = vec![Box::new(CelInt::from(i)), item.clone_as_boxed()];
                out.push(Box::new(CelList::from(pair)));
                i += 1;
            }
        }
        Kind::Map => {
            let map = target.as_indexer().ok_or_else(|| not_iterable(target))?;
            while let Some(key) = iter.next() {
                let value = map.get(key)?.into_owned();
                let pair: Vec<Box<dyn Val + 'v>> = vec![key.clone_as_boxed(), value];
                out.push(Box::new(CelList::from(pair)));
            }
        }
        _ => return Err(not_iterable(target)),
    }
    Ok(CowVal::owned(CelList::from(out)))
}

/// The elements of the list argument, taken without a copy when the argument is owned (the
/// result of the comprehension, as the expansion passes it).
fn elements<'v>(function: &str, arg: CowVal<'_, 'v>) -> Result<Vec<Box<dyn Val + 'v>>, ExecutionError> {
    match arg {
        CowVal::Owned(owned) => Vec::<Box<dyn Val + 'v>>::try_from(owned)
            .map_err(|_| ExecutionError::function_error(function, "expects a list")),
        CowVal::Borrowed(list) => {
            let items = list
                .as_iterable()
                .ok_or_else(|| ExecutionError::function_error(function, "expects a list"))?;
            let mut out = Vec::new();
            let mut iter = items.iter();
            while let Some(item) = iter.next() {
                out.push(item.clone_as_boxed());
            }
            Ok(out)
        }
    }
}

/// Builds the map of `transformMap` from its `[key, value]` pairs.
fn map_of_pairs<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let (Some(arg), true) = (args.pop(), args.is_empty()) else {
        return Err(ExecutionError::function_error("transformMap", "expects one argument"));
    };
    let pairs = elements("transformMap", arg)?;
    let mut map: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = HashMap::with_capacity(pairs.len());
    for pair in pairs {
        let Ok(mut pair) = Vec::<Box<dyn Val + 'v>>::try_from(pair) else {
            return Err(ExecutionError::function_error(
                "transformMap",
                "expects [key, value] pairs",
            ));
        };
        let (Some(value), Some(key), true) = (pair.pop(), pair.pop(), pair.is_empty()) else {
            return Err(ExecutionError::function_error(
                "transformMap",
                "expects [key, value] pairs",
            ));
        };
        map.insert(CelMapKey::try_from(key)?, value);
    }
    Ok(CowVal::owned(CelMap::from(map)))
}

/// Merges the maps `transformMapEntry`'s transform returned; a key produced twice is an error,
/// as is a transform that returned something other than a map.
fn merge_maps<'b, 'v>(mut args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    const NAME: &str = "transformMapEntry";
    let (Some(arg), true) = (args.pop(), args.is_empty()) else {
        return Err(ExecutionError::function_error(NAME, "expects one argument"));
    };
    let maps = elements(NAME, arg)?;
    let mut out: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = HashMap::new();
    for entry in &maps {
        let entry: &(dyn Val + 'v) = &**entry;
        let (Kind::Map, Some(keys), Some(values)) = (entry.get_type().kind(), entry.as_iterable(), entry.as_indexer())
        else {
            return Err(ExecutionError::function_error(
                NAME,
                format!("the transform must return a map, not a {}", entry.get_type().name()),
            ));
        };
        let mut keys = keys.iter();
        while let Some(key) = keys.next() {
            let value = values.get(key)?.into_owned();
            let key = CelMapKey::try_from(key.clone_as_boxed())?;
            if out.contains_key(&key) {
                return Err(ExecutionError::function_error(
                    NAME,
                    format!("the transforms produce the key {} more than once", describe(&key)),
                ));
            }
            out.insert(key, value);
        }
    }
    Ok(CowVal::owned(CelMap::from(out)))
}

fn describe(key: &CelMapKey<'_>) -> String {
    match key {
        CelMapKey::String(s) => format!("'{}'", s.inner()),
        CelMapKey::Int(i) => i.inner().to_string(),
        CelMapKey::UInt(u) => format!("{}u", u.inner()),
        CelMapKey::Bool(b) => b.inner().to_string(),
    }
}
