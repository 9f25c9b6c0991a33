//! Tenancy benchmarks: what a tenant costs in memory, and whether judging a request gets slower
//! as tenants are added (issue 5, item 5).
//!
//! ```sh
//! cargo bench --bench tenants                 # memory report, then the divan benchmarks
//! cargo bench --bench tenants -- token        # a subset (divan name filter)
//! ```
//!
//! **Memory**, printed before divan starts: the shipped packs are loaded and the resident set
//! (`VmRSS`) read — the baseline. Then, for 1 000 and for 10 000 tenants, a realistic tenancy
//! (see `tenants/config.rs`: 2–3 namespace patterns with a glob, selectors, environment mappings,
//! a data classification, frameworks on some, 3–5 modes, 5 params, 1–2 token hashes per tenant,
//! one exception per tenant, 3 environments with modes) is generated as YAML, parsed with
//! `config::parse_tenancy`, built with `Tenancy::build`, the spec dropped, and the resident set
//! read again. The growth divided by the tenant count is an upper bound on a tenant's cost: it
//! also holds whatever the allocator kept of the freed YAML parse.
//!
//! **Allocation count**: `build_tenancy_1000` runs `Tenancy::build` under divan's allocation
//! profiler; `alloc bytes + grow bytes − dealloc bytes − shrink bytes` per iteration is the heap
//! the built `Tenancy` holds (its drop is not counted), without allocator overhead.
//!
//! **Speed**: `evaluate_scoped` judges `benches/fixtures/deployment.json` as the admission door
//! does (`Scope::of_input`, `scope.prepare`, `engine.evaluate_with`) with 0, 1, 1 000 and 10 000
//! tenants; the object's namespace belongs to the tenant in the middle of the list (configured
//! alike at every size). `baseline_evaluate` is `engine.evaluate` without overrides, in the same
//! run. `evaluate_scoped_1000_without_exceptions` is the same with no exceptions configured: the
//! time of a finding's exception lookup grows with the exceptions configured for its rule, across
//! all tenants. `tenant_of_token` compares every configured hash in constant time, by design.
//!
//! A run takes about four minutes on 2 cores, most of it in `Tenancy::build` of the 10 000-tenant
//! configuration (2–3 minutes: each namespace pattern is checked for overlap with every earlier
//! one). The figures of a run are in `docs/tenants.md`.

/// The same allocator as the `celgate` binary, wrapped to count allocations for divan.
#[global_allocator]
static GLOBAL: divan::AllocProfiler<mimalloc::MiMalloc> = divan::AllocProfiler::new(mimalloc::MiMalloc);

#[path = "common/compliant.rs"]
mod compliant;
#[path = "tenants/config.rs"]
mod config;

use std::hint::black_box;
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use celgate::engine::{Engine, Input};
use celgate::tenant::{Scope, Tenancy, TenancySpec};
use compliant::compliant;

/// A 6.8 KB Deployment with three containers and one init container.
const DEPLOYMENT: &str = include_str!("fixtures/deployment.json");

/// Tenant counts of the speed benchmarks.
const TENANT_COUNTS: [usize; 4] = [0, 1, 1000, 10_000];

/// The documents judged: `as-is` (13 findings from 4 rules, one of them excepted for the
/// benchmarked tenant) and `compliant` (no finding: the common admission case).
const DOCS: &[&str] = &["compliant", "as-is"];

struct Fixture {
    engine: Engine,
    now: DateTime<Utc>,
    /// Tenancies by tenant count (one exception per tenant).
    tenancies: Vec<(usize, Tenancy)>,
    /// 1 000 tenants and no exceptions, to tell the cost of tenants from that of exceptions.
    no_exceptions_1000: Tenancy,
    /// Parsed tenancy sections of 1 000 tenants, for `build_tenancy_1000`.
    spec_1000: TenancySpec,
    as_is: Value,
    compliant: Value,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn fixture() -> &'static Fixture {
    FIXTURE.get().expect("main sets the fixture before divan runs")
}

fn main() {
    let start_kib = rss_kib();
    let engine = Engine::load(&celgate::packs::embedded().packs).expect("the shipped packs load");
    let baseline_kib = rss_kib();
    eprintln!(
        "tenants bench: {} packs, {} rules; RSS after loading them (baseline): {:.1} MiB ({:.1} MiB more than at start)",
        engine.packs().len(),
        engine.rule_count(),
        mib(baseline_kib),
        mib(baseline_kib.saturating_sub(start_kib)),
    );
    let now = Utc::now();
    let mut tenancies = vec![(0, Tenancy::default()), (1, build(&engine, 1, true, now))];
    for n in [1000, 10_000] {
        tenancies.push((n, measure(&engine, n, now)));
    }
    let spec_1000 = parse(&config::tenancy_yaml(1000, true, now));
    let no_exceptions_1000 = build(&engine, 1000, false, now);
    let object: Value = serde_json::from_str(DEPLOYMENT).expect("fixture deployment.json is JSON");
    let fixture = Fixture {
        compliant: compliant(&object),
        as_is: object,
        engine,
        now,
        tenancies,
        no_exceptions_1000,
        spec_1000,
    };
    let sizes = TENANT_COUNTS.iter().map(|&n| (n, tenancy(&fixture, n), ""));
    for (n, tenancy, note) in sizes.chain([(1000, &fixture.no_exceptions_1000, " without exceptions")]) {
        for &doc in DOCS {
            let (input, scope) = scoped(&fixture, tenancy, n, doc);
            let d = fixture.engine.evaluate_with(&input, &scope);
            eprintln!(
                "tenants bench: {n} tenants{note}, '{doc}': tenant {:?}, environment {:?}, decision {}, {} findings ({} excepted)",
                d.tenant,
                d.environment,
                d.decision.as_str(),
                d.violations.len(),
                d.violations.iter().filter(|v| v.exception.is_some()).count(),
            );
        }
    }
    if FIXTURE.set(fixture).is_err() {
        unreachable!("the fixture is set once");
    }
    divan::Divan::default()
        .sample_count(100)
        .min_time(Duration::from_secs(1))
        .max_time(Duration::from_secs(3))
        .config_with_args()
        .main();
}

/// Builds a tenancy of `n` tenants and prints what it added to the resident set.
fn measure(engine: &Engine, n: usize, now: DateTime<Utc>) -> Tenancy {
    let before = rss_kib();
    let yaml = config::tenancy_yaml(n, true, now);
    let yaml_bytes = yaml.len();
    let started = Instant::now();
    let spec = parse(&yaml);
    drop(yaml);
    let parsed = started.elapsed();
    let started = Instant::now();
    let tenancy = Tenancy::build(&spec, engine, now).unwrap_or_else(|e| panic!("generated tenancy is refused:\n{e}"));
    let built = started.elapsed();
    drop(spec);
    let after = rss_kib();
    let grown = after.saturating_sub(before);
    #[allow(clippy::cast_precision_loss)]
    let per_tenant = grown as f64 * 1024.0 / n as f64;
    eprintln!(
        "tenants bench: {n} tenants ({} exceptions, {:.1} MiB of YAML): parsed in {parsed:.2?}, built in {built:.2?}; \
         RSS {:.1} MiB -> {:.1} MiB: {:.1} KiB per tenant (upper bound)",
        n,
        mib(yaml_bytes / 1024),
        mib(before),
        mib(after),
        per_tenant / 1024.0,
    );
    tenancy
}

fn build(engine: &Engine, n: usize, exceptions: bool, now: DateTime<Utc>) -> Tenancy {
    Tenancy::build(&parse(&config::tenancy_yaml(n, exceptions, now)), engine, now)
        .unwrap_or_else(|e| panic!("generated tenancy is refused:\n{e}"))
}

fn parse(yaml: &str) -> TenancySpec {
    celgate::config::parse_tenancy(Path::new("bench-celgate.yaml"), yaml)
        .unwrap_or_else(|e| panic!("generated tenancy does not parse: {e}"))
}

/// `VmRSS` of this process, in KiB.
fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux) is readable");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

#[allow(clippy::cast_precision_loss)]
fn mib(kib: usize) -> f64 {
    kib as f64 / 1024.0
}

fn tenancy(f: &Fixture, n: usize) -> &Tenancy {
    f.tenancies
        .iter()
        .find(|(count, _)| *count == n)
        .map(|(_, t)| t)
        .expect("a tenancy of every benchmarked size")
}

/// The admission input for `doc` in the namespace of the middle tenant of `n`.
fn input(f: &Fixture, n: usize, doc: &str) -> Input {
    let object = if doc == "compliant" { &f.compliant } else { &f.as_is };
    let mut input = Input::new(object.clone());
    input.namespace = Some(config::production_namespace(n / 2));
    input
}

/// The input after `prepare`, and its scope (for the report before the benchmarks).
fn scoped<'a>(f: &Fixture, tenancy: &'a Tenancy, n: usize, doc: &str) -> (Input, Scope<'a>) {
    let mut input = input(f, n, doc);
    let scope = Scope::of_input(tenancy, &input, f.now);
    scope.prepare(&mut input);
    (input, scope)
}

/// Baseline: every rule as its pack wrote it (`engine.evaluate`, no tenancy).
#[divan::bench(args = DOCS)]
fn baseline_evaluate(bencher: divan::Bencher, doc: &str) {
    let f = fixture();
    let input = input(f, 0, doc);
    bencher.bench(|| f.engine.evaluate(black_box(&input)));
}

/// The admission path with `N` tenants configured: resolve the scope from the namespace, set the
/// tenant's params, judge with its modes and exceptions.
#[divan::bench(consts = TENANT_COUNTS, args = DOCS)]
fn evaluate_scoped<const N: usize>(bencher: divan::Bencher, doc: &str) {
    let f = fixture();
    bench_scoped(bencher, f, tenancy(f, N), N, doc);
}

/// The same with 1 000 tenants and no exceptions configured.
#[divan::bench(args = DOCS)]
fn evaluate_scoped_1000_without_exceptions(bencher: divan::Bencher, doc: &str) {
    let f = fixture();
    bench_scoped(bencher, f, &f.no_exceptions_1000, 1000, doc);
}

fn bench_scoped(bencher: divan::Bencher, f: &Fixture, tenancy: &Tenancy, n: usize, doc: &str) {
    let template = input(f, n, doc);
    bencher
        .with_inputs(|| template.clone())
        .bench_local_values(|mut input| {
            let scope = Scope::of_input(tenancy, black_box(&input), f.now);
            scope.prepare(&mut input);
            let decision = f.engine.evaluate_with(&input, &scope);
            (decision, input)
        });
}

/// Which tenant owns a namespace, among `N` tenants (exact names hashed, globs by prefix).
#[divan::bench(consts = TENANT_COUNTS)]
fn tenant_of_namespace<const N: usize>(bencher: divan::Bencher) {
    let tenancy = tenancy(fixture(), N);
    let namespace = format!("{}-dev-7", config::tenant_name(N / 2));
    bencher.bench(|| {
        tenancy
            .tenant_of_namespace(black_box(&namespace), None)
            .map(|t| t.name.len())
    });
}

/// A check-API token's tenant among 1 000 tenants (1 500 hashes): SHA-256 of the presented token,
/// then every stored hash compared in constant time — a known token and an unknown one cost the
/// same.
#[divan::bench(args = ["known", "unknown"])]
fn tenant_of_token(bencher: divan::Bencher, which: &str) {
    let tenancy = tenancy(fixture(), 1000);
    let token = if which == "known" {
        config::token_of(500, 0)
    } else {
        "cgt_not-a-configured-token".to_owned()
    };
    bencher.bench(|| tenancy.tenant_of_token(black_box(&token)).map(|t| t.name.len()));
}

/// `Tenancy::build` of the 1 000-tenant spec (already parsed). With the allocation profiler, the
/// net bytes per iteration are what the built tenancy holds.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn build_tenancy_1000(bencher: divan::Bencher) {
    let f = fixture();
    // Returned, not dropped: divan drops outputs after counting the sample's allocations.
    bencher.bench(|| Tenancy::build(black_box(&f.spec_1000), &f.engine, f.now));
}
