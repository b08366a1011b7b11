//! Subscriptions as operators read them: the filtered list, one with its
//! history, and a customer's. Read-only: subscriptions change through the
//! contract (and, later, partner platforms).

use actix_web::{web, HttpResponse};
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::operator::Permission;
use crate::domain::subscription::{ChangeSource, SubscriptionStatus};
use crate::store::subscriptions::queries::{
    self as queries, HistoryEntry, SubscriptionFilter, SubscriptionListRow, SubscriptionWithHistory,
};

/// Page size of the list unless asked otherwise, and the largest asked.
pub const DEFAULT_PER_PAGE: i64 = 50;
pub const MAX_PER_PAGE: i64 = 500;

/// Every source a subscription can have, for filters.
pub const SOURCES: [ChangeSource; 4] = [
    ChangeSource::Bss,
    ChangeSource::Console,
    ChangeSource::Distributor,
    ChangeSource::MemberPlatform,
];

/// A source as filters spell it (`bss`, `console`, ...).
pub fn parse_source(text: &str) -> Option<ChangeSource> {
    SOURCES.into_iter().find(|s| s.as_str() == text)
}

/// A plan as a subscription names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanRef {
    /// `plan_…`.
    pub id: String,
    pub name: String,
}

/// A customer as a subscription names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerRef {
    pub external_id: String,
    pub name: String,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Ours, `sub_…` (the contract's Result).
    pub id: String,
    /// The BSS's SubscriptionID.
    pub bss_subscription_id: String,
    pub customer: CustomerRef,
    pub plan: PlanRef,
    pub product_type: String,
    pub quantity: i32,
    /// `active`, `suspended` or `cancelled`.
    pub status: String,
    /// Who created it: `bss`, `console`, `distributor` or `member_platform`.
    pub source: String,
    #[serde(with = "super::utc")]
    pub created_at: NaiveDateTime,
    #[serde(with = "super::utc")]
    pub updated_at: NaiveDateTime,
    #[serde(with = "super::utc::option")]
    pub cancelled_at: Option<NaiveDateTime>,
    /// For an add-on: the subscription it belongs to (`sub_…`).
    pub parent: Option<String>,
}

impl From<SubscriptionListRow> for SubscriptionView {
    fn from(row: SubscriptionListRow) -> Self {
        Self {
            id: row.public_id,
            bss_subscription_id: row.bss_subscription_id,
            customer: CustomerRef {
                external_id: row.customer_external_id,
                name: row.customer_name,
            },
            plan: PlanRef {
                id: row.plan_public_id,
                name: row.plan_name,
            },
            product_type: row.product_type_id,
            quantity: row.quantity,
            status: row.status,
            source: row.source,
            created_at: row.created_at,
            updated_at: row.updated_at,
            cancelled_at: row.cancelled_at,
            parent: row.parent_public_id,
        }
    }
}

/// A change of a subscription's plan, quantity or status; `old_*` are
/// absent on its creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeView {
    #[serde(with = "super::utc")]
    pub effective_at: NaiveDateTime,
    /// `created`, `quantity`, `plan`, `attributes` or `status`.
    pub kind: String,
    pub old_quantity: Option<i32>,
    pub new_quantity: i32,
    pub old_plan: Option<PlanRef>,
    pub new_plan: PlanRef,
    pub old_status: Option<String>,
    pub new_status: String,
    pub source: String,
    /// The contract call's `X-CloudPlatform-TrackId`.
    pub track_id: Option<String>,
}

impl From<HistoryEntry> for ChangeView {
    fn from(entry: HistoryEntry) -> Self {
        let plan_ref = |(id, name): (String, String)| PlanRef { id, name };
        Self {
            effective_at: entry.effective_at,
            kind: entry.kind,
            old_quantity: entry.old_quantity,
            new_quantity: entry.new_quantity,
            old_plan: entry.old_plan.map(plan_ref),
            new_plan: plan_ref(entry.new_plan),
            old_status: entry.old_status,
            new_status: entry.new_status,
            source: entry.source,
            track_id: entry.track_id,
        }
    }
}

/// A subscription with its history, oldest change first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionDetail {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    pub history: Vec<ChangeView>,
    /// Its add-ons (listed on one subscription's detail; a customer's list
    /// holds them as items of their own).
    pub addons: Vec<SubscriptionView>,
    /// Its provisioned mailboxes in use over time, oldest first (on one
    /// subscription's detail; empty in a customer's list).
    pub usage: Vec<UsageView>,
}

/// The mailboxes in use of a subscription from a moment on.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    #[serde(with = "super::utc")]
    pub effective_at: NaiveDateTime,
    pub in_use: i32,
}

impl From<SubscriptionWithHistory> for SubscriptionDetail {
    fn from(found: SubscriptionWithHistory) -> Self {
        Self {
            subscription: SubscriptionView::from(found.subscription),
            history: found.history.into_iter().map(ChangeView::from).collect(),
            addons: found
                .addons
                .into_iter()
                .map(SubscriptionView::from)
                .collect(),
            usage: found
                .usage
                .into_iter()
                .map(|row| UsageView {
                    effective_at: row.effective_at,
                    in_use: row.in_use,
                })
                .collect(),
        }
    }
}

/// A page of subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionPage {
    pub items: Vec<SubscriptionView>,
    /// Every subscription matching the filters.
    pub total: i64,
    pub page: i64,
    pub per_page: i64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct SubscriptionQuery {
    /// Only subscriptions of this plan (`plan_…`).
    pub plan: Option<String>,
    /// `active`, `suspended` or `cancelled`.
    pub status: Option<String>,
    /// `bss`, `console`, `distributor` or `member_platform`.
    pub source: Option<String>,
    /// Only this customer's (its ExternalID).
    pub customer: Option<String>,
    /// 1-based (1).
    pub page: Option<i64>,
    /// 1 to 500 (50).
    pub per_page: Option<i64>,
}

fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// The filter of the list's query values (blank ones are no filter), or
/// what is wrong with them: one reader for the API and the console.
pub fn filter_of(
    plan: Option<&str>,
    status: Option<&str>,
    source: Option<&str>,
    customer: Option<&str>,
) -> Result<SubscriptionFilter, String> {
    let status = given(status)
        .map(|s| {
            SubscriptionStatus::parse(s).ok_or_else(|| {
                format!("There is no subscription status {s:?}: active, suspended or cancelled.")
            })
        })
        .transpose()?;
    let source = given(source)
        .map(|s| {
            parse_source(s).ok_or_else(|| {
                format!("There is no source {s:?}: bss, console, distributor or member_platform.")
            })
        })
        .transpose()?;
    Ok(SubscriptionFilter {
        plan: given(plan).map(str::to_owned),
        status,
        source,
        customer: given(customer).map(str::to_owned),
    })
}

/// Subscriptions, newest first, filtered by plan, status, source and
/// customer, a page at a time.
#[utoipa::path(get, path = "/operator/api/subscriptions", tag = "Operator",
    params(SubscriptionQuery),
    responses(
        (status = 200, body = SubscriptionPage),
        (status = 400, description = "A filter names no status or source.", body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    query: web::Query<SubscriptionQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCustomers)?;
    let query = query.into_inner();
    let filter = filter_of(
        query.plan.as_deref(),
        query.status.as_deref(),
        query.source.as_deref(),
        query.customer.as_deref(),
    )
    .map_err(OperatorApiError::BadRequest)?;
    let per_page = query
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let page = query.page.unwrap_or(1).max(1);
    let offset = (page - 1).saturating_mul(per_page);
    let (total, rows) = state
        .store
        .run(move |conn| {
            let total = queries::count(conn, &filter)?;
            let rows = queries::list(conn, &filter, offset, Some(per_page))?;
            Ok((total, rows))
        })
        .await?;
    Ok(HttpResponse::Ok().json(SubscriptionPage {
        items: rows.into_iter().map(SubscriptionView::from).collect(),
        total,
        page,
        per_page,
    }))
}

/// One subscription with its history and its add-ons.
#[utoipa::path(get, path = "/operator/api/subscriptions/{id}", tag = "Operator",
    params(("id" = String, Path, description = "Our id, `sub_…`.")),
    responses(
        (status = 200, body = SubscriptionDetail),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn get(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCustomers)?;
    let id = id.into_inner();
    let wanted = id.clone();
    let found = state
        .store
        .run(move |conn| queries::with_history(conn, &wanted))
        .await?
        .ok_or_else(|| OperatorApiError::NotFound(format!("There is no subscription {id}.")))?;
    Ok(HttpResponse::Ok().json(SubscriptionDetail::from(found)))
}

/// A customer's subscriptions, newest first, each with its history.
#[utoipa::path(get, path = "/operator/api/customers/{external_id}/subscriptions", tag = "Operator",
    params(("external_id" = String, Path, description = "The customer's ExternalID.")),
    responses(
        (status = 200, body = [SubscriptionDetail]),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn of_customer(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    external_id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCustomers)?;
    let external_id = external_id.into_inner();
    let wanted = external_id.clone();
    let found = state
        .store
        .run(move |conn| {
            if crate::store::customers::find_by_external_id(conn, &wanted)?.is_none() {
                return Ok(None);
            }
            Ok(Some(queries::of_customer(conn, &wanted)?))
        })
        .await?
        .ok_or_else(|| {
            OperatorApiError::NotFound(format!(
                "There is no customer with ExternalID {external_id}."
            ))
        })?;
    let views: Vec<SubscriptionDetail> = found.into_iter().map(SubscriptionDetail::from).collect();
    Ok(HttpResponse::Ok().json(views))
}
