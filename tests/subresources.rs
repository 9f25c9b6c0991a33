//! The real request at the door: `/validate` and `/mutate` judge a review with the resource,
//! subresource, user (with `extra`) and options the API server sent, over real TLS. Admission
//! policies on `pods/exec` and `deployments/scale` apply to those reviews; policies on the plain
//! `pods` and `deployments` resources do not (and do apply to the resources themselves). A
//! CREATE or UPDATE without an object is refused with 400.

mod support;

use std::path::PathBuf;

use serde_json::{json, Value};

use celgate::server::PackSourceSpec;
use support::{fixture, fixture_json, fixture_uid, manifest_dir, Client, Options, TestServer};

/// A server whose only packs are the subresource policies of `tests/fixtures/vap/subresources`.
async fn policy_server() -> TestServer {
    let dir: PathBuf = manifest_dir().join("tests/fixtures/vap/subresources");
    TestServer::start(Options {
        packs: PackSourceSpec::Paths(vec![dir]),
        ..Options::default()
    })
    .await
}

/// The `response` of the review `body` on `path`, after checking the envelope and the uid.
async fn respond(client: &Client, path: &str, body: &Value) -> Value {
    let bytes = serde_json::to_vec(body).expect("serializes");
    let review = client.review(path, &bytes).await;
    assert_eq!(review["kind"], "AdmissionReview", "{review}");
    assert_eq!(review["response"]["uid"], body["request"]["uid"], "{review}");
    review["response"].clone()
}

fn message(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or("")
}

/// A pod CREATE in `prod` made from the exec review: the plain `pods` resource.
fn pod_create() -> Value {
    let mut review = fixture_json("pods-exec.json");
    let request = &mut review["request"];
    request["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e41");
    request["operation"] = json!("CREATE");
    for key in ["kind", "requestKind"] {
        request[key] = json!({"group": "", "version": "v1", "kind": "Pod"});
    }
    for key in ["subResource", "requestSubResource"] {
        request[key] = json!("");
    }
    request["object"] = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web-0", "namespace": "prod"},
        "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1.2.3"}]}
    });
    review
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_into_a_prod_pod_is_judged_by_the_exec_policy_only() {
    let server = policy_server().await;
    let client = server.client();
    let exec = fixture_json("pods-exec.json");
    for path in ["/validate", "/mutate"] {
        let response = respond(&client, path, &exec).await;
        assert_eq!(response["allowed"], false, "{path}: {response}");
        let text = message(&response);
        // request.name, object (PodExecOptions), request.resource.resource, request.subResource,
        // request.userInfo.username and request.userInfo.extra all reached the expression.
        assert!(
            text.contains(
                "exec into pod web-0 (container app) in prod is not allowed: pods/exec by alice@example.com, ticket INC-4711"
            ),
            "{path}: {text}"
        );
        assert!(text.contains("exec-in-prod.example.com"), "{path}: {text}");
        // The policy on the plain `pods` resource does not apply to pods/exec.
        assert!(!text.contains("plain pods rule"), "{path}: {text}");
        assert!(
            text.starts_with("celgate denied the request: 1 finding(s)"),
            "{path}: {text}"
        );
    }

    // Outside prod the exec policy holds, and nothing else applies.
    let mut elsewhere = exec.clone();
    elsewhere["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e42");
    elsewhere["request"]["namespace"] = json!("staging");
    let response = respond(&client, "/validate", &elsewhere).await;
    assert_eq!(response["allowed"], true, "{response}");

    // A user the authenticator marked break-glass (userInfo.extra) is exempt by matchConditions.
    let mut break_glass = exec.clone();
    break_glass["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e43");
    break_glass["request"]["userInfo"]["extra"]["example.com/break-glass"] = json!(["true"]);
    let response = respond(&client, "/validate", &break_glass).await;
    assert_eq!(response["allowed"], true, "{response}");

    // attach is listed by the exec policy; port-forward is not.
    let mut attach = exec.clone();
    attach["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e44");
    attach["request"]["subResource"] = json!("attach");
    attach["request"]["requestSubResource"] = json!("attach");
    attach["request"]["object"]["kind"] = json!("PodAttachOptions");
    let response = respond(&client, "/validate", &attach).await;
    assert_eq!(response["allowed"], false, "{response}");
    assert!(message(&response).contains("pods/attach"), "{response}");
    let mut forward = attach.clone();
    forward["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e45");
    forward["request"]["subResource"] = json!("portforward");
    forward["request"]["requestSubResource"] = json!("portforward");
    forward["request"]["object"] = json!({"kind": "PodPortForwardOptions", "apiVersion": "v1", "ports": [8080]});
    let response = respond(&client, "/validate", &forward).await;
    assert_eq!(response["allowed"], true, "{response}");

    // The plain pods policy is live: it denies the pod itself.
    let response = respond(&client, "/validate", &pod_create()).await;
    assert_eq!(response["allowed"], false, "{response}");
    let text = message(&response);
    assert!(text.contains("plain pods rule applied to pods/"), "{text}");
    assert!(!text.contains("exec into pod"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_a_deployment_is_judged_by_the_scale_policy_only() {
    let server = policy_server().await;
    let client = server.client();
    let scale = fixture_json("deployments-scale.json");
    for path in ["/validate", "/mutate"] {
        let response = respond(&client, path, &scale).await;
        assert_eq!(response["allowed"], false, "{path}: {response}");
        let text = message(&response);
        // request.resource.resource, request.subResource, request.name, object (a Scale) and
        // request.options reached the expression.
        assert!(
            text.contains("scaling deployments/scale web to 20 replicas exceeds 10 (field manager kubectl-scale)"),
            "{path}: {text}"
        );
        assert!(
            text.starts_with("celgate denied the request: 1 finding(s)"),
            "{path}: {text}"
        );
    }

    // 8 replicas: within the scale limit, and the plain deployments policy (at most 5) does not
    // apply to deployments/scale.
    let mut eight = scale.clone();
    eight["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e51");
    eight["request"]["object"]["spec"]["replicas"] = json!(8);
    let response = respond(&client, "/validate", &eight).await;
    assert_eq!(response["allowed"], true, "{response}");

    // The plain deployments policy is live: 8 replicas on the deployment itself are denied.
    let mut deployment = fixture_json("deny.json");
    deployment["request"]["uid"] = json!("0b6f3d1e-5a3c-4b8e-9d41-1a2b3c4d5e52");
    deployment["request"]["object"]["spec"]["replicas"] = json!(8);
    let response = respond(&client, "/validate", &deployment).await;
    assert_eq!(response["allowed"], false, "{response}");
    let text = message(&response);
    assert!(
        text.contains("plain deployments rule applied to deployments/"),
        "{text}"
    );
    assert!(!text.contains("scaling"), "{text}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_or_update_without_object_is_a_400() {
    let server = TestServer::start_default().await;
    let client = server.client();
    for path in ["/validate", "/mutate"] {
        let answer = client.post(path, &fixture("null-object.json")).await.expect("answered");
        assert_eq!(answer.status, 400, "{path}: {}", answer.text());
        let body = answer.json();
        let response = &body["response"];
        assert_eq!(response["uid"], fixture_uid("null-object.json"), "{body}");
        assert_eq!(response["allowed"], false, "{body}");
        assert_eq!(response["status"]["code"], 400, "{body}");
        assert!(
            message(response).contains("request.object is null, but CREATE requests carry the object being written"),
            "{body}"
        );
    }

    // The same without an `object` key, and as an UPDATE.
    let mut missing = fixture_json("null-object.json");
    if let Some(request) = missing["request"].as_object_mut() {
        request.remove("object");
    }
    missing["request"]["operation"] = json!("UPDATE");
    missing["request"]["oldObject"] =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}});
    let answer = client
        .post("/validate", &serde_json::to_vec(&missing).expect("serializes"))
        .await
        .expect("answered");
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        message(&answer.json()["response"]).contains("request.object is null, but UPDATE requests"),
        "{}",
        answer.text()
    );

    // A DELETE carries oldObject only, and is judged.
    let mut delete = missing.clone();
    delete["request"]["operation"] = json!("DELETE");
    let answer = client
        .post("/validate", &serde_json::to_vec(&delete).expect("serializes"))
        .await
        .expect("answered");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json()["response"]["allowed"], true, "{}", answer.text());
    server.stop().await;
}

/// The shipped packs judge subresource reviews without an evaluation error (their rules match
/// whole objects: a `Scale` or a `PodExecOptions` is not a Deployment or a Pod).
#[test]
fn shipped_packs_admit_subresource_reviews() {
    let engine = celgate::engine::Engine::load(&celgate::packs::embedded().packs).expect("shipped packs load");
    for name in ["pods-exec.json", "deployments-scale.json"] {
        let mut review = celgate::review::parse(&fixture(name)).expect("a review");
        let input = review.take_input(None);
        let decision = engine.evaluate(&input);
        assert_eq!(
            decision.decision,
            celgate::engine::Verdict::Allow,
            "{name}: {decision:?}"
        );
        assert!(decision.violations.is_empty(), "{name}: {:?}", decision.violations);
    }
}
