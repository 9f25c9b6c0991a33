//! A realistic `celgate.yaml` tenancy of any size, generated as YAML text (the form operators write
//! and the server reads), for the tenancy benchmark.
//!
//! Tenant `i` is `t{i:05}`. What it configures depends on `i % 10` (its "class"), so the tenant
//! the speed benchmarks judge for (the one in the middle of the list, `n / 2`, always of class 0
//! for the sizes benchmarked) is configured the same way whatever the tenant count.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};

use celgate::tenant::token;

/// Rule ids the generated exceptions and modes name: workload rules that commonly fire on
/// Deployments (the benchmark's object triggers the first four of them).
pub const COMMON_RULES: &[&str] = &[
    "soc2-image-registry",
    "soc2-image-digest",
    "hipaa-malware-protection",
    "soc2-change-ref",
    "soc2-image-pinned",
    "soc2-pss-privilege-escalation",
    "soc2-pss-host-namespaces",
    "soc2-no-inline-credentials",
    "hipaa-workload-isolation-container",
    "gdpr-enc-at-rest-volume",
    "soc2-svc-exposure",
    "soc2-ingress-tls",
];

const CLASSIFICATIONS: &[&str] = &["internal", "confidential", "pii", "phi"];

/// The name of tenant `i`.
pub fn tenant_name(i: usize) -> String {
    format!("t{i:05}")
}

/// The production namespace of tenant `i` (owned by it, mapped to `production`).
pub fn production_namespace(i: usize) -> String {
    format!("{}-prod", tenant_name(i))
}

/// The check-API token of tenant `i` (its `k`-th).
pub fn token_of(i: usize, k: usize) -> String {
    format!("cgt_bench-{}-{k}", tenant_name(i))
}

/// The tenancy sections for `n` tenants, plus three environments with mode overrides and, with
/// `exceptions`, one exception per tenant (expiring 20–79 days after `now`).
pub fn tenancy_yaml(n: usize, exceptions: bool, now: DateTime<Utc>) -> String {
    let mut y = String::with_capacity(1200 * n + 1024);
    y.push_str(
        "environment: production\n\
         environments:\n\
         \x20 - name: production\n\
         \x20   namespaces: ['*-prod']\n\
         \x20   modes: {soc2-image-digest: enforce, soc2-change-ref: enforce}\n\
         \x20 - name: staging\n\
         \x20   namespaces: ['*-stg']\n\
         \x20   modes: {soc2-image-digest: warn, hipaa: warn, soc2-change-ref: audit}\n\
         \x20 - name: development\n\
         \x20   modes: {soc2: warn, gdpr: audit, hipaa: audit, platform: off}\n\
         exceptionPolicy: {maxDays: 90}\n",
    );
    y.push_str("tenants:\n");
    for i in 0..n {
        tenant(&mut y, i);
    }
    if exceptions && n > 0 {
        y.push_str("exceptions:\n");
        for i in 0..n {
            exception(&mut y, i, now);
        }
    }
    y
}

fn tenant(y: &mut String, i: usize) {
    let name = tenant_name(i);
    let class = i % 10;
    let _ = writeln!(y, "  - name: {name}");
    // 2–3 patterns, one of them a glob.
    if class.is_multiple_of(2) {
        let _ = writeln!(y, "    namespaces: [{name}-prod, {name}-stg, '{name}-dev-*']");
    } else {
        let _ = writeln!(y, "    namespaces: [{name}-prod, '{name}-dev-*']");
    }
    if class % 4 == 1 {
        let _ = writeln!(
            y,
            "    namespaceSelector: {{matchLabels: {{celgate.io/tenant: {name}}}}}"
        );
    }
    // The environments mapping names only the tenant's own namespaces (a load-time rule).
    let staging = if class.is_multiple_of(2) {
        format!("\n      staging: [{name}-stg]")
    } else {
        String::new()
    };
    let _ = writeln!(
        y,
        "    environments:\n      production: [{name}-prod]{staging}\n      development: ['{name}-dev-*']"
    );
    let _ = writeln!(
        y,
        "    dataClassification: {}",
        CLASSIFICATIONS[class % CLASSIFICATIONS.len()]
    );
    match class {
        3 | 7 => y.push_str("    frameworks: [soc2, gdpr]\n"),
        5 => y.push_str("    frameworks: [soc2, hipaa, platform]\n"),
        _ => {}
    }
    // 3–5 modes: packs and rules.
    y.push_str("    modes:\n      soc2-change-ref: warn\n      platform: audit\n");
    let _ = writeln!(y, "      {}: warn", COMMON_RULES[4 + class % 8]);
    if !class.is_multiple_of(3) {
        y.push_str("      gdpr: warn\n");
    }
    if class % 3 == 2 {
        y.push_str("      hipaa-malware-protection: enforce\n");
    }
    // 5 params, one a list.
    let _ = writeln!(
        y,
        "    params:\n      maxPiiRetentionDays: {}\n      allowedRegistries: [registry.example.com/, registry.example.com/{name}/]\n      \
         costCenter: cc-{i:05}\n      owner: team-{name}@example.com\n      changeRefPattern: '^https://git.example.com/'",
        365 + i % 100
    );
    // 1–2 check-API tokens, by hash.
    y.push_str("    tokens:\n");
    for k in 0..=(class % 2) {
        let hash = token::to_hex(&token::hash(&token_of(i, k)));
        let _ = writeln!(y, "      - {{name: ci-{k}, sha256: {hash}}}");
    }
}

fn exception(y: &mut String, i: usize, now: DateTime<Utc>) {
    let name = tenant_name(i);
    let expires = (now + Duration::days(20 + i64::try_from(i % 60).unwrap_or(0))).format("%Y-%m-%d");
    // Class 0 (the benchmarked tenant's) excepts the object the benchmark judges.
    let (rules, names) = if i.is_multiple_of(10) {
        ("[soc2-image-registry]".to_owned(), "['patient-records-*']".to_owned())
    } else if i % 10 == 1 {
        (
            format!("[{}, {}]", COMMON_RULES[i % 12], COMMON_RULES[(i + 5) % 12]),
            "['legacy-*', 'vendor-agent']".to_owned(),
        )
    } else {
        (format!("[{}]", COMMON_RULES[i % 12]), "['legacy-*']".to_owned())
    };
    let _ = writeln!(
        y,
        "  - id: EXC-{i:05}\n    rules: {rules}\n    scope:\n      tenants: [{name}]\n      namespaces: [{name}-prod, '{name}-dev-*']\n      \
         names: {names}\n    reason: vendor image not yet mirrored to the internal registry\n    owner: team-{name}@example.com\n    \
         ticket: SEC-{i}\n    expires: {expires}"
    );
}
