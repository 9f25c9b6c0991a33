//! Reading request bodies within the server's memory ceiling, and answering early without
//! breaking the stream.
//!
//! * Every body is read within a deadline (`limits.bodyReadTimeoutMs`): a client that sends part
//!   of a body and stops is answered 408 and its bytes freed.
//! * Bodies being read or judged share one budget of bytes (`limits.maxBufferedBytes`). A body
//!   that declares its length reserves it before a byte is read, waiting (within the deadline)
//!   for others to finish; one without a declared length reserves as it arrives and is refused
//!   when the budget is spent. Refused requests are answered 503 with `Retry-After`: the server
//!   never allocates past its ceiling.
//! * An answer given before the body was read (401, 403, 413, 415, 503) leaves the body to a
//!   drain task that reads and discards a bounded amount of it after the answer is sent. Over
//!   HTTP/1.1 the client then sees its whole answer; over HTTP/2 the stream is ended, after the
//!   complete answer, with `RST_STREAM(NO_ERROR)`, which RFC 9113 §8.1 allows, rather than with a
//!   `CANCEL` that races the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{header, Request};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::api_error::ApiError;
use super::ServerState;

/// Budget units are KiB, so a reservation of any allowed body fits the semaphore's `u32`.
const UNIT: usize = 1024;

/// Most bytes a drain task reads from a body that was answered early.
/// Large enough for what an API server or CI client sends unasked (a 20 MB body is read and
/// discarded in milliseconds); nothing is kept, so it costs no memory, and the time bound stops a
/// slow sender.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Longest a drain task reads from a body that was answered early.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// The shared budget of request bytes being read or judged.
pub struct BodyBudget {
    units: Arc<Semaphore>,
    total: usize,
}

/// Bytes of the budget held by one request until it is answered.
pub(super) struct Reservation {
    _permits: Vec<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// A budget of `bytes` (at least one unit).
    pub fn new(bytes: usize) -> BodyBudget {
        let total = bytes.div_ceil(UNIT).max(1);
        BodyBudget {
            units: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))),
            total,
        }
    }

    /// Bytes of the budget not reserved now.
    pub fn available(&self) -> usize {
        self.units.available_permits().saturating_mul(UNIT)
    }

    /// The whole budget in bytes.
    pub fn total(&self) -> usize {
        self.total.saturating_mul(UNIT)
    }
}

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

/// A body read whole, with the budget it holds.
pub(super) struct Body {
    /// The bytes.
    pub bytes: Bytes,
    /// Released when the request is answered (drop it then).
    pub reservation: Reservation,
}

fn busy(state: &ServerState) -> ApiError {
    ApiError::Busy(format!(
        "the server is at its memory budget for request bodies (limits.maxBufferedBytes, {} bytes); retry shortly",
        state.bodies.total()
    ))
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "request body is larger than the {limit}-byte limit (limits.maxBodyBytes)"
    ))
}

/// Reads the body of `req` within `deadline`, the body limit and the memory budget.
pub(super) async fn read(state: &ServerState, req: Request<Incoming>, deadline: Duration) -> Result<Body, ApiError> {
    let limit = state.limits.max_body_bytes;
    let until = Instant::now() + deadline;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok());
    let mut body = req.into_body();
    if declared.is_some_and(|n| n > limit) {
        drain(body);
        return Err(too_large(limit));
    }
    let mut permits = Vec::new();
    if let Some(length) = declared.filter(|n| *n > 0) {
        let wanted = Arc::clone(&state.bodies.units).acquire_many_owned(units(length));
        if let Ok(Ok(permit)) = tokio::time::timeout_at(until, wanted).await {
            permits.push(permit);
        } else {
            drain(body);
            return Err(busy(state));
        }
    }
    let mut reserved = declared.unwrap_or(0).div_ceil(UNIT) * UNIT;
    let mut buffer = BytesMut::with_capacity(declared.unwrap_or(0));
    loop {
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Err(_) => {
                return Err(ApiError::RequestTimeout(format!(
                "the request body was not received within {deadline:?} (limits.bodyReadTimeoutMs); {} bytes arrived",
                buffer.len()
            )))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::BadRequest(format!("cannot read request body: {e}")));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let total = buffer.len().saturating_add(data.len());
        if total > limit {
            drain(body);
            return Err(too_large(limit));
        }
        if total > reserved {
            // More than declared (or nothing declared): reserve what arrived, without waiting.
            let more = units(total - reserved);
            if let Ok(permit) = Arc::clone(&state.bodies.units).try_acquire_many_owned(more) {
                permits.push(permit);
                reserved += more as usize * UNIT;
            } else {
                drain(body);
                return Err(busy(state));
            }
        }
        buffer.extend_from_slice(&data);
    }
    Ok(Body {
        bytes: buffer.freeze(),
        reservation: Reservation { _permits: permits },
    })
}

/// Leaves `body` to a task that reads and discards up to [`DRAIN_BYTES`] of it within
/// [`DRAIN_TIME`], so an answer given before the body was read reaches the client whole; the
/// body is dropped after that (after the answer went out).
pub(super) fn drain(mut body: Incoming) {
    tokio::spawn(async move {
        let until = Instant::now() + DRAIN_TIME;
        let mut seen = 0usize;
        while seen < DRAIN_BYTES {
            match tokio::time::timeout_at(until, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                }
                _ => break,
            }
        }
    });
}
