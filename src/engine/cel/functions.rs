//! celgate's own CEL functions: checks of Prometheus queries (`promql.*`) and duration / cron validation
//! (`celgate.*`). All are pure functions of their arguments, registered on the shared environment
//! by [`register`]; see the "Functions" section of `docs/pack-format.md`.

use std::collections::BTreeSet;

use cel::common::functions::Function;
use cel::common::types::{CelBool, CelInt, CelList, CelString, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{Env, ExecutionError};

/// Function namespaces of the extensions and of celgate's own functions
/// (`lists.range(3)` is a call, not a read of `lists`).
pub(crate) const FUNCTION_NAMESPACES: &[&str] =
    &["lists", "strings", "math", "base64", "promql", "celgate", "jsonpatch"];

/// `promql.valid(string) -> bool`.
pub const PROMQL_VALID: &str = "promql.valid";
/// `promql.error(string) -> string`.
pub const PROMQL_ERROR: &str = "promql.error";
/// `promql.metrics(string) -> list<string>`.
pub const PROMQL_METRICS: &str = "promql.metrics";
/// `celgate.durationSeconds(string) -> int`.
pub const DURATION_SECONDS: &str = "celgate.durationSeconds";
/// `celgate.isDuration(string) -> bool`.
pub const IS_DURATION: &str = "celgate.isDuration";
/// `celgate.isCron(string) -> bool`.
pub const IS_CRON: &str = "celgate.isCron";

/// Registers every function of this module on `env`, each with one `(string)` overload.
pub fn register(env: &mut Env) {
    let functions: [(&str, &str, Function); 6] = [
        (PROMQL_VALID, "celgate_promql_valid_string", promql_valid_fn),
        (PROMQL_ERROR, "celgate_promql_error_string", promql_error_fn),
        (PROMQL_METRICS, "celgate_promql_metrics_string", promql_metrics_fn),
        (DURATION_SECONDS, "celgate_duration_seconds_string", duration_seconds_fn),
        (IS_DURATION, "celgate_is_duration_string", is_duration_fn),
        (IS_CRON, "celgate_is_cron_string", is_cron_fn),
    ];
    for (name, id, f) in functions {
        // Only fails on a name clash, which these fixed, namespaced names cannot have.
        let _ = env.add_overload(name, id, vec![STRING_TYPE], f);
    }
}

/// The single string argument of a call to `function`.
fn string_arg<'a>(function: &str, args: &'a [CowVal<'_, '_>]) -> Result<&'a str, ExecutionError> {
    match (args.len(), args.first().and_then(|a| a.downcast_ref::<CelString>())) {
        (1, Some(s)) => Ok(s.inner()),
        _ => Err(ExecutionError::function_error(function, "expects (string)")),
    }
}

// ---------------------------------------------------------------------------------------------
// PromQL

/// Longest text the `promql.*` functions parse, in bytes.
pub const MAX_PROMQL_LEN: usize = 10_000;

/// Parses `source` as a Prometheus query expression; `Err` holds the parser's message.
///
/// The parser is a third-party crate run on untrusted text, so a panic inside it is turned into
/// an error rather than taking the evaluation down.
/// Text longer than [`MAX_PROMQL_LEN`] is refused unparsed: the parser and the tree it builds
/// recurse once per nesting level, so the length bounds the stack they need.
pub fn promql_parse(source: &str) -> Result<promql_parser::parser::Expr, String> {
    if source.len() > MAX_PROMQL_LEN {
        return Err(format!(
            "expression is {} bytes long, longer than the {MAX_PROMQL_LEN} bytes celgate parses",
            source.len()
        ));
    }
    match std::panic::catch_unwind(|| promql_parser::parser::parse(source)) {
        Ok(Ok(expr)) => Ok(expr),
        Ok(Err(message)) if message.trim().is_empty() => Err("invalid PromQL expression".to_owned()),
        Ok(Err(message)) => Err(message.trim().to_owned()),
        Err(_) => Err("invalid PromQL expression (the parser failed)".to_owned()),
    }
}

/// The metric names `source` selects: each vector selector's name and its `__name__="..."`
/// matchers, sorted and deduplicated; empty when `source` does not parse.
pub fn promql_metrics(source: &str) -> Vec<String> {
    use promql_parser::label::{MatchOp, METRIC_NAME};
    use promql_parser::parser::Expr;

    let Ok(root) = promql_parse(source) else {
        return Vec::new();
    };
    let mut names = BTreeSet::new();
    let mut add_selector = |vs: &promql_parser::parser::VectorSelector| {
        if let Some(name) = &vs.name {
            names.insert(name.clone());
        }
        for m in vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
        {
            if m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal) {
                names.insert(m.value.clone());
            }
        }
    };
    // An explicit stack: a deeply parenthesised expression must not overflow the thread's stack.
    let mut stack: Vec<&Expr> = vec![&root];
    while let Some(expr) = stack.pop() {
        match expr {
            Expr::Aggregate(a) => {
                stack.push(&a.expr);
                if let Some(p) = &a.param {
                    stack.push(p);
                }
            }
            Expr::Unary(u) => stack.push(&u.expr),
            Expr::Binary(b) => {
                stack.push(&b.lhs);
                stack.push(&b.rhs);
            }
            Expr::Paren(p) => stack.push(&p.expr),
            Expr::Subquery(s) => stack.push(&s.expr),
            Expr::VectorSelector(vs) => add_selector(vs),
            Expr::MatrixSelector(ms) => add_selector(&ms.vs),
            Expr::Call(c) => stack.extend(c.args.args.iter().map(AsRef::as_ref)),
            Expr::Extension(e) => stack.extend(e.expr.children()),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) => {}
        }
    }
    names.into_iter().collect()
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn promql_valid_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let source = string_arg(PROMQL_VALID, &args)?;
    Ok(CowVal::owned(CelBool::from(promql_parse(source).is_ok())))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn promql_error_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let source = string_arg(PROMQL_ERROR, &args)?;
    let message = promql_parse(source).err().unwrap_or_default();
    Ok(CowVal::owned(CelString::from(message)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn promql_metrics_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let source = string_arg(PROMQL_METRICS, &args)?;
    let list: CelList<'static> = promql_metrics(source)
        .into_iter()
        .map(|name| Box::new(CelString::from(name)) as Box<dyn Val>)
        .collect::<Vec<_>>()
        .into();
    Ok(CowVal::owned(list))
}

// ---------------------------------------------------------------------------------------------
// Durations

/// Seconds in one unit of each suffix, largest first: the order Prometheus requires.
const DURATION_UNITS: &[(&str, u64)] = &[
    ("y", 365 * 86_400),
    ("w", 7 * 86_400),
    ("d", 86_400),
    ("h", 3_600),
    ("m", 60),
    ("s", 1),
];

/// Parses a Prometheus duration (`90d`, `1h30m`, `500ms`, units `y w d h m s ms`, each at most
/// once and largest first, `y` = 365 days) or a plain non-negative integer of seconds, into whole
/// seconds (milliseconds truncated).
pub fn parse_duration_seconds(text: &str) -> Result<i64, String> {
    let invalid = || format!("'{text}' is not a duration (e.g. 30s, 5m, 1h30m, 15d, 500ms)");
    let overflow = || format!("duration '{text}' is too large");
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|_| overflow());
    }
    let mut rest = text;
    // Index into DURATION_UNITS (6 = ms) the next unit must come after.
    let mut next_unit = 0usize;
    let mut millis: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let number: u128 = rest[..digits].parse().map_err(|_| overflow())?;
        rest = &rest[digits..];
        let (unit_index, unit_millis, len) = if rest.starts_with("ms") {
            (DURATION_UNITS.len(), 1, 2)
        } else {
            let Some(i) = DURATION_UNITS.iter().position(|(u, _)| rest.starts_with(u)) else {
                return Err(invalid());
            };
            (i, u128::from(DURATION_UNITS[i].1) * 1_000, 1)
        };
        if unit_index < next_unit {
            return Err(invalid());
        }
        next_unit = unit_index + 1;
        rest = &rest[len..];
        millis = number
            .checked_mul(unit_millis)
            .and_then(|m| millis.checked_add(m))
            .ok_or_else(overflow)?;
    }
    i64::try_from(millis / 1_000).map_err(|_| overflow())
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn duration_seconds_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg(DURATION_SECONDS, &args)?;
    let seconds = parse_duration_seconds(text).map_err(|e| ExecutionError::function_error(DURATION_SECONDS, e))?;
    Ok(CowVal::owned(CelInt::from(seconds)))
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn is_duration_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg(IS_DURATION, &args)?;
    Ok(CowVal::owned(CelBool::from(parse_duration_seconds(text).is_ok())))
}

// ---------------------------------------------------------------------------------------------
// Cron

const MONTH_NAMES: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Whether `text` is a standard 5-field cron schedule (minute hour day-of-month month
/// day-of-week) or one of the macros `@yearly @annually @monthly @weekly @daily @midnight
/// @hourly`.
pub fn is_cron(text: &str) -> bool {
    let text = text.trim();
    if text.starts_with('@') {
        return matches!(
            text.to_ascii_lowercase().as_str(),
            "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
        );
    }
    let fields: Vec<&str> = text.split_whitespace().collect();
    let specs: [(u32, u32, &[&str], u32); 5] = [
        (0, 59, &[], 0),
        (0, 23, &[], 0),
        (1, 31, &[], 0),
        (1, 12, MONTH_NAMES, 1),
        (0, 7, WEEKDAY_NAMES, 0),
    ];
    fields.len() == 5
        && fields
            .iter()
            .zip(specs)
            .all(|(field, (min, max, names, first))| cron_field_ok(field, min, max, names, first))
}

/// One field: comma-separated items, each `*`, `*/n`, `a`, `a-b` or `a-b/n`.
fn cron_field_ok(field: &str, min: u32, max: u32, names: &[&str], first_name_value: u32) -> bool {
    let value = |s: &str| -> Option<u32> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse::<u32>().ok().filter(|v| (min..=max).contains(v));
        }
        let upper = s.to_ascii_uppercase();
        names
            .iter()
            .position(|n| *n == upper)
            .and_then(|i| u32::try_from(i).ok())
            .map(|i| i + first_name_value)
    };
    field.split(',').all(|item| {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let range_ok = if range == "*" {
            true
        } else if let Some((a, b)) = range.split_once('-') {
            matches!((value(a), value(b)), (Some(a), Some(b)) if a <= b)
        } else {
            // `a/n` is not standard: a step needs `*` or a range.
            step.is_none() && value(range).is_some()
        };
        let step_ok = step.is_none_or(|s| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && s.parse::<u32>().is_ok_and(|n| (1..=max).contains(&n))
        });
        range_ok && step_ok
    })
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn is_cron_fn<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let text = string_arg(IS_CRON, &args)?;
    Ok(CowVal::owned(CelBool::from(is_cron(text))))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::engine::{Engine, Input};

    fn eval(src: &str, object: Value) -> Result<Value, String> {
        Engine::eval_expression(src, &Input::new(object), &[]).map_err(|e| e.to_string())
    }

    fn eval_ok(src: &str) -> Value {
        eval(src, json!({})).unwrap_or_else(|e| panic!("{src}: {e}"))
    }

    #[test]
    fn promql_valid_through_cel() {
        assert_eq!(eval_ok("promql.valid('up')"), json!(true));
        assert_eq!(
            eval_ok("promql.valid('sum(rate(http_requests_total[5m])) by (job) > 0')"),
            json!(true)
        );
        assert_eq!(eval_ok("promql.valid('sum(rate(x[5m]')"), json!(false));
        assert_eq!(eval_ok("promql.valid('')"), json!(false));
        assert_eq!(
            eval("promql.valid(object.spec.expr)", json!({"spec": {"expr": "up == 0"}})).unwrap(),
            json!(true)
        );
    }

    #[test]
    fn promql_error_through_cel() {
        assert_eq!(eval_ok("promql.error('up')"), json!(""));
        let Value::String(message) = eval_ok("promql.error('rate(up[5m]')") else {
            panic!("not a string");
        };
        assert!(!message.is_empty());
        assert_eq!(eval_ok("promql.error('foo{') != ''"), json!(true));
    }

    #[test]
    fn promql_metrics_through_cel() {
        assert_eq!(
            eval_ok(
                r#"promql.metrics('sum(rate(b_total[5m])) / on(job) a + b_total + {__name__="c"} + {__name__=~"d.*"} + e offset 5m')"#
            ),
            json!(["a", "b_total", "c", "e"])
        );
        assert_eq!(
            eval_ok("promql.metrics('max_over_time(deriv(x[1h])[1d:5m]) > bool 3')"),
            json!(["x"])
        );
        assert_eq!(eval_ok("promql.metrics('1 + 2')"), json!([]));
        assert_eq!(eval_ok("promql.metrics('sum(')"), json!([]));
        assert_eq!(
            eval_ok("promql.metrics('audit_events_total > 0').exists(m, m.startsWith('audit_'))"),
            json!(true)
        );
    }

    #[test]
    fn promql_metrics_or_matchers_and_deep_nesting() {
        assert_eq!(
            promql_metrics(r#"{__name__="a" or __name__="b"}"#),
            vec!["a".to_owned(), "b".to_owned()]
        );
        let deep = format!("{}up{}", "(".repeat(200), ")".repeat(200));
        assert_eq!(promql_metrics(&deep), vec!["up".to_owned()]);
    }

    #[test]
    fn duration_seconds_through_cel() {
        for (text, seconds) in [
            ("0", 0),
            ("45", 45),
            ("30s", 30),
            ("5m", 300),
            ("1h30m", 5_400),
            ("15d", 15 * 86_400),
            ("90d", 90 * 86_400),
            ("2w", 14 * 86_400),
            ("1y", 365 * 86_400),
            ("500ms", 0),
            ("1s500ms", 1),
            ("1500ms", 1),
            ("1y2w3d4h5m6s7ms", 365 * 86_400 + 17 * 86_400 + 4 * 3_600 + 5 * 60 + 6),
        ] {
            assert_eq!(parse_duration_seconds(text), Ok(seconds), "{text}");
            assert_eq!(
                eval_ok(&format!("celgate.durationSeconds('{text}')")),
                json!(seconds),
                "{text}"
            );
            assert_eq!(eval_ok(&format!("celgate.isDuration('{text}')")), json!(true), "{text}");
        }
        assert_eq!(
            eval(
                "celgate.durationSeconds(object.spec.retention) <= 30 * 86400",
                json!({"spec": {"retention": "15d"}})
            )
            .unwrap(),
            json!(true)
        );
    }

    #[test]
    fn duration_errors() {
        for text in [
            "",
            " ",
            "-1",
            "-5m",
            "1.5h",
            "h",
            "5x",
            "5 m",
            "m5",
            "1m1h",
            "1h1h",
            "5M",
            "1ms1s",
            "5mm",
            "1d ",
            "99999999999999999999",
            "999999999999999999y",
        ] {
            assert!(parse_duration_seconds(text).is_err(), "{text:?}");
            assert_eq!(
                eval_ok(&format!("celgate.isDuration('{text}')")),
                json!(false),
                "{text:?}"
            );
            let err = eval(&format!("celgate.durationSeconds('{text}')"), json!({})).unwrap_err();
            assert!(
                err.contains(DURATION_SECONDS) || err.contains("duration"),
                "{text:?}: {err}"
            );
        }
    }

    #[test]
    fn promql_long_or_deep_input_is_bounded() {
        let half = MAX_PROMQL_LEN / 2 - 1;
        for deep in [
            format!("{}up{}", "(".repeat(half), ")".repeat(half)),
            format!("{}1", "-".repeat(MAX_PROMQL_LEN - 1)),
            format!("up{}", " + up".repeat((MAX_PROMQL_LEN - 2) / 5)),
            format!(
                "{}up{}",
                "sum(".repeat(MAX_PROMQL_LEN / 5 - 1),
                ")".repeat(MAX_PROMQL_LEN / 5 - 1)
            ),
        ] {
            assert!(deep.len() <= MAX_PROMQL_LEN);
            let _ = promql_metrics(&deep);
        }
        let long = format!("up{}", " ".repeat(MAX_PROMQL_LEN));
        assert!(promql_parse(&long).unwrap_err().contains("longer than"));
        assert_eq!(
            eval("promql.valid(object.expr)", json!({ "expr": long })).unwrap(),
            json!(false)
        );
    }

    #[test]
    fn cron_valid() {
        for text in [
            "* * * * *",
            "*/5 * * * *",
            "0 0 1 1 0",
            "59 23 31 12 7",
            "0-30/10 9-17 * * MON-FRI",
            "0 0 * jan,Jul sun",
            "15,45 */2 1-15/2 * 1-5",
            "  0 12 * * *  ",
            "@yearly",
            "@annually",
            "@monthly",
            "@weekly",
            "@daily",
            "@midnight",
            "@HOURLY",
        ] {
            assert!(is_cron(text), "{text:?}");
            assert_eq!(eval_ok(&format!("celgate.isCron('{text}')")), json!(true), "{text:?}");
        }
    }

    #[test]
    fn cron_invalid() {
        for text in [
            "",
            "* * * *",
            "0 * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 0 *",
            "* * * 13 *",
            "* * * * 8",
            "5-1 * * * *",
            "*/0 * * * *",
            "*/ * * * *",
            "5/10 * * * *",
            "1,,2 * * * *",
            "* * * * MON-",
            "* * * FOO *",
            "* * MON * *",
            "* * * * JAN",
            "? * * * *",
            "@reboot",
            "@every 5m",
            "-1 * * * *",
        ] {
            assert!(!is_cron(text), "{text:?}");
            assert_eq!(eval_ok(&format!("celgate.isCron('{text}')")), json!(false), "{text:?}");
        }
    }

    #[test]
    fn wrong_argument_types_are_errors() {
        for src in [
            "promql.valid(1)",
            "promql.metrics(true)",
            "celgate.durationSeconds(5)",
            "celgate.isCron([])",
        ] {
            assert!(eval(src, json!({})).is_err(), "{src}");
        }
        assert!(eval("celgate.isDuration(object.missing)", json!({})).is_err());
    }

    #[test]
    fn namespaces_are_not_variables() {
        let env = crate::engine::cel::compile::environment();
        for src in [
            "promql.valid('up')",
            "promql.metrics(object.expr).size() > 0",
            "celgate.isCron(object.schedule)",
        ] {
            let compiled = crate::engine::cel::compile::compile_with_roots(&env, src, &[]).unwrap();
            assert_eq!(compiled.cost.degrees().0, 0, "{src}");
            assert!(
                compiled.free_variables.iter().all(|v| v == "object"),
                "{src}: {:?}",
                compiled.free_variables
            );
        }
    }
}
