//! Operators over the API: the list, invitations, role changes, disabling
//! and re-enabling, password-reset links (Super Admin), and an operator's
//! own password. The console's Operators page calls the same functions.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ErrorBody, OperatorApiError};
use super::session::{SignedIn, SESSION_COOKIE};
use super::OperatorState;
use crate::domain::identity::EmailAddress;
use crate::domain::operator::{Permission, Role};
use crate::domain::operator_account::AccountChange;
use crate::domain::operator_audit::AuditAction;
use crate::domain::password;
use crate::domain::token::hash_token;
use crate::http::error::ServerError;
use crate::http::throttle::{self, Attempt};
use crate::store::operator_accounts::{
    self, ChangeOutcome, InviteOutcome, OperatorSummary, ResetOutcome,
};
use crate::store::operators;

/// An operator as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorAccountView {
    pub id: i64,
    pub email: String,
    pub role: Role,
    /// `active`, `invited` (no password chosen yet) or `disabled`.
    pub status: &'static str,
    #[serde(with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(with = "super::utc::option")]
    pub last_sign_in_at: Option<NaiveDateTime>,
}

impl From<OperatorSummary> for OperatorAccountView {
    fn from(summary: OperatorSummary) -> Self {
        Self {
            status: summary.status(),
            id: summary.id,
            email: summary.email,
            role: summary.role,
            created_at: summary.created_at,
            last_sign_in_at: summary.last_sign_in_at,
        }
    }
}

/// Every operator (Super Admin).
#[utoipa::path(get, path = "/operator/api/operators", tag = "Operator",
    responses((status = 200, body = [OperatorAccountView]), (status = 403, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageOperators)?;
    let rows = state.store.run(operator_accounts::list).await?;
    let views: Vec<OperatorAccountView> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(views))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct InviteRequest {
    #[schema(example = "new.operator@example.com")]
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invited {
    pub operator: OperatorAccountView,
    /// The invitation mail in the outbox.
    pub outbox_id: i64,
}

/// Why an invitation was not sent.
#[derive(Debug)]
pub enum InviteRefusal {
    NotAnEmail,
    EmailTaken,
}

/// Invites an operator: the account, without a password, and its
/// set-password mail, in one transaction with the audit row.
pub async fn invite_operator(
    state: &OperatorState,
    by: &SignedIn,
    email: &str,
    role: Role,
) -> Result<Result<Invited, InviteRefusal>, ServerError> {
    let Ok(address) = EmailAddress::parse(email) else {
        return Ok(Err(InviteRefusal::NotAnEmail));
    };
    let email = address.into_inner().to_lowercase();
    let entry = by
        .audit(AuditAction::OperatorInvited)
        .target(email.as_str())
        .after(serde_json::json!({"role": role.as_str()}));
    let stored = email.clone();
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| operator_accounts::invite(conn, &stored, role)),
            |outcome| matches!(outcome, InviteOutcome::Invited { .. }),
        )
        .await?;
    let (operator_id, outbox_id) = match outcome {
        InviteOutcome::Invited {
            operator_id,
            outbox_id,
        } => (operator_id, outbox_id),
        InviteOutcome::EmailTaken => return Ok(Err(InviteRefusal::EmailTaken)),
    };
    state.outbox.wake_worker();
    tracing::info!(operator = %by.email, invited = %email, "operator invited");
    let summary = state
        .store
        .run(move |conn| operator_accounts::find(conn, operator_id))
        .await?
        .ok_or_else(|| ServerError::internal(std::io::Error::other("invited operator gone")))?;
    Ok(Ok(Invited {
        operator: summary.into(),
        outbox_id,
    }))
}

/// Invites an operator by email (Super Admin): a set-password link is
/// mailed, never a password.
#[utoipa::path(post, path = "/operator/api/operators", tag = "Operator",
    request_body = InviteRequest,
    responses(
        (status = 201, body = Invited),
        (status = 403, body = ErrorBody),
        (status = 409, description = "An operator has this email.", body = ErrorBody),
        (status = 422, description = "Not an email address.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn invite(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    body: web::Json<InviteRequest>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageOperators)?;
    match invite_operator(&state, &operator, &body.email, body.role).await? {
        Ok(invited) => Ok(HttpResponse::Created().json(invited)),
        Err(InviteRefusal::NotAnEmail) => Err(OperatorApiError::Invalid(format!(
            "{:?} is not an email address.",
            body.email
        ))),
        Err(InviteRefusal::EmailTaken) => Err(OperatorApiError::Conflict(format!(
            "There is an operator with the email {} already.",
            body.email.trim()
        ))),
    }
}

/// Applies a change to an operator, with its audit row.
pub async fn change_operator(
    state: &OperatorState,
    by: &SignedIn,
    operator_id: i64,
    change: AccountChange,
) -> Result<ChangeOutcome, ServerError> {
    let entry = match change {
        AccountChange::SetRole(role) => by
            .audit(AuditAction::OperatorRoleChanged)
            .after(serde_json::json!({"role": role.as_str()})),
        AccountChange::Disable => by.audit(AuditAction::OperatorDisabled),
        AccountChange::Enable => by.audit(AuditAction::OperatorEnabled),
    }
    .target(operator_id.to_string());
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| operator_accounts::change(conn, operator_id, change)),
            |outcome| matches!(outcome, ChangeOutcome::Changed { .. }),
        )
        .await?;
    if let ChangeOutcome::Changed { after, .. } = &outcome {
        tracing::info!(operator = %by.email, changed = %after.email, ?change, "operator changed");
    }
    Ok(outcome)
}

/// A change to an operator: its role, or disabled (`true`) or re-enabled.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OperatorChange {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
}

/// Changes an operator's role or status (Super Admin). A disabled
/// operator's sessions and tokens stop at once; the last active Super Admin
/// can be neither disabled nor demoted.
#[utoipa::path(patch, path = "/operator/api/operators/{id}", tag = "Operator",
    params(("id" = i64, Path)),
    request_body = OperatorChange,
    responses(
        (status = 200, body = OperatorAccountView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last active Super Admin.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn change(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<i64>,
    body: web::Json<OperatorChange>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageOperators)?;
    let id = id.into_inner();
    let mut changes = Vec::new();
    if let Some(role) = body.role {
        changes.push(AccountChange::SetRole(role));
    }
    match body.disabled {
        Some(true) => changes.push(AccountChange::Disable),
        Some(false) => changes.push(AccountChange::Enable),
        None => {}
    }
    if changes.is_empty() {
        return Err(OperatorApiError::BadRequest(
            "Send a role, or disabled: true or false.".into(),
        ));
    }
    let mut last = None;
    for change in changes {
        match change_operator(&state, &operator, id, change).await? {
            ChangeOutcome::Changed { after, .. } => last = Some(after),
            ChangeOutcome::NotFound => {
                return Err(OperatorApiError::NotFound(format!(
                    "There is no operator {id}."
                )))
            }
            ChangeOutcome::Refused(refusal) => {
                return Err(OperatorApiError::Conflict(refusal.to_string()))
            }
        }
    }
    let view = OperatorAccountView::from(last.expect("at least one change"));
    Ok(HttpResponse::Ok().json(view))
}

/// Queues a set-password mail for an operator, with its audit row.
pub async fn send_reset_link(
    state: &OperatorState,
    by: &SignedIn,
    operator_id: i64,
) -> Result<ResetOutcome, ServerError> {
    let entry = by
        .audit(AuditAction::OperatorPasswordResetSent)
        .target(operator_id.to_string());
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| operator_accounts::queue_password_reset(conn, operator_id)),
            |outcome| matches!(outcome, ResetOutcome::Queued { .. }),
        )
        .await?;
    if matches!(outcome, ResetOutcome::Queued { .. }) {
        state.outbox.wake_worker();
    }
    Ok(outcome)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResetQueued {
    pub outbox_id: i64,
}

/// Mails an operator a set-password link (Super Admin).
#[utoipa::path(post, path = "/operator/api/operators/{id}/password-reset", tag = "Operator",
    params(("id" = i64, Path)),
    responses(
        (status = 202, body = ResetQueued),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The operator is disabled.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn password_reset(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageOperators)?;
    let id = id.into_inner();
    match send_reset_link(&state, &operator, id).await? {
        ResetOutcome::Queued { outbox_id } => {
            Ok(HttpResponse::Accepted().json(ResetQueued { outbox_id }))
        }
        ResetOutcome::NotFound => Err(OperatorApiError::NotFound(format!(
            "There is no operator {id}."
        ))),
        ResetOutcome::Disabled => Err(OperatorApiError::Conflict(
            "The operator is disabled: enable it first.".into(),
        )),
    }
}

/// Why an operator's own password was not changed.
#[derive(Debug)]
pub enum OwnPasswordRefusal {
    WrongCurrent,
    TooManyAttempts(String),
    Weak(String),
}

/// Changes the signed-in operator's password: the current one must be
/// given (throttled like sign-in); the operator's other sessions end.
pub async fn change_own_password(
    state: &OperatorState,
    operator: &SignedIn,
    current: String,
    new: String,
    session_token: Option<String>,
) -> Result<Result<(), OwnPasswordRefusal>, ServerError> {
    let account = format!("own-password:{}", operator.email);
    let throttled = Attempt::new(&account, operator.source_address.as_deref());
    if let Err(wait) = state.throttle.admit(throttled).await {
        return Ok(Err(OwnPasswordRefusal::TooManyAttempts(format!(
            "Too many wrong passwords. Try again in {}.",
            throttle::minutes(wait)
        ))));
    }
    if let Err(weak) = password::check_strength(&new) {
        return Ok(Err(OwnPasswordRefusal::Weak(weak.0)));
    }
    let email = operator.email.clone();
    let stored = state
        .store
        .run(move |conn| operators::find_by_email(conn, &email))
        .await?
        .map(|row| row.password_hash)
        .unwrap_or_default();
    let hashed = web::block(move || {
        if !password::verify(&current, &stored) {
            return Ok(None);
        }
        password::hash(&new).map(Some)
    })
    .await
    .map_err(ServerError::internal)?
    .map_err(|e| ServerError::internal(std::io::Error::other(e.to_string())))?;
    let Some(hash) = hashed else {
        state.throttle.failed(throttled);
        return Ok(Err(OwnPasswordRefusal::WrongCurrent));
    };
    state.throttle.succeeded(throttled);
    let operator_id = operator.operator_id;
    let keep = session_token.as_deref().map(hash_token);
    let entry = operator
        .audit(AuditAction::OperatorPasswordChanged)
        .target(operator.email.as_str());
    state
        .store
        .recording(
            entry.pending(),
            state.store.run(move |conn| {
                operator_accounts::set_own_password(conn, operator_id, &hash, keep.as_deref())
            }),
        )
        .await?;
    Ok(Ok(()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the signed-in operator's own password; other sessions end.
#[utoipa::path(put, path = "/operator/api/me/password", tag = "Operator",
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed."),
        (status = 401, body = ErrorBody),
        (status = 422, description = "The current password is wrong, or the new one too weak.", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn own_password(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    req: HttpRequest,
    body: web::Json<PasswordChange>,
) -> Result<HttpResponse, OperatorApiError> {
    let body = body.into_inner();
    let token = bearer_or_cookie(&req);
    match change_own_password(
        &state,
        &operator,
        body.current_password,
        body.new_password,
        token,
    )
    .await?
    {
        Ok(()) => Ok(HttpResponse::NoContent().finish()),
        Err(OwnPasswordRefusal::WrongCurrent) => Err(OperatorApiError::Invalid(
            "The current password is wrong.".into(),
        )),
        Err(OwnPasswordRefusal::Weak(message)) => Err(OperatorApiError::Invalid(message)),
        Err(OwnPasswordRefusal::TooManyAttempts(message)) => {
            Err(OperatorApiError::TooManyAttempts(message))
        }
    }
}

/// The session token a request carries, to keep that session open.
fn bearer_or_cookie(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, token)| token.trim().to_owned())
        .or_else(|| req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()))
}
