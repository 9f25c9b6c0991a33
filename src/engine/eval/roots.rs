//! The input being judged and the root documents (`object`, `request`, ...) bound for every rule.

use std::cell::OnceCell;
use std::sync::Arc;

use cel::{Context, Env};

use crate::engine::cel::cost::sizes::RootDocs;
use crate::engine::cel::json_val::json_view;
use crate::engine::facts::input::Input;
pub(crate) use crate::engine::pack::compiled::RootReads;

/// The input being judged, with the documents derived from it built on first use (only when a
/// pack that runs reads them) and kept for both passes of a patch.
pub(crate) struct Subject<'a> {
    /// The input.
    pub input: &'a Input,
    request: OnceCell<serde_json::Value>,
    namespace_object: OnceCell<serde_json::Value>,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(input: &'a Input) -> Self {
        Subject {
            input,
            request: OnceCell::new(),
            namespace_object: OnceCell::new(),
        }
    }

    /// The documents `request` and `namespaceObject` stand for, each built if `reads` says a
    /// pack reads it (`null` otherwise: nothing that runs can see it).
    pub(crate) fn derived(&self, reads: RootReads) -> (&serde_json::Value, &serde_json::Value) {
        let request = if reads.request {
            self.request.get_or_init(|| self.input.request_json())
        } else {
            &NULL
        };
        let namespace_object = if reads.namespace_object {
            self.namespace_object.get_or_init(|| self.input.namespace_object_json())
        } else {
            &NULL
        };
        (request, namespace_object)
    }
}

static NULL: serde_json::Value = serde_json::Value::Null;

/// Binds `object`, `oldObject`, `request` and `namespaceObject` in `ctx` (every rule's root
/// scope, and `celgate eval`'s), returning the documents bound, for charging cost.
pub(crate) fn bind_roots<'v>(
    ctx: &mut Context<'_, 'v>,
    input: &'v Input,
    object: &'v serde_json::Value,
    derived: (&'v serde_json::Value, &'v serde_json::Value),
) -> RootDocs<'v> {
    let docs = root_docs(input, object, derived);
    bind_root_docs(ctx, &docs);
    docs
}

/// The documents `object`, `oldObject`, `request` and `namespaceObject` stand for.
pub(crate) fn root_docs<'v>(
    input: &'v Input,
    object: &'v serde_json::Value,
    (request, namespace_object): (&'v serde_json::Value, &'v serde_json::Value),
) -> RootDocs<'v> {
    RootDocs {
        object: Some(object),
        old_object: Some(input.old_object.as_ref().unwrap_or(&NULL)),
        request: Some(request),
        namespace_object: Some(namespace_object),
        params: None,
        item: None,
        extra: &[],
    }
}

/// The interpreter's root scope over the root documents, built on first use: a pass whose
/// expressions all run compiled never builds it.
pub(crate) struct RootScope<'e, 'v> {
    env: &'e Arc<Env>,
    docs: RootDocs<'v>,
    scope: OnceCell<Context<'v, 'v>>,
}

impl<'e, 'v> RootScope<'e, 'v> {
    pub(crate) fn new(env: &'e Arc<Env>, docs: RootDocs<'v>) -> Self {
        RootScope {
            env,
            docs,
            scope: OnceCell::new(),
        }
    }

    /// The scope, built now if it was not.
    pub(crate) fn get(&self) -> &Context<'v, 'v> {
        self.scope.get_or_init(|| {
            let mut root = Context::with_env(Arc::clone(self.env));
            bind_root_docs(&mut root, &self.docs);
            root
        })
    }
}

/// Binds the documents of `docs` (as [`root_docs`] gives them) in `ctx`, for the interpreter.
pub(crate) fn bind_root_docs<'v>(ctx: &mut Context<'_, 'v>, docs: &RootDocs<'v>) {
    for (name, doc) in [
        ("object", docs.object),
        ("oldObject", docs.old_object),
        ("request", docs.request),
        ("namespaceObject", docs.namespace_object),
    ] {
        ctx.add_variable_as_val(name, json_view(doc.unwrap_or(&NULL)));
    }
}

/// The compiled evaluator's roots for the documents `docs` binds (`params` as bound there).
pub(crate) fn program_roots<'v>(docs: &RootDocs<'v>) -> crate::engine::cel::compiled::Roots<'v> {
    crate::engine::cel::compiled::Roots {
        object: docs.object,
        old_object: docs.old_object,
        request: docs.request,
        params: docs.params,
        namespace_object: docs.namespace_object,
        item: None,
        item_pointer: None,
        extra: docs.extra,
    }
}
