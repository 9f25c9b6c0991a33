//! Load errors as values: each [`PackError`] says where it is (file, line, JSON pointer, subject,
//! field) and what it is (a [`PackErrorKind`]), with the error it comes from as its source.

use std::error::Error as _;

use celgate::engine::cel::compile::CompileError;
use celgate::engine::pack::error::Location;
use celgate::engine::{Engine, LoadErrors, PackError, PackErrorKind, PackSource};

fn load(text: &str) -> LoadErrors {
    Engine::load(&[PackSource {
        origin: "p.yaml".to_owned(),
        text: text.to_owned(),
    }])
    .expect_err("the pack is refused")
}

fn pack(version: &str, rule: &str) -> String {
    format!(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata: {{name: t, version: '{version}'}}\nspec:\n  rules:\n    - id: t-a\n      title: a\n      controls: [x]\n      severity: low\n      match: {{kinds: [Pod]}}\n      message: m\n      remediation: r\n{rule}"
    )
}

fn only(errors: &LoadErrors) -> &PackError {
    assert_eq!(errors.0.len(), 1, "{errors}");
    &errors.0[0]
}

#[test]
fn a_cel_error_names_its_rule_field_pointer_and_line_and_keeps_the_compile_error() {
    let errors = load(&pack("1.0.0", "      validate: object.spec.(\n"));
    let e = only(&errors);
    assert!(
        matches!(e.kind, PackErrorKind::Cel(CompileError::Syntax { .. })),
        "{:?}",
        e.kind
    );
    assert_eq!(
        e.location,
        Location {
            file: "p.yaml".to_owned(),
            line: Some(13),
            pointer: Some("/spec/rules/0/validate".to_owned()),
            subject: Some("rule 't-a'".to_owned()),
            field: Some("validate".to_owned()),
        }
    );
    assert!(e.to_string().starts_with("p.yaml:13: rule 't-a': validate: "), "{e}");
    let source = e.source().expect("the compile error is the source");
    assert!(source.downcast_ref::<CompileError>().is_some(), "{source:?}");
}

#[test]
fn a_bad_version_is_typed_and_keeps_the_semver_error() {
    let errors = load(&pack("one", "      validate: 'true'\n"));
    let e = only(&errors);
    let PackErrorKind::NotSemver { text, .. } = &e.kind else {
        panic!("{:?}", e.kind)
    };
    assert_eq!(text, "one");
    assert_eq!(e.location.field.as_deref(), Some("metadata.version"));
    assert_eq!(e.location.pointer.as_deref(), Some("/metadata/version"));
    assert!(e.source().and_then(|s| s.downcast_ref::<semver::Error>()).is_some());
    assert!(
        e.to_string()
            .starts_with("p.yaml:3: pack 't': metadata.version: 'one' is not a semantic version: "),
        "{e}"
    );
}

#[test]
fn a_syntax_error_has_no_line_of_its_own_its_cause_has_one() {
    let errors = load("a: [\n");
    let e = only(&errors);
    assert!(matches!(e.kind, PackErrorKind::Syntax(_)), "{:?}", e.kind);
    assert_eq!(e.location, Location::file("p.yaml"));
    assert!(e.to_string().starts_with("p.yaml: line 2, column 1: "), "{e}");
    assert!(e.source().is_some());
}

#[test]
fn a_schema_error_points_at_the_field_by_its_serde_path() {
    let errors = load(&pack("1.0.0", "      validate: 'true'\n      severity2: low\n"));
    let e = only(&errors);
    assert!(matches!(e.kind, PackErrorKind::Schema(_)), "{:?}", e.kind);
    assert_eq!(e.location.field.as_deref(), Some("spec.rules[0].severity2"));
    assert_eq!(e.location.pointer.as_deref(), Some("/spec/rules/0/severity2"));
    assert_eq!(e.location.line, Some(14));
    assert!(e.to_string().contains("unknown field `severity2`"), "{e}");
}

#[test]
fn a_wrong_header_reads_as_before() {
    let errors = load("apiVersion: celgate.io/v2\nkind: RulePack\nmetadata: {name: t}\n");
    let e = only(&errors);
    assert!(matches!(e.kind, PackErrorKind::Header { .. }), "{:?}", e.kind);
    assert_eq!(
        e.to_string(),
        "p.yaml:1: apiVersion is 'celgate.io/v2'; expected 'celgate.io/v1'"
    );
}
