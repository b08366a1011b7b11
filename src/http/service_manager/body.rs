//! The request-body extractor of contract calls.

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::audit::AuditedRequest;
use super::bss_json;
use super::error::ApiError;
use crate::domain::{Rejection, ResultCode};

/// Largest request body accepted, in bytes (app data; 256 KiB if absent).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

const DEFAULT_LIMIT: usize = 256 * 1024;

/// A JSON body read with the BSS's leniency (see [`bss_json`]); failures
/// answer a result envelope naming the problem: HTTP 200 with code -2 for JSON
/// that does not fit, 400 (-9) for a body that is not JSON, 413 over the limit.
pub struct ContractJson<T>(pub T);

fn too_large(limit: usize) -> ApiError {
    ApiError::Rejected(Rejection::new(
        ResultCode::PayloadTooLarge,
        format!("The request body is larger than {limit} bytes."),
    ))
}

fn not_json(message: String) -> ApiError {
    ApiError::Rejected(Rejection::new(ResultCode::NotJson, message))
}

impl<T: DeserializeOwned + 'static> FromRequest for ContractJson<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<BodyLimit>().map_or(DEFAULT_LIMIT, |l| l.0);
        let declared_length = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            if declared_length.is_some_and(|length| length > limit) {
                return Err(too_large(limit));
            }
            let mut body = Vec::with_capacity(declared_length.unwrap_or(1024).min(limit));
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| not_json(format!("The request body could not be read: {e}")))?;
                if body.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                body.extend_from_slice(&chunk);
            }
            let value: Value = serde_json::from_slice(&body)
                .map_err(|e| not_json(format!("The request body is not valid JSON: {e}.")))?;
            req.extensions_mut()
                .insert(AuditedRequest::from_body(&body, &value));
            let parsed = bss_json::from_value::<T>(value).map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    ApiError::bad_request(format!("The request body does not fit: {}.", e.inner()))
                } else {
                    ApiError::bad_request(format!("Field {path}: {}.", e.inner()))
                }
            })?;
            Ok(ContractJson(parsed))
        })
    }
}
