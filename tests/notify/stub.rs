//! A stand-in for Slack's incoming webhooks on `127.0.0.1:0`: records every request with the
//! instant it arrived (server-side, so pacing is measured where Slack would see it) and answers
//! each path from a script (200 once the script is used up).
//!
//! It runs on its own thread and runtime, so the notifier under test may use a current-thread
//! runtime that the stub never competes with.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 `ok`.
    Ok,
    /// 429 with `Retry-After: N` seconds.
    TooMany(u64),
    /// Any status with a body.
    Status(u16, &'static str),
}

/// One request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// When its headers arrived.
    pub at: Instant,
    /// The JSON body.
    pub body: serde_json::Value,
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, VecDeque<Reply>>,
    requests: HashMap<String, Vec<Recorded>>,
}

/// The running stub.
pub struct Stub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    count: watch::Receiver<usize>,
}

impl Stub {
    /// Binds `127.0.0.1:0` and serves on a thread of its own until the test process ends.
    pub fn start() -> Stub {
        let state = Arc::new(Mutex::new(State::default()));
        let (count_tx, count) = watch::channel(0_usize);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("stub runtime");
            runtime.block_on(serve(shared, count_tx, addr_tx));
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(10)).expect("stub bound");
        Stub { addr, state, count }
    }

    /// The URL of `path` on the stub (loopback `http://`, which the config allows).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests to `path` with `replies`, in order.
    pub fn script(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut state = self.state.lock().unwrap();
        state.scripts.entry(path.to_owned()).or_default().extend(replies);
    }

    /// Requests to `path` so far, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<Recorded> {
        self.state
            .lock()
            .unwrap()
            .requests
            .get(path)
            .cloned()
            .unwrap_or_default()
    }

    /// Waits (up to `limit`) until `total` requests arrived on all paths together.
    pub async fn wait_for_total(&self, total: usize, limit: Duration) {
        let mut count = self.count.clone();
        let reached = tokio::time::timeout(limit, count.wait_for(|n| *n >= total)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "stub got {} requests, expected {total} within {limit:?}",
            *self.count.borrow()
        );
    }
}

async fn serve(state: Arc<Mutex<State>>, count: watch::Sender<usize>, addr_tx: std::sync::mpsc::Sender<SocketAddr>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind stub");
    addr_tx
        .send(listener.local_addr().expect("stub addr"))
        .expect("send addr");
    let count = Arc::new(count);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let count = Arc::clone(&count);
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&state), Arc::clone(&count), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    count: Arc<watch::Sender<usize>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let at = Instant::now();
    let path = request.uri().path().to_owned();
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(http_body_util::Collected::to_bytes)
        .unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    let reply = {
        let mut state = state.lock().unwrap();
        state
            .requests
            .entry(path.clone())
            .or_default()
            .push(Recorded { at, body });
        state
            .scripts
            .get_mut(&path)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Reply::Ok)
    };
    count.send_modify(|n| *n += 1);
    let response = match reply {
        Reply::Ok => Response::new(Full::new(Bytes::from_static(b"ok"))),
        Reply::TooMany(seconds) => Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header("retry-after", seconds.to_string())
            .body(Full::new(Bytes::from_static(b"rate_limited")))
            .unwrap(),
        Reply::Status(code, text) => Response::builder()
            .status(code)
            .body(Full::new(Bytes::from_static(text.as_bytes())))
            .unwrap(),
    };
    Ok(response)
}
