//! The compiled CEL evaluator (design §1, "CEL, compiled").
//!
//! [`compile`] turns an expression the `cel` crate parsed (macros expanded and celgate's rewrites
//! done: [`crate::engine::cel::compile::CompiledExpr::expr`]) into a [`Program`]: a tree of resolved
//! operations ([`ir`]) in which names are slots, literal regexes are compiled once, operators
//! are chosen and constant subtrees are folded. [`Program::evaluate`] runs it over documents
//! read in place ([`Value`] borrows from `serde_json`), counting every step against the
//! expression's limit and what the request has left, and looking at the deadline as it runs
//! ([`budget`]): a runaway expression stops with [`EvalError::BudgetExceeded`] or
//! [`EvalError::DeadlineExceeded`] on the thread that runs it.
//!
//! The `cel` crate stays the reference: what the evaluator does not implement itself (most
//! Kubernetes library functions, timestamps and durations, unusual operand kinds) it hands to
//! the interpreter one call at a time ([`bridge`]); [`Program::bridged`] names those functions.
//! [`compile_native`] refuses them instead ([`Unsupported`]), for callers that want the whole
//! expression on the compiled path or none of it.
//!
//! ```text
//! let program = compiled::compile(&compiled_expr.expr, &Layout::default())?;
//! let roots = Roots { object: Some(&json), ..Roots::default() };
//! let value = program.evaluate(&roots, &NoVariables, &Limits::steps(1_000_000), &RequestBudget::new(10_000_000))?;
//! ```

pub mod bridge;
pub mod budget;
pub mod builtins;
mod comprehension;
pub mod convert;
mod error;
mod eval;
pub mod ir;
mod lower;
pub mod ops;
pub mod value;

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::common::ast::IdedExpr;
use cel::Env;
use serde_json::Value as Json;

pub use budget::{Limits, RequestBudget};
pub use error::{EvalError, FunctionError, NoOverload, Unsupported};
pub use value::Value;

use budget::Meter;
use ir::{Node, Root};

/// What the compiler needs to know of the scope an expression runs in.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The pack's variables, in the order [`Variables::get`] is asked for them by index.
    pub variables: Vec<String>,
    /// Extra root variables (`celgate eval --var NAME=JSON`), in the order of [`Roots::extra`].
    pub extra_roots: Vec<String>,
}

/// The documents an evaluation reads, bound to the root names (`None`: not bound; reading it is
/// an error).
#[derive(Debug, Clone, Default)]
pub struct Roots<'v> {
    /// `object`.
    pub object: Option<&'v Json>,
    /// `oldObject`.
    pub old_object: Option<&'v Json>,
    /// `request`.
    pub request: Option<&'v Json>,
    /// `params`.
    pub params: Option<&'v Json>,
    /// `namespaceObject`.
    pub namespace_object: Option<&'v Json>,
    /// `item` (a `forEach` item).
    pub item: Option<&'v Json>,
    /// `itemPointer` (computed per item, so shared rather than borrowed).
    pub item_pointer: Option<Arc<str>>,
    /// The extra root variables, in the order of [`Layout::extra_roots`].
    pub extra: &'v [(String, Json)],
}

impl<'v> Roots<'v> {
    fn get(&self, root: Root) -> Option<&'v Json> {
        match root {
            Root::Object => self.object,
            Root::OldObject => self.old_object,
            Root::Request => self.request,
            Root::Params => self.params,
            Root::NamespaceObject => self.namespace_object,
            Root::Item => self.item,
        }
    }
}

/// The pack variables of an evaluation, computed when first read (the caller memoises them).
pub trait Variables<'v> {
    /// The value of the variable at `index` in the [`Layout`], or why it has none.
    fn get(&self, index: usize) -> Result<Value<'v>, EvalError>;
}

/// No pack variables.
pub struct NoVariables;

impl<'v> Variables<'v> for NoVariables {
    fn get(&self, index: usize) -> Result<Value<'v>, EvalError> {
        Err(EvalError::Variable(Arc::from(index.to_string())))
    }
}

/// A compiled expression, shared across threads and requests.
pub struct Program {
    root: Node,
    slots: usize,
    bridged: Vec<String>,
    env: Arc<Env>,
}

/// Compiles `expr` for `layout`; functions the evaluator does not implement go to the
/// interpreter ([`Program::bridged`]).
pub fn compile(expr: &IdedExpr, layout: &Layout) -> Result<Program, Unsupported> {
    compile_with(expr, layout, true)
}

/// Compiles `expr` for `layout` entirely: a function the evaluator does not implement itself is
/// [`Unsupported`].
pub fn compile_native(expr: &IdedExpr, layout: &Layout) -> Result<Program, Unsupported> {
    compile_with(expr, layout, false)
}

fn compile_with(expr: &IdedExpr, layout: &Layout, allow_bridge: bool) -> Result<Program, Unsupported> {
    let env = crate::engine::cel::environment::environment();
    let mut lowerer = lower::Lowerer {
        env: &env,
        layout,
        scope: Vec::new(),
        slots: 0,
        allow_bridge,
        bridged: BTreeSet::new(),
    };
    let root = lowerer.lower(expr)?;
    let slots = lowerer.slots;
    let bridged = lowerer.bridged.into_iter().collect();
    Ok(Program {
        root,
        slots,
        bridged,
        env,
    })
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("root", &self.root)
            .field("slots", &self.slots)
            .field("bridged", &self.bridged)
            .finish_non_exhaustive()
    }
}

impl Program {
    /// Evaluates the program over `roots` and `variables` within `limits`, taking the steps it
    /// used from `request`.
    pub fn evaluate<'v>(
        &self,
        roots: &Roots<'v>,
        variables: &dyn Variables<'v>,
        limits: &Limits,
        request: &RequestBudget,
    ) -> Result<Value<'v>, EvalError> {
        self.evaluate_counted(roots, variables, limits, request).0
    }

    /// [`Program::evaluate`], also saying how many steps it took.
    pub fn evaluate_counted<'v>(
        &self,
        roots: &Roots<'v>,
        variables: &dyn Variables<'v>,
        limits: &Limits,
        request: &RequestBudget,
    ) -> (Result<Value<'v>, EvalError>, u64) {
        // Comprehension variables live on the stack unless there are many. Only the slots the
        // program uses can hold anything but `null`, so only those are dropped (most programs
        // use none).
        let inline_slots = if self.slots <= INLINE_SLOTS { self.slots } else { 0 };
        let mut inline = InlineSlots {
            slots: std::mem::ManuallyDrop::new(std::array::from_fn(|_| Value::Null)),
            used: inline_slots,
        };
        let mut spilled = Vec::new();
        let locals: &mut [Value<'v>] = if self.slots <= INLINE_SLOTS {
            &mut inline.slots[..inline_slots]
        } else {
            spilled.resize(self.slots, Value::Null);
            &mut spilled
        };
        let mut cx = eval::Cx {
            roots,
            vars: variables,
            locals,
            meter: Meter::new(limits, request),
            env: &self.env,
        };
        let result = eval::eval(&self.root, &mut cx);
        cx.meter.settle(request);
        (result, cx.meter.steps())
    }

    /// Functions (and operators) this program hands to the interpreter.
    pub fn bridged(&self) -> &[String] {
        &self.bridged
    }

    /// True when it runs without the interpreter.
    pub fn is_native(&self) -> bool {
        self.bridged.is_empty()
    }
}

/// Comprehension variable slots kept on the stack (two per comprehension).
const INLINE_SLOTS: usize = 8;

/// A program's comprehension variables on the stack: only the first `used` can hold anything but
/// `null`, so only those are dropped.
struct InlineSlots<'v> {
    slots: std::mem::ManuallyDrop<[Value<'v>; INLINE_SLOTS]>,
    used: usize,
}

impl Drop for InlineSlots<'_> {
    fn drop(&mut self) {
        for slot in &mut self.slots[..self.used] {
            *slot = Value::Null;
        }
    }
}

/// Evaluates a variable-free expression with the interpreter (constant folding, type names).
fn fold(env: &Arc<Env>, e: &IdedExpr) -> Result<Value<'static>, EvalError> {
    lower::fold_expr(env, e)
}

/// Evaluates a node whose operands are constants.
fn run_constant(env: &Arc<Env>, node: &Node) -> Result<Value<'static>, EvalError> {
    let roots: Roots<'static> = Roots::default();
    let request = RequestBudget::new(1_000_000);
    let mut cx = eval::Cx {
        roots: &roots,
        vars: &NoVariables,
        locals: &mut [],
        meter: Meter::new(&Limits::steps(1_000_000), &request),
        env,
    };
    eval::eval(node, &mut cx)
}

#[cfg(test)]
mod add_chain_tests;
