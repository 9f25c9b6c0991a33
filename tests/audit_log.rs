//! The audit trail's non-blocking front ([`AuditLog`]): a full queue refuses and counts, a
//! failing writer refuses, counts, flags and alerts, `close()` flushes; and a real kill -9 of
//! a writing process leaves at most a torn last line.

mod audit_support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

use audit_support::{config, record, verify_dir, write};
use celgate::audit::{AuditConfig, AuditError, AuditLog, AuditRecord, AuditWriter, FsyncPolicy, RecordSink};
use prometheus_client::registry::Registry;

/// A sink that blocks in `append` until the test lets it go.
struct GatedSink {
    entered: mpsc::Sender<()>,
    gate: mpsc::Receiver<()>,
    written: Arc<AtomicUsize>,
}

impl RecordSink for GatedSink {
    fn append(&mut self, _: &AuditRecord) -> Result<(), AuditError> {
        let _ = self.entered.send(());
        let _ = self.gate.recv();
        self.written.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn sync(&mut self) -> Result<(), AuditError> {
        Ok(())
    }
}

#[test]
fn full_queue_refuses_and_counts_and_close_flushes_it() {
    let (entered_tx, entered) = mpsc::channel();
    let (gate_tx, gate) = mpsc::channel();
    let written = Arc::new(AtomicUsize::new(0));
    let sink = GatedSink {
        entered: entered_tx,
        gate,
        written: written.clone(),
    };
    let cfg = AuditConfig {
        queue_capacity: 2,
        ..AuditConfig::default()
    };
    let mut registry = Registry::default();
    let log = AuditLog::with_sink(Box::new(sink), &cfg, &mut registry);
    log.record(record(1, "a")).expect("queued");
    entered.recv().expect("writer holds record 1");
    log.record(record(2, "a")).expect("queued");
    log.record(record(3, "a")).expect("queued");
    assert_eq!(log.metrics().queue_depth.get(), 2);
    let err = log.record(record(4, "a")).expect_err("full");
    assert!(matches!(err, AuditError::QueueFull { capacity: 2 }), "{err}");
    assert_eq!(log.metrics().dropped_for("queue_full"), 1);
    assert!(log.is_healthy(), "a full queue is not a failing writer");
    for _ in 0..3 {
        gate_tx.send(()).expect("release");
    }
    log.close().expect("closes");
    assert_eq!(written.load(Ordering::SeqCst), 3, "close wrote everything queued");
    assert_eq!(log.metrics().written.get(), 3);
    assert!(matches!(log.record(record(5, "a")), Err(AuditError::Closed)));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
    assert!(
        text.contains("celgate_audit_records_dropped_total{reason=\"queue_full\"} 1"),
        "{text}"
    );
    assert!(text.contains("celgate_audit_records_written_total 3"), "{text}");
}

#[test]
fn close_flushes_a_real_log_to_disk() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut registry = Registry::default();
    let log = AuditLog::start(&config(dir.path(), "srv"), &mut registry).expect("starts");
    let clones: Vec<AuditLog> = (0..4).map(|_| log.clone()).collect();
    for (i, l) in (1..=200).zip(clones.iter().cycle()) {
        l.record(record(i, "acme")).expect("queued");
    }
    log.close().expect("closes");
    let report = verify_dir(dir.path());
    assert_eq!(
        (report.exit_code(), report.replicas[0].records),
        (0, 200),
        "{}",
        report.render()
    );
}

#[test]
fn failing_writer_refuses_counts_flags_and_alerts() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = AuditConfig {
        retry_interval_ms: 60_000,
        ..config(dir.path(), "bad")
    };
    let alerts = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::default();
    let log = AuditLog::start(&cfg, &mut registry).expect("starts");
    let seen = alerts.clone();
    log.on_failure(move |f| {
        assert!(f.error.to_string().contains("cannot create"), "{}", f.error);
        seen.fetch_add(1, Ordering::SeqCst);
    });
    // The next file of the rotation is a folder: the write that rotates fails.
    std::fs::create_dir(dir.path().join("celgate-audit-bad-000002.jsonl")).expect("block rotation");
    let mut i = 0;
    while log.is_healthy() && i < 100 {
        i += 1;
        log.record(record(i, "acme")).expect("queued while healthy");
        let _ = log.flush();
    }
    assert!(!log.is_healthy(), "health flag set");
    let failure = log.last_error().expect("last error kept");
    assert!(
        celgate::commands::audit::error_chain(&*failure.error).contains("File exists"),
        "{failure:?}"
    );
    assert!(matches!(
        log.record(record(999, "acme")),
        Err(AuditError::WriterFailing(_))
    ));
    assert_eq!(
        log.metrics().dropped_for("write_failed"),
        2,
        "the failed write and the refused record"
    );
    assert!(log.metrics().write_failures.get() >= 1);
    assert_eq!(
        alerts.load(Ordering::SeqCst),
        1,
        "one alert on the transition to failing"
    );
    assert!(log.close().is_err(), "close reports the writer is failing");
    let report = verify_dir(dir.path());
    assert!(
        report.replicas[0].is_intact(),
        "what was written is intact: {}",
        report.render()
    );
}

#[test]
fn start_fails_clearly_when_the_folder_is_a_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let not_a_dir = dir.path().join("plain");
    std::fs::write(&not_a_dir, "x").expect("write");
    let err = AuditLog::start(&config(&not_a_dir, "x"), &mut Registry::default()).expect_err("fails");
    let text = celgate::commands::audit::error_chain(&err);
    assert!(text.contains(&not_a_dir.display().to_string()), "{text}");
}

/// The child of `kill_nine_leaves_at_most_a_torn_last_line`: appends records until killed.
#[test]
#[ignore = "run as a child process by kill_nine_leaves_at_most_a_torn_last_line"]
fn audit_flood_child() {
    let Some(dir) = std::env::var_os("CELGATE_AUDIT_FLOOD_DIR") else {
        return;
    };
    let cfg = AuditConfig {
        fsync: FsyncPolicy::Interval,
        ..config(Path::new(&dir), "flood")
    };
    let mut writer = AuditWriter::open(&cfg).expect("opens");
    for i in 1..=2_000_000 {
        writer.append(&record(i, "acme")).expect("appends");
        if i == 500 {
            println!("ready");
        }
    }
}

#[test]
fn kill_nine_leaves_at_most_a_torn_last_line() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--ignored",
            "--exact",
            "audit_flood_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CELGATE_AUDIT_FLOOD_DIR", dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawns");
    let stdout = child.stdout.take().expect("stdout");
    let ready = std::io::BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("ready"));
    assert!(ready, "child wrote 500 records");
    child.kill().expect("SIGKILL while writing");
    child.wait().expect("reaped");

    let report = verify_dir(dir.path());
    let text = report.render();
    eprintln!("after kill -9:\n{text}");
    assert!(matches!(report.exit_code(), 0 | 3), "{text}");
    let chain = &report.replicas[0];
    assert!(chain.is_intact() && chain.torn.len() <= 1, "{text}");
    let (first, last) = chain.seq_range.expect("records");
    assert!(
        first == 1 && last >= 500 && chain.records == last,
        "no loss before the end: {text}"
    );
    // A restart continues the chain after whatever the crash left.
    write(&config(dir.path(), "flood"), last + 1, last + 3);
    let report = verify_dir(dir.path());
    assert!(report.replicas[0].is_intact(), "{}", report.render());
    assert_eq!(report.replicas[0].seq_range, Some((1, last + 3)));
}
