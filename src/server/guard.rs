//! Keeping one request's failure to itself: a panic anywhere in a handler is caught and turned
//! into an answer, and the in-flight gauge goes down however the request ends (answered, panicked,
//! or dropped with its connection).

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use prometheus_client::metrics::gauge::Gauge;

/// Counts one request in flight until dropped.
pub(super) struct InFlight(Gauge);

impl InFlight {
    /// Raises `gauge` by one; dropping the guard lowers it again.
    pub(super) fn enter(gauge: &Gauge) -> InFlight {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A future whose panics become `Err(())`. The panic itself is logged once, by the hook
/// [`install_panic_hook`] sets (one JSON line), not here.
pub(super) struct CatchPanic<F>(Pin<Box<F>>);

impl<F: Future> CatchPanic<F> {
    pub(super) fn new(future: F) -> Self {
        CatchPanic(Box::pin(future))
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, ()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(())),
        }
    }
}

/// Makes every panic one `error` event (a JSON line in `celgate serve`) with its message and
/// location, instead of the default hook's several plain-text lines (and a backtrace of many
/// more with `RUST_BACKTRACE`); the backtrace, when enabled, is a field of that one event.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        let location = info
            .location()
            .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
        let thread = std::thread::current();
        let backtrace = std::backtrace::Backtrace::capture();
        if backtrace.status() == std::backtrace::BacktraceStatus::Captured {
            tracing::error!(
                panic = %message,
                location,
                thread = thread.name().unwrap_or(""),
                backtrace = %backtrace,
                "panic"
            );
        } else {
            tracing::error!(
                panic = %message,
                location,
                thread = thread.name().unwrap_or(""),
                "panic"
            );
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_is_caught_and_leaves_the_gauge_where_it_was() {
        let gauge = Gauge::default();
        let caught = {
            let gauge = gauge.clone();
            CatchPanic::new(async move {
                let _in_flight = InFlight::enter(&gauge);
                assert_eq!(gauge.get(), 1);
                tokio::task::yield_now().await;
                let parts: Vec<u64> = vec![u64::MAX, 1];
                parts.iter().fold(0u64, |sum, p| {
                    sum.checked_add(*p)
                        .unwrap_or_else(|| panic!("a handler that panics after a yield"))
                })
            })
            .await
        };
        assert_eq!(caught, Err(()));
        assert_eq!(gauge.get(), 0);
        let answered = CatchPanic::new(async { 7 }).await;
        assert_eq!(answered, Ok(7));
    }
}
