//! Judging one listed object as the scan does: through the same [`Service`] as `check` and
//! admission, presented as a CREATE by the scanner's own identity with no `oldObject`, in audit
//! mode (the scan blocks nothing; it reports what admission would decide). Rules and admission
//! policies that would match the object only for other operations (UPDATE, DELETE, CONNECT)
//! are not evaluated and come back as [`SkippedRule`]s.

use std::collections::BTreeMap;

use crate::engine::pack::admission::matching::RequestView;
use crate::engine::pack::compiled::CompiledPack;
use crate::engine::{Door, Engine, Input, Operation, UserInfo};
use crate::report::policy_report::{ReportSet, RuleCatalog};
use crate::report::{DocumentResult, Origin};
use crate::service::{Caller, CallerError, Service};

/// A rule a scan did not evaluate for an object, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedRule {
    /// Pack (or admission policy) name.
    pub pack: String,
    /// Rule id.
    pub rule: String,
    /// Why (for the report's message).
    pub reason: String,
}

/// One judged object: its result as `check` reports it, and the rules skipped for it.
#[derive(Debug, Clone)]
pub struct ScannedObject {
    /// The decision, with the object's identity.
    pub result: DocumentResult,
    /// Rules that match the object only for other operations than CREATE.
    pub skipped: Vec<SkippedRule>,
}

impl ScannedObject {
    /// Adds the object's results, and a `skip` for each rule it was not judged by, to `set`.
    pub fn add_to_reports(&self, set: &mut ReportSet, catalog: &RuleCatalog) {
        set.add(&self.result, catalog);
        for skipped in &self.skipped {
            set.add_skipped(&self.result, catalog, &skipped.rule, &skipped.reason);
        }
    }
}

/// Judges listed objects with one engine, tenancy, identity and set of namespace labels.
pub struct ObjectJudge<'a> {
    /// The service (engine, tenancy, clock).
    pub service: Service<'a>,
    /// The engine the service judges with (for the operation-only rules).
    pub engine: &'a Engine,
    /// The tenant and environment choice (as at admission: the namespace's owner).
    pub caller: Caller,
    /// The scanner's identity, shown to rules as `request.userInfo`.
    pub user: UserInfo,
    /// Labels of every namespace (for namespace selectors), when they could be listed.
    pub namespaces: Option<&'a BTreeMap<String, BTreeMap<String, String>>>,
}

impl ObjectJudge<'_> {
    /// Judges `object` (listed as `source`, e.g. `deployments.apps/shop/web`).
    pub fn judge(&self, object: serde_json::Value, source: &str) -> Result<ScannedObject, CallerError> {
        let mut input = Input::new(object);
        input.operation = Operation::Create;
        input.user = self.user.clone();
        if let Some(namespaces) = self.namespaces {
            let own = (input.kind() == "Namespace" && input.api_version() == "v1").then(|| input.name().to_owned());
            let namespace = input.effective_namespace().map(str::to_owned).or(own);
            input.namespace_labels = namespace.and_then(|ns| namespaces.get(&ns).cloned());
        }
        let skipped = operation_only(self.engine, &input);
        let judgment = self.service.judge(Door::Ci, input, &self.caller)?;
        let origin = Origin {
            source,
            document: 0,
            item: None,
            line: 1,
        };
        let result = DocumentResult::judged(origin, &judgment.input, judgment.decision, |_| None);
        Ok(ScannedObject { result, skipped })
    }
}

/// The operations other than CREATE a rule may be written for.
const OTHER_OPERATIONS: [Operation; 3] = [Operation::Update, Operation::Delete, Operation::Connect];

/// The rules of `engine` that do not match `input` (a CREATE) but would match the same object
/// for another operation: a rule pack's rule by its `match`, every rule of an admission policy
/// by its `matchConstraints`.
pub fn operation_only(engine: &Engine, input: &Input) -> Vec<SkippedRule> {
    // Most packs have no rule limited to other operations: then nothing is copied.
    if !engine.packs().iter().any(|p| may_skip(p)) {
        return Vec::new();
    }
    let others: Vec<(Operation, Input)> = OTHER_OPERATIONS
        .iter()
        .map(|op| {
            let mut other = input.clone();
            other.operation = *op;
            if *op == Operation::Delete {
                other.old_object = Some(std::mem::take(&mut other.object));
            }
            (*op, other)
        })
        .collect();
    let mut skipped = Vec::new();
    for pack in engine.packs().iter().filter(|p| may_skip(p)) {
        skipped.extend(skipped_in_pack(pack, input, &others));
    }
    skipped
}

/// Whether `operations` (as a match spec writes them) leave CREATE out; empty means CREATE and
/// UPDATE for a rule's `match`.
fn without_create(operations: &[String]) -> bool {
    !operations.is_empty() && !operations.iter().any(|o| o == "*" || o == "CREATE")
}

/// Whether a rule or policy of `pack` may apply to other operations only.
fn may_skip(pack: &CompiledPack) -> bool {
    match pack.admission() {
        Some(admission) => admission
            .constraints
            .spec()
            .resource_rules
            .iter()
            .any(|r| without_create(&r.operations)),
        None => pack.rules.iter().any(|r| without_create(&r.spec.match_.operations)),
    }
}

fn skipped_in_pack(pack: &CompiledPack, input: &Input, others: &[(Operation, Input)]) -> Vec<SkippedRule> {
    let skip = |rule: &str, ops: &[Operation]| SkippedRule {
        pack: pack.metadata.name.clone(),
        rule: rule.to_owned(),
        reason: format!(
            "not evaluated: the scan presents existing objects as CREATE, and this rule applies only to {}",
            ops.iter().map(|o| o.as_str()).collect::<Vec<_>>().join(", ")
        ),
    };
    if let Some(admission) = pack.admission() {
        if admission.constraints.matches(&RequestView::of(input), input) {
            return Vec::new();
        }
        let ops: Vec<Operation> = others
            .iter()
            .filter(|(_, other)| admission.constraints.matches(&RequestView::of(other), other))
            .map(|(op, _)| *op)
            .collect();
        if ops.is_empty() {
            return Vec::new();
        }
        return pack.rules.iter().map(|r| skip(&r.spec.id, &ops)).collect();
    }
    let mut skipped = Vec::new();
    for rule in &pack.rules {
        if rule.matcher.matches(input) {
            continue;
        }
        let ops: Vec<Operation> = others
            .iter()
            .filter(|(_, other)| rule.matcher.matches(other))
            .map(|(op, _)| *op)
            .collect();
        if !ops.is_empty() {
            skipped.push(skip(&rule.spec.id, &ops));
        }
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::PackSource;

    const PACK: &str = r"
apiVersion: celgate.io/v1
kind: RulePack
metadata: {name: ops, version: 1.0.0}
spec:
  rules:
    - id: ops-on-update
      title: Only on update
      controls: [X]
      severity: low
      match: {kinds: [ConfigMap], operations: [UPDATE, DELETE]}
      validate: 'true'
      message: m
      remediation: r
      action: deny
    - id: ops-on-create
      title: On create
      controls: [X]
      severity: low
      match: {kinds: [ConfigMap]}
      validate: 'true'
      message: m
      remediation: r
      action: deny
    - id: ops-other-kind
      title: Other kind
      controls: [X]
      severity: low
      match: {kinds: [Secret], operations: [UPDATE]}
      validate: 'true'
      message: m
      remediation: r
      action: deny
";

    #[test]
    fn rules_for_other_operations_only_are_skipped() {
        let engine = Engine::load(&[PackSource {
            origin: "ops.yaml".into(),
            text: PACK.into(),
        }])
        .expect("pack loads");
        let input = Input::new(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "n"}
        }));
        let skipped = operation_only(&engine, &input);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].rule, "ops-on-update");
        assert!(
            skipped[0].reason.ends_with("applies only to UPDATE, DELETE"),
            "{}",
            skipped[0].reason
        );
    }
}
