//! The writer thread of [`super::AuditLog`]: appends queued records in arrival order and, for
//! records whose sender waits (`audit.required`), commits them in groups: every record that
//! arrived together is written, then one fsync covers them all, then each waiting sender is told.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::log::{RecordSink, Shared};
use super::record::AuditRecord;
use super::AuditError;

/// What a waiting sender is told: written (and synced), or why not.
pub(crate) type Outcome = Result<(), Arc<AuditError>>;

/// Tells one waiting sender how its record fared.
pub(crate) type Ack = tokio::sync::oneshot::Sender<Outcome>;

/// Messages to the writer thread.
pub(crate) enum Msg {
    /// A record, and the sender to tell once it is committed (when it waits).
    Record(Box<AuditRecord>, Option<Ack>),
    /// Sync everything so far, then answer.
    Flush(SyncSender<Outcome>),
    /// Write what is queued, sync, stop.
    Close,
}

/// The most messages taken in one group (bounds the time the first waiter waits for the fsync).
const MAX_GROUP: usize = 512;

/// The writer loop; returns when the log is closed or every sender is gone.
pub(crate) fn run(
    mut sink: Box<dyn RecordSink>,
    rx: &Receiver<Msg>,
    shared: &Shared,
    tick: Duration,
    sync_commits: bool,
) -> Result<(), AuditError> {
    let mut writer = Writer {
        sink: &mut sink,
        shared,
        sync_commits,
        waiting: Vec::new(),
    };
    loop {
        let first = match rx.recv_timeout(tick) {
            Ok(msg) => msg,
            Err(RecvTimeoutError::Timeout) => {
                writer.idle();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return writer.finish(rx),
        };
        let mut closing = writer.handle(first);
        let mut taken = 1;
        while !closing && taken < MAX_GROUP {
            match rx.try_recv() {
                Ok(msg) => closing = writer.handle(msg),
                Err(_) => break,
            }
            taken += 1;
        }
        writer.commit();
        if closing {
            return writer.finish(rx);
        }
    }
}

struct Writer<'a> {
    sink: &'a mut Box<dyn RecordSink>,
    shared: &'a Shared,
    sync_commits: bool,
    /// Senders whose records are written but not yet committed, with the write's outcome.
    waiting: Vec<(Ack, Outcome)>,
}

impl Writer<'_> {
    /// Handles one message; true for `Close`.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Record(record, ack) => {
                let outcome = self.write(&record);
                if let Some(ack) = ack {
                    self.waiting.push((ack, outcome));
                }
                false
            }
            Msg::Flush(ack) => {
                self.commit();
                let _ = ack.send(self.sync());
                false
            }
            Msg::Close => true,
        }
    }

    fn write(&mut self, record: &AuditRecord) -> Outcome {
        self.shared.metrics.queue_depth.dec();
        match self.sink.append(record) {
            Ok(()) => {
                self.shared.metrics.written.inc();
                self.shared.succeeded();
                Ok(())
            }
            Err(e) => {
                self.shared.metrics.drop_one(super::metrics::WRITE_FAILED);
                self.shared.failed(e);
                Err(self.shared.last_error_arc())
            }
        }
    }

    fn sync(&mut self) -> Outcome {
        if let Err(e) = self.sink.sync() {
            self.shared.failed(e);
        }
        if self.shared.healthy.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(self.shared.last_error_arc())
        }
    }

    /// One fsync for every waiting record of the group (none with `fsync: never`), then answers.
    fn commit(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let synced = if self.sync_commits { self.sync() } else { Ok(()) };
        for (ack, written) in self.waiting.drain(..) {
            let _ = ack.send(written.and(synced.clone()));
        }
    }

    /// Nothing arrived within a tick: sync when the policy says so, or retry a failing sink.
    fn idle(&mut self) {
        let result = if self.shared.healthy.load(Ordering::SeqCst) {
            self.sink.sync_if_due(Instant::now())
        } else {
            self.sink.recover()
        };
        match result {
            Ok(()) => self.shared.succeeded(),
            Err(e) => self.shared.failed(e),
        }
    }

    /// Writes whatever is still queued, syncs, and answers every waiter.
    fn finish(mut self, rx: &Receiver<Msg>) -> Result<(), AuditError> {
        while let Ok(msg) = rx.try_recv() {
            self.handle(msg);
        }
        self.commit();
        self.sync().map_err(AuditError::WriterFailing)
    }
}
