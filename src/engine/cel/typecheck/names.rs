//! Which functions the environment declares, asked of the interpreter itself, and the declared
//! name closest to a misspelt one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, Env, ExecutionError, Value};

/// Names the suggestions are drawn from (only those the environment declares are offered).
const VOCABULARY: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "matches",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "duration",
    "timestamp",
    "dyn",
    "type",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
    "charAt",
    "indexOf",
    "lastIndexOf",
    "lowerAscii",
    "upperAscii",
    "replace",
    "split",
    "substring",
    "trim",
    "join",
    "format",
    "strings.quote",
    "reverse",
    "isSorted",
    "sum",
    "min",
    "max",
    "includes",
    "slice",
    "flatten",
    "distinct",
    "sort",
    "sortBy",
    "lists.range",
    "sets.contains",
    "sets.equivalent",
    "sets.intersects",
    "find",
    "findAll",
    "url",
    "isURL",
    "getScheme",
    "getHost",
    "getHostname",
    "getPort",
    "getEscapedPath",
    "getQuery",
    "ip",
    "isIP",
    "ip.isCanonical",
    "family",
    "isUnspecified",
    "isLoopback",
    "isLinkLocalMulticast",
    "isLinkLocalUnicast",
    "isGlobalUnicast",
    "cidr",
    "isCIDR",
    "containsIP",
    "containsCIDR",
    "prefixLength",
    "masked",
    "quantity",
    "isQuantity",
    "sign",
    "isInteger",
    "asInteger",
    "asApproximateFloat",
    "add",
    "sub",
    "compareTo",
    "isGreaterThan",
    "isLessThan",
    "semver",
    "isSemver",
    "major",
    "minor",
    "patch",
    "format.named",
    "validate",
    "optional.of",
    "optional.none",
    "optional.ofNonZeroValue",
    "hasValue",
    "value",
    "or",
    "orValue",
    "optMap",
    "optFlatMap",
    "math.greatest",
    "math.least",
    "math.abs",
    "math.ceil",
    "math.floor",
    "math.round",
    "math.trunc",
    "math.sign",
    "math.isNaN",
    "math.isInf",
    "math.isFinite",
    "math.bitAnd",
    "math.bitOr",
    "math.bitXor",
    "math.bitNot",
    "math.bitShiftLeft",
    "math.bitShiftRight",
    "math.sqrt",
    "base64.encode",
    "base64.decode",
    "jsonpatch.escapeKey",
    "promql.valid",
    "promql.error",
    "promql.metrics",
    "celgate.durationSeconds",
    "celgate.isDuration",
    "celgate.isCron",
    "format.dns1123Label",
    "format.dns1123Subdomain",
    "format.dns1035Label",
    "format.qualifiedName",
    "format.dns1123LabelPrefix",
    "format.dns1123SubdomainPrefix",
    "format.dns1035LabelPrefix",
    "format.labelValue",
    "format.uri",
    "format.uuid",
    "format.byte",
    "format.date",
    "format.datetime",
];

/// Whether `env` declares `name` (as a member function when `member`), asked of the
/// interpreter itself so the answer is the environment's, whatever registered it.
pub(super) fn declared(env: &Arc<Env>, name: &str, member: bool) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<(String, bool), bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Mutex::default);
    let key = (name.to_owned(), member);
    if let Some(known) = cache.lock().ok().and_then(|c| c.get(&key).copied()) {
        return known;
    }
    let probe = IdedExpr {
        id: 1,
        expr: Expr::Call(CallExpr {
            func_name: name.to_owned(),
            target: member.then(|| {
                Box::new(IdedExpr {
                    id: 2,
                    expr: Expr::Literal(LiteralValue::Null),
                })
            }),
            args: Vec::new(),
        }),
    };
    let ctx = Context::with_env(Arc::clone(env));
    let known = !matches!(
        Value::resolve_val(&probe, &ctx),
        Err(ExecutionError::UndeclaredReference(n)) if n.as_str() == name
    );
    if let Ok(mut c) = cache.lock() {
        c.insert(key, known);
    }
    known
}

/// Levenshtein distance, in characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The declared name closest to `name`, if one is close enough to be a likely typo.
pub(super) fn closest(env: &Arc<Env>, name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    VOCABULARY
        .iter()
        .filter(|v| **v != name)
        .map(|v| {
            let d = distance(&lower, &v.to_ascii_lowercase());
            (d, *v)
        })
        .filter(|(d, v)| *d <= (v.chars().count() / 3).max(2))
        .filter(|(_, v)| declared(env, v, false) || declared(env, v, true))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}
