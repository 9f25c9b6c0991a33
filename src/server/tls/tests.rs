//! Tests for the TLS layer: real files in temporary folders and real handshakes over an in-memory
//! duplex stream.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::devcert::{issue, new_ca};
use super::*;

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

type Ca = CertifiedIssuer<'static, KeyPair>;

fn test_ca() -> Ca {
    new_ca("test CA", YEAR).expect("CA")
}

fn server_leaf(ca: &Ca, names: &[&str]) -> (String, String) {
    let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
    issue(ca, &names, ExtendedKeyUsagePurpose::ServerAuth, YEAR).expect("leaf")
}

fn client_leaf(ca: &Ca) -> (String, String) {
    issue(ca, &["client".to_owned()], ExtendedKeyUsagePurpose::ClientAuth, YEAR).expect("client leaf")
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    fs::write(dir.join(CERT_FILE), cert).expect("write tls.crt");
    fs::write(dir.join(KEY_FILE), key).expect("write tls.key");
}

fn settings(dir: &Path) -> TlsSettings {
    TlsSettings::new(dir)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client trusting the CA certificates in `ca_pem`, limited to `versions`, optionally with a
/// client certificate.
fn client(
    ca_pem: &str,
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<(&str, &str)>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("root");
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                CertificateDer::pem_slice_iter(cert.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .expect("client cert"),
                PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("client key"),
            )
            .expect("client identity"),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

fn all_versions() -> &'static [&'static SupportedProtocolVersion] {
    rustls::ALL_VERSIONS
}

/// What a successful exchange saw from the client side.
#[derive(Debug)]
struct Seen {
    chain_len: usize,
    alpn: Option<Vec<u8>>,
}

/// A handshake plus one message from server to client; `Err` names the side that failed.
async fn exchange(server: Arc<ServerConfig>, client: Arc<ClientConfig>, name: &str) -> Result<Seen, String> {
    let (client_io, server_io) = tokio::io::duplex(1 << 16);
    let server_name = ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?;
    let server_side = async move {
        let mut tls = TlsAcceptor::from(server)
            .accept(server_io)
            .await
            .map_err(|e| format!("server: {e}"))?;
        tls.write_all(b"hi").await.map_err(|e| format!("server write: {e}"))?;
        tls.shutdown().await.map_err(|e| format!("server shutdown: {e}"))
    };
    let client_side = async move {
        let mut tls = TlsConnector::from(client)
            .connect(server_name, client_io)
            .await
            .map_err(|e| format!("client: {e}"))?;
        let (_, conn) = tls.get_ref();
        let seen = Seen {
            chain_len: conn.peer_certificates().map_or(0, <[_]>::len),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf)
            .await
            .map_err(|e| format!("client read: {e}"))?;
        if buf == b"hi" {
            Ok(seen)
        } else {
            Err(format!("client read {buf:?}"))
        }
    };
    let (server_result, client_result) = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::join!(server_side, client_side)
    })
    .await
    .map_err(|_| "timed out".to_owned())?;
    match (server_result, client_result) {
        (Ok(()), Ok(seen)) => Ok(seen),
        (server, client) => Err(format!("{:?} / {:?}", server.err(), client.err())),
    }
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn tls_version_parses() {
    assert_eq!("1.2".parse::<TlsVersion>(), Ok(TlsVersion::V1_2));
    assert_eq!(" 1.3 ".parse::<TlsVersion>(), Ok(TlsVersion::V1_3));
    assert_eq!("VersionTLS13".parse::<TlsVersion>(), Ok(TlsVersion::V1_3));
    let err = "1.1".parse::<TlsVersion>().expect_err("1.1 is refused");
    assert!(err.to_string().contains("'1.1'"), "{err}");
    assert_eq!(TlsVersion::V1_3.to_string(), "1.3");
    assert_eq!(TlsVersion::default(), TlsVersion::V1_2);
}

#[tokio::test]
async fn dev_certificates_are_created_private_and_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("certs");
    let mut settings = settings(&dir);
    settings.dns_names = vec!["celgate.test".to_owned(), "localhost".to_owned()];

    let ca_path = ensure_dev_certificates(&settings).expect("created").expect("new files");
    assert_eq!(ca_path, dir.join(CA_CERT_FILE));
    for file in [CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    }
    // A second call leaves the pair alone.
    let before = fs::read(dir.join(CERT_FILE)).expect("read");
    assert_eq!(ensure_dev_certificates(&settings).expect("second call"), None);
    assert_eq!(fs::read(dir.join(CERT_FILE)).expect("read"), before);

    let config = load_server_config(&settings).expect("dev pair loads");
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    let ca_pem = fs::read_to_string(&ca_path).expect("ca.crt");
    for name in ["localhost", "127.0.0.1", "::1", "celgate.test"] {
        let seen = exchange(Arc::clone(&config), client(&ca_pem, all_versions(), None), name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(seen.chain_len, 1);
        assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    }
    let err = exchange(config, client(&ca_pem, all_versions(), None), "other.test")
        .await
        .expect_err("a name not in the certificate");
    assert!(err.contains("client: invalid peer certificate"), "{err}");
}

#[test]
fn dev_certificates_refuse_half_a_pair() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, _) = server_leaf(&ca, &["localhost"]);
    fs::write(tmp.path().join(CERT_FILE), cert).expect("write");
    let err = ensure_dev_certificates(&settings(tmp.path())).expect_err("half a pair");
    assert!(matches!(err, TlsError::HalfWritten { .. }), "{err:?}");
    assert!(err.to_string().contains(KEY_FILE), "{err}");
    assert!(!tmp.path().join(CA_CERT_FILE).exists());

    let err = load_server_config(&settings(tmp.path())).expect_err("half a pair");
    assert!(matches!(err, TlsError::HalfWritten { .. }), "{err:?}");
}

#[tokio::test]
async fn chain_with_intermediate_is_served_whole() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let root_key = KeyPair::generate().expect("key");
    let mut root_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.distinguished_name.push(rcgen::DnType::CommonName, "root");
    let root = CertifiedIssuer::self_signed(root_params, root_key).expect("root");
    let mut mid_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    mid_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    mid_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "intermediate");
    mid_params.use_authority_key_identifier_extension = true;
    let mid = CertifiedIssuer::signed_by(mid_params, KeyPair::generate().expect("key"), &root).expect("intermediate");
    let (leaf, key) = server_leaf(&mid, &["localhost"]);
    write_pair(tmp.path(), &format!("{leaf}{}", mid.pem()), &key);

    let config = load_server_config(&settings(tmp.path())).expect("chain loads");
    // The client trusts only the root: the handshake works only if the intermediate is sent.
    let seen = exchange(config, client(&root.pem(), all_versions(), None), "localhost")
        .await
        .expect("handshake");
    assert_eq!(seen.chain_len, 2);
}

#[test]
fn mismatched_key_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, _) = server_leaf(&ca, &["localhost"]);
    let (_, other_key) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert, &other_key);
    let err = load_server_config(&settings(tmp.path())).expect_err("mismatch");
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(KEY_FILE) && message.contains(CERT_FILE), "{message}");
    assert!(message.contains("does not match"), "{message}");
}

#[test]
fn empty_or_garbage_files_are_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, key) = server_leaf(&ca, &["localhost"]);

    write_pair(tmp.path(), &cert, "");
    let err = load_server_config(&settings(tmp.path())).expect_err("empty key");
    assert!(
        matches!(&err, TlsError::Empty { path } if path.ends_with(KEY_FILE)),
        "{err:?}"
    );

    write_pair(tmp.path(), &cert, &cert);
    let err = load_server_config(&settings(tmp.path())).expect_err("no key in tls.key");
    assert!(matches!(err, TlsError::NoPrivateKey { .. }), "{err:?}");

    write_pair(tmp.path(), &key, &key);
    let err = load_server_config(&settings(tmp.path())).expect_err("no cert in tls.crt");
    assert!(
        matches!(&err, TlsError::NoCertificate { path } if path.ends_with(CERT_FILE)),
        "{err:?}"
    );

    let truncated = &cert[..cert.len() / 2];
    write_pair(tmp.path(), truncated, &key);
    let err = load_server_config(&settings(tmp.path())).expect_err("truncated cert");
    assert!(matches!(err, TlsError::Pem { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("no end line"), "{text}");
    assert!(
        text.contains("-----END CERTIFICATE-----"),
        "names the marker as text: {text}"
    );
    assert!(!text.contains("[45, 45"), "no bytes as decimals: {text}");
    write_pair(tmp.path(), "-----BEGIN CERTIFICATE-\n", &key);
    let text = load_server_config(&settings(tmp.path()))
        .expect_err("bad begin")
        .to_string();
    assert!(!text.contains("[45"), "no bytes as decimals: {text}");

    let err = load_server_config(&settings(&tmp.path().join("absent"))).expect_err("no files");
    assert!(matches!(err, TlsError::Missing { .. }), "{err:?}");
}

/// Minimal DER reader: the content of the TLV at the start of `der`, and what follows it.
fn der_tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
    let tag = der[0];
    let (len, header) = match der[1] {
        n if n < 0x80 => (usize::from(n), 2),
        0x81 => (usize::from(der[2]), 3),
        0x82 => (usize::from(der[2]) << 8 | usize::from(der[3]), 4),
        n => panic!("unsupported DER length byte {n:#x}"),
    };
    (tag, &der[header..header + len], &der[header + len..])
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[test]
fn sec1_key_loads() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, key) = server_leaf(&ca, &["localhost"]);
    // PKCS#8 is SEQUENCE { version, algorithm, OCTET STRING { SEC1 ECPrivateKey } }.
    let pkcs8 = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("pkcs8");
    let (_, body, _) = der_tlv(pkcs8.secret_der());
    let (_, _, rest) = der_tlv(body);
    let (_, _, rest) = der_tlv(rest);
    let (tag, sec1, _) = der_tlv(rest);
    assert_eq!(tag, 0x04);
    write_pair(tmp.path(), &cert, &pem_block("EC PRIVATE KEY", sec1));
    load_server_config(&settings(tmp.path())).expect("SEC1 key loads");
}

#[tokio::test]
async fn minimum_tls_13_refuses_a_tls_12_client() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, key) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert, &key);
    let tls12_only = client(&ca.pem(), &[&rustls::version::TLS12], None);

    let mut settings = settings(tmp.path());
    exchange(
        load_server_config(&settings).expect("1.2"),
        Arc::clone(&tls12_only),
        "localhost",
    )
    .await
    .expect("TLS 1.2 accepted with minimum 1.2");

    settings.min_version = TlsVersion::V1_3;
    let config = load_server_config(&settings).expect("1.3");
    let err = exchange(Arc::clone(&config), tls12_only, "localhost")
        .await
        .expect_err("TLS 1.2 refused with minimum 1.3");
    assert!(err.contains("server: peer is incompatible"), "{err}");
    exchange(config, client(&ca.pem(), all_versions(), None), "localhost")
        .await
        .expect("TLS 1.3 accepted");
}

#[tokio::test]
async fn client_ca_verifies_a_presented_client_certificate_and_lets_others_through_to_the_routes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let server_ca = test_ca();
    let (cert, key) = server_leaf(&server_ca, &["localhost"]);
    write_pair(tmp.path(), &cert, &key);
    let client_ca = test_ca();
    let client_ca_path = tmp.path().join("client-ca.crt");
    fs::write(&client_ca_path, client_ca.pem()).expect("write client CA");
    let mut settings = settings(tmp.path());
    settings.client_ca_file = Some(client_ca_path);
    let config = load_server_config(&settings).expect("loads");

    assert!(super::requires_admission_client_certificate(&config));
    let plain = load_server_config(&TlsSettings::new(tmp.path())).expect("loads");
    assert!(!super::requires_admission_client_certificate(&plain));

    // No certificate: the handshake completes; `/validate` and `/mutate` refuse it per route.
    exchange(
        Arc::clone(&config),
        client(&server_ca.pem(), all_versions(), None),
        "localhost",
    )
    .await
    .expect("a client without a certificate completes the handshake");

    let stranger = client_leaf(&new_ca("stranger CA", YEAR).expect("CA"));
    let err = exchange(
        Arc::clone(&config),
        client(&server_ca.pem(), all_versions(), Some((&stranger.0, &stranger.1))),
        "localhost",
    )
    .await
    .expect_err("client certificate from another CA");
    assert!(err.contains("server: invalid peer certificate: UnknownIssuer"), "{err}");

    let (client_cert, client_key) = client_leaf(&client_ca);
    for versions in [all_versions(), &[&rustls::version::TLS12][..]] {
        exchange(
            Arc::clone(&config),
            client(&server_ca.pem(), versions, Some((&client_cert, &client_key))),
            "localhost",
        )
        .await
        .expect("client certificate signed by the client CA");
    }
}

#[test]
fn bad_client_ca_file_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert, key) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert, &key);
    let mut settings = settings(tmp.path());

    settings.client_ca_file = Some(tmp.path().join("missing-ca.crt"));
    let err = load_server_config(&settings).expect_err("missing client CA");
    assert!(
        matches!(&err, TlsError::Missing { path } if path.ends_with("missing-ca.crt")),
        "{err:?}"
    );

    let path = tmp.path().join("ca-with-a-key.crt");
    fs::write(&path, &key).expect("write");
    settings.client_ca_file = Some(path);
    let err = load_server_config(&settings).expect_err("no certificate in client CA");
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err:?}");
}

#[test]
fn watcher_reloads_good_pairs_and_keeps_the_last_good_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ca = test_ca();
    let (cert1, key1) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert1, &key1);
    let settings = settings(tmp.path());
    let loaded = load(&settings).expect("loads");
    let mut watcher = CertWatcher::new(settings.clone(), loaded.fingerprint);

    assert!(matches!(watcher.check(), CertCheck::Unchanged));
    // Rewriting the same bytes is no change: content, not mtime, decides.
    write_pair(tmp.path(), &cert1, &key1);
    assert!(matches!(watcher.check(), CertCheck::Unchanged));

    let (cert2, key2) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert2, &key2);
    assert!(matches!(watcher.check(), CertCheck::Changed(_)));
    let good = watcher.fingerprint();
    assert_ne!(good, loaded.fingerprint);
    assert!(matches!(watcher.check(), CertCheck::Unchanged));

    // A rotation caught half-way: the new certificate with the old key.
    let (cert3, key3) = server_leaf(&ca, &["localhost"]);
    write_pair(tmp.path(), &cert3, &key2);
    match watcher.check() {
        CertCheck::Failed(TlsError::KeyMismatch { .. }) => {}
        other => panic!("expected a key mismatch, got {other:?}"),
    }
    assert_eq!(watcher.fingerprint(), good);
    // Still the same broken state: not reported again (counted once), still the good fingerprint.
    assert!(matches!(watcher.check(), CertCheck::StillFailing));
    assert!(matches!(watcher.check(), CertCheck::StillFailing));
    assert_eq!(watcher.fingerprint(), good);

    // Another bad state is reported, once.
    fs::remove_file(tmp.path().join(KEY_FILE)).expect("remove");
    assert!(matches!(
        watcher.check(),
        CertCheck::Failed(TlsError::HalfWritten { .. })
    ));
    assert!(matches!(watcher.check(), CertCheck::StillFailing));

    fs::write(tmp.path().join(KEY_FILE), &key3).expect("write");
    assert!(matches!(watcher.check(), CertCheck::Changed(_)));
    assert_ne!(watcher.fingerprint(), good);
}

#[cfg(unix)]
#[tokio::test]
async fn watcher_follows_a_kubernetes_style_symlink_swap() {
    use std::os::unix::fs::symlink;

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ca = test_ca();
    let publish = |version: &str, cert: &str, key: &str| {
        let data = dir.join(version);
        fs::create_dir(&data).expect("mkdir");
        write_pair(&data, cert, key);
        fs::write(data.join(CA_CERT_FILE), ca.pem()).expect("write ca");
        let tmp_link = dir.join("..data_tmp");
        symlink(version, &tmp_link).expect("symlink");
        fs::rename(&tmp_link, dir.join("..data")).expect("swap ..data");
    };
    let (cert1, key1) = server_leaf(&ca, &["localhost"]);
    publish("..2024_01_01", &cert1, &key1);
    for file in [CERT_FILE, KEY_FILE, CA_CERT_FILE] {
        symlink(format!("..data/{file}"), dir.join(file)).expect("symlink");
    }
    let settings = settings(dir);
    let loaded = load(&settings).expect("loads");
    let mut watcher = CertWatcher::new(settings, loaded.fingerprint);
    assert!(matches!(watcher.check(), CertCheck::Unchanged));

    let (cert2, key2) = server_leaf(&ca, &["localhost", "celgate.test"]);
    publish("..2024_02_01", &cert2, &key2);
    let CertCheck::Changed(config) = watcher.check() else {
        panic!("the swap is seen");
    };
    exchange(config, client(&ca.pem(), all_versions(), None), "celgate.test")
        .await
        .expect("the new pair is served");
}

#[test]
fn service_pair_has_the_names_and_a_ca_bundle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let names = vec![
        "celgate.celgate-system.svc".to_owned(),
        "celgate.celgate-system".to_owned(),
        "celgate.celgate-system.svc.cluster.local".to_owned(),
    ];
    let bundle = generate_service_pair(&out, &names).expect("generated");

    let ca_pem = base64::engine::general_purpose::STANDARD
        .decode(&bundle)
        .expect("base64");
    assert_eq!(ca_pem, fs::read(out.join(CA_CERT_FILE)).expect("ca.crt"));
    let ca_cert = CertificateDer::from_pem_slice(&ca_pem).expect("a PEM certificate");
    #[cfg(unix)]
    {
        assert_eq!(mode(&out.join(KEY_FILE)), 0o600);
        assert_eq!(mode(&out.join(CA_KEY_FILE)), 0o600);
    }

    let leaf = CertificateDer::from_pem_file(out.join(CERT_FILE)).expect("tls.crt");
    let parsed = ParsedCertificate::try_from(&leaf).expect("parses");
    for name in &names {
        let server_name = ServerName::try_from(name.as_str()).expect("name");
        rustls::client::verify_server_name(&parsed, &server_name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let other = ServerName::try_from("localhost").expect("name");
    assert!(rustls::client::verify_server_name(&parsed, &other).is_err());

    // The leaf chains to the CA in the bundle.
    let mut roots = RootCertStore::empty();
    roots.add(ca_cert).expect("root");
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .expect("verifier");
    let server_name = ServerName::try_from(names[0].as_str()).expect("name");
    rustls::client::danger::ServerCertVerifier::verify_server_cert(
        verifier.as_ref(),
        &leaf,
        &[],
        &server_name,
        &[],
        rustls::pki_types::UnixTime::now(),
    )
    .expect("the leaf chains to the CA");

    load_server_config(&settings(&out)).expect("the pair loads");
    assert!(matches!(generate_service_pair(&out, &[]), Err(TlsError::NoDnsNames)));
    let err = generate_service_pair(&out, &["not a name!".to_owned()]).expect_err("bad name");
    assert!(matches!(err, TlsError::BadName { .. }), "{err:?}");
}
