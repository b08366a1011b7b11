//! The one error policy of the three front ends: a failure that is not the
//! caller's is either "the database is unavailable" (503, logged as a
//! warning: it heals by itself and the caller retries) or "internal" (500,
//! opaque to the caller, logged as an error with its cause chain). Each
//! front end wraps a [`ServerError`] in its own error type and answers it in
//! its own format; the decision and the log line are made here, once.

use actix_web::http::StatusCode;

use crate::store::StoreError;
use crate::telemetry::error_chain;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("the database is unavailable")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ServerError {
    /// Any failure the caller can do nothing about.
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(error.into())
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs the failure with its cause chain, in the request's span. Called
    /// once, when the front end turns the error into its answer.
    pub fn log(&self) {
        match self {
            Self::Unavailable(cause) => {
                tracing::warn!(error = %error_chain(cause), "database unavailable");
            }
            Self::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
            }
        }
    }
}

impl From<StoreError> for ServerError {
    fn from(error: StoreError) -> Self {
        // A race still lost after the store's retry budget means the
        // database is too busy with that row now: like an outage, it heals
        // by itself, and a caller that retries (the BSS does on 503) wins.
        if error.is_unavailable() || error.is_serialization_failure() {
            Self::Unavailable(error)
        } else {
            Self::Internal(Box::new(error))
        }
    }
}
