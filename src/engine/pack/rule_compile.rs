//! Compiling one rule of a pack: its match spec, CEL fields, templates, JSONPath and patch ops,
//! with every problem collected as a [`PackError`].

use std::collections::BTreeSet;

use cel::Env;

use super::load::{is_identifier_like, DocContext};
use super::patch::CompiledPatchOp;
use super::select::{MatchError, Matcher};
use super::template::{Template, TemplateError};
use crate::engine::cel::compile::compile_within;
use crate::engine::cel::compile::CompiledExpr;
use crate::engine::cel::cost::InputLimits;
use crate::engine::cel::cost::{validate_limits, BoundsSite};
use crate::engine::facts::decision::Action;
use crate::engine::pack::compiled::{CompiledPack, CompiledRule};
use crate::engine::pack::error::{PackError, PackErrorKind};
use crate::engine::pack::{PatchOpKind, RuleSpec};

pub(crate) fn compile_rule(
    env: &Env,
    ctx: &DocContext<'_>,
    base: &str,
    rule: RuleSpec,
    pack: &CompiledPack,
    pack_limits: Option<InputLimits>,
    errors: &mut Vec<PackError>,
) -> Option<CompiledRule> {
    let before = errors.len();
    let subject = format!("rule '{}'", rule.id);
    let at = |field: &str| format!("{base}/{field}");
    let limits = rule.input_limits.unwrap_or_default().or(pack_limits);
    if let Err(e) = rule.input_limits.map_or(Ok(()), validate_limits) {
        errors.push(ctx.invalid(
            &at("inputLimits"),
            subject.clone(),
            "inputLimits",
            PackErrorKind::InputLimits(e),
        ));
    }
    let compile = |src: &str| compile_within(env, src, limits, BoundsSite::Pack);
    if !is_identifier_like(&rule.id) {
        errors.push(ctx.invalid(&at("id"), subject.clone(), "id", PackErrorKind::NotKebabCase));
    } else if !rule.id.starts_with(&format!("{}-", pack.metadata.name)) {
        errors.push(ctx.invalid(
            &at("id"),
            subject.clone(),
            "id",
            PackErrorKind::MissingPackPrefix {
                pack: pack.metadata.name.clone(),
            },
        ));
    }
    for (field, value) in [
        ("title", &rule.title),
        ("remediation", &rule.remediation),
        ("message", &rule.message),
    ] {
        if value.trim().is_empty() {
            errors.push(ctx.invalid(&at(field), subject.clone(), field, PackErrorKind::Empty));
        }
    }
    if rule.controls.is_empty() || rule.controls.iter().any(|c| c.trim().is_empty()) {
        errors.push(ctx.invalid(&at("controls"), subject.clone(), "controls", PackErrorKind::NoControls));
    }
    let matcher = Matcher::new(&rule.match_).map_err(|e: MatchError| {
        errors.push(ctx.invalid(&at("match"), subject.clone(), "match", PackErrorKind::Match(e)));
    });
    let cel = |field: &str, pointer: String, source: &str, errors: &mut Vec<PackError>| -> Option<CompiledExpr> {
        match compile(source) {
            Ok(expr) => Some(expr),
            Err(e) => {
                errors.push(ctx.cel(&pointer, subject.clone(), field, e));
                None
            }
        }
    };
    let condition = rule
        .condition
        .as_ref()
        .and_then(|c| cel("condition", at("condition"), c, errors));
    let validate = cel("validate", at("validate"), &rule.validate, errors);
    let message_expression = rule
        .message_expression
        .as_ref()
        .and_then(|m| cel("messageExpression", at("messageExpression"), m, errors));
    let template = |field: &str, pointer: String, text: &str, errors: &mut Vec<PackError>| -> Option<Template> {
        match Template::parse(text, compile) {
            Ok(t) => Some(t),
            Err(TemplateError::Unbalanced { offset }) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    field,
                    PackErrorKind::UnbalancedBrace { offset },
                ));
                None
            }
            Err(TemplateError::Cel { expression, source }) => {
                errors.push(ctx.invalid(
                    &pointer,
                    subject.clone(),
                    field,
                    PackErrorKind::TemplateCel { expression, source },
                ));
                None
            }
        }
    };
    let message = template("message", at("message"), &rule.message, errors);
    let pointer = rule
        .pointer
        .as_ref()
        .and_then(|p| template("pointer", at("pointer"), p, errors));
    let mut patch = Vec::new();
    for (i, op) in rule.patch.iter().enumerate() {
        let op_base = format!("{base}/patch/{i}");
        let field = format!("patch[{i}]");
        let needs_value = matches!(op.op, PatchOpKind::Add | PatchOpKind::Replace | PatchOpKind::Test);
        let needs_from = matches!(op.op, PatchOpKind::Move | PatchOpKind::Copy);
        let has_value = op.value.is_some() || op.value_expression.is_some();
        if op.value.is_some() && op.value_expression.is_some() {
            errors.push(ctx.invalid(
                &op_base,
                subject.clone(),
                &field,
                PackErrorKind::ValueAndValueExpression,
            ));
        } else if needs_value != has_value {
            let kind = if needs_value {
                PackErrorKind::ValueMissing { op: op.op.as_str() }
            } else {
                PackErrorKind::ValueNotTaken { op: op.op.as_str() }
            };
            errors.push(ctx.invalid(&op_base, subject.clone(), &field, kind));
        }
        if needs_from != op.from.is_some() {
            errors.push(ctx.invalid(
                &op_base,
                subject.clone(),
                &field,
                PackErrorKind::From {
                    op: op.op.as_str(),
                    required: needs_from,
                },
            ));
        }
        let path = template(&format!("{field}.path"), format!("{op_base}/path"), &op.path, errors);
        let value_expression = op.value_expression.as_ref().and_then(|v| {
            cel(
                &format!("{field}.valueExpression"),
                format!("{op_base}/valueExpression"),
                v,
                errors,
            )
        });
        if let Some(path) = path {
            patch.push(CompiledPatchOp {
                op: op.op,
                path,
                from: op.from.clone(),
                value: op.value.clone(),
                value_expression,
            });
        }
    }
    if rule.action == Action::Patch && rule.patch.is_empty() {
        errors.push(ctx.invalid(&at("action"), subject.clone(), "action", PackErrorKind::PatchWithoutOps));
    }
    let for_each = rule.for_each.as_ref().map(|paths| {
        if paths.paths().is_empty() {
            errors.push(ctx.invalid(&at("forEach"), subject.clone(), "forEach", PackErrorKind::NoJsonPath));
        }
        paths
            .paths()
            .iter()
            .filter_map(|path| match jsonpath_rust::parser::parse_json_path(path) {
                Ok(q) => Some((path.clone(), q)),
                Err(e) => {
                    errors.push(ctx.invalid(
                        &at("forEach"),
                        subject.clone(),
                        "forEach",
                        PackErrorKind::BadJsonPath {
                            path: path.clone(),
                            source: e,
                        },
                    ));
                    None
                }
            })
            .collect()
    });
    let mut used_variables: BTreeSet<String> = BTreeSet::new();
    let mut reads_all = false;
    for expr in [&condition, &validate, &message_expression].into_iter().flatten() {
        used_variables.extend(expr.pack_variables.iter().cloned());
        reads_all |= expr.reads_all_variables();
    }
    for t in [&message, &pointer].into_iter().flatten() {
        used_variables.extend(t.pack_variables());
        reads_all |= t.reads_all_variables();
    }
    for op in &patch {
        used_variables.extend(op.path.pack_variables());
        reads_all |= op.path.reads_all_variables();
        if let Some(e) = &op.value_expression {
            used_variables.extend(e.pack_variables.iter().cloned());
            reads_all |= e.reads_all_variables();
        }
    }
    let mut variables = BTreeSet::new();
    if reads_all {
        // `variables[k]` or the whole map: which ones it reads is only known when it runs.
        for idx in 0..pack.variables.len() {
            collect_deps(pack, idx, &mut variables);
        }
    }
    for name in &used_variables {
        match pack.variables.iter().position(|v| &v.name == name) {
            Some(idx) => collect_deps(pack, idx, &mut variables),
            None => errors.push(
                ctx.invalid(
                    base,
                    subject.clone(),
                    "variables",
                    PackErrorKind::UnknownVariable {
                        name: name.clone(),
                        defined: pack
                            .variables
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    },
                ),
            ),
        }
    }
    if errors.len() != before {
        return None;
    }
    Some(CompiledRule {
        origin: ctx.file.to_owned(),
        matcher: matcher.ok()?,
        condition,
        for_each,
        validate: validate?,
        message: message?,
        message_expression,
        pointer,
        patch,
        variables: variables.into_iter().collect(),
        input_limits: limits,
        spec: rule,
    })
}

fn collect_deps(pack: &CompiledPack, idx: usize, out: &mut BTreeSet<usize>) {
    if out.insert(idx) {
        for &dep in &pack.variables[idx].deps {
            collect_deps(pack, dep, out);
        }
    }
}
