//! The TLS routes (design §6): dispatch to `POST /validate` and `POST /mutate`
//! (`admission.rs`), `POST /v1/check` (`check_api.rs`) and `GET /v1/packs` (`packs_api.rs`),
//! and the count of every request. Refusals become responses in `api_error.rs` only.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;

use super::api_error::ApiError;
use super::body;
use super::guard::{CatchPanic, InFlight};
use super::{admission, check_api, packs_api, ServerState};
use crate::metrics::{RequestLabels, RouteLabels};

/// Whether the connection's client presented a certificate (verified against the client CA
/// during the handshake); put in each request's extensions by the connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientCertificate(pub bool);

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
        (&Method::POST, "/validate") => admission::admission(state, req, false).await,
        (&Method::POST, "/mutate") => admission::admission(state, req, true).await,
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
