//! RFC 6902 patches: the ops rules ask for, completed so they always apply, and applied with the
//! `json-patch` crate.

use super::template::Template;
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::decision::PatchOp;
use crate::engine::pack::PatchOpKind;
use json_patch::jsonptr::PointerBuf;
use json_patch::{
    AddOperation, CopyOperation, MoveOperation, PatchOperation, RemoveOperation, ReplaceOperation, TestOperation,
};

/// A patch op as compiled from a pack.
#[derive(Debug)]
pub struct CompiledPatchOp {
    /// Operation.
    pub op: PatchOpKind,
    /// Target pointer template (relative to `item` in `forEach` rules unless it starts with `$`).
    pub path: Template,
    /// Source pointer for `move`/`copy`.
    pub from: Option<String>,
    /// Literal value.
    pub value: Option<serde_json::Value>,
    /// CEL computing the value.
    pub value_expression: Option<CompiledExpr>,
}

/// An op with its pointer and value resolved for one document.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedOp {
    /// Operation.
    pub op: PatchOpKind,
    /// Absolute target pointer.
    pub path: String,
    /// Absolute source pointer.
    pub from: Option<String>,
    /// Value, for add/replace/test.
    pub value: Option<serde_json::Value>,
}

impl ResolvedOp {
    /// The typed RFC 6902 operation; `Err` with the reason when a pointer does not parse or a
    /// value or source the operation needs is missing.
    fn to_operation(&self) -> Result<PatchOperation, OpError> {
        let pointer = |text: &str| PointerBuf::parse(text).map_err(OpError::Pointer);
        let path = pointer(&self.path)?;
        let value = || self.value.clone().ok_or(OpError::Missing("value"));
        let from = || self.from.as_deref().ok_or(OpError::Missing("from")).and_then(pointer);
        Ok(match self.op {
            PatchOpKind::Add => PatchOperation::Add(AddOperation { path, value: value()? }),
            PatchOpKind::Remove => PatchOperation::Remove(RemoveOperation { path }),
            PatchOpKind::Replace => PatchOperation::Replace(ReplaceOperation { path, value: value()? }),
            PatchOpKind::Move => PatchOperation::Move(MoveOperation { from: from()?, path }),
            PatchOpKind::Copy => PatchOperation::Copy(CopyOperation { from: from()?, path }),
            PatchOpKind::Test => PatchOperation::Test(TestOperation { path, value: value()? }),
        })
    }
}

/// Why a resolved op is not an RFC 6902 operation.
#[derive(Debug, thiserror::Error)]
enum OpError {
    /// A pointer that RFC 6901 does not allow.
    #[error("{0}")]
    Pointer(#[source] json_patch::jsonptr::Report<json_patch::jsonptr::ParseError>),
    /// A field the operation needs.
    #[error("missing field `{0}`")]
    Missing(&'static str),
}

/// An `add` of an empty object at `path` (a missing parent of a rule's `add`).
fn add_empty_object(path: &str) -> Result<PatchOperation, OpError> {
    let path = PointerBuf::parse(path).map_err(OpError::Pointer)?;
    Ok(PatchOperation::Add(AddOperation {
        path,
        value: serde_json::Value::Object(serde_json::Map::new()),
    }))
}

/// Why an op could not be applied.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PatchApplyError {
    /// The pointer is not `""` and does not start with `/`.
    #[error("'{0}' is not a JSON pointer (it must start with '/')")]
    BadPointer(String),
    /// The `json-patch` crate refused the op.
    #[error("{op} {path}: {message}")]
    Refused {
        /// Operation name.
        op: &'static str,
        /// Target pointer.
        path: String,
        /// The crate's reason.
        message: String,
    },
}

/// Applies ops one by one to a working copy and records exactly the ops that were applied, so
/// the emitted patch always applies to the original document.
#[derive(Debug)]
pub struct PatchBuilder {
    doc: serde_json::Value,
    ops: Vec<PatchOp>,
}

impl PatchBuilder {
    /// Starts from `doc`.
    pub fn new(doc: serde_json::Value) -> Self {
        PatchBuilder { doc, ops: Vec::new() }
    }

    /// The document with every op so far applied.
    pub fn document(&self) -> &serde_json::Value {
        &self.doc
    }

    /// Applies `op` for `rule`. An `add` whose parent objects are missing first adds them as empty
    /// objects (recorded as ops of the same rule). On error nothing is applied.
    pub fn apply(&mut self, rule: &str, op: &ResolvedOp) -> Result<(), PatchApplyError> {
        for pointer in std::iter::once(&op.path).chain(op.from.as_ref()) {
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(PatchApplyError::BadPointer(pointer.clone()));
            }
        }
        let refused = |message: String| PatchApplyError::Refused {
            op: op.op.as_str(),
            path: op.path.clone(),
            message,
        };
        let mut batch: Vec<PatchOperation> = Vec::new();
        if op.op == PatchOpKind::Add {
            for parent in missing_object_parents(&self.doc, &op.path) {
                batch.push(add_empty_object(&parent).map_err(|e| refused(e.to_string()))?);
            }
        }
        batch.push(op.to_operation().map_err(|e| refused(e.to_string()))?);
        json_patch::patch(&mut self.doc, &batch).map_err(|e| refused(e.to_string()))?;
        self.ops.extend(batch.into_iter().map(|op| PatchOp {
            op,
            rule: rule.to_owned(),
        }));
        Ok(())
    }

    /// The patched document and the ops that produce it.
    pub fn finish(self) -> (serde_json::Value, Vec<PatchOp>) {
        (self.doc, self.ops)
    }
}

/// Pointers of the missing ancestors of `path` that would sit inside objects, outermost first.
/// A missing array slot is not invented: the op then fails with the crate's error.
fn missing_object_parents(doc: &serde_json::Value, path: &str) -> Vec<String> {
    let tokens: Vec<&str> = path.split('/').skip(1).collect();
    let parents = tokens.len().saturating_sub(1);
    let mut current = Some(doc);
    let mut prefix = String::new();
    let mut missing = Vec::new();
    for token in &tokens[..parents] {
        prefix.push('/');
        prefix.push_str(token);
        match current {
            None => missing.push(prefix.clone()),
            Some(serde_json::Value::Object(map)) => {
                current = map.get(&token.replace("~1", "/").replace("~0", "~"));
                if current.is_none() {
                    missing.push(prefix.clone());
                }
            }
            Some(serde_json::Value::Array(items)) => match token.parse::<usize>().ok().and_then(|i| items.get(i)) {
                Some(next) => current = Some(next),
                None => return missing,
            },
            Some(_) => return missing,
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(path: &str, value: serde_json::Value) -> ResolvedOp {
        ResolvedOp {
            op: PatchOpKind::Add,
            path: path.into(),
            from: None,
            value: Some(value),
        }
    }

    #[test]
    fn add_creates_missing_parents() {
        let doc = serde_json::json!({"spec": {"containers": [{"name": "a"}]}});
        let mut b = PatchBuilder::new(doc.clone());
        b.apply(
            "r",
            &add(
                "/spec/containers/0/securityContext/allowPrivilegeEscalation",
                false.into(),
            ),
        )
        .expect("applies");
        let (patched, ops) = b.finish();
        assert_eq!(
            patched["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"],
            serde_json::Value::Bool(false)
        );
        assert_eq!(ops.len(), 2);
        // The emitted ops apply to the original document.
        let mut again = doc;
        let p: Vec<PatchOperation> = ops.into_iter().map(|o| o.op).collect();
        json_patch::patch(&mut again, &p).expect("applies");
        assert_eq!(again, patched);
    }

    #[test]
    fn deep_missing_chain() {
        let doc = serde_json::json!({});
        assert_eq!(missing_object_parents(&doc, "/a/b/c"), vec!["/a", "/a/b"]);
        assert!(missing_object_parents(&doc, "/a").is_empty());
    }

    #[test]
    fn failure_applies_nothing() {
        let mut b = PatchBuilder::new(serde_json::json!({"a": 1}));
        let op = ResolvedOp {
            op: PatchOpKind::Remove,
            path: "/missing".into(),
            from: None,
            value: None,
        };
        assert!(b.apply("r", &op).is_err());
        assert!(matches!(
            b.apply("r", &add("x", 1.into())),
            Err(PatchApplyError::BadPointer(_))
        ));
        let (doc, ops) = b.finish();
        assert!(ops.is_empty());
        assert_eq!(doc, serde_json::json!({"a": 1}));
    }
}
