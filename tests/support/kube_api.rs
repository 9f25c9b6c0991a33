//! A loopback stand-in for the Kubernetes API server: just enough for
//! `kubectl apply --dry-run=client --validate=strict` (see `tests/deploy_kubectl.rs`).
//!
//! kubectl 1.32 (as logged) asks, in this order: `/version` (only the gcloud kubectl dispatcher, to
//! pick a client version), `/openapi/v3` (answered 404, so the field-validation check falls back to
//! v2, finds no path that takes `fieldValidation`, and client-side validation runs), `/openapi/v2`
//! (asked for as protobuf only), legacy discovery (`/api`, `/apis`, `/api/v1`,
//! `/apis/<group>/<version>`: JSON without the aggregated-discovery media type), then a GET per
//! object and per object's namespace (404: nothing exists, so apply would create everything).
//!
//! The schemas are the official API definitions as converted to JSON Schema 2020-12 by the Python
//! package `kubernetes-validate` (`_definitions.json`); they are turned back into a Swagger 2.0
//! document like the one a real API server serves, then encoded as gnostic's `openapi.v2.Document`
//! protobuf (the only form kubectl accepts). Discovery is derived from the definitions'
//! `x-kubernetes-group-version-kind`.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// JSON Schema 2020-12 -> Swagger 2.0

/// The Swagger 2.0 document a 1.32 API server would serve at `/openapi/v2` (without paths: the
/// empty `paths` also tells kubectl the server does not do field validation itself).
pub fn swagger_from_definitions(definitions: &Value) -> Value {
    let defs = definitions["$defs"].as_object().expect("definitions: a `$defs` object");
    let converted: Map<String, Value> = defs
        .iter()
        .map(|(name, schema)| (name.clone(), to_swagger(schema)))
        .collect();
    json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": {},
        "definitions": converted,
    })
}

/// One schema: `#/$defs/` refs become `#/definitions/`, `["t", "null"]` becomes `"t"`, the two
/// `oneOf`s (`IntOrString`, `Quantity`) become what the upstream swagger has.
pub fn to_swagger(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        panic!("a schema that is not an object: {schema}")
    };
    let mut out = Map::new();
    for (key, value) in map {
        let converted = match key.as_str() {
            // Swagger 2.0 has no anyOf: the value is left unconstrained rather than constrained wrongly.
            "$schema" | "$id" | "anyOf" => continue,
            "$ref" => {
                let target = value.as_str().expect("$ref is a string");
                let name = target
                    .strip_prefix("#/$defs/")
                    .unwrap_or_else(|| panic!("unexpected $ref {target}"));
                Value::String(format!("#/definitions/{name}"))
            }
            "type" => Value::String(single_type(value)),
            "oneOf" => {
                // IntOrString is {string, integer}, Quantity is {string, number}: upstream has
                // `string` + `int-or-string` for the first and a plain `string` for the second.
                let mut types: Vec<String> = value
                    .as_array()
                    .expect("oneOf is an array")
                    .iter()
                    .map(|branch| single_type(&branch["type"]))
                    .collect();
                types.sort();
                match types.iter().map(String::as_str).collect::<Vec<_>>()[..] {
                    ["integer", "string"] => {
                        out.insert("format".into(), "int-or-string".into());
                    }
                    ["number", "string"] => {}
                    _ => panic!("unexpected oneOf {value}"),
                }
                out.insert("type".into(), "string".into());
                continue;
            }
            // Swagger 2.0 has allOf: one branch is inlined (a $ref with its own description, as
            // generators write it), several are kept.
            "allOf" => {
                let branches = value.as_array().expect("allOf is an array");
                if let [only] = &branches[..] {
                    let Value::Object(inlined) = to_swagger(only) else {
                        unreachable!()
                    };
                    out.extend(inlined);
                    continue;
                }
                Value::Array(branches.iter().map(to_swagger).collect())
            }
            "properties" => {
                let properties = value.as_object().expect("properties is an object");
                Value::Object(
                    properties
                        .iter()
                        .map(|(name, s)| (name.clone(), to_swagger(s)))
                        .collect(),
                )
            }
            "items" => to_swagger(value),
            "additionalProperties" if value.is_object() => to_swagger(value),
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    Value::Object(out)
}

/// `"string"` or `["string", "null"]` -> `string`.
fn single_type(value: &Value) -> String {
    match value {
        Value::String(t) => t.clone(),
        Value::Array(types) => {
            let non_null: Vec<&str> = types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect();
            match non_null[..] {
                [t] => t.to_owned(),
                _ => panic!("a type Swagger 2.0 cannot express: {value}"),
            }
        }
        _ => panic!("unexpected type {value}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Swagger 2.0 -> protobuf (github.com/google/gnostic openapiv2/OpenAPIv2.proto)

/// The Swagger document as gnostic's `openapi.v2.Document`, what `/openapi/v2` returns for
/// `Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf`. Only the fields the
/// converted definitions use are written; anything else is a panic, not silently dropped.
pub fn openapi_v2_protobuf(swagger: &Value) -> Vec<u8> {
    let mut doc = Vec::new();
    pb::string(&mut doc, 1, swagger["swagger"].as_str().expect("swagger version"));
    pb::message(&mut doc, 2, |info| {
        pb::string(info, 1, swagger["info"]["title"].as_str().expect("info.title"));
        pb::string(info, 2, swagger["info"]["version"].as_str().expect("info.version"));
    });
    pb::message(&mut doc, 8, |_paths| {});
    pb::message(&mut doc, 9, |definitions| {
        for (name, schema) in swagger["definitions"].as_object().expect("definitions") {
            named_schema(definitions, 1, name, schema);
        }
    });
    doc
}

/// `NamedSchema { string name = 1; Schema value = 2; }` as field `field`.
fn named_schema(out: &mut Vec<u8>, field: u32, name: &str, schema: &Value) {
    pb::message(out, field, |named| {
        pb::string(named, 1, name);
        pb::message(named, 2, |s| encode_schema(s, schema));
    });
}

/// `openapi.v2.Schema`. Vendor extensions and enum values are `Any { string yaml = 2; }`; JSON is
/// YAML, so they are written as JSON.
fn encode_schema(out: &mut Vec<u8>, schema: &Value) {
    let any = |out: &mut Vec<u8>, field: u32, value: &Value| {
        pb::message(out, field, |a| pb::string(a, 2, &value.to_string()));
    };
    for (key, value) in schema.as_object().expect("a schema object") {
        let text = || {
            value
                .as_str()
                .unwrap_or_else(|| panic!("{key} is not a string: {value}"))
        };
        let list = || {
            value
                .as_array()
                .unwrap_or_else(|| panic!("{key} is not an array: {value}"))
        };
        match key.as_str() {
            "$ref" => pb::string(out, 1, text()),
            "format" => pb::string(out, 2, text()),
            "title" => pb::string(out, 3, text()),
            "description" => pb::string(out, 4, text()),
            "required" => list()
                .iter()
                .for_each(|r| pb::string(out, 19, r.as_str().expect("required name"))),
            "enum" => list().iter().for_each(|v| any(out, 20, v)),
            "additionalProperties" => pb::message(out, 21, |item| match value {
                Value::Bool(b) => pb::boolean(item, 2, *b),
                _ => pb::message(item, 1, |s| encode_schema(s, value)),
            }),
            "type" => pb::message(out, 22, |t| pb::string(t, 1, text())),
            "items" => pb::message(out, 23, |items| pb::message(items, 1, |s| encode_schema(s, value))),
            "allOf" => list()
                .iter()
                .for_each(|branch| pb::message(out, 24, |s| encode_schema(s, branch))),
            "properties" => pb::message(out, 25, |properties| {
                for (name, property) in value.as_object().expect("properties object") {
                    named_schema(properties, 1, name, property);
                }
            }),
            extension if extension.starts_with("x-") => pb::message(out, 31, |named| {
                pb::string(named, 1, extension);
                any(named, 2, value);
            }),
            other => panic!("no protobuf field written for schema key {other:?}"),
        }
    }
}

/// The protobuf wire format, the three kinds of field the document needs.
mod pb {
    fn varint(out: &mut Vec<u8>, mut value: u64) {
        while value >= 0x80 {
            out.push(u8::try_from(value & 0x7f).expect("7 bits") | 0x80);
            value >>= 7;
        }
        out.push(u8::try_from(value).expect("below 0x80"));
    }

    fn key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
        varint(out, u64::from(field) << 3 | u64::from(wire_type));
    }

    fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        key(out, field, 2);
        varint(out, data.len() as u64);
        out.extend_from_slice(data);
    }

    pub fn string(out: &mut Vec<u8>, field: u32, value: &str) {
        bytes(out, field, value.as_bytes());
    }

    pub fn boolean(out: &mut Vec<u8>, field: u32, value: bool) {
        key(out, field, 0);
        varint(out, u64::from(value));
    }

    pub fn message(out: &mut Vec<u8>, field: u32, fill: impl FnOnce(&mut Vec<u8>)) {
        let mut inner = Vec::new();
        fill(&mut inner);
        bytes(out, field, &inner);
    }
}

// ---------------------------------------------------------------------------------------------
// Discovery

/// One resource kind the stand-in serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResource {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ApiResource {
    pub fn new(group: &str, version: &str, kind: &str) -> Self {
        ApiResource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespaced: !CLUSTER_SCOPED.contains(&kind),
        }
    }

    fn group_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// Kinds whose objects live outside namespaces (built-in, plus cert-manager's `ClusterIssuer`).
/// Not every one is served (alpha versions are not), the list is complete for 1.32 regardless.
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "ComponentStatus",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "StorageClass",
    "CSIDriver",
    "CSINode",
    "VolumeAttachment",
    "VolumeAttributesClass",
    "CustomResourceDefinition",
    "APIService",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "IngressClass",
    "IPAddress",
    "ServiceCIDR",
    "RuntimeClass",
    "FlowSchema",
    "PriorityLevelConfiguration",
    "CertificateSigningRequest",
    "ClusterTrustBundle",
    "DeviceClass",
    "ResourceSlice",
    "StorageVersion",
    "StorageVersionMigration",
    "TokenReview",
    "SelfSubjectReview",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "SubjectAccessReview",
    "ClusterIssuer",
];

/// Kinds that are only subresources (`deployments/scale`, `pods/eviction`,
/// `serviceaccounts/token`), not resources of their own.
const SUBRESOURCE_KINDS: &[&str] = &["Scale", "Eviction", "TokenRequest"];

/// The resources a default 1.32 cluster serves, from the definitions: every
/// `x-kubernetes-group-version-kind`, except lists, the meta kinds (`io.k8s.apimachinery.*`:
/// `Status`, `DeleteOptions`, `WatchEvent`, discovery documents), subresource kinds and alpha versions
/// (off unless a feature gate turns them on).
pub fn builtin_resources(definitions: &Value) -> Vec<ApiResource> {
    let mut resources = Vec::new();
    for (name, schema) in definitions["$defs"].as_object().expect("definitions: a `$defs` object") {
        if name.starts_with("io.k8s.apimachinery.") {
            continue;
        }
        for gvk in schema["x-kubernetes-group-version-kind"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let field = |f: &str| gvk[f].as_str().unwrap_or_else(|| panic!("{name}: gvk without {f}"));
            let (group, version, kind) = (field("group"), field("version"), field("kind"));
            if kind.ends_with("List") || SUBRESOURCE_KINDS.contains(&kind) || version.contains("alpha") {
                continue;
            }
            resources.push(ApiResource::new(group, version, kind));
        }
    }
    resources
}

/// The resource name of a kind, by the usual English rules the API uses.
pub fn plural(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    if lower == "endpoints" {
        lower
    } else if ["s", "x", "z", "ch", "sh"].iter().any(|end| lower.ends_with(end)) {
        format!("{lower}es")
    } else if lower.ends_with('y') && !lower[..lower.len() - 1].ends_with(['a', 'e', 'i', 'o', 'u']) {
        format!("{}ies", &lower[..lower.len() - 1])
    } else {
        format!("{lower}s")
    }
}

/// Orders API versions as Kubernetes prefers them: GA over beta over alpha, then higher first.
fn version_priority(version: &str) -> (u8, u32, u32) {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let digits = |s: &str| s.parse::<u32>().unwrap_or(0);
    for (stability, marker) in [(1, "beta"), (0, "alpha")] {
        if let Some((major, minor)) = rest.split_once(marker) {
            return (stability, digits(major), digits(minor));
        }
    }
    (2, digits(rest), 0)
}

/// Path -> JSON body of every discovery document.
pub fn discovery_documents(resources: &[ApiResource]) -> BTreeMap<String, Value> {
    let mut by_group_version: BTreeMap<String, Vec<&ApiResource>> = BTreeMap::new();
    let mut versions_of_group: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for resource in resources {
        by_group_version
            .entry(resource.group_version())
            .or_default()
            .push(resource);
        let versions = versions_of_group.entry(&resource.group).or_default();
        if !versions.contains(&resource.version.as_str()) {
            versions.push(&resource.version);
        }
    }
    let mut docs = BTreeMap::new();
    for (group_version, members) in &by_group_version {
        let path = if members[0].group.is_empty() { "/api" } else { "/apis" };
        let list: Vec<Value> = members
            .iter()
            .map(|r| {
                json!({
                    "name": plural(&r.kind),
                    "singularName": r.kind.to_ascii_lowercase(),
                    "namespaced": r.namespaced,
                    "kind": r.kind,
                    "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
                })
            })
            .collect();
        docs.insert(
            format!("{path}/{group_version}"),
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": list}),
        );
    }
    docs.insert("/api".into(), json!({"kind": "APIVersions", "versions": ["v1"]}));
    let groups: Vec<Value> = versions_of_group
        .iter_mut()
        .filter(|(group, _)| !group.is_empty())
        .map(|(group, versions)| {
            versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
            let entries: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
                .collect();
            json!({"name": group, "versions": entries, "preferredVersion": entries[0]})
        })
        .collect();
    docs.insert(
        "/apis".into(),
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    );
    docs
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 on 127.0.0.1

/// The answer's content type for `/openapi/v2` (kubectl asks for
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`, but `@` is not valid in a media
/// type, and Go's parser rejects it in a response).
const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// A running stand-in. Its thread lives as long as the test process.
pub struct ApiServer {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
}

struct Routes {
    /// Path -> (content type, body).
    fixed: HashMap<String, (&'static str, Vec<u8>)>,
    /// `/openapi/v2` as JSON, for anyone asking without protobuf in `Accept`.
    openapi_json: Vec<u8>,
}

impl ApiServer {
    /// Serves discovery for `resources` and the definitions as the `OpenAPI` v2 document, on
    /// `127.0.0.1` at a free port.
    pub fn start(definitions: &Value, resources: &[ApiResource]) -> io::Result<ApiServer> {
        let swagger = swagger_from_definitions(definitions);
        let mut fixed: HashMap<String, (&'static str, Vec<u8>)> = discovery_documents(resources)
            .into_iter()
            .map(|(path, doc)| (path, ("application/json", doc.to_string().into_bytes())))
            .collect();
        let version = json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"});
        fixed.insert(
            "/version".into(),
            ("application/json", version.to_string().into_bytes()),
        );
        fixed.insert(
            "/openapi/v2".into(),
            (OPENAPI_V2_PROTOBUF, openapi_v2_protobuf(&swagger)),
        );
        let routes = Arc::new(Routes {
            fixed,
            openapi_json: swagger.to_string().into_bytes(),
        });

        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, log) = (Arc::clone(&routes), Arc::clone(&log));
                thread::spawn(move || {
                    // A connection that breaks is kubectl's to report, not the server's.
                    let _ = serve_connection(stream, &routes, &log);
                });
            }
        });
        Ok(ApiServer { addr, requests })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far, as `METHOD target`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }
}

/// One request read off a keep-alive connection: method, target (path and query), the headers
/// (names lowercased) and the body.
pub struct RequestHead {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The request target as sent (path and query).
    pub target: String,
    /// Header values by lowercased name.
    pub headers: HashMap<String, String>,
    /// The body (`Content-Length` bytes); kubectl's stand-in reads none.
    #[allow(dead_code)]
    pub body: Vec<u8>,
}

/// Reads the next request from `reader`; `None` once the client closed the connection.
pub fn read_request(reader: &mut impl BufRead) -> io::Result<Option<RequestHead>> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(None);
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: u64 = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = Vec::new();
    reader.take(length).read_to_end(&mut body)?;
    let mut parts = request_line.split_whitespace();
    Ok(Some(RequestHead {
        method: parts.next().unwrap_or("").to_owned(),
        target: parts.next().unwrap_or("").to_owned(),
        headers,
        body,
    }))
}

/// Answers requests on one keep-alive connection until the client closes it.
fn serve_connection(stream: TcpStream, routes: &Routes, log: &Mutex<Vec<String>>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader)? {
        let (method, target) = (request.method.as_str(), request.target.as_str());
        let accept = request.headers.get("accept").map_or("", String::as_str);
        log.lock().expect("request log").push(format!("{method} {target}"));
        let path = target.split('?').next().unwrap_or("");
        let (status, content_type, body) = match routes.fixed.get(path) {
            _ if method != "GET" => (405, "application/json", status_body(405, "MethodNotAllowed", method)),
            Some((OPENAPI_V2_PROTOBUF, _)) if !accept.contains("protobuf") => {
                (200, "application/json", routes.openapi_json.clone())
            }
            Some((content_type, body)) => (200, *content_type, body.clone()),
            None => (404, "application/json", status_body(404, "NotFound", path)),
        };
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            _ => "Method Not Allowed",
        };
        write!(
            writer,
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        writer.write_all(&body)?;
        writer.flush()?;
    }
    Ok(())
}

/// A `metav1.Status` failure, the body every API error has.
fn status_body(code: u16, reason: &str, what: &str) -> Vec<u8> {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": format!("{reason}: {what} (loopback stand-in: no objects, read-only)"),
        "reason": reason,
        "code": code,
    })
    .to_string()
    .into_bytes()
}
