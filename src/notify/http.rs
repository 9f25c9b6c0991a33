//! The HTTP client that posts to Slack: one HTTP/1.1 connection per message (at about one message
//! per second per webhook, keeping connections open buys little), TLS through tokio-rustls with
//! the `ring` provider and Mozilla's roots (`webpki-roots`), deadlines on connect and on the whole
//! request. The URL is never put in an error: errors name what failed, callers name the webhook.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST, RETRY_AFTER, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;

use super::url::WebhookUrl;

/// Most of a response body kept (Slack's error bodies are short words like `invalid_payload`).
const MAX_REPLY_BYTES: usize = 4096;

/// What Slack answered.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: StatusCode,
    /// `Retry-After` in seconds, when given.
    pub(crate) retry_after: Option<Duration>,
    /// The body (up to 4 KiB, lossy UTF-8).
    pub(crate) body: String,
}

/// Why a post got no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PostError {
    /// TCP connect failed.
    #[error("connect failed")]
    Connect(#[source] std::io::Error),
    /// TCP connect or TLS handshake took too long.
    #[error("connect timed out")]
    ConnectTimeout,
    /// No TLS client could be built at start.
    #[error("TLS is not available")]
    TlsSetup(#[source] Arc<rustls::Error>),
    /// The host is not a valid TLS server name.
    #[error("host is not a valid TLS server name")]
    ServerName(#[source] rustls::pki_types::InvalidDnsNameError),
    /// The TLS handshake failed (certificate, protocol).
    #[error("TLS handshake failed")]
    Tls(#[source] std::io::Error),
    /// The HTTP exchange failed.
    #[error("HTTP exchange failed")]
    Http(#[source] hyper::Error),
    /// The request could not be built.
    #[error("request could not be built")]
    Request(#[source] http::Error),
    /// The whole request took too long.
    #[error("request timed out")]
    Timeout,
}

/// Posts JSON bodies to webhook URLs.
pub(crate) struct HttpClient {
    tls: Result<TlsConnector, Arc<rustls::Error>>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl HttpClient {
    /// A client with the given deadlines.
    pub(crate) fn new(connect_timeout: Duration, request_timeout: Duration) -> HttpClient {
        HttpClient {
            tls: tls_connector(),
            connect_timeout,
            request_timeout,
        }
    }

    /// Posts `body` as JSON to `url`.
    pub(crate) async fn post(&self, url: &WebhookUrl, body: Bytes) -> Result<Reply, PostError> {
        timeout(self.request_timeout, self.exchange(url, body))
            .await
            .map_err(|_| PostError::Timeout)?
    }

    async fn exchange(&self, url: &WebhookUrl, body: Bytes) -> Result<Reply, PostError> {
        let tcp = timeout(self.connect_timeout, TcpStream::connect((url.host(), url.port())))
            .await
            .map_err(|_| PostError::ConnectTimeout)?
            .map_err(PostError::Connect)?;
        // Small JSON bodies: do not wait for Nagle.
        let _ = tcp.set_nodelay(true);
        if url.is_tls() {
            let connector = self.tls.as_ref().map_err(|e| PostError::TlsSetup(Arc::clone(e)))?;
            let name = ServerName::try_from(url.host().to_owned()).map_err(PostError::ServerName)?;
            let stream = timeout(self.connect_timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| PostError::ConnectTimeout)?
                .map_err(PostError::Tls)?;
            send(TokioIo::new(stream), url, body).await
        } else {
            send(TokioIo::new(tcp), url, body).await
        }
    }
}

async fn send<I>(io: I, url: &WebhookUrl, body: Bytes) -> Result<Reply, PostError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(PostError::Http)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let authority = url.uri().authority().map_or(url.host(), http::uri::Authority::as_str);
    let path = url.uri().path_and_query().map_or("/", http::uri::PathAndQuery::as_str);
    let request = Request::post(path)
        .header(HOST, authority)
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(USER_AGENT, concat!("celgate/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))
        .map_err(PostError::Request)?;
    let result = sender.send_request(request).await;
    let reply = match result {
        Ok(response) => {
            let status = response.status();
            let retry_after = response
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = match Limited::new(response.into_body(), MAX_REPLY_BYTES).collect().await {
                Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
                Err(_) => String::new(),
            };
            Ok(Reply {
                status,
                retry_after,
                body,
            })
        }
        Err(e) => Err(PostError::Http(e)),
    };
    driver.abort();
    reply
}

fn tls_connector() -> Result<TlsConnector, Arc<rustls::Error>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(Arc::new)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
