//! The static cost of one expression as a [`Poly`] in `L` and `S`: a walk of the compiled tree
//! that tracks, besides each node's cost, the shape of the value it yields (how many entries, how
//! many bytes), so that a macro over `s.split(',')` loops `S` times and one over a list literal
//! as many times as it has elements.
//!
//! The rules, in the spirit of cel-go's and Kubernetes' estimators (`checker/cost.go`,
//! `k8s.io/apiserver/pkg/cel/library/cost.go`):
//! - every node costs 1 (a literal, a name, a field, a call, an index);
//! - a macro (`all`, `exists`, `exists_one`, `map`, `filter`, ...) costs its range, its start and
//!   its result once, and its loop body (condition and step) once per entry of its range;
//! - `a ? b : c` costs the condition and the dearer branch;
//! - functions add what [`super::functions`] says: string functions a traversal of the string
//!   (0.1 per byte), regexes the traversal times 0.25 per byte of pattern, list functions one
//!   step per entry, the Kubernetes libraries their `cost.go` factors.
//!
//! Values read from the input (`object`, `params`, a field, an unknown function's result) have
//! `L` entries and `S` bytes. The celgate interpreter has no step counter: this estimate is all
//! celgate knows of an expression's cost, at load (with declared or default bounds) and at run
//! time (with the input's actual sizes).

use std::rc::Rc;

use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, ListExpr, LiteralValue};

use super::functions::call_cost;
use super::poly::Poly;

/// What is known of a value's size.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    /// Entries, if it is a list or map.
    pub(super) len: Poly,
    /// Bytes, if it is a string or bytes.
    pub(super) text: Poly,
    /// What its entries look like.
    pub(super) elem: Elem,
}

/// The shape of a collection's entries.
#[derive(Debug, Clone)]
pub(super) enum Elem {
    /// Like any value of the input: `L` entries, `S` bytes, entries alike.
    Input,
    /// Like any value of the params: `L` entries, `P` bytes, entries alike.
    Params,
    /// Either of the input or of the params.
    Either,
    /// `[key, value]` pairs of a two-variable comprehension: entry 0 is shaped like the first,
    /// entry 1 like the second.
    Pair(Rc<Shape>, Rc<Shape>),
    /// A known shape.
    Known(Rc<Shape>),
}

impl Shape {
    /// A value of the input, or of unknown origin.
    pub(super) fn input() -> Shape {
        Shape {
            len: Poly::list(),
            text: Poly::string(),
            elem: Elem::Input,
        }
    }

    /// A value of the params: lists of up to `L` entries, strings of up to `P` bytes.
    pub(super) fn params() -> Shape {
        Shape {
            len: Poly::list(),
            text: Poly::param_string(),
            elem: Elem::Params,
        }
    }

    /// A value of the input or of the params.
    fn either() -> Shape {
        Shape {
            len: Poly::list(),
            text: Poly::string().add(&Poly::param_string()),
            elem: Elem::Either,
        }
    }

    /// A key of a map of the input, or an index of a list: at most `K` bytes.
    pub(super) fn key() -> Shape {
        Shape::text(Poly::key())
    }

    /// The `[key, value]` pairs a two-variable comprehension walks over `range`.
    pub(super) fn pairs(range: &Shape) -> Shape {
        let key = if range.is_params() {
            Shape::params()
        } else {
            Shape::key()
        };
        let pair = Shape {
            len: Poly::constant(2.0),
            text: Poly::default(),
            elem: Elem::Pair(Rc::new(key), Rc::new(range.entry())),
        };
        Shape::list(range.len.clone(), pair)
    }

    /// Entry `n` of a `[key, value]` pair, or any entry.
    pub(super) fn entry_at(&self, n: Option<usize>) -> Shape {
        match (&self.elem, n) {
            (Elem::Pair(key, _), Some(0)) => (**key).clone(),
            (Elem::Pair(_, value), Some(1)) => (**value).clone(),
            _ => self.entry(),
        }
    }

    /// True for a value of the params (and what is selected from it).
    fn is_params(&self) -> bool {
        matches!(self.elem, Elem::Params)
    }

    /// A number, bool, null or other fixed-size value.
    pub(super) fn scalar() -> Shape {
        Shape {
            len: Poly::default(),
            text: Poly::default(),
            elem: Elem::Input,
        }
    }

    /// A string of `text` bytes.
    pub(super) fn text(text: Poly) -> Shape {
        Shape {
            text,
            ..Shape::scalar()
        }
    }

    /// A list of `len` entries shaped like `elem`.
    pub(super) fn list(len: Poly, elem: Shape) -> Shape {
        Shape {
            len,
            text: Poly::default(),
            elem: Elem::Known(Rc::new(elem)),
        }
    }

    /// The shape of an entry (of a key, when iterating a map: also a value of the input).
    pub(super) fn entry(&self) -> Shape {
        match &self.elem {
            Elem::Input => Shape::input(),
            Elem::Params => Shape::params(),
            Elem::Either => Shape::either(),
            Elem::Known(s) => (**s).clone(),
            Elem::Pair(key, value) => key.union(value),
        }
    }

    /// A shape at least as large as both (for a value that may be either).
    pub(super) fn union(&self, other: &Shape) -> Shape {
        let elem = match (&self.elem, &other.elem) {
            (Elem::Known(a), Elem::Known(b)) => Elem::Known(Rc::new(a.union(b))),
            (Elem::Pair(k1, v1), Elem::Pair(k2, v2)) => Elem::Pair(Rc::new(k1.union(k2)), Rc::new(v1.union(v2))),
            (Elem::Pair(..), _) | (_, Elem::Pair(..)) => Elem::Known(Rc::new(self.entry().union(&other.entry()))),
            (Elem::Params, Elem::Params) => Elem::Params,
            // A known shape is at most what the input holds.
            (Elem::Input, Elem::Input | Elem::Known(_)) | (Elem::Known(_), Elem::Input) => Elem::Input,
            _ => Elem::Either,
        };
        Shape {
            len: self.len.max(&other.len),
            text: self.text.max(&other.text),
            elem,
        }
    }
}

/// Names bound by the enclosing macros, innermost last.
type Scope = Vec<(String, Shape)>;

/// The worst-case cost of `expr` as a polynomial in `L` and `S`. Call after the depth checks:
/// the walk recurses once per level of the tree.
pub fn estimate(expr: &IdedExpr) -> Poly {
    walk(expr, &mut Vec::new()).0
}

fn walk(expr: &IdedExpr, scope: &mut Scope) -> (Poly, Shape) {
    let one = Poly::constant(1.0);
    match &expr.expr {
        Expr::Literal(lit) => (one, literal_shape(lit)),
        Expr::Ident(name) => {
            let shape = match scope.iter().rev().find(|(n, _)| n == name) {
                Some((_, s)) => s.clone(),
                None if name == "params" => Shape::params(),
                None => Shape::input(),
            };
            (one, shape)
        }
        Expr::Select(select) => {
            let (cost, operand) = walk(&select.operand, scope);
            let shape = if select.test {
                Shape::scalar()
            } else if operand.is_params() {
                Shape::params()
            } else {
                Shape::input()
            };
            (cost.add(&one), shape)
        }
        Expr::Call(call) => walk_call(call, scope),
        Expr::Comprehension(c) => walk_comprehension(c, scope),
        Expr::List(list) => walk_list(list, scope),
        Expr::Map(map) => {
            let cost = map.entries.iter().fold(one, |acc, e| acc.add(&entry_cost(e, scope)));
            #[allow(clippy::cast_precision_loss)]
            let len = Poly::constant(map.entries.len() as f64);
            (cost, Shape::list(len, Shape::input()))
        }
        Expr::Struct(s) => {
            let cost = s.entries.iter().fold(one, |acc, e| acc.add(&entry_cost(e, scope)));
            (cost, Shape::input())
        }
        Expr::Unspecified => (one, Shape::scalar()),
    }
}

/// A call: its operands (not a function namespace), then what [`call_cost`] says of the
/// function.
fn walk_call(call: &CallExpr, scope: &mut Scope) -> (Poly, Shape) {
    let one = Poly::constant(1.0);
    let mut operands = Vec::with_capacity(call.args.len() + 1);
    let mut costs = Vec::with_capacity(call.args.len() + 1);
    let namespace = match call.target.as_deref().map(|t| &t.expr) {
        Some(Expr::Ident(ns)) if is_namespace(ns, scope) => Some(ns.as_str()),
        _ => None,
    };
    if let (Some(target), None) = (&call.target, namespace) {
        let (c, s) = walk(target, scope);
        costs.push(c);
        operands.push(s);
    }
    for arg in &call.args {
        let (c, s) = walk(arg, scope);
        costs.push(c);
        operands.push(s);
    }
    let literal_text = call.args.iter().map(literal_len).collect::<Vec<_>>();
    let call = call_cost(
        &call.func_name,
        namespace,
        call.target.is_some() && namespace.is_none(),
        &operands,
        &literal_text,
    );
    let operands_cost = if call.one_branch {
        // `c ? a : b`: the condition and the dearer branch.
        let mut it = costs.into_iter();
        let cond = it.next().unwrap_or_default();
        it.fold(Poly::default(), |acc, c| acc.max(&c)).add(&cond)
    } else {
        costs.iter().fold(Poly::default(), |acc, c| acc.add(c))
    };
    (one.add(&operands_cost).add(&call.cost), call.result)
}

/// A macro: its range, start and result once, its loop body once per entry of its range, with
/// its variables in scope.
fn walk_comprehension(c: &ComprehensionExpr, scope: &mut Scope) -> (Poly, Shape) {
    let one = Poly::constant(1.0);
    let (range_cost, range) = walk(&c.iter_range, scope);
    let (init_cost, init) = walk(&c.accu_init, scope);
    // A list built by `map`/`filter` grows up to one entry per iteration.
    let accu = if init.len.is_zero() && is_list_literal(&c.accu_init) {
        Shape::list(range.len.clone(), Shape::input())
    } else {
        init
    };
    let depth = scope.len();
    match &c.iter_var2 {
        // Two variables: index or key, then value.
        Some(second) => {
            scope.push((c.iter_var.clone(), Shape::key()));
            scope.push((second.clone(), range.entry()));
        }
        None => scope.push((c.iter_var.clone(), range.entry())),
    }
    scope.push((c.accu_var.clone(), accu.clone()));
    let (cond_cost, _) = walk(&c.loop_cond, scope);
    let (step_cost, _) = walk(&c.loop_step, scope);
    let (result_cost, result) = walk(&c.result, scope);
    scope.truncate(depth);
    let body = cond_cost.add(&step_cost).mul(&range.len);
    let cost = one.add(&range_cost).add(&init_cost).add(&body).add(&result_cost);
    // The result of `map`/`filter` is the accumulated list.
    let shape = if is_accu(&c.result, &c.accu_var) { accu } else { result };
    (cost, shape)
}

/// A list literal: its elements, as many entries as it has, each shaped like any of them.
fn walk_list(list: &ListExpr, scope: &mut Scope) -> (Poly, Shape) {
    let mut cost = Poly::constant(1.0);
    let mut elem: Option<Shape> = None;
    for e in &list.elements {
        let (c, s) = walk(e, scope);
        cost = cost.add(&c);
        elem = Some(match elem {
            None => s,
            Some(prev) => prev.union(&s),
        });
    }
    #[allow(clippy::cast_precision_loss)] // a literal has at most a few thousand elements
    let len = Poly::constant(list.elements.len() as f64);
    (cost, Shape::list(len, elem.unwrap_or_else(Shape::scalar)))
}

fn entry_cost(entry: &cel::common::ast::IdedEntryExpr, scope: &mut Scope) -> Poly {
    match &entry.expr {
        EntryExpr::StructField(f) => walk(&f.value, scope).0,
        EntryExpr::MapEntry(m) => walk(&m.key, scope).0.add(&walk(&m.value, scope).0),
    }
}

fn literal_shape(lit: &LiteralValue) -> Shape {
    #[allow(clippy::cast_precision_loss)] // expressions are at most 5 000 bytes
    match lit {
        LiteralValue::String(s) => Shape::text(Poly::constant(s.inner().len() as f64)),
        LiteralValue::Bytes(b) => Shape::text(Poly::constant(b.inner().len() as f64)),
        _ => Shape::scalar(),
    }
}

/// The size of a literal argument: the bytes of a string (a regex pattern, a separator), the
/// value of a non-negative int (`lists.range(n)`).
fn literal_len(expr: &IdedExpr) -> Option<usize> {
    match &expr.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner().len()),
        Expr::Literal(LiteralValue::Int(n)) => usize::try_from(*n.inner()).ok(),
        _ => None,
    }
}

fn is_list_literal(expr: &IdedExpr) -> bool {
    matches!(&expr.expr, Expr::List(l) if l.elements.is_empty())
}

fn is_accu(expr: &IdedExpr, accu: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(name) if name == accu)
}

/// `strings.quote(...)`, `sets.contains(...)`: a function namespace, unless a macro bound the
/// name.
fn is_namespace(name: &str, scope: &Scope) -> bool {
    (crate::engine::cel::functions::FUNCTION_NAMESPACES.contains(&name)
        || crate::engine::cel::k8s::NAMESPACES.contains(&name))
        && !scope.iter().any(|(n, _)| n == name)
}
