//! Status changes: the contract's Activate, Suspend and Cancel, and the
//! cascades that carry a status over: a parent subscription's to its
//! add-ons, a customer's delete, suspension and restore to its
//! subscriptions and add-ons.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::history::record;
use super::{
    answered, customer_of, find, refused, unit_of_work, Origin, SubscriptionOutcome,
    SubscriptionRef, SubscriptionRow,
};
use crate::domain::subscription::{transition, ChangeKind, StatusAction, SubscriptionStatus};
use crate::domain::ResultCode;
use crate::store::connection::DbConnection;
use crate::store::schema::subscriptions;
use crate::store::StoreError;

/// Activates, suspends or cancels a subscription, its add-ons along (a
/// suspension suspends the active ones, an activation re-activates the ones
/// it suspended, a cancellation cancels them all); cancelled is final.
pub fn change_status(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &SubscriptionRef,
    action: StatusAction,
    origin: &Origin,
    check_only: bool,
) -> Result<SubscriptionOutcome, StoreError> {
    unit_of_work(conn, check_only, |conn| {
        let Some(row) = find(conn, application_id, reference)? else {
            return Ok(refused(
                ResultCode::UnknownSubscription,
                "No subscription of this application has that ID or SubscriptionID.",
            ));
        };
        let customer = customer_of(conn, &row)?;
        let from = row.status()?;
        let to = match transition(from, action) {
            Ok(Some(to)) => to,
            Ok(None) => return Ok(SubscriptionOutcome::Unchanged(answered(&row, &customer)?)),
            Err(rejection) => return Ok(SubscriptionOutcome::Refused(rejection)),
        };
        if check_only {
            return Ok(SubscriptionOutcome::Checked(answered(&row, &customer)?));
        }
        let now = Utc::now().naive_utc();
        set_status(conn, &row, from, to, false, origin, now)?;
        carry_over(conn, Scope::AddonsOf(row.id), to, origin)?;
        Ok(SubscriptionOutcome::Changed(answered(&row, &customer)?))
    })
}

/// Sets a row's status with its history row. `with_cascade`: the status
/// comes from a cascade (a later re-activation of what set it undoes it).
pub(super) fn set_status(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    from: SubscriptionStatus,
    to: SubscriptionStatus,
    with_cascade: bool,
    origin: &Origin,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let cancelled_at = (to == SubscriptionStatus::Cancelled).then_some(now);
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(to.as_str()),
            subscriptions::suspended_with_customer.eq(with_cascade),
            subscriptions::cancelled_at.eq(cancelled_at),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    let quantity = i64::from(row.quantity);
    record(
        conn,
        row,
        ChangeKind::Status,
        Some((quantity, row.plan_id, from)),
        (quantity, row.plan_id, to),
        origin,
        now,
    )
}

/// The rows a cascade acts on.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// A customer's subscriptions and add-ons.
    Customer(i64),
    /// A subscription's add-ons.
    AddonsOf(i64),
}

/// Carries a status over to the rows of `scope`: cancelled cancels the live
/// ones, suspended suspends the active ones (marked as suspended by the
/// cascade), active re-activates only the ones a cascade suspended.
fn carry_over(
    conn: &mut DbConnection,
    scope: Scope,
    to: SubscriptionStatus,
    origin: &Origin,
) -> Result<usize, StoreError> {
    match to {
        SubscriptionStatus::Cancelled => cascade(
            conn,
            scope,
            &[SubscriptionStatus::Active, SubscriptionStatus::Suspended],
            false,
            to,
            origin,
        ),
        SubscriptionStatus::Suspended => cascade(
            conn,
            scope,
            &[SubscriptionStatus::Active],
            false,
            to,
            origin,
        ),
        SubscriptionStatus::Active => cascade(
            conn,
            scope,
            &[SubscriptionStatus::Suspended],
            true,
            to,
            origin,
        ),
    }
}

/// Inside the caller's transaction: moves the rows of `scope` of status
/// `from` (and, for a re-activation, only the ones a cascade suspended) to
/// `to`, each with a history row. An add-on is re-activated only when its
/// subscription is active (the rows go in id order: a parent first).
fn cascade(
    conn: &mut DbConnection,
    scope: Scope,
    from: &[SubscriptionStatus],
    only_suspended_by_cascade: bool,
    to: SubscriptionStatus,
    origin: &Origin,
) -> Result<usize, StoreError> {
    let statuses: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let mut query = subscriptions::table
        .filter(subscriptions::status.eq_any(statuses))
        .select(SubscriptionRow::as_select())
        .order(subscriptions::id)
        .into_boxed();
    query = match scope {
        Scope::Customer(id) => query.filter(subscriptions::customer_id.eq(id)),
        Scope::AddonsOf(id) => query.filter(subscriptions::parent_subscription_id.eq(id)),
    };
    if only_suspended_by_cascade {
        query = query.filter(subscriptions::suspended_with_customer.eq(true));
    }
    let rows: Vec<SubscriptionRow> = query.load(conn)?;
    let now = Utc::now().naive_utc();
    let with_cascade = to == SubscriptionStatus::Suspended;
    let mut moved = 0;
    for row in &rows {
        if to == SubscriptionStatus::Active {
            if let Some(parent) = row.parent_subscription_id {
                let parent_status: String = subscriptions::table
                    .find(parent)
                    .select(subscriptions::status)
                    .first(conn)?;
                if parent_status != SubscriptionStatus::Active.as_str() {
                    continue;
                }
            }
        }
        set_status(conn, row, row.status()?, to, with_cascade, origin, now)?;
        moved += 1;
    }
    Ok(moved)
}

/// A deleted customer's subscriptions and add-ons are cancelled (run inside
/// its delete).
pub fn cancel_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    carry_over(
        conn,
        Scope::Customer(customer_id),
        SubscriptionStatus::Cancelled,
        origin,
    )
}

/// A suspended customer's active subscriptions and add-ons are suspended
/// with it.
pub fn suspend_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    carry_over(
        conn,
        Scope::Customer(customer_id),
        SubscriptionStatus::Suspended,
        origin,
    )
}

/// A restored customer's subscriptions and add-ons that its suspension
/// suspended are active again (ones the BSS suspended stay suspended, and
/// so do the add-ons of a subscription that stays suspended).
pub fn reactivate_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    carry_over(
        conn,
        Scope::Customer(customer_id),
        SubscriptionStatus::Active,
        origin,
    )
}
