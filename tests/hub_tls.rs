//! The hub over HTTPS: `HubServer::tls` and hub.toml's `tls_cert_file` /
//! `tls_key_file`, `HubSource::ca_file`, certificates reloaded in place
//! (`HubServer::reload_tls`, SIGHUP to `wechat-hub`), and the warning of a
//! plain hub off loopback. Certificates are made at test time by rcgen:
//! CAs of our own and server certificates for `localhost`/`127.0.0.1`
//! (and one for another name) signed by them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SanType};
use rustls::pki_types::pem::PemObject;
use weixin::hub::HubServer;
use weixin::testing::FakeWechat;
use weixin::{Client, ErrorKind, HubSource, TokenKey, TransportKind};

use crate::common::process::{self, run_hub, HubProcess, SECRET_ENV};
use crate::common::{self, logs, APPID};
use crate::hub_http::{handler, Served};

/// A CA of our own.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("weixin test ca {name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// A server certificate for `names` (DNS names or IP addresses) and
    /// its key, both PEM.
    fn server(&self, names: &[&str]) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = names
            .iter()
            .map(|name| match name.parse() {
                Ok(ip) => SanType::IpAddress(ip),
                Err(_) => SanType::DnsName((*name).try_into().unwrap()),
            })
            .collect();
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes this CA's certificate to `dir/name`.
    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, self.issuer.pem()).unwrap();
        path
    }
}

/// The hub's certificate and key files in `dir`.
struct Files {
    cert: PathBuf,
    key: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            cert: dir.join("hub.crt"),
            key: dir.join("hub.key"),
        }
    }

    /// Writes a certificate of `ca` for `names` and its key.
    fn issue(&self, ca: &Ca, names: &[&str]) {
        let (cert, key) = ca.server(names);
        std::fs::write(&self.cert, cert).unwrap();
        std::fs::write(&self.key, key).unwrap();
    }

    /// hub.toml's lines for these files.
    fn toml(&self) -> String {
        format!(
            "tls_cert_file = {:?}\ntls_key_file = {:?}",
            self.cert, self.key
        )
    }
}

/// Two CAs and their files, the hub's files holding a certificate of the
/// first: a certificate rotation to come.
struct Rotation {
    first: PathBuf,
    second: PathBuf,
    second_ca: Ca,
    files: Files,
}

impl Rotation {
    fn new(dir: &Path) -> Rotation {
        let (first, second) = (Ca::new("first"), Ca::new("second"));
        let files = Files::new(dir);
        files.issue(&first, LOCAL);
        Rotation {
            first: first.write(dir, "first.pem"),
            second: second.write(dir, "second.pem"),
            second_ca: second,
            files,
        }
    }

    /// Writes a certificate of the second CA to the hub's files.
    fn rotate(&self) {
        self.files.issue(&self.second_ca, LOCAL);
    }
}

const LOCAL: &[&str] = &["localhost", "127.0.0.1"];

/// A hub serving HTTPS with the certificate in `files`.
fn tls_hub(fake: &FakeWechat, files: &Files) -> Served {
    let server = HubServer::bind("127.0.0.1:0", handler(fake))
        .unwrap()
        .log_requests(false)
        .tls(&files.cert, &files.key)
        .expect("tls files");
    Served::start(server)
}

/// A client whose tokens come from the hub at `url`, trusting `ca` (a CA
/// file) if given, else the web PKI roots.
fn client(fake: &FakeWechat, url: &str, ca: Option<&Path>) -> Client {
    let mut source = HubSource::new(url).unwrap();
    if let Some(ca) = ca {
        source = source.ca_file(ca).expect("ca file");
    }
    common::builder(fake).token_source(source).build().unwrap()
}

fn access_token(client: &Client) -> weixin::Result<String> {
    Ok(client
        .token(&TokenKey::access_token(APPID))?
        .expose()
        .to_string())
}

/// Asserts `result` is a refused TLS handshake whose message says so and
/// has `detail`.
fn assert_tls_refused(result: weixin::Result<String>, detail: &str) {
    let err = result.expect_err("the handshake must fail");
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Transport {
                kind: TransportKind::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("failed the tls handshake: tls: the server's certificate was refused: invalid peer certificate: "),
        "{text}"
    );
    assert!(text.contains(detail), "{detail:?} not in {text}");
}

/// A TLS connection of our own to `addr`, trusting `ca` only, for
/// `/healthz` on one kept-alive connection.
struct Raw {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl Raw {
    fn open(addr: SocketAddr, ca: &Path) -> Raw {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(ca).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap();
        roots.add(der).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = "127.0.0.1".try_into().unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let tcp = TcpStream::connect(addr).unwrap();
        // A hang guard, not a timing assertion.
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw {
            tls: rustls::StreamOwned::new(conn, tcp),
        }
    }

    /// `GET /healthz` on this connection: the body.
    fn healthz(&mut self) -> String {
        self.tls
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        let body = r#"{"status":"ok"}"#;
        while !String::from_utf8_lossy(&answer).ends_with(body) {
            let n = self
                .tls
                .read(&mut buf)
                .expect("an answer on the same connection");
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8(answer).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
        body.to_string()
    }
}

#[test]
fn tls_hub_source_with_the_ca_file_gets_tokens() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-ca");
    let ca = Ca::new("one");
    let ca_file = ca.write(&dir, "ca.pem");
    let files = Files::new(&dir);
    files.issue(&ca, LOCAL);
    let hub = tls_hub(&fake, &files);
    assert!(hub.url().starts_with("https://127.0.0.1:"), "{}", hub.url());

    let by_ip = client(&fake, &hub.url(), Some(&ca_file));
    let token = access_token(&by_ip).expect("a token over https");
    // The name in the certificate, not only its IP address.
    let by_name = client(
        &fake,
        &hub.url().replace("127.0.0.1", "localhost"),
        Some(&ca_file),
    );
    assert_eq!(
        access_token(&by_name).unwrap(),
        token,
        "the hub's one token"
    );
    assert_eq!(
        fake.count("/cgi-bin/token"),
        1,
        "one upstream call for both"
    );
    // The token is WeChat's: a call with it is accepted.
    by_ip
        .request("/cgi-bin/get_api_domain_ip")
        .expect("a call with the hub's token");
    assert_eq!(fake.count("/cgi-bin/get_api_domain_ip"), 1, "not retried");
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

#[test]
fn tls_hub_source_without_the_ca_is_refused_and_says_tls() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-noca");
    let ca = Ca::new("private");
    let files = Files::new(&dir);
    files.issue(&ca, LOCAL);
    let hub = tls_hub(&fake, &files);

    // The web PKI roots do not know our CA.
    assert_tls_refused(
        access_token(&client(&fake, &hub.url(), None)),
        "UnknownIssuer",
    );
    // Nor does another private CA.
    let other = Ca::new("other").write(&dir, "other.pem");
    assert_tls_refused(
        access_token(&client(&fake, &hub.url(), Some(&other))),
        "UnknownIssuer",
    );
    assert_eq!(fake.count("/cgi-bin/token"), 0, "no request got through");
}

#[test]
fn tls_certificate_for_another_name_is_refused() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-name");
    let ca = Ca::new("names");
    let ca_file = ca.write(&dir, "ca.pem");
    let files = Files::new(&dir);
    files.issue(&ca, &["hub.other.example"]);
    let hub = tls_hub(&fake, &files);

    // A trusted CA, but the certificate names another host.
    assert_tls_refused(
        access_token(&client(&fake, &hub.url(), Some(&ca_file))),
        "not valid for name",
    );
    assert_eq!(fake.count("/cgi-bin/token"), 0);
}

#[test]
fn tls_reload_serves_the_new_certificate_and_keeps_open_connections() {
    let fake = common::fake();
    let r = Rotation::new(&process::temp_dir("tls-reload"));
    let hub = tls_hub(&fake, &r.files);
    let addr: SocketAddr = hub.url().trim_start_matches("https://").parse().unwrap();

    let mut open = Raw::open(addr, &r.first);
    open.healthz();
    let token = access_token(&client(&fake, &hub.url(), Some(&r.first))).unwrap();
    assert_tls_refused(
        access_token(&client(&fake, &hub.url(), Some(&r.second))),
        "UnknownIssuer",
    );

    r.rotate();
    hub.server().reload_tls().expect("the new files parse");

    // New handshakes get the second CA's certificate...
    let trusting_second = client(&fake, &hub.url(), Some(&r.second));
    assert_eq!(
        access_token(&trusting_second).unwrap(),
        token,
        "the same hub"
    );
    assert_tls_refused(
        access_token(&client(&fake, &hub.url(), Some(&r.first))),
        "UnknownIssuer",
    );
    // ...while a connection opened before the reload is still served.
    open.healthz();
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

/// Whether the hub closes `conn` (end of stream or a reset) before the
/// guard of 10 s: a hang guard, not a timing assertion.
fn closed_by_the_hub(mut conn: TcpStream) -> bool {
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    match conn.read(&mut [0u8; 64]) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn tls_a_client_silent_before_its_handshake_is_closed_at_the_head_deadline() {
    let fake = common::fake();
    let r = Rotation::new(&process::temp_dir("tls-silent"));
    let server = HubServer::bind("127.0.0.1:0", handler(&fake))
        .unwrap()
        .log_requests(false)
        .header_read_timeout(Duration::from_millis(200))
        .tls(&r.files.cert, &r.files.key)
        .unwrap();
    let hub = Served::start(server);
    let addr: SocketAddr = hub.url().trim_start_matches("https://").parse().unwrap();
    assert!(closed_by_the_hub(TcpStream::connect(addr).unwrap()));
    // Half a ClientHello, then nothing.
    let mut partial = TcpStream::connect(addr).unwrap();
    partial
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    assert!(closed_by_the_hub(partial));
    // The hub still serves a client that completes its handshake.
    Raw::open(addr, &r.first).healthz();
}

#[test]
fn tls_a_connection_over_the_cap_is_closed_at_once() {
    let fake = common::fake();
    let r = Rotation::new(&process::temp_dir("tls-cap"));
    let server = HubServer::bind("127.0.0.1:0", handler(&fake))
        .unwrap()
        .log_requests(false)
        // Far past the guard: only the cap can close the second connection.
        .header_read_timeout(Duration::from_secs(120))
        .max_connections(1)
        .tls(&r.files.cert, &r.files.key)
        .unwrap();
    let hub = Served::start(server);
    let addr: SocketAddr = hub.url().trim_start_matches("https://").parse().unwrap();
    let mut first = Raw::open(addr, &r.first);
    first.healthz(); // accepted and counted
    assert!(closed_by_the_hub(TcpStream::connect(addr).unwrap()));
    first.healthz(); // the one within the cap is still served
}

#[test]
fn tls_reload_from_broken_files_keeps_the_old_certificate() {
    logs::capture();
    let fake = common::fake();
    let dir = process::temp_dir("tls-broken");
    let r = Rotation::new(&dir);
    let files = &r.files;
    let first_key = std::fs::read_to_string(&files.key).unwrap();
    let hub = tls_hub(&fake, files);
    let cert_shown = files.cert.display().to_string();
    let key_shown = files.key.display().to_string();

    // A certificate cut in half.
    let (second_cert, second_key) = r.second_ca.server(LOCAL);
    std::fs::write(&files.cert, &second_cert[..second_cert.len() / 2]).unwrap();
    std::fs::write(&files.key, &second_key).unwrap();
    let err = hub.server().reload_tls().unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid configuration: certificate file {cert_shown}: a PEM section has no END line"
        )
    );
    // A whole certificate with the key of another.
    std::fs::write(&files.cert, &second_cert).unwrap();
    std::fs::write(&files.key, &first_key).unwrap();
    let err = hub.server().reload_tls().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid configuration: private key file {key_shown} is not the key of certificate file {cert_shown}")
    );
    // No key at all.
    std::fs::write(&files.key, "").unwrap();
    let err = hub.server().reload_tls().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("invalid configuration: private key file {key_shown}: no PRIVATE KEY section")
    );

    // Each failure was logged, naming the file and none of its bytes.
    let logged = logs::warnings_naming(&cert_shown);
    assert_eq!(logged.len(), 2, "{logged:#?}");
    assert_eq!(logs::warnings_naming(&key_shown).len(), 2);
    for line in logs::warnings_naming(&dir.display().to_string()) {
        assert!(
            line.starts_with(
                "wechat hub: tls reload failed, still serving the previous certificate: "
            ),
            "{line}"
        );
        assert!(
            !line.contains("PRIVATE KEY-----") && !line.contains("CERTIFICATE-----"),
            "{line}"
        );
        let key_body: String = first_key.lines().nth(1).unwrap().chars().take(16).collect();
        assert!(!line.contains(&key_body), "{line}");
    }
    // Still the first certificate.
    let token = access_token(&client(&fake, &hub.url(), Some(&r.first)));
    assert!(token.is_ok(), "{token:?}");
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}

#[test]
fn tls_server_refuses_files_it_cannot_use() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-refuse");
    let files = Files::new(&dir);
    files.issue(&Ca::new("refuse"), LOCAL);
    let bind = || HubServer::bind("127.0.0.1:0", handler(&fake)).unwrap();
    let missing = dir.join("missing.key");
    let err = bind().tls(&files.cert, &missing).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "invalid configuration: cannot read private key file {}: ",
            missing.display()
        )),
        "{err}"
    );
    // The key where the certificate should be.
    let err = bind().tls(&files.key, &files.key).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid configuration: certificate file {}: no CERTIFICATE section",
            files.key.display()
        )
    );
}

#[test]
fn tls_hub_source_refuses_a_bad_ca_file() {
    let dir = process::temp_dir("tls-badca");
    let source = || HubSource::new("https://127.0.0.1:1").unwrap();
    let empty = dir.join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let err = source().ca_file(&empty).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Config { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "invalid configuration: certificate file {}: no CERTIFICATE section",
            empty.display()
        )
    );
    // PEM of something that is no certificate.
    let junk = dir.join("junk.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = source().ca_file(&junk).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "invalid configuration: certificate file {}: certificate 1 is not a usable CA certificate (",
            junk.display()
        )),
        "{err}"
    );
    let fine = source()
        .ca_file(Ca::new("fine").write(&dir, "ca.pem"))
        .unwrap();
    assert!(format!("{fine:?}").contains("ca.pem"), "{fine:?}");
}

#[test]
fn tls_plain_hub_off_loopback_warns_of_clear_text() {
    logs::capture();
    let fake = common::fake();
    let stopped = AtomicBool::new(true);
    let open = HubServer::bind("0.0.0.0:0", handler(&fake)).unwrap();
    open.run(&stopped);
    let warned = logs::warnings_naming(&format!("0.0.0.0:{}", open.addr().port()));
    assert_eq!(
        warned,
        [format!(
            "wechat hub: serving plain http on 0.0.0.0:{}, not loopback: tokens and the bearer secret travel in clear text to anyone on the network path; configure tls (tls_cert_file and tls_key_file, HubServer::tls)",
            open.addr().port()
        )]
    );
    // Loopback, or off loopback with TLS: no warning.
    let local = HubServer::bind("127.0.0.1:0", handler(&fake)).unwrap();
    local.run(&stopped);
    assert!(logs::warnings_naming(&local.addr().to_string()).is_empty());
    let dir = process::temp_dir("tls-warn");
    let files = Files::new(&dir);
    files.issue(&Ca::new("warn"), LOCAL);
    let secured = HubServer::bind("0.0.0.0:0", handler(&fake))
        .unwrap()
        .tls(&files.cert, &files.key)
        .unwrap();
    secured.run(&stopped);
    assert!(logs::warnings_naming(&format!("0.0.0.0:{}", secured.addr().port())).is_empty());
}

/// hub.toml for the fake, with `extra` lines.
fn hub_toml(fake: &FakeWechat, extra: &str) -> String {
    process::config(&fake.url(), "[store]\nkind = \"memory\"", extra)
}

#[test]
fn tls_hub_toml_takes_both_files_or_neither() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-toml");
    let files = Files::new(&dir);
    for (extra, message) in [
        (
            format!("tls_cert_file = {:?}", files.cert),
            "tls_cert_file is set but tls_key_file is not: give both or neither",
        ),
        (
            format!("tls_key_file = {:?}", files.key),
            "tls_key_file is set but tls_cert_file is not: give both or neither",
        ),
    ] {
        let path = dir.join("hub.toml");
        std::fs::write(&path, hub_toml(&fake, &extra)).unwrap();
        let (code, _, err) = run_hub(&["--config", path.to_str().unwrap()], &[SECRET_ENV]);
        assert_eq!(code, Some(2), "{err}");
        assert_eq!(
            err.trim_end(),
            format!("wechat-hub: bad config {}: {message}", path.display())
        );
    }
    // Both, naming a file that is not there.
    let path = dir.join("hub.toml");
    std::fs::write(&path, hub_toml(&fake, &files.toml())).unwrap();
    let (code, _, err) = run_hub(&["--config", path.to_str().unwrap()], &[SECRET_ENV]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "cannot read certificate file {}",
            files.cert.display()
        )),
        "{err}"
    );
}

#[test]
fn tls_sighup_reloads_the_binarys_certificate() {
    let fake = common::fake();
    let dir = process::temp_dir("tls-sighup");
    let r = Rotation::new(&dir);
    let files = &r.files;
    let hub = HubProcess::start(&dir, &hub_toml(&fake, &files.toml()), &[SECRET_ENV]);
    assert!(hub.url.starts_with("https://127.0.0.1:"), "{}", hub.url);
    let token = access_token(&client(&fake, &hub.url, Some(&r.first))).unwrap();

    let hup = || {
        let status = std::process::Command::new("kill")
            .arg("-HUP")
            .arg(hub.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    };
    r.rotate();
    hup();
    hub.wait_for_log("wechat-hub: tls certificate reloaded");
    assert_eq!(
        access_token(&client(&fake, &hub.url, Some(&r.second))).unwrap(),
        token
    );
    assert_tls_refused(
        access_token(&client(&fake, &hub.url, Some(&r.first))),
        "UnknownIssuer",
    );

    // A broken file: logged, and the second certificate stays.
    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    hup();
    let logs = hub.wait_for_log("tls reload failed");
    assert!(
        logs.contains(&format!(
            "wechat-hub: error: tls reload failed, still serving the previous certificate: invalid configuration: certificate file {}: a PEM section has no END line",
            files.cert.display()
        )),
        "{logs}"
    );
    assert_eq!(
        access_token(&client(&fake, &hub.url, Some(&r.second))).unwrap(),
        token
    );
    assert_eq!(fake.count("/cgi-bin/token"), 1);
    assert!(!hub.logs().contains("serving plain http"), "{}", hub.logs());
}

#[cfg(feature = "cli")]
#[test]
fn tls_cli_takes_the_hubs_ca_file() {
    use crate::cli::Cli;
    let fake = common::fake();
    let dir = process::temp_dir("tls-cli");
    let ca = Ca::new("cli");
    let ca_file = ca.write(&dir, "ca.pem");
    let files = Files::new(&dir);
    files.issue(&ca, LOCAL);
    let hub = tls_hub(&fake, &files);
    let cli = || {
        Cli::new()
            .env("WECHAT_APPID", APPID)
            .args(["--hub", &hub.url()])
    };
    let refused = cli().args(["token"]).run();
    assert_eq!(refused.code, Some(3), "{refused:?}");
    assert!(
        refused.stderr.contains(
            "failed the tls handshake: tls: the server's certificate was refused: invalid peer certificate: UnknownIssuer"
        ),
        "{refused:?}"
    );
    let run = cli()
        .args(["--hub-ca-file", ca_file.to_str().unwrap(), "token"])
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(fake.count("/cgi-bin/token"), 1);
}
