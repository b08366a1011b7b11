//! Mailroom's SMTP over TLS (`starttls`, the default, and `tls`) against a
//! real TLS-speaking SMTP server: Python's aiosmtpd
//! (`tests/api/tls_smtp_server.py`), run as a child process on a port the
//! test binds, with a certificate issued for 127.0.0.1 by a CA made for the
//! test (with `openssl`), which Mailroom trusts through `mail.smtp_ca_file`.
//!
//! Without python3, aiosmtpd or openssl these tests say so on stderr and
//! pass, except in CI (`CI` set, and not `false`), where they fail.
//! `.ci/run` installs aiosmtpd.

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use mailroom::config::{Settings, SmtpSettings, SmtpTls};
use mailroom::store::outbox::OutboxStatus;
use serde_json::Value;
use tokio::sync::watch;

use crate::both_backends;
use crate::helpers::{account, spawn_app_with, Backend};
use crate::notifications::WAIT;
use crate::smtp::ReceivedMail;

/// Whether the tools these tests need are here. Missing in CI is a failure;
/// elsewhere a loud note (straight to stderr, which libtest does not
/// capture) and a skip.
fn tools_available() -> bool {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let mut missing = Vec::new();
    if !works("python3", &["-c", "import aiosmtpd"]) {
        missing.push("python3 with aiosmtpd (python3 -m pip install aiosmtpd)");
    }
    if !works("openssl", &["version"]) {
        missing.push("openssl");
    }
    if missing.is_empty() {
        return true;
    }
    crate::helpers::skip_or_fail(
        "SMTP TLS test",
        &format!("{} missing on this machine", missing.join(" and ")),
    );
    false
}

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A CA and a server certificate it issued for 127.0.0.1, in `dir`:
/// `ca.pem`, `server.pem`, `server.key`.
fn make_certificates(dir: &Path) {
    std::fs::write(dir.join("openssl.cnf"), OPENSSL_CONFIG).unwrap();
    let new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    let config = ["-config", "openssl.cnf", "-days", "2"];
    openssl(
        dir,
        &[
            &[
                "req", "-x509", "-new", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            ][..],
            &new_key,
            &config,
            &["-subj", "/CN=Mailroom test CA", "-extensions", "ca"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            &[
                "req",
                "-new",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ][..],
            &new_key,
            &["-config", "openssl.cnf", "-subj", "/CN=127.0.0.1"],
        ]
        .concat(),
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server",
        ],
    );
}

/// What the Python server reported.
#[derive(Debug, Clone, Default)]
struct Report {
    ready: bool,
    /// Its standard output closed: it exited.
    exited: bool,
    mail: Vec<(ReceivedMail, Option<String>)>,
}

/// aiosmtpd in a child process, killed when dropped.
struct TlsSmtpServer {
    child: Child,
    port: u16,
    report: watch::Receiver<Report>,
    stderr: PathBuf,
    folder: tempfile::TempDir,
}

impl TlsSmtpServer {
    /// Starts the server in `mode` (`starttls` or `tls`) with a fresh
    /// certificate, and waits until it serves.
    async fn start(mode: &str) -> TlsSmtpServer {
        let folder = tempfile::tempdir().expect("a folder for the certificates");
        make_certificates(folder.path());
        // The test chooses the port by binding it, and hands the listener
        // over as the child's standard input.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
        let port = listener.local_addr().unwrap().port();
        let stderr = folder.path().join("server.stderr");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/tls_smtp_server.py");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(mode)
            .arg(folder.path().join("server.pem"))
            .arg(folder.path().join("server.key"))
            .stdin(Stdio::from(OwnedFd::from(listener)))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("a file for its stderr"))
            .spawn()
            .expect("start python3");
        let stdout = child.stdout.take().expect("its stdout");
        let (sender, report) = watch::channel(Report::default());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                match event["event"].as_str() {
                    Some("ready") => sender.send_modify(|r| r.ready = true),
                    Some("mail") => {
                        let mail = received(&event);
                        let tls = event["tls_version"].as_str().map(str::to_owned);
                        sender.send_modify(|r| r.mail.push((mail, tls)));
                    }
                    _ => {}
                }
            }
            sender.send_modify(|r| r.exited = true);
        });
        let server = TlsSmtpServer {
            child,
            port,
            report,
            stderr,
            folder,
        };
        server.wait("the server to serve", |r| r.ready).await;
        server
    }

    fn ca_file(&self) -> PathBuf {
        self.folder.path().join("ca.pem")
    }

    fn mail(&self) -> Vec<(ReceivedMail, Option<String>)> {
        self.report.borrow().mail.clone()
    }

    async fn wait(&self, what: &str, done: impl Fn(&Report) -> bool) -> Report {
        let mut report = self.report.clone();
        let outcome = tokio::time::timeout(WAIT, report.wait_for(|r| done(r) || r.exited)).await;
        match outcome {
            Ok(Ok(report)) if done(&report) => report.clone(),
            _ => panic!(
                "waited for {what} from the aiosmtpd server on port {}; it reported {:#?}; \
                 its stderr:\n{}",
                self.port,
                *self.report.borrow(),
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            ),
        }
    }
}

impl Drop for TlsSmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn received(event: &Value) -> ReceivedMail {
    let data = base64::engine::general_purpose::STANDARD
        .decode(event["data"].as_str().unwrap_or_default())
        .expect("base64 DATA");
    let rcpt_to = event["rcpt_tos"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect();
    ReceivedMail::parse(
        event["mail_from"].as_str().unwrap_or_default().to_owned(),
        rcpt_to,
        &data,
    )
}

fn tls_to(server: &TlsSmtpServer, tls: SmtpTls, trust: bool) -> impl FnOnce(&mut Settings) {
    let (port, ca_file) = (server.port, server.ca_file());
    move |settings| {
        settings.mail.smtp = Some(SmtpSettings {
            host: "127.0.0.1".into(),
            port,
            tls,
            username: None,
            password: None,
        });
        settings.mail.smtp_ca_file = trust.then_some(ca_file);
        settings.mail.from = "Example Mail <support@mail.example>".into();
        settings.operator.name = "Example Mail".into();
    }
}

async fn delivers_over(backend: Backend, mode: &str, tls: SmtpTls) {
    if !tools_available() {
        return;
    }
    let server = TlsSmtpServer::start(mode).await;
    let app = spawn_app_with(backend, tls_to(&server, tls, true)).await;
    app.synchronize(&account("t1", "tls.example")).await;
    let rows = app
        .wait_for_outbox(WAIT, "the mail sent", |rows| {
            rows.first().is_some_and(|r| r.status == OutboxStatus::Sent)
        })
        .await;
    assert_eq!(rows[0].attempts, 1);
    let report = server.wait("a mail", |r| !r.mail.is_empty()).await;
    let (mail, tls_version) = &report.mail[0];
    assert!(
        tls_version.as_deref().is_some_and(|v| v.starts_with("TLS")),
        "the mail came over {tls_version:?}"
    );
    assert_eq!(mail.mail_from, "support@mail.example");
    assert_eq!(mail.rcpt_to, vec!["pat@tls.example".to_owned()]);
    assert_eq!(mail.subject, "Your Example Mail mailbox account is ready");
    assert!(mail.text_body.contains("/activate/"), "{}", mail.text_body);
    assert_eq!(server.mail().len(), 1);
}

async fn starttls_delivers_to_a_server_signed_by_the_ca_file(backend: Backend) {
    delivers_over(backend, "starttls", SmtpTls::Starttls).await;
}

async fn implicit_tls_delivers_to_a_server_signed_by_the_ca_file(backend: Backend) {
    delivers_over(backend, "tls", SmtpTls::Tls).await;
}

async fn an_untrusted_certificate_fails_the_attempt_and_sends_nothing(backend: Backend) {
    if !tools_available() {
        return;
    }
    let server = TlsSmtpServer::start("starttls").await;
    // The same server, but its CA is not trusted.
    let app = spawn_app_with(backend, tls_to(&server, SmtpTls::Starttls, false)).await;
    app.synchronize(&account("t2", "untrusted.example")).await;
    let rows = app
        .wait_for_outbox(WAIT, "two failed attempts", |rows| {
            rows.first().is_some_and(|r| r.attempts >= 2)
        })
        .await;
    assert_eq!(rows[0].status, OutboxStatus::Queued);
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("certificate"), "{error}");
    assert!(server.mail().is_empty());
}

both_backends!(
    starttls_delivers_to_a_server_signed_by_the_ca_file,
    implicit_tls_delivers_to_a_server_signed_by_the_ca_file,
    an_untrusted_certificate_fails_the_attempt_and_sends_nothing,
);
