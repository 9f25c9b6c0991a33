//! A loopback stand-in for the Kubernetes API server that a scan talks to (`tests/scan*.rs`),
//! next to `kube_api.rs` (whose discovery documents it serves): legacy discovery, paginated
//! lists of fixture objects (`limit`, `continue`, `labelSelector` with `k=v` terms), single
//! objects, server-side apply (`PATCH`, stored as sent), create and replace (`POST`, `PUT`:
//! `Lease`s), `DELETE`, and `SelfSubjectReview`. Every request is recorded with its query and
//! body. List items carry no `apiVersion`/`kind`, as a real API server sends them.
//!
//! Plain HTTP/1.1 on 127.0.0.1 (the `kube` client accepts an `http://` server).

use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};

use super::kube_api::{discovery_documents, plural, read_request, ApiResource};

/// One request as the stand-in received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// `Content-Type`.
    pub content_type: String,
    /// The body, parsed as JSON (`Null` when empty).
    pub body: Value,
}

/// (group, plural) -> (namespace, name) -> object.
type Store = BTreeMap<(String, String), BTreeMap<(String, String), Value>>;

struct State {
    resources: Vec<ApiResource>,
    discovery: BTreeMap<String, Value>,
    objects: Store,
    log: Vec<Recorded>,
    user: Value,
    resource_version: u64,
    /// (group, plural) whose lists answer 403, as without RBAC.
    forbidden: Vec<(String, String)>,
    /// Paths answered 503, as an aggregated API whose backend is down.
    unavailable: Vec<String>,
}

/// A running stand-in; its threads live as long as the test process.
pub struct ScanApi {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

/// The resources a scan test cluster serves: the usual workload kinds, leases, reports.
pub fn default_resources() -> Vec<ApiResource> {
    let mut resources: Vec<ApiResource> = [
        ("", "v1", "Namespace"),
        ("", "v1", "Pod"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "Service"),
        ("", "v1", "ServiceAccount"),
        ("", "v1", "Secret"),
        ("", "v1", "PersistentVolume"),
        ("", "v1", "PersistentVolumeClaim"),
        ("apps", "v1", "Deployment"),
        ("apps", "v1", "StatefulSet"),
        ("apps", "v1", "DaemonSet"),
        ("apps", "v1", "ReplicaSet"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("rbac.authorization.k8s.io", "v1", "Role"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRole"),
        ("rbac.authorization.k8s.io", "v1", "RoleBinding"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        ("networking.k8s.io", "v1", "NetworkPolicy"),
        ("networking.k8s.io", "v1", "Ingress"),
        ("storage.k8s.io", "v1", "StorageClass"),
        ("coordination.k8s.io", "v1", "Lease"),
        ("wgpolicyk8s.io", "v1alpha2", "PolicyReport"),
        ("openreports.io", "v1alpha1", "Report"),
    ]
    .iter()
    .map(|(g, v, k)| ApiResource::new(g, v, k))
    .collect();
    for (group, version, kind) in [
        ("wgpolicyk8s.io", "v1alpha2", "ClusterPolicyReport"),
        ("openreports.io", "v1alpha1", "ClusterReport"),
    ] {
        resources.push(ApiResource {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespaced: false,
        });
    }
    resources
}

impl ScanApi {
    /// Serves `resources` with `objects` (each with apiVersion, kind and metadata) in them.
    pub fn start(resources: Vec<ApiResource>, objects: &[Value]) -> io::Result<ScanApi> {
        let mut discovery = discovery_documents(&resources);
        discovery.insert(
            "/version".into(),
            json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "platform": "linux/amd64"}),
        );
        let state = Arc::new(Mutex::new(State {
            resources,
            discovery,
            objects: Store::new(),
            log: Vec::new(),
            user: json!({"username": "system:serviceaccount:celgate-system:celgate-scan", "uid": "u-1", "groups": ["system:serviceaccounts", "system:authenticated"]}),
            resource_version: 1,
            forbidden: Vec::new(),
            unavailable: Vec::new(),
        }));
        {
            let mut s = state.lock().expect("state");
            for object in objects {
                s.insert(object.clone());
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::clone(&state);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                thread::spawn(move || {
                    let _ = serve_connection(stream, &state);
                });
            }
        });
        Ok(ScanApi { addr, state })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at the stand-in, written into `dir`.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster: {{server: '{}'}}\nusers:\n- name: scanner\n  user: {{token: scan-token}}\ncontexts:\n- name: stand-in\n  context: {{cluster: stand-in, user: scanner}}\ncurrent-context: stand-in\n",
            self.url()
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().expect("state").log.clone()
    }

    /// Forgets the requests so far.
    pub fn clear_requests(&self) {
        self.state.lock().expect("state").log.clear();
    }

    /// The stored objects of a resource (`group`, `plural`), as (namespace, name) -> object.
    pub fn objects(&self, group: &str, plural: &str) -> BTreeMap<(String, String), Value> {
        let s = self.state.lock().expect("state");
        s.objects
            .get(&(group.to_owned(), plural.to_owned()))
            .cloned()
            .unwrap_or_default()
    }

    /// Adds or replaces an object.
    pub fn put(&self, object: Value) {
        self.state.lock().expect("state").insert(object);
    }

    /// Answers lists of `group`/`plural` with 403 Forbidden from now on.
    pub fn forbid(&self, group: &str, plural: &str) {
        self.state
            .lock()
            .expect("state")
            .forbidden
            .push((group.to_owned(), plural.to_owned()));
    }

    /// Answers `path` (e.g. a group version's discovery document) with 503 from now on.
    pub fn make_unavailable(&self, path: &str) {
        self.state.lock().expect("state").unavailable.push(path.to_owned());
    }

    /// Removes an object of `group`/`plural`.
    pub fn remove(&self, group: &str, plural: &str, namespace: &str, name: &str) {
        let mut s = self.state.lock().expect("state");
        if let Some(objects) = s.objects.get_mut(&(group.to_owned(), plural.to_owned())) {
            objects.remove(&(namespace.to_owned(), name.to_owned()));
        }
    }
}

impl State {
    fn resource_of(&self, object: &Value) -> Option<&ApiResource> {
        let api_version = object["apiVersion"].as_str().unwrap_or("");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = object["kind"].as_str().unwrap_or("");
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    fn insert(&mut self, mut object: Value) {
        let resource = self
            .resource_of(&object)
            .unwrap_or_else(|| panic!("no served resource for {object}"))
            .clone();
        self.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        let key = (
            object["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
            object["metadata"]["name"].as_str().unwrap_or("").to_owned(),
        );
        self.objects
            .entry((resource.group.clone(), plural(&resource.kind)))
            .or_default()
            .insert(key, object);
    }

    fn resource_by_plural(&self, group: &str, version: &str, plural_name: &str) -> Option<&ApiResource> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && plural(&r.kind) == plural_name)
    }
}

/// What a path names.
struct Target {
    group: String,
    version: String,
    plural: String,
    namespace: Option<String>,
    name: Option<String>,
}

fn parse_target(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return None,
    };
    let (plural, namespace, name) = match rest {
        [plural] => (*plural, None, None),
        ["namespaces", name] => ("namespaces", None, Some(*name)),
        [plural, name] => (*plural, None, Some(*name)),
        ["namespaces", ns, plural] => (*plural, Some(*ns), None),
        ["namespaces", ns, plural, name] => (*plural, Some(*ns), Some(*name)),
        _ => return None,
    };
    Some(Target {
        group: group.to_owned(),
        version: version.to_owned(),
        plural: plural.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: name.map(str::to_owned),
    })
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|t| !t.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][key].as_str() == Some(value)
    })
}

/// (status, body) for one request.
fn answer(state: &Mutex<State>, request: &Recorded) -> (u16, Value) {
    let mut s = state.lock().expect("state");
    if s.unavailable.contains(&request.path) {
        return (503, status(503, "ServiceUnavailable", &request.path));
    }
    if request.method == "GET" {
        if let Some(doc) = s.discovery.get(&request.path) {
            return (200, doc.clone());
        }
    }
    let Some(target) = parse_target(&request.path) else {
        return not_found(&request.path);
    };
    if target.group == "authentication.k8s.io" && target.plural == "selfsubjectreviews" && request.method == "POST" {
        let mut review = request.body.clone();
        review["status"] = json!({"userInfo": s.user.clone()});
        return (201, review);
    }
    let Some(resource) = s
        .resource_by_plural(&target.group, &target.version, &target.plural)
        .cloned()
    else {
        return not_found(&request.path);
    };
    let key = (target.group.clone(), target.plural.clone());
    let api_version = if target.group.is_empty() {
        target.version.clone()
    } else {
        format!("{}/{}", target.group, target.version)
    };
    match (request.method.as_str(), &target.name) {
        ("GET", None) if s.forbidden.contains(&key) => (403, status(403, "Forbidden", &request.path)),
        ("GET", None) => {
            let selector = request.query.get("labelSelector").cloned().unwrap_or_default();
            let all: Vec<Value> = s
                .objects
                .get(&key)
                .into_iter()
                .flat_map(|m| m.iter())
                .filter(|((ns, _), _)| target.namespace.as_ref().is_none_or(|t| t == ns))
                .map(|(_, o)| o.clone())
                .filter(|o| labels_match(o, &selector))
                .collect();
            let start: usize = request.query.get("continue").and_then(|c| c.parse().ok()).unwrap_or(0);
            let limit: usize = request
                .query
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(usize::MAX);
            let end = start.saturating_add(limit).min(all.len());
            let items: Vec<Value> = all[start.min(end)..end]
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    if let Some(map) = o.as_object_mut() {
                        map.remove("apiVersion");
                        map.remove("kind");
                    }
                    o
                })
                .collect();
            let mut metadata = json!({"resourceVersion": s.resource_version.to_string()});
            if end < all.len() {
                metadata["continue"] = json!(end.to_string());
                metadata["remainingItemCount"] = json!(all.len() - end);
            }
            (
                200,
                json!({"apiVersion": api_version, "kind": format!("{}List", resource.kind), "metadata": metadata, "items": items}),
            )
        }
        ("GET", Some(name)) => {
            let id = (target.namespace.clone().unwrap_or_default(), name.clone());
            match s.objects.get(&key).and_then(|m| m.get(&id)) {
                Some(o) => (200, o.clone()),
                None => not_found(&request.path),
            }
        }
        ("POST", None) | ("PUT" | "PATCH", Some(_)) => {
            let mut object = request.body.clone();
            if let Some(ns) = &target.namespace {
                object["metadata"]["namespace"] = json!(ns);
            }
            let name = target
                .name
                .clone()
                .or_else(|| object["metadata"]["name"].as_str().map(str::to_owned))
                .unwrap_or_default();
            object["metadata"]["name"] = json!(name);
            let id = (target.namespace.clone().unwrap_or_default(), name);
            let existing = s.objects.get(&key).and_then(|m| m.get(&id)).cloned();
            if request.method == "POST" && existing.is_some() {
                return (409, status(409, "AlreadyExists", &request.path));
            }
            if request.method == "PUT" {
                let sent = object["metadata"]["resourceVersion"].as_str();
                let stored = existing
                    .as_ref()
                    .and_then(|e| e["metadata"]["resourceVersion"].as_str());
                if existing.is_none() || (sent.is_some() && sent != stored) {
                    return (409, status(409, "Conflict", &request.path));
                }
            }
            object["apiVersion"] = json!(api_version);
            object["kind"] = json!(resource.kind);
            s.insert(object);
            let stored = s
                .objects
                .get(&key)
                .and_then(|m| m.get(&id))
                .cloned()
                .unwrap_or(Value::Null);
            (if request.method == "POST" { 201 } else { 200 }, stored)
        }
        ("DELETE", Some(name)) => {
            let id = (target.namespace.clone().unwrap_or_default(), name.clone());
            match s.objects.get_mut(&key).and_then(|m| m.remove(&id)) {
                Some(_) => (200, json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
                None => not_found(&request.path),
            }
        }
        _ => (405, status(405, "MethodNotAllowed", &request.method)),
    }
}

fn not_found(what: &str) -> (u16, Value) {
    (404, status(404, "NotFound", what))
}

fn status(code: u16, reason: &str, what: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": format!("{reason}: {what}"), "reason": reason, "code": code})
}

fn serve_connection(stream: TcpStream, state: &Mutex<State>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader)? {
        let (method, target) = (request.method.as_str(), request.target.as_str());
        let content_type = request.headers.get("content-type").cloned().unwrap_or_default();
        let body = request.body;
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let recorded = Recorded {
            method: method.to_owned(),
            path: path.to_owned(),
            query: parse_query(query),
            content_type,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        let (code, answer) = answer(state, &recorded);
        state.lock().expect("state").log.push(recorded);
        let body = answer.to_string();
        // One write per answer (several small ones meet Nagle and delayed ACKs: 40 ms each).
        let response = format!(
            "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        writer.write_all(response.as_bytes())?;
        writer.flush()?;
    }
    Ok(())
}
