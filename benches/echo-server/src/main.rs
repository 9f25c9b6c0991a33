//! Echo server: the ceiling for celgate's load benchmark (`scripts/load-bench.sh`).
//!
//! Serves `tls.crt` and `tls.key` from a certificate folder (the one `celgate serve` created)
//! over HTTP/1.1 with the same stack as celgate (tokio, hyper 1, rustls with ring, `TCP_NODELAY`,
//! keep-alive) and answers every POST with its request body, streamed back as it arrives.
//! Other methods get 405. No parsing, no evaluation: what is left is TLS and HTTP.
//!
//! Usage: `echo-server ADDR CERT_DIR` (ADDR may use port 0); prints
//! `echo-server listening on HOST:PORT` on stdout once bound.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn tls_config(dir: &Path) -> Result<rustls::ServerConfig, BoxError> {
    let certs = CertificateDer::pem_file_iter(dir.join("tls.crt"))?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(dir.join("tls.key"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The request body becomes the response body (an empty one for methods other than POST).
async fn echo(req: Request<Incoming>) -> Result<Response<Incoming>, Infallible> {
    let (parts, body) = req.into_parts();
    let mut response = Response::new(body);
    if parts.method != Method::POST {
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    } else if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        response.headers_mut().insert(CONTENT_TYPE, content_type.clone());
    }
    Ok(response)
}

async fn serve(addr: &str, acceptor: TlsAcceptor) -> Result<(), BoxError> {
    let listener = TcpListener::bind(addr).await?;
    println!("echo-server listening on {}", listener.local_addr()?);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(tls), service_fn(echo))
                .await;
        });
    }
}

fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(dir), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: echo-server ADDR CERT_DIR");
        std::process::exit(2);
    };
    let acceptor = TlsAcceptor::from(Arc::new(tls_config(Path::new(&dir))?));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve(&addr, acceptor))
}
