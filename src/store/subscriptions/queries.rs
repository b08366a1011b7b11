//! What operators read of subscriptions: the filtered list (a page, or
//! all of it for an export), one subscription with its history, and a
//! customer's subscriptions with theirs. Read-only; each list is one query
//! joining the customer and the plan (no query per row), a history one
//! more, and the plan names a history mentions one more.
//!
//! Indexes behind the filters and the newest-first order:
//! `subscriptions_plan_id`, `subscriptions_customer_id`,
//! `subscriptions_created` (the unfiltered list), `subscriptions_status` and
//! `subscriptions_source` (each with the creation time, so a filtered page is
//! read in order), `subscription_changes_subscription` and
//! `subscription_changes_customer`.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::subscription::{ChangeSource, SubscriptionStatus};
use crate::store::connection::DbConnection;
use crate::store::mailbox_usage::{self, UsageRow};
use crate::store::schema::{customers, plans, subscription_changes, subscriptions};
use crate::store::StoreError;

/// What the list is narrowed to; `None` everywhere is every subscription.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionFilter {
    /// A plan's public id, `plan_…`.
    pub plan: Option<String>,
    pub status: Option<SubscriptionStatus>,
    pub source: Option<ChangeSource>,
    /// A customer's ExternalID.
    pub customer: Option<String>,
}

/// A subscription as operators see it: with its customer and plan.
#[derive(Debug, Clone, Queryable)]
pub struct SubscriptionListRow {
    pub id: i64,
    pub public_id: String,
    pub bss_subscription_id: String,
    pub product_type_id: String,
    pub quantity: i32,
    pub status: String,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    pub customer_external_id: String,
    pub customer_name: String,
    pub plan_public_id: String,
    pub plan_name: String,
    /// An add-on's subscription (its public id); `None` for a subscription.
    pub parent_public_id: Option<String>,
}

/// A history row with the public ids and names of its plans.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub subscription_id: i64,
    pub effective_at: NaiveDateTime,
    pub kind: String,
    pub old_quantity: Option<i32>,
    pub new_quantity: i32,
    /// (public id, name) of the plan before and after.
    pub old_plan: Option<(String, String)>,
    pub new_plan: (String, String),
    pub old_status: Option<String>,
    pub new_status: String,
    pub source: String,
    pub track_id: Option<String>,
}

/// A subscription with its history, oldest change first.
#[derive(Debug, Clone)]
pub struct SubscriptionWithHistory {
    pub subscription: SubscriptionListRow,
    pub history: Vec<HistoryEntry>,
    /// Its add-ons, newest first (filled for one subscription's detail).
    pub addons: Vec<SubscriptionListRow>,
    /// Its mailboxes in use over time, oldest first (filled for one
    /// subscription's detail).
    pub usage: Vec<UsageRow>,
}

diesel::alias!(subscriptions as parents: ParentSubscriptions);

#[derive(Queryable)]
struct ChangeQueryRow {
    subscription_id: i64,
    effective_at: NaiveDateTime,
    kind: String,
    old_quantity: Option<i32>,
    new_quantity: i32,
    old_plan_id: Option<i64>,
    new_plan_id: i64,
    old_status: Option<String>,
    new_status: String,
    source: String,
    track_id: Option<String>,
}

/// The filtered subscriptions joined with their customer and plan, newest
/// first (id breaks ties of one creation time). A macro, not a function:
/// the count and the list select different things from the same join.
macro_rules! filtered {
    ($select:expr, $filter:expr) => {{
        let filter: &SubscriptionFilter = $filter;
        let mut query = subscriptions::table
            .inner_join(customers::table)
            .inner_join(plans::table)
            .left_join(
                parents.on(subscriptions::parent_subscription_id
                    .eq(parents.field(subscriptions::id).nullable())),
            )
            .select($select)
            .into_boxed();
        if let Some(plan) = &filter.plan {
            query = query.filter(plans::public_id.eq(plan.clone()));
        }
        if let Some(status) = filter.status {
            query = query.filter(subscriptions::status.eq(status.as_str()));
        }
        if let Some(source) = filter.source {
            query = query.filter(subscriptions::source.eq(source.as_str()));
        }
        if let Some(customer) = &filter.customer {
            query = query.filter(customers::external_id.eq(customer.clone()));
        }
        query
    }};
}

macro_rules! row_columns {
    () => {
        (
            subscriptions::id,
            subscriptions::public_id,
            subscriptions::bss_subscription_id,
            subscriptions::product_type_id,
            subscriptions::quantity,
            subscriptions::status,
            subscriptions::source,
            subscriptions::created_at,
            subscriptions::updated_at,
            subscriptions::cancelled_at,
            customers::external_id,
            customers::name,
            plans::public_id,
            plans::name,
            parents.field(subscriptions::public_id).nullable(),
        )
    };
}

/// How many subscriptions match.
pub fn count(conn: &mut DbConnection, filter: &SubscriptionFilter) -> Result<i64, StoreError> {
    Ok(filtered!(diesel::dsl::count_star(), filter).get_result(conn)?)
}

/// One page of the matching subscriptions, newest first; `limit` `None`
/// is all of them from `offset` (the export), still one query.
pub fn list(
    conn: &mut DbConnection,
    filter: &SubscriptionFilter,
    offset: i64,
    limit: Option<i64>,
) -> Result<Vec<SubscriptionListRow>, StoreError> {
    let mut query = filtered!(row_columns!(), filter)
        .order((subscriptions::created_at.desc(), subscriptions::id.desc()))
        .offset(offset);
    // An OFFSET without a LIMIT is not SQLite syntax: the largest page.
    query = query.limit(limit.unwrap_or(i64::MAX));
    Ok(query.load(conn)?)
}

/// One subscription by its public id, with its history.
pub fn with_history(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<SubscriptionWithHistory>, StoreError> {
    let found: Option<SubscriptionListRow> =
        filtered!(row_columns!(), &SubscriptionFilter::default())
            .filter(subscriptions::public_id.eq(public_id))
            .first(conn)
            .optional()?;
    let Some(subscription) = found else {
        return Ok(None);
    };
    let changes = subscription_changes::table
        .filter(subscription_changes::subscription_id.eq(subscription.id))
        .select(change_columns())
        .order((subscription_changes::effective_at, subscription_changes::id))
        .load::<ChangeQueryRow>(conn)?;
    let history = named(conn, changes)?;
    let addons = filtered!(row_columns!(), &SubscriptionFilter::default())
        .filter(subscriptions::parent_subscription_id.eq(subscription.id))
        .order((subscriptions::created_at.desc(), subscriptions::id.desc()))
        .load(conn)?;
    let usage = mailbox_usage::history(conn, subscription.id)?;
    Ok(Some(SubscriptionWithHistory {
        subscription,
        history,
        addons,
        usage,
    }))
}

/// A customer's subscriptions (by ExternalID), newest first, each with its
/// history: three queries however many there are.
pub fn of_customer(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Vec<SubscriptionWithHistory>, StoreError> {
    let filter = SubscriptionFilter {
        customer: Some(external_id.to_owned()),
        ..SubscriptionFilter::default()
    };
    let rows = list(conn, &filter, 0, None)?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    // Every change of the customer (its index), not one query a subscription.
    let changes = subscription_changes::table
        .inner_join(customers::table.on(customers::id.eq(subscription_changes::customer_id)))
        .filter(customers::external_id.eq(external_id))
        .select(change_columns())
        .order((subscription_changes::effective_at, subscription_changes::id))
        .load::<ChangeQueryRow>(conn)?;
    let mut by_subscription: BTreeMap<i64, Vec<HistoryEntry>> = BTreeMap::new();
    for entry in named(conn, changes)? {
        by_subscription
            .entry(entry.subscription_id)
            .or_default()
            .push(entry);
    }
    Ok(rows
        .into_iter()
        .map(|subscription| SubscriptionWithHistory {
            history: by_subscription.remove(&subscription.id).unwrap_or_default(),
            subscription,
            // A customer's list holds its add-ons as rows of their own.
            addons: Vec::new(),
            usage: Vec::new(),
        })
        .collect())
}

#[allow(clippy::type_complexity)]
fn change_columns() -> (
    subscription_changes::subscription_id,
    subscription_changes::effective_at,
    subscription_changes::kind,
    subscription_changes::old_quantity,
    subscription_changes::new_quantity,
    subscription_changes::old_plan_id,
    subscription_changes::new_plan_id,
    subscription_changes::old_status,
    subscription_changes::new_status,
    subscription_changes::source,
    subscription_changes::track_id,
) {
    (
        subscription_changes::subscription_id,
        subscription_changes::effective_at,
        subscription_changes::kind,
        subscription_changes::old_quantity,
        subscription_changes::new_quantity,
        subscription_changes::old_plan_id,
        subscription_changes::new_plan_id,
        subscription_changes::old_status,
        subscription_changes::new_status,
        subscription_changes::source,
        subscription_changes::track_id,
    )
}

/// The history rows with their plans' public ids and names: one query for
/// every plan they mention.
fn named(
    conn: &mut DbConnection,
    changes: Vec<ChangeQueryRow>,
) -> Result<Vec<HistoryEntry>, StoreError> {
    let mut ids: Vec<i64> = changes
        .iter()
        .flat_map(|c| c.old_plan_id.into_iter().chain([c.new_plan_id]))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let names: BTreeMap<i64, (String, String)> = if ids.is_empty() {
        BTreeMap::new()
    } else {
        plans::table
            .filter(plans::id.eq_any(ids))
            .select((plans::id, plans::public_id, plans::name))
            .load::<(i64, String, String)>(conn)?
            .into_iter()
            .map(|(id, public_id, name)| (id, (public_id, name)))
            .collect()
    };
    let plan = |id: i64| {
        names
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::corrupt(format!("plan {id} of a history row")))
    };
    changes
        .into_iter()
        .map(|c| {
            Ok(HistoryEntry {
                subscription_id: c.subscription_id,
                effective_at: c.effective_at,
                kind: c.kind,
                old_quantity: c.old_quantity,
                new_quantity: c.new_quantity,
                old_plan: c.old_plan_id.map(plan).transpose()?,
                new_plan: plan(c.new_plan_id)?,
                old_status: c.old_status,
                new_status: c.new_status,
                source: c.source,
                track_id: c.track_id,
            })
        })
        .collect()
}
