//! The outbox: every mail, newest first, what it waits for or why it
//! failed; failed and cancelled mail can be queued again.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::render;
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::OperatorState;
use crate::store::outbox::{self as outbox_store, OutboxEntry, OutboxStatus, RetryOutcome};

pub const VIEWS: &[(&str, &str)] = &[(
    "outbox",
    include_str!("../../../templates/console/outbox.hbs"),
)];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/outbox", web::get().to(list))
        .route("/outbox/{id}/retry", web::post().to(retry));
}

const LIST_PATH: &str = "/console/outbox";
const PAGE_SIZE: i64 = 50;

/// The list's filter and page, as links and forms carry them.
#[derive(Debug, Default, Clone)]
struct Position {
    status: Option<OutboxStatus>,
    before: Option<i64>,
}

impl Position {
    fn read(status_text: &str, before_text: &str) -> Self {
        Self {
            status: OutboxStatus::parse(status_text.trim()),
            before: before_text.trim().parse().ok().filter(|id: &i64| *id > 0),
        }
    }

    /// The list's address at this position, with `extra` query pairs.
    fn href(&self, extra: &[(&str, String)]) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = self.status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(before) = self.before {
            pairs.push(("before", before.to_string()));
        }
        pairs.extend(extra.iter().cloned());
        if pairs.is_empty() {
            return LIST_PATH.to_owned();
        }
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{LIST_PATH}?{}", query.join("&"))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    status: String,
    before: String,
    notice: String,
    mail: String,
}

#[derive(Serialize)]
struct MailRow {
    id: i64,
    template: String,
    customer: Option<String>,
    customer_href: Option<String>,
    recipient: Option<String>,
    subject: Option<String>,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    next_attempt: Option<String>,
    created: String,
    sent: Option<String>,
    retryable: bool,
    retry_action: String,
}

#[derive(Serialize)]
struct StatusChoice {
    value: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct ListView {
    mails: Vec<MailRow>,
    statuses: Vec<StatusChoice>,
    /// The filter in force, for the retry forms to come back to.
    status: Option<&'static str>,
    before: Option<i64>,
    status_error: Option<String>,
    notice: Option<String>,
    problem: Option<String>,
    next_href: Option<String>,
    first_href: Option<String>,
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadOutbox)?;
    let position = Position::read(&query.status, &query.before);
    let status_error = (position.status.is_none() && !query.status.trim().is_empty()).then(|| {
        format!(
            "There is no status {}; showing every mail.",
            query.status.trim()
        )
    });
    let (wanted, before) = (position.status, position.before);
    let mut entries = state
        .store
        .run(move |conn| outbox_store::list(conn, wanted, before, PAGE_SIZE + 1))
        .await?;
    let has_more = entries.len() as i64 > PAGE_SIZE;
    entries.truncate(PAGE_SIZE as usize);
    let may_retry = session.role.allows(Permission::RetryMail);
    let mails: Vec<MailRow> = entries
        .into_iter()
        .map(
            |OutboxEntry {
                 row,
                 customer_external_id,
             }| {
                let waiting = row.status == OutboxStatus::Queued;
                MailRow {
                    id: row.id,
                    customer_href: customer_external_id.as_deref().map(|id| {
                        format!("/console/customers/{}", super::pages::encode_component(id))
                    }),
                    customer: customer_external_id,
                    template: row.template_name,
                    recipient: row.recipient,
                    subject: row.subject,
                    retryable: may_retry && row.status.is_retryable(),
                    status: row.status.as_str().to_owned(),
                    attempts: row.attempts,
                    last_error: row.last_error,
                    next_attempt: waiting.then(|| super::pages::display_time(row.next_attempt_at)),
                    created: super::pages::display_time(row.created_at),
                    sent: row.sent_at.map(super::pages::display_time),
                    retry_action: format!("{LIST_PATH}/{}/retry", row.id),
                }
            },
        )
        .collect();
    let next_href = has_more
        .then(|| mails.last().map(|last| last.id))
        .flatten()
        .map(|last_id| {
            Position {
                status: position.status,
                before: Some(last_id),
            }
            .href(&[])
        });
    let first_href = position.before.map(|_| {
        Position {
            status: position.status,
            before: None,
        }
        .href(&[])
    });
    let mail_id = query.mail.trim().parse::<i64>().ok();
    let (notice, problem) = match (query.notice.as_str(), mail_id) {
        ("retried", Some(id)) => (Some(format!("Mail {id} is queued again.")), None),
        ("not_retryable", Some(id)) => (
            None,
            Some(format!(
                "Mail {id} was not queued again: only failed or cancelled mail can be retried."
            )),
        ),
        _ => (None, None),
    };
    let view = ListView {
        statuses: OutboxStatus::ALL
            .into_iter()
            .map(|status| StatusChoice {
                value: status.as_str(),
                selected: position.status == Some(status),
            })
            .collect(),
        status: position.status.map(OutboxStatus::as_str),
        before: position.before,
        mails,
        status_error,
        notice,
        problem,
        next_href,
        first_href,
    };
    render("outbox", &session.chrome("Outbox", "outbox"), &view)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RetryForm {
    csrf: String,
    /// Where the list was, to come back to.
    status: String,
    before: String,
}

async fn retry(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<String>,
    form: web::Form<RetryForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::RetryMail)?;
    let no_such = || ConsoleError::NotFound("There is no such mail.".into());
    let id: i64 = id.trim().parse().map_err(|_| no_such())?;
    let back = Position::read(&form.status, &form.before);
    let entry = session
        .audit(AuditAction::MailRetried)
        .target(id.to_string());
    let outcome = state
        .store
        .recording_when(entry.pending(), state.outbox.retry(id), |outcome| {
            matches!(outcome, RetryOutcome::Queued(_))
        })
        .await?;
    let notice = match outcome {
        RetryOutcome::Queued(_) => {
            tracing::info!(outbox_id = id, operator = %session.email, "mail queued again");
            "retried"
        }
        RetryOutcome::NotRetryable(_) => "not_retryable",
        RetryOutcome::NotFound => return Err(no_such()),
    };
    let location = back.href(&[("notice", notice.to_owned()), ("mail", id.to_string())]);
    Ok(super::pages::see_other(location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_keep_only_known_statuses_and_ids() {
        let position = Position::read("failed", "120");
        assert_eq!(
            position.href(&[("notice", "retried".into())]),
            "/console/outbox?status=failed&before=120&notice=retried"
        );
        let position = Position::read("<script>", "x");
        assert_eq!(position.href(&[]), "/console/outbox");
    }
}
