//! Notification templates in the console: the list, the editor with a live
//! preview and the merge fields, revisions with their differences, restore,
//! and a test mail. Saving goes through the same checks as the operator API.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use super::pages::{self, render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::identity::EmailAddress;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::error::OperatorApiError;
use crate::http::operator::OperatorState;
use crate::notify::template::{
    MergeField, TemplateError, TemplatePart, TemplateProblem, TemplateSource,
};
use crate::notify::NotifyError;

use crate::store::email_templates::{
    self as template_store, NewRevision, RevisionRow, SaveOutcome,
};

pub const VIEWS: &[(&str, &str)] = &[
    (
        "templates_list",
        include_str!("../../../templates/console/templates_list.hbs"),
    ),
    (
        "templates_edit",
        include_str!("../../../templates/console/templates_edit.hbs"),
    ),
    (
        "templates_revisions",
        include_str!("../../../templates/console/templates_revisions.hbs"),
    ),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/templates", web::get().to(list))
        .route("/templates/{name}", web::get().to(edit))
        .route("/templates/{name}", web::post().to(save))
        .route("/templates/{name}/revisions", web::get().to(revisions))
        .route(
            "/templates/{name}/revisions/{revision}/restore",
            web::post().to(restore),
        )
        .route("/templates/{name}/test-mail", web::post().to(test_mail));
}

#[derive(Serialize)]
struct ListView {
    templates: Vec<ListRow>,
}

#[derive(Serialize)]
struct ListRow {
    name: String,
    revision: i32,
    subject: String,
    updated_at: NaiveDateTime,
    updated_by: Option<String>,
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadTemplates)?;
    let rows = state.store.run(template_store::list_current).await?;
    let templates = rows
        .into_iter()
        .map(|row| ListRow {
            name: row.template_name,
            revision: row.revision,
            subject: row.subject,
            updated_at: row.created_at,
            updated_by: row.created_by,
        })
        .collect();
    render(
        "templates_list",
        &session.chrome("Templates", "templates"),
        &ListView { templates },
    )
}

/// The editor's content: the text being edited and what went wrong with it.
#[derive(Serialize, Default)]
struct EditView {
    name: String,
    /// The revision the text started from (sent back on save).
    base_revision: i32,
    current_revision: i32,
    subject: String,
    text_body: String,
    html_body: String,
    fields: Vec<MergeField>,
    can_edit: bool,
    notice: Option<String>,
    /// A message above the form (stale save, test mail problems).
    error: Option<String>,
    subject_problems: Vec<String>,
    text_problems: Vec<String>,
    html_problems: Vec<String>,
    test_to: String,
}

impl EditView {
    fn problems(&mut self, problems: Vec<TemplateProblem>) {
        for problem in problems {
            let list = match problem.part {
                TemplatePart::Subject => &mut self.subject_problems,
                TemplatePart::TextBody => &mut self.text_problems,
                TemplatePart::HtmlBody => &mut self.html_problems,
            };
            list.push(problem.message);
        }
    }
}

#[derive(Debug, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

async fn current_row(state: &OperatorState, name: &str) -> Result<RevisionRow, ConsoleError> {
    let owned = name.to_owned();
    state
        .store
        .run(move |conn| template_store::current(conn, &owned))
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no template named {name}.")))
}

async fn editor_view(
    state: &OperatorState,
    session: &ConsoleSession,
    row: RevisionRow,
) -> Result<EditView, ConsoleError> {
    let fields = state.notifier.known_fields().await?.fields().to_vec();
    Ok(EditView {
        name: row.template_name,
        base_revision: row.revision,
        current_revision: row.revision,
        subject: row.subject,
        text_body: row.text_body,
        html_body: row.html_body,
        fields,
        can_edit: session.role.allows(Permission::EditTemplates),
        ..EditView::default()
    })
}

fn notice_text(code: Option<&str>) -> Option<String> {
    Some(
        match code? {
            "saved" => "Saved as a new revision.",
            "restored" => "The revision was restored as a new revision.",
            "test-mail" => "Test mail queued: see the Outbox for its delivery.",
            _ => return None,
        }
        .to_owned(),
    )
}

async fn edit(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    name: web::Path<String>,
    query: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadTemplates)?;
    let row = current_row(&state, &name).await?;
    let mut view = editor_view(&state, &session, row).await?;
    view.notice = notice_text(query.notice.as_deref());
    render(
        "templates_edit",
        &session.chrome(format!("Template {}", view.name), "templates"),
        &view,
    )
}

#[derive(Debug, Deserialize)]
struct SaveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    text_body: String,
    #[serde(default)]
    html_body: String,
    #[serde(default)]
    base_revision: Option<i32>,
}

/// The editor page with `view`, e.g. again after a refused save.
fn editor_page(
    status: StatusCode,
    session: &ConsoleSession,
    view: &EditView,
) -> Result<HttpResponse, ConsoleError> {
    render_status(
        status,
        "templates_edit",
        Some(&session.chrome(format!("Template {}", view.name), "templates")),
        view,
    )
}

/// Saves a new revision, or shows the editor again with each problem next
/// to its part, keeping what the operator typed.
async fn save(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    name: web::Path<String>,
    form: web::Form<SaveForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::EditTemplates)?;
    let form = form.into_inner();
    let current = current_row(&state, &name).await?;
    let source = TemplateSource {
        subject: form.subject,
        text_body: form.text_body,
        html_body: form.html_body,
    };
    let mut view = editor_view(&state, &session, current).await?;
    view.base_revision = form.base_revision.unwrap_or(view.current_revision);
    view.subject = source.subject.clone();
    view.text_body = source.text_body.clone();
    view.html_body = source.html_body.clone();
    let entry = session
        .audit(AuditAction::TemplateSaved)
        .target(name.as_str())
        .after(serde_json::json!({"subject": source.subject}));
    let saving = state.notifier.save_revision(NewRevision {
        name: name.to_string().into(),
        source,
        author: session.email.clone().into(),
        base_revision: form.base_revision,
        restored_from: None,
    });
    let saved = state
        .store
        .recording_when(entry.pending(), saving, |outcome| {
            matches!(outcome, SaveOutcome::Saved(_))
        })
        .await;
    match saved {
        Ok(SaveOutcome::Saved(row)) => {
            tracing::info!(template = %name, revision = row.revision, operator = %session.email, "template saved in the console");
            Ok(pages::see_other(format!(
                "/console/templates/{name}?notice=saved"
            )))
        }
        Err(NotifyError::Template {
            source: TemplateError::Invalid(problems),
            ..
        }) => {
            view.problems(problems);
            view.error =
                Some("Not saved: the template has problems, shown next to each part.".into());
            editor_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &view)
        }
        Err(other) => Err(OperatorApiError::from(other).into()),
        Ok(SaveOutcome::NoSuchTemplate) => Err(ConsoleError::NotFound(format!(
            "There is no template named {name}."
        ))),
        Ok(SaveOutcome::Stale { base, current }) => {
            view.error = Some(format!(
                "Not saved: you edited revision {base}, but revision {current} was saved \
                 meanwhile. Your text is below; open the template again to see theirs, then \
                 apply your changes to it."
            ));
            editor_page(StatusCode::CONFLICT, &session, &view)
        }
    }
}

#[derive(Serialize)]
struct RevisionsView {
    name: String,
    current_revision: i32,
    can_edit: bool,
    revisions: Vec<RevisionView>,
    /// Links to the next (older) page and back to the first.
    older_href: Option<String>,
    newest_href: Option<String>,
}

#[derive(Serialize)]
struct RevisionView {
    revision: i32,
    created_at: NaiveDateTime,
    created_by: Option<String>,
    restored_from: Option<i32>,
    is_current: bool,
    subject: String,
    /// Line differences from the revision before it.
    diff: Vec<DiffLine>,
    changed: bool,
}

#[derive(Serialize)]
struct DiffLine {
    /// "add", "del" or "same".
    kind: &'static str,
    text: String,
}

/// Differences between two texts of a template, part by part.
fn diff(old: Option<&RevisionRow>, new: &RevisionRow) -> Vec<DiffLine> {
    let mut lines = Vec::new();
    let parts = [
        ("Subject", old.map(|o| o.subject.as_str()), &new.subject),
        (
            "Text body",
            old.map(|o| o.text_body.as_str()),
            &new.text_body,
        ),
        (
            "HTML body",
            old.map(|o| o.html_body.as_str()),
            &new.html_body,
        ),
    ];
    for (label, before, after) in parts {
        let before = before.unwrap_or("");
        if before == after.as_str() {
            continue;
        }
        lines.push(DiffLine {
            kind: "same",
            text: format!("── {label} ──"),
        });
        let text_diff = similar::TextDiff::from_lines(before, after.as_str());
        for change in text_diff.iter_all_changes() {
            let kind = match change.tag() {
                similar::ChangeTag::Insert => "add",
                similar::ChangeTag::Delete => "del",
                similar::ChangeTag::Equal => "same",
            };
            let sign = match kind {
                "add" => "+ ",
                "del" => "- ",
                _ => "  ",
            };
            lines.push(DiffLine {
                kind,
                text: format!("{sign}{}", change.value().trim_end_matches('\n')),
            });
        }
    }
    lines
}

/// Revisions shown on one page of a template's history.
const REVISIONS_PAGE: i64 = 25;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RevisionsQuery {
    before: String,
}

async fn revisions(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    name: web::Path<String>,
    query: web::Query<RevisionsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadTemplates)?;
    let owned = name.to_string();
    let before = query.before.trim().parse::<i32>().ok().filter(|r| *r > 0);
    // One row past the page: the predecessor the last row's differences
    // are counted from, and the sign that older revisions exist.
    let (current, rows) = state
        .store
        .run(move |conn| {
            let current = template_store::current_revision_number(conn, &owned)?;
            let rows = template_store::revisions(conn, &owned, before, REVISIONS_PAGE + 1)?;
            Ok((current, rows))
        })
        .await?;
    let Some(current_revision) = current else {
        return Err(ConsoleError::NotFound(format!(
            "There is no template named {name}."
        )));
    };
    let shown = rows.len().min(REVISIONS_PAGE as usize);
    // Newest first: each revision's predecessor is the next row.
    let revisions: Vec<RevisionView> = rows[..shown]
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let lines = diff(rows.get(i + 1), row);
            RevisionView {
                revision: row.revision,
                created_at: row.created_at,
                created_by: row.created_by.clone(),
                restored_from: row.restored_from,
                is_current: row.revision == current_revision,
                subject: row.subject.clone(),
                changed: lines.iter().any(|l| l.kind != "same"),
                diff: lines,
            }
        })
        .collect();
    let base = format!(
        "/console/templates/{}/revisions",
        super::pages::encode_component(&name)
    );
    let older_href = (rows.len() > shown)
        .then(|| {
            revisions
                .last()
                .map(|last| format!("{base}?before={}", last.revision))
        })
        .flatten();
    render(
        "templates_revisions",
        &session.chrome(format!("Revisions of {name}"), "templates"),
        &RevisionsView {
            name: name.to_string(),
            current_revision,
            can_edit: session.role.allows(Permission::EditTemplates),
            revisions,
            newest_href: before.map(|_| base.clone()),
            older_href,
        },
    )
}

#[derive(Debug, Deserialize)]
struct RestoreForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    base_revision: Option<i32>,
}

async fn restore(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    path: web::Path<(String, i32)>,
    form: web::Form<RestoreForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::EditTemplates)?;
    let (name, wanted) = path.into_inner();
    let owned = name.clone();
    let old = state
        .store
        .run(move |conn| template_store::revision(conn, &owned, wanted))
        .await?
        .ok_or_else(|| {
            ConsoleError::NotFound(format!("Template {name} has no revision {wanted}."))
        })?;
    let entry = session
        .audit(AuditAction::TemplateRestored)
        .target(name.as_str())
        .after(serde_json::json!({"restored_from": wanted}));
    let restoring = state.notifier.save_revision(NewRevision {
        name: name.clone().into(),
        source: old.source(),
        author: session.email.clone().into(),
        base_revision: form.base_revision,
        restored_from: Some(wanted),
    });
    let restored = state
        .store
        .recording_when(entry.pending(), restoring, |outcome| {
            matches!(outcome, SaveOutcome::Saved(_))
        })
        .await;
    match restored {
        Ok(SaveOutcome::Saved(_)) => Ok(pages::see_other(format!(
            "/console/templates/{name}?notice=restored"
        ))),
        Ok(SaveOutcome::NoSuchTemplate) => Err(ConsoleError::NotFound(format!(
            "There is no template named {name}."
        ))),
        Ok(SaveOutcome::Stale { current, .. }) => Ok(pages::error_page(
            StatusCode::CONFLICT,
            "Not restored",
            &format!(
                "Revision {current} was saved meanwhile. Open the revisions again and choose."
            ),
        )),
        Err(error @ NotifyError::Template { .. }) => Ok(pages::error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Cannot restore",
            &format!(
                "Revision {wanted} no longer passes the checks (a field it uses may be gone): {}",
                crate::telemetry::error_chain(&error)
            ),
        )),
        Err(other) => Err(OperatorApiError::from(other).into()),
    }
}

#[derive(Debug, Deserialize)]
struct TestMailForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    to: String,
}

async fn test_mail(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    name: web::Path<String>,
    form: web::Form<TestMailForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::SendTestMail)?;
    let row = current_row(&state, &name).await?;
    let to = match EmailAddress::parse(&form.to) {
        Ok(address) => address.into_inner(),
        Err(_) => {
            let mut view = editor_view(&state, &session, row).await?;
            view.test_to = form.to.clone();
            view.error = Some(format!(
                "{:?} is not an email address: the test mail was not sent.",
                form.to
            ));
            return editor_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &view);
        }
    };
    let owned = name.to_string();
    let entry = session
        .audit(AuditAction::TestMailSent)
        .target(owned.as_str())
        .after(serde_json::json!({"to": to}));
    let queued = state
        .store
        .recording(entry.pending(), state.outbox.queue_test(owned, to))
        .await?;
    tracing::info!(outbox_id = queued.id, operator = %session.email, "test mail queued from the console");
    Ok(pages::see_other(format!(
        "/console/templates/{name}?notice=test-mail"
    )))
}
