//! The attacking client of `scripts/redteam-soak.sh` (issue 15): connections and HTTP/2 streams
//! that send most of a body and stop, and concurrent posts of one file. It prints one line of
//! results per attack; the script samples the server's RSS meanwhile.
//!
//! ```text
//! redteam-client ADDR CA_PEM stall-h1 CONNECTIONS BYTES HOLD_SECONDS
//! redteam-client ADDR CA_PEM stall-h2 STREAMS BYTES HOLD_SECONDS
//! redteam-client ADDR CA_PEM post PATH CONTENT_TYPE FILE CONCURRENT
//! ```
//!
//! Only for loopback tests of a server you run yourself.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A body that sends `remaining` bytes of spaces, then never ends.
struct Stalling {
    remaining: usize,
}

impl Body for Stalling {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.remaining == 0 {
            return Poll::Pending;
        }
        let n = self.remaining.min(16 * 1024);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
    }
}

fn connector(ca: &str, alpn: &[u8]) -> Result<TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca)? {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn tls(addr: &str, connector: &TlsConnector) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Error> {
    let tcp = TcpStream::connect(addr).await?;
    Ok(connector.connect(ServerName::try_from("localhost")?, tcp).await?)
}

/// `connections` HTTP/1.1 connections each declare `bytes + 1` bytes of body to `/validate`,
/// send `bytes`, and wait for an answer up to `hold`.
async fn stall_h1(addr: &str, connector: TlsConnector, connections: usize, bytes: usize, hold: Duration) {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, connector) = (addr.to_owned(), connector.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = tls(&addr, &connector).await.map_err(|e| e.to_string())?;
            let head = format!(
                "POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                bytes + 1
            );
            stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < bytes {
                let n = chunk.len().min(bytes - sent);
                if stream.write_all(&chunk[..n]).await.is_err() {
                    break; // answered and closed early
                }
                sent += n;
            }
            let mut answer = vec![0u8; 512];
            match tokio::time::timeout(hold, stream.read(&mut answer)).await {
                Ok(Ok(n)) if n > 0 => {
                    let text = String::from_utf8_lossy(&answer[..n]).to_string();
                    Ok(text.split_whitespace().nth(1).unwrap_or("?").to_owned())
                }
                Ok(_) => Ok("closed".to_owned()),
                Err(_) => Ok("no answer".to_owned()),
            }
        }));
    }
    report("stall-h1", tasks).await;
}

/// One HTTP/2 connection with `streams` streams, each sending `bytes` of a body one byte longer
/// to `/validate`, then nothing, waiting for an answer up to `hold`.
async fn stall_h2(addr: &str, connector: TlsConnector, streams: usize, bytes: usize, hold: Duration) {
    let stream = match tls(addr, &connector).await {
        Ok(s) => s,
        Err(e) => return println!("stall-h2: cannot connect: {e}"),
    };
    let (sender, connection) =
        match hyper::client::conn::http2::handshake::<_, _, Stalling>(TokioExecutor::new(), TokioIo::new(stream)).await
        {
            Ok(pair) => pair,
            Err(e) => return println!("stall-h2: handshake failed: {e}"),
        };
    tokio::spawn(connection);
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut sender = sender.clone();
        tasks.push(tokio::spawn(async move {
            let request = http::Request::post(format!("https://localhost{}", "/validate"))
                .header("content-type", "application/json")
                .header("content-length", (bytes + 1).to_string())
                .body(Stalling { remaining: bytes })
                .map_err(|e| e.to_string())?;
            match tokio::time::timeout(hold, sender.send_request(request)).await {
                Ok(Ok(response)) => {
                    let status = response.status().as_u16().to_string();
                    let _ = response.into_body().collect().await;
                    Ok(status)
                }
                Ok(Err(e)) => Ok(format!("error: {e}")),
                Err(_) => Ok("no answer".to_owned()),
            }
        }));
    }
    report("stall-h2", tasks).await;
}

/// `concurrent` HTTP/1.1 posts of `file` to `path` at once; statuses and the slowest time.
async fn post(addr: &str, connector: TlsConnector, path: &str, content_type: &str, file: &str, concurrent: usize) {
    let body = match std::fs::read(file) {
        Ok(b) => Bytes::from(b),
        Err(e) => return println!("post: {file}: {e}"),
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrent {
        let (addr, connector, body) = (addr.to_owned(), connector.clone(), body.clone());
        let (path, content_type) = (path.to_owned(), content_type.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut stream = tls(&addr, &connector).await.map_err(|e| e.to_string())?;
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
            let _ = stream.write_all(&body).await;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
            let text = String::from_utf8_lossy(&answer[..answer.len().min(64)]).to_string();
            let status = text.split_whitespace().nth(1).unwrap_or("closed").to_owned();
            Ok(format!("{status} ({} KB answer)", answer.len() / 1024))
        }));
    }
    report("post", tasks).await;
    println!("post: all answered in {:.2} s", started.elapsed().as_secs_f64());
}

async fn report(what: &str, tasks: Vec<tokio::task::JoinHandle<Result<String, String>>>) {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let outcome = match task.await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => format!("error: {e}"),
            Err(e) => format!("task: {e}"),
        };
        *counts.entry(outcome).or_insert(0) += 1;
    }
    println!("{what}: {counts:?}");
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map_or("", String::as_str)
}

fn number(args: &[String], i: usize) -> usize {
    arg(args, i).parse().unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (addr, ca, mode) = (arg(&args, 1), arg(&args, 2), arg(&args, 3));
    let alpn: &[u8] = if mode == "stall-h2" { b"h2" } else { b"http/1.1" };
    let connector = match connector(ca, alpn) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("redteam-client: {ca}: {e}");
            std::process::exit(2);
        }
    };
    let hold = Duration::from_secs(number(&args, 6) as u64);
    match mode {
        "stall-h1" => stall_h1(addr, connector, number(&args, 4), number(&args, 5), hold).await,
        "stall-h2" => stall_h2(addr, connector, number(&args, 4), number(&args, 5), hold).await,
        "post" => {
            let (path, content_type, file) = (arg(&args, 4), arg(&args, 5), arg(&args, 6));
            post(addr, connector, path, content_type, file, number(&args, 7).max(1)).await;
        }
        _ => {
            eprintln!(
                "usage: redteam-client ADDR CA_PEM (stall-h1|stall-h2) N BYTES HOLD_SECONDS | post PATH TYPE FILE N"
            );
            std::process::exit(2);
        }
    }
}
