//! The TLS routes: `POST /validate`, `POST /mutate` (AdmissionReview v1), `POST /v1/check` and
//! `GET /v1/packs` (design §6). The only place that chooses HTTP status codes.

// Early returns carry a ready `Response`; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use super::outputs::{self, Prepared};
use super::pool::JobFailure;
use super::ServerState;
use crate::engine::{Decision, Door, Engine, Input, Operation};
use crate::metrics::{RequestLabels, RouteLabels};
use crate::report::{DocumentResult, Location};
use crate::review;
use crate::tenant::{AccessError, Scope, Tenancy};

/// Response type of every route.
pub(super) type HttpResponse = Response<Full<Bytes>>;

/// Entry point for one request: dispatch, then count it.
pub(super) async fn handle(state: Arc<ServerState>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let started = Instant::now();
    let route = route_name(req.uri().path());
    tracing::debug!(route, "request received");
    state.metrics.in_flight.inc();
    let response = dispatch(&state, route, req).await;
    state.metrics.in_flight.dec();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            route: route.to_owned(),
            code: response.status().as_u16(),
        })
        .inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&RouteLabels {
            route: route.to_owned(),
        })
        .observe(started.elapsed().as_secs_f64());
    Ok(response)
}

fn route_name(path: &str) -> &'static str {
    match path {
        "/validate" => "/validate",
        "/mutate" => "/mutate",
        "/v1/check" => "/v1/check",
        "/v1/packs" => "/v1/packs",
        _ => "other",
    }
}

async fn dispatch(state: &Arc<ServerState>, route: &str, req: Request<Incoming>) -> HttpResponse {
    match (req.method(), route) {
        (&Method::POST, "/validate") => admission(state, req, false).await,
        (&Method::POST, "/mutate") => admission(state, req, true).await,
        (&Method::POST, "/v1/check") => check(state, req).await,
        (&Method::GET, "/v1/packs") => packs(state, &req),
        (_, "other") => error(StatusCode::NOT_FOUND, &format!("no route {}", req.uri().path())),
        _ => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{} is not allowed on {route}", req.method()),
        ),
    }
}

pub(super) fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json_response(status, &json!({"error": message, "code": status.as_u16()}))
}

/// Reads the body up to the limit; a larger one is a 413.
async fn read_body(state: &ServerState, req: Request<Incoming>) -> Result<Bytes, HttpResponse> {
    let limit = state.limits.max_body_bytes;
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("request body is larger than the {limit}-byte limit"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("cannot read request body: {e}"),
        )),
    }
}

/// Why an evaluation produced no decision.
enum EvalFailure {
    Timeout,
    Crashed,
}

impl EvalFailure {
    fn message(&self, deadline: Duration) -> String {
        match self {
            EvalFailure::Timeout => {
                format!("evaluation did not finish within {deadline:?} (waiting for a free evaluation thread included)")
            }
            EvalFailure::Crashed => "evaluation failed unexpectedly".to_owned(),
        }
    }
}

/// Whose modes, params and exceptions apply to an evaluation.
enum Judged {
    /// The tenant owning the object's namespace (admission).
    ByNamespace,
    /// The check-API caller's tenant (from its token) and the environment it asked for.
    Caller {
        tenant: Option<String>,
        environment: Option<String>,
    },
}

/// Judges `input` for the tenant and environment `who` resolves to; returns the input as judged
/// (with the tenant's params) for the audit trail.
fn judge(engine: &Engine, tenancy: &Tenancy, mut input: Input, who: &Judged) -> (Decision, Input, u128) {
    let now = chrono::Utc::now();
    let scope = match who {
        Judged::ByNamespace => Scope::of_input(tenancy, &input, now),
        Judged::Caller { tenant, environment } => {
            let tenant = tenant.as_deref().and_then(|t| tenancy.tenant(t).ok());
            let environment = match environment {
                Some(e) => tenancy.environment(e).ok(),
                None => tenancy.environment_of_namespace(tenant, input.effective_namespace()),
            };
            Scope::new(tenancy, tenant, environment, now)
        }
    };
    scope.prepare(&mut input);
    let (decision, cost) = engine.evaluate_with_cost(&input, &scope);
    (decision, input, cost)
}

/// Runs the engine on the evaluation pool (off the async workers), within `deadline`; the
/// outputs' record and event are built there too, and the input is dropped there.
async fn evaluate(
    state: &Arc<ServerState>,
    input: Input,
    who: Judged,
    deadline: Duration,
    door: Door,
    uid: Option<String>,
) -> Result<(Decision, Prepared), EvalFailure> {
    let engine = state.engine.load_full();
    let tenancy = state.tenancy.load_full();
    let shared = Arc::clone(state);
    let job = state.pool.run(move || {
        let begun = Instant::now();
        let (decision, input, cost) = judge(&engine, &tenancy, input, &who);
        let took = begun.elapsed();
        let prepared = outputs::prepare(&shared, door, &input, &decision, uid.as_deref());
        (decision, prepared, cost, took)
    });
    match tokio::time::timeout(deadline, job).await {
        Ok(Ok((decision, prepared, cost, took))) => {
            state.metrics.evaluation_seconds.observe(took.as_secs_f64());
            #[allow(clippy::cast_precision_loss)] // a histogram observation; exactness is not needed
            state.metrics.evaluation_cost.observe(cost as f64);
            Ok((decision, prepared))
        }
        Ok(Err(JobFailure::Panicked)) => Err(EvalFailure::Crashed),
        Err(_) => Err(EvalFailure::Timeout),
    }
}

/// The apiserver calls webhooks with `?timeout=10s` (the webhook's `timeoutSeconds`): answer
/// before it gives up, keeping a tenth (at least 50 ms) for the trip back.
fn admission_deadline(query: Option<&str>, configured: Duration) -> Duration {
    let Some(timeout) = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("timeout="))) else {
        return configured;
    };
    let parsed = parse_go_duration(timeout);
    parsed.map_or(configured, |d| {
        let margin = (d / 10).max(Duration::from_millis(50));
        configured.min(d.saturating_sub(margin)).max(Duration::from_millis(10))
    })
}

/// `10s`, `500ms`, `1m`, `1m30s`: the forms Go's `time.Duration` prints for webhook timeouts.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(seconds).ok()?;
        rest = &rest[unit_len..];
    }
    (!total.is_zero()).then_some(total)
}

async fn admission(state: &Arc<ServerState>, req: Request<Incoming>, mutating: bool) -> HttpResponse {
    let started = Instant::now();
    let route = if mutating { "/mutate" } else { "/validate" };
    let deadline = admission_deadline(req.uri().query(), state.limits.request_timeout);
    let body = match read_body(state, req).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let mut review = match review::parse(&body) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(route, uid = e.uid().unwrap_or(""), error = %e, "bad admission review");
            return json_response(
                StatusCode::BAD_REQUEST,
                &review::error_response(e.uid(), 400, &e.to_string()),
            );
        }
    };
    let uid = review.request.uid.clone();
    let input = review.take_input(None);
    let outcome = evaluate(
        state,
        input,
        Judged::ByNamespace,
        deadline,
        Door::Admission,
        Some(uid.clone()),
    )
    .await;
    let (decision, response) = match outcome {
        Ok((decision, prepared)) => match prepared.send(state) {
            Ok(()) => {
                state.metrics.record_decision(route, &decision);
                let response = review.respond(&decision, mutating);
                (Ok(decision), response)
            }
            Err(refused) => {
                let message = refused.message();
                let response = review::error_response(Some(&uid), 500, &message);
                (Err(message), response)
            }
        },
        // Fail closed with a well-formed review the apiserver shows to the user.
        Err(failure) => {
            let message = failure.message(deadline);
            let response = review::error_response(Some(&uid), 500, &message);
            (Err(message), response)
        }
    };
    // One span per review, made once everything is known (recording fields into a span later
    // costs a second formatting of all of them): what was judged and how, never the document.
    let span = tracing::info_span!(
        "review",
        route,
        uid = %uid,
        kind = %review.request.kind.kind,
        namespace = review.request.namespace.as_deref().unwrap_or(""),
        operation = ?review.request.operation,
        dry_run = review.request.dry_run,
        decision = decision.as_ref().map_or("error", |d| d.decision.as_str()),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    let _entered = span.enter();
    match &decision {
        Ok(decision) => tracing::info!(
            findings = decision.violations.len(),
            tenant = decision.tenant.as_deref().unwrap_or(""),
            environment = decision.environment.as_deref().unwrap_or(""),
            "admission review"
        ),
        Err(message) => tracing::warn!(error = %message, "admission review answered with an error"),
    }
    json_response(StatusCode::OK, &response)
}

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

fn body_format(req: &Request<Incoming>) -> Result<BodyFormat, HttpResponse> {
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
        _ => Err(error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("Content-Type {media} is not supported; send application/json or application/yaml"),
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The 401 / 403 answer to a refused check-API call.
fn refused(e: &AccessError) -> HttpResponse {
    match e {
        AccessError::Unauthenticated => {
            let mut response = error(StatusCode::UNAUTHORIZED, &e.to_string());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"celgate\""),
            );
            response
        }
        AccessError::OtherTenant { .. } => error(StatusCode::FORBIDDEN, &e.to_string()),
    }
}

async fn check(state: &Arc<ServerState>, req: Request<Incoming>) -> HttpResponse {
    let tenancy = state.tenancy.load_full();
    // Refuse a missing or unknown token before reading the body; the body may then only name
    // the token's own tenant.
    let caller = match tenancy.authorize(bearer(&req), None) {
        Ok(t) => t.map(|t| t.name.clone()),
        Err(e) => return refused(&e),
    };
    let format = match body_format(&req) {
        Ok(f) => f,
        Err(response) => return response,
    };
    let body = match read_body(state, req).await {
        Ok(b) => b,
        Err(response) => return response,
    };
    let (value, positions) = match parse_check_body(&body, &format) {
        Ok(v) => v,
        Err(message) => return error(StatusCode::BAD_REQUEST, &message),
    };
    let prefix = if value.get("object").is_some() { "/object" } else { "" };
    // A bare manifest (a mapping with `kind` and no `object`) is checked as the object.
    let value = match value {
        Value::Object(map) if !map.contains_key("object") && map.contains_key("kind") => {
            json!({"object": Value::Object(map)})
        }
        other => other,
    };
    let request: CheckRequest = match serde_path_to_error::deserialize(value) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("{}: {}", e.path(), e.inner())),
    };
    let operation = match request.operation.as_deref().map(Operation::parse) {
        None => Operation::Create,
        Some(Some(op)) => op,
        Some(None) => {
            return error(
                StatusCode::BAD_REQUEST,
                "operation: expected CREATE, UPDATE, DELETE or CONNECT",
            )
        }
    };
    if !request.object.is_object() && operation != Operation::Delete {
        return error(
            StatusCode::BAD_REQUEST,
            "object: expected a mapping with apiVersion and kind",
        );
    }
    let tenant = match (caller, &request.tenant) {
        (Some(own), Some(asked)) if own != *asked => {
            return refused(&AccessError::OtherTenant {
                own,
                asked: asked.clone(),
            })
        }
        (Some(own), _) => Some(own),
        (None, asked) => asked.clone(),
    };
    if let Some(environment) = &request.environment {
        if let Err(e) = tenancy.environment(environment) {
            return error(StatusCode::BAD_REQUEST, &format!("environment: {e}"));
        }
        let own = tenant.as_deref().and_then(|t| tenancy.tenant(t).ok());
        if let Some(t) = own.filter(|t| !t.may_use_environment(environment, tenancy.default_environment())) {
            return error(
                StatusCode::FORBIDDEN,
                &format!("tenant '{}' has no namespaces in environment '{environment}'", t.name),
            );
        }
    }
    let who = Judged::Caller {
        tenant: tenant.clone(),
        environment: request.environment.clone(),
    };
    let input = Input {
        object: request.object,
        old_object: request.old_object,
        operation,
        tenant,
        environment: request.environment,
        ..Input::default()
    };
    let (api_version, kind, name) = (
        input.api_version().to_owned(),
        input.kind().to_owned(),
        input.name().to_owned(),
    );
    let namespace = input.effective_namespace().unwrap_or("").to_owned();
    let deadline = state.limits.request_timeout;
    let decision = match evaluate(state, input, who, deadline, Door::CheckApi, None).await {
        Ok((decision, prepared)) => {
            if let Err(refused) = prepared.send(state) {
                return error(StatusCode::SERVICE_UNAVAILABLE, &refused.message());
            }
            decision
        }
        Err(failure) => return error(StatusCode::SERVICE_UNAVAILABLE, &failure.message(deadline)),
    };
    state.metrics.record_decision("/v1/check", &decision);
    let locations = decision
        .violations
        .iter()
        .map(|v| {
            positions.as_ref().and_then(|p| {
                p.locate(&format!("{prefix}{}", v.pointer)).map(|pos| Location {
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
        api_version,
        kind,
        name,
        namespace,
        line: 1,
        decision,
        locations,
    };
    let record = serde_json::to_value(crate::report::json::document_record(&result)).unwrap_or(Value::Null);
    json_response(StatusCode::OK, &record)
}

/// The body as JSON, with source positions when it was YAML (JSON bodies are parsed by
/// `serde_json` for speed and carry no positions).
fn parse_check_body(body: &[u8], format: &BodyFormat) -> Result<(Value, Option<crate::source::PositionMap>), String> {
    match format {
        BodyFormat::Json => serde_json::from_slice(body)
            .map(|v| (v, None))
            .map_err(|e| format!("request body is not JSON: {e}")),
        BodyFormat::Yaml => {
            let text = std::str::from_utf8(body).map_err(|e| format!("request body is not UTF-8: {e}"))?;
            let mut docs =
                crate::source::parse_documents(text).map_err(|e| format!("request body is not YAML: {e}"))?;
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
fn packs(state: &ServerState, req: &Request<Incoming>) -> HttpResponse {
    let tenancy = state.tenancy.load();
    let tenant = match tenancy.authorize(bearer(req), None) {
        Ok(t) => t,
        Err(e) => return refused(&e),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_timeout_bounds_the_deadline() {
        let ten = Duration::from_secs(10);
        assert_eq!(admission_deadline(Some("timeout=5s"), ten), Duration::from_millis(4500));
        assert_eq!(admission_deadline(Some("a=b&timeout=30s"), ten), ten);
        assert_eq!(
            admission_deadline(Some("timeout=500ms"), ten),
            Duration::from_millis(450)
        );
        assert_eq!(admission_deadline(None, ten), ten);
        assert_eq!(admission_deadline(Some("timeout=bogus"), ten), ten);
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
    }
}
