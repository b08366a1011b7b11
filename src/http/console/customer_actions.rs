//! What admins do to a customer from its page: suspend, restore, send a
//! new activation link. Each redirects back to the page with a notice.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::customers::{detail_href, no_such_customer};
use super::{ConsoleError, ConsoleSession};
use crate::domain::customer::{CustomerStatus, StatusAction, StatusActionOutcome};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::customers::{send_new_activation_link, NewLink};
use crate::http::operator::OperatorState;
use crate::store::activation::ResendOutcome;
use crate::store::customers;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/customers/{external_id}/suspend", web::post().to(suspend))
        .route("/customers/{external_id}/restore", web::post().to(restore))
        .route(
            "/customers/{external_id}/activation-link",
            web::post().to(new_activation_link),
        );
}

// --- A new activation link ----------------------------------------------------

pub async fn new_activation_link(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageCustomers)?;
    let external_id = path.into_inner();
    let entry = session
        .audit(AuditAction::ActivationLinkSent)
        .target(external_id.clone());
    let sent = state
        .store
        .recording_when(
            entry.pending(),
            send_new_activation_link(&state, external_id.clone()),
            |sent| matches!(sent, NewLink::Queued { .. }),
        )
        .await?;
    let notice = match sent {
        NewLink::Queued { outbox_id } => {
            tracing::info!(operator = %session.email, customer = %external_id, outbox_id, "new activation link queued from the console");
            "new_link"
        }
        NewLink::BssSendsMail => "bss_sends_mail",
        NewLink::NotSent(ResendOutcome::NotFound) => return Err(no_such_customer(&external_id)),
        NewLink::NotSent(ResendOutcome::AlreadyActivated) => "already_activated",
        NewLink::NotSent(_) => "not_active",
    };
    Ok(super::pages::see_other(format!(
        "{}?notice={notice}",
        detail_href(&external_id)
    )))
}

// --- Suspend and restore ------------------------------------------------------

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
}

pub async fn suspend(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    change_status(
        state,
        session,
        path.into_inner(),
        &form.csrf,
        StatusAction::Suspend,
    )
    .await
}

pub async fn restore(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<String>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    change_status(
        state,
        session,
        path.into_inner(),
        &form.csrf,
        StatusAction::Restore,
    )
    .await
}

async fn change_status(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    external_id: String,
    csrf: &str,
    action: StatusAction,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(csrf)?;
    session.require(Permission::ManageCustomers)?;
    let target = external_id.clone();
    let entry = match action {
        StatusAction::Suspend => session
            .audit(AuditAction::CustomerSuspended)
            .after(serde_json::json!({"status": "suspended"})),
        StatusAction::Restore => session
            .audit(AuditAction::CustomerRestored)
            .after(serde_json::json!({"status": "active"})),
    }
    .target(external_id.clone());
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| customers::apply_status_action(conn, &target, action)),
            |outcome| matches!(outcome, StatusActionOutcome::Changed { .. }),
        )
        .await?;
    let notice = match outcome {
        StatusActionOutcome::NotFound => return Err(no_such_customer(&external_id)),
        StatusActionOutcome::Changed { from, to } => {
            tracing::info!(
                operator = %session.email,
                customer = %external_id,
                %from,
                %to,
                "operator changed a customer's status"
            );
            match to {
                CustomerStatus::Suspended => "suspended",
                _ => "restored",
            }
        }
        StatusActionOutcome::Unchanged(_) => "unchanged",
        StatusActionOutcome::Refused(_) => "deleted",
        StatusActionOutcome::IdentityTaken { option_id, value } => {
            tracing::info!(
                operator = %session.email,
                customer = %external_id,
                %option_id,
                %value,
                "a deleted customer was not restored: another customer holds its value"
            );
            "identity_taken"
        }
    };
    Ok(super::pages::see_other(format!(
        "{}?notice={notice}",
        detail_href(&external_id)
    )))
}
