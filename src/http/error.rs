//! The HTTP layer's error type: every failure becomes a result envelope with
//! a negative code. Unexpected failures answer an opaque 500 and log their
//! cause chain.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::service_manager::wire::ResultEnvelope;
use crate::domain::{Rejection, ResultCode};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A request refused with a code and message of its own.
    #[error("{0}")]
    Rejected(Rejection),
    #[error("storage failed")]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::Rejected(Rejection::new(ResultCode::BadRequest, message))
    }
}

impl From<Rejection> for ApiError {
    fn from(rejection: Rejection) -> Self {
        Self::Rejected(rejection)
    }
}

pub use crate::telemetry::error_chain;

impl ApiError {
    fn envelope(&self) -> ResultEnvelope {
        match self {
            Self::Rejected(rejection) => ResultEnvelope::rejected(rejection.clone()),
            Self::Store(error) if error.is_unavailable() => ResultEnvelope::new(
                ResultCode::Unavailable,
                "The Mailroom database is unavailable. Please retry later.",
            ),
            Self::Store(_) => ResultEnvelope::new(
                ResultCode::InternalError,
                "An internal error occurred. The cause is in the Mailroom service log.",
            ),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.envelope().result_code().http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Store(error) if error.is_unavailable() => {
                tracing::warn!(error = %error_chain(error), "database unavailable");
            }
            Self::Store(error) => tracing::error!(error = %error_chain(error), "request failed"),
            Self::Rejected(_) => {}
        }
        super::answer(self.envelope())
    }
}
