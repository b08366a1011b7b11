//! Application keys: the BSS applications that may call the contract.
//! A new key is shown once, on the page that answers its creation; only its
//! hash is stored, and it is never logged. A revoked key is refused at once.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::render_status;
use super::{ConsoleError, ConsoleSession};
use crate::domain::app_key::IssuedKey;
use crate::domain::catalog::setup_fields::{
    notification_mode_value, SetupValues, DEFAULT_PLAN, NOTIFICATION_MODE, SUPPORT_EMAIL,
};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::OperatorState;
use crate::http::service_manager::auth::ApplicationKeys;
use crate::store::applications::{self, ApplicationRow, CreateApplicationError};

pub const VIEWS: &[(&str, &str)] = &[
    ("keys", include_str!("../../../templates/console/keys.hbs")),
    (
        "keys_created",
        include_str!("../../../templates/console/keys_created.hbs"),
    ),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/keys", web::get().to(list))
        .route("/keys", web::post().to(create))
        .route("/keys/{app_id}/revoke", web::post().to(revoke));
}

const LIST_PATH: &str = "/console/keys";
const MAX_NAME_LEN: usize = 100;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    notice: String,
    app: String,
}

#[derive(Serialize)]
struct ApplicationView {
    name: String,
    app_id: String,
    created: String,
    revoked: Option<String>,
    active: bool,
    revoke_action: String,
    /// What its BSS sent as setup values (`None` before any call did).
    settings: Option<SettingsView>,
}

/// An application's setup values, read-only: what its BSS configured.
#[derive(Serialize)]
struct SettingsView {
    values: Vec<SettingView>,
    ignored: Vec<String>,
}

#[derive(Serialize)]
struct SettingView {
    id: &'static str,
    value: String,
}

impl From<SetupValues> for SettingsView {
    fn from(values: SetupValues) -> Self {
        let shown = [
            (
                NOTIFICATION_MODE,
                values.notification_mode.map(notification_mode_value),
            ),
            (DEFAULT_PLAN, values.default_plan.as_deref()),
            (SUPPORT_EMAIL, values.support_email.as_deref()),
        ];
        Self {
            values: shown
                .into_iter()
                .map(|(id, value)| SettingView {
                    id,
                    value: value
                        .unwrap_or("(not set: configuration applies)")
                        .to_owned(),
                })
                .collect(),
            ignored: values.ignored,
        }
    }
}

impl From<&ApplicationRow> for ApplicationView {
    fn from(row: &ApplicationRow) -> Self {
        Self {
            name: row.name.clone(),
            app_id: row.app_id.clone(),
            created: super::pages::display_time(row.created_at),
            revoked: row.revoked_at.map(super::pages::display_time),
            active: !row.is_revoked(),
            revoke_action: format!("{LIST_PATH}/{}/revoke", row.app_id),
            settings: row.settings().map(SettingsView::from),
        }
    }
}

#[derive(Serialize)]
struct ListView {
    applications: Vec<ApplicationView>,
    active_count: usize,
    /// What the create form holds (after a refused create).
    name: String,
    name_error: Option<String>,
    notice: Option<String>,
}

async fn list_page(
    state: &OperatorState,
    session: &ConsoleSession,
    status: StatusCode,
    name: String,
    name_error: Option<String>,
    revoked_app: Option<&str>,
) -> Result<HttpResponse, ConsoleError> {
    let rows = state.store.run(applications::list).await?;
    let notice = revoked_app
        .and_then(|app_id| rows.iter().find(|r| r.app_id == app_id && r.is_revoked()))
        .map(|row| {
            format!(
                "Application {} ({}) is revoked: its key is refused from now on.",
                row.name, row.app_id
            )
        });
    let view = ListView {
        active_count: rows.iter().filter(|r| !r.is_revoked()).count(),
        applications: rows.iter().map(ApplicationView::from).collect(),
        name,
        name_error,
        notice,
    };
    render_status(
        status,
        "keys",
        Some(&session.chrome("Application keys", "keys")),
        &view,
    )
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageApplicationKeys)?;
    let revoked_app = (query.notice == "revoked").then_some(query.app.as_str());
    list_page(
        &state,
        &session,
        StatusCode::OK,
        String::new(),
        None,
        revoked_app,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    csrf: String,
    name: String,
}

#[derive(Serialize)]
struct CreatedView<'a> {
    name: &'a str,
    app_id: &'a str,
    key: &'a str,
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Give the application a name, for example the BSS it is for.".into());
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(format!("Use at most {MAX_NAME_LEN} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Use one line of plain text.".into());
    }
    Ok(())
}

async fn create(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageApplicationKeys)?;
    let name = form.name.trim().to_owned();
    if let Err(message) = check_name(&name) {
        return list_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.name.clone(),
            Some(message),
            None,
        )
        .await;
    }
    let mut issued = IssuedKey::generate();
    // The key stays in this task: the store only needs its hash.
    let key = std::mem::take(&mut issued.key);
    let stored_name = name.clone();
    // The key itself is never recorded: the app id names it.
    let entry = session
        .audit(AuditAction::KeyCreated)
        .target(issued.app_id.to_string())
        .after(serde_json::json!({"name": name}));
    let created = state
        .store
        .recording_some(
            entry.pending(),
            state.store.run(
                move |conn| match applications::create(conn, &stored_name, &issued) {
                    Ok(row) => Ok(Some(row)),
                    Err(CreateApplicationError::NameTaken(_)) => Ok(None),
                    Err(CreateApplicationError::Store(error)) => Err(error),
                },
            ),
        )
        .await?;
    let Some(row) = created else {
        return list_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.name.clone(),
            Some(format!(
                "There is an application named {name} already; choose another name."
            )),
            None,
        )
        .await;
    };
    tracing::info!(
        operator = %session.email,
        app_id = %row.app_id,
        application = %row.name,
        "application created"
    );
    render_status(
        StatusCode::OK,
        "keys_created",
        Some(&session.chrome("New application key", "keys")),
        &CreatedView {
            name: &row.name,
            app_id: &row.app_id,
            key: &key,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RevokeForm {
    csrf: String,
}

async fn revoke(
    state: web::Data<OperatorState>,
    keys: web::Data<ApplicationKeys>,
    session: ConsoleSession,
    app_id: web::Path<String>,
    form: web::Form<RevokeForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageApplicationKeys)?;
    let no_such = || ConsoleError::NotFound("There is no such application.".into());
    // Only by id: the store would also take a name.
    let app_id = uuid::Uuid::parse_str(app_id.trim())
        .map_err(|_| no_such())?
        .to_string();
    let entry = session
        .audit(AuditAction::KeyRevoked)
        .target(app_id.clone());
    let revoked = state
        .store
        .recording_some(
            entry.pending(),
            state
                .store
                .run(move |conn| applications::revoke(conn, &app_id)),
        )
        .await?
        .ok_or_else(no_such)?;
    keys.forget(&revoked.app_id);
    tracing::info!(
        operator = %session.email,
        app_id = %revoked.app_id,
        application = %revoked.name,
        "application revoked"
    );
    Ok(super::pages::see_other(format!(
        "{LIST_PATH}?notice=revoked&app={}",
        revoked.app_id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_line_of_text() {
        assert!(check_name("BSS production").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a\nb").is_err());
        assert!(check_name(&"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
