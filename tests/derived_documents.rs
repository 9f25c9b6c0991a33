//! `request` and `namespaceObject` are documents derived from each input. A pass builds them
//! only when a pack that runs reads them (its variables, conditions, validations, messages,
//! pointers or patches), so packs that never do (most) do not pay for them, and a pack that does
//! sees them whatever the other packs read.

use std::collections::BTreeMap;

use serde_json::json;

use celgate::engine::{Engine, Input, PackSource, RootReads, UserInfo, Verdict};

fn pack(name: &str, body: &str) -> PackSource {
    PackSource {
        origin: format!("{name}.yaml"),
        text: format!(
            "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: {name}, version: 1.0.0}}\nspec:\n{body}"
        ),
    }
}

fn rule(id: &str, validate: &str, message: &str) -> String {
    format!(
        "    - id: {id}\n      title: t\n      controls: [X]\n      severity: low\n      match: {{kinds: [ConfigMap]}}\n      \
         validate: {validate:?}\n      message: {message:?}\n      remediation: r\n"
    )
}

fn engine() -> Engine {
    let sources = [
        pack("plain", &format!("  rules:\n{}", rule("plain-name", "object.metadata.name != ''", "m"))),
        pack(
            "byrequest",
            &format!("  rules:\n{}", rule("byrequest-create", "request.operation == 'UPDATE'", "op {request.operation}")),
        ),
        pack(
            "bymessage",
            &format!("  rules:\n{}", rule("bymessage-user", "false", "by {request.userInfo.username}")),
        ),
        pack(
            "bynamespace",
            &format!(
                "  variables:\n    - name: team\n      expression: \"namespaceObject.?metadata.?labels[?'team'].orValue('none')\"\n  rules:\n{}",
                rule("bynamespace-team", "variables.team == 'core'", "team {variables.team}")
            ),
        ),
    ];
    Engine::load(&sources).unwrap_or_else(|e| panic!("loads: {e}"))
}

#[test]
fn packs_record_which_derived_documents_they_read() {
    let engine = engine();
    let reads: BTreeMap<&str, RootReads> = engine
        .packs()
        .iter()
        .map(|p| (p.metadata.name.as_str(), p.reads))
        .collect();
    assert_eq!(reads["plain"], RootReads::NONE);
    let request_only = RootReads {
        request: true,
        namespace_object: false,
    };
    assert_eq!(reads["byrequest"], request_only);
    assert_eq!(reads["bymessage"], request_only, "a message template's read counts");
    assert_eq!(
        reads["bynamespace"],
        RootReads {
            request: false,
            namespace_object: true
        },
        "a variable's read counts"
    );
}

#[test]
fn a_pack_that_reads_them_sees_them_next_to_packs_that_do_not() {
    let engine = engine();
    let mut input = Input::new(json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "apps"}
    }));
    input.namespace = Some("apps".to_owned());
    input.namespace_labels = Some(BTreeMap::from([("team".to_owned(), "web".to_owned())]));
    input.user = UserInfo {
        username: "alice".to_owned(),
        ..UserInfo::default()
    };
    let decision = engine.evaluate(&input);
    assert_eq!(decision.decision, Verdict::Deny);
    let messages: BTreeMap<&str, &str> = decision
        .violations
        .iter()
        .map(|v| (v.rule.as_ref(), v.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        BTreeMap::from([
            ("byrequest-create", "op CREATE"),
            ("bymessage-user", "by alice"),
            ("bynamespace-team", "team web"),
        ])
    );
}
