//! Tombstones past their retention: a deleted customer keeps its ids and
//! dates for good, its personal data only for the retention period.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::customer::{CustomerStatus, CUSTOMER_ID_KEY};
use crate::store::connection::{write_transaction, DbConnection};
use crate::store::schema::{
    activation_tokens, addresses, contacts, customer_sync_options, customers,
};
use crate::store::StoreError;

/// What an erased tombstone is called.
pub const ERASED_NAME: &str = "(deleted customer)";

/// Erases the personal data of up to `limit` customers deleted before
/// `deleted_before` (name, contact details, address, sync option values,
/// extra details, password), keeping ids, status and dates, in one
/// transaction. Returns how many it erased.
pub fn erase_expired_tombstones(
    conn: &mut DbConnection,
    deleted_before: NaiveDateTime,
    now: NaiveDateTime,
    limit: i64,
) -> Result<usize, StoreError> {
    write_transaction(conn, |conn| {
        let due: Vec<(i64, String)> = customers::table
            .filter(customers::status.eq(CustomerStatus::Deleted.as_str()))
            .filter(customers::personal_data_erased_at.is_null())
            .filter(customers::deleted_at.le(deleted_before))
            .order(customers::deleted_at)
            .limit(limit)
            .select((customers::id, customers::external_id))
            .load(conn)?;
        for (id, external_id) in &due {
            let info = BTreeMap::from([(CUSTOMER_ID_KEY, external_id.as_str())]);
            diesel::update(customers::table.find(id))
                .set((
                    customers::name.eq(ERASED_NAME),
                    customers::code.eq(None::<String>),
                    customers::phone.eq(None::<String>),
                    customers::fax.eq(None::<String>),
                    customers::website.eq(None::<String>),
                    customers::email.eq(None::<String>),
                    customers::description.eq(None::<String>),
                    customers::extra_details.eq("{}"),
                    customers::account_extra_info
                        .eq(serde_json::to_string(&info).expect("a map of strings serializes")),
                    customers::password_hash.eq(None::<String>),
                    customers::sync_fingerprint.eq(None::<String>),
                    customers::personal_data_erased_at.eq(now),
                ))
                .execute(conn)?;
        }
        // What hangs off the erased customers goes in one statement a table.
        let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
        diesel::delete(contacts::table.filter(contacts::customer_id.eq_any(&ids))).execute(conn)?;
        diesel::delete(addresses::table.filter(addresses::customer_id.eq_any(&ids)))
            .execute(conn)?;
        diesel::delete(
            customer_sync_options::table.filter(customer_sync_options::customer_id.eq_any(&ids)),
        )
        .execute(conn)?;
        diesel::delete(
            activation_tokens::table.filter(activation_tokens::customer_id.eq_any(&ids)),
        )
        .execute(conn)?;
        Ok(due.len())
    })
}
