//! Auditing of contract calls: a middleware that records every call, its
//! caller and outcome, with the request body's secrets masked.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use serde_json::Value;

use super::answer::AnswerFacts;
use super::auth::Caller;
use super::routing::{request_action, ACTIONS};
use crate::domain::ResultCode;
use crate::jobs::audit_writer::AuditSink;
use crate::store::audit::NewAuditEntry;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::track_id;

/// Longest request body kept in the log.
const MAX_LOGGED_BODY: usize = 64 * 1024;

/// Keys whose values never reach the log.
const SECRET_MARKERS: &[&str] = &["password", "passwd", "secret", "token", "apikey", "api_key"];

/// What the body extractor learned of a request, for the audit entry.
#[derive(Debug, Clone)]
pub struct AuditedRequest {
    pub body: String,
    pub bss_account_id: Option<String>,
    pub external_id: Option<String>,
}

impl AuditedRequest {
    /// `raw` is the body as received, `body` the same parsed.
    pub fn from_body(raw: &[u8], body: &Value) -> Self {
        let top_level = |name: &str| {
            body.as_object()?
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))?
                .1
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        // Most bodies hold nothing secret: keep their text as sent rather
        // than building it again.
        let text = match std::str::from_utf8(raw) {
            Ok(text) if !may_hold_secrets(raw) => text.to_owned(),
            _ => {
                let mut masked = body.clone();
                mask_secrets(&mut masked);
                masked.to_string()
            }
        };
        Self {
            body: truncate(text, MAX_LOGGED_BODY),
            bss_account_id: top_level("ID"),
            external_id: top_level("ExternalID"),
        }
    }
}

/// Whether any secret marker occurs in the text, whatever its case.
fn may_hold_secrets(raw: &[u8]) -> bool {
    SECRET_MARKERS.iter().any(|marker| {
        raw.windows(marker.len())
            .any(|window| window.eq_ignore_ascii_case(marker.as_bytes()))
    })
}

/// Replaces the value of every secret-looking key, at any depth.
pub fn mask_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                let lowered = key.to_ascii_lowercase();
                if SECRET_MARKERS.iter().any(|marker| lowered.contains(marker)) {
                    *inner = Value::String("***".into());
                } else {
                    mask_secrets(inner);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        _ => {}
    }
}

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str("…(truncated)");
    }
    text
}

/// Middleware of the contract scope: writes one audit entry per call and
/// logs it in the request's span (which carries the TrackId).
pub async fn record_contract_call(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let sink = req.app_data::<web::Data<AuditSink>>().cloned();
    let track_id = track_id(req.headers()).map(str::to_owned);
    let response = next.call(req).await?;

    let duration = started.elapsed();
    let request = response.request();
    let endpoint = request_action(request);
    let caller = request.extensions().get::<Caller>().cloned();
    let audited = request.extensions().get::<AuditedRequest>().cloned();
    let facts = response
        .response()
        .extensions()
        .get::<AnswerFacts>()
        .cloned();
    let status = response.status().as_u16();
    let code = facts.as_ref().map_or(ResultCode::InternalError, |f| f.code);

    if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
        let known = ACTIONS.iter().find(|action| **action == endpoint);
        metrics.contract_call(known.copied().unwrap_or("other"), code.code(), duration);
    }
    tracing::info!(
        endpoint = %endpoint,
        code = code.code(),
        status,
        duration_ms = duration.as_secs_f64() * 1000.0,
        "contract call"
    );

    if let Some(sink) = sink {
        let entry = NewAuditEntry {
            occurred_at: chrono::Utc::now().naive_utc(),
            application_id: caller.map(|c| c.application_id),
            track_id,
            endpoint,
            bss_account_id: audited.as_ref().and_then(|a| a.bss_account_id.clone()),
            external_id: facts
                .and_then(|f| f.external_id)
                .or_else(|| audited.as_ref().and_then(|a| a.external_id.clone())),
            result_code: code.code(),
            http_status: i32::from(status),
            duration_us: i64::try_from(duration.as_micros()).unwrap_or(i64::MAX),
            request_body: audited.map(|a| a.body),
        };
        sink.record(entry).await;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_at_any_depth() {
        let body = json!({
            "id": "3000",
            "externalId": " cus_1 ",
            "RandomPassword": "hunter2",
            "ExtraDetails": {"api_token": "abc", "plain": "kept"},
            "List": [{"Secret": "x"}]
        });
        let audited = AuditedRequest::from_body(body.to_string().as_bytes(), &body);
        assert_eq!(audited.bss_account_id.as_deref(), Some("3000"));
        assert_eq!(audited.external_id.as_deref(), Some("cus_1"));
        assert!(!audited.body.contains("hunter2"));
        assert!(!audited.body.contains("abc"));
        assert!(!audited.body.contains("\"x\""));
        assert!(audited.body.contains("kept"));
    }

    #[test]
    fn bodies_without_secrets_are_kept_as_sent() {
        let raw = br#"{ "ID" : "1",  "Name": "Acme" }"#;
        let audited = AuditedRequest::from_body(raw, &serde_json::from_slice(raw).unwrap());
        assert_eq!(audited.body.as_bytes(), raw);
    }

    #[test]
    fn long_bodies_are_truncated_on_a_char_boundary() {
        let text = truncate("é".repeat(10), 5);
        assert!(text.starts_with("éé"));
        assert!(text.ends_with("(truncated)"));
    }
}
