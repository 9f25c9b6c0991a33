//! The Kubernetes named-format library (`format.go`): `format.named(name)` (an optional
//! format), `format.<name>()`, and `<Format>.validate(s)`, which is `optional.none()` for a
//! valid string and otherwise the list of what is wrong, worded as Kubernetes words it.

use std::fmt;

use base64::Engine as _;
use cel::common::functions::Function;
use cel::common::types::{CelList, CelOptional, CelString, STRING_TYPE};
use cel::common::value::{CowVal, Val};
use cel::{DeclarationError, Env, ExecutionError};

use super::types::{opaque_val, FORMAT_TYPE};

/// The named formats, by the name `format.named` takes.
pub const NAMES: &[&str] = &[
    "dns1123Label",
    "dns1123Subdomain",
    "dns1035Label",
    "qualifiedName",
    "dns1123LabelPrefix",
    "dns1123SubdomainPrefix",
    "dns1035LabelPrefix",
    "labelValue",
    "uri",
    "uuid",
    "byte",
    "date",
    "datetime",
];

/// A named format value (`kubernetes.NamedFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format(&'static str);

opaque_val!(Format, FORMAT_TYPE);

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

const DNS1123_LABEL: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1035_LABEL: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const QUALIFIED_NAME: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const LABEL_VALUE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const QUALIFIED_NAME_MESSAGE: &str =
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

fn dns1123_subdomain_regex() -> String {
    format!("{DNS1123_LABEL}(\\.{DNS1123_LABEL})*")
}

/// Whether all of `s` matches `pattern`.
fn full_match(pattern: &str, s: &str) -> bool {
    super::regex::with_regex("validate", &format!("^(?:{pattern})$"), |re| re.is_match(s)).unwrap_or(false)
}

/// Kubernetes' `RegexError` wording.
fn regex_error(message: &str, pattern: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{message} (e.g. {}regex used for validation is '{pattern}')",
        examples.join(" or ")
    )
}

fn max_len(n: usize) -> String {
    format!("must be no more than {n} characters")
}

fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !full_match(DNS1123_LABEL, s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push(max_len(253));
    }
    let pattern = dns1123_subdomain_regex();
    if !full_match(&pattern, s) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            &pattern,
            &["example.com"],
        ));
    }
    errs
}

fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !full_match(DNS1035_LABEL, s) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_LABEL,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// For the `*Prefix` formats: a name that will get a generated suffix may end in `-`.
fn mask_trailing_dash(s: &str) -> String {
    match s.strip_suffix('-') {
        Some(head) if s.len() > 1 => format!("{head}a"),
        _ => s.to_owned(),
    }
}

fn qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = s.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_owned());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|e| format!("prefix part {e}")),
                );
            }
            *name
        }
        _ => {
            return vec![format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(
                    QUALIFIED_NAME_MESSAGE,
                    QUALIFIED_NAME,
                    &["MyName", "my.name", "123-abc"]
                )
            )]
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len(63)));
    }
    if !full_match(QUALIFIED_NAME, name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_MESSAGE,
                QUALIFIED_NAME,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

fn label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push(max_len(63));
    }
    if !full_match(LABEL_VALUE, s) {
        errs.push(regex_error(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
            LABEL_VALUE,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// A valid `YYYY-MM-DD` calendar date.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| {
        text.get(r)
            .filter(|d| d.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|d| d.parse::<u32>().ok())
    };
    match (num(0..4), num(5..7), num(8..10)) {
        (Some(year), Some(month), Some(day)) => i32::try_from(year)
            .ok()
            .and_then(|year| chrono::NaiveDate::from_ymd_opt(year, month, day))
            .is_some(),
        _ => false,
    }
}

/// An RFC 3339 date-time: a date, `T` (either case), `HH:MM:SS`, optional fraction, and `Z` or
/// an offset.
fn is_datetime(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some((date, time)) = lower.split_once('t') else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let pattern = r"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(z|[+-][0-9]{2}:[0-9]{2})";
    let Ok(Some((h, m, sec))) = super::regex::with_regex("validate", &format!("^{pattern}$"), |re| {
        re.captures(time).map(|c| {
            let n = |i: usize| c.get(i).and_then(|x| x.as_str().parse::<u32>().ok()).unwrap_or(99);
            (n(1), n(2), n(3))
        })
    }) else {
        return false;
    };
    h <= 23 && m <= 59 && sec <= 60
}

impl Format {
    /// What is wrong with `s` for this format; empty when it is valid.
    pub fn validate(self, s: &str) -> Vec<String> {
        match self.0 {
            "dns1123Label" => dns1123_label(s),
            "dns1123Subdomain" => dns1123_subdomain(s),
            "dns1035Label" => dns1035_label(s),
            "qualifiedName" => qualified_name(s),
            "dns1123LabelPrefix" => dns1123_label(&mask_trailing_dash(s)),
            "dns1123SubdomainPrefix" => dns1123_subdomain(&mask_trailing_dash(s)),
            "dns1035LabelPrefix" => dns1035_label(&mask_trailing_dash(s)),
            "labelValue" => label_value(s),
            "uri" => {
                if super::url::is_url(s) {
                    Vec::new()
                } else {
                    vec![format!("parse {s:?}: invalid URI for request")]
                }
            }
            "uuid" => {
                let uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32}";
                if full_match(&format!("(?i){uuid}"), s) {
                    Vec::new()
                } else {
                    vec!["does not match the UUID format".to_owned()]
                }
            }
            "byte" => match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(_) => Vec::new(),
                Err(_) => vec!["invalid base64".to_owned()],
            },
            "date" => {
                if is_date(s) {
                    Vec::new()
                } else {
                    vec!["invalid date".to_owned()]
                }
            }
            _ => {
                if is_datetime(s) {
                    Vec::new()
                } else {
                    vec!["invalid datetime".to_owned()]
                }
            }
        }
    }
}

/// Global name of the constructor of format `name`: `format.dns1123Label`.
fn constructor_name(name: &str) -> String {
    format!("format.{name}")
}

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_overload("format.named", "k8s_format_named", vec![STRING_TYPE], named)?;
    for (name, f) in CONSTRUCTORS {
        env.add_overload(&constructor_name(name), &format!("k8s_format_{name}"), vec![], *f)?;
    }
    cel::add_member_overload!(env, fn validate: (Format, CelString) -> CelOptional)?;
    Ok(())
}

#[allow(clippy::needless_pass_by_value)] // the signature is `cel::common::functions::Function`
fn named<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let Some(name) = args.first().and_then(|a| a.downcast_ref::<CelString>()) else {
        return Err(ExecutionError::function_error("format.named", "expects (string)"));
    };
    Ok(CowVal::owned(match NAMES.iter().find(|n| **n == name.inner()) {
        Some(n) => CelOptional::of(Box::new(Format(n))),
        None => CelOptional::none(),
    }))
}

/// One constructor per named format, `format.<name>()`: the interpreter does not tell a
/// function which name it was called by.
macro_rules! constructors {
    ($($name:literal => $f:ident),* $(,)?) => {
        const CONSTRUCTORS: &[(&str, Function)] = &[$(($name, $f as Function)),*];
        $(
            #[allow(clippy::needless_pass_by_value, clippy::unnecessary_wraps)] // a `Function`
            fn $f<'b, 'v>(_args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
                Ok(CowVal::owned(Format($name)))
            }
        )*
    };
}

constructors! {
    "dns1123Label" => dns1123_label_format,
    "dns1123Subdomain" => dns1123_subdomain_format,
    "dns1035Label" => dns1035_label_format,
    "qualifiedName" => qualified_name_format,
    "dns1123LabelPrefix" => dns1123_label_prefix_format,
    "dns1123SubdomainPrefix" => dns1123_subdomain_prefix_format,
    "dns1035LabelPrefix" => dns1035_label_prefix_format,
    "labelValue" => label_value_format,
    "uri" => uri_format,
    "uuid" => uuid_format,
    "byte" => byte_format,
    "date" => date_format,
    "datetime" => datetime_format,
}

fn validate(format: &Format, s: &CelString<'_>) -> CelOptional<'static> {
    let errors = format.validate(s.inner());
    if errors.is_empty() {
        return CelOptional::none();
    }
    let list: CelList<'static> = errors
        .into_iter()
        .map(|e| Box::new(CelString::from(e)) as Box<dyn Val>)
        .collect::<Vec<_>>()
        .into();
    CelOptional::of(Box::new(list))
}
