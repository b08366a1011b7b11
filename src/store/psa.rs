//! The PSA quantity sync's mappings: which catalog item each plan (and
//! add-on plan) is sold as ("Not Assigned" is no row), and which company
//! and agreement each customer's quantities go to. The PSA's own ids and
//! names are stored as chosen; checking them with the PSA happens above.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::{retry_lost_races, write_transaction_once, DbConnection};
use super::customers::find_by_external_id;
use super::schema::{plans, product_types, psa_customer_agreements, psa_service_mappings};
use super::StoreError;
use crate::domain::customer::CustomerStatus;

/// A catalog item as chosen for a plan.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = psa_service_mappings)]
pub struct CatalogChoice {
    pub catalog_item_id: i64,
    pub catalog_identifier: String,
    pub catalog_description: String,
}

/// A plan with its mapping, for the Service Assignments list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    pub plan_id: i64,
    pub plan_public_id: String,
    pub plan_name: String,
    pub product_type_name: String,
    pub is_addon: bool,
    /// Listed for backward compatibility; cannot be mapped.
    pub deprecated: bool,
    pub mapping: Option<CatalogChoice>,
}

/// What mapping a plan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapOutcome {
    Mapped,
    NoSuchPlan,
    /// A deprecated plan is not mapped.
    Deprecated,
}

/// A customer's company and agreement.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = psa_customer_agreements)]
pub struct AgreementChoice {
    pub company_id: i64,
    pub company_name: String,
    pub agreement_id: i64,
    pub agreement_name: String,
}

/// The columns of a [`ServiceRow`], as one query loads them.
type ServiceColumns = (
    i64,
    String,
    String,
    String,
    bool,
    bool,
    Option<CatalogChoice>,
);

/// Every plan and add-on plan with its mapping, in one query: plans
/// first, then add-ons, by name; deprecated plans included.
pub fn services(conn: &mut DbConnection) -> Result<Vec<ServiceRow>, StoreError> {
    let rows: Vec<ServiceColumns> = plans::table
        .inner_join(product_types::table)
        .left_join(psa_service_mappings::table)
        .select((
            plans::id,
            plans::public_id,
            plans::name,
            product_types::name,
            product_types::is_addon,
            plans::deprecated,
            Option::<CatalogChoice>::as_select(),
        ))
        .order((product_types::is_addon, plans::name, plans::id))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(
                plan_id,
                plan_public_id,
                plan_name,
                product_type_name,
                is_addon,
                deprecated,
                mapping,
            )| {
                ServiceRow {
                    plan_id,
                    plan_public_id,
                    plan_name,
                    product_type_name,
                    is_addon,
                    deprecated,
                    mapping,
                }
            },
        )
        .collect())
}

/// Maps a plan to a catalog item (replacing its mapping), in one
/// transaction; a deprecated plan is refused.
pub fn map_service(
    conn: &mut DbConnection,
    plan_public_id: &str,
    choice: &CatalogChoice,
    now: NaiveDateTime,
) -> Result<MapOutcome, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| {
            let Some((plan_id, deprecated)) = plans::table
                .filter(plans::public_id.eq(plan_public_id))
                .select((plans::id, plans::deprecated))
                .first::<(i64, bool)>(conn)
                .optional()?
            else {
                return Ok(MapOutcome::NoSuchPlan);
            };
            if deprecated {
                return Ok(MapOutcome::Deprecated);
            }
            let values = (
                psa_service_mappings::catalog_item_id.eq(choice.catalog_item_id),
                psa_service_mappings::catalog_identifier.eq(&choice.catalog_identifier),
                psa_service_mappings::catalog_description.eq(&choice.catalog_description),
                psa_service_mappings::updated_at.eq(now),
            );
            let updated = diesel::update(psa_service_mappings::table.find(plan_id))
                .set(values)
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(psa_service_mappings::table)
                    .values((psa_service_mappings::plan_id.eq(plan_id), values))
                    .execute(conn)?;
            }
            Ok(MapOutcome::Mapped)
        })
    })
}

/// "Not Assigned": removes a plan's mapping. `None` when there is no such
/// plan; otherwise whether a mapping was removed.
pub fn unmap_service(
    conn: &mut DbConnection,
    plan_public_id: &str,
) -> Result<Option<bool>, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| {
            let Some(plan_id) = plans::table
                .filter(plans::public_id.eq(plan_public_id))
                .select(plans::id)
                .first::<i64>(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let removed =
                diesel::delete(psa_service_mappings::table.find(plan_id)).execute(conn)?;
            Ok(Some(removed == 1))
        })
    })
}

/// A customer's agreement: `None` when there is no such customer (or it
/// was deleted), `Some(None)` when it has none.
pub fn customer_agreement(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<Option<AgreementChoice>>, StoreError> {
    let Some(customer_id) = live_customer(conn, external_id)? else {
        return Ok(None);
    };
    Ok(Some(
        psa_customer_agreements::table
            .find(customer_id)
            .select(AgreementChoice::as_select())
            .first(conn)
            .optional()?,
    ))
}

/// Sets a customer's company and agreement, in one transaction; `false`
/// when there is no such customer.
pub fn set_customer_agreement(
    conn: &mut DbConnection,
    external_id: &str,
    choice: &AgreementChoice,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| {
            let Some(customer_id) = live_customer(conn, external_id)? else {
                return Ok(false);
            };
            let values = (
                psa_customer_agreements::company_id.eq(choice.company_id),
                psa_customer_agreements::company_name.eq(&choice.company_name),
                psa_customer_agreements::agreement_id.eq(choice.agreement_id),
                psa_customer_agreements::agreement_name.eq(&choice.agreement_name),
                psa_customer_agreements::updated_at.eq(now),
            );
            let updated = diesel::update(psa_customer_agreements::table.find(customer_id))
                .set(values)
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(psa_customer_agreements::table)
                    .values((psa_customer_agreements::customer_id.eq(customer_id), values))
                    .execute(conn)?;
            }
            Ok(true)
        })
    })
}

/// Removes a customer's agreement (it stops taking part in the sync).
/// `None` when there is no such customer; otherwise whether one was set.
pub fn remove_customer_agreement(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<bool>, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| {
            let Some(customer_id) = live_customer(conn, external_id)? else {
                return Ok(None);
            };
            let removed =
                diesel::delete(psa_customer_agreements::table.find(customer_id)).execute(conn)?;
            Ok(Some(removed == 1))
        })
    })
}

fn live_customer(conn: &mut DbConnection, external_id: &str) -> Result<Option<i64>, StoreError> {
    Ok(find_by_external_id(conn, external_id)?
        .filter(|customer| customer.status != CustomerStatus::Deleted)
        .map(|customer| customer.id))
}

/// Whether a plan is deprecated; `None` when there is no such plan.
pub fn plan_deprecated(
    conn: &mut DbConnection,
    plan_public_id: &str,
) -> Result<Option<bool>, StoreError> {
    Ok(plans::table
        .filter(plans::public_id.eq(plan_public_id))
        .select(plans::deprecated)
        .first(conn)
        .optional()?)
}
