//! Customers, as operators act on them through the API: a new activation
//! link for a customer who lost or let expire the first one.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::config::NotificationMode;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::store::activation::{ResendCustomer, ResendOutcome};
use crate::store::{applications, customers, StoreError};

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivationLinkQueued {
    /// The outbox row of the new access mail.
    pub outbox_id: i64,
}

/// What a request for a new activation link did.
#[derive(Debug)]
pub enum NewLink {
    Queued {
        outbox_id: i64,
    },
    NotSent(ResendOutcome),
    /// In BSS notification mode the BSS mails customers, not Mailroom.
    BssSendsMail,
}

/// Queues a new activation link, for both operator front ends.
pub async fn send_new_activation_link(
    state: &OperatorState,
    external_id: String,
) -> Result<NewLink, StoreError> {
    // The customer's application may have chosen its own notification mode.
    let configured = state.notifier.settings().mode;
    let lookup = external_id.clone();
    let mode = state
        .store
        .run(move |conn| {
            let Some(customer) = customers::find_by_external_id(conn, &lookup)? else {
                return Ok(configured);
            };
            Ok(applications::settings_of(conn, customer.application_id)?
                .map_or(configured, |values| values.mode_or(configured)))
        })
        .await?;
    if mode == NotificationMode::Bss {
        return Ok(NewLink::BssSendsMail);
    }
    let outcome = state
        .outbox
        .send_new_activation_link(ResendCustomer::ByExternalId(external_id), None)
        .await?;
    Ok(match outcome {
        ResendOutcome::Queued { outbox_id } => NewLink::Queued { outbox_id },
        other => NewLink::NotSent(other),
    })
}

/// Sends the customer a new activation link: every earlier link expires and
/// a fresh access mail is queued (Admin and Super Admin).
#[utoipa::path(post, path = "/operator/api/customers/{external_id}/activation-link", tag = "Operator",
    params(("external_id" = String, Path, description = "The customer's ExternalID.")),
    responses(
        (status = 202, description = "The new access mail is queued.", body = ActivationLinkQueued),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The customer activated already, is suspended or deleted, or the BSS sends the mail.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn new_activation_link(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    external_id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageCustomers)?;
    let external_id = external_id.into_inner();
    let entry = operator
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
    match sent {
        NewLink::Queued { outbox_id } => {
            tracing::info!(operator = %operator.email, customer = %external_id, outbox_id, "new activation link queued");
            Ok(HttpResponse::Accepted().json(ActivationLinkQueued { outbox_id }))
        }
        NewLink::BssSendsMail => Err(OperatorApiError::Conflict(
            "In BSS notification mode the BSS sends the access mail; Mailroom sends no links."
                .into(),
        )),
        NewLink::NotSent(ResendOutcome::NotFound) => Err(OperatorApiError::NotFound(format!(
            "There is no customer {external_id}."
        ))),
        NewLink::NotSent(ResendOutcome::AlreadyActivated) => Err(OperatorApiError::Conflict(
            format!("Customer {external_id} has chosen its password already."),
        )),
        NewLink::NotSent(_) => Err(OperatorApiError::Conflict(format!(
            "Customer {external_id} is suspended or deleted; restore it first."
        ))),
    }
}
