//! Compiling one expression with its limits and static facts (free variables, pack variables
//! used, comprehension nesting, size), in the environment every pack shares.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::common::ast::{Expr, IdedExpr};
use cel::Env;

use super::cost::{self, Poly, Sizes};
pub use super::environment::environment;
use super::{ast, equality, k8s, opt_chain, scan};

/// Longest expression source accepted, in bytes.
pub const MAX_EXPRESSION_LEN: usize = 5_000;
/// Deepest expression tree accepted (the parser itself stops at 96).
pub const MAX_EXPRESSION_DEPTH: usize = 64;
/// Deepest nesting of comprehension macros (`all`, `exists`, `map`, ...) accepted.
pub const MAX_COMPREHENSION_NESTING: usize = 3;

/// Largest `lists.range(n)` accepted; the size must be a literal so its cost can be estimated.
pub const MAX_RANGE: i64 = 10_000;

pub(crate) use super::functions::FUNCTION_NAMESPACES;

/// Names an expression may read besides comprehension variables.
pub const ROOT_VARIABLES: &[&str] = &[
    "object",
    "oldObject",
    "request",
    "params",
    "namespaceObject",
    "variables",
    "item",
    "itemPointer",
];

/// Why an expression was refused at load time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// The expression is empty.
    #[error("expression is empty")]
    Empty,
    /// The source is longer than [`MAX_EXPRESSION_LEN`].
    #[error("expression is {len} bytes long; the limit is {MAX_EXPRESSION_LEN}")]
    TooLong {
        /// Actual length.
        len: usize,
    },
    /// The parser rejected the source.
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line inside the expression.
        line: usize,
        /// 1-based column inside the expression.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The tree is deeper than [`MAX_EXPRESSION_DEPTH`].
    #[error("expression nests {depth} levels deep; the limit is {MAX_EXPRESSION_DEPTH}")]
    TooDeep {
        /// Actual depth.
        depth: usize,
    },
    /// Comprehensions nest deeper than [`MAX_COMPREHENSION_NESTING`].
    #[error("macros (all/exists/map/filter) nest {depth} levels deep; the limit is {MAX_COMPREHENSION_NESTING}")]
    TooManyNestedMacros {
        /// Actual nesting.
        depth: usize,
    },
    /// `lists.range` with a size that is not a small literal.
    #[error("lists.range needs a literal size between 0 and {MAX_RANGE}, so its cost is known at load")]
    UnboundedRange,
    /// A literal regex in `matches` that does not compile.
    #[error("'{pattern}' is not a valid regex: {message}")]
    BadRegex {
        /// The pattern.
        pattern: String,
        /// The regex crate's reason.
        message: String,
    },
    /// The estimated cost at the expression's input bounds is over the per-expression limit.
    #[error(transparent)]
    TooCostly(Box<cost::TooCostly>),
    /// What the API server's compiler refuses (see `typecheck`): an undeclared
    /// function, no overload for literal arguments, a heterogeneous literal, a regex outside RE2,
    /// a format string that does not fit its arguments.
    #[error("line {line}, column {column}: {message}\n | {excerpt}\n | {caret}^")]
    Check {
        /// 1-based line inside the expression.
        line: usize,
        /// 1-based column inside the expression.
        column: usize,
        /// The finding.
        message: String,
        /// The expression's line the finding is on.
        excerpt: String,
        /// Dots up to the column, under [`CompileError::Check::excerpt`] (as cel-go points).
        caret: String,
    },
    /// A name that is neither a known variable nor bound by a macro.
    #[error("unknown variable '{name}' (known: {known})")]
    UnknownVariable {
        /// The name as written.
        name: String,
        /// What could have been meant.
        known: String,
    },
}

/// A compiled CEL expression with what was learned about it at load.
#[derive(Debug)]
pub struct CompiledExpr {
    /// The source, for error messages.
    pub source: String,
    /// The expression tree to execute (macros expanded, `matches` rewritten to its cached form).
    pub expr: IdedExpr,
    /// Root variables it reads (`object`, `params`, ...).
    pub free_variables: BTreeSet<String>,
    /// Pack variables it reads by name: `variables.x`, `has(variables.x)`, `variables.?x`,
    /// `variables['x']`, `variables[?'x']`.
    pub pack_variables: BTreeSet<String>,
    /// Params it reads by name, the same ways.
    pub param_keys: BTreeSet<String>,
    /// Of `params` and `variables`, those it also reads other than by name (`params[k]` with a
    /// computed key, or the whole map): what it reads of them is only known when it runs.
    pub whole_roots: BTreeSet<String>,
    /// Equal for the rule expressions of the packs loaded together that always compute the
    /// same result for the same `item` (see `load::assign_result_share_ids`), so a pass
    /// evaluates them once; `None` when not shared.
    pub share_id: Option<usize>,
    /// Deepest nesting of comprehensions.
    pub comprehension_depth: usize,
    /// Largest collection the expression itself writes (list literals, `lists.range`).
    pub max_literal_collection: usize,
    /// Worst-case steps as a polynomial in `L` (most entries of an input list or map) and `S`
    /// (most bytes of an input string): see [`cost::estimate`].
    pub cost: Poly,
    /// What it reads of its inputs: at run time `L` and `S` are the sizes of those values
    /// ([`cost::reads`]).
    pub reads: cost::reads::ExprReads,
    /// The compiled evaluator's program for it ([`super::compiled`]), set once its pack's
    /// variables are known (`pack::programs`); `None` runs it with the interpreter.
    pub program: Option<std::sync::Arc<super::compiled::Program>>,
    /// The indices of [`CompiledExpr::pack_variables`] in its pack's variables, set with
    /// [`CompiledExpr::program`]: what a run computes first.
    pub pack_variable_indices: Vec<usize>,
}

impl CompiledExpr {
    /// True when it reads `variables` other than by a name written in it (`variables[k]`, the
    /// whole map): every pack variable must then be computed for it.
    pub fn reads_all_variables(&self) -> bool {
        self.whole_roots.contains("variables")
    }

    /// Worst-case steps on an input of these sizes.
    pub fn estimated_cost(&self, sizes: Sizes) -> u128 {
        sizes.estimate(&self.cost)
    }
}

/// Compiles an expression of a policy or pack in the shared environment and checks its limits,
/// names, and what the API server refuses when a policy is created (`typecheck`),
/// heterogeneous list and map literals included.
pub fn compile(env: &Env, source: &str) -> Result<CompiledExpr, CompileError> {
    compile_checked(env, source, &[], true)
}

/// Like [`compile`], also accepting the root variables in `extra`, as `celgate eval` compiles
/// one expression: every check but the homogeneous-literal rule of Kubernetes' policy
/// environment, which cel-go (and its own tests) apply only when configured.
pub fn compile_with_roots(env: &Env, source: &str, extra: &[&str]) -> Result<CompiledExpr, CompileError> {
    compile_checked(env, source, extra, false)
}

fn compile_checked(env: &Env, source: &str, extra: &[&str], homogeneous: bool) -> Result<CompiledExpr, CompileError> {
    if source.trim().is_empty() {
        return Err(CompileError::Empty);
    }
    if source.len() > MAX_EXPRESSION_LEN {
        return Err(CompileError::TooLong { len: source.len() });
    }
    let program = env.compile(source).map_err(|errors| syntax_error(&errors))?;
    let facts = scan::scan(program.expression());
    if facts.max_depth > MAX_EXPRESSION_DEPTH {
        return Err(CompileError::TooDeep { depth: facts.max_depth });
    }
    if facts.comprehension_depth > MAX_COMPREHENSION_NESTING {
        return Err(CompileError::TooManyNestedMacros {
            depth: facts.comprehension_depth,
        });
    }
    if facts.unbounded_range {
        return Err(CompileError::UnboundedRange);
    }
    let mut expr = program.expression().clone();
    rewrite_matches(&mut expr)?;
    k8s::compat::rewrite(&mut expr);
    opt_chain::fuse(&mut expr);
    let known = |n: &str| ROOT_VARIABLES.contains(&n) || extra.contains(&n) || k8s::types::TYPE_NAMES.contains(&n);
    if let Some(name) = facts.free.iter().find(|n| !known(n)) {
        return Err(CompileError::UnknownVariable {
            name: name.clone(),
            known: ROOT_VARIABLES.join(", "),
        });
    }
    // The checks know how to ask the shared environment only.
    let shared = environment();
    if std::ptr::eq(env, Arc::as_ptr(&shared)) {
        super::typecheck::refuse(&shared, &program, source, homogeneous).map_err(|r| CompileError::Check {
            caret: ".".repeat(r.column - 1),
            line: r.line,
            column: r.column,
            message: r.message,
            excerpt: r.excerpt,
        })?;
    }
    Ok(CompiledExpr {
        source: source.to_owned(),
        free_variables: facts.free,
        pack_variables: facts.pack_variables,
        param_keys: facts.param_keys,
        whole_roots: facts.whole_roots,
        share_id: None,
        comprehension_depth: facts.comprehension_depth,
        max_literal_collection: facts.max_literal_collection,
        cost: cost::estimate(program.expression()),
        reads: cost::reads::analyse(program.expression()),
        program: None,
        pack_variable_indices: Vec::new(),
        expr,
    })
}

/// Turns `s.matches(p)` and `matches(s, p)` into the cached form; a literal pattern is checked
/// here so a bad regex is a load error. Called after the depth checks.
fn rewrite_matches(expr: &mut IdedExpr) -> Result<(), CompileError> {
    for child in ast::children_mut(expr) {
        rewrite_matches(child)?;
    }
    let Expr::Call(call) = &mut expr.expr else {
        return Ok(());
    };
    if call.target.is_none() && call.args.len() == 2 {
        let literal_scalar = |e: &IdedExpr| matches!(e.expr, Expr::Literal(_));
        let scalar_list = |e: &IdedExpr| matches!(&e.expr, Expr::List(l) if l.elements.iter().all(literal_scalar));
        let renamed = match call.func_name.as_str() {
            "_==_" if !call.args.iter().any(literal_scalar) => Some(equality::EQUALS),
            "_!=_" if !call.args.iter().any(literal_scalar) => Some(equality::NOT_EQUALS),
            "@in" if !scalar_list(&call.args[1]) => Some(equality::IN),
            _ => None,
        };
        if let Some(name) = renamed {
            name.clone_into(&mut call.func_name);
            return Ok(());
        }
    }
    let arity = call.args.len() + usize::from(call.target.is_some());
    if call.func_name == "matches" && arity == 2 {
        let mut args = Vec::with_capacity(2);
        if let Some(t) = call.target.take() {
            args.push(*t);
        }
        args.append(&mut call.args);
        if let Some(Expr::Literal(cel::common::ast::LiteralValue::String(p))) = args.get(1).map(|a| &a.expr) {
            super::k8s::regex::re2(p.inner()).map_err(|e| CompileError::BadRegex {
                pattern: p.inner().to_owned(),
                message: e.to_string(),
            })?;
        }
        call.args = args;
        super::environment::CACHED_MATCHES.clone_into(&mut call.func_name);
    }
    Ok(())
}

fn syntax_error(errors: &cel::ParseErrors) -> CompileError {
    let Some(first) = errors.errors.first() else {
        return CompileError::Syntax {
            line: 1,
            column: 1,
            message: "could not parse expression".to_owned(),
        };
    };
    CompileError::Syntax {
        line: usize::try_from(first.pos.0).unwrap_or(0).max(1),
        column: usize::try_from(first.pos.1).unwrap_or(0) + 1,
        message: first.msg.clone(),
    }
}

/// Compiles `source` ([`compile`]) and checks its estimate at `limits` ([`cost::check_load`]).
pub fn compile_within(
    env: &Env,
    source: &str,
    limits: cost::InputLimits,
    site: cost::BoundsSite,
) -> Result<CompiledExpr, CompileError> {
    let expr = compile(env, source)?;
    cost::check_load(&expr.cost, limits, site).map_err(CompileError::TooCostly)?;
    Ok(expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_variables_exclude_macro_bindings() {
        let env = environment();
        let e = compile(
            &env,
            "object.spec.containers.all(c, c.image != '' && variables.podSpec != null)",
        )
        .expect("compiles");
        assert_eq!(e.free_variables.iter().collect::<Vec<_>>(), ["object", "variables"]);
        assert_eq!(e.pack_variables.iter().collect::<Vec<_>>(), ["podSpec"]);
        assert_eq!(e.comprehension_depth, 1);
        // One loop: a constant part plus a body that runs once per element.
        assert_eq!(e.cost.degrees().0, 1, "{:?}", e.cost);
        let nested = compile(&env, "object.a.all(x, x.b.all(y, y > 0))").expect("compiles");
        assert_eq!(nested.cost.degrees().0, 2, "{:?}", nested.cost);
        assert!(nested.estimated_cost(Sizes::new(100, 10)) < 100 * 100 * 20);
    }

    #[test]
    fn unknown_variable_is_named() {
        let env = environment();
        let err = compile(&env, "objet.spec == null").expect_err("refused");
        assert!(matches!(err, CompileError::UnknownVariable { ref name, .. } if name == "objet"));
    }

    #[test]
    fn syntax_error_has_position() {
        let env = environment();
        let err = compile(&env, "object.spec.\n  ==").expect_err("refused");
        assert!(matches!(err, CompileError::Syntax { line: 2, .. }), "{err:?}");
    }

    #[test]
    fn extension_namespaces_are_not_variables() {
        let env = environment();
        let e = compile(
            &env,
            "lists.range(3).size() == 3 && strings.quote('a') != '' && math.greatest(1, 2) == 2",
        )
        .expect("compiles");
        assert!(e.free_variables.is_empty(), "{:?}", e.free_variables);
        assert_eq!(e.max_literal_collection, 3);
        assert!(matches!(
            compile(&env, "lists.range(object.n).size() > 0"),
            Err(CompileError::UnboundedRange)
        ));
        assert!(matches!(
            compile(&env, "lists.range(100000).size() > 0"),
            Err(CompileError::UnboundedRange)
        ));
    }

    #[test]
    fn matches_is_cached_and_literal_patterns_are_checked() {
        let env = environment();
        let e = compile(&env, "object.s.matches('^a+$') && matches(object.s, 'a')").expect("compiles");
        let doc = serde_json::json!({"s": "aaa"});
        let mut ctx = cel::Context::with_env(env.clone());
        let mut stats = super::super::value::ValueStats::default();
        ctx.add_variable_as_val("object", super::super::value::json_to_val(&doc, &mut stats));
        let v = cel::Value::resolve_val(&e.expr, &ctx).expect("runs");
        assert_eq!(cel::Value::try_from(&*v), Ok(cel::Value::Bool(true)));
        assert!(matches!(
            compile(&env, "object.s.matches('(')"),
            Err(CompileError::BadRegex { .. })
        ));
        // A dynamic bad pattern is an evaluation error, not a panic.
        let dynamic = compile(&env, "'x'.matches(object.s + '(')").expect("compiles");
        assert!(cel::Value::resolve_val(&dynamic.expr, &ctx).is_err());
    }

    #[test]
    fn deep_macro_nesting_is_refused() {
        let env = environment();
        let src = "object.a.all(a, a.all(b, b.all(c, c.all(d, d))))";
        assert!(matches!(
            compile(&env, src),
            Err(CompileError::TooManyNestedMacros { depth: 4 })
        ));
    }
}
