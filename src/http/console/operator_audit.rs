//! The Audit page (Super Admin): what operators did, filtered by operator,
//! action and dates, paged newest first, and the same rows as CSV.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::pages::{self, display_time, render};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::operator_audit::AuditQuery;
use crate::http::operator::OperatorState;
use crate::store::operator_audit::{self, AuditRow};

pub const VIEWS: &[(&str, &str)] = &[(
    "operator_audit",
    include_str!("../../../templates/console/operator_audit.hbs"),
)];

const LIST_PATH: &str = "/console/audit";
const PAGE_SIZE: i64 = 50;
/// The most rows one export holds: a narrower filter gets the rest.
pub const EXPORT_LIMIT: i64 = 100_000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let query = || {
        web::QueryConfig::default()
            .error_handler(|error, _| ConsoleError::BadForm(error.to_string()).into())
    };
    cfg.service(
        web::resource("/audit.csv")
            .app_data(query())
            .route(web::get().to(export)),
    )
    .service(
        web::resource("/audit")
            .app_data(query())
            .route(web::get().to(list)),
    );
}

#[derive(Serialize)]
struct EntryRow {
    id: i64,
    occurred: String,
    operator: String,
    action: String,
    target: Option<String>,
    source_address: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl From<AuditRow> for EntryRow {
    fn from(row: AuditRow) -> Self {
        Self {
            id: row.id,
            occurred: display_time(row.occurred_at),
            operator: row.operator_email,
            action: row.action,
            target: row.target,
            source_address: row.source_address,
            before: row.before_state,
            after: row.after_state,
        }
    }
}

#[derive(Serialize)]
struct ActionChoice {
    value: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct ListView {
    entries: Vec<EntryRow>,
    actions: Vec<ActionChoice>,
    operator: String,
    from: String,
    until: String,
    problem: Option<String>,
    next_href: Option<String>,
    first_href: Option<String>,
    csv_href: String,
}

/// The list's address with these filters (and `before`).
fn href(path: &str, query: &AuditQuery, before: Option<i64>) -> String {
    let mut pairs: Vec<String> = [
        ("operator", &query.operator),
        ("action", &query.action),
        ("from", &query.from),
        ("until", &query.until),
    ]
    .iter()
    .filter(|(_, value)| !value.trim().is_empty())
    .map(|(key, value)| format!("{key}={}", super::pages::encode_component(value.trim())))
    .collect();
    if let Some(before) = before {
        pairs.push(format!("before={before}"));
    }
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", pairs.join("&"))
    }
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadOperatorAudit)?;
    let query = query.into_inner();
    let (filter, problem) = match query.filter() {
        Ok(filter) => (filter, None),
        Err(problem) => (
            Default::default(),
            Some(format!("{problem} Showing everything.")),
        ),
    };
    let before = query.before;
    let mut rows = state
        .store
        .run(move |conn| operator_audit::list(conn, &filter, before, PAGE_SIZE + 1))
        .await?;
    let has_more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next_href = has_more
        .then(|| rows.last().map(|row| href(LIST_PATH, &query, Some(row.id))))
        .flatten();
    let view = ListView {
        entries: rows.into_iter().map(EntryRow::from).collect(),
        actions: AuditAction::ALL
            .into_iter()
            .map(|action| ActionChoice {
                value: action.as_str(),
                selected: query.action.trim() == action.as_str(),
            })
            .collect(),
        operator: query.operator.clone(),
        from: query.from.clone(),
        until: query.until.clone(),
        problem,
        next_href,
        first_href: before.map(|_| href(LIST_PATH, &query, None)),
        csv_href: href("/console/audit.csv", &query, None),
    };
    render("operator_audit", &session.chrome("Audit", "audit"), &view)
}

const CSV_HEADER: [&str; 8] = [
    "id",
    "occurred_at",
    "operator",
    "action",
    "target",
    "source_address",
    "before",
    "after",
];

fn csv_records(rows: Vec<AuditRow>) -> impl Iterator<Item = [String; 8]> {
    rows.into_iter().map(|row| {
        [
            row.id.to_string(),
            row.occurred_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            row.operator_email,
            row.action,
            row.target.unwrap_or_default(),
            row.source_address.unwrap_or_default(),
            row.before_state.unwrap_or_default(),
            row.after_state.unwrap_or_default(),
        ]
    })
}

async fn export(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadOperatorAudit)?;
    let filter = query.filter().map_err(ConsoleError::BadForm)?;
    let rows = state
        .store
        .run(move |conn| operator_audit::list(conn, &filter, None, EXPORT_LIMIT))
        .await?;
    tracing::info!(operator = %session.email, rows = rows.len(), "operator audit exported");
    pages::csv_download("operator-audit.csv", &CSV_HEADER, csv_records(rows))
}
