//! The history of subscriptions: one row per change of plan, quantity,
//! attributes or status, with its source and TrackId, and the queries over
//! it (`seats_on`: how many seats of a plan a customer held on a date).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{to_i32, Origin, SubscriptionRow};
use crate::domain::subscription::{seats_held, ChangeKind, StateAfter, SubscriptionStatus};
use crate::store::connection::DbConnection;
use crate::store::mailbox_usage::{self, SubscriptionFacts};
use crate::store::schema::{subscription_changes, subscriptions};
use crate::store::StoreError;

/// A stored history row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscription_changes)]
pub struct ChangeRow {
    pub id: i64,
    pub subscription_id: i64,
    pub customer_id: i64,
    pub effective_at: NaiveDateTime,
    pub kind: String,
    pub old_quantity: Option<i32>,
    pub new_quantity: i32,
    pub old_plan_id: Option<i64>,
    pub new_plan_id: i64,
    pub old_status: Option<String>,
    pub new_status: String,
    pub source: String,
    pub track_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = subscription_changes)]
struct NewChange<'a> {
    subscription_id: i64,
    customer_id: i64,
    effective_at: NaiveDateTime,
    kind: &'a str,
    old_quantity: Option<i32>,
    new_quantity: i32,
    old_plan_id: Option<i64>,
    new_plan_id: i64,
    old_status: Option<&'a str>,
    new_status: &'a str,
    source: &'a str,
    track_id: Option<&'a str>,
}

/// A subscription's quantity, plan and status at one moment.
pub(super) type State = (i64, i64, SubscriptionStatus);

/// One history row: the state after the change, and the part of the state
/// before it that the change is about.
pub(super) fn record(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    kind: ChangeKind,
    before: Option<State>,
    after: State,
    origin: &Origin,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let (new_quantity, new_plan, new_status) = after;
    let (old_quantity, old_plan, old_status) = match (kind, before) {
        (ChangeKind::Created, _) | (_, None) => (None, None, None),
        (_, Some((q, p, s))) => (
            (kind == ChangeKind::Quantity)
                .then(|| to_i32(q))
                .transpose()?,
            (kind == ChangeKind::Plan).then_some(p),
            (kind == ChangeKind::Status).then_some(s.as_str()),
        ),
    };
    diesel::insert_into(subscription_changes::table)
        .values(NewChange {
            subscription_id: row.id,
            customer_id: row.customer_id,
            effective_at: now,
            kind: kind.as_str(),
            old_quantity,
            new_quantity: to_i32(new_quantity)?,
            old_plan_id: old_plan,
            new_plan_id: new_plan,
            old_status,
            new_status: new_status.as_str(),
            source: origin.source.as_str(),
            track_id: origin.track_id.as_deref(),
        })
        .execute(conn)?;
    // A new plan or status moves the mailboxes in use with it.
    if matches!(kind, ChangeKind::Plan | ChangeKind::Status) {
        let facts = SubscriptionFacts {
            subscription_id: row.id,
            customer_id: row.customer_id,
            plan_id: new_plan,
            status: new_status,
        };
        mailbox_usage::record_facts(conn, &[facts], now)?;
    }
    Ok(())
}

/// How many seats of a plan a customer held at `at`: one query over the
/// history (each subscription's last row up to then counts, when it is on
/// the plan and not cancelled).
pub fn seats_on(
    conn: &mut DbConnection,
    customer_id: i64,
    plan_id: i64,
    at: NaiveDateTime,
) -> Result<i64, StoreError> {
    let rows: Vec<(i64, i64, i32, String)> = subscription_changes::table
        .filter(subscription_changes::customer_id.eq(customer_id))
        .filter(subscription_changes::effective_at.le(at))
        .order((
            subscription_changes::subscription_id,
            subscription_changes::effective_at,
            subscription_changes::id,
        ))
        .select((
            subscription_changes::subscription_id,
            subscription_changes::new_plan_id,
            subscription_changes::new_quantity,
            subscription_changes::new_status,
        ))
        .load(conn)?;
    let states = rows
        .into_iter()
        .map(|(subscription_id, plan_id, quantity, status)| {
            Ok(StateAfter {
                subscription_id,
                plan_id,
                quantity: i64::from(quantity),
                status: SubscriptionStatus::parse(&status)
                    .ok_or_else(|| StoreError::corrupt(format!("change status {status:?}")))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(seats_held(&states, plan_id))
}

/// A subscription (or add-on) by its public id.
pub fn by_public_id(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(subscriptions::table
        .filter(subscriptions::public_id.eq(public_id))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?)
}

/// A subscription's history, oldest first.
pub fn history(
    conn: &mut DbConnection,
    subscription_id: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(subscription_changes::table
        .filter(subscription_changes::subscription_id.eq(subscription_id))
        .order((subscription_changes::effective_at, subscription_changes::id))
        .select(ChangeRow::as_select())
        .load(conn)?)
}

/// How many subscriptions (add-ons included) and history rows there are.
pub fn counts(conn: &mut DbConnection) -> Result<(i64, i64), StoreError> {
    Ok((
        subscriptions::table.count().get_result(conn)?,
        subscription_changes::table.count().get_result(conn)?,
    ))
}
