//! The fake SMTP server the mail tests deliver to: a real SMTP server on
//! loopback that speaks enough ESMTP for lettre's client (no TLS, no AUTH),
//! records what it accepts (and what it refuses at the end of DATA), and
//! can be told to reject recipients, fail temporarily or hang. It can also
//! be stopped and started again on a port that stays reserved meanwhile.
//!
//! The tests in [`fake_smtp_server`] check the fake itself, driven by
//! lettre with no Mailroom code in the path. What Mailroom does with mail
//! (Synchronize, outbox, worker, SMTP) is tested through Mailroom in
//! `notifications.rs`, `outbox_delivery.rs` and `smtp_tls.rs`.

use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use mail_parser::{MessageParser, PartType};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// How the server treats what it receives.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Accepts every message.
    Accept,
    /// Answers `550 5.1.1 mailbox unavailable` to RCPT TO for recipients
    /// containing this text, accepts others.
    RejectRecipient(String),
    /// Answers `451 4.3.0 try again later` to DATA's end (temporary failure)
    /// for every message; what was refused is kept (see
    /// [`SmtpServer::deferred`]).
    TemporaryFailure,
    /// Accepts the TCP connection and never says anything (a hung server).
    Hang,
}

/// A message the server accepted, with its envelope and parsed content.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Envelope sender, without `<>`.
    pub mail_from: String,
    /// Envelope recipients, without `<>`.
    pub rcpt_to: Vec<String>,
    /// The DATA as received, dot-unstuffed, CRLF line ends.
    pub raw: String,
    /// Decoded (RFC 2047) subject.
    pub subject: String,
    /// Header From address.
    pub from: String,
    /// Header To addresses.
    pub to: Vec<String>,
    /// Decoded text/plain part (empty if none).
    pub text_body: String,
    /// Decoded text/html part (empty if none).
    pub html_body: String,
    /// Message-ID without `<>`.
    pub message_id: Option<String>,
    /// All top-level header names and raw (undecoded, trimmed) values.
    pub headers: Vec<(String, String)>,
    /// When the end of its DATA arrived.
    pub received_at: DateTime<Utc>,
}

impl ReceivedMail {
    /// A message as received: its envelope and its DATA (dot-unstuffed).
    pub fn parse(mail_from: String, rcpt_to: Vec<String>, data: &[u8]) -> ReceivedMail {
        let mut mail = ReceivedMail {
            received_at: Utc::now(),
            mail_from,
            rcpt_to,
            raw: String::from_utf8_lossy(data).into_owned(),
            subject: String::new(),
            from: String::new(),
            to: Vec::new(),
            text_body: String::new(),
            html_body: String::new(),
            message_id: None,
            headers: Vec::new(),
        };
        let Some(message) = MessageParser::default().parse(data) else {
            return mail;
        };
        mail.subject = message.subject().unwrap_or_default().to_owned();
        mail.from = message
            .from()
            .and_then(|from| from.first())
            .and_then(|addr| addr.address())
            .unwrap_or_default()
            .to_owned();
        mail.to = message
            .to()
            .map(|to| {
                to.iter()
                    .filter_map(|addr| addr.address())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        // mail-parser lists an HTML part among the text bodies (and vice
        // versa) when the other kind is missing: keep only the real kind.
        let part_body = |ids: &[u32], html: bool| {
            ids.iter()
                .filter_map(|&id| message.parts.get(id as usize))
                .find_map(|part| match (&part.body, html) {
                    (PartType::Text(text), false) | (PartType::Html(text), true) => {
                        Some(text.to_string())
                    }
                    _ => None,
                })
                .unwrap_or_default()
        };
        mail.text_body = part_body(&message.text_body, false);
        mail.html_body = part_body(&message.html_body, true);
        mail.message_id = message.message_id().map(str::to_owned);
        mail.headers = message
            .headers_raw()
            .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
            .collect();
        mail
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// State shared by the server handle, its listener and its connections.
struct Shared {
    behaviour: Mutex<Behaviour>,
    /// Accepted messages.
    mail: watch::Sender<Vec<ReceivedMail>>,
    /// Messages refused with a 4xx at the end of DATA.
    deferred: watch::Sender<Vec<ReceivedMail>>,
    next_id: AtomicU64,
}

impl Shared {
    fn behaviour(&self) -> Behaviour {
        self.behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// A port on 127.0.0.1 held for an [`SmtpServer`] that starts and stops on
/// it: bound all along, so no other test can take it, but only listening
/// while a server runs (meanwhile connections are refused, as with a mail
/// server that is down).
pub struct ReservedPort {
    // Bound with SO_REUSEPORT and never listening: the servers bind the
    // same port beside it.
    _holder: TcpSocket,
    port: u16,
}

impl ReservedPort {
    pub fn new() -> ReservedPort {
        let holder = reusable_socket();
        holder
            .bind(([127, 0, 0, 1], 0).into())
            .expect("reserve a free port");
        let port = holder.local_addr().expect("reserved address").port();
        ReservedPort {
            _holder: holder,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

fn reusable_socket() -> TcpSocket {
    let socket = TcpSocket::new_v4().expect("a TCP socket");
    socket.set_reuseport(true).expect("SO_REUSEPORT");
    socket
}

/// An SMTP server on 127.0.0.1; dropping it stops it.
pub struct SmtpServer {
    port: u16,
    shared: Arc<Shared>,
    listener_task: JoinHandle<()>,
}

impl SmtpServer {
    /// Starts on 127.0.0.1 on a free port.
    pub async fn start(behaviour: Behaviour) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the test SMTP server to a free port");
        SmtpServer::serve(listener, behaviour)
    }

    /// Starts on a reserved port (again, after [`stop`](Self::stop)).
    pub async fn start_on(reserved: &ReservedPort, behaviour: Behaviour) -> SmtpServer {
        let socket = reusable_socket();
        socket
            .bind(([127, 0, 0, 1], reserved.port()).into())
            .expect("bind the test SMTP server beside its reservation");
        let listener = socket.listen(128).expect("listen on the reserved port");
        SmtpServer::serve(listener, behaviour)
    }

    fn serve(listener: TcpListener, behaviour: Behaviour) -> SmtpServer {
        let port = listener.local_addr().expect("listener address").port();
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(behaviour),
            mail: watch::Sender::new(Vec::new()),
            deferred: watch::Sender::new(Vec::new()),
            next_id: AtomicU64::new(1),
        });
        let listener_task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        SmtpServer {
            port,
            shared,
            listener_task,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Changes the behaviour; it applies to commands (and connections) from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self
            .shared
            .behaviour
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = behaviour;
    }

    /// Every message accepted so far (in arrival order).
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.mail.borrow().clone()
    }

    /// Every message refused with a 4xx at the end of DATA so far.
    pub fn deferred(&self) -> Vec<ReceivedMail> {
        self.shared.deferred.borrow().clone()
    }

    /// Waits until at least `count` messages were accepted, up to
    /// `timeout`; panics listing what arrived if not.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        self.wait_in(&self.shared.mail, "accepted", count, timeout)
            .await
    }

    /// Waits until at least `count` messages were refused at the end of
    /// DATA, up to `timeout`.
    pub async fn wait_for_deferred(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        self.wait_in(&self.shared.deferred, "deferred", count, timeout)
            .await
    }

    async fn wait_in(
        &self,
        list: &watch::Sender<Vec<ReceivedMail>>,
        what: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<ReceivedMail> {
        let mut mail = list.subscribe();
        let arrived =
            tokio::time::timeout(timeout, mail.wait_for(|mail| mail.len() >= count)).await;
        if let Ok(Ok(mail)) = arrived {
            return mail.clone();
        }
        let mail = list.borrow().clone();
        let mut listing = String::new();
        for (i, m) in mail.iter().enumerate() {
            let _ = write!(
                listing,
                "\n  {}. MAIL FROM <{}> RCPT TO {:?}, subject {:?}",
                i + 1,
                m.mail_from,
                m.rcpt_to,
                m.subject
            );
        }
        panic!(
            "test SMTP server on port {}: expected at least {count} {what} message(s) within \
             {timeout:?}, {} arrived{listing}",
            self.port,
            mail.len()
        );
    }

    /// Stops listening and drops open connections; a port from a
    /// [`ReservedPort`] stays reserved.
    pub async fn stop(mut self) {
        self.listener_task.abort();
        // The listener (and the set owning the connections) is dropped
        // before the aborted task reports back.
        let _ = (&mut self.listener_task).await;
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.listener_task.abort();
    }
}

/// Accepts connections; they live in a `JoinSet` so that aborting this
/// task also aborts (and closes) every connection.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // E.g. out of file descriptors: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Forget connections that have finished.
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            // A client going away mid-way just ends its connection.
            let _ = handle_connection(stream, &shared).await;
        });
    }
}

async fn handle_connection(mut stream: TcpStream, shared: &Shared) -> io::Result<()> {
    if matches!(shared.behaviour(), Behaviour::Hang) {
        // Say nothing; hold the connection until the client closes it.
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        return Ok(());
    }

    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer
        .write_all(b"220 mailroom-test ESMTP ready\r\n")
        .await?;

    let mut mail_from: Option<String> = None;
    let mut rcpt_to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let command = text.trim_end_matches(['\r', '\n']);
        let (verb, argument) = command.split_once(' ').unwrap_or((command, ""));

        let reply: String = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                (mail_from, rcpt_to) = (None, Vec::new());
                "250-localhost\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 20000000".into()
            }
            "HELO" => {
                (mail_from, rcpt_to) = (None, Vec::new());
                "250 localhost".into()
            }
            "MAIL" => match parse_path(argument, "FROM:") {
                _ if mail_from.is_some() => "503 5.5.1 sender already given".into(),
                Some(sender) => {
                    mail_from = Some(sender);
                    "250 2.1.0 OK".into()
                }
                None => "501 5.5.4 syntax: MAIL FROM:<address>".into(),
            },
            "RCPT" => match parse_path(argument, "TO:") {
                _ if mail_from.is_none() => "503 5.5.1 need MAIL first".into(),
                None => "501 5.5.4 syntax: RCPT TO:<address>".into(),
                Some(recipient) => match shared.behaviour() {
                    Behaviour::RejectRecipient(text) if recipient.contains(&text) => {
                        "550 5.1.1 mailbox unavailable".into()
                    }
                    _ => {
                        rcpt_to.push(recipient);
                        "250 2.1.5 OK".into()
                    }
                },
            },
            "DATA" if rcpt_to.is_empty() => "503 5.5.1 need RCPT first".into(),
            "DATA" => {
                writer
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let Some(data) = read_data(&mut reader).await? else {
                    return Ok(());
                };
                let sender = mail_from.take().unwrap_or_default();
                let recipients = std::mem::take(&mut rcpt_to);
                let mail = ReceivedMail::parse(sender, recipients, &data);
                if matches!(shared.behaviour(), Behaviour::TemporaryFailure) {
                    shared.deferred.send_modify(|all| all.push(mail));
                    "451 4.3.0 try again later".into()
                } else {
                    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
                    shared.mail.send_modify(|all| all.push(mail));
                    format!("250 2.0.0 queued as MR{id:06}")
                }
            }
            "RSET" => {
                (mail_from, rcpt_to) = (None, Vec::new());
                "250 2.0.0 OK".into()
            }
            "NOOP" => "250 2.0.0 OK".into(),
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => "502 5.5.2 command not recognized".into(),
        };
        writer.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
}

/// The address in `FROM:<a@b> PARAMS` (after `prefix`, any case), without `<>`.
fn parse_path(argument: &str, prefix: &str) -> Option<String> {
    let head = argument.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = argument[prefix.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => &inner[..inner.find('>')?],
        None => rest.split(' ').next().unwrap_or_default(),
    };
    Some(path.to_owned())
}

/// Reads DATA up to the lone `.` line, undoing dot-stuffing and using CRLF
/// line ends; `None` if the client went away first.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let content = line.strip_suffix(b"\n").unwrap_or(&line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if content == b"." {
            return Ok(Some(data));
        }
        data.extend_from_slice(content.strip_prefix(b".").unwrap_or(content));
        data.extend_from_slice(b"\r\n");
    }
}

/// Tests of the fake itself: lettre's own SMTP client against it, no
/// Mailroom code in the path.
mod fake_smtp_server {
    use std::time::Duration;

    use lettre::message::{Mailbox, MultiPart};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
    use tokio::io::AsyncReadExt;

    use super::{Behaviour, ReservedPort, SmtpServer};

    fn transport(port: u16, timeout: Duration) -> AsyncSmtpTransport<Tokio1Executor> {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(port)
            .timeout(Some(timeout))
            .build()
    }

    fn plain_message(to: &[&str], subject: &str) -> Message {
        let mut builder = Message::builder()
            .from(
                "Mailroom <noreply@mailroom.test>"
                    .parse::<Mailbox>()
                    .unwrap(),
            )
            .subject(subject)
            .message_id(None);
        for address in to {
            builder = builder.to(address.parse::<Mailbox>().unwrap());
        }
        builder.body(format!("Body of {subject}\n")).unwrap()
    }

    #[tokio::test]
    async fn records_envelope_and_decodes_utf8_multipart_and_dot_lines() {
        let server = SmtpServer::start(Behaviour::Accept).await;
        let subject = "Grüße aus Köln — ✓ 日本語の件名";
        let text = format!(
            "Hallo Zoë,\n.this line starts with a dot\n..and this with two\n{}\nEnde.\n",
            "a long line that needs soft line breaks in quoted-printable: ".repeat(3)
        );
        let html = "<p>Hallo <b>Zoë</b> — ✓</p>\n<p>.dot</p>\n";
        let message = Message::builder()
            .from(
                "Mailroom <noreply@mailroom.test>"
                    .parse::<Mailbox>()
                    .unwrap(),
            )
            .to("Zoë Ünal <zoe@example.test>".parse::<Mailbox>().unwrap())
            .to("bob@example.test".parse::<Mailbox>().unwrap())
            .subject(subject)
            .message_id(None)
            .multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.to_owned(),
            ))
            .unwrap();

        let response = transport(server.port(), Duration::from_secs(5))
            .send(message)
            .await
            .expect("send the multipart message");
        assert!(response
            .first_line()
            .unwrap_or_default()
            .starts_with("2.0.0 queued as MR"));

        let mail = server.wait_for(1, Duration::from_secs(5)).await;
        let mail = &mail[0];
        assert_eq!(mail.mail_from, "noreply@mailroom.test");
        assert_eq!(mail.rcpt_to, ["zoe@example.test", "bob@example.test"]);
        assert_eq!(mail.from, "noreply@mailroom.test");
        assert_eq!(mail.to, ["zoe@example.test", "bob@example.test"]);
        assert_eq!(mail.subject, subject);
        // The subject went over the wire encoded.
        assert!(mail.header("Subject").unwrap().starts_with("=?utf-8?"));
        assert!(mail
            .header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative"));
        assert_eq!(mail.text_body.replace("\r\n", "\n"), text);
        assert_eq!(mail.html_body.replace("\r\n", "\n"), html);
        assert!(mail
            .message_id
            .as_deref()
            .is_some_and(|id| id.contains('@')));
        assert!(mail.raw.ends_with("\r\n") && !mail.raw.replace("\r\n", "").contains('\n'));

        // Several clients at once, one connection each.
        let transport = transport(server.port(), Duration::from_secs(5));
        let sends = (1..=5)
            .map(|i| transport.send(plain_message(&["c@example.test"], &format!("parallel {i}"))));
        for result in futures::future::join_all(sends).await {
            result.expect("send in parallel");
        }
        let mail = server.wait_for(6, Duration::from_secs(5)).await;
        assert_eq!(mail.len(), 6);
        assert_eq!(server.messages().len(), 6);
        assert!(mail[1..]
            .iter()
            .all(|m| m.text_body.starts_with("Body of parallel ")));
    }

    #[tokio::test]
    async fn rejects_chosen_recipients_and_defers_everything_when_told() {
        let server = SmtpServer::start(Behaviour::RejectRecipient("blocked".into())).await;
        let transport = transport(server.port(), Duration::from_secs(5));

        // One refused recipient fails the whole send permanently.
        let error = transport
            .send(plain_message(
                &["ok@example.test", "blocked@example.test"],
                "refused",
            ))
            .await
            .expect_err("a refused recipient fails the send");
        assert!(error.is_permanent(), "{error:?}");
        assert_eq!(error.status().map(u16::from), Some(550));
        // Others are still accepted.
        transport
            .send(plain_message(&["ok@example.test"], "allowed"))
            .await
            .expect("send to ok");

        // A temporary failure at the end of DATA; what was refused is kept.
        server.set_behaviour(Behaviour::TemporaryFailure);
        let error = transport
            .send(plain_message(&["ok@example.test"], "deferred"))
            .await
            .expect_err("a temporary failure fails the send");
        assert!(error.is_transient(), "{error:?}");
        assert_eq!(error.status().map(u16::from), Some(451));
        let deferred = server.deferred();
        assert_eq!(deferred.len(), 1);
        assert_eq!(deferred[0].subject, "deferred");
        assert!(deferred[0].message_id.is_some());

        server.set_behaviour(Behaviour::Accept);
        transport
            .send(plain_message(&["ok@example.test"], "retried"))
            .await
            .expect("send after recovery");

        let subjects: Vec<_> = server.messages().into_iter().map(|m| m.subject).collect();
        assert_eq!(subjects, ["allowed", "retried"]);
        assert_eq!(server.deferred().len(), 1);
    }

    #[tokio::test]
    async fn hang_mode_accepts_connections_and_never_answers() {
        let server = SmtpServer::start(Behaviour::Hang).await;

        // No greeting: a read finds nothing until the client gives up.
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .expect("the hung server accepts connections");
        let mut greeting = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut greeting));
        assert!(read.await.is_err(), "the hung server said something");
        drop(stream);

        // lettre's async transport applies its timeout to the TCP connect
        // only (why Mailroom bounds a send itself, see notify::mailer).
        let transport = transport(server.port(), Duration::from_secs(1));
        let send = transport.send(plain_message(&["a@example.test"], "hung"));
        if let Ok(Ok(response)) = tokio::time::timeout(Duration::from_secs(2), send).await {
            panic!("a hung server accepted the message: {response:?}");
        }
        assert!(server.messages().is_empty());
    }

    #[tokio::test]
    async fn restarts_on_its_reserved_port_and_refuses_connections_meanwhile() {
        let reserved = ReservedPort::new();
        let port = reserved.port();
        let server = SmtpServer::start_on(&reserved, Behaviour::Accept).await;
        assert_eq!(server.port(), port);
        let transport = transport(port, Duration::from_secs(2));
        transport
            .send(plain_message(&["a@example.test"], "before"))
            .await
            .expect("send before stop");

        server.stop().await;
        // Down: connections are refused, and nobody else can take the port.
        let refused = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect_err("nothing listens after stop");
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        let taken =
            std::net::TcpListener::bind(("127.0.0.1", port)).expect_err("the port stays reserved");
        assert_eq!(taken.kind(), std::io::ErrorKind::AddrInUse);
        let error = transport
            .send(plain_message(&["a@example.test"], "while down"))
            .await
            .expect_err("a send fails while the server is down");
        assert!(!error.is_permanent() && !error.is_transient(), "{error:?}");

        let server = SmtpServer::start_on(&reserved, Behaviour::Accept).await;
        assert_eq!(server.port(), port);
        transport
            .send(plain_message(&["a@example.test"], "after"))
            .await
            .expect("send after restart");
        let mail = server.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(mail[0].subject, "after");
        assert_eq!(mail.len(), 1);
    }
}
