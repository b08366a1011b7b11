//! The console's error type: every failure is a page (or, before sign-in, a
//! redirect to the sign-in page); unexpected ones log their cause chain.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::pages;
use crate::domain::operator::Permission;
use crate::http::error::ServerError;
use crate::http::operator::error::OperatorApiError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Not signed in (or the session expired): go to the sign-in page, then
    /// come back to `next`.
    #[error("sign in first")]
    SignIn { next: String },
    /// A Super Admin who must enrol a second factor first: to enrolment.
    #[error("enrol a second factor first")]
    EnrolTotp,
    #[error("Your role does not allow this.")]
    Forbidden(Permission),
    #[error(
        "This form has expired (its security token does not match). Reload the page and try again."
    )]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("The form could not be read: {0}")]
    BadForm(String),
    /// Not the operator's fault: see [`ServerError`].
    #[error("{}", server_message(.0))]
    Server(#[from] ServerError),
}

fn server_message(error: &ServerError) -> &'static str {
    match error {
        ServerError::Unavailable(_) => {
            "The database is unavailable; nothing was changed. Try again shortly."
        }
        ServerError::Internal(_) => "Something went wrong on our side; it has been logged.",
    }
}

impl From<StoreError> for ConsoleError {
    fn from(error: StoreError) -> Self {
        Self::Server(error.into())
    }
}

impl From<OperatorApiError> for ConsoleError {
    fn from(error: OperatorApiError) -> Self {
        match error {
            OperatorApiError::Server(error) => Self::Server(error),
            OperatorApiError::Forbidden(permission) => Self::Forbidden(permission),
            OperatorApiError::MissingCsrf => Self::Csrf,
            OperatorApiError::NotFound(message) => Self::NotFound(message),
            other => Self::Server(ServerError::internal(other)),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } | Self::EnrolTotp => StatusCode::SEE_OTHER,
            Self::Forbidden(_) | Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::Server(error) => error.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { next } => {
                let target = format!("/console/login?next={}", url_encode(next));
                return pages::see_other(target);
            }
            Self::EnrolTotp => return pages::see_other("/console/totp"),
            Self::Server(error) => error.log(),
            _ => {}
        }
        let heading = match self {
            Self::Forbidden(_) => "Not allowed",
            Self::Csrf => "Form expired",
            Self::NotFound(_) => "Not found",
            Self::BadForm(_) => "Bad request",
            Self::Server(ServerError::Unavailable(_)) => "Try again shortly",
            _ => "Error",
        };
        pages::error_page(self.status_code(), heading, &self.to_string())
    }
}

/// Percent-encodes a path for a query parameter (its slashes kept, for
/// readable sign-in links).
pub fn url_encode(path: &str) -> String {
    path.split('/')
        .map(pages::encode_component)
        .collect::<Vec<_>>()
        .join("/")
}
