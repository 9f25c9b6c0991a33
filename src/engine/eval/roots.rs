//! The input being judged and the root documents (`object`, `request`, ...) bound for every rule.

use cel::Context;

use crate::engine::cel::cost::sizes::RootDocs;
use crate::engine::cel::json_val::json_view;
use crate::engine::facts::input::Input;

/// The input being judged, with the documents derived from it on first use and kept for both
/// passes of a patch.
pub(crate) struct Subject<'a> {
    /// The input.
    pub input: &'a Input,
    derived: std::cell::OnceCell<DerivedDocuments>,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(input: &'a Input) -> Self {
        Subject {
            input,
            derived: std::cell::OnceCell::new(),
        }
    }

    pub(super) fn derived(&self) -> &DerivedDocuments {
        self.derived.get_or_init(|| DerivedDocuments::of(self.input))
    }
}

/// The JSON documents CEL's `request` and `namespaceObject` are views of, derived from an
/// input once per evaluation (both passes of a patch share them).
pub(crate) struct DerivedDocuments {
    request: serde_json::Value,
    namespace_object: serde_json::Value,
}

impl DerivedDocuments {
    pub(crate) fn of(input: &Input) -> Self {
        DerivedDocuments {
            request: input.request_json(),
            namespace_object: input.namespace_object_json(),
        }
    }
}

static NULL: serde_json::Value = serde_json::Value::Null;

/// Binds `object`, `oldObject`, `request` and `namespaceObject` in `ctx` (every rule's root
/// scope, and `celgate eval`'s), returning the documents bound, for charging cost.
pub(crate) fn bind_roots<'v>(
    ctx: &mut Context<'_, 'v>,
    input: &'v Input,
    object: &'v serde_json::Value,
    derived: &'v DerivedDocuments,
) -> RootDocs<'v> {
    let old_object = input.old_object.as_ref().unwrap_or(&NULL);
    ctx.add_variable_as_val("object", json_view(object));
    ctx.add_variable_as_val("oldObject", json_view(old_object));
    ctx.add_variable_as_val("request", json_view(&derived.request));
    ctx.add_variable_as_val("namespaceObject", json_view(&derived.namespace_object));
    RootDocs {
        object: Some(object),
        old_object: Some(old_object),
        request: Some(&derived.request),
        namespace_object: Some(&derived.namespace_object),
        params: None,
        item: None,
        extra: &[],
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
