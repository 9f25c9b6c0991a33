//! Checking one exception of a tenancy configuration and compiling it.

use chrono::{DateTime, NaiveDate, Utc};

use super::{ErrSink, Known};
use crate::engine::pack::select::check_selector;
use crate::tenant::pattern::NamePattern;
use crate::tenant::spec::ExceptionSpec;
use crate::tenant::Exception;

/// One exception, checked: its rules are known, its reason and owner set, and its expiry a
/// date at most `max_days` ahead (`horizon`).
#[allow(clippy::too_many_arguments)]
pub(super) fn build_exception(
    x: &ExceptionSpec,
    field: &str,
    known: &Known,
    now: DateTime<Utc>,
    horizon: DateTime<Utc>,
    max_days: u32,
    err: &mut ErrSink<'_>,
) -> Option<Exception> {
    if x.rules.is_empty() {
        err(format!("{field}.rules"), "must name at least one rule".to_owned());
    }
    for (j, rule) in x.rules.iter().enumerate() {
        if !known.rules.contains(rule) {
            err(format!("{field}.rules[{j}]"), known.unknown_rule(rule));
        }
    }
    for (name, value) in [("reason", &x.reason), ("owner", &x.owner)] {
        if value.trim().is_empty() {
            err(format!("{field}.{name}"), "must not be empty".to_owned());
        }
    }
    if let Some(selector) = &x.scope.selector {
        if let Err(e) = check_selector(selector) {
            err(format!("{field}.scope.selector"), e.to_string());
        }
    }
    let Some(text) = &x.expires else {
        err(
            format!("{field}.expires"),
            format!("every exception needs an expiry date, at most {max_days} days ahead (exceptionPolicy.maxDays)"),
        );
        return None;
    };
    let Some(expires_at) = parse_expiry(text) else {
        err(
            format!("{field}.expires"),
            format!("'{text}' is not a date (2026-12-31) or an RFC 3339 date-time"),
        );
        return None;
    };
    // A date means the end of that day: it may be the day `max_days` from today.
    let too_far = if is_date_only(text) {
        expires_at.date_naive() > horizon.date_naive().succ_opt().unwrap_or(horizon.date_naive())
    } else {
        expires_at > horizon
    };
    if too_far {
        err(
            format!("{field}.expires"),
            format!(
                "{text} is {} days ahead, more than the {max_days} days exceptionPolicy.maxDays allows",
                (expires_at - now).num_days()
            ),
        );
    }
    Some(Exception {
        id: x.id.clone(),
        tenants: x.scope.tenants.clone(),
        namespaces: x.scope.namespaces.iter().map(|n| NamePattern::new(n)).collect(),
        names: x.scope.names.iter().map(|n| NamePattern::new(n)).collect(),
        kinds: x.scope.kinds.clone(),
        selector: scope_selector(&x.scope),
        reason: x.reason.clone(),
        owner: x.owner.clone(),
        ticket: x.ticket.clone(),
        expires_text: text.clone(),
        expires_at,
    })
}

/// The scope's selector with its `labels` shorthand folded into `matchLabels`.
fn scope_selector(scope: &crate::tenant::spec::ExceptionScopeSpec) -> Option<crate::engine::pack::LabelSelector> {
    if scope.labels.is_empty() {
        return scope.selector.clone();
    }
    let mut selector = scope.selector.clone().unwrap_or_default();
    for (k, v) in &scope.labels {
        selector.match_labels.insert(k.clone(), v.clone());
    }
    Some(selector)
}

/// True for a bare date (`2026-12-31`), which means the end of that day.
fn is_date_only(text: &str) -> bool {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").is_ok()
}

/// `2026-12-31` (the end of that day, UTC) or an RFC 3339 date-time.
fn parse_expiry(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(day.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc())
}
