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

mod names;
mod re2;
mod types;

use std::sync::Arc;

use cel::common::ast::{CallExpr, EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::{Context, Env, ExecutionError, Value};

use super::k8s::strfmt::{self, Clause, Piece};
use names::{closest, declared};
pub use re2::re2_check;
use types::{assignable, literal_ty, most_general, operator_ty, result_ty, shallow_ty, Ty};

/// A refusal: the node it is about and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Id of the offending node (for its position).
    pub id: u64,
    /// What is wrong, as the API server words it where it can.
    pub message: String,
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
                            crate::engine::cel::k8s::regex::re2(&p)
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

/// Namespaces a call target may name instead of a variable.
fn is_namespace(name: &str) -> bool {
    crate::engine::cel::functions::FUNCTION_NAMESPACES.contains(&name) || super::k8s::NAMESPACES.contains(&name)
}

/// What the load-time checks refuse first, with its position in the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 1-based line inside the expression.
    pub line: usize,
    /// 1-based column inside the expression.
    pub column: usize,
    /// The finding.
    pub message: String,
    /// The expression's line the finding is on.
    pub excerpt: String,
}

/// Runs the load-time checks of this module on `program` compiled in `shared`, the shared
/// environment (the one they know how to ask); the first finding is the refusal.
pub(crate) fn refuse(
    shared: &Arc<Env>,
    program: &cel::Program,
    source: &str,
    homogeneous: bool,
) -> Result<(), Refusal> {
    let Some(first) = check(shared, program.expression(), homogeneous).into_iter().next() else {
        return Ok(());
    };
    let offset = program
        .source_info()
        .offset_for(first.id)
        .map_or(0, |(start, _)| usize::try_from(start).unwrap_or(0));
    let (line, column) = line_column(source, offset);
    Err(Refusal {
        line,
        column,
        message: first.message,
        excerpt: source.lines().nth(line - 1).unwrap_or_default().to_owned(),
    })
}

/// 1-based line and column of the `offset`-th character of `source`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for c in source.chars().take(offset) {
        if c == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}

#[cfg(test)]
mod tests;
