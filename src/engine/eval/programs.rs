//! The compiled side of a pass (design §1, "CEL, compiled"): a pack's expressions run as
//! compiled programs over the documents read in place, its variables computed on first read
//! and shared with later packs, every step counted against the input's [`CostMeter`].

use std::cell::RefCell;
use std::sync::Arc;

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::cel::compiled::{EvalError, Program, Roots, Value, Variables};
use crate::engine::cel::cost::{CostFailure, CostMeter};
use crate::engine::pack::compiled::CompiledPack;

/// The values compiled programs computed for shared pack variables in one pass, by share id
/// (see [`crate::engine::pack::compiled::CompiledVariable::share_id`]): a later pack reuses them.
/// Share ids are numbered from 0 at load, so they index a list.
#[derive(Default)]
pub(crate) struct SharedValues<'v> {
    values: RefCell<Vec<Option<Result<Value<'v>, EvalError>>>>,
}

impl<'v> SharedValues<'v> {
    /// The value computed for share id `id`, if one was.
    fn get(&self, id: usize) -> Option<Result<Value<'v>, EvalError>> {
        self.values.borrow().get(id).and_then(Option::clone)
    }

    /// Keeps `result` as share id `id`'s value.
    fn insert(&self, id: usize, result: Result<Value<'v>, EvalError>) {
        let mut values = self.values.borrow_mut();
        if values.len() <= id {
            values.resize(id + 1, None);
        }
        values[id] = Some(result);
    }
}

/// One pack's variables in one pass, each computed when first read.
pub(crate) struct PackVariables<'a, 'v> {
    pack: &'a CompiledPack,
    roots: Roots<'v>,
    meter: &'a CostMeter,
    shared: &'a SharedValues<'v>,
    values: RefCell<Vec<Option<Result<Value<'v>, EvalError>>>>,
}

impl<'v> Variables<'v> for PackVariables<'_, 'v> {
    fn get(&self, index: usize) -> Result<Value<'v>, EvalError> {
        if let Some(known) = self.values.borrow().get(index).and_then(Option::as_ref) {
            return known.clone();
        }
        let Some(var) = self.pack.variables.get(index) else {
            return Err(EvalError::Variable(Arc::from(index.to_string())));
        };
        let result = self.compute(var);
        if let Some(slot) = self.values.borrow_mut().get_mut(index) {
            *slot = Some(result.clone());
        }
        result
    }
}

impl<'v> PackVariables<'_, 'v> {
    /// Computes variable `index` if it was not, and says whether it failed (without copying
    /// its value out, as [`Variables::get`] does).
    fn ensure(&self, index: usize) -> Result<(), EvalError> {
        match self.values.borrow().get(index) {
            Some(Some(Ok(_))) => return Ok(()),
            Some(Some(Err(e))) => return Err(e.clone()),
            _ => {}
        }
        self.get(index).map(drop)
    }

    /// A variable's value: an earlier pack's when shared, else its program's. A variable whose
    /// dependency failed fails too, as on the interpreter.
    fn compute(&self, var: &crate::engine::pack::compiled::CompiledVariable) -> Result<Value<'v>, EvalError> {
        for &dep in &var.deps {
            if let Err(e) = self.ensure(dep) {
                return Err(if e.is_fatal() {
                    e
                } else {
                    EvalError::Variable(Arc::from(self.pack.variables[dep].name.as_str()))
                });
            }
        }
        if let Some(known) = var.share_id.and_then(|id| self.shared.get(id)) {
            return known;
        }
        let result = match &var.expr.program {
            Some(program) => run(program, &self.roots, self, self.meter),
            None => Err(EvalError::Interpreter(
                format!("variable '{}' has no program", var.name).into(),
            )),
        };
        if let (Some(id), false) = (var.share_id, result.as_ref().is_err_and(EvalError::is_fatal)) {
            self.shared.insert(id, result.clone());
        }
        result
    }
}

/// What one pack's compiled programs run against in one pass: its variables, which hold the
/// roots and the meter every program of the pack runs with.
pub(crate) struct Programs<'a, 'v> {
    variables: PackVariables<'a, 'v>,
}

/// What running a compiled program gave: a value, a stop (budget or deadline), or an error whose
/// words the interpreter gives (the caller runs the expression there).
pub(crate) enum Ran<'v> {
    /// The value.
    Value(Value<'v>),
    /// Stopped by the meter.
    Stopped(CostFailure),
    /// Failed (or read a failed variable): run it on the interpreter for its message.
    Failed,
}

impl<'a, 'v> Programs<'a, 'v> {
    /// The programs of `pack` over `roots` (its `params` bound), counted on `meter`.
    pub(crate) fn new(
        pack: &'a CompiledPack,
        roots: Roots<'v>,
        meter: &'a CostMeter,
        shared: &'a SharedValues<'v>,
    ) -> Self {
        Programs {
            variables: PackVariables {
                pack,
                roots,
                meter,
                shared,
                values: RefCell::new(vec![None; pack.variables.len()]),
            },
        }
    }

    /// Runs `expr`'s program (`None` when it has none) with `item` and its pointer bound. The
    /// pack variables it names are computed first: one that failed makes it [`Ran::Failed`],
    /// as the interpreter fails any expression that names a failed variable.
    pub(crate) fn run(&self, expr: &CompiledExpr, item: Option<(&'v serde_json::Value, &Arc<str>)>) -> Option<Ran<'v>> {
        let program = expr.program.as_deref()?;
        for &index in &expr.pack_variable_indices {
            if let Err(e) = self.variables.ensure(index) {
                return Some(self.failed(&e));
            }
        }
        let (vars, meter) = (&self.variables, self.variables.meter);
        let result = match item {
            None => run(program, &vars.roots, vars, meter),
            Some((json, pointer)) => {
                let roots = Roots {
                    item: Some(json),
                    item_pointer: Some(Arc::clone(pointer)),
                    ..vars.roots.clone()
                };
                run(program, &roots, vars, meter)
            }
        };
        Some(match result {
            Ok(value) => Ran::Value(value),
            Err(e) => self.failed(&e),
        })
    }

    fn failed(&self, error: &EvalError) -> Ran<'v> {
        match self.variables.meter.stopped(error) {
            Some(stop) => Ran::Stopped(stop),
            None => Ran::Failed,
        }
    }
}

fn run<'v>(
    program: &Program,
    roots: &Roots<'v>,
    variables: &dyn Variables<'v>,
    meter: &CostMeter,
) -> Result<Value<'v>, EvalError> {
    program.evaluate(roots, variables, &meter.step_limits(), meter.step_budget())
}
