//! The load-time checks the API server's CEL compiler makes when a policy is created, made on
//! every expression celgate compiles so a policy refused by the cluster is refused in CI too:
//!
//! - every function called is declared (as a member or global function, the namespace of
//!   `sets.contains(...)` included); an undeclared one is named with the closest declared name;
//! - a call whose receiver and arguments are all scalar literals has an overload for their types
//!   (`'abc'.startsWith(1)`), and `duration(...)` / `timestamp(...)` of a literal parse
//!   (`cel.ValidateDurationLiterals`, `cel.ValidateTimestampLiterals`);
//! - list and map literals are homogeneous (`cel.HomogeneousAggregateLiterals`; the arguments of
//!   `format` are exempt, as cel-go exempts them), where policies and packs load (not in
//!   `celgate eval`, which evaluates any CEL expression as cel-go's own tests do);
//! - literal regexes of `matches`, `find` and `findAll` are RE2 (`cel.ValidateRegexLiterals`);
//! - a literal format string with a literal argument list fits it (cel-go's
//!   `stringFormatValidator`);
//! - `sum()` of a literal list of strings (declared on numbers and durations only).
//!
//! Only what is certain without a schema is refused: values read from the document are
//! dynamic, as the API server checks expressions over kinds without a schema.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, Env, ExecutionError, Value};

use super::k8s::strfmt::{self, Clause, Piece};

/// A refusal: the node it is about and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Id of the offending node (for its position).
    pub id: u64,
    /// What is wrong, as the API server words it where it can.
    pub message: String,
}

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
fn declared(env: &Arc<Env>, name: &str, member: bool) -> bool {
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
fn closest(env: &Arc<Env>, name: &str) -> Option<&'static str> {
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

/// A static type, as far as literals tell.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ty {
    /// Not known without a schema.
    Dyn,
    /// A scalar named as CEL names it.
    Scalar(&'static str),
    /// `list(T)`.
    List(Box<Ty>),
    /// `map(K, V)`.
    Map(Box<Ty>, Box<Ty>),
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ty::Dyn => f.write_str("dyn"),
            Ty::Scalar(s) => f.write_str(s),
            Ty::List(t) => write!(f, "list({t})"),
            Ty::Map(k, v) => write!(f, "map({k}, {v})"),
        }
    }
}

/// Whether a value of `b` may stand where `a` is expected (dyn both ways).
fn assignable(a: &Ty, b: &Ty) -> bool {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) => true,
        (Ty::Scalar(x), Ty::Scalar(y)) => x == y,
        (Ty::List(x), Ty::List(y)) => assignable(x, y),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => assignable(k1, k2) && assignable(v1, v2),
        _ => false,
    }
}

/// The more general of two assignable types.
fn most_general(a: &Ty, b: &Ty) -> Ty {
    match (a, b) {
        (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
        (Ty::List(x), Ty::List(y)) => Ty::List(Box::new(most_general(x, y))),
        (Ty::Map(k1, v1), Ty::Map(k2, v2)) => Ty::Map(Box::new(most_general(k1, k2)), Box::new(most_general(v1, v2))),
        _ => a.clone(),
    }
}

fn literal_ty(lit: &LiteralValue) -> Ty {
    Ty::Scalar(match lit {
        LiteralValue::Int(_) => "int",
        LiteralValue::UInt(_) => "uint",
        LiteralValue::Double(_) => "double",
        LiteralValue::String(_) => "string",
        LiteralValue::Bytes(_) => "bytes",
        LiteralValue::Boolean(_) => "bool",
        LiteralValue::Null => "null_type",
    })
}

/// Walks one expression.
struct Checker<'a> {
    env: &'a Arc<Env>,
    findings: Vec<Finding>,
    homogeneous: bool,
}

/// Checks `expr` (macros expanded, nothing rewritten yet) against `env`; `homogeneous` also
/// refuses heterogeneous list and map literals (Kubernetes' policy environment).
pub fn check(env: &Arc<Env>, expr: &IdedExpr, homogeneous: bool) -> Vec<Finding> {
    let mut checker = Checker {
        env,
        findings: Vec::new(),
        homogeneous,
    };
    checker.walk(expr, &[], false);
    checker.findings
}

impl Checker<'_> {
    fn report(&mut self, id: u64, message: String) {
        self.findings.push(Finding { id, message });
    }

    /// Visits `e`; `exempt` under the arguments of `format`; returns its type as far as known.
    fn walk(&mut self, e: &IdedExpr, bound: &[String], exempt: bool) -> Ty {
        match &e.expr {
            Expr::Literal(lit) => literal_ty(lit),
            Expr::Ident(_) | Expr::Unspecified => Ty::Dyn,
            Expr::Select(s) => {
                self.walk(&s.operand, bound, exempt);
                Ty::Dyn
            }
            Expr::List(list) => {
                let mut joined: Option<Ty> = None;
                for el in &list.elements {
                    let t = self.walk(el, bound, exempt);
                    joined = Some(self.join(joined, t, el.id, exempt));
                }
                Ty::List(Box::new(joined.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(map) => {
                let (mut keys, mut values): (Option<Ty>, Option<Ty>) = (None, None);
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(m) = &entry.expr {
                        let k = self.walk(&m.key, bound, exempt);
                        keys = Some(self.join(keys, k, m.key.id, exempt));
                        let v = self.walk(&m.value, bound, exempt);
                        values = Some(self.join(values, v, m.value.id, exempt));
                    }
                }
                Ty::Map(Box::new(keys.unwrap_or(Ty::Dyn)), Box::new(values.unwrap_or(Ty::Dyn)))
            }
            Expr::Struct(s) => {
                for entry in &s.entries {
                    if let EntryExpr::StructField(f) = &entry.expr {
                        self.walk(&f.value, bound, exempt);
                    }
                }
                Ty::Dyn
            }
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range, bound, exempt);
                self.walk(&c.accu_init, bound, exempt);
                let mut inner = bound.to_vec();
                inner.push(c.iter_var.clone());
                if let Some(v2) = &c.iter_var2 {
                    inner.push(v2.clone());
                }
                inner.push(c.accu_var.clone());
                self.walk(&c.loop_cond, &inner, exempt);
                self.walk(&c.loop_step, &inner, exempt);
                self.walk(&c.result, &inner, exempt);
                Ty::Dyn
            }
            Expr::Call(call) => self.call(e.id, call, bound, exempt),
        }
    }

    /// Joins the element types of an aggregate literal, reporting the first mismatch.
    fn join(&mut self, previous: Option<Ty>, current: Ty, id: u64, exempt: bool) -> Ty {
        let Some(previous) = previous else {
            return current;
        };
        if assignable(&previous, &current) {
            return most_general(&previous, &current);
        }
        if self.homogeneous && !exempt {
            self.report(id, format!("expected type '{previous}' but found '{current}'"));
        }
        Ty::Dyn
    }

    fn call(&mut self, id: u64, call: &CallExpr, bound: &[String], exempt: bool) -> Ty {
        let name = call.func_name.as_str();
        let namespace = match call.target.as_deref().map(|t| &t.expr) {
            Some(Expr::Ident(ns)) if !bound.iter().any(|b| b == ns) && is_namespace(ns) => Some(ns.as_str()),
            _ => None,
        };
        let target_ty = match (&call.target, namespace) {
            (Some(t), None) => Some(self.walk(t, bound, exempt)),
            _ => None,
        };
        // cel-go exempts the arguments of `format`; the math extension (celgate's, not
        // Kubernetes') compares mixed numbers by design.
        let exempt_args = exempt
            || (name == "format" && target_ty.is_some())
            || namespace == Some("math")
            || name.starts_with("math.");
        let arg_tys: Vec<Ty> = call.args.iter().map(|a| self.walk(a, bound, exempt_args)).collect();
        // Operators and celgate's own internal names are not user-callable functions.
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return operator_ty(name, &arg_tys);
        }
        let (full, member) = match namespace {
            Some(ns) => (format!("{ns}.{name}"), false),
            None => (name.to_owned(), call.target.is_some()),
        };
        if !declared(self.env, &full, member) {
            let known_otherwise = declared(self.env, &full, !member);
            let hint = if known_otherwise {
                if member {
                    format!(" ('{full}' is a global function: call it as {full}(...))")
                } else {
                    format!(" ('{full}' is a member function: call it as x.{full}(...))")
                }
            } else {
                closest(self.env, &full).map_or_else(String::new, |c| format!("; did you mean '{c}'?"))
            };
            self.report(id, format!("undeclared reference to '{full}'{hint}"));
            return Ty::Dyn;
        }
        self.literal_call(id, call, namespace, &full);
        self.library_checks(id, call, target_ty.as_ref(), &full);
        result_ty(&full, target_ty.as_ref())
    }

    /// Evaluates a call whose operands are all scalar literals, to find a missing overload (or a
    /// duration / timestamp literal that does not parse).
    fn literal_call(&mut self, id: u64, call: &CallExpr, namespace: Option<&str>, full: &str) {
        let scalar = |e: &IdedExpr| matches!(e.expr, Expr::Literal(_));
        let target_ok = namespace.is_some() || call.target.as_deref().is_none_or(scalar);
        if !target_ok || !call.args.iter().all(scalar) || (call.args.is_empty() && call.target.is_none()) {
            return;
        }
        // Too costly or not worth it: patterns are checked below, ranges by the compiler.
        if matches!(full, "matches" | "find" | "findAll" | "lists.range") {
            return;
        }
        let probe = IdedExpr {
            id,
            expr: Expr::Call(call.clone()),
        };
        let ctx = Context::with_env(Arc::clone(self.env));
        match Value::resolve_val(&probe, &ctx) {
            Err(ExecutionError::NoSuchOverload(o)) => {
                let types = o.argument_types();
                let shown = if o.is_member_function() && !types.is_empty() {
                    format!("{}.({})", types[0], types[1..].join(", "))
                } else {
                    format!("({})", types.join(", "))
                };
                self.report(
                    id,
                    format!("found no matching overload for '{}' applied to '{shown}'", o.function()),
                );
            }
            Err(e) if matches!(full, "duration" | "timestamp") => {
                self.report(id, format!("invalid {full} literal: {e}"));
            }
            _ => {}
        }
    }

    /// The checks cel-go's validators and libraries make on literal arguments.
    fn library_checks(&mut self, id: u64, call: &CallExpr, target_ty: Option<&Ty>, full: &str) {
        let string_lit = |e: &IdedExpr| match &e.expr {
            Expr::Literal(LiteralValue::String(s)) => Some(s.inner().to_owned()),
            _ => None,
        };
        match full {
            "matches" | "find" | "findAll" => {
                let pattern = if call.target.is_some() {
                    call.args.first()
                } else {
                    call.args.get(1)
                };
                if let Some((p, pid)) = pattern.and_then(|p| string_lit(p).map(|s| (s, p.id))) {
                    let problem = re2_check(&p)
                        .map_err(|e| format!("error parsing regexp: {e}"))
                        .and_then(|()| {
                            regex::Regex::new(&p)
                                .map(|_| ())
                                .map_err(|e| format!("'{p}' is not a valid regex: {e}"))
                        });
                    if let Err(e) = problem {
                        self.report(pid, format!("invalid {full} argument: {e}"));
                    }
                }
            }
            "format" => {
                let (Some(target), [args]) = (call.target.as_deref(), call.args.as_slice()) else {
                    return;
                };
                let (Some(format), Expr::List(list)) = (string_lit(target), &args.expr) else {
                    return;
                };
                self.check_format(id, &format, &list.elements);
            }
            "sum" => {
                if let Some(Ty::List(elem)) = target_ty {
                    if let Ty::Scalar(s) = elem.as_ref() {
                        if !matches!(*s, "int" | "uint" | "double" | "google.protobuf.Duration") {
                            self.report(
                                id,
                                format!("found no matching overload for 'sum' applied to 'list({s}).()'"),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }

    fn check_format(&mut self, id: u64, format: &str, args: &[IdedExpr]) {
        let pieces = match strfmt::parse(format, args.len()) {
            Ok(p) => p,
            Err(e) => {
                self.report(id, e);
                return;
            }
        };
        let clauses: Vec<Clause> = pieces
            .into_iter()
            .filter_map(|p| match p {
                Piece::Clause(c) => Some(c),
                Piece::Text(_) => None,
            })
            .collect();
        for (clause, arg) in clauses.iter().zip(args) {
            let ty = shallow_ty(arg);
            let kind = match &ty {
                Ty::Dyn => continue,
                Ty::Scalar(s) => *s,
                Ty::List(_) => "list",
                Ty::Map(..) => "map",
            };
            let fits = match clause {
                Clause::String => true,
                Clause::Decimal | Clause::Octal => matches!(kind, "int" | "uint"),
                Clause::Fixed(_) | Clause::Scientific(_) => matches!(kind, "double" | "string"),
                Clause::Binary => matches!(kind, "int" | "uint" | "bool"),
                Clause::Hex(_) => matches!(kind, "int" | "uint" | "string" | "bytes"),
            };
            if !fits {
                self.report(arg.id, strfmt::clause_error(*clause, &ty.to_string()));
                return;
            }
        }
        if args.len() > clauses.len() {
            self.report(
                id,
                format!(
                    "too many arguments supplied to string.format (expected {}, got {})",
                    clauses.len(),
                    args.len()
                ),
            );
        }
    }
}

/// The type of `e` as far as its own literal form tells (no findings).
fn shallow_ty(e: &IdedExpr) -> Ty {
    match &e.expr {
        Expr::Literal(lit) => literal_ty(lit),
        Expr::List(_) => Ty::List(Box::new(Ty::Dyn)),
        Expr::Map(_) => Ty::Map(Box::new(Ty::Dyn), Box::new(Ty::Dyn)),
        Expr::Call(c) if c.target.is_none() => result_ty(&c.func_name, None),
        _ => Ty::Dyn,
    }
}

/// Namespaces a call target may name instead of a variable.
fn is_namespace(name: &str) -> bool {
    super::compile::FUNCTION_NAMESPACES.contains(&name) || super::k8s::NAMESPACES.contains(&name)
}

/// The result type of a declared function, where it is fixed whatever the arguments.
fn result_ty(name: &str, target: Option<&Ty>) -> Ty {
    Ty::Scalar(match name {
        "int" | "size" | "indexOf" | "lastIndexOf" => "int",
        "uint" => "uint",
        "double" => "double",
        "string" | "lowerAscii" | "upperAscii" | "trim" | "replace" | "substring" | "charAt" | "format"
        | "strings.quote" => "string",
        "bool" | "contains" | "startsWith" | "endsWith" | "matches" => "bool",
        "bytes" => "bytes",
        "duration" => "google.protobuf.Duration",
        "timestamp" => "google.protobuf.Timestamp",
        "join" if target.is_some() => "string",
        "split" => return Ty::List(Box::new(Ty::Scalar("string"))),
        _ => return Ty::Dyn,
    })
}

/// The result type of an operator on these operand types, where literals make it certain.
fn operator_ty(name: &str, args: &[Ty]) -> Ty {
    match name {
        "_==_" | "_!=_" | "_<_" | "_<=_" | "_>_" | "_>=_" | "_&&_" | "_||_" | "!_" | "@in" => Ty::Scalar("bool"),
        "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => match args {
            [a, b] if a == b && matches!(a, Ty::Scalar("int" | "uint" | "double" | "string")) => a.clone(),
            _ => Ty::Dyn,
        },
        _ => Ty::Dyn,
    }
}

/// What Go's `regexp/syntax` refuses that the `regex` crate accepts: nested repetition
/// operators (`x++`, `a{2}{3}`, `x*??`) and repeat counts over 1000. The `regex` crate's own
/// errors are checked by the caller.
pub fn re2_check(pattern: &str) -> Result<(), String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    // After a repetition: whether its lazy `?` was taken.
    let mut after_repeat: Option<(usize, bool)> = None;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' => {
                i += 2;
                if matches!(chars.get(i - 1), Some('p' | 'P' | 'x')) && chars.get(i) == Some(&'{') {
                    while i < chars.len() && chars[i] != '}' {
                        i += 1;
                    }
                    i += 1;
                }
                after_repeat = None;
                continue;
            }
            '[' => {
                i = skip_class(&chars, i);
                after_repeat = None;
                continue;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                i += 2;
                after_repeat = None;
                continue;
            }
            '*' | '+' | '?' => {
                if let Some((start, lazy)) = after_repeat {
                    if c == '?' && !lazy {
                        after_repeat = Some((start, true));
                        i += 1;
                        continue;
                    }
                    let op: String = chars[start..=i].iter().collect();
                    return Err(format!("invalid nested repetition operator: `{op}`"));
                }
                after_repeat = Some((i, false));
            }
            '{' => {
                if let Some((end, min, max)) = repeat(&chars, i) {
                    let op: String = chars[i..=end].iter().collect();
                    if min > 1000 || max.is_some_and(|m| m > 1000 || m < min) {
                        return Err(format!("invalid repeat count: `{op}`"));
                    }
                    if let Some((start, _)) = after_repeat {
                        let op: String = chars[start..=end].iter().collect();
                        return Err(format!("invalid nested repetition operator: `{op}`"));
                    }
                    after_repeat = Some((i, false));
                    i = end + 1;
                    continue;
                }
                after_repeat = None;
            }
            _ => after_repeat = None,
        }
        i += 1;
    }
    Ok(())
}

/// The index after the character class opening at `i`.
fn skip_class(chars: &[char], mut i: usize) -> usize {
    i += 1;
    if chars.get(i) == Some(&'^') {
        i += 1;
    }
    if chars.get(i) == Some(&']') {
        i += 1;
    }
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '[' if chars.get(i + 1) == Some(&':') => {
                while i < chars.len() && !(chars[i] == ':' && chars.get(i + 1) == Some(&']')) {
                    i += 1;
                }
                i += 2;
            }
            ']' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// A `{n}`, `{n,}` or `{n,m}` repeat at `i`: (index of `}`, n, m).
fn repeat(chars: &[char], i: usize) -> Option<(usize, u64, Option<u64>)> {
    let close = i + chars[i..].iter().position(|c| *c == '}')?;
    let body: String = chars[i + 1..close].iter().collect();
    let number = |s: &str| (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse::<u64>().ok())?;
    match body.split_once(',') {
        None => number(&body).map(|n| (close, n, Some(n))),
        Some((a, "")) => number(a).map(|n| (close, n, None)),
        Some((a, b)) => Some((close, number(a)?, Some(number(b)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn re2_refusals() {
        for bad in ["x++", "x**", "a{2}{3}", "x*??", "a{1001}", "x*+"] {
            assert!(re2_check(bad).is_err(), "{bad}");
        }
        for good in [
            "x+?",
            "a{2,3}?",
            "[+*]+",
            "\\++",
            "(?i)a+",
            "a{,3}",
            "[[:alpha:]]+",
            "\\p{L}+",
        ] {
            assert_eq!(re2_check(good), Ok(()), "{good}");
        }
    }

    #[test]
    fn typo_is_named_with_the_closest_name() {
        let env = super::super::compile::environment();
        let program = env.compile("object.metadata.name.startWith('demo')").expect("parses");
        let findings = check(&env, program.expression(), true);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert!(findings[0].message.contains("'startWith'"), "{findings:?}");
        assert!(
            findings[0].message.contains("did you mean 'startsWith'"),
            "{findings:?}"
        );
    }

    #[test]
    fn literal_checks() {
        let env = super::super::compile::environment();
        let refused = |src: &str| {
            let program = env.compile(src).expect("parses");
            !check(&env, program.expression(), true).is_empty()
        };
        for bad in [
            "[1, 'a']",
            "{'a': 1, 'b': 'c'}",
            "[1, 2.0]",
            "'abc'.startsWith(1)",
            "'%d'.format(['a'])",
            "'%s %s'.format(['a', 'b', 'c'])",
            "'%s %s'.format(['a'])",
            "['a', 'b'].sum()",
            "'x'.matches('x++')",
            "duration('1x') > duration('1s')",
            "sets.containz([1], [1])",
        ] {
            assert!(refused(bad), "{bad} should be refused");
        }
        for good in [
            "[1, object.x, 'a']",
            "'%s'.format([[1, 'a']])",
            "'%d %s'.format([1, object.x])",
            "[[], [1]]",
            "sets.contains([1], [1])",
            "object.items.map(x, x.name)",
            "optional.of(1).optMap(optional, optional + 1)",
            "object.x.all(sets, sets > 0)",
            "jsonpatch.escapeKey('a/b')",
        ] {
            assert!(!refused(good), "{good} should be accepted");
        }
    }
}
