//! Where a pack's expressions run in one pass: compiled programs first ([`Programs`]), and the
//! interpreter's scope (its `params` and computed `variables` bound) built only when an
//! expression needs the interpreter: one the compiler does not cover, or one that failed, whose
//! message the interpreter words.

use std::cell::OnceCell;

use cel::Context;

use super::programs::Programs;

/// The interpreter's scope of a pack: its variables computed, and those that failed with why.
pub(crate) struct Interpreter<'p, 'v> {
    /// The scope, with `params` and `variables` bound over the root documents.
    pub(crate) scope: Context<'p, 'v>,
    /// The pack variables that failed, by name, with their messages.
    pub(crate) failed: Vec<(String, String)>,
}

/// A pack's scope in one pass.
pub(crate) struct PackScope<'a, 'p, 'v> {
    /// The compiled side (`None`: everything runs on the interpreter).
    pub(crate) programs: Option<Programs<'a, 'v>>,
    interpreter: OnceCell<Interpreter<'p, 'v>>,
    build: Box<dyn Fn() -> Interpreter<'p, 'v> + 'a>,
}

impl<'a, 'p, 'v> PackScope<'a, 'p, 'v> {
    /// A scope whose interpreter side `build` makes when first needed.
    pub(crate) fn lazy(programs: Option<Programs<'a, 'v>>, build: impl Fn() -> Interpreter<'p, 'v> + 'a) -> Self {
        PackScope {
            programs,
            interpreter: OnceCell::new(),
            build: Box::new(build),
        }
    }

    /// The interpreter's side, built now if it was not.
    pub(crate) fn interpreter(&self) -> &Interpreter<'p, 'v> {
        self.interpreter.get_or_init(|| (self.build)())
    }
}
