//! The console's views (page templates), compiled once, and the page chrome (title,
//! navigation by role, the CSRF token) every page is rendered with.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use handlebars::Handlebars;
use serde::Serialize;

use super::ConsoleError;
use crate::domain::operator::{Permission, Role};
use crate::http::error::ServerError;

/// Views shared by every page (`{{> top}}` and `{{> bottom}}`).
const SHARED_VIEWS: &[(&str, &str)] = &[
    ("top", include_str!("../../../templates/console/_top.hbs")),
    (
        "bottom",
        include_str!("../../../templates/console/_bottom.hbs"),
    ),
    (
        "error",
        include_str!("../../../templates/console/error.hbs"),
    ),
    (
        "integrations",
        include_str!("../../../templates/console/integrations.hbs"),
    ),
];

/// Compiles the views: the shared ones and every section's.
pub fn compile<'a>(
    sections: impl IntoIterator<Item = &'a [(&'static str, &'static str)]>,
) -> Handlebars<'static> {
    let mut pages = Handlebars::new();
    pages.set_strict_mode(false);
    for (name, source) in SHARED_VIEWS.iter().chain(sections.into_iter().flatten()) {
        if let Err(error) = pages.register_template_string(name, source) {
            // The templates are part of the binary: a broken one is a bug
            // that the tests catch on the first page they load.
            panic!("console template {name} does not compile: {error}");
        }
    }
    pages
}

/// What every signed-in page shows around its content.
#[derive(Debug, Clone, Serialize)]
pub struct Chrome {
    pub title: String,
    /// The navigation entry to highlight.
    pub active: &'static str,
    pub operator_email: String,
    pub role: &'static str,
    pub csrf: String,
    pub nav: Nav,
}

/// Which sections the operator's role may open.
#[derive(Debug, Clone, Serialize)]
pub struct Nav {
    pub customers: bool,
    pub templates: bool,
    pub sync_options: bool,
    pub keys: bool,
    pub outbox: bool,
    pub plans: bool,
    pub subscriptions: bool,
    pub integrations: bool,
    pub audit: bool,
    pub operators: bool,
    /// May change what the sections show (not only read).
    pub edit_templates: bool,
    pub manage_customers: bool,
    pub manage_sync_options: bool,
    pub retry_mail: bool,
    pub manage_catalog: bool,
}

impl Nav {
    pub fn for_role(role: Role) -> Self {
        Self {
            customers: role.allows(Permission::ReadCustomers),
            templates: role.allows(Permission::ReadTemplates),
            sync_options: role.allows(Permission::ReadCustomers),
            keys: role.allows(Permission::ManageApplicationKeys),
            outbox: role.allows(Permission::ReadOutbox),
            plans: role.allows(Permission::ReadCatalog),
            subscriptions: role.allows(Permission::ReadCustomers),
            integrations: role.allows(Permission::ManageIntegrations),
            audit: role.allows(Permission::ReadOperatorAudit),
            operators: role.allows(Permission::ManageOperators),
            edit_templates: role.allows(Permission::EditTemplates),
            manage_customers: role.allows(Permission::ManageCustomers),
            manage_sync_options: role.allows(Permission::ManageSyncOptions),
            retry_mail: role.allows(Permission::RetryMail),
            manage_catalog: role.allows(Permission::ManageCatalog),
        }
    }
}

#[derive(Serialize)]
struct PageContext<'a, T: Serialize> {
    chrome: Option<&'a Chrome>,
    page: &'a T,
}

fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(body)
}

/// Renders a page: `chrome` for the frame, `page` for the content. Values
/// are HTML-escaped by handlebars, so nothing a customer or operator typed
/// can change the page.
pub fn render<T: Serialize>(
    name: &str,
    chrome: &Chrome,
    page: &T,
) -> Result<HttpResponse, ConsoleError> {
    render_status(StatusCode::OK, name, Some(chrome), page)
}

pub fn render_status<T: Serialize>(
    status: StatusCode,
    name: &str,
    chrome: Option<&Chrome>,
    page: &T,
) -> Result<HttpResponse, ConsoleError> {
    let body = super::PAGES
        .render(name, &PageContext { chrome, page })
        .map_err(|e| ConsoleError::from(ServerError::internal(e)))?;
    Ok(html(status, body))
}

/// An error page; never fails (falls back to plain text).
pub fn error_page(status: StatusCode, heading: &str, message: &str) -> HttpResponse {
    let page = serde_json::json!({"heading": heading, "message": message});
    match super::PAGES.render(
        "error",
        &PageContext::<serde_json::Value> {
            chrome: None,
            page: &page,
        },
    ) {
        Ok(body) => html(status, body),
        Err(_) => HttpResponse::build(status).body(message.to_owned()),
    }
}

/// 303 to `location`: where a successful form post goes.
pub fn see_other(location: impl Into<String>) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.into()))
        .finish()
}

/// Percent-encodes a value for one URL path segment or query value.
pub fn encode_component(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A stored (UTC) time as pages show it.
pub fn display_time(at: chrono::NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .body(include_str!("../../../templates/console/console.css"))
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "max-age=300"))
        .body(include_str!("../../../templates/console/console.js"))
}

/// A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return before one) gets a leading `'`, so that a name a
/// BSS sent never runs as one when the file is opened.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// A CSV download of the console's exports: the header, then each record
/// with every cell [`spreadsheet_safe`] (the `csv` crate quotes what needs
/// quoting).
pub fn csv_download<R>(
    filename: &str,
    header_row: &[&str],
    records: impl IntoIterator<Item = R>,
) -> Result<HttpResponse, ConsoleError>
where
    R: IntoIterator<Item = String>,
{
    let write = || -> Result<Vec<u8>, csv::Error> {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(header_row)?;
        for record in records {
            writer.write_record(
                record
                    .into_iter()
                    .map(|cell| spreadsheet_safe(&cell).into_owned()),
            )?;
        }
        writer
            .into_inner()
            .map_err(|e| csv::Error::from(e.into_error()))
    };
    let body = write().map_err(|e| ConsoleError::from(ServerError::internal(e)))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(body))
}

#[cfg(test)]
mod csv_tests {
    use super::spreadsheet_safe;

    #[test]
    fn formulas_are_defused_and_other_cells_kept() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("+1"), "'+1");
        assert_eq!(spreadsheet_safe("-2+3"), "'-2+3");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(spreadsheet_safe("\t=1"), "'\t=1");
        assert_eq!(spreadsheet_safe("Acme, \"Ltd\""), "Acme, \"Ltd\"");
        assert_eq!(spreadsheet_safe("10"), "10");
        assert_eq!(spreadsheet_safe(""), "");
    }
}
