//! The compiled form of an expression: a tree of resolved operations. Names are slots, literal
//! regexes are compiled, operators are chosen; `eval` runs it with one `match` per node.

use std::sync::Arc;

use super::bridge::Bridge;
use super::builtins::Builtin;
use super::{EvalError, Value};

/// A root variable the caller binds to a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `object`.
    Object,
    /// `oldObject`.
    OldObject,
    /// `request`.
    Request,
    /// `params`.
    Params,
    /// `namespaceObject`.
    NamespaceObject,
    /// `item` (a `forEach` item).
    Item,
}

impl Root {
    /// The root a name stands for.
    pub fn of(name: &str) -> Option<Root> {
        Some(match name {
            "object" => Root::Object,
            "oldObject" => Root::OldObject,
            "request" => Root::Request,
            "params" => Root::Params,
            "namespaceObject" => Root::NamespaceObject,
            "item" => Root::Item,
            _ => return None,
        })
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Rem,
}

/// One operation of a compiled expression.
#[derive(Debug)]
pub enum Node {
    /// A constant (literals, and whatever was folded at compile time).
    Const(Value<'static>),
    /// An error known at compile time, raised when (and only if) the node runs.
    Fail(EvalError),
    /// A root document.
    Root(Root),
    /// `itemPointer`.
    ItemPointer,
    /// An extra root variable (`celgate eval --var NAME=JSON`), by its index in the layout.
    Extra(usize),
    /// A pack variable, by its index in the layout.
    Var(usize),
    /// A comprehension variable, by slot.
    Local(usize),
    /// `operand.field`.
    Select(Box<Node>, Arc<str>),
    /// `has(operand.field)`.
    Has(Box<Node>, Arc<str>),
    /// `operand.f1.f2...`: a chain of selects walked in one node.
    Path(Box<Node>, Box<[Arc<str>]>),
    /// `has(operand.f1...fn.last)`.
    HasPath(Box<Node>, Box<[Arc<str>]>, Arc<str>),
    /// `operand[index]`.
    Index(Box<Node>, Box<Node>),
    /// An optional chain (`x[?k].?f`, `x.?a[?i].orValue(d)`, a fused `__celgate_opt_or`)
    /// walked in one node: the optionals between its steps are never built.
    OptChain(Box<OptChain>),
    /// `a && b`.
    And(Box<Node>, Box<Node>),
    /// `a || b`.
    Or(Box<Node>, Box<Node>),
    /// `!a`.
    Not(Box<Node>),
    /// `@not_strictly_false(a)`: true unless `a` is `false`.
    NotStrictlyFalse(Box<Node>),
    /// `c ? a : b`.
    Cond(Box<[Node; 3]>),
    /// `a == b` (negated when the flag is set).
    Eq(Box<Node>, Box<Node>, bool),
    /// `a == b` (or `!=`) where one side is a constant: the constant is compared in place.
    EqConst(Box<EqConst>),
    /// `a in b`.
    In(Box<Node>, Box<Node>),
    /// `a < b` and the like.
    Cmp(CmpOp, Box<Node>, Box<Node>),
    /// `a + b` and the like.
    Arith(ArithOp, Box<Node>, Box<Node>),
    /// `a + b + c ...` (a left-nested chain of `_+_`): the first operand, then the ones added to
    /// it (at least two), added left to right as the nested nodes would, but strings are joined
    /// into one text, not one string per `+`.
    AddChain(Box<Node>, Vec<Node>),
    /// `-a`.
    Neg(Box<Node>),
    /// A list literal; the indices are its optional (`?x`) elements.
    List(Vec<Node>, Vec<usize>),
    /// A map literal: key, value, optional entry.
    Map(Vec<(Node, Node, bool)>),
    /// A function the evaluator implements, with its arguments (the receiver first) and the
    /// interpreter's call for operand kinds it leaves alone.
    Call(Builtin, Vec<Node>, Option<Box<Bridge>>),
    /// `text.matches(pattern)` with a literal pattern, compiled once.
    Matches(Box<Node>, Arc<regex::Regex>),
    /// A function or operator run by the `cel` crate's interpreter, with its arguments.
    Bridge(Box<Bridge>, Vec<Node>),
    /// A comprehension.
    Loop(Box<Loop>),
}

/// `operand == constant` or `constant == operand` (`!=` when `negate`), counting the steps the
/// `Eq` node and its constant operand counted.
#[derive(Debug)]
pub struct EqConst {
    /// The side that is computed.
    pub operand: Node,
    /// The side that is a constant.
    pub constant: Value<'static>,
    /// Whether the constant is the left side.
    pub constant_left: bool,
    /// `!=`.
    pub negate: bool,
}

/// An optional chain: `operand` then each step, as the nodes it replaces would run them (the
/// same order, results, errors and steps).
#[derive(Debug)]
pub struct OptChain {
    /// What the chain starts from (an `optional` is unwrapped once).
    pub operand: Node,
    /// The steps, in order.
    pub steps: Vec<OptStep>,
    /// What ends it, if anything: without an end the result is an `optional`.
    pub end: Option<OptEnd>,
    /// The steps the nodes it replaces count besides the one `eval` counts for it (all of
    /// them on entry, as those nodes are entered before their operands run).
    pub counted: u64,
}

/// One step of an [`OptChain`].
#[derive(Debug)]
pub enum OptStep {
    /// `.?field`.
    Field(Arc<str>),
    /// `[?index]`.
    Index(Node),
}

/// How an [`OptChain`] ends: the value found, else `default`.
#[derive(Debug)]
pub struct OptEnd {
    /// The default.
    pub default: Node,
    /// Whether the default is evaluated before the chain (a fused `__celgate_opt_or`) rather
    /// than after it (`.orValue(d)`).
    pub default_first: bool,
}

/// A comprehension (`all`, `exists`, `map`, `filter`, ... after macro expansion).
#[derive(Debug)]
pub struct Loop {
    /// What it iterates over.
    pub range: Node,
    /// Slot of the iteration variable.
    pub iter_slot: usize,
    /// Slot of the accumulator.
    pub accu_slot: usize,
    /// Initial accumulator.
    pub init: Node,
    /// Whether to go on (checked before each element).
    pub cond: Node,
    /// The next accumulator.
    pub step: Node,
    /// The result, from the final accumulator.
    pub result: Node,
    /// How it is run.
    pub shape: LoopShape,
}

/// Shapes of comprehension that run faster than the general loop.
#[derive(Debug)]
pub enum LoopShape {
    /// The general loop.
    General,
    /// `all`/`exists`: a step `accu && p` (`And`) or `accu || p`; an error of the step waits for
    /// a later element that decides the result (as the interpreter does).
    Fold {
        /// True for `||`.
        or: bool,
    },
    /// `all` (`or` false) or `exists` exactly as the macros expand them (accumulator starting at
    /// `!or`, condition `@not_strictly_false(accu)` or `@not_strictly_false(!accu)`, step
    /// `accu && pred` or `accu || pred`, result `accu`): runs `pred` alone, with the same
    /// results and errors as the general loop.
    Quantifier {
        /// True for `exists`.
        or: bool,
        /// The predicate.
        pred: Node,
    },
    /// `map`/`filter`: the accumulator starts as `[]` and each step appends `items`
    /// (`guard ? accu + items : accu` when there is a guard); built in place.
    Append {
        /// The filter, if any.
        guard: Option<Node>,
        /// The list appended.
        items: Node,
    },
}
