//! The outbox as operators see it: what was sent, what waits, what failed.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::store::outbox::{
    self as outbox_store, OutboxEntry, OutboxRow, OutboxStatus, RetryOutcome,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxMail {
    pub id: i64,
    pub template: String,
    /// `queued`, `sent`, `failed` or `cancelled`.
    pub status: String,
    /// Known once sent (for a customer's mail) or given (for a test mail).
    pub recipient: Option<String>,
    pub subject: Option<String>,
    /// ExternalID of the customer the mail is for; absent for test mail.
    pub customer: Option<String>,
    pub attempts: i32,
    pub last_error: Option<String>,
    #[serde(with = "super::utc::option")]
    pub next_attempt_at: Option<NaiveDateTime>,
    #[serde(with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(with = "super::utc::option")]
    pub sent_at: Option<NaiveDateTime>,
}

impl OutboxMail {
    fn new(row: OutboxRow, customer: Option<String>) -> Self {
        let waiting = row.status == OutboxStatus::Queued;
        Self {
            id: row.id,
            template: row.template_name,
            status: row.status.as_str().to_owned(),
            recipient: row.recipient,
            subject: row.subject,
            customer,
            attempts: row.attempts,
            last_error: row.last_error,
            next_attempt_at: waiting.then_some(row.next_attempt_at),
            created_at: row.created_at,
            sent_at: row.sent_at,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OutboxQuery {
    /// Only mail of this status.
    pub status: Option<String>,
    /// Only mail older than this id (the last id of the previous page).
    pub before: Option<i64>,
    /// Page size, 1 to 500 (50).
    pub limit: Option<i64>,
}

/// Mail newest first.
#[utoipa::path(get, path = "/operator/api/outbox", tag = "Operator",
    params(OutboxQuery),
    responses((status = 200, body = [OutboxMail]), (status = 400, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    query: web::Query<OutboxQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadOutbox)?;
    let query = query.into_inner();
    let wanted = match query.status.as_deref() {
        None => None,
        Some(text) => Some(OutboxStatus::parse(text).ok_or_else(|| {
            let known: Vec<&str> = OutboxStatus::ALL.iter().map(|s| s.as_str()).collect();
            OperatorApiError::BadRequest(format!(
                "Unknown status {text:?}; use one of {}.",
                known.join(", ")
            ))
        })?),
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 500);
    let entries = state
        .store
        .run(move |conn| outbox_store::list(conn, wanted, query.before, limit))
        .await?;
    let mails: Vec<OutboxMail> = entries
        .into_iter()
        .map(
            |OutboxEntry {
                 row,
                 customer_external_id,
             }| OutboxMail::new(row, customer_external_id),
        )
        .collect();
    Ok(HttpResponse::Ok().json(mails))
}

/// Queues a failed (or cancelled) mail again, due at once.
#[utoipa::path(post, path = "/operator/api/outbox/{id}/retry", tag = "Operator",
    params(("id" = i64, Path)),
    responses(
        (status = 200, body = OutboxMail),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mail is not failed.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn retry(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::RetryMail)?;
    let id = id.into_inner();
    let entry = operator
        .audit(AuditAction::MailRetried)
        .target(id.to_string());
    let outcome = state
        .store
        .recording_when(entry.pending(), state.outbox.retry(id), |outcome| {
            matches!(outcome, RetryOutcome::Queued(_))
        })
        .await?;
    match outcome {
        RetryOutcome::Queued(row) => {
            tracing::info!(outbox_id = id, operator = %operator.email, "mail queued again");
            Ok(HttpResponse::Ok().json(OutboxMail::new(*row, None)))
        }
        RetryOutcome::NotFound => Err(OperatorApiError::NotFound(format!(
            "There is no mail {id}."
        ))),
        RetryOutcome::NotRetryable(current) => Err(OperatorApiError::Conflict(format!(
            "Mail {id} is {current}; only failed or cancelled mail can be retried."
        ))),
    }
}
