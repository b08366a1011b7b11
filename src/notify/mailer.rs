//! Transports: SMTP through lettre, or a folder of `.eml` files when no
//! SMTP server is configured (the quick start needs no mail server).

use std::time::Duration;

use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::template::RenderedMessage;
use crate::config::{MailSettings, SmtpTls};
use crate::telemetry::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid mail settings: {0}")]
    Settings(String),
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
        let tls_parameters = || {
            TlsParameters::new(smtp.host.clone())
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

/// Why a message could not be built (an address that does not parse).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ComposeError(pub String);

/// A multipart/alternative message (text and HTML) with a stable Message-ID,
/// so that a receiver can recognise the rare duplicate after a crash.
pub fn compose(
    from: &str,
    to: &str,
    message_id: &str,
    rendered: &RenderedMessage,
) -> Result<Message, ComposeError> {
    let from: Mailbox = from
        .parse()
        .map_err(|e| ComposeError(format!("the sender address {from:?} is invalid: {e}")))?;
    let to: Mailbox = to
        .parse()
        .map_err(|e| ComposeError(format!("the recipient address {to:?} is invalid: {e}")))?;
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
        .map_err(|e| ComposeError(format!("cannot build the message: {e}")))
}
