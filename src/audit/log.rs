//! [`AuditLog`]: the server's non-blocking front. A bounded queue in front of a dedicated
//! writer thread: [`AuditLog::record`] never waits; when the queue is full or the writer is
//! failing it returns an error (so the server can honour `audit.required`), and the loss is
//! counted and logged. [`AuditLog::close`] flushes the queue and joins the writer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::commit::{self, Msg};

use prometheus_client::registry::Registry;

use super::config::AuditConfig;
use super::config::FsyncPolicy;
use super::metrics::{AuditMetrics, QUEUE_FULL, WRITE_FAILED};
use super::record::AuditRecord;
use super::writer::AuditWriter;
use super::AuditError;

/// Where the writer thread puts records: the [`AuditWriter`], or a stand-in in tests.
pub trait RecordSink: Send + 'static {
    /// Appends one record.
    fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError>;
    /// Forces everything appended to disk.
    fn sync(&mut self) -> Result<(), AuditError>;
    /// Syncs if the fsync policy says it is due by `now`.
    fn sync_if_due(&mut self, _now: Instant) -> Result<(), AuditError> {
        Ok(())
    }
    /// Tries to get a failing sink working again.
    fn recover(&mut self) -> Result<(), AuditError> {
        Ok(())
    }
}

impl RecordSink for AuditWriter {
    fn append(&mut self, record: &AuditRecord) -> Result<(), AuditError> {
        AuditWriter::append(self, record).map(|_| ())
    }
    fn sync(&mut self) -> Result<(), AuditError> {
        AuditWriter::sync(self)
    }
    fn sync_if_due(&mut self, now: Instant) -> Result<(), AuditError> {
        AuditWriter::sync_if_due(self, now).map(|_| ())
    }
    fn recover(&mut self) -> Result<(), AuditError> {
        self.reopen()
    }
}

/// The last write failure, for alerts.
#[derive(Debug, Clone)]
pub struct WriteFailure {
    /// When it happened.
    pub at: SystemTime,
    /// What failed.
    pub error: Arc<AuditError>,
    /// Failures in a row so far (1 for the first).
    pub consecutive: u64,
}

type WriterThread = JoinHandle<Result<(), AuditError>>;

type Listener = Arc<dyn Fn(&WriteFailure) + Send + Sync>;

/// What the writer thread and the handles share.
pub(crate) struct Shared {
    pub(crate) metrics: AuditMetrics,
    pub(crate) healthy: AtomicBool,
    closed: AtomicBool,
    last_error: Mutex<Option<WriteFailure>>,
    listeners: Mutex<Vec<Listener>>,
}

impl Shared {
    pub(crate) fn failed(&self, error: AuditError) {
        self.metrics.write_failures.inc();
        let was_healthy = self.healthy.swap(false, Ordering::SeqCst);
        let failure = {
            let mut last = self.last_error.lock().unwrap_or_else(PoisonError::into_inner);
            let consecutive = if was_healthy {
                1
            } else {
                last.as_ref().map_or(1, |f| f.consecutive + 1)
            };
            let failure = WriteFailure {
                at: SystemTime::now(),
                error: Arc::new(error),
                consecutive,
            };
            *last = Some(failure.clone());
            failure
        };
        if was_healthy {
            tracing::error!(error = %error_chain(&failure.error), "audit writer failing: decisions are not being recorded");
            let listeners = self.listeners.lock().unwrap_or_else(PoisonError::into_inner).clone();
            for listener in listeners {
                listener(&failure);
            }
        }
    }

    pub(crate) fn succeeded(&self) {
        if !self.healthy.swap(true, Ordering::SeqCst) {
            tracing::info!("audit writer recovered");
        }
    }

    pub(crate) fn last_error_arc(&self) -> Arc<AuditError> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or_else(|| Arc::new(AuditError::WriterGone), |f| f.error.clone())
    }
}

/// The error and its causes on one line (`a: b: c`).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Cloneable handle on the audit log of a server.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    thread: Arc<Mutex<Option<WriterThread>>>,
    capacity: usize,
    required: bool,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("capacity", &self.capacity)
            .field("required", &self.required)
            .field("healthy", &self.is_healthy())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Opens the log `config` describes (errors here are configuration or disk errors the
    /// server should refuse to start on), registers the `celgate_audit_*` metrics, and starts
    /// the writer thread.
    pub fn start(config: &AuditConfig, registry: &mut Registry) -> Result<AuditLog, AuditError> {
        let writer = AuditWriter::open(config)?;
        tracing::info!(path = %writer.current_path().display(), replica = writer.replica(),
            seq = writer.head().seq, encrypted = writer.key_id().is_some(), "audit log open");
        Ok(AuditLog::with_sink(Box::new(writer), config, registry))
    }

    /// Starts the writer thread over any sink, with the queue capacity, retry interval and
    /// `required` flag of `config` (for tests, and servers that keep records elsewhere).
    pub fn with_sink(sink: Box<dyn RecordSink>, config: &AuditConfig, registry: &mut Registry) -> AuditLog {
        let metrics = AuditMetrics::register(registry);
        let (tx, rx) = mpsc::sync_channel(config.queue_capacity);
        let shared = Arc::new(Shared {
            metrics,
            healthy: AtomicBool::new(true),
            closed: AtomicBool::new(false),
            last_error: Mutex::new(None),
            listeners: Mutex::new(Vec::new()),
        });
        let tick = Duration::from_millis(config.retry_interval_ms.min(config.fsync_interval_ms.max(1)));
        let thread_shared = shared.clone();
        let sync_commits = config.fsync != FsyncPolicy::Never;
        let handle = std::thread::Builder::new()
            .name("celgate-audit".to_owned())
            .spawn(move || commit::run(sink, &rx, &thread_shared, tick, sync_commits));
        let thread = match handle {
            Ok(handle) => Some(handle),
            Err(e) => {
                shared.failed(AuditError::io("(writer thread)", "start", e));
                None
            }
        };
        AuditLog {
            tx,
            shared,
            thread: Arc::new(Mutex::new(thread)),
            capacity: config.queue_capacity,
            required: config.required,
        }
    }

    /// Queues one record without waiting. `Err` (and the loss counted) when the queue is full,
    /// the writer is failing, or the log is closed; with `audit.required` the server answers
    /// with an error then.
    pub fn record(&self, record: AuditRecord) -> Result<(), AuditError> {
        self.enqueue(record, None)
    }

    /// Queues one record and returns a [`Receipt`] that completes once the record is written
    /// and synced (one fsync per group of records that arrived together; no fsync with
    /// `fsync: never`): what `audit.required` waits for before answering.
    pub fn record_durably(&self, record: AuditRecord) -> Result<Receipt, AuditError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.enqueue(record, Some(tx))?;
        Ok(Receipt(rx))
    }

    fn enqueue(&self, record: AuditRecord, ack: Option<commit::Ack>) -> Result<(), AuditError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(AuditError::Closed);
        }
        if !self.is_healthy() {
            self.shared.metrics.drop_one(WRITE_FAILED);
            return Err(AuditError::WriterFailing(self.shared.last_error_arc()));
        }
        self.shared.metrics.queue_depth.inc();
        match self.tx.try_send(Msg::Record(Box::new(record), ack)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.shared.metrics.queue_depth.dec();
                self.shared.metrics.drop_one(QUEUE_FULL);
                let dropped = self.shared.metrics.dropped_for(QUEUE_FULL);
                if dropped.is_power_of_two() {
                    tracing::warn!(dropped, capacity = self.capacity, "audit queue full: record dropped");
                }
                Err(AuditError::QueueFull {
                    capacity: self.capacity,
                })
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.metrics.queue_depth.dec();
                self.shared.metrics.drop_one(WRITE_FAILED);
                Err(AuditError::WriterGone)
            }
        }
    }

    /// False while the writer's last attempt failed (records are refused until it recovers).
    pub fn is_healthy(&self) -> bool {
        self.shared.healthy.load(Ordering::SeqCst)
    }

    /// `audit.required`: the server must answer with an error when [`AuditLog::record`] fails.
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The last write failure (also after recovery), for the server to poll.
    pub fn last_error(&self) -> Option<WriteFailure> {
        self.shared
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls `listener` on the writer thread each time the writer goes from healthy to failing
    /// (not on every failure in a row). It must not block: hand the alert to a queue.
    pub fn on_failure(&self, listener: impl Fn(&WriteFailure) + Send + Sync + 'static) {
        self.shared
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::new(listener));
    }

    /// The `celgate_audit_*` metrics.
    pub fn metrics(&self) -> &AuditMetrics {
        &self.shared.metrics
    }

    /// Waits until every record queued before this call is written and synced (blocking).
    pub fn flush(&self) -> Result<(), AuditError> {
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        self.tx.send(Msg::Flush(ack_tx)).map_err(|_| AuditError::WriterGone)?;
        match ack_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AuditError::WriterFailing(e)),
            Err(_) => Err(AuditError::WriterGone),
        }
    }

    /// Graceful shutdown: refuses new records, writes everything queued, syncs, and joins the
    /// writer thread. Calling it again does nothing.
    pub fn close(&self) -> Result<(), AuditError> {
        self.shared.closed.store(true, Ordering::SeqCst);
        let Some(handle) = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take() else {
            return Ok(());
        };
        let _ = self.tx.send(Msg::Close);
        handle.join().map_err(|_| AuditError::WriterGone)?
    }
}

/// Completes once a record handed to [`AuditLog::record_durably`] is on disk (or failed to be).
#[derive(Debug)]
pub struct Receipt(tokio::sync::oneshot::Receiver<commit::Outcome>);

impl Receipt {
    /// Waits for the record's commit.
    pub async fn written(self) -> Result<(), AuditError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(AuditError::WriterFailing(e)),
            Err(_) => Err(AuditError::WriterGone),
        }
    }
}
