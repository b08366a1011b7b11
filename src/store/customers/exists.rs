//! The lookup behind Exists.

use diesel::prelude::*;

use super::{find_by_bss_account, find_by_external_id, CustomerKey};
use crate::store::connection::DbConnection;
use crate::store::schema::{customer_identities, customers};
use crate::store::StoreError;

/// Finds the customers an Exists call asks about: by ExternalID when given
/// (in any application, so the caller can be told it is not theirs), else
/// by this application's BSS account id, else by identifying values (each
/// customer once). What the call answers is the domain's
/// [`exists_verdict`](crate::domain::customer::exists_verdict).
pub fn find_for_exists(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: Option<&str>,
    bss_account_id: Option<&str>,
    identities: &[(String, String)],
) -> Result<Vec<CustomerKey>, StoreError> {
    if let Some(external_id) = external_id {
        return Ok(find_by_external_id(conn, external_id)?
            .into_iter()
            .collect());
    }
    if let Some(bss_account_id) = bss_account_id {
        if let Some(found) = find_by_bss_account(conn, application_id, bss_account_id)? {
            return Ok(vec![found]);
        }
    }
    if identities.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = customer_identities::table
        .inner_join(customers::table)
        .select(CustomerKey::as_select())
        .into_boxed();
    for (option_id, normalized) in identities {
        query = query.or_filter(
            customer_identities::option_id
                .eq(option_id.as_str())
                .and(customer_identities::normalized_value.eq(normalized.as_str())),
        );
    }
    let mut owners: Vec<CustomerKey> = query.load(conn)?;
    owners.sort_by_key(|c| c.id);
    owners.dedup_by_key(|c| c.id);
    Ok(owners)
}
