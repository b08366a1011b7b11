//! The HTTP edge: extractors, authentication, wire types, error mapping.

pub mod activation;
pub mod audit;
pub mod auth;
pub mod body;
pub mod bss_json;
pub mod console;
pub mod error;
pub mod health;
pub mod openapi;
pub mod operator;
pub mod service_manager;
pub mod throttle;

use actix_web::dev::ServiceRequest;
use actix_web::http::{StatusCode, Uri};
use actix_web::{HttpMessage, HttpResponse};
use serde::Serialize;

use audit::AnswerFacts;
use service_manager::wire::ResultEnvelope;

use crate::domain::ResultCode;

/// The request path as sent, before contract paths were lowered.
#[derive(Debug, Clone)]
pub struct OriginalPath(pub String);

/// Answers a result envelope with the HTTP status of its code.
pub fn answer(envelope: ResultEnvelope) -> HttpResponse {
    let code = envelope.result_code();
    let external_id = envelope.result.clone();
    let mut response = answer_json(code, &envelope);
    if let Some(facts) = response.extensions_mut().get_mut::<AnswerFacts>() {
        facts.external_id = external_id;
    }
    response
}

/// Answers any body for a result code, remembering the code for the audit.
pub fn answer_json(code: ResultCode, body: &impl Serialize) -> HttpResponse {
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status).json(body);
    response.extensions_mut().insert(AnswerFacts {
        code,
        external_id: None,
    });
    response
}

/// ASP.NET routing is case-insensitive, so the BSS may call
/// `/API/Accounts/Exists`: paths under the contract prefix are lowered
/// before routing (other paths are left alone).
pub fn lower_contract_path(req: &mut ServiceRequest, prefix: &str) {
    let path = req.path();
    let under_prefix = path
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        || path.eq_ignore_ascii_case(prefix.trim_end_matches('/'));
    if !under_prefix || !path.bytes().any(|b| b.is_ascii_uppercase()) {
        return;
    }
    let original = path.to_owned();
    let lowered = original.to_ascii_lowercase();
    let path_and_query = match req.uri().query() {
        Some(query) => format!("{lowered}?{query}"),
        None => lowered,
    };
    let mut parts = req.head().uri.clone().into_parts();
    let Ok(path_and_query) = path_and_query.parse() else {
        return;
    };
    parts.path_and_query = Some(path_and_query);
    let Ok(uri) = Uri::from_parts(parts) else {
        return;
    };
    req.match_info_mut().get_mut().update(&uri);
    req.head_mut().uri = uri;
    req.extensions_mut().insert(OriginalPath(original));
}
