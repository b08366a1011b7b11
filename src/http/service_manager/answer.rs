//! Answers of contract calls: the result envelope as JSON, with the HTTP
//! status of its code and the facts the audit middleware records.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use serde::Serialize;

use super::wire::ResultEnvelope;
use crate::domain::ResultCode;

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

/// The outcome of an answered call, attached to its response.
#[derive(Debug, Clone)]
pub struct AnswerFacts {
    pub code: ResultCode,
    pub external_id: Option<String>,
}
