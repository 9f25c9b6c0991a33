//! The API server's type-checking warnings (`status.typeChecking.expressionWarnings`) for the
//! one case celgate can decide without a cluster: a policy whose `matchConstraints` name exactly
//! one built-in kind, and an expression that selects a field of `object` / `oldObject` that
//! kind's schema does not have (`object.replicas` for `object.spec.replicas`). Warnings only,
//! as in the API server: the policy loads, and the expression errors when it runs.
//! Expressions over several kinds, or kinds without a schema, are dynamic: nothing is reported.

use cel::common::ast::{Expr, IdedExpr};

use crate::engine::cel::compile::CompiledExpr;
use crate::engine::facts::builtin::schema::{FieldType, Schema, Struct};
use crate::engine::facts::resources::kind_for_resource;
use crate::engine::pack::admission::CompiledAdmission;
use crate::engine::pack::compiled::{CompiledPack, PackKind};

/// The single built-in kind (`apiVersion`, kind) the policy's constraints match, if exactly one.
fn single_kind(admission: &CompiledAdmission) -> Option<(String, &'static str)> {
    let spec = admission.constraints.spec();
    let [rule] = spec.resource_rules.as_slice() else {
        return None;
    };
    let ([group], [version], [resource]) = (
        rule.api_groups.as_slice(),
        rule.api_versions.as_slice(),
        rule.resources.as_slice(),
    ) else {
        return None;
    };
    if [group, version, resource].iter().any(|s| s.contains('*')) || resource.contains('/') {
        return None;
    }
    let kind = kind_for_resource(resource)?;
    let api_version = if group.is_empty() {
        version.clone()
    } else {
        format!("{group}/{version}")
    };
    Some((api_version, kind))
}

/// The type-checking warnings of an admission policy's expressions: one line each, naming the
/// policy, the expression's place, the kind, the field and its position.
pub fn warnings(pack: &CompiledPack) -> Vec<String> {
    let PackKind::AdmissionPolicies(admission) = &pack.kind else {
        return Vec::new();
    };
    let Some((api_version, kind)) = single_kind(admission) else {
        return Vec::new();
    };
    let Ok(schema) = Schema::builtin() else {
        return Vec::new();
    };
    let Some(root) = schema.kind(&api_version, kind) else {
        return Vec::new();
    };
    let mut places: Vec<(String, &CompiledExpr)> = Vec::new();
    for (i, v) in pack.variables.iter().enumerate() {
        places.push((format!("spec.variables[{i}].expression"), &v.expr));
    }
    for (i, (_, e)) in admission.match_conditions.iter().enumerate() {
        places.push((format!("spec.matchConditions[{i}].expression"), e));
    }
    let list = match admission.kind {
        crate::engine::pack::admission::PolicyKind::Validating => "validations",
        crate::engine::pack::admission::PolicyKind::Mutating => "mutations",
    };
    for (i, rule) in pack.rules.iter().enumerate() {
        places.push((format!("spec.{list}[{i}].expression"), &rule.validate));
        if let Some(m) = &rule.message_expression {
            places.push((format!("spec.{list}[{i}].messageExpression"), m));
        }
    }
    let env = crate::engine::cel::compile::environment();
    let mut out = Vec::new();
    for (place, expr) in places {
        let Ok(program) = env.compile(&expr.source) else {
            continue;
        };
        let mut found = Vec::new();
        undefined_fields(schema, root, program.expression(), &mut found);
        for (id, field) in found {
            let offset = program.source_info().offset_for(id).map_or(0, |(s, _)| s as usize);
            let column = expr.source.chars().take(offset).filter(|c| *c != '\n').count() + 1;
            out.push(format!(
                "{} '{}': {place}: {api_version}, Kind={kind}: undefined field '{field}' (column {column} of `{}`); the API server reports it as a type-checking warning and the expression fails when it runs",
                admission.kind.as_str(),
                admission.policy,
                expr.source.trim()
            ));
        }
    }
    out
}

/// Walks `e` for selections `object.a.b` / `oldObject.a.b` naming a field `root` lacks.
fn undefined_fields(schema: &Schema, root: &Struct, e: &IdedExpr, found: &mut Vec<(u64, String)>) {
    if let Expr::Select(s) = &e.expr {
        if !s.test {
            let mut path = vec![(e.id, s.field.as_str())];
            let mut operand = &*s.operand;
            while let Expr::Select(inner) = &operand.expr {
                if inner.test {
                    break;
                }
                path.push((operand.id, inner.field.as_str()));
                operand = &inner.operand;
            }
            if matches!(&operand.expr, Expr::Ident(n) if n == "object" || n == "oldObject") {
                path.reverse();
                if let Some(miss) = first_undefined(schema, root, &path) {
                    found.push(miss);
                }
                return;
            }
        }
    }
    let mut children = e.clone();
    for child in crate::engine::cel::ast::children_mut(&mut children) {
        undefined_fields(schema, root, child, found);
    }
}

/// The first field of `path` the schema does not define, following structs and maps (a map's
/// values are selected by key: `object.metadata.labels.app`).
fn first_undefined(schema: &Schema, root: &Struct, path: &[(u64, &str)]) -> Option<(u64, String)> {
    let mut current: Option<&Struct> = Some(root);
    let mut ty: Option<&FieldType> = None;
    for (id, field) in path {
        if let Some(st) = current {
            let Some(f) = st.fields.get(*field) else {
                return Some((*id, (*field).to_owned()));
            };
            ty = Some(&f.ty);
        } else if let Some(FieldType::Map(inner)) = ty {
            ty = Some(inner);
        } else {
            return None;
        }
        current = match ty {
            Some(FieldType::Struct(n)) => Some(schema.get(*n)),
            _ => None,
        };
    }
    None
}
