//! Shared by the `cel_compiled_*` tests: running one expression through the interpreter (as
//! celgate runs it) and through the compiled evaluator, and a canonical text of each result so
//! the two can be compared (maps by sorted keys, numbers with their kind).

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use cel::common::types::{CelMap, CelMapKey, CelString};
use cel::common::value::Val;
use cel::Context;
use celgate::engine::cel::compile::{self, CompiledExpr};
use celgate::engine::cel::compiled::{self, convert, EvalError, Limits, RequestBudget, Roots, Value, Variables};
use celgate::engine::cel::json_val::{json_view, to_value};

/// The canonical text of a `cel::Value`: kinds spelled out, maps sorted by key.
pub fn canon(v: &cel::Value) -> String {
    match v {
        cel::Value::Null => "null".to_owned(),
        cel::Value::Bool(b) => b.to_string(),
        cel::Value::Int(i) => format!("{i}"),
        cel::Value::UInt(u) => format!("{u}u"),
        cel::Value::Float(f) if f.is_nan() => "NaN".to_owned(),
        cel::Value::Float(f) => format!("{f:?}d"),
        cel::Value::String(s) => format!("{:?}", s.as_str()),
        cel::Value::List(items) => format!("[{}]", items.iter().map(canon).collect::<Vec<_>>().join(", ")),
        cel::Value::Map(m) => {
            let mut entries: Vec<String> = m
                .map
                .iter()
                .map(|(k, v)| format!("{}: {}", canon(&cel::Value::from(k.clone())), canon(v)))
                .collect();
            entries.sort();
            format!("{{{}}}", entries.join(", "))
        }
        cel::Value::Opaque(o) => match o.downcast_ref::<cel::objects::OptionalValue>() {
            Some(opt) => match opt.value() {
                Some(inner) => format!("optional({})", canon(inner)),
                None => "optional.none".to_owned(),
            },
            None => format!("<{}>", o.runtime_type_name()),
        },
        other => format!("{other:?}"),
    }
}

/// A result as text, or `Err` with why there is none.
pub type Outcome = Result<String, String>;

/// The documents one evaluation binds: the compiled evaluator's own roots.
pub type Docs<'v> = Roots<'v>;

/// The interpreter's scope for `docs`, with `variables` the values computed so far.
pub fn context<'v>(docs: &Docs<'v>, variables: &[(String, Option<Box<dyn Val + 'v>>)]) -> Context<'v, 'v> {
    let mut ctx = Context::with_env(compile::environment());
    for (name, doc) in [
        ("object", docs.object),
        ("oldObject", docs.old_object),
        ("request", docs.request),
        ("params", docs.params),
        ("namespaceObject", docs.namespace_object),
        ("item", docs.item),
    ] {
        if let Some(doc) = doc {
            ctx.add_variable_as_val(name, json_view(doc));
        }
    }
    if let Some(p) = &docs.item_pointer {
        ctx.add_variable_as_val("itemPointer", Box::new(CelString::from(p.to_string())));
    }
    let vars: HashMap<CelMapKey<'v>, Box<dyn Val + 'v>> = variables
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (CelMapKey::from(n.clone()), v.clone_as_boxed())))
        .collect();
    ctx.add_variable_as_val("variables", Box::new(CelMap::from(vars)));
    ctx
}

/// Runs `expr` with the interpreter in `ctx`: the value (kept, for variables) and its text.
pub fn interpret<'v>(expr: &CompiledExpr, ctx: &Context<'_, 'v>) -> (Option<Box<dyn Val + 'v>>, Outcome) {
    match cel::Value::resolve_val(&expr.expr, ctx) {
        Ok(v) => {
            let v = v.into_owned();
            let text = to_value(&*v).map(|x| canon(&x)).map_err(|e| e.to_string());
            (Some(v), text)
        }
        Err(e) => (None, Err(e.to_string())),
    }
}

/// Pack variables computed by the compiled evaluator, by index.
pub struct Computed<'v>(pub Vec<Result<Value<'v>, EvalError>>);

impl<'v> Variables<'v> for Computed<'v> {
    fn get(&self, index: usize) -> Result<Value<'v>, EvalError> {
        self.0
            .get(index)
            .cloned()
            .unwrap_or_else(|| Err(EvalError::Variable(Arc::from(index.to_string()))))
    }
}

/// Generous limits for differential runs.
pub fn limits() -> Limits {
    Limits::steps(50_000_000)
}

/// Runs `program` over `docs`: the value and its text.
pub fn run<'v>(
    program: &compiled::Program,
    docs: &Docs<'v>,
    variables: &dyn Variables<'v>,
) -> (Result<Value<'v>, EvalError>, Outcome) {
    let request = RequestBudget::new(u64::MAX);
    let result = program.evaluate(docs, variables, &limits(), &request);
    let text = match &result {
        Ok(v) => convert::to_cel_value(v).map(|x| canon(&x)).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    (result, text)
}

/// Whether two outcomes agree: the same value, or both an error.
pub fn agree(a: &Outcome, b: &Outcome) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (Err(_), Err(_)) => true,
        _ => false,
    }
}
