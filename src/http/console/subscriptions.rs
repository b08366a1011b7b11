//! `/console/subscriptions`: every subscription, filtered by plan, status
//! and source, a page at a time, and the filtered list as CSV. The
//! filters are read as the operator API reads them.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages;
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::domain::subscription::SubscriptionStatus;
use crate::http::operator::subscriptions::{filter_of, SOURCES};
use crate::http::operator::OperatorState;
use crate::store::catalog;
use crate::store::subscriptions::queries::{
    self as queries, HistoryEntry, SubscriptionListRow, SubscriptionWithHistory,
};

pub const VIEWS: &[(&str, &str)] = &[(
    "subscriptions_list",
    include_str!("../../../templates/console/subscriptions_list.hbs"),
)];

/// Rows per page of the list.
pub const PAGE_SIZE: i64 = 25;

const LIST_PATH: &str = "/console/subscriptions";
const CSV_PATH: &str = "/console/subscriptions.csv";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let query = || {
        web::QueryConfig::default()
            .error_handler(|error, _| ConsoleError::BadForm(error.to_string()).into())
    };
    // The export before the list: `.csv` is not a filter.
    cfg.service(
        web::resource("/subscriptions.csv")
            .app_data(query())
            .route(web::get().to(export)),
    )
    .service(
        web::resource("/subscriptions")
            .app_data(query())
            .route(web::get().to(list)),
    );
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    plan: String,
    status: String,
    source: String,
    page: String,
}

impl ListQuery {
    fn filter(&self) -> Result<queries::SubscriptionFilter, ConsoleError> {
        filter_of(
            Some(&self.plan),
            Some(&self.status),
            Some(&self.source),
            None,
        )
        .map_err(ConsoleError::BadForm)
    }

    /// The query string of the filters (and a page), for links.
    fn href(&self, base: &str, page: i64) -> String {
        let mut params = Vec::new();
        for (name, value) in [
            ("plan", &self.plan),
            ("status", &self.status),
            ("source", &self.source),
        ] {
            let value = value.trim();
            if !value.is_empty() {
                params.push(format!("{name}={}", pages::encode_component(value)));
            }
        }
        if page > 1 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", params.join("&"))
        }
    }
}

#[derive(Serialize)]
struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Serialize)]
struct RowView {
    id: String,
    bss_subscription_id: String,
    customer_name: String,
    customer_href: String,
    customer_external_id: String,
    plan_name: String,
    plan_id: String,
    quantity: i32,
    status: String,
    source: String,
    since: String,
}

#[derive(Serialize)]
struct ListView {
    plans: Vec<Choice>,
    statuses: Vec<Choice>,
    sources: Vec<Choice>,
    filtered: bool,
    rows: Vec<RowView>,
    total: i64,
    page: i64,
    pages: i64,
    first: i64,
    last: i64,
    prev_href: Option<String>,
    next_href: Option<String>,
    csv_href: String,
}

fn choices(
    all_label: &str,
    options: impl IntoIterator<Item = (String, String)>,
    chosen: &str,
) -> Vec<Choice> {
    let chosen = chosen.trim();
    std::iter::once((String::new(), all_label.to_owned()))
        .chain(options)
        .map(|(value, label)| Choice {
            selected: value == chosen,
            value,
            label,
        })
        .collect()
}

fn row_view(row: SubscriptionListRow) -> RowView {
    RowView {
        // `customers::detail_href`'s link, spelled here: that file imports
        // this one, and files do not import each other (tests/layers.rs).
        customer_href: format!(
            "/console/customers/{}",
            pages::encode_component(&row.customer_external_id)
        ),
        id: row.public_id,
        bss_subscription_id: row.bss_subscription_id,
        customer_name: row.customer_name,
        customer_external_id: row.customer_external_id,
        plan_name: row.plan_name,
        plan_id: row.plan_public_id,
        quantity: row.quantity,
        status: row.status,
        source: row.source,
        since: pages::display_time(row.created_at),
    }
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let query = query.into_inner();
    let filter = query.filter()?;
    let asked_page = query.page.trim().parse::<i64>().unwrap_or(1).max(1);
    let filtered = filter.plan.is_some() || filter.status.is_some() || filter.source.is_some();
    let (total, page, rows, plans) = state
        .store
        .run(move |conn| {
            let total = queries::count(conn, &filter)?;
            let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
            // Past the end (the list shrank): the last page.
            let page = asked_page.min(pages);
            let rows = if total == 0 {
                Vec::new()
            } else {
                queries::list(conn, &filter, (page - 1) * PAGE_SIZE, Some(PAGE_SIZE))?
            };
            Ok((total, page, rows, catalog::plans(conn)?))
        })
        .await?;
    let pages = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let first = if rows.is_empty() {
        0
    } else {
        (page - 1) * PAGE_SIZE + 1
    };
    let last = (page - 1) * PAGE_SIZE + rows.len() as i64;
    let view = ListView {
        plans: choices(
            "All plans",
            plans.into_iter().map(|p| (p.public_id, p.terms.name)),
            &query.plan,
        ),
        statuses: choices(
            "All statuses",
            SubscriptionStatus::ALL
                .into_iter()
                .map(|s| (s.as_str().to_owned(), s.as_str().to_owned())),
            &query.status,
        ),
        sources: choices(
            "All sources",
            SOURCES
                .into_iter()
                .map(|s| (s.as_str().to_owned(), s.as_str().to_owned())),
            &query.source,
        ),
        filtered,
        rows: rows.into_iter().map(row_view).collect(),
        total,
        page,
        pages,
        first,
        last,
        prev_href: (page > 1).then(|| query.href(LIST_PATH, page - 1)),
        next_href: (page < pages).then(|| query.href(LIST_PATH, page + 1)),
        csv_href: query.href(CSV_PATH, 1),
    };
    pages::render(
        "subscriptions_list",
        &session.chrome("Subscriptions", "subscriptions"),
        &view,
    )
}

// --- On the customer's page ------------------------------------------------

/// A subscription on its customer's page, with its history.
#[derive(Serialize)]
pub struct CustomerSubscriptionView {
    id: String,
    bss_subscription_id: String,
    plan_name: String,
    plan_id: String,
    product_type: String,
    quantity: i32,
    status: String,
    source: String,
    since: String,
    /// How many history rows there are.
    changes: usize,
    history: Vec<ChangeView>,
    /// Seats mailboxes hold (not for a cancelled subscription).
    seats_in_use: Option<i64>,
}

impl CustomerSubscriptionView {
    /// Seat use from the mailboxes' count per subscription (`sub_...`).
    pub fn set_seats_in_use(&mut self, taken: &std::collections::HashMap<String, i64>) {
        self.seats_in_use =
            (self.status != "cancelled").then(|| taken.get(&self.id).copied().unwrap_or(0));
    }
}

/// A history row: what changed, from what to what.
#[derive(Serialize)]
struct ChangeView {
    time: String,
    kind: String,
    /// `5 → 8`, `Business → Basic`, `active → suspended`, or the values at
    /// creation.
    change: String,
    source: String,
    track_id: Option<String>,
}

fn change_text(entry: &HistoryEntry) -> String {
    match entry.kind.as_str() {
        "quantity" => format!(
            "quantity {} → {}",
            entry
                .old_quantity
                .map_or_else(|| "—".to_owned(), |q| q.to_string()),
            entry.new_quantity
        ),
        "plan" => format!(
            "plan {} → {}",
            entry
                .old_plan
                .as_ref()
                .map_or("—", |(_, name)| name.as_str()),
            entry.new_plan.1
        ),
        "status" => format!(
            "status {} → {}",
            entry.old_status.as_deref().unwrap_or("—"),
            entry.new_status
        ),
        _ => format!(
            "{} × {}, {}",
            entry.new_quantity, entry.new_plan.1, entry.new_status
        ),
    }
}

/// The customer page's subscriptions, newest first.
pub(super) fn customer_subscriptions(
    found: Vec<SubscriptionWithHistory>,
) -> Vec<CustomerSubscriptionView> {
    found
        .into_iter()
        .map(
            |SubscriptionWithHistory {
                 subscription: row,
                 history,
                 ..
             }| {
                CustomerSubscriptionView {
                    id: row.public_id,
                    bss_subscription_id: row.bss_subscription_id,
                    plan_name: row.plan_name,
                    plan_id: row.plan_public_id,
                    product_type: row.product_type_id,
                    quantity: row.quantity,
                    status: row.status,
                    source: row.source,
                    since: pages::display_time(row.created_at),
                    changes: history.len(),
                    seats_in_use: None,
                    history: history
                        .iter()
                        .map(|entry| ChangeView {
                            time: pages::display_time(entry.effective_at),
                            kind: entry.kind.clone(),
                            change: change_text(entry),
                            source: entry.source.clone(),
                            track_id: entry.track_id.clone(),
                        })
                        .collect(),
                }
            },
        )
        .collect()
}

// --- The export ---------------------------------------------------------------

/// The columns of the export.
const CSV_HEADER: [&str; 13] = [
    "subscription_id",
    "bss_subscription_id",
    "customer_external_id",
    "customer_name",
    "plan_id",
    "plan_name",
    "product_type",
    "quantity",
    "status",
    "source",
    "created_at",
    "updated_at",
    "cancelled_at",
];

/// The whole filtered list's CSV records (one query, every row).
fn csv_records(rows: Vec<SubscriptionListRow>) -> impl Iterator<Item = [String; 13]> {
    let time = |at: chrono::NaiveDateTime| at.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    rows.into_iter().map(move |row| {
        [
            row.public_id,
            row.bss_subscription_id,
            row.customer_external_id,
            row.customer_name,
            row.plan_public_id,
            row.plan_name,
            row.product_type_id,
            row.quantity.to_string(),
            row.status,
            row.source,
            time(row.created_at),
            time(row.updated_at),
            row.cancelled_at.map(time).unwrap_or_default(),
        ]
    })
}

async fn export(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let filter = query.filter()?;
    let rows = state
        .store
        .run(move |conn| queries::list(conn, &filter, 0, None))
        .await?;
    tracing::info!(operator = %session.email, rows = rows.len(), "subscriptions exported");
    pages::csv_download("subscriptions.csv", &CSV_HEADER, csv_records(rows))
}
