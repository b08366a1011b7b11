//! Transports: SMTP through lettre, or a folder of `.eml` files when no
//! SMTP server is configured (the quick start needs no mail server).

use std::time::Duration;

use lettre::address::AddressError;
use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::template::RenderedMessage;
use crate::config::{MailSettings, SmtpTls};
use crate::telemetry::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid mail settings: {0}")]
    Settings(String),
    #[error("cannot read the SMTP CA file {path}")]
    CaFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the SMTP CA file {path} holds no PEM certificate")]
    NoCertificate { path: String },
    #[error("cannot create the mail folder {path}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendFailure {
    pub message: String,
    /// The server refused for good (a rejected address): retrying the same
    /// mail will not help until someone changes something.
    pub permanent: bool,
}

pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        timeout: Duration,
    },
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn from_settings(settings: &MailSettings) -> Result<Self, MailerError> {
        let timeout = Duration::from_millis(settings.send_timeout_ms.max(1));
        let Some(smtp) = &settings.smtp else {
            std::fs::create_dir_all(&settings.eml_dir).map_err(|source| MailerError::Folder {
                path: settings.eml_dir.display().to_string(),
                source,
            })?;
            return Ok(Self::Files(AsyncFileTransport::new(&settings.eml_dir)));
        };
        let roots = match &settings.smtp_ca_file {
            Some(path) if smtp.tls != SmtpTls::None => Some(read_roots(path)?),
            _ => None,
        };
        let tls_parameters = || {
            let mut builder = TlsParameters::builder(smtp.host.clone());
            if let Some(roots) = &roots {
                builder = builder.add_root_certificate(roots.clone());
            }
            builder
                .build()
                .map_err(|e| MailerError::Settings(format!("TLS for {}: {e}", smtp.host)))
        };
        let tls = match smtp.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
            .port(smtp.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self::Smtp {
            transport: builder.build(),
            timeout,
        })
    }

    pub fn describe(&self) -> &'static str {
        match self {
            Self::Smtp { .. } => "smtp",
            Self::Files(_) => "eml files",
        }
    }

    pub async fn send(&self, message: Message) -> Result<(), SendFailure> {
        match self {
            Self::Smtp { transport, timeout } => {
                // lettre's async timeout covers only the TCP connect: a
                // server that accepts and then never answers is cut off here.
                match tokio::time::timeout(*timeout, transport.send(message)).await {
                    Err(_) => Err(SendFailure {
                        message: format!("the SMTP server did not answer within {timeout:?}"),
                        permanent: false,
                    }),
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(error)) => Err(SendFailure {
                        permanent: error.is_permanent(),
                        message: error_chain(&error),
                    }),
                }
            }
            Self::Files(transport) => {
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|error| SendFailure {
                        message: error_chain(&error),
                        permanent: false,
                    })
            }
        }
    }
}

/// The root certificates of a PEM file (one or a bundle).
fn read_roots(path: &std::path::Path) -> Result<Certificate, MailerError> {
    let shown = || path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| MailerError::CaFile {
        path: shown(),
        source,
    })?;
    // lettre reads an empty list from a file without certificates.
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(MailerError::NoCertificate { path: shown() });
    }
    Certificate::from_pem(&pem)
        .map_err(|e| MailerError::Settings(format!("the SMTP CA file {}: {e}", shown())))
}

/// Why a message could not be built (an address that does not parse). The
/// cause is kept as the error's source: show it with
/// [`error_chain`](crate::telemetry::error_chain).
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("the sender address {address:?} is invalid")]
    InvalidSender {
        address: String,
        #[source]
        source: AddressError,
    },
    #[error("the recipient address {address:?} is invalid")]
    InvalidRecipient {
        address: String,
        #[source]
        source: AddressError,
    },
    #[error("cannot build the message")]
    Build(#[source] lettre::error::Error),
}

/// A multipart/alternative message (text and HTML) with a stable Message-ID,
/// so that a receiver can recognise the rare duplicate after a crash.
pub fn compose(
    from: &str,
    to: &str,
    message_id: &str,
    rendered: &RenderedMessage,
) -> Result<Message, ComposeError> {
    let from: Mailbox = from.parse().map_err(|source| ComposeError::InvalidSender {
        address: from.to_owned(),
        source,
    })?;
    let to: Mailbox = to
        .parse()
        .map_err(|source| ComposeError::InvalidRecipient {
            address: to.to_owned(),
            source,
        })?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(rendered.subject.clone())
        .message_id(Some(message_id.to_owned()))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(header::ContentType::TEXT_PLAIN)
                        .body(rendered.text_body.clone()),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(header::ContentType::TEXT_HTML)
                        .body(rendered.html_body.clone()),
                ),
        )
        .map_err(ComposeError::Build)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered() -> RenderedMessage {
        RenderedMessage {
            subject: "Hello".into(),
            text_body: "Hi".into(),
            html_body: "<p>Hi</p>".into(),
        }
    }

    fn tls_settings(ca_file: &std::path::Path) -> MailSettings {
        MailSettings {
            smtp: Some(crate::config::SmtpSettings {
                host: "127.0.0.1".into(),
                port: 2525,
                tls: SmtpTls::Starttls,
                username: None,
                password: None,
            }),
            smtp_ca_file: Some(ca_file.to_path_buf()),
            ..MailSettings::default()
        }
    }

    #[test]
    fn an_unusable_ca_file_is_refused_at_start() {
        let folder = tempfile::tempdir().unwrap();
        let missing = folder.path().join("missing.pem");
        match Mailer::from_settings(&tls_settings(&missing)) {
            Err(error @ MailerError::CaFile { .. }) => {
                assert!(error_chain(&error).contains("missing.pem"), "{error}")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a missing CA file was accepted"),
        }
        let empty = folder.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        match Mailer::from_settings(&tls_settings(&empty)) {
            Err(MailerError::NoCertificate { path }) => assert!(path.ends_with("empty.pem")),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a CA file without certificates was accepted"),
        }
        // Without TLS the file is not read at all.
        let mut plain = tls_settings(&missing);
        plain.smtp.as_mut().unwrap().tls = SmtpTls::None;
        assert!(Mailer::from_settings(&plain).is_ok());
    }

    #[test]
    fn compose_errors_keep_their_cause() {
        let error = compose("not an address", "to@example.com", "<id@x>", &rendered())
            .expect_err("the sender is invalid");
        assert!(matches!(error, ComposeError::InvalidSender { .. }));
        assert_eq!(
            error.to_string(),
            "the sender address \"not an address\" is invalid"
        );
        let cause = std::error::Error::source(&error).expect("the cause is kept");
        assert_eq!(
            error_chain(&error),
            format!("the sender address \"not an address\" is invalid: {cause}")
        );

        let error = compose("from@example.com", "to@", "<id@x>", &rendered())
            .expect_err("the recipient is invalid");
        assert!(matches!(error, ComposeError::InvalidRecipient { .. }));
        assert!(error_chain(&error).starts_with("the recipient address \"to@\" is invalid: "));

        compose("from@example.com", "to@example.com", "<id@x>", &rendered())
            .expect("valid addresses compose");
    }
}
