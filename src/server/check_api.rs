//! The check API's `POST /v1/check` (design §6): a document judged for a tenant, JSON or YAML,
//! behind bearer tokens. Its body is read in `check_body.rs`; `GET /v1/packs` lives in
//! `packs_api.rs` and the admission routes in `routes.rs`.

use std::fmt::Write as _;
use std::sync::Arc;

use http::{header, Request, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use super::api_error::ApiError;
use super::body::{self, Body};
use super::judging::{evaluate, Judgeable};
use super::routes::{bytes_response, early, HttpResponse};
use super::{check_body, ServerState};
use crate::engine::{Decision, Door, Input};
use crate::report::{DocumentResult, Location, Origin};
use crate::service::Omitted;
use crate::source::ParseLimits;
use crate::tenant::Tenancy;

/// The token of an `Authorization: Bearer <token>` header.
pub(super) fn bearer(req: &Request<Incoming>) -> Option<&str> {
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
    let format = match check_body::body_format(&req) {
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
    let read = move |_: &Tenancy| {
        let body = check_body::read(&bytes, &format, limits, caller, id.clone())?;
        let context = CheckContext {
            request_id: id,
            positions: body.positions,
            prefix: body.prefix,
        };
        Ok::<_, ApiError>(Judgeable {
            input: body.input,
            caller: body.caller,
            context,
        })
    };
    let answer = |decision: &Decision, input: &Input, omitted: &Omitted, context: CheckContext| {
        context.answer(decision, input, omitted)
    };
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

/// What the check API's answer needs besides the decision and the input.
struct CheckContext {
    request_id: String,
    positions: Option<crate::source::PositionMap>,
    prefix: &'static str,
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
    fn answer(self, decision: &Decision, input: &Input, omitted: &Omitted) -> Result<Vec<u8>, ApiError> {
        let origin = Origin {
            source: "request",
            document: 0,
            item: None,
            line: 1,
        };
        let locate = |pointer: &str| {
            let positions = self.positions.as_ref()?;
            let at = positions.locate(&format!("{}{pointer}", self.prefix))?;
            Some(Location {
                line: at.line,
                column: at.column,
            })
        };
        let result = DocumentResult::judged(origin, input, decision.clone(), locate);
        let answer = CheckAnswer {
            record: crate::report::json::document_record(&result),
            findings_omitted: omitted,
            request_id: &self.request_id,
        };
        serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(format!("celgate could not write its answer: {e}")))
    }
}
