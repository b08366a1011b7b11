//! The setup values of the calling application (`X-CloudPlatform-Setting-*`
//! headers, read and recorded by the auth extractor), and what the contract
//! handlers do with them: each value applies to its own application's call,
//! Mailroom's configuration to a call that carries none.

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::auth::Caller;
use super::error::ApiError;
use crate::domain::catalog::setup_fields::{SetupValues, DEFAULT_PLAN};

/// The setup values this call carries (valid ones only; empty when none).
#[derive(Debug, Clone, Default)]
pub struct Settings(pub Arc<SetupValues>);

impl std::ops::Deref for Settings {
    type Target = SetupValues;

    fn deref(&self) -> &SetupValues {
        &self.0
    }
}

impl Settings {
    /// The values the auth extractor left on an authenticated request.
    pub fn of(req: &HttpRequest) -> Self {
        Self(
            req.extensions()
                .get::<Arc<SetupValues>>()
                .cloned()
                .unwrap_or_default(),
        )
    }
}

impl FromRequest for Settings {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let authenticated = req.extensions().get::<Caller>().is_some();
        let caller = (!authenticated).then(|| Caller::from_request(&req, payload));
        Box::pin(async move {
            if let Some(caller) = caller {
                caller.await?;
            }
            Ok(Self::of(&req))
        })
    }
}

/// The plan a Create without ProductID gets: the application's
/// `default_plan` setting. Without one the call is refused, saying so.
pub fn default_plan_for_create(req: &HttpRequest) -> Result<String, ApiError> {
    Settings::of(req).default_plan.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "ProductID is required to create a subscription (this application sends no \
             {DEFAULT_PLAN} setting to use instead)."
        ))
    })
}
