//! The admission routes, `POST /validate` and `POST /mutate` (AdmissionReview v1): who may call
//! them, how long they may take (the webhook's `?timeout=`), and the review read, judged by the
//! service, answered and logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde::Deserialize;

use super::api_error::ApiError;
use super::body::{self, Body};
use super::judging::{evaluate, Judgeable};
use super::routes::{bytes_response, early, ClientCertificate, HttpResponse};
use super::ServerState;
use crate::engine::{Decision, Door, Input};
use crate::review::{self, Refusal, ReviewAnswer};
use crate::service::{Caller, CallerError, Omitted};
use crate::tenant::Tenancy;

/// With a client CA configured, the admission routes answer 401 to a caller without a verified
/// client certificate (the API server presents one when its `AdmissionConfiguration` says so).
fn check_caller(state: &ServerState, req: &Request<Incoming>, route: &str) -> Result<(), ApiError> {
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

/// `POST /validate` and `POST /mutate`: an AdmissionReview read, judged and answered on the
/// evaluation pool within the webhook's timeout, then logged as one line.
pub(super) async fn admission(state: &Arc<ServerState>, req: Request<Incoming>, mutating: bool) -> HttpResponse {
    let started = Instant::now();
    let route = if mutating { "/mutate" } else { "/validate" };
    if let Err(refusal) = check_caller(state, &req, route) {
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
    let answer = move |decision: &Decision, _: &Input, omitted: &Omitted, review: review::Review| {
        render(decision, omitted, &review, mutating)
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
    log_review(route, &facts, decision.as_ref(), started);
    bytes_response(StatusCode::OK, response.to_bytes())
}

/// The answer to `review` for `decision`, with a note of the findings the caps left out, and the
/// review's facts for the log line.
fn render(
    decision: &Decision,
    omitted: &Omitted,
    review: &review::Review,
    mutating: bool,
) -> (ReviewAnswer, ReviewFacts) {
    let mut answer = review.respond(decision, mutating);
    if !omitted.is_empty() && !answer.response.status.message.is_empty() {
        let message = &mut answer.response.status.message;
        message.push('\n');
        message.push_str(&omitted.summary());
    }
    let request = &review.request;
    let facts = ReviewFacts {
        uid: request.uid.clone(),
        kind: request.kind.kind.clone(),
        namespace: request.namespace.clone().unwrap_or_default(),
        operation: format!("{:?}", request.operation),
        dry_run: request.dry_run,
    };
    (answer, facts)
}

/// One span per review, made once everything is known (recording fields into a span later
/// costs a second formatting of all of them): what was judged and how, never the document.
fn log_review(route: &str, facts: &ReviewFacts, decision: Result<&Decision, &String>, started: Instant) {
    let span = tracing::info_span!(
        "review",
        route,
        uid = %facts.uid,
        kind = %facts.kind,
        namespace = facts.namespace,
        operation = facts.operation,
        dry_run = facts.dry_run,
        decision = decision.map_or("error", |d| d.decision.as_str()),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    let _entered = span.enter();
    match decision {
        Ok(decision) => tracing::info!(
            findings = decision.violations.len(),
            tenant = decision.tenant.as_deref().unwrap_or(""),
            environment = decision.environment.as_deref().unwrap_or(""),
            "admission review"
        ),
        Err(message) => tracing::warn!(error = %message, "admission review answered with an error"),
    }
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
