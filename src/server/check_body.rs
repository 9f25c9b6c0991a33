//! Reading a `POST /v1/check` body: its media type, JSON or YAML (with positions), the
//! request's fields, the caller it acts for and the input to judge. Runs on the evaluation pool.

use http::{header, Request};
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};

use super::api_error::ApiError;
use crate::engine::{Input, Operation};
use crate::service::{Caller, TenantChoice};
use crate::source::{ParseLimits, PositionMap};
use crate::tenant::AccessError;

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
pub(super) enum BodyFormat {
    Json,
    Yaml,
}

/// The body's format, by its `Content-Type` (JSON when it has none).
pub(super) fn body_format(req: &Request<Incoming>) -> Result<BodyFormat, ApiError> {
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

/// A check-API body, read: the input, who asks for it, and where its fields were written.
pub(super) struct CheckBody {
    /// The document and operation to judge.
    pub input: Input,
    /// The caller: its tenant (the token's, else the body's), environment and request id.
    pub caller: Caller,
    /// Line and column of each field when the body was YAML.
    pub positions: Option<PositionMap>,
    /// Where the object sits in the body (`/object`, or `""` for a bare manifest).
    pub prefix: &'static str,
}

/// Reads a check-API body (on the evaluation pool): the request, its caller, and the input.
pub(super) fn read(
    body: &[u8],
    format: &BodyFormat,
    limits: ParseLimits,
    token_tenant: Option<String>,
    request_id: String,
) -> Result<CheckBody, ApiError> {
    let (value, positions) = parse(body, format, limits).map_err(|e| ApiError::BadRequest(e.to_string()))?;
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
        request_id: Some(request_id),
    };
    let input = Input {
        object: request.object,
        old_object: request.old_object,
        operation,
        ..Input::default()
    };
    Ok(CheckBody {
        input,
        caller,
        positions,
        prefix,
    })
}

/// Why a check-API body could not be read.
#[derive(Debug, thiserror::Error)]
pub(super) enum BodyError {
    /// Not JSON.
    #[error("request body is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// Not UTF-8 text.
    #[error("request body is not UTF-8: {0}")]
    NotUtf8(#[source] std::str::Utf8Error),
    /// Not YAML (or its aliases expand past the limit).
    #[error("request body is not YAML: {0}")]
    NotYaml(#[source] crate::source::SourceError),
    /// No document.
    #[error("request body is empty")]
    Empty,
}

/// The body as JSON, with source positions when it was YAML (JSON bodies are parsed by
/// `serde_json` for speed and carry no positions). YAML aliases may expand the body by at most
/// `limits` (the body limit).
fn parse(body: &[u8], format: &BodyFormat, limits: ParseLimits) -> Result<(Value, Option<PositionMap>), BodyError> {
    match format {
        BodyFormat::Json => crate::text::json_from_bytes(body)
            .map(|v| (v, None))
            .map_err(BodyError::NotJson),
        BodyFormat::Yaml => {
            let text = std::str::from_utf8(body).map_err(BodyError::NotUtf8)?;
            let mut docs = crate::source::parse_documents_within(text, limits).map_err(BodyError::NotYaml)?;
            if docs.is_empty() {
                return Err(BodyError::Empty);
            }
            let doc = docs.remove(0);
            Ok((doc.value, Some(doc.positions)))
        }
    }
}
