//! The TLS routes: `POST /validate`, `POST /mutate` (AdmissionReview v1) here, `POST /v1/check`
//! and `GET /v1/packs` in `check_api.rs` (design §6). With `check_api.rs`, the only place that
//! chooses HTTP status codes.

// Early returns carry a ready `Response`; boxing it would only add an allocation per error.
#![allow(clippy::result_large_err)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use serde::Deserialize;

use super::api_error::ApiError;
use super::body::{self, Body};
use super::guard::{CatchPanic, InFlight};
use super::judging::{evaluate, Judgeable};
use super::{check_api, packs_api, ServerState};
use crate::engine::{Decision, Door};
use crate::metrics::{RequestLabels, RouteLabels};
use crate::review::{self, Refusal};
use crate::service::{Caller, CallerError, Omitted};
use crate::tenant::Tenancy;

/// Whether the connection's client presented a certificate (verified against the client CA
/// during the handshake); put in each request's extensions by the connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientCertificate(pub bool);

/// With a client CA configured, the admission routes answer 401 to a caller without a verified
/// client certificate (the API server presents one when its `AdmissionConfiguration` says so).
fn admission_caller(state: &ServerState, req: &Request<Incoming>, route: &str) -> Result<(), ApiError> {
    if !super::tls::requires_admission_client_certificate(&state.tls.load())
        || req.extensions().get::<ClientCertificate>().is_some_and(|c| c.0)
    {
        return Ok(());
    }
    tracing::info!(route, "admission request without a client certificate refused");
    Err(ApiError::ClientCertificateRequired(format!(
        "{route} requires a client certificate signed by the configured client CA (tls.clientCaFile)"
    )))
}

/// Response type of every route.
pub(super) type HttpResponse = Response<Full<Bytes>>;

/// Entry point for one request: dispatch, then count it.
pub(super) async fn handle(state: Arc<ServerState>, req: Request<Incoming>) -> Result<HttpResponse, Infallible> {
    let started = Instant::now();
    let route = route_name(req.uri().path());
    tracing::debug!(route, "request received");
    let _in_flight = InFlight::enter(&state.metrics.in_flight);
    let response = match CatchPanic::new(dispatch(&state, route, req)).await {
        Ok(response) => response,
        // The panic hook has logged it (one line); the caller gets an answer, not a reset.
        Err(()) => ApiError::Internal("internal error while handling the request".to_owned()).into_response(),
    };
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
        (&Method::POST, "/v1/check") => check_api::check(state, req).await,
        (&Method::GET, "/v1/packs") => packs_api::packs(state, &req),
        (_, "other") => {
            let refusal = ApiError::NotFound(format!("no route {}", req.uri().path()));
            early(req, refusal.into_response())
        }
        _ => {
            let refusal = ApiError::MethodNotAllowed(format!("{} is not allowed on {route}", req.method()));
            early(req, refusal.into_response())
        }
    }
}

/// `response`, given before the body of `req` was read: the body is drained after it.
pub(super) fn early(req: Request<Incoming>, response: HttpResponse) -> HttpResponse {
    body::drain(req.into_body());
    response
}

/// `body` as JSON with `status`; a body that cannot be written becomes a 500 that says so.
pub(super) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> HttpResponse {
    match serde_json::to_vec(body) {
        Ok(bytes) => bytes_response(status, bytes),
        Err(e) => ApiError::Internal(format!("celgate could not write its answer: {e}")).into_response(),
    }
}

/// JSON `bytes`, already serialised, with `status`.
pub(super) fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
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
        total = total.checked_add(Duration::try_from_secs_f64(seconds).ok()?)?;
        rest = &rest[unit_len..];
    }
    (!total.is_zero()).then_some(total)
}

async fn admission(state: &Arc<ServerState>, req: Request<Incoming>, mutating: bool) -> HttpResponse {
    let started = Instant::now();
    let route = if mutating { "/mutate" } else { "/validate" };
    if let Err(refusal) = admission_caller(state, &req, route) {
        return early(req, refusal.into_response());
    }
    let deadline = admission_deadline(req.uri().query(), state.limits.request_timeout);
    let Body { bytes, reservation } = match body::read(state, req, deadline.min(state.limits.body_read_timeout)).await {
        Ok(b) => b,
        Err(refusal) => return refusal.into_response(),
    };
    let body = bytes.clone();
    // Parsed, judged and answered on the evaluation pool; the review's facts come back for
    // the log line.
    let read = move |_: &Tenancy| {
        let mut review = review::parse(&body).map_err(|e| BadReview {
            uid: e.uid().map(str::to_owned),
            message: e.to_string(),
        })?;
        let input = review.take_input(None);
        Ok(Judgeable {
            input,
            caller: Caller::admission(review.request.uid.clone()),
            context: review,
        })
    };
    let answer = move |decision: &Decision, omitted: &Omitted, review: review::Review| {
        let mut answer = review.respond(decision, mutating);
        if !omitted.is_empty() && !answer.response.status.message.is_empty() {
            let message = &mut answer.response.status.message;
            message.push('\n');
            message.push_str(&omitted.summary());
        }
        let facts = ReviewFacts {
            uid: review.request.uid.clone(),
            kind: review.request.kind.kind.clone(),
            namespace: review.request.namespace.clone().unwrap_or_default(),
            operation: format!("{:?}", review.request.operation),
            dry_run: review.request.dry_run,
        };
        (answer, facts)
    };
    let outcome = evaluate(state, deadline, Door::Admission, bytes.len(), read, answer).await;
    let (decision, response, facts) = match outcome {
        Ok(Ok(judgment)) => {
            let (response, facts) = judgment.answer;
            match judgment
                .prepared
                .send(state, deadline.saturating_sub(started.elapsed()))
                .await
            {
                Ok(()) => {
                    state.metrics.record_decision(route, &judgment.decision);
                    (Ok(judgment.decision), response, facts)
                }
                Err(refused) => {
                    let message = refused.message();
                    let response = review::error_response(Some(&facts.uid), Refusal::InternalError, &message);
                    (Err(message), response, facts)
                }
            }
        }
        Ok(Err(BadReview { uid, message })) => {
            tracing::info!(route, uid = uid.as_deref().unwrap_or(""), error = %message, "bad admission review");
            drop(reservation);
            let answer = review::error_response(uid.as_deref(), Refusal::BadRequest, &message);
            return bytes_response(StatusCode::BAD_REQUEST, answer.to_bytes());
        }
        // Fail closed with a well-formed review the apiserver shows to the user.
        Err(failure) => {
            let message = failure.message(deadline);
            let facts = ReviewFacts::scan(bytes).await;
            let response = review::error_response(Some(&facts.uid), Refusal::InternalError, &message);
            (Err(message), response, facts)
        }
    };
    drop(reservation);
    // One span per review, made once everything is known (recording fields into a span later
    // costs a second formatting of all of them): what was judged and how, never the document.
    let span = tracing::info_span!(
        "review",
        route,
        uid = %facts.uid,
        kind = %facts.kind,
        namespace = facts.namespace,
        operation = facts.operation,
        dry_run = facts.dry_run,
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
    bytes_response(StatusCode::OK, response.to_bytes())
}

/// An AdmissionReview that cannot be judged: its uid when it could be read, and why.
struct BadReview {
    uid: Option<String>,
    message: String,
}

impl From<CallerError> for BadReview {
    fn from(e: CallerError) -> Self {
        BadReview {
            uid: None,
            message: e.to_string(),
        }
    }
}

/// What the per-review log line says about the review.
#[derive(Default)]
struct ReviewFacts {
    uid: String,
    kind: String,
    namespace: String,
    operation: String,
    dry_run: bool,
}

impl ReviewFacts {
    /// The uid (and kind) of a review whose evaluation failed before it was parsed, read on the
    /// blocking pool without building the document, so the error answer still carries the uid.
    async fn scan(body: Bytes) -> ReviewFacts {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Envelope {
            request: Inner,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Inner {
            uid: String,
            kind: Kind,
            namespace: Option<String>,
            operation: String,
            #[serde(rename = "dryRun")]
            dry_run: Option<bool>,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Kind {
            kind: String,
        }
        let scanned = tokio::task::spawn_blocking(move || serde_json::from_slice::<Envelope>(&body)).await;
        let Ok(Ok(envelope)) = scanned else {
            return ReviewFacts::default();
        };
        let r = envelope.request;
        ReviewFacts {
            uid: r.uid,
            kind: r.kind.kind,
            namespace: r.namespace.unwrap_or_default(),
            operation: r.operation,
            dry_run: r.dry_run.unwrap_or(false),
        }
    }
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
        // Each part fits a Duration, their sum does not: an unparsable timeout, not a panic.
        let huge = "timeout=10000000000000000000s10000000000000000000s";
        assert_eq!(admission_deadline(Some(huge), ten), ten);
    }
}
