//! The mailboxes in use of each subscription over time, kept beside its
//! quantity history: a PSA sync may bill mailboxes in use rather than seats
//! bought, for today (`mailboxes::usage`) or for a past date (`in_use_on`).
//!
//! "In use" counts the provisioned mailboxes holding a seat of a live
//! (not cancelled) subscription. Every unit of work that changes it calls
//! [`record`] inside its transaction; a row is written only when the count
//! or the subscription's plan differs from its last row.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::DbConnection;
use super::schema::{mailbox_services, mailbox_usage_changes, mailboxes, subscriptions};
use super::StoreError;
use crate::domain::mailbox::MailboxStatus;
use crate::domain::subscription::SubscriptionStatus;

/// A stored usage row.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mailbox_usage_changes)]
pub struct UsageRow {
    pub id: i64,
    pub subscription_id: i64,
    pub customer_id: i64,
    pub plan_id: i64,
    pub effective_at: NaiveDateTime,
    pub in_use: i32,
}

/// What a usage row is about: a subscription as it is after the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionFacts {
    pub subscription_id: i64,
    pub customer_id: i64,
    pub plan_id: i64,
    pub status: SubscriptionStatus,
}

/// Records the usage of these subscriptions (read from their rows) where it
/// changed. Called inside the caller's transaction, after its writes.
pub fn record(
    conn: &mut DbConnection,
    subscription_ids: &[i64],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if subscription_ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(i64, i64, i64, String)> = subscriptions::table
        .filter(subscriptions::id.eq_any(subscription_ids))
        .select((
            subscriptions::id,
            subscriptions::customer_id,
            subscriptions::plan_id,
            subscriptions::status,
        ))
        .load(conn)?;
    let facts = rows
        .into_iter()
        .map(|(subscription_id, customer_id, plan_id, status)| {
            Ok(SubscriptionFacts {
                subscription_id,
                customer_id,
                plan_id,
                status: SubscriptionStatus::parse(&status).ok_or_else(|| {
                    StoreError::corrupt(format!("subscription status {status:?}"))
                })?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    record_facts(conn, &facts, now)
}

/// Records the usage of these subscriptions as given (a subscription whose
/// plan or status was just changed in this transaction).
pub fn record_facts(
    conn: &mut DbConnection,
    facts: &[SubscriptionFacts],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    if facts.is_empty() {
        return Ok(());
    }
    let ids: Vec<i64> = facts.iter().map(|f| f.subscription_id).collect();
    let counted: HashMap<i64, i64> = mailbox_services::table
        .inner_join(mailboxes::table)
        .filter(mailbox_services::subscription_id.eq_any(&ids))
        .filter(mailboxes::status.eq(MailboxStatus::Provisioned.as_str()))
        .group_by(mailbox_services::subscription_id)
        .select((mailbox_services::subscription_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let mut new_rows = Vec::new();
    for fact in facts {
        let in_use = if fact.status == SubscriptionStatus::Cancelled {
            0
        } else {
            counted.get(&fact.subscription_id).copied().unwrap_or(0)
        };
        let in_use = i32::try_from(in_use)
            .map_err(|_| StoreError::corrupt(format!("{in_use} mailboxes in use")))?;
        // The last row of one subscription: an index lookup (subscription_id, id).
        let last: Option<(i64, i32)> = mailbox_usage_changes::table
            .filter(mailbox_usage_changes::subscription_id.eq(fact.subscription_id))
            .order(mailbox_usage_changes::id.desc())
            .select((
                mailbox_usage_changes::plan_id,
                mailbox_usage_changes::in_use,
            ))
            .first(conn)
            .optional()?;
        let changed = match last {
            Some(last) => last != (fact.plan_id, in_use),
            // Nothing was ever in use: nothing to say yet.
            None => in_use > 0,
        };
        if changed {
            new_rows.push((
                mailbox_usage_changes::subscription_id.eq(fact.subscription_id),
                mailbox_usage_changes::customer_id.eq(fact.customer_id),
                mailbox_usage_changes::plan_id.eq(fact.plan_id),
                mailbox_usage_changes::effective_at.eq(now),
                mailbox_usage_changes::in_use.eq(in_use),
            ));
        }
    }
    // One statement per row: a call changes one or a few subscriptions, and
    // the MultiConnection has no batch insert.
    for row in new_rows {
        diesel::insert_into(mailbox_usage_changes::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The subscriptions a mailbox holds seats of (read before a change that
/// gives them back).
pub fn held_by(conn: &mut DbConnection, mailbox_ids: &[i64]) -> Result<Vec<i64>, StoreError> {
    Ok(mailbox_services::table
        .filter(mailbox_services::mailbox_id.eq_any(mailbox_ids))
        .select(mailbox_services::subscription_id)
        .distinct()
        .load(conn)?)
}

/// How many mailboxes of a plan a customer had in use at `at`: each
/// subscription's last row up to then counts when it was on the plan. One
/// query over the customer's rows.
pub fn in_use_on(
    conn: &mut DbConnection,
    customer_id: i64,
    plan_id: i64,
    at: NaiveDateTime,
) -> Result<i64, StoreError> {
    let rows: Vec<(i64, i64, i32)> = mailbox_usage_changes::table
        .filter(mailbox_usage_changes::customer_id.eq(customer_id))
        .filter(mailbox_usage_changes::effective_at.le(at))
        .order((
            mailbox_usage_changes::subscription_id,
            mailbox_usage_changes::id,
        ))
        .select((
            mailbox_usage_changes::subscription_id,
            mailbox_usage_changes::plan_id,
            mailbox_usage_changes::in_use,
        ))
        .load(conn)?;
    let mut last: HashMap<i64, (i64, i32)> = HashMap::new();
    for (subscription_id, plan, in_use) in rows {
        last.insert(subscription_id, (plan, in_use));
    }
    Ok(last
        .values()
        .filter(|(plan, _)| *plan == plan_id)
        .map(|(_, in_use)| i64::from(*in_use))
        .sum())
}

/// A subscription's usage history, oldest first.
pub fn history(conn: &mut DbConnection, subscription_id: i64) -> Result<Vec<UsageRow>, StoreError> {
    Ok(mailbox_usage_changes::table
        .filter(mailbox_usage_changes::subscription_id.eq(subscription_id))
        .order(mailbox_usage_changes::id)
        .select(UsageRow::as_select())
        .load(conn)?)
}
