//! The check API: `POST /v1/check` (a document judged for a tenant, JSON or YAML) and
//! `GET /v1/packs` (the packs and rules that apply to the caller), both behind bearer tokens
//! (design §6). The admission routes live in `routes.rs`.

// Early returns carry a ready `Response`; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use std::fmt::Write as _;
use std::sync::Arc;

use http::{header, Request, StatusCode};
use hyper::body::Incoming;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::api_error::ApiError;
use super::body::{self, Body};
use super::judging::{evaluate, Judgeable};
use super::routes::{bytes_response, early, json_response, HttpResponse};
use super::ServerState;
use crate::engine::{Decision, Door, Input, Operation};
use crate::report::{DocumentResult, Location};
use crate::service::{Caller, Omitted, TenantChoice};
use crate::source::ParseLimits;
use crate::tenant::{AccessError, Tenancy};

/// Body of `POST /v1/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CheckRequest {
    object: Value,
    #[serde(default)]
    old_object: Option<Value>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

/// How the body was written.
enum BodyFormat {
    Json,
    Yaml,
}

fn body_format(req: &Request<Incoming>) -> Result<BodyFormat, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let media = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/json" | "" => Ok(BodyFormat::Json),
        m if m.ends_with("+json") => Ok(BodyFormat::Json),
        "application/yaml" | "application/x-yaml" | "text/yaml" | "text/x-yaml" => Ok(BodyFormat::Yaml),
        _ => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type {media} is not supported; send application/json or application/yaml"
        ))),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub(super) async fn check(state: &Arc<ServerState>, req: Request<Incoming>) -> HttpResponse {
    let tenancy = state.tenancy.load_full();
    // Refuse a missing or unknown token before reading the body; the body may then only name
    // the token's own tenant.
    let caller = match tenancy.authorize(bearer(&req), None) {
        Ok(t) => t.map(|t| t.name.clone()),
        Err(e) => return early(req, ApiError::from(e).into_response()),
    };
    let format = match body_format(&req) {
        Ok(f) => f,
        Err(refusal) => return early(req, refusal.into_response()),
    };
    let deadline = state.limits.request_timeout;
    let request_id = request_id(&req);
    let Body { bytes, reservation } = match body::read(state, req, state.limits.body_read_timeout).await {
        Ok(b) => b,
        Err(refusal) => return refusal.into_response(),
    };
    // Copies may add half the body limit: a refused bomb then peaks well under twice the
    // body limit (its body, the copies made before the refusal, the parser's own state).
    let limits = ParseLimits {
        expansion_bytes: state.limits.max_body_bytes / 2,
        limit_name: "half of limits.maxBodyBytes",
    };
    let body_bytes = bytes.len();
    let id = request_id.clone();
    let read = move |_: &Tenancy| read_check(&bytes, &format, limits, caller, id);
    let answer = |decision: &Decision, omitted: &Omitted, context: CheckContext| context.answer(decision, omitted);
    let judgment = match evaluate(state, deadline, Door::CheckApi, body_bytes, read, answer).await {
        Ok(Ok(judgment)) => judgment,
        Ok(Err(refusal)) => return refusal.into_response(),
        Err(failure) => return ApiError::Unavailable(failure.message(deadline)).into_response(),
    };
    drop(reservation);
    if let Err(refused) = judgment.prepared.send(state, deadline).await {
        return ApiError::Unavailable(refused.message()).into_response();
    }
    let bytes = match judgment.answer {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal.into_response(),
    };
    state.metrics.record_decision("/v1/check", &judgment.decision);
    let mut response = bytes_response(StatusCode::OK, bytes);
    if let Ok(value) = header::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// The header that carries a check request's id, both ways.
const REQUEST_ID: &str = "x-request-id";

/// The caller's `X-Request-Id` when it is a plausible id (1–128 of `A-Za-z0-9._:-`), else a
/// fresh random one (UUID v4 form). The id goes into the answer (header and `requestId`), the
/// audit record (`uid`) and the Slack event, so a CI log line leads to its audit record.
fn request_id(req: &Request<Incoming>) -> String {
    let given = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        });
    given.map_or_else(random_id, str::to_owned)
}

/// A random UUID v4 in its usual text form; a counter-free fallback if the OS has no randomness.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = nanos.to_be_bytes();
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = bytes.iter().fold(String::with_capacity(32), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// What the check API's answer needs besides the decision.
struct CheckContext {
    request_id: String,
    positions: Option<crate::source::PositionMap>,
    prefix: &'static str,
    api_version: String,
    kind: String,
    name: String,
    namespace: String,
}

/// The check API's answer: the JSON record of the decision (as `celgate check -o json` writes
/// one document), with `findingsOmitted` when the caps left findings out, and the request id.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CheckAnswer<'a> {
    #[serde(flatten)]
    record: crate::report::json::Record<'a>,
    #[serde(skip_serializing_if = "Omitted::is_empty")]
    findings_omitted: &'a Omitted,
    request_id: &'a str,
}

impl CheckContext {
    /// The answer's JSON bytes, written once on the evaluation pool.
    fn answer(self, decision: &Decision, omitted: &Omitted) -> Result<Vec<u8>, ApiError> {
        let locations = decision
            .violations
            .iter()
            .map(|v| {
                self.positions.as_ref().and_then(|p| {
                    p.locate(&format!("{}{}", self.prefix, v.pointer)).map(|pos| Location {
                        line: pos.line,
                        column: pos.column,
                    })
                })
            })
            .collect();
        let result = DocumentResult {
            source: "request".to_owned(),
            document: 0,
            item: None,
            api_version: self.api_version,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            line: 1,
            decision: decision.clone(),
            locations,
        };
        let answer = CheckAnswer {
            record: crate::report::json::document_record(&result),
            findings_omitted: omitted,
            request_id: &self.request_id,
        };
        serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(format!("celgate could not write its answer: {e}")))
    }
}

/// Reads a check-API body (on the evaluation pool): the request, its caller, and the input.
fn read_check(
    body: &[u8],
    format: &BodyFormat,
    limits: ParseLimits,
    token_tenant: Option<String>,
    request_id: String,
) -> Result<Judgeable<CheckContext>, ApiError> {
    let (value, positions) = parse_check_body(body, format, limits).map_err(ApiError::BadRequest)?;
    let prefix = if value.get("object").is_some() { "/object" } else { "" };
    // A bare manifest (a mapping with `kind` and no `object`) is checked as the object.
    let value = match value {
        Value::Object(map) if !map.contains_key("object") && map.contains_key("kind") => {
            json!({"object": Value::Object(map)})
        }
        other => other,
    };
    let request: CheckRequest = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::BadRequest(format!("{}: {}", e.path(), e.inner())))?;
    let operation = match request.operation.as_deref().map(Operation::parse) {
        None => Operation::Create,
        Some(Some(op)) => op,
        Some(None) => {
            return Err(ApiError::BadRequest(
                "operation: expected CREATE, UPDATE, DELETE or CONNECT".to_owned(),
            ))
        }
    };
    if !request.object.is_object() && operation != Operation::Delete {
        return Err(ApiError::BadRequest(
            "object: expected a mapping with apiVersion and kind".to_owned(),
        ));
    }
    // A token's tenant may only act as itself; without tokens the body names the tenant.
    let tenant = match (token_tenant, request.tenant) {
        (Some(own), Some(asked)) if own != asked => return Err(AccessError::OtherTenant { own, asked }.into()),
        (Some(own), _) => Some(own),
        (None, asked) => asked,
    };
    let caller = Caller {
        tenant: tenant.map_or(TenantChoice::Unnamed, TenantChoice::Named),
        environment: request.environment,
        request_id: Some(request_id.clone()),
    };
    let input = Input {
        object: request.object,
        old_object: request.old_object,
        operation,
        ..Input::default()
    };
    let context = CheckContext {
        request_id,
        positions,
        prefix,
        api_version: input.api_version().to_owned(),
        kind: input.kind().to_owned(),
        name: input.name().to_owned(),
        namespace: input.effective_namespace().unwrap_or("").to_owned(),
    };
    Ok(Judgeable { input, caller, context })
}

/// The body as JSON, with source positions when it was YAML (JSON bodies are parsed by
/// `serde_json` for speed and carry no positions). YAML aliases may expand the body by at most
/// `limits` (the body limit).
fn parse_check_body(
    body: &[u8],
    format: &BodyFormat,
    limits: ParseLimits,
) -> Result<(Value, Option<crate::source::PositionMap>), String> {
    match format {
        BodyFormat::Json => serde_json::from_slice(body)
            .map(|v| (v, None))
            .map_err(|e| format!("request body is not JSON: {e}")),
        BodyFormat::Yaml => {
            let text = std::str::from_utf8(body).map_err(|e| format!("request body is not UTF-8: {e}"))?;
            let mut docs = crate::source::parse_documents_within(text, limits)
                .map_err(|e| format!("request body is not YAML: {e}"))?;
            if docs.is_empty() {
                return Err("request body is empty".to_owned());
            }
            let doc = docs.remove(0);
            Ok((doc.value, Some(doc.positions)))
        }
    }
}

/// `GET /v1/packs`: the packs and rules; with tenants configured, only what applies to the
/// caller's tenant, with its own modes, params and exceptions (never another tenant's).
pub(super) fn packs(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let tenancy = state.tenancy.load();
    let tenant = match tenancy.authorize(bearer(req), None) {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let engine = state.engine.load();
    let applies = |pack: &str| tenant.is_none_or(|t| t.frameworks().is_none_or(|f| f.contains(&pack)));
    let packs: Vec<Value> = engine
        .packs()
        .iter()
        .filter(|p| applies(&p.metadata.name))
        .map(|p| {
            let rules: Vec<Value> = p
                .rules
                .iter()
                .map(|r| {
                    let mut rule = json!({
                        "id": r.spec.id,
                        "title": r.spec.title,
                        "controls": r.spec.controls,
                        "severity": r.spec.severity,
                        "action": r.spec.action,
                        "kinds": r.spec.match_.kinds,
                        "remediation": r.spec.remediation,
                    });
                    if let Some(mode) = tenant.and_then(|t| t.mode_for(&p.metadata.name, &r.spec.id)) {
                        rule["mode"] = Value::from(mode.as_str());
                    }
                    rule
                })
                .collect();
            json!({
                "name": p.metadata.name,
                "version": p.metadata.version,
                "framework": p.metadata.framework,
                "rules": rules,
            })
        })
        .collect();
    let mut body = json!({"packs": packs});
    // Admission policies no binding binds do nothing: say so (design §6, issue 16).
    let unbound: Vec<String> = engine.unbound_policies().iter().map(ToString::to_string).collect();
    if !unbound.is_empty() {
        body["warnings"] = json!(unbound);
    }
    if let Some(t) = tenant {
        body["tenant"] = json!({
            "name": t.name,
            "frameworks": t.frameworks(),
            "params": t.params,
            "exceptions": tenancy.exceptions_of(t),
        });
    }
    json_response(StatusCode::OK, &body)
}
