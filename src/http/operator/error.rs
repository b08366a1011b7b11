//! The operator API's error type: a JSON body with a stable `error` code,
//! a message for people, and the template problems when there are some.

use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::operator::Permission;
use crate::http::error::ServerError;
use crate::notify::template::{TemplateError, TemplateProblem};
use crate::notify::NotifyError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OperatorApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("sign in first: send Authorization: Bearer <token> from POST /operator/api/sessions")]
    Unauthorized,
    #[error("the email or password is wrong")]
    WrongCredentials,
    #[error("your role does not allow this ({0:?})")]
    Forbidden(Permission),
    /// A cookie-authenticated change without the session's CSRF token.
    #[error("the request lacks the page's CSRF token (X-CSRF-Token); reload the page")]
    MissingCsrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    TooManyAttempts(String),
    /// A Super Admin without a second factor where one is mandatory.
    #[error("Super Admins must enrol a second factor first: open /console/totp")]
    TotpRequired,
    #[error("the sign-in code is wrong or the sign-in has expired")]
    WrongSecondFactor,
    #[error("the template has problems")]
    InvalidTemplate(Vec<TemplateProblem>),
    #[error("{0}")]
    Invalid(String),
    /// An outside platform (an integration's) refused or could not be
    /// reached; the message says which and why.
    #[error("{0}")]
    Upstream(String),
    /// Not the caller's fault: see [`ServerError`].
    #[error("{}", server_message(.0))]
    Server(#[from] ServerError),
}

fn server_message(error: &ServerError) -> &'static str {
    match error {
        ServerError::Unavailable(_) => "the database is unavailable; try again shortly",
        ServerError::Internal(_) => "internal error",
    }
}

/// The body of every operator API error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `too_large`, `too_many_attempts`, `invalid_template`, `invalid`,
    /// `upstream`, `unavailable`, `internal`.
    pub error: &'static str,
    pub message: String,
    /// For `invalid_template`: each problem with its part and line.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<TemplateProblem>,
}

impl OperatorApiError {
    pub fn from_json_error(error: JsonPayloadError) -> Self {
        match error {
            JsonPayloadError::Overflow { limit }
            | JsonPayloadError::OverflowKnownLength { limit, .. } => Self::TooLarge(format!(
                "The request body is larger than the limit of {limit} bytes."
            )),
            JsonPayloadError::ContentType => {
                Self::BadRequest("Send the body as JSON (Content-Type: application/json).".into())
            }
            other => Self::BadRequest(format!("The body is not valid JSON for this call: {other}")),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized | Self::WrongCredentials => "unauthorized",
            Self::Forbidden(_) | Self::MissingCsrf => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::TooLarge(_) => "too_large",
            Self::TooManyAttempts(_) => "too_many_attempts",
            Self::TotpRequired => "totp_required",
            Self::WrongSecondFactor => "unauthorized",
            Self::InvalidTemplate(_) => "invalid_template",
            Self::Invalid(_) => "invalid",
            Self::Upstream(_) => "upstream",
            Self::Server(ServerError::Unavailable(_)) => "unavailable",
            Self::Server(ServerError::Internal(_)) => "internal",
        }
    }
}

impl From<StoreError> for OperatorApiError {
    fn from(error: StoreError) -> Self {
        Self::Server(error.into())
    }
}

impl From<TemplateError> for OperatorApiError {
    fn from(error: TemplateError) -> Self {
        match error {
            TemplateError::Invalid(problems) => Self::InvalidTemplate(problems),
            other => Self::Server(ServerError::internal(other)),
        }
    }
}

impl From<NotifyError> for OperatorApiError {
    fn from(error: NotifyError) -> Self {
        match error {
            NotifyError::Store(store) => store.into(),
            NotifyError::Template { source, .. } => source.into(),
            NotifyError::NoSuchTemplate(name) => {
                Self::NotFound(format!("There is no template named {name}."))
            }
        }
    }
}

impl ResponseError for OperatorApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::WrongCredentials => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::MissingCsrf => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::TotpRequired => StatusCode::FORBIDDEN,
            Self::WrongSecondFactor => StatusCode::UNAUTHORIZED,
            Self::InvalidTemplate(_) | Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Server(error) => error.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Server(error) = self {
            error.log();
        }
        let problems = match self {
            Self::InvalidTemplate(problems) => problems.clone(),
            _ => Vec::new(),
        };
        let message = match self {
            Self::InvalidTemplate(problems) => problems
                .iter()
                .map(|p| p.message.clone())
                .collect::<Vec<_>>()
                .join(" "),
            other => other.to_string(),
        };
        HttpResponse::build(self.status_code()).json(ErrorBody {
            error: self.code(),
            message,
            problems,
        })
    }
}
