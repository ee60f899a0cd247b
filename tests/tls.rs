//! TLS: the REST API (with the console) and the gRPC stream served over
//! HTTPS with a certificate the tests make, to clients that verify it (curl
//! for REST, tonic for gRPC, as a connector dials it), and nothing served
//! in clear on the same ports.

mod common;

#[allow(clippy::all, clippy::pedantic)]
mod proto {
    include!(concat!(env!("OUT_DIR"), "/client/innovatrics.smartface.rs"));
}

use common::Daemon;
use proto::access_notification_service_client::AccessNotificationServiceClient;
use proto::AccessNotificationRequest;
use std::path::{Path, PathBuf};
use std::process::Command;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};

/// A certificate authority and a server certificate it signed for
/// `localhost` and 127.0.0.1, made by openssl in `dir`: the CA's
/// certificate, the server's, and the server's key.
fn self_made_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl runs (scripts/setup.sh --test installs it)");
        assert!(
            output.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let p256 = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=Facegate test CA",
    ];
    ca.extend(p256);
    ca.extend(["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(&ca);
    let mut request = vec!["req", "-subj", "/CN=localhost"];
    request.extend(p256);
    request.extend(["-keyout", "key.pem", "-out", "server.csr"]);
    openssl(&request);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\n\
         basicConstraints = CA:FALSE\n\
         extendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    )
}

/// curl's answer to `url`: its exit code and what it printed.
fn curl(args: &[&str], url: &str) -> (i32, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20"])
        .args(args)
        .arg(url)
        .output()
        .expect("curl runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn the_api_graphql_and_the_grpc_stream_are_served_over_tls_to_clients_that_verify_them() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = self_made_certificates(dir.path());
    let config =
        format!("[server]\napi_key = \"k\"\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}\n");
    let daemon = Daemon::start_with_config(&config);
    let port = daemon.base.rsplit(':').next().unwrap().to_string();
    let ca_file = ca.to_str().unwrap();

    // The API, to a client that checks the certificate against the CA.
    let version = format!("https://localhost:{port}/api/v1/Version");
    let keyed = ["--cacert", ca_file, "--header", "X-Api-Key: k"];
    let (code, body) = curl(&keyed, &version);
    assert_eq!(code, 0, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(answer["assemblyVersion"].is_string(), "{answer}");
    // By address too: the certificate names 127.0.0.1.
    let by_address = format!("https://127.0.0.1:{port}/api/v1/Version");
    assert_eq!(curl(&keyed, &by_address).0, 0);
    // The console is on the same HTTPS port.
    let (code, page) = curl(
        &["--cacert", ca_file],
        &format!("https://localhost:{port}/"),
    );
    assert_eq!(code, 0);
    assert!(page.contains("<html"), "{page}");
    // A client that does not trust the CA refuses the server (curl's 60:
    // the peer's certificate cannot be verified).
    assert_eq!(curl(&["--header", "X-Api-Key: k"], &version).0, 60);
    // Nothing is answered in clear on the HTTPS port.
    let (code, body) = curl(&[], &format!("http://localhost:{port}/api/v1/Version"));
    assert_ne!(code, 0, "a plain HTTP request was answered: {body}");

    // The GraphQL API, on its own port under the same certificate.
    let graphql_port = daemon
        .graphql_addr()
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    let graphql = format!("https://localhost:{graphql_port}/graphql");
    let query = [
        "--cacert",
        ca_file,
        "--header",
        "X-Api-Key: k",
        "--header",
        "Content-Type: application/json",
        "--data",
        r#"{"query": "{ watchlists { totalCount } }"}"#,
    ];
    let (code, body) = curl(&query, &graphql);
    assert_eq!(code, 0, "{body}");
    assert!(body.contains(r#""totalCount":0"#), "{body}");
    assert_eq!(curl(&query[2..], &graphql).0, 60);
    let plain = format!("http://localhost:{graphql_port}/graphql");
    assert_ne!(curl(&query[2..], &plain).0, 0);

    // The gRPC stream, as a connector subscribes over TLS: the stream
    // opens, with the key, under the same certificate.
    let grpc_port = daemon.grpc_url().rsplit(':').next().unwrap().to_string();
    let ca_pem = std::fs::read(&ca).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let subscribed = runtime.block_on(async {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca_pem))
            .domain_name("localhost");
        let channel = Endpoint::from_shared(format!("https://localhost:{grpc_port}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .expect("a TLS connection to the gRPC stream");
        let mut request = tonic::Request::new(AccessNotificationRequest::default());
        request
            .metadata_mut()
            .insert("authorization", "Bearer k".parse().unwrap());
        let mut client = AccessNotificationServiceClient::new(channel);
        client.get_access_notifications(request).await.map(|_| ())
    });
    assert!(subscribed.is_ok(), "{subscribed:?}");
    // A connector dialling in clear gets no stream.
    let in_clear = runtime.block_on(async {
        let channel = Endpoint::from_shared(format!("http://localhost:{grpc_port}"))
            .unwrap()
            .connect()
            .await;
        match channel {
            Err(_) => false,
            Ok(channel) => AccessNotificationServiceClient::new(channel)
                .get_access_notifications(AccessNotificationRequest::default())
                .await
                .is_ok(),
        }
    });
    assert!(!in_clear, "the gRPC stream was served in clear");
}

#[test]
fn a_certificate_without_its_key_or_that_cannot_be_read_stops_the_start_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, _) = self_made_certificates(dir.path());
    let alone = format!("[server]\ntls_cert_file = {cert:?}\n");
    let log = common::refused_config(&alone);
    assert!(log.contains("server.tls_key_file"), "{log}");
    let absent = dir.path().join("absent.pem");
    let unreadable = format!("[server]\ntls_cert_file = {cert:?}\ntls_key_file = {absent:?}\n");
    let log = common::refused_config(&unreadable);
    assert!(log.contains("absent.pem"), "{log}");
}

#[test]
fn a_key_served_in_clear_beyond_loopback_is_warned_of_at_start_and_over_tls_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = self_made_certificates(dir.path());
    let beyond_loopback = ["--grpc-listen", "0.0.0.0:0"];
    let start = |name: &str, config: &str| {
        Daemon::start_in_with_args(&dir.path().join(name), Some(config), &beyond_loopback)
    };
    let in_clear = start("clear", "[server]\napi_key = \"k\"\n");
    let log = in_clear.startup_log.join("\n");
    assert!(
        log.contains("the gRPC stream on 0.0.0.0:") && log.contains("over plain HTTP"),
        "{log}"
    );
    let over_tls = start(
        "tls",
        &format!("[server]\napi_key = \"k\"\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}\n"),
    );
    let log = over_tls.startup_log.join("\n");
    assert!(!log.contains("over plain HTTP"), "{log}");
    assert!(log.contains("served over TLS only"), "{log}");
}
