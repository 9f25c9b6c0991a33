//! [`ApiError`]: every way the server refuses a request, typed; [`ApiError::into_response`] is
//! the one place that turns a refusal into an HTTP status and a JSON body
//! (`{"error": message, "code": status}`).

use http::{header, StatusCode};
use serde_json::json;

use super::routes::{bytes_response, HttpResponse};
use crate::service::CallerError;
use crate::tenant::AccessError;

/// A request the server refuses, with the message the caller reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ApiError {
    /// The request is malformed (400).
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token (401, with `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthenticated(String),
    /// No verified client certificate where one is required (401).
    #[error("{0}")]
    ClientCertificateRequired(String),
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such route (404).
    #[error("{0}")]
    NotFound(String),
    /// The route does not take this method (405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The body did not arrive in time (408).
    #[error("{0}")]
    RequestTimeout(String),
    /// The body is over the limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The body's media type is not one the route reads (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server is at its memory budget for bodies: retry shortly (503, `Retry-After: 1`).
    #[error("{0}")]
    Busy(String),
    /// The request could not be judged or recorded in time (503).
    #[error("{0}")]
    Unavailable(String),
    /// Something failed inside the server (500).
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of the refusal.
    pub(super) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated(_) | ApiError::ClientCertificateRequired(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Busy(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The answer: the status, `{"error": message, "code": status}`, and the headers the
    /// status calls for.
    pub(super) fn into_response(self) -> HttpResponse {
        let status = self.status();
        // A map of two plain values always serialises.
        let body = serde_json::to_vec(&json!({"error": self.to_string(), "code": status.as_u16()})).unwrap_or_default();
        let mut response = bytes_response(status, body);
        let extra = match self {
            ApiError::Unauthenticated(_) => Some((header::WWW_AUTHENTICATE, "Bearer realm=\"celgate\"")),
            ApiError::Busy(_) => Some((header::RETRY_AFTER, "1")),
            _ => None,
        };
        if let Some((name, value)) = extra {
            response
                .headers_mut()
                .insert(name, header::HeaderValue::from_static(value));
        }
        response
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Unauthenticated => ApiError::Unauthenticated(e.to_string()),
            AccessError::OtherTenant { .. } => ApiError::Forbidden(e.to_string()),
        }
    }
}

impl From<CallerError> for ApiError {
    fn from(e: CallerError) -> Self {
        match e {
            CallerError::UnknownEnvironment(_) => ApiError::BadRequest(e.to_string()),
            CallerError::EnvironmentNotOwned { .. } => ApiError::Forbidden(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status_and_headers() {
        let unauthenticated = ApiError::from(AccessError::Unauthenticated).into_response();
        assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
        assert!(unauthenticated.headers().contains_key(header::WWW_AUTHENTICATE));
        let busy = ApiError::Busy("full".to_owned()).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let other = ApiError::from(AccessError::OtherTenant {
            own: "a".to_owned(),
            asked: "b".to_owned(),
        });
        assert_eq!(other.status(), StatusCode::FORBIDDEN);
        assert!(other.to_string().contains("cannot act as tenant 'b'"));
    }
}
