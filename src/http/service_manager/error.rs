//! The contract's error type: every failure becomes a result envelope with
//! a negative code. What is not the caller's fault follows the shared policy
//! of [`crate::http::error`]: an opaque answer, the cause chain in the log.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::answer::answer;
use super::wire::ResultEnvelope;
use crate::domain::{Rejection, ResultCode};
use crate::http::error::ServerError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request refused with a code and message of its own.
    #[error("{0}")]
    Rejected(Rejection),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Rejected(Rejection::new(ResultCode::BadRequest, message))
    }

    fn envelope(&self) -> ResultEnvelope {
        match self {
            Self::Rejected(rejection) => ResultEnvelope::rejected(rejection.clone()),
            Self::Server(ServerError::Unavailable(_)) => ResultEnvelope::new(
                ResultCode::Unavailable,
                "The Mailroom database is unavailable. Please retry later.",
            ),
            Self::Server(ServerError::Internal(_)) => ResultEnvelope::new(
                ResultCode::InternalError,
                "An internal error occurred. The cause is in the Mailroom service log.",
            ),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Server(error.into())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.envelope().result_code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Server(error) = self {
            error.log();
        }
        answer(self.envelope())
    }
}
