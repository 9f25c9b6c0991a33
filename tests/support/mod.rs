//! Shared pieces of the server tests: a real TLS client (tokio-rustls, `ring` provider) speaking
//! HTTP/1.1, an in-process server on `127.0.0.1:0` with its development CA in a temporary folder,
//! certificate helpers, fixtures, metric lookups and a background traffic loop.
//!
//! HTTP/1.1 is written and parsed here by hand: the crate's `hyper` dependency has only the
//! `http1`, `http2` and `server` features, so `hyper::client::conn::http1` is not available to the
//! tests (a `client` feature would be needed).

// Shared by several test crates; each uses a different part.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore, SupportedProtocolVersion};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use celgate::config::{Limits, ServeConfig};
use celgate::server::tls::{self, CertWatcher, TlsSettings, TlsVersion};
use celgate::server::{PackSourceSpec, Reloader, ServerState};

/// Longest a single client exchange may take before it counts as failed.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest a test waits for something to happen (a reload, a metric, a log line).
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The name the test certificates are issued for and clients ask for (SNI).
pub const SERVER_NAME: &str = "localhost";

// ---------------------------------------------------------------------------------------------
// Fixtures

/// The crate root.
pub fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The small pack with deny, warn, audit and patch rules.
pub fn basic_pack_dir() -> PathBuf {
    manifest_dir().join("tests/fixtures/packs/basic")
}

/// Whether the client program `name` (curl, go) runs here. A missing one fails the test when
/// `CELGATE_REQUIRE_CLIENTS=1` (`.ci/run`, which installs them); elsewhere the test says why and
/// passes, so `cargo test` works with only the Rust toolchain.
pub fn client_available(name: &str) -> bool {
    // Only whether it starts: `curl version` would try to reach a host called `version`.
    let found = std::process::Command::new(name).arg("--version").output().is_ok();
    if found {
        return true;
    }
    let required = std::env::var("CELGATE_REQUIRE_CLIENTS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "CELGATE_REQUIRE_CLIENTS=1, but {name} is not on PATH (.ci/run installs it with apt-get)"
    );
    eprintln!("skipping: {name} is not on PATH (CELGATE_REQUIRE_CLIENTS=1 makes this a failure)");
    false
}

/// Writes `dir/celgate.yaml` with one tenant, `acme` (namespaces `acme-*`), whose check-API
/// token is `token`, and returns its path.
pub fn one_tenant_config(dir: &Path, token: &str) -> PathBuf {
    let config = dir.join("celgate.yaml");
    let hash = celgate::tenant::token::to_hex(&celgate::tenant::token::hash(token));
    let text = format!("tenants:\n  - name: acme\n    namespaces: ['acme-*']\n    tokens: [{{sha256: {hash}}}]\n");
    std::fs::write(&config, text).expect("write celgate.yaml");
    config
}

/// The bytes of `tests/fixtures/admission/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = manifest_dir().join("tests/fixtures/admission").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `tests/fixtures/admission/<name>` as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// `request.uid` of an `AdmissionReview` fixture.
pub fn fixture_uid(name: &str) -> String {
    fixture_json(name)["request"]["uid"]
        .as_str()
        .expect("fixture has a uid")
        .to_owned()
}

/// Writes `contents` next to `path` and renames it over `path`: readers see old or new, never
/// a partial file. The temporary name does not end in `.yaml`, so pack discovery skips it.
pub fn write_atomically(path: &Path, contents: &[u8]) {
    let tmp = path.with_extension("tmp-write");
    std::fs::write(&tmp, contents).expect("write temporary file");
    std::fs::rename(&tmp, path).expect("rename over the target");
}

// ---------------------------------------------------------------------------------------------
// Certificates

/// A client certificate and its key, PEM.
pub struct Identity {
    /// Certificate chain, leaf first.
    pub cert_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

/// A certificate authority made by the test (for client certificates).
pub struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    /// A new self-signed CA.
    pub fn new(common_name: &str) -> Ca {
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("CA key");
        Ca(CertifiedIssuer::self_signed(params, key).expect("CA certificate"))
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> String {
        self.0.pem()
    }

    /// A client-authentication certificate for `name`, signed by this CA.
    pub fn client_identity(&self, name: &str) -> Identity {
        let mut params = CertificateParams::new(vec![name.to_owned()]).expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("client key");
        let cert = params.signed_by(&key, &self.0).expect("client certificate");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// The DER of the first certificate in a PEM file (what a client sees as the peer certificate).
pub fn leaf_der(pem_file: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem_file)
        .unwrap_or_else(|e| panic!("{}: {e}", pem_file.display()))
        .to_vec()
}

/// A client configuration (`ring` provider) trusting the CA certificates in `ca_pems`, limited
/// to `versions`, with a client certificate when `identity` is given; ALPN `http/1.1`.
pub fn client_config(
    ca_pems: &[&[u8]],
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<&Identity>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pem in ca_pems {
        for cert in CertificateDer::pem_slice_iter(pem) {
            roots.add(cert.expect("CA PEM")).expect("CA is a usable root");
        }
    }
    let builder = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(id.cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client certificate PEM"),
                PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).expect("client key PEM"),
            )
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1

/// A response as read off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
    /// DER of the server's leaf certificate (empty on plain connections).
    pub peer_certificate: Vec<u8>,
}

impl Response {
    /// The first header named `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("status {}: body is not JSON ({e}): {}", self.status, self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn protocol_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

async fn timed<T>(what: &str, fut: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(IO_TIMEOUT, fut).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{what}: no answer within {IO_TIMEOUT:?}"),
        )
    })?
}

/// The head of a request (`Host: localhost`, `Content-Length` when there is a body).
pub fn request_head(method: &str, path: &str, content_type: Option<&str>, body_len: usize, close: bool) -> String {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n");
    if let Some(ct) = content_type {
        let _ = write!(head, "Content-Type: {ct}\r\n");
    }
    if body_len > 0 || method == "POST" {
        let _ = write!(head, "Content-Length: {body_len}\r\n");
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head
}

/// One HTTP/1.1 connection over any stream (plain TCP or TLS).
pub struct Conn<S> {
    io: BufReader<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    /// Wraps a connected stream.
    pub fn new(stream: S) -> Self {
        Conn {
            io: BufReader::new(stream),
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &S {
        self.io.get_ref()
    }

    /// Writes `bytes` and flushes.
    pub async fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await
    }

    /// Sends one request and reads its response; `close` asks the server to close afterwards.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
        close: bool,
    ) -> io::Result<Response> {
        let mut bytes = request_head(method, path, content_type, body.len(), close).into_bytes();
        bytes.extend_from_slice(body);
        self.write_raw(&bytes).await?;
        self.read_response().await
    }

    /// Reads one response (body by `Content-Length`, chunked, or up to the end of the stream).
    pub async fn read_response(&mut self) -> io::Result<Response> {
        let mut line = String::new();
        if self.io.read_line(&mut line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| protocol_error(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            line.clear();
            if self.io.read_line(&mut line).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed in headers",
                ));
            }
            let header = line.trim_end_matches(['\r', '\n']);
            if header.is_empty() {
                break;
            }
            let (name, value) = header
                .split_once(':')
                .ok_or_else(|| protocol_error(format!("bad header line {header:?}")))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            peer_certificate: Vec::new(),
        };
        if let Some(len) = response.header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| protocol_error(format!("bad Content-Length {len:?}")))?;
            response.body.resize(len, 0);
            self.io.read_exact(&mut response.body).await?;
        } else if response
            .header("transfer-encoding")
            .is_some_and(|te| te.eq_ignore_ascii_case("chunked"))
        {
            response.body = self.read_chunked().await?;
        } else {
            self.io.read_to_end(&mut response.body).await?;
        }
        Ok(response)
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            self.io.read_line(&mut line).await?;
            let size = line.trim().split(';').next().unwrap_or("");
            let size =
                usize::from_str_radix(size, 16).map_err(|_| protocol_error(format!("bad chunk size line {line:?}")))?;
            let start = body.len();
            body.resize(start + size, 0);
            self.io.read_exact(&mut body[start..]).await?;
            line.clear();
            self.io.read_line(&mut line).await?;
            if size == 0 {
                return Ok(body);
            }
        }
    }

    /// Waits until the server closes the connection (end of stream or an error) and returns
    /// what was read before that; `Err` when it is still open after `limit`.
    pub async fn wait_closed(&mut self, limit: Duration) -> Result<Vec<u8>, String> {
        let mut seen = Vec::new();
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                match self.io.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        };
        match tokio::time::timeout(limit, read).await {
            Ok(()) => Ok(seen),
            Err(_) => Err(format!("still open after {limit:?}")),
        }
    }
}

/// A TLS connection to the server.
pub type TlsConn = Conn<TlsStream<TcpStream>>;

impl TlsConn {
    /// DER of the server's leaf certificate.
    pub fn peer_certificate(&self) -> Vec<u8> {
        self.get_ref()
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.to_vec())
            .unwrap_or_default()
    }

    /// The negotiated TLS version.
    pub fn protocol_version(&self) -> Option<ProtocolVersion> {
        self.get_ref().get_ref().1.protocol_version()
    }
}

/// A TLS client for one server address.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    connector: TlsConnector,
}

impl Client {
    /// A client for `addr` with `config`.
    pub fn new(addr: SocketAddr, config: Arc<ClientConfig>) -> Client {
        Client {
            addr,
            connector: TlsConnector::from(config),
        }
    }

    /// A new TCP connection and TLS handshake.
    pub async fn connect(&self) -> io::Result<TlsConn> {
        timed("connect", async {
            let tcp = TcpStream::connect(self.addr).await?;
            let name = ServerName::try_from(SERVER_NAME).expect("server name");
            let tls = self.connector.connect(name, tcp).await?;
            Ok(Conn::new(tls))
        })
        .await
    }

    /// One request on a new connection (`Connection: close`).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> io::Result<Response> {
        timed(path, async {
            let mut conn = self.connect().await?;
            let mut response = conn.request(method, path, content_type, body, true).await?;
            response.peer_certificate = conn.peer_certificate();
            Ok(response)
        })
        .await
    }

    /// One request with extra header lines (e.g. `Authorization`) on a new connection.
    pub async fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        timed(path, async {
            let mut conn = self.connect().await?;
            let head = request_head(method, path, Some("application/json"), body.len(), true);
            let extra = headers.iter().fold(String::new(), |mut out, (k, v)| {
                let _ = write!(out, "{k}: {v}\r\n");
                out
            });
            let mut bytes = head.replacen("\r\n\r\n", &format!("\r\n{extra}\r\n"), 1).into_bytes();
            bytes.extend_from_slice(body);
            conn.write_raw(&bytes).await?;
            conn.read_response().await
        })
        .await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &[u8]) -> io::Result<Response> {
        self.send("POST", path, Some("application/json"), body).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> io::Result<Response> {
        self.send("GET", path, None, b"").await
    }

    /// Posts an `AdmissionReview` and returns the response review; panics unless it is a 200.
    pub async fn review(&self, path: &str, body: &[u8]) -> Value {
        let response = self.post(path, body).await.expect("request succeeds");
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("application/json"));
        response.json()
    }
}

/// `GET path` on the plain-HTTP admin port.
pub async fn admin_get(addr: SocketAddr, path: &str) -> io::Result<Response> {
    timed(path, async {
        let tcp = TcpStream::connect(addr).await?;
        Conn::new(tcp).request("GET", path, None, b"", true).await
    })
    .await
}

/// The value of one integer series (`name{labels}` exactly as rendered: counters, gauges,
/// histogram counts) in a metrics exposition.
pub fn metric_value(exposition: &str, series: &str) -> Option<u64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    })
}

/// Polls `probe` every 10 ms until it is true; panics after [`WAIT_TIMEOUT`].
pub async fn eventually<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        if probe().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT_TIMEOUT:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// How to start a [`TestServer`].
pub struct Options {
    /// Protection limits.
    pub limits: Limits,
    /// Lowest TLS version accepted.
    pub min_version: TlsVersion,
    /// Require client certificates signed by the CA in this file.
    pub client_ca_file: Option<PathBuf>,
    /// The packs served.
    pub packs: PackSourceSpec,
    /// Run the reload loop with this interval (no reloads when `None`).
    pub reload_interval: Option<Duration>,
    /// Serve the pair in this folder; a fresh development pair in a temporary folder otherwise.
    pub cert_dir: Option<PathBuf>,
    /// `celgate.yaml` whose tenancy sections apply (and are reloaded with the packs).
    pub config_file: Option<PathBuf>,
    /// The audit trail, as the `audit:` section would configure it.
    pub audit: Option<celgate::audit::AuditConfig>,
    /// Slack alerts, as the `slack:` section would configure them (URLs from files).
    pub slack: Option<celgate::notify::SlackConfig>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: ServeConfig::default().limits,
            min_version: TlsVersion::V1_2,
            client_ca_file: None,
            packs: PackSourceSpec::Paths(vec![basic_pack_dir()]),
            reload_interval: None,
            cert_dir: None,
            config_file: None,
            audit: None,
            slack: None,
        }
    }
}

/// `celgate::server::serve` running in a task, on `127.0.0.1:0`, stopped through a `oneshot`.
pub struct TestServer {
    /// The TLS address.
    pub addr: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
    /// The shared state (engine, TLS config, metrics).
    pub state: Arc<ServerState>,
    /// Where `tls.crt` and `tls.key` are.
    pub cert_dir: PathBuf,
    /// `ca.crt` of the serving pair (PEM).
    pub ca_pem: Vec<u8>,
    shutdown: Option<oneshot::Sender<()>>,
    serving: Option<JoinHandle<()>>,
    reloads: Option<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server with the basic pack, a development pair and default limits.
    pub async fn start_default() -> TestServer {
        TestServer::start(Options::default()).await
    }

    /// Starts a server as `options` say; it is serving when this returns.
    pub async fn start(options: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert_dir = options.cert_dir.unwrap_or_else(|| dir.path().join("certs"));
        let mut settings = TlsSettings::new(&cert_dir);
        settings.min_version = options.min_version;
        settings.client_ca_file = options.client_ca_file;
        tls::ensure_dev_certificates(&settings).expect("development certificates");
        let ca_pem = std::fs::read(cert_dir.join(tls::CA_CERT_FILE)).expect("ca.crt next to the pair");
        let loaded = tls::load(&settings).expect("TLS configuration loads");
        let watcher = CertWatcher::new(settings, loaded.fingerprint);
        let mut reloader =
            Reloader::new(options.packs, Vec::new(), Some(watcher)).with_cost_limits(options.limits.cel_cost);
        if let Some(path) = options.config_file {
            reloader = reloader.with_config(path);
        }
        let engine = reloader.load_packs().expect("packs load").expect("packs found");
        let tenancy = reloader
            .load_tenancy(&engine)
            .expect("tenancy loads")
            .unwrap_or_default();
        if let Some(slack) = &options.slack {
            reloader = reloader.with_certificate_warning_days(slack.certificate_warning_days);
        }
        let state = ServerState::with_outputs(engine, loaded.config, options.limits, |registry| {
            let notifier = options.slack.as_ref().map(|slack| {
                let resolved = slack.resolve(&|_| None).expect("slack config resolves");
                celgate::notify::Notifier::start(&resolved, registry)
            });
            let audit = options
                .audit
                .as_ref()
                .map(|audit| celgate::audit::AuditLog::start(audit, registry))
                .transpose()?;
            Ok::<_, celgate::audit::AuditError>(celgate::server::Outputs { audit, notifier })
        })
        .expect("outputs start");
        state.tenancy.store(Arc::new(tenancy));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind admin");
        let addr = listener.local_addr().expect("address");
        let admin = admin_listener.local_addr().expect("admin address");
        let (shutdown, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(celgate::server::serve(
            listener,
            admin_listener,
            Arc::clone(&state),
            async move {
                let _ = stopped.await;
            },
            Duration::from_secs(2),
        ));
        let reloads = options
            .reload_interval
            .map(|interval| tokio::spawn(celgate::server::run_reloads(reloader, Arc::clone(&state), interval)));
        TestServer {
            addr,
            admin,
            state,
            cert_dir,
            ca_pem,
            shutdown: Some(shutdown),
            serving: Some(serving),
            reloads,
            _dir: dir,
        }
    }

    /// A client trusting the serving CA (TLS 1.2 and 1.3, no client certificate).
    pub fn client(&self) -> Client {
        Client::new(self.addr, client_config(&[&self.ca_pem], rustls::ALL_VERSIONS, None))
    }

    /// `/metrics` from the admin port.
    pub async fn metrics(&self) -> String {
        let response = admin_get(self.admin, "/metrics").await.expect("GET /metrics");
        assert_eq!(response.status, 200);
        response.text()
    }

    /// One integer series from `/metrics`; 0 when absent.
    pub async fn metric(&self, series: &str) -> u64 {
        metric_value(&self.metrics().await, series).unwrap_or(0)
    }

    /// Completes the shutdown future and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.serving.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("serve returns after shutdown")
                .expect("serve does not panic");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = &self.reloads {
            task.abort();
        }
        if let Some(task) = &self.serving {
            task.abort();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Background traffic

/// What one background request saw.
#[derive(Debug)]
pub struct Sample {
    /// The response (with the peer certificate), or why the request failed.
    pub outcome: Result<Response, String>,
}

/// Requests sent one after another on new connections until stopped.
pub struct Traffic {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<Sample>>,
}

impl Traffic {
    /// Starts posting `body` to `path` in a loop.
    pub fn start(client: Client, path: &'static str, body: Vec<u8>) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Acquire) {
                let outcome = client.post(path, &body).await.map_err(|e| e.to_string());
                samples.push(Sample { outcome });
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            samples
        });
        Traffic { stop, task }
    }

    /// Stops the loop and returns every sample in order.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Release);
        self.task.await.expect("traffic task")
    }
}
