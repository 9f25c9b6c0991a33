//! What an expression reads of its inputs, found at load, so that its run-time cost is charged
//! on the sizes of those values only, never on the largest string or list elsewhere in the
//! document (a `kubectl.kubernetes.io/last-applied-configuration` annotation, `managedFields`,
//! a `ConfigMap`'s data the rule never looks at).
//!
//! A [`ReadPath`] is a *static access chain*: a root variable (`object`, `params`, `item`,
//! `variables`, ...) followed by the fields, literal keys and literal indexes written after it
//! (`object.spec.?template['spec'].containers[0]`). Every value an expression can reach from its
//! inputs lies inside the subtree of one of its maximal chains: what follows a chain is either a
//! computed key (which stays inside the chain's subtree) or a function of the chain's value. So
//! the sizes of those subtrees bound `L` and `S` of the estimate ([`super::estimate()`]) for that
//! expression. A `has(...)` test reads no value, only whether a field is there.
//!
//! Pack variables are resolved through their own expressions ([`VariableReads`]): when a
//! variable's value is one of some chains (`object.kind == 'Pod' ? object.spec : object.spec.template.spec`,
//! `object.?metadata.?labels.orValue({})`, a concatenation of such lists), a read of
//! `variables.x.f` is a read of `f` under each of them; otherwise the variable's value is
//! measured when it runs.

use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, LiteralValue};

use crate::engine::cel::value::ValueStats;

/// One step after the root of a [`ReadPath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    /// `.field`, `.?field`, `['key']`, `[?'key']`.
    Field(String),
    /// `[3]`, `[?3]`.
    Index(usize),
}

/// A root variable and the literal steps written after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReadPath {
    /// `object`, `oldObject`, `request`, `namespaceObject`, `params`, `item`, `itemPointer`,
    /// `variables` (then the first step is the variable's name), or a `celgate eval --var` name.
    pub root: String,
    /// The steps.
    pub path: Vec<Step>,
}

impl ReadPath {
    /// The same path with `suffix` appended.
    #[must_use]
    pub fn join(&self, suffix: &[Step]) -> ReadPath {
        let mut path = self.path.clone();
        path.extend_from_slice(suffix);
        ReadPath {
            root: self.root.clone(),
            path,
        }
    }
}

/// What one expression reads, and (for a pack variable) where its value comes from.
#[derive(Debug, Clone, Default)]
pub struct ExprReads {
    /// The maximal chains it reads.
    pub paths: Vec<ReadPath>,
    /// When its value is always (a part of) one of these chains or a literal: the chains.
    /// `None` when the value is computed (`map`, `split`, arithmetic, ...).
    pub origins: Option<Vec<ReadPath>>,
    /// The sizes of the literals its value may be made of (`{}`, `[]`, `'none'`).
    pub floor: ValueStats,
}

/// The reads of `expr`, a tree as parsed (before celgate's rewrites).
pub fn analyse(expr: &IdedExpr) -> ExprReads {
    let mut paths = Vec::new();
    let mut bound = Vec::new();
    collect(expr, &mut bound, &mut paths);
    paths.sort();
    paths.dedup();
    let mut floor = ValueStats::default();
    let origins = origins(expr, &mut floor).map(|mut o| {
        o.sort();
        o.dedup();
        o
    });
    ExprReads { paths, origins, floor }
}

/// `expr` as a chain: a root name that no macro bound, then literal steps.
fn chain(expr: &IdedExpr, bound: &[String]) -> Option<ReadPath> {
    match &expr.expr {
        Expr::Ident(name) if !bound.contains(name) => Some(ReadPath {
            root: name.clone(),
            path: Vec::new(),
        }),
        Expr::Select(select) if !select.test => {
            let mut base = chain(&select.operand, bound)?;
            base.path.push(Step::Field(select.field.clone()));
            Some(base)
        }
        Expr::Call(call) if call.target.is_none() && call.args.len() == 2 => {
            let name = call.func_name.as_str();
            if ![operators::INDEX, operators::OPT_INDEX, operators::OPT_SELECT].contains(&name) {
                return None;
            }
            let step = literal_step(&call.args[1])?;
            let mut base = chain(&call.args[0], bound)?;
            base.path.push(step);
            Some(base)
        }
        _ => None,
    }
}

fn literal_step(key: &IdedExpr) -> Option<Step> {
    match &key.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(Step::Field(s.inner().to_owned())),
        Expr::Literal(LiteralValue::Int(n)) => usize::try_from(*n.inner()).ok().map(Step::Index),
        Expr::Literal(LiteralValue::UInt(n)) => usize::try_from(*n.inner()).ok().map(Step::Index),
        _ => None,
    }
}

/// Adds the maximal chains under `expr` to `out`. Recursion follows the tree, whose depth the
/// compiler has already bounded.
fn collect(expr: &IdedExpr, bound: &mut Vec<String>, out: &mut Vec<ReadPath>) {
    if let Some(path) = chain(expr, bound) {
        // Function namespaces (`lists.range`) and type names are not reads of a value.
        if !is_function_namespace(&path.root) {
            out.push(path);
        }
        return;
    }
    match &expr.expr {
        Expr::Select(select) => {
            // `has(a.b)` reads whether `b` is there, not its value; a test on something else
            // (a computed value) reads what that reads.
            if !select.test || chain(&select.operand, bound).is_none() {
                collect(&select.operand, bound, out);
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                collect(target, bound, out);
            }
            for arg in &call.args {
                collect(arg, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            collect(&c.iter_range, bound, out);
            collect(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            if let Some(v2) = &c.iter_var2 {
                bound.push(v2.clone());
            }
            bound.push(c.accu_var.clone());
            collect(&c.loop_cond, bound, out);
            collect(&c.loop_step, bound, out);
            collect(&c.result, bound, out);
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for e in &list.elements {
                collect(e, bound, out);
            }
        }
        Expr::Map(map) => {
            for entry in &map.entries {
                if let EntryExpr::MapEntry(m) = &entry.expr {
                    collect(&m.key, bound, out);
                    collect(&m.value, bound, out);
                }
            }
        }
        Expr::Struct(s) => {
            for entry in &s.entries {
                if let EntryExpr::StructField(f) = &entry.expr {
                    collect(&f.value, bound, out);
                }
            }
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn is_function_namespace(name: &str) -> bool {
    crate::engine::cel::functions::FUNCTION_NAMESPACES.contains(&name)
        || crate::engine::cel::k8s::NAMESPACES.contains(&name)
        || crate::engine::cel::k8s::types::TYPE_NAMES.contains(&name)
}

/// The chains whose subtrees hold every value `expr` may have, when it is made only of chains
/// and literals (joined by `?:`, `orValue`, `or`, `+` and list or map literals); the literals'
/// sizes go to `floor`. `None` for a computed value. Only root-level names are chains here: a
/// pack variable's expression has no enclosing macro.
fn origins(expr: &IdedExpr, floor: &mut ValueStats) -> Option<Vec<ReadPath>> {
    if let Some(path) = chain(expr, &[]) {
        return (!is_function_namespace(&path.root)).then(|| vec![path]);
    }
    match &expr.expr {
        Expr::Literal(lit) => {
            let len = match lit {
                LiteralValue::String(s) => s.inner().len(),
                LiteralValue::Bytes(b) => b.inner().len(),
                _ => 0,
            };
            floor.max_string = floor.max_string.max(len);
            Some(Vec::new())
        }
        Expr::List(list) => {
            floor.max_collection = floor.max_collection.max(list.elements.len());
            union(list.elements.iter(), floor)
        }
        Expr::Map(map) => {
            floor.max_collection = floor.max_collection.max(map.entries.len());
            let mut parts = Vec::new();
            for entry in &map.entries {
                let EntryExpr::MapEntry(m) = &entry.expr else {
                    return None;
                };
                parts.push(&m.key);
                parts.push(&m.value);
            }
            union(parts.into_iter(), floor)
        }
        Expr::Call(call) => match (call.func_name.as_str(), &call.target) {
            (operators::CONDITIONAL, None) => union(call.args.iter().skip(1), floor),
            (operators::ADD, None) => union(call.args.iter(), floor),
            ("orValue" | "or", Some(target)) => union(std::iter::once(&**target).chain(call.args.iter()), floor),
            _ => None,
        },
        _ => None,
    }
}

fn union<'e>(parts: impl Iterator<Item = &'e IdedExpr>, floor: &mut ValueStats) -> Option<Vec<ReadPath>> {
    let mut out = Vec::new();
    for part in parts {
        out.extend(origins(part, floor)?);
    }
    Some(out)
}

/// How a read of `variables.<name>...` is charged, resolved at load from the variable's own
/// expression and those of the variables it reads.
#[derive(Debug, Clone, Default)]
pub struct VariableReads {
    /// Chains rooted at the documents (never at `variables`).
    pub paths: Vec<ReadPath>,
    /// True when `paths` are where the value comes from, so that a read of `variables.x.f` is a
    /// read of `f` under each of them. Otherwise `paths` are what computing it read, and the
    /// value itself is measured ([`Self::measured`]).
    pub origins: bool,
    /// The value is computed: its size is measured when it runs.
    pub measured: bool,
    /// Literal sizes the value may have.
    pub floor: ValueStats,
}

/// Resolves the reads of the variables of one pack, in declaration order (a variable reads
/// only earlier ones): `reads[i]` and `names[i]` are the `i`-th variable's.
pub fn resolve_variables(names: &[&str], reads: &[&ExprReads]) -> Vec<VariableReads> {
    let mut resolved: Vec<VariableReads> = Vec::with_capacity(reads.len());
    for expr in reads {
        let lookup = |name: &str| names.iter().position(|n| *n == name).and_then(|i| resolved.get(i));
        let mut floor = expr.floor;
        let mut measured = false;
        let mut origins_paths = Vec::new();
        let origins_ok = expr.origins.as_ref().is_some_and(|origins| {
            origins.iter().all(|o| {
                resolve_one(o, &lookup, &mut origins_paths, &mut floor, &mut measured);
                !measured
            })
        });
        let entry = if origins_ok {
            VariableReads {
                paths: origins_paths,
                origins: true,
                measured: false,
                floor,
            }
        } else {
            let mut paths = Vec::new();
            let mut ignored = false;
            for p in &expr.paths {
                resolve_one(p, &lookup, &mut paths, &mut floor, &mut ignored);
            }
            VariableReads {
                paths,
                origins: false,
                measured: true,
                floor: expr.floor,
            }
        };
        resolved.push(dedup(entry));
    }
    resolved
}

fn dedup(mut entry: VariableReads) -> VariableReads {
    entry.paths.sort();
    entry.paths.dedup();
    entry
}

/// Adds the document chains `path` stands for to `out`: itself, or for `variables.x.rest` the
/// chains of `x` (with `rest` appended when they are its origins). Sets `measured` when `x` is
/// measured: then only the value itself bounds what `rest` reaches.
fn resolve_one<'r>(
    path: &ReadPath,
    lookup: &dyn Fn(&str) -> Option<&'r VariableReads>,
    out: &mut Vec<ReadPath>,
    floor: &mut ValueStats,
    measured: &mut bool,
) {
    if path.root != "variables" {
        out.push(path.clone());
        return;
    }
    let Some((Step::Field(name), rest)) = path.path.split_first() else {
        // The whole map, or a computed key: no single variable.
        *measured = true;
        return;
    };
    let Some(var) = lookup(name) else {
        // Not an earlier variable: the compiler reports it.
        return;
    };
    *floor = floor.merge(var.floor);
    if var.origins {
        out.extend(var.paths.iter().map(|p| p.join(rest)));
    } else {
        out.extend(var.paths.iter().cloned());
        *measured = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(src: &str) -> ExprReads {
        let env = crate::engine::cel::compile::environment();
        let program = env.compile(src).expect("parses");
        analyse(program.expression())
    }

    fn show(paths: &[ReadPath]) -> Vec<String> {
        paths
            .iter()
            .map(|p| {
                let mut s = p.root.clone();
                for step in &p.path {
                    match step {
                        Step::Field(f) => s = format!("{s}.{f}"),
                        Step::Index(i) => s = format!("{s}[{i}]"),
                    }
                }
                s
            })
            .collect()
    }

    #[test]
    fn maximal_chains_only() {
        let r = reads("object.metadata.?labels['app'].orValue('') == 'x' && object.spec.containers.all(c, c.image.startsWith(params.prefix))");
        assert_eq!(
            show(&r.paths),
            ["object.metadata.labels.app", "object.spec.containers", "params.prefix"]
        );
        assert!(r.origins.is_none());
    }

    #[test]
    fn has_reads_no_value_and_macro_variables_are_not_roots() {
        let r = reads("has(object.metadata.annotations) && object.spec.ports.exists(object, object.port == 80)");
        assert_eq!(show(&r.paths), ["object.spec.ports"]);
        let r = reads("lists.range(3).size() == 3 && object.items[0].name == 'a'");
        assert_eq!(show(&r.paths), ["object.items[0].name"]);
    }

    #[test]
    fn origins_follow_selections() {
        let r = reads("object.kind == 'Pod' ? object.?spec.orValue({}) : object.spec.template.spec");
        assert_eq!(
            show(r.origins.as_deref().expect("origins")),
            ["object.spec", "object.spec.template.spec"]
        );
        assert!(reads("object.spec.containers.map(c, c.name)").origins.is_none());
    }

    #[test]
    fn variables_resolve_through_their_origins() {
        let pod = reads("object.kind == 'Pod' ? object.spec : object.spec.template.spec");
        let containers =
            reads("variables.podSpec.?containers.orValue([]) + variables.podSpec.?initContainers.orValue([])");
        let names = reads("variables.containers.map(c, c.name)");
        let resolved = resolve_variables(&["podSpec", "containers", "names"], &[&pod, &containers, &names]);
        assert!(resolved[1].origins);
        assert_eq!(
            show(&resolved[1].paths),
            [
                "object.spec.containers",
                "object.spec.initContainers",
                "object.spec.template.spec.containers",
                "object.spec.template.spec.initContainers"
            ]
        );
        assert!(resolved[2].measured);
        assert_eq!(show(&resolved[2].paths), show(&resolved[1].paths));
    }
}
