//! The rows a submission writes: the customer's profile, its reseller, its
//! contact, address, sync option values and identifying values.

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{find_by_bss_account, find_by_external_id, CustomerKey};
use crate::domain::customer::{AccountSubmission, CreationSecrets, CustomerStatus, ResellerFound};
use crate::store::connection::DbConnection;
use crate::store::schema::{
    addresses, contacts, customer_identities, customer_sync_options, customers,
};
use crate::store::StoreError;

#[derive(Insertable)]
#[diesel(table_name = customers)]
struct NewCustomer<'a> {
    external_id: &'a str,
    application_id: i64,
    bss_account_id: Option<&'a str>,
    reseller_bss_id: Option<&'a str>,
    reseller_external_id: Option<&'a str>,
    reseller_customer_id: Option<i64>,
    name: &'a str,
    code: Option<&'a str>,
    phone: Option<&'a str>,
    fax: Option<&'a str>,
    website: Option<&'a str>,
    email: Option<&'a str>,
    description: Option<&'a str>,
    extra_details: String,
    account_extra_info: String,
    is_test: bool,
    status: &'a str,
    password_hash: Option<&'a str>,
    sync_fingerprint: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

#[derive(AsChangeset)]
#[diesel(table_name = customers, treat_none_as_null = true)]
struct ProfileChanges<'a> {
    reseller_bss_id: Option<&'a str>,
    reseller_external_id: Option<&'a str>,
    reseller_customer_id: Option<i64>,
    name: &'a str,
    code: Option<&'a str>,
    phone: Option<&'a str>,
    fax: Option<&'a str>,
    website: Option<&'a str>,
    email: Option<&'a str>,
    description: Option<&'a str>,
    extra_details: String,
    account_extra_info: String,
    is_test: bool,
    sync_fingerprint: Option<&'a str>,
    updated_at: NaiveDateTime,
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("maps of strings and JSON values serialize")
}

/// The reseller the account is sold through, among the application's
/// customers: by `ResellerExternalID`, else by `ResellerID`.
pub(super) struct Reseller<'a> {
    pub(super) found: ResellerFound<'a>,
    pub(super) customer_id: Option<i64>,
}

pub(super) fn find_reseller<'a>(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &'a AccountSubmission,
) -> Result<Reseller<'a>, StoreError> {
    let reseller = &submission.reseller;
    let found = match (&reseller.external_id, &reseller.bss_id) {
        (Some(external_id), _) => match find_by_external_id(conn, external_id)? {
            Some(found) if found.application_id == application_id => Some(found),
            _ => {
                return Ok(Reseller {
                    found: ResellerFound::UnknownExternalId(external_id),
                    customer_id: None,
                })
            }
        },
        // The reseller's own account names itself as its reseller.
        (None, Some(bss_id)) if *bss_id != submission.bss_account_id => {
            find_by_bss_account(conn, application_id, bss_id)?
        }
        (None, _) => None,
    };
    Ok(match found {
        Some(found) => Reseller {
            found: ResellerFound::Found(found.status),
            customer_id: Some(found.id),
        },
        None => Reseller {
            found: ResellerFound::NotKnown,
            customer_id: None,
        },
    })
}

pub(super) fn insert_customer(
    conn: &mut DbConnection,
    application_id: i64,
    reseller_customer_id: Option<i64>,
    submission: &AccountSubmission,
    secrets: &CreationSecrets,
    info: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    let profile = &submission.profile;
    let row = NewCustomer {
        external_id: secrets.external_id.as_str(),
        application_id,
        bss_account_id: Some(&submission.bss_account_id),
        reseller_bss_id: submission.reseller.bss_id.as_deref(),
        reseller_external_id: submission.reseller.external_id.as_deref(),
        reseller_customer_id,
        name: &profile.name,
        code: profile.code.as_deref(),
        phone: profile.phone.as_deref(),
        fax: profile.fax.as_deref(),
        website: profile.website.as_deref(),
        email: profile.email.as_deref(),
        description: profile.description.as_deref(),
        extra_details: to_json(&submission.extra_details),
        account_extra_info: to_json(info),
        is_test: submission.is_test,
        status: CustomerStatus::Active.as_str(),
        password_hash: secrets.password.as_ref().map(|(_, hash)| hash.as_str()),
        sync_fingerprint: submission.fingerprint(),
        created_at: now,
        updated_at: now,
    };
    Ok(diesel::insert_into(customers::table)
        .values(row)
        .returning(customers::id)
        .get_result(conn)?)
}

pub(super) fn update_profile(
    conn: &mut DbConnection,
    existing: &CustomerKey,
    reseller_customer_id: Option<i64>,
    submission: &AccountSubmission,
    info: &BTreeMap<String, String>,
    fingerprint: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let profile = &submission.profile;
    let changes = ProfileChanges {
        reseller_bss_id: submission.reseller.bss_id.as_deref(),
        reseller_external_id: submission.reseller.external_id.as_deref(),
        reseller_customer_id,
        name: &profile.name,
        code: profile.code.as_deref(),
        phone: profile.phone.as_deref(),
        fax: profile.fax.as_deref(),
        website: profile.website.as_deref(),
        email: profile.email.as_deref(),
        description: profile.description.as_deref(),
        extra_details: to_json(&submission.extra_details),
        account_extra_info: to_json(info),
        is_test: submission.is_test,
        sync_fingerprint: Some(fingerprint),
        updated_at: now,
    };
    diesel::update(customers::table.find(existing.id))
        .set(changes)
        .execute(conn)?;
    // A customer linked through Exists may not have a BSS account id yet.
    if existing.bss_account_id.is_none() {
        diesel::update(customers::table.find(existing.id))
            .set(customers::bss_account_id.eq(&submission.bss_account_id))
            .execute(conn)?;
    }
    Ok(())
}

/// Whether a customer's details exist already.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Details {
    New,
    Replace,
}

/// Writes contact, address, option values and identities of a customer
/// from the submission, replacing what it had. A contact or address the BSS
/// did not send is left as it was.
pub(super) fn write_details(
    conn: &mut DbConnection,
    customer_id: i64,
    submission: &AccountSubmission,
    details: Details,
) -> Result<(), StoreError> {
    let replace = details == Details::Replace;
    if let Some(contact) = &submission.contact {
        if replace {
            diesel::delete(contacts::table.find(customer_id)).execute(conn)?;
        }
        diesel::insert_into(contacts::table)
            .values((
                contacts::customer_id.eq(customer_id),
                contacts::bss_contact_id.eq(contact.bss_contact_id.as_deref()),
                contacts::first_name.eq(contact.first_name.as_deref()),
                contacts::last_name.eq(contact.last_name.as_deref()),
                contacts::phone.eq(contact.phone.as_deref()),
                contacts::fax.eq(contact.fax.as_deref()),
                contacts::email.eq(contact.email.as_deref()),
            ))
            .execute(conn)?;
    }
    if let Some(address) = &submission.address {
        if replace {
            diesel::delete(addresses::table.find(customer_id)).execute(conn)?;
        }
        diesel::insert_into(addresses::table)
            .values((
                addresses::customer_id.eq(customer_id),
                addresses::address1.eq(address.address1.as_deref()),
                addresses::address2.eq(address.address2.as_deref()),
                addresses::city.eq(address.city.as_deref()),
                addresses::post_code.eq(address.post_code.as_deref()),
                addresses::state_code.eq(address.state_code.as_deref()),
                addresses::state_name.eq(address.state_name.as_deref()),
                addresses::country_code.eq(address.country_code.as_deref()),
                addresses::country_name.eq(address.country_name.as_deref()),
            ))
            .execute(conn)?;
    }

    // A handful of rows each: one INSERT per row keeps to what both
    // backends share.
    diesel::delete(
        customer_sync_options::table.filter(customer_sync_options::customer_id.eq(customer_id)),
    )
    .execute(conn)?;
    for option in &submission.options {
        diesel::insert_into(customer_sync_options::table)
            .values((
                customer_sync_options::customer_id.eq(customer_id),
                customer_sync_options::option_id.eq(option.option_id.as_str()),
                customer_sync_options::value.eq(option.value.as_str()),
            ))
            .execute(conn)?;
    }

    replace_identities(conn, customer_id, submission.identities())
}

/// Makes `identities` (option id, normalized value) the customer's
/// identifying values, and nothing else.
pub(super) fn replace_identities<'a>(
    conn: &mut DbConnection,
    customer_id: i64,
    identities: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<(), StoreError> {
    super::delete::release_identities(conn, customer_id)?;
    for (option_id, normalized) in identities {
        diesel::insert_into(customer_identities::table)
            .values((
                customer_identities::option_id.eq(option_id),
                customer_identities::normalized_value.eq(normalized),
                customer_identities::customer_id.eq(customer_id),
            ))
            .execute(conn)?;
    }
    Ok(())
}
