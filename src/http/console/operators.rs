//! The Operators page (Super Admin): every operator with role, status and
//! last sign-in; invite, change a role, disable and re-enable, send a
//! password-reset link. Also an operator's own password page, and the
//! set-password page an invitation or reset link leads to.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{self, display_time, render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::{Permission, Role};
use crate::domain::operator_account::AccountChange;
use crate::domain::password;
use crate::domain::token::hash_token;
use crate::http::operator::operators::{
    change_operator, change_own_password, invite_operator, send_reset_link, InviteRefusal,
    OwnPasswordRefusal,
};
use crate::http::operator::session::{session_cookie, source_address};
use crate::http::operator::OperatorState;
use crate::store::operator_accounts::{self, ChangeOutcome, ResetOutcome, TokenState};

pub const VIEWS: &[(&str, &str)] = &[
    (
        "operators",
        include_str!("../../../templates/console/operators.hbs"),
    ),
    (
        "own_password",
        include_str!("../../../templates/console/own_password.hbs"),
    ),
    (
        "set_password",
        include_str!("../../../templates/console/set_password.hbs"),
    ),
];

const LIST_PATH: &str = "/console/operators";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/operators", web::get().to(list))
        .route("/operators", web::post().to(invite))
        .route("/operators/{id}/role", web::post().to(set_role))
        .route("/operators/{id}/disable", web::post().to(disable))
        .route("/operators/{id}/enable", web::post().to(enable))
        .route("/operators/{id}/password-reset", web::post().to(reset))
        .route("/password", web::get().to(own_password_form))
        .route("/password", web::post().to(own_password))
        .route("/set-password/{token}", web::get().to(set_password_form))
        .route("/set-password/{token}", web::post().to(set_password));
}

#[derive(Serialize)]
struct RoleChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn role_choices(current: Option<Role>) -> Vec<RoleChoice> {
    Role::ALL
        .into_iter()
        .map(|role| RoleChoice {
            value: role.as_str(),
            label: role.label(),
            selected: Some(role) == current,
        })
        .collect()
}

#[derive(Serialize)]
struct OperatorRow {
    id: i64,
    email: String,
    role: &'static str,
    status: &'static str,
    last_sign_in: Option<String>,
    created: String,
    roles: Vec<RoleChoice>,
    disabled: bool,
    is_self: bool,
}

#[derive(Serialize)]
struct ListView {
    operators: Vec<OperatorRow>,
    roles: Vec<RoleChoice>,
    invite_email: String,
    notice: Option<String>,
    problem: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    notice: String,
    problem: String,
}

fn notice_text(notice: &str) -> Option<String> {
    Some(
        match notice {
            "invited" => "The invitation is on its way.",
            "role" => "The role is changed.",
            "disabled" => "The operator is disabled; their sessions have ended.",
            "enabled" => "The operator is enabled again.",
            "reset" => "A set-password link is on its way.",
            _ => return None,
        }
        .to_owned(),
    )
}

fn problem_text(problem: &str) -> Option<String> {
    Some(
        match problem {
            "last_super_admin" => {
                "This is the last active Super Admin: make another operator Super Admin first."
            }
            "disabled" => "The operator is disabled: enable them first.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn list_page(
    state: &OperatorState,
    session: &ConsoleSession,
    status: StatusCode,
    invite_email: String,
    notice: Option<String>,
    problem: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let rows = state.store.run(operator_accounts::list).await?;
    let view = ListView {
        operators: rows
            .into_iter()
            .map(|row| OperatorRow {
                status: row.status(),
                role: row.role.label(),
                roles: role_choices(Some(row.role)),
                disabled: row.disabled_at.is_some(),
                is_self: row.id == session.operator_id,
                last_sign_in: row.last_sign_in_at.map(display_time),
                created: display_time(row.created_at),
                id: row.id,
                email: row.email,
            })
            .collect(),
        roles: role_choices(Some(Role::MailAdmin)),
        invite_email,
        notice,
        problem,
    };
    render_status(
        status,
        "operators",
        Some(&session.chrome("Operators", "operators")),
        &view,
    )
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageOperators)?;
    list_page(
        &state,
        &session,
        StatusCode::OK,
        String::new(),
        notice_text(&query.notice),
        problem_text(&query.problem),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    csrf: String,
    email: String,
    role: String,
}

async fn invite(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    form: web::Form<InviteForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageOperators)?;
    let refused = |message: String| {
        list_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.email.clone(),
            None,
            Some(message),
        )
    };
    let Some(role) = Role::parse(&form.role) else {
        return refused(format!("There is no role {:?}.", form.role)).await;
    };
    match invite_operator(&state, &session.as_operator(), &form.email, role).await? {
        Ok(_) => Ok(pages::see_other(format!("{LIST_PATH}?notice=invited"))),
        Err(InviteRefusal::NotAnEmail) => {
            refused(format!("{:?} is not an email address.", form.email)).await
        }
        Err(InviteRefusal::EmailTaken) => {
            refused(format!(
                "There is an operator with the email {} already.",
                form.email.trim()
            ))
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ActionForm {
    csrf: String,
    role: String,
}

async fn apply(
    state: &OperatorState,
    session: &ConsoleSession,
    id: i64,
    change: AccountChange,
    notice: &str,
) -> Result<HttpResponse, ConsoleError> {
    match change_operator(state, &session.as_operator(), id, change).await? {
        ChangeOutcome::Changed { .. } => {
            Ok(pages::see_other(format!("{LIST_PATH}?notice={notice}")))
        }
        ChangeOutcome::NotFound => Err(ConsoleError::NotFound("There is no such operator.".into())),
        ChangeOutcome::Refused(_) => Ok(pages::see_other(format!(
            "{LIST_PATH}?problem=last_super_admin"
        ))),
    }
}

async fn set_role(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageOperators)?;
    let role = Role::parse(&form.role)
        .ok_or_else(|| ConsoleError::BadForm(format!("There is no role {:?}.", form.role)))?;
    apply(&state, &session, *id, AccountChange::SetRole(role), "role").await
}

async fn disable(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageOperators)?;
    apply(&state, &session, *id, AccountChange::Disable, "disabled").await
}

async fn enable(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageOperators)?;
    apply(&state, &session, *id, AccountChange::Enable, "enabled").await
}

async fn reset(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<i64>,
    form: web::Form<ActionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageOperators)?;
    match send_reset_link(&state, &session.as_operator(), *id).await? {
        ResetOutcome::Queued { .. } => Ok(pages::see_other(format!("{LIST_PATH}?notice=reset"))),
        ResetOutcome::NotFound => Err(ConsoleError::NotFound("There is no such operator.".into())),
        ResetOutcome::Disabled => Ok(pages::see_other(format!("{LIST_PATH}?problem=disabled"))),
    }
}

// --- An operator's own password -----------------------------------------------

#[derive(Serialize)]
struct OwnPasswordView {
    notice: Option<&'static str>,
    problem: Option<String>,
}

async fn own_password_form(session: ConsoleSession) -> Result<HttpResponse, ConsoleError> {
    render(
        "own_password",
        &session.chrome("Your password", "password"),
        &OwnPasswordView {
            notice: None,
            problem: None,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OwnPasswordForm {
    csrf: String,
    current_password: String,
    password: String,
    confirm: String,
}

async fn own_password(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    req: HttpRequest,
    form: web::Form<OwnPasswordForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    let form = form.into_inner();
    let page = |status, notice, problem| {
        render_status(
            status,
            "own_password",
            Some(&session.chrome("Your password", "password")),
            &OwnPasswordView { notice, problem },
        )
    };
    if form.password != form.confirm {
        return page(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("The two new passwords differ. Type the same password twice.".into()),
        );
    }
    let changed = change_own_password(
        &state,
        &session.as_operator(),
        form.current_password,
        form.password,
        session_cookie(&req),
    )
    .await?;
    match changed {
        Ok(()) => page(StatusCode::OK, Some("Your password is changed."), None),
        Err(OwnPasswordRefusal::WrongCurrent) => page(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some("The current password is wrong.".into()),
        ),
        Err(OwnPasswordRefusal::Weak(message)) => {
            page(StatusCode::UNPROCESSABLE_ENTITY, None, Some(message))
        }
        Err(OwnPasswordRefusal::TooManyAttempts(message)) => {
            page(StatusCode::TOO_MANY_REQUESTS, None, Some(message))
        }
    }
}

// --- The set-password page of an invitation or reset link ------------------------

#[derive(Serialize)]
struct SetPasswordView {
    email: Option<String>,
    problem: Option<String>,
    /// The link cannot be used (used, expired, unknown): no form.
    dead: bool,
}

fn dead_link(state: &TokenState) -> Option<&'static str> {
    match state {
        TokenState::Valid { .. } => None,
        TokenState::Unknown => Some("This link is not valid. Ask a Super Admin for a new one."),
        TokenState::Used => Some("This link was used already. Sign in, or ask for a new one."),
        TokenState::Expired => Some("This link has expired. Ask a Super Admin for a new one."),
        TokenState::OperatorDisabled => Some("This account is disabled."),
    }
}

fn set_password_page(
    status: StatusCode,
    view: &SetPasswordView,
) -> Result<HttpResponse, ConsoleError> {
    render_status(status, "set_password", None, view)
}

async fn set_password_form(
    state: web::Data<OperatorState>,
    token: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let hash = hash_token(&token);
    let found = state
        .store
        .run(move |conn| operator_accounts::check_token(conn, &hash))
        .await?;
    let (status, view) = match (&found, dead_link(&found)) {
        (TokenState::Valid { email }, _) => (
            StatusCode::OK,
            SetPasswordView {
                email: Some(email.clone()),
                problem: None,
                dead: false,
            },
        ),
        (_, message) => (
            StatusCode::GONE,
            SetPasswordView {
                email: None,
                problem: message.map(str::to_owned),
                dead: true,
            },
        ),
    };
    set_password_page(status, &view)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct SetPasswordForm {
    password: String,
    confirm: String,
}

/// No CSRF token: the link's own token is the credential, and a forged
/// form would have to know it.
async fn set_password(
    state: web::Data<OperatorState>,
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<SetPasswordForm>,
) -> Result<HttpResponse, ConsoleError> {
    let hash = hash_token(&token);
    let form = form.into_inner();
    let retry = |problem: String| {
        set_password_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SetPasswordView {
                email: None,
                problem: Some(problem),
                dead: false,
            },
        )
    };
    if form.password != form.confirm {
        return retry("The two passwords differ. Type the same password twice.".into());
    }
    if let Err(weak) = password::check_strength(&form.password) {
        return retry(weak.0);
    }
    let chosen = form.password;
    let password_hash = web::block(move || password::hash(&chosen))
        .await
        .map_err(|e| ConsoleError::from(crate::http::error::ServerError::internal(e)))?
        .map_err(|e| {
            ConsoleError::from(crate::http::error::ServerError::internal(
                std::io::Error::other(e.to_string()),
            ))
        })?;
    let address = source_address(&req);
    let outcome = state
        .store
        .run(move |conn| {
            operator_accounts::set_password_with_token(conn, &hash, &password_hash, address)
        })
        .await?;
    match dead_link(&outcome) {
        None => Ok(pages::see_other("/console/login?notice=password_set")),
        Some(message) => set_password_page(
            StatusCode::GONE,
            &SetPasswordView {
                email: None,
                problem: Some(message.to_owned()),
                dead: true,
            },
        ),
    }
}
