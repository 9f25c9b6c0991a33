//! celgate vs regorus on the same five rules (`fixture/rules.txt` in CEL, `fixture/policy.rego` in
//! Rego) and the same 6.8 KB Deployment (`fixture/deployment.json`), in one run.
//!
//! ```sh
//! cd benches/regorus-compare && cargo run --release            # 5 batches of 1 s per case
//! cargo run --release -- --batches 7 --batch-ms 2000            # longer
//! CELGATE_BENCH_CPU=0 cargo run --release                      # pin to another core
//! ```
//!
//! Method: the thread is pinned to one core; every case gets a short warm-up, then the cases are
//! run round-robin, one ~1 s batch each per round, for five rounds (so neighbour load drifting
//! during the run hits every case alike); the figure is the median batch in documents/s, with the
//! min–max of the five batches. Before any timing both engines are checked to agree on the
//! fixture (nothing denied) and on mutated copies (each rule fires alone, r5 for a privileged
//! container).

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use celgate::engine::{Engine as CelEngine, Input, PackSource, Verdict};
use regorus::languages::rego::compiler::Compiler;
use regorus::rvm::RegoVM;
use regorus::Value as RegoValue;

const RULES: &str = include_str!("../fixture/rules.txt");
const POLICY: &str = include_str!("../fixture/policy.rego");
const DEPLOYMENT: &str = include_str!("../fixture/deployment.json");
const ENTRY: &str = "data.celgate.deny";

fn main() {
    let (batches, batch) = parse_args();
    let cpu = pin_thread();

    // ---- celgate: one pack, one rule per line of rules.txt, matching every kind.
    let cel = CelEngine::load(&[cel_pack()]).unwrap_or_else(|e| panic!("celgate pack does not load: {e}"));
    assert_eq!(cel.rule_count(), 5, "five CEL rules");

    // ---- regorus: interpreter and RVM program from the same policy.
    let mut interp = regorus::Engine::new();
    interp
        .add_policy("policy.rego".to_owned(), POLICY.to_owned())
        .expect("policy.rego parses");
    let compiled = interp.compile_with_entrypoint(&ENTRY.into()).expect("policy compiles");
    let program = Compiler::compile_from_policy(&compiled, &[ENTRY]).expect("RVM compile");
    let mut vm = RegoVM::new();
    vm.load_program(program);

    // ---- agreement, outside timing.
    let base: serde_json::Value = serde_json::from_str(DEPLOYMENT).expect("fixture is JSON");
    let mut checked = Vec::new();
    for (label, doc, expected) in mutations(&base) {
        let cel_ids = cel_denies(&cel, &doc);
        let rego_doc = RegoValue::from_json_str(&doc.to_string()).expect("regorus parses");
        vm.set_input(rego_doc.clone());
        let rvm_ids = rego_ids(&vm.execute().expect("RVM executes"));
        interp.set_input(rego_doc);
        let interp_ids = rego_ids(&interp.eval_rule(ENTRY.to_owned()).expect("interpreter evaluates"));
        assert_eq!(cel_ids, expected, "celgate on {label}");
        assert_eq!(rvm_ids, expected, "regorus RVM on {label}");
        assert_eq!(interp_ids, expected, "regorus interpreter on {label}");
        checked.push(format!("{label} -> {expected:?}"));
    }
    println!(
        "agreement (celgate, regorus RVM, regorus interpreter): {}",
        checked.join("; ")
    );

    // ---- the cases.
    // The parse-included cases need their own VM and engine (the others are borrowed by the first cases).
    let mut vm2 = RegoVM::new();
    vm2.load_program(Compiler::compile_from_policy(&compiled, &[ENTRY]).expect("RVM compile"));
    let mut interp2 = regorus::Engine::new();
    interp2
        .add_policy("policy.rego".to_owned(), POLICY.to_owned())
        .expect("policy.rego parses");
    let cel_input = Input::new(base.clone());
    let rego_input = RegoValue::from_json_str(DEPLOYMENT).expect("regorus parses");
    let text = DEPLOYMENT;
    let entry = ENTRY.to_owned();
    let mut cases: Vec<Case<'_>> = vec![
        Case::new("baseline: serde_json::from_str::<Value>", "parse", || {
            let v: serde_json::Value = serde_json::from_str(black_box(text)).expect("JSON");
            black_box(v);
        }),
        Case::new("baseline: regorus Value::from_json_str", "parse", || {
            black_box(RegoValue::from_json_str(black_box(text)).expect("JSON"));
        }),
        Case::new("celgate Engine::evaluate", "converted", || {
            let d = cel.evaluate(black_box(&cel_input));
            debug_assert_eq!(d.decision, Verdict::Allow);
            black_box(d);
        }),
        Case::new("regorus RVM (RegoVM::execute)", "converted", {
            let vm = &mut vm;
            let rego_input = &rego_input;
            move || {
                vm.set_input(black_box(rego_input.clone()));
                black_box(vm.execute().expect("RVM executes"));
            }
        }),
        Case::new("regorus interpreter (Engine::eval_rule)", "converted", {
            let interp = &mut interp;
            let rego_input = &rego_input;
            let entry = entry.clone();
            move || {
                interp.set_input(black_box(rego_input.clone()));
                black_box(interp.eval_rule(entry.clone()).expect("evaluates"));
            }
        }),
    ];
    cases.push(Case::new("celgate Engine::evaluate", "with-parse", || {
        let v: serde_json::Value = serde_json::from_str(black_box(text)).expect("JSON");
        black_box(cel.evaluate(&Input::new(v)));
    }));
    cases.push(Case::new("regorus RVM (RegoVM::execute)", "with-parse", {
        let vm2 = &mut vm2;
        move || {
            vm2.set_input(RegoValue::from_json_str(black_box(text)).expect("JSON"));
            black_box(vm2.execute().expect("RVM executes"));
        }
    }));
    cases.push(Case::new("regorus interpreter (Engine::eval_rule)", "with-parse", {
        let interp2 = &mut interp2;
        move || {
            interp2.set_input(RegoValue::from_json_str(black_box(text)).expect("JSON"));
            black_box(interp2.eval_rule(entry.clone()).expect("evaluates"));
        }
    }));

    println!(
        "pinned to cpu {cpu}; {} cases x {batches} batches of {} ms, round-robin; document {} bytes",
        cases.len(),
        batch.as_millis(),
        DEPLOYMENT.len()
    );
    for case in &mut cases {
        case.warm_up();
    }
    for _ in 0..batches {
        for case in &mut cases {
            case.batch(batch);
        }
    }

    println!();
    println!("| case | input | docs/s (median) | min–max of batches | µs/doc |");
    println!("|---|---|---:|---:|---:|");
    for case in &cases {
        let (median, min, max) = case.summary();
        println!(
            "| {} | {} | {:.0} | {:.0}–{:.0} | {:.2} |",
            case.name,
            case.group,
            median,
            min,
            max,
            1e6 / median
        );
    }
    let find = |name: &str, group: &str| {
        cases
            .iter()
            .find(|c| c.name.starts_with(name) && c.group == group)
            .map(|c| c.summary().0)
            .expect("case exists")
    };
    println!();
    for group in ["converted", "with-parse"] {
        let c = find("celgate", group);
        println!(
            "{group}: regorus RVM / celgate = {:.2}x, regorus interpreter / celgate = {:.2}x",
            find("regorus RVM", group) / c,
            find("regorus interpreter", group) / c
        );
    }
    let parse = find("baseline: serde_json", "parse");
    println!(
        "celgate with-parse / serde_json parse alone = {:.2} (1.0 would mean evaluation is free)",
        find("celgate", "with-parse") / parse
    );
}

/// One benchmarked operation and its batch results (documents/s).
struct Case<'a> {
    name: &'static str,
    group: &'static str,
    run: Box<dyn FnMut() + 'a>,
    /// Calls per timing check, calibrated in `warm_up` to about 5 ms.
    chunk: u64,
    rates: Vec<f64>,
}

impl<'a> Case<'a> {
    fn new(name: &'static str, group: &'static str, run: impl FnMut() + 'a) -> Self {
        Case {
            name,
            group,
            run: Box::new(run),
            chunk: 1,
            rates: Vec::new(),
        }
    }

    fn warm_up(&mut self) {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            (self.run)();
            n += 1;
        }
        let per_call = start.elapsed().as_secs_f64() / n as f64;
        self.chunk = ((0.005 / per_call) as u64).max(1);
    }

    fn batch(&mut self, length: Duration) {
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            for _ in 0..self.chunk {
                (self.run)();
            }
            n += self.chunk;
            let elapsed = start.elapsed();
            if elapsed >= length {
                self.rates.push(n as f64 / elapsed.as_secs_f64());
                return;
            }
        }
    }

    fn summary(&self) -> (f64, f64, f64) {
        let mut r = self.rates.clone();
        r.sort_by(f64::total_cmp);
        (r[r.len() / 2], r[0], r[r.len() - 1])
    }
}

/// The five CEL rules as one pack (ids bench-r1..bench-r5, `validate` = the expression, any kind).
fn cel_pack() -> PackSource {
    let mut yaml = String::from(
        "apiVersion: celgate.io/v1\nkind: RulePack\nmetadata:\n  name: bench\n  version: 0.1.0\nspec:\n  rules:\n",
    );
    for line in RULES.lines().filter(|l| !l.trim().is_empty()) {
        let (id, expr) = line.split_once('\t').expect("rules.txt: id<TAB>expression");
        let expr = serde_json::to_string(expr).expect("string");
        yaml.push_str(&format!(
            "    - id: bench-{id}\n      title: rule {id}\n      controls: [fixture]\n      severity: high\n      \
             validate: {expr}\n      message: rule {id} failed\n      remediation: none\n"
        ));
    }
    PackSource {
        origin: "fixture/rules.txt".to_owned(),
        text: yaml,
    }
}

fn cel_denies(engine: &CelEngine, doc: &serde_json::Value) -> BTreeSet<String> {
    let decision = engine.evaluate(&Input::new(doc.clone()));
    assert_eq!(decision.evaluated_rules.len(), 5, "every rule ran");
    decision
        .violations
        .iter()
        .map(|v| v.rule.strip_prefix("bench-").unwrap_or(&v.rule).to_owned())
        .collect()
}

fn rego_ids(value: &RegoValue) -> BTreeSet<String> {
    match serde_json::to_value(value).expect("regorus value serialises") {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|i| i.as_str().expect("rule id string").to_owned())
            .collect(),
        serde_json::Value::Null => BTreeSet::new(),
        serde_json::Value::String(s) if s == "<undefined>" => BTreeSet::new(),
        other => panic!("unexpected regorus result {other}"),
    }
}

/// The fixture and copies each breaking one rule, with the rule ids expected to fire.
fn mutations(base: &serde_json::Value) -> Vec<(&'static str, serde_json::Value, BTreeSet<String>)> {
    let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    let set = |doc: &serde_json::Value, pointer: &str, value: serde_json::Value| {
        let mut doc = doc.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        doc.pointer_mut(parent)
            .and_then(serde_json::Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent} is an object"))
            .insert(key.to_owned(), value);
        doc
    };
    let remove = |doc: &serde_json::Value, pointer: &str| {
        let mut doc = doc.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        doc.pointer_mut(parent)
            .and_then(serde_json::Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent} is an object"))
            .remove(key)
            .unwrap_or_else(|| panic!("{pointer} exists"));
        doc
    };
    let c = "/spec/template/spec/containers/1";
    vec![
        ("fixture", base.clone(), ids(&[])),
        (
            "privileged container",
            set(base, &format!("{c}/securityContext/privileged"), true.into()),
            ids(&["r5"]),
        ),
        (
            "runAsNonRoot false",
            set(base, &format!("{c}/securityContext/runAsNonRoot"), false.into()),
            ids(&["r1"]),
        ),
        (
            "image :latest",
            set(base, &format!("{c}/image"), "busybox:latest".into()),
            ids(&["r2"]),
        ),
        (
            "no memory limit",
            remove(base, &format!("{c}/resources/limits/memory")),
            ids(&["r3"]),
        ),
        (
            "phi without encryption",
            remove(base, "/metadata/annotations/encryption"),
            ids(&["r4"]),
        ),
    ]
}

fn parse_args() -> (usize, Duration) {
    let mut batches = 5;
    let mut batch_ms = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--batches" => batches = value.parse().expect("--batches N"),
            "--batch-ms" => batch_ms = value.parse().expect("--batch-ms MS"),
            _ => panic!("usage: [--batches N] [--batch-ms MS]"),
        }
    }
    (batches.max(1), Duration::from_millis(batch_ms))
}

/// Pins this thread to `CELGATE_BENCH_CPU`, else to the last CPU it may run on.
fn pin_thread() -> usize {
    // SAFETY: plain libc calls on a zeroed cpu_set_t owned by this frame.
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut allowed);
        let cpu = std::env::var("CELGATE_BENCH_CPU")
            .ok()
            .and_then(|v| v.parse().ok())
            .or_else(|| {
                (0..libc::CPU_SETSIZE as usize)
                    .rev()
                    .find(|&c| libc::CPU_ISSET(c, &allowed))
            })
            .unwrap_or(0);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("could not pin to cpu {cpu}: {}", std::io::Error::last_os_error());
        }
        cpu
    }
}
