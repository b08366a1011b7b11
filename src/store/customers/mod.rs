//! Customers: their rows, the lookups every caller shares, and (in the
//! files beside this one) the units of work of the contract and the console.

mod console;
mod delete;
mod exists;
mod profile;
mod retention;
mod synchronize;

pub use console::{
    apply_status_action, count_matching, list_matching, load_for_console, ConsoleCustomer,
    CustomerFilter, CustomerListRow,
};
pub use delete::{mark_deleted, DeleteOutcome};
pub use exists::find_for_exists;
pub use retention::erase_expired_tombstones;
pub use synchronize::{synchronize, SyncOutcome};

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::DbConnection;
use super::schema::{addresses, contacts, customer_sync_options, customers};
use super::StoreError;
use crate::domain::customer::CustomerStatus;

/// The columns the contract calls need to decide on a customer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerKey {
    pub id: i64,
    pub external_id: String,
    pub application_id: i64,
    pub bss_account_id: Option<String>,
    pub reseller_bss_id: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: CustomerStatus,
    pub account_extra_info: String,
    pub sync_fingerprint: Option<String>,
    pub activated_at: Option<NaiveDateTime>,
}

impl CustomerKey {
    pub fn extra_info(&self) -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(&self.account_extra_info).map_err(|e| {
            StoreError::corrupt_because(format!("account_extra_info of {}", self.external_id), e)
        })
    }
}

pub fn find_by_external_id(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<CustomerKey>, StoreError> {
    Ok(customers::table
        .filter(customers::external_id.eq(external_id))
        .select(CustomerKey::as_select())
        .first(conn)
        .optional()?)
}

pub fn find_by_bss_account(
    conn: &mut DbConnection,
    application_id: i64,
    bss_account_id: &str,
) -> Result<Option<CustomerKey>, StoreError> {
    Ok(crate::on_backend!(conn, c => customers::table
        .filter(customers::application_id.eq(application_id))
        .filter(customers::bss_account_id.eq(bss_account_id))
        .select(CustomerKey::as_select())
        .first(c)
        .optional())?)
}

/// The application's customer a call names: the one of `external_id` when
/// that is one of the application's, else the one of `bss_account_id`.
/// Another application's customer is never found.
pub fn find_for_application(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: Option<&str>,
    bss_account_id: Option<&str>,
) -> Result<Option<CustomerKey>, StoreError> {
    if let Some(external_id) = external_id {
        if let Some(found) = find_by_external_id(conn, external_id)?
            .filter(|found| found.application_id == application_id)
        {
            return Ok(Some(found));
        }
    }
    match bss_account_id {
        Some(id) => find_by_bss_account(conn, application_id, id),
        None => Ok(None),
    }
}

/// Every stored column of a customer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerRow {
    pub id: i64,
    pub external_id: String,
    pub application_id: i64,
    pub bss_account_id: Option<String>,
    pub reseller_bss_id: Option<String>,
    pub reseller_external_id: Option<String>,
    pub reseller_customer_id: Option<i64>,
    pub name: String,
    pub code: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub website: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
    pub extra_details: String,
    pub account_extra_info: String,
    pub is_test: bool,
    #[diesel(deserialize_as = String)]
    pub status: CustomerStatus,
    pub password_hash: Option<String>,
    pub sync_fingerprint: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub deleted_by: Option<String>,
    pub activated_at: Option<NaiveDateTime>,
    /// When the retention job erased the personal data of this tombstone.
    pub personal_data_erased_at: Option<NaiveDateTime>,
}

impl CustomerRow {
    pub fn extra_info(&self) -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(&self.account_extra_info).map_err(|e| {
            StoreError::corrupt_because(format!("account_extra_info of {}", self.external_id), e)
        })
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = contacts)]
pub struct ContactRow {
    pub customer_id: i64,
    pub bss_contact_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = addresses)]
pub struct AddressRow {
    pub customer_id: i64,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub post_code: Option<String>,
    pub state_code: Option<String>,
    pub state_name: Option<String>,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
}

/// A customer with its contact, address and sync option values.
#[derive(Debug, Clone)]
pub struct CustomerDetails {
    pub customer: CustomerRow,
    pub contact: Option<ContactRow>,
    pub address: Option<AddressRow>,
    /// (option id, value), by option id.
    pub options: Vec<(String, String)>,
}

pub fn load_details(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<CustomerDetails>, StoreError> {
    let customer = customers::table
        .filter(customers::external_id.eq(external_id))
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?;
    customer.map(|c| with_details(conn, c)).transpose()
}

pub fn load_details_by_id(
    conn: &mut DbConnection,
    id: i64,
) -> Result<Option<CustomerDetails>, StoreError> {
    let customer = customers::table
        .find(id)
        .select(CustomerRow::as_select())
        .first(conn)
        .optional()?;
    customer.map(|c| with_details(conn, c)).transpose()
}

fn with_details(
    conn: &mut DbConnection,
    customer: CustomerRow,
) -> Result<CustomerDetails, StoreError> {
    let contact = contacts::table
        .find(customer.id)
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?;
    let address = addresses::table
        .find(customer.id)
        .select(AddressRow::as_select())
        .first(conn)
        .optional()?;
    let options = customer_sync_options::table
        .filter(customer_sync_options::customer_id.eq(customer.id))
        .order(customer_sync_options::option_id)
        .select((
            customer_sync_options::option_id,
            customer_sync_options::value,
        ))
        .load(conn)?;
    Ok(CustomerDetails {
        customer,
        contact,
        address,
        options,
    })
}

/// Sets a customer's status (suspension and restore are operator actions).
/// Returns false when there is no such customer.
pub fn set_status(
    conn: &mut DbConnection,
    external_id: &str,
    status: CustomerStatus,
) -> Result<bool, StoreError> {
    let now = Utc::now().naive_utc();
    let deleted_at = (status == CustomerStatus::Deleted).then_some(now);
    let changed = diesel::update(customers::table.filter(customers::external_id.eq(external_id)))
        .set((
            customers::status.eq(status.as_str()),
            customers::deleted_at.eq(deleted_at),
            customers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(changed > 0)
}

/// How many customers there are, deleted ones included.
pub fn count(conn: &mut DbConnection) -> Result<i64, StoreError> {
    Ok(customers::table.count().get_result(conn)?)
}
