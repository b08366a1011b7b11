//! What the PSA quantity sync bills: for every customer with an agreement,
//! the quantity of each mapped catalog item, counted as seats (the
//! subscriptions' quantities; a cancelled subscription counts 0, a
//! suspended one keeps its seats) or as active mailboxes. A fixed number of
//! queries for all customers together, grouped in the database.

use std::collections::{BTreeMap, BTreeSet};

use diesel::prelude::*;

use super::schema::{
    customers, mailbox_services, mailboxes, psa_customer_agreements, psa_service_mappings,
    subscriptions,
};
use super::{DbConnection, StoreError};
use crate::domain::mailbox::MailboxStatus;
use crate::domain::psa_sync::DesiredLine;
use crate::domain::subscription::SubscriptionStatus;

/// What a mapped plan's quantity counts (the `quantity_source` setting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QuantitySource {
    /// Seats bought: the subscriptions' quantities.
    #[default]
    Seats,
    /// Mailboxes in use: the provisioned mailboxes of the subscriptions.
    Mailboxes,
}

impl QuantitySource {
    pub fn parse(setting: &str) -> Option<Self> {
        match setting.trim() {
            "" | "seats" => Some(Self::Seats),
            "mailboxes" => Some(Self::Mailboxes),
            _ => None,
        }
    }
}

/// One customer taking part in the sync, with its desired lines: one per
/// mapped catalog item, 0 where it has nothing of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementQuantities {
    pub customer_id: i64,
    pub customer_name: String,
    pub agreement_id: i64,
    pub lines: Vec<DesiredLine>,
}

/// The desired quantities of every customer with an agreement, by customer
/// id. Nothing when no plan is mapped.
pub fn desired_quantities(
    conn: &mut DbConnection,
    source: QuantitySource,
) -> Result<Vec<AgreementQuantities>, StoreError> {
    let mapped: BTreeMap<i64, i64> = psa_service_mappings::table
        .select((
            psa_service_mappings::plan_id,
            psa_service_mappings::catalog_item_id,
        ))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let catalog_items: BTreeSet<i64> = mapped.values().copied().collect();
    if catalog_items.is_empty() {
        return Ok(Vec::new());
    }
    let agreements: Vec<(i64, String, i64)> = psa_customer_agreements::table
        .inner_join(customers::table)
        .order(psa_customer_agreements::customer_id)
        .select((
            psa_customer_agreements::customer_id,
            customers::name,
            psa_customer_agreements::agreement_id,
        ))
        .load(conn)?;
    let counted = match source {
        QuantitySource::Seats => seats(conn)?,
        QuantitySource::Mailboxes => active_mailboxes(conn)?,
    };
    let mut by_customer: BTreeMap<i64, BTreeMap<i64, i64>> = BTreeMap::new();
    for (customer_id, plan_id, quantity) in counted {
        let Some(&catalog_item_id) = mapped.get(&plan_id) else {
            continue;
        };
        *by_customer
            .entry(customer_id)
            .or_default()
            .entry(catalog_item_id)
            .or_default() += quantity;
    }
    Ok(agreements
        .into_iter()
        .map(|(customer_id, customer_name, agreement_id)| {
            let counted = by_customer.remove(&customer_id).unwrap_or_default();
            AgreementQuantities {
                customer_id,
                customer_name,
                agreement_id,
                lines: catalog_items
                    .iter()
                    .map(|&catalog_item_id| DesiredLine {
                        catalog_item_id,
                        quantity: counted.get(&catalog_item_id).copied().unwrap_or(0),
                    })
                    .collect(),
            }
        })
        .collect())
}

/// (customer, mapped plan, seats) of the customers with an agreement.
fn seats(conn: &mut DbConnection) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    let rows: Vec<(i64, i64, Option<i64>)> = subscriptions::table
        .inner_join(
            psa_customer_agreements::table
                .on(psa_customer_agreements::customer_id.eq(subscriptions::customer_id)),
        )
        .inner_join(
            psa_service_mappings::table
                .on(psa_service_mappings::plan_id.eq(subscriptions::plan_id)),
        )
        .filter(subscriptions::status.ne(SubscriptionStatus::Cancelled.as_str()))
        .group_by((subscriptions::customer_id, subscriptions::plan_id))
        .select((
            subscriptions::customer_id,
            subscriptions::plan_id,
            diesel::dsl::sum(subscriptions::quantity),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(customer, item, seats)| (customer, item, seats.unwrap_or(0)))
        .collect())
}

/// (customer, mapped plan, provisioned mailboxes) of the customers with an
/// agreement.
fn active_mailboxes(conn: &mut DbConnection) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(mailbox_services::table
        .inner_join(mailboxes::table)
        .inner_join(subscriptions::table)
        .inner_join(
            psa_customer_agreements::table
                .on(psa_customer_agreements::customer_id.eq(subscriptions::customer_id)),
        )
        .inner_join(
            psa_service_mappings::table
                .on(psa_service_mappings::plan_id.eq(subscriptions::plan_id)),
        )
        .filter(mailboxes::status.eq(MailboxStatus::Provisioned.as_str()))
        .filter(subscriptions::status.ne(SubscriptionStatus::Cancelled.as_str()))
        .group_by((subscriptions::customer_id, subscriptions::plan_id))
        .select((
            subscriptions::customer_id,
            subscriptions::plan_id,
            diesel::dsl::count_star(),
        ))
        .load(conn)?)
}
