//! The evaluation pool: a fixed set of threads that run the engine off the async workers, fed
//! by one FIFO queue.
//!
//! Tokio's `spawn_blocking` wakes a parked thread for every job and parks it again after, which
//! on a busy server means two thread switches per request (about a third of the CPU a request
//! costs besides the engine, measured on one core). The pool's threads take the next queued job
//! as soon as they finish one, so under load a burst of reviews is judged back to back without
//! switching. The number of threads is the bound on concurrent evaluations
//! (`limits.maxConcurrentEvaluations`); reviews beyond it wait in the queue within their
//! deadline, and a job whose caller has already given up (its deadline passed) is skipped
//! rather than run for nobody.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of evaluation threads; they end when the pool is dropped.
pub struct EvalPool {
    jobs: Sender<Job>,
    threads: usize,
}

/// Why a job gave no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobFailure {
    /// The job panicked (the thread survives and takes the next job).
    Panicked,
}

impl EvalPool {
    /// Starts `threads` evaluation threads (at least one). A thread the OS refuses is logged;
    /// with none at all, jobs run on tokio's blocking pool instead.
    pub fn new(threads: usize) -> EvalPool {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let mut started = 0;
        for index in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            match std::thread::Builder::new()
                .name(format!("celgate-eval-{index}"))
                .spawn(move || work(&queue))
            {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start an evaluation thread"),
            }
        }
        EvalPool { jobs, threads: started }
    }

    /// How many evaluation threads run.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Queues `job` now and returns a future of its result. Dropping that future (a deadline)
    /// before a thread took the job means the job is skipped.
    pub fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, JobFailure>> + Send + 'static {
        let (answer, result) = oneshot::channel();
        let queued: Job = Box::new(move || {
            if answer.is_closed() {
                return;
            }
            if let Ok(value) = catch_unwind(AssertUnwindSafe(job)) {
                // The caller may have given up meanwhile; nothing to do then.
                let _ = answer.send(value);
            }
        });
        // Without threads (none could be started) the job runs on tokio's blocking pool.
        let unsent = if self.threads == 0 {
            Some(queued)
        } else {
            self.jobs.send(queued).err().map(|mpsc::SendError(job)| job)
        };
        if let Some(job) = unsent {
            drop(tokio::task::spawn_blocking(job));
        }
        async move { result.await.map_err(|_| JobFailure::Panicked) }
    }
}

/// One evaluation thread: runs queued jobs until the pool is dropped.
fn work(queue: &Mutex<Receiver<Job>>) {
    loop {
        let next = {
            // A poisoned lock only means another thread panicked while waiting; the queue is fine.
            let queue = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            queue.recv()
        };
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panic() {
        let pool = EvalPool::new(2);
        assert_eq!(pool.threads(), 2);
        assert_eq!(pool.run(|| 40 + 2).await, Ok(42));
        let panicked = pool.run(|| -> u8 { panic!("a rule blew up") }).await;
        assert_eq!(panicked, Err(JobFailure::Panicked));
        // Both threads still take jobs.
        let (a, b) = tokio::join!(pool.run(|| 1), pool.run(|| 2));
        assert_eq!((a, b), (Ok(1), Ok(2)));
    }

    #[tokio::test]
    async fn a_job_whose_caller_gave_up_is_skipped() {
        let pool = EvalPool::new(1);
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Occupy the only thread, then queue a job and drop its future before it starts.
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let busy = pool.run(move || blocked.recv_timeout(Duration::from_secs(5)).is_ok());
        let flag = Arc::clone(&ran);
        let given_up = pool.run(move || flag.store(true, std::sync::atomic::Ordering::SeqCst));
        let timed_out = tokio::time::timeout(Duration::from_millis(50), given_up).await;
        assert!(timed_out.is_err(), "the queued job cannot run while the thread is busy");
        release.send(()).expect("the busy job waits for this");
        assert_eq!(busy.await, Ok(true));
        // A later job runs after the skipped one: the skipped job never set the flag.
        assert_eq!(pool.run(|| 7).await, Ok(7));
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }
}
