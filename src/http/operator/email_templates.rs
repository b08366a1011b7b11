//! Email templates: read, edit (a new revision each time), restore, preview
//! and test-send.

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::identity::EmailAddress;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::notify::template::{MergeField, RenderedMessage, TemplateSource};
use crate::store::customers;
use crate::store::email_templates::{
    self as template_store, NewRevision, RevisionRow, SaveOutcome,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateSummary {
    pub name: String,
    pub revision: i32,
    pub subject: String,
    #[serde(with = "super::utc")]
    pub updated_at: NaiveDateTime,
    pub updated_by: Option<String>,
}

/// A template revision with its text.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateRevision {
    pub name: String,
    pub revision: i32,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    #[serde(with = "super::utc")]
    pub created_at: NaiveDateTime,
    /// The operator who saved it; absent for the default.
    pub created_by: Option<String>,
    /// Set when this revision restored an older one.
    pub restored_from: Option<i32>,
}

impl From<RevisionRow> for TemplateRevision {
    fn from(row: RevisionRow) -> Self {
        Self {
            name: row.template_name,
            revision: row.revision,
            subject: row.subject,
            text_body: row.text_body,
            html_body: row.html_body,
            created_at: row.created_at,
            created_by: row.created_by,
            restored_from: row.restored_from,
        }
    }
}

/// The current revision and the merge fields it may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateDetail {
    #[serde(flatten)]
    pub current: TemplateRevision,
    pub known_fields: Vec<MergeField>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TemplateUpdate {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// The revision the edit started from: when someone saved a newer one
    /// meanwhile, the save is refused (409) instead of overwriting it.
    pub base_revision: Option<i32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RestoreRequest {
    pub base_revision: Option<i32>,
}

/// A draft to preview (the current revision where a part is absent) and
/// whose values to use: a customer's, or sample values.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PreviewRequest {
    pub subject: Option<String>,
    pub text_body: Option<String>,
    pub html_body: Option<String>,
    /// ExternalID of a customer whose values fill the fields.
    pub customer: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct TestMailRequest {
    #[schema(example = "me@example.com")]
    pub to: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TestMailQueued {
    pub outbox_id: i64,
    pub status: String,
}

async fn current_row(state: &OperatorState, name: &str) -> Result<RevisionRow, OperatorApiError> {
    let owned = name.to_owned();
    state
        .store
        .run(move |conn| template_store::current(conn, &owned))
        .await?
        .ok_or_else(|| no_such_template(name))
}

fn no_such_template(name: &str) -> OperatorApiError {
    OperatorApiError::NotFound(format!("There is no template named {name}."))
}

/// Every template at its current revision.
#[utoipa::path(get, path = "/operator/api/templates", tag = "Operator",
    responses((status = 200, body = [TemplateSummary]), (status = 401, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadTemplates)?;
    let rows = state.store.run(template_store::list_current).await?;
    let summaries: Vec<TemplateSummary> = rows
        .into_iter()
        .map(|row| TemplateSummary {
            name: row.template_name,
            revision: row.revision,
            subject: row.subject,
            updated_at: row.created_at,
            updated_by: row.created_by,
        })
        .collect();
    Ok(HttpResponse::Ok().json(summaries))
}

/// A template's current revision and the merge fields it may use.
#[utoipa::path(get, path = "/operator/api/templates/{name}", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions")),
    responses((status = 200, body = TemplateDetail), (status = 404, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn get(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    name: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadTemplates)?;
    let row = current_row(&state, &name).await?;
    let known = state.notifier.known_fields().await?;
    Ok(HttpResponse::Ok().json(TemplateDetail {
        current: row.into(),
        known_fields: known.fields().to_vec(),
    }))
}

/// Saves a new revision. It is checked first: a syntax error or an unknown
/// merge field is refused with the part, line and the known fields.
#[utoipa::path(put, path = "/operator/api/templates/{name}", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions")),
    request_body = TemplateUpdate,
    responses(
        (status = 200, description = "Saved as a new revision.", body = TemplateRevision),
        (status = 409, description = "Someone saved a newer revision meanwhile.", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 422, description = "The template has problems.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn update(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    name: web::Path<String>,
    body: web::Json<TemplateUpdate>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::EditTemplates)?;
    let update = body.into_inner();
    let source = TemplateSource {
        subject: update.subject,
        text_body: update.text_body,
        html_body: update.html_body,
    };
    save(&state, &operator, &name, source, update.base_revision, None).await
}

async fn save(
    state: &OperatorState,
    operator: &SignedIn,
    name: &str,
    source: TemplateSource,
    base_revision: Option<i32>,
    restored_from: Option<i32>,
) -> Result<HttpResponse, OperatorApiError> {
    let entry = match restored_from {
        Some(revision) => operator
            .audit(AuditAction::TemplateRestored)
            .after(serde_json::json!({"restored_from": revision})),
        None => operator
            .audit(AuditAction::TemplateSaved)
            .after(serde_json::json!({"subject": source.subject})),
    }
    .target(name);
    let saving = state.notifier.save_revision(NewRevision {
        name: name.to_owned().into(),
        source,
        author: operator.email.clone().into(),
        base_revision,
        restored_from,
    });
    let outcome = state
        .store
        .recording_when(entry.pending(), saving, |outcome| {
            matches!(outcome, SaveOutcome::Saved(_))
        })
        .await?;
    match outcome {
        SaveOutcome::Saved(row) => {
            tracing::info!(template = name, revision = row.revision, operator = %operator.email, "template saved");
            Ok(HttpResponse::Ok().json(TemplateRevision::from(row)))
        }
        SaveOutcome::NoSuchTemplate => Err(no_such_template(name)),
        SaveOutcome::Stale { base, current } => Err(OperatorApiError::Conflict(format!(
            "You edited revision {base}, but revision {current} was saved meanwhile. Reload it \
             and apply your changes again."
        ))),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct RevisionsQuery {
    /// Only revisions older than this one (the last revision of the previous page).
    pub before: Option<i32>,
    /// Page size, 1 to 200 (50).
    pub limit: Option<i64>,
}

/// A template's revisions, newest first, a page at a time.
#[utoipa::path(get, path = "/operator/api/templates/{name}/revisions", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions"), RevisionsQuery),
    responses((status = 200, body = [TemplateRevision]), (status = 404, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn revisions(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    name: web::Path<String>,
    query: web::Query<RevisionsQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadTemplates)?;
    let owned = name.clone();
    let RevisionsQuery { before, limit } = query.into_inner();
    let limit = limit.unwrap_or(50).clamp(1, 200);
    let (current, rows) = state
        .store
        .run(move |conn| {
            let current = template_store::current_revision_number(conn, &owned)?;
            Ok((
                current,
                template_store::revisions(conn, &owned, before, limit)?,
            ))
        })
        .await?;
    if current.is_none() {
        return Err(no_such_template(&name));
    }
    let revisions: Vec<TemplateRevision> = rows.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(revisions))
}

/// Makes an old revision current again, as a new revision.
#[utoipa::path(post, path = "/operator/api/templates/{name}/revisions/{revision}/restore", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions"), ("revision" = i32, Path)),
    request_body(content = Option<RestoreRequest>),
    responses(
        (status = 200, description = "Restored as a new revision.", body = TemplateRevision),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "The old text no longer passes (a sync option it uses is gone).", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn restore(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    path: web::Path<(String, i32)>,
    body: Option<web::Json<RestoreRequest>>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::EditTemplates)?;
    let (name, wanted) = path.into_inner();
    let owned = name.clone();
    let old = state
        .store
        .run(move |conn| template_store::revision(conn, &owned, wanted))
        .await?
        .ok_or_else(|| {
            OperatorApiError::NotFound(format!("Template {name} has no revision {wanted}."))
        })?;
    let base = body.and_then(|b| b.into_inner().base_revision);
    save(&state, &operator, &name, old.source(), base, Some(wanted)).await
}

/// Renders a template (or a draft of it) with sample values or a customer's.
#[utoipa::path(post, path = "/operator/api/templates/{name}/preview", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions")),
    request_body(content = Option<PreviewRequest>),
    responses(
        (status = 200, body = RenderedMessage),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The draft has problems.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn preview(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    name: web::Path<String>,
    body: Option<web::Json<PreviewRequest>>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::PreviewTemplates)?;
    let request = body.map(web::Json::into_inner).unwrap_or_default();
    let current = current_row(&state, &name).await?;
    let draft = TemplateSource {
        subject: request.subject.unwrap_or(current.subject),
        text_body: request.text_body.unwrap_or(current.text_body),
        html_body: request.html_body.unwrap_or(current.html_body),
    };
    let compiled = state.notifier.compile(&draft).await?;
    let context = match request.customer {
        Some(external_id) => {
            let lookup = external_id.trim().to_owned();
            let details = state
                .store
                .run(move |conn| customers::load_details(conn, &lookup))
                .await?
                .ok_or_else(|| {
                    OperatorApiError::NotFound(format!("There is no customer {external_id}."))
                })?;
            let mut context = state.notifier.customer_context(&details);
            // A preview must not mint a working link.
            context.activation_url = Some(format!(
                "{}{}(a one-time link is created when the mail is sent)",
                state.notifier.settings().public_url,
                crate::notify::ACTIVATION_PATH
            ));
            context
        }
        None => state.notifier.sample_context().await?,
    };
    Ok(HttpResponse::Ok().json(compiled.render(&context)?))
}

/// Queues the current revision, rendered with sample values, to an address.
#[utoipa::path(post, path = "/operator/api/templates/{name}/test-mail", tag = "Operator",
    params(("name" = String, Path, example = "access_instructions")),
    request_body = TestMailRequest,
    responses(
        (status = 202, description = "Queued; the outbox shows its delivery.", body = TestMailQueued),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn test_mail(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    name: web::Path<String>,
    body: web::Json<TestMailRequest>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::SendTestMail)?;
    let to = EmailAddress::parse(&body.to)
        .map_err(|_| OperatorApiError::Invalid(format!("{:?} is not an email address.", body.to)))?
        .into_inner();
    current_row(&state, &name).await?;
    let owned = name.into_inner();
    let entry = operator
        .audit(AuditAction::TestMailSent)
        .target(owned.clone())
        .after(serde_json::json!({"to": to}));
    let row = state
        .store
        .recording(entry.pending(), state.outbox.queue_test(owned, to))
        .await?;
    tracing::info!(outbox_id = row.id, operator = %operator.email, "test mail queued");
    Ok(HttpResponse::Accepted().json(TestMailQueued {
        outbox_id: row.id,
        status: row.status.as_str().to_owned(),
    }))
}
