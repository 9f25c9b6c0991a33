//! The plain-HTTP admin port: `/livez`, `/readyz` and `/metrics`, served by a thread of its
//! own with its own single-threaded runtime, so probes are answered however busy the request
//! workers are.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::ServerState;

/// The admin thread; [`AdminThread::stop`] ends it.
pub(super) struct AdminThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AdminThread {
    /// Stops serving and waits for the thread (briefly: it only has to leave its loop).
    pub(super) fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves the admin endpoints on `listener` from a new thread. Should the thread or its
/// runtime not start, that is logged and the probes fail (so the pod is restarted).
pub(super) fn spawn(listener: TcpListener, state: Arc<ServerState>) -> AdminThread {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let std_listener = match listener.into_std() {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "the admin listener cannot be moved to its thread");
            return AdminThread {
                stop: None,
                thread: None,
            };
        }
    };
    let run = move || {
        let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "cannot start the admin runtime");
                return;
            }
        };
        runtime.block_on(async move {
            let listener = match TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "cannot serve the admin listener");
                    return;
                }
            };
            tokio::select! {
                () = serve(listener, state) => {}
                _ = stopped => {}
            }
        });
    };
    match std::thread::Builder::new().name("celgate-admin".to_owned()).spawn(run) {
        Ok(thread) => AdminThread {
            stop: Some(stop),
            thread: Some(thread),
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot start the admin thread");
            AdminThread {
                stop: None,
                thread: None,
            }
        }
    }
}

/// Serves the admin endpoints until the future is dropped.
async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req| std::future::ready(Ok::<_, Infallible>(answer(&state, &req))));
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(5))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}

fn answer(state: &ServerState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let plain = "text/plain; charset=utf-8";
    match req.uri().path() {
        "/livez" => text(StatusCode::OK, plain, "ok\n".to_owned()),
        "/readyz" if state.is_ready() => text(StatusCode::OK, plain, "ready\n".to_owned()),
        "/readyz" => text(StatusCode::SERVICE_UNAVAILABLE, plain, "not ready\n".to_owned()),
        "/metrics" => text(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::metrics::render(&state.registry),
        ),
        _ => text(StatusCode::NOT_FOUND, plain, "not found\n".to_owned()),
    }
}
