//! The subject of a judgement and its outcome, independent of any pack: the [`input`] (object,
//! old object, operation, user, tenant), the request facts derived from it once ([`request`],
//! with the kind-to-resource table in [`resources`]), the built-in kinds' schemas and the API
//! server's normalization ([`builtin`]), the [`decision`] with its verdicts, actions and
//! severities, and a tenant's modes and exceptions ([`overrides`]). Imports only `cel/`.

pub mod builtin;
pub mod decision;
pub mod input;
pub mod overrides;
pub mod request;
pub mod resources;
