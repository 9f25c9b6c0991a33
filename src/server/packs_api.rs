//! `GET /v1/packs` (design §6): the packs and rules; with tenants configured, only what applies
//! to the caller's tenant, with its own modes, params and exceptions (never another tenant's).
//! The answer is typed and serialised once.

use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use super::api_error::ApiError;
use super::check_api::bearer;
use super::routes::{json_response, HttpResponse};
use super::ServerState;
use crate::engine::{Action, CompiledPack, CompiledRule, ExceptionUse, Mode, Severity};
use crate::tenant::{Tenancy, Tenant};

/// The answer.
#[derive(Serialize)]
struct PacksAnswer<'a> {
    packs: Vec<PackEntry<'a>>,
    /// Admission policies no binding binds (they do nothing in a cluster).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant: Option<TenantEntry<'a>>,
}

#[derive(Serialize)]
struct PackEntry<'a> {
    name: &'a str,
    version: &'a str,
    framework: Option<&'a str>,
    rules: Vec<RuleEntry<'a>>,
    /// What runs its expressions (design §1, "CEL, compiled").
    evaluator: EvaluatorEntry<'a>,
}

/// How much of a pack the compiled evaluator runs; what falls back to the interpreter is named.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EvaluatorEntry<'a> {
    /// `compiled` (every expression), `mixed` (some on the interpreter) or `interpreter`.
    mode: &'static str,
    compiled_expressions: usize,
    /// Functions compiled programs hand to the interpreter call by call.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bridged_functions: Vec<&'a str>,
    /// Expressions that run on the interpreter, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    interpreted: Vec<InterpretedEntry<'a>>,
}

#[derive(Serialize)]
struct InterpretedEntry<'a> {
    subject: &'a str,
    expression: &'a str,
    reason: &'a str,
}

fn evaluator_entry(coverage: &crate::engine::Coverage) -> EvaluatorEntry<'_> {
    let mode = if coverage.is_complete() {
        "compiled"
    } else if coverage.compiled > 0 {
        "mixed"
    } else {
        "interpreter"
    };
    EvaluatorEntry {
        mode,
        compiled_expressions: coverage.compiled,
        bridged_functions: coverage.bridged.iter().map(String::as_str).collect(),
        interpreted: coverage
            .interpreted
            .iter()
            .map(|i| InterpretedEntry {
                subject: &i.subject,
                expression: &i.source,
                reason: &i.reason,
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct RuleEntry<'a> {
    id: &'a str,
    title: &'a str,
    controls: &'a [String],
    severity: Severity,
    action: Action,
    kinds: &'a [String],
    remediation: &'a str,
    /// The caller's tenant's own mode for the rule, when it set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<Mode>,
}

#[derive(Serialize)]
struct TenantEntry<'a> {
    name: &'a str,
    frameworks: Option<Vec<&'a str>>,
    params: &'a serde_json::Map<String, serde_json::Value>,
    exceptions: Vec<ExceptionUse>,
}

/// `GET /v1/packs`.
pub(super) fn packs(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let tenancy = state.tenancy.load();
    let tenant = match tenancy.authorize(bearer(req), None) {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let engine = state.engine.load();
    let applies = |pack: &CompiledPack| {
        tenant.is_none_or(|t| t.frameworks().is_none_or(|f| f.contains(&pack.metadata.name.as_str())))
    };
    let answer = PacksAnswer {
        packs: engine
            .packs()
            .iter()
            .filter(|p| applies(p))
            .map(|p| pack_entry(p, tenant))
            .collect(),
        warnings: engine.unbound_policies().iter().map(ToString::to_string).collect(),
        tenant: tenant.map(|t| tenant_entry(&tenancy, t)),
    };
    json_response(StatusCode::OK, &answer)
}

fn pack_entry<'a>(pack: &'a CompiledPack, tenant: Option<&Tenant>) -> PackEntry<'a> {
    let rule = |r: &'a std::sync::Arc<CompiledRule>| RuleEntry {
        id: &r.spec.id,
        title: &r.spec.title,
        controls: &r.spec.controls,
        severity: r.spec.severity,
        action: r.spec.action,
        kinds: &r.spec.match_.kinds,
        remediation: &r.spec.remediation,
        mode: tenant.and_then(|t| t.mode_for(&pack.metadata.name, &r.spec.id)),
    };
    PackEntry {
        name: &pack.metadata.name,
        version: &pack.metadata.version,
        framework: pack.metadata.framework.as_deref(),
        rules: pack.rules.iter().map(rule).collect(),
        evaluator: evaluator_entry(&pack.coverage),
    }
}

fn tenant_entry<'a>(tenancy: &Tenancy, tenant: &'a Tenant) -> TenantEntry<'a> {
    TenantEntry {
        name: &tenant.name,
        frameworks: tenant.frameworks(),
        params: &tenant.params,
        exceptions: tenancy.exceptions_of(tenant),
    }
}
