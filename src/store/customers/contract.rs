//! The units of work behind the contract's Accounts calls. Decisions are the
//! domain's ([`crate::domain::customer`]); these functions read the facts
//! they need and carry the decision out in one transaction.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::{find_by_bss_account, find_by_external_id, CustomerKey};
use crate::domain::customer::{
    account_extra_info, decide_synchronize, identity_conflict, reseller_refusal, AccountSubmission,
    CreationSecrets, CustomerStatus, ExternalId, IdentityOwner, NotificationMode, ResellerFound,
    SyncDecision, SyncTarget,
};
use crate::domain::template::ACCESS_INSTRUCTIONS;
use crate::domain::Rejection;
use crate::store::connection::{
    retry_lost_races, write_transaction, write_transaction_once, DbConnection,
};
use crate::store::outbox;
use crate::store::schema::{
    addresses, contacts, customer_identities, customer_sync_options, customers,
};
use crate::store::StoreError;

/// What Synchronize did.
#[derive(Debug)]
pub enum SyncOutcome {
    Created {
        external_id: String,
        account_extra_info: BTreeMap<String, String>,
        generated_password: Option<String>,
        /// Whether a mail was queued for it.
        mail_queued: bool,
        /// The ExternalID the call carried when it named no customer of the
        /// caller (the call fell back to its BSS account id).
        replaced_external_id: Option<String>,
    },
    /// The account was known (a retry, a later update, a lost race): same
    /// ExternalID, nothing created.
    Updated {
        external_id: String,
        account_extra_info: BTreeMap<String, String>,
        /// A fresh password (BSS notification mode, before the BSS has read
        /// our first answer).
        generated_password: Option<String>,
        replaced_external_id: Option<String>,
    },
    Refused(Rejection),
}

/// The customer a call names, as stored.
enum Found {
    New,
    Existing {
        customer: CustomerKey,
        named_by_external_id: bool,
    },
}

/// What [`find`] found, and the ExternalID of the call when it named no
/// customer of the caller (the call then fell back to its BSS account id).
struct Lookup {
    found: Found,
    unknown_external_id: Option<String>,
}

enum Applied {
    Done(SyncOutcome),
    NeedsSecrets,
}

/// Creates or updates the customer of `submission` for the application, in
/// one transaction. Idempotent per (application, BSS account id): the
/// database's unique keys settle concurrent calls and the loser runs again,
/// finding the winner's customer.
pub fn synchronize(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
    mode: NotificationMode,
) -> Result<SyncOutcome, StoreError> {
    // Made outside the transaction (hashing is slow on purpose), and only
    // when the decision will need them.
    let mut secrets: Option<CreationSecrets> = None;
    let fingerprint = submission.fingerprint();
    retry_lost_races(StoreError::is_retryable_conflict, || loop {
        if secrets.is_none() {
            let lookup = find(conn, application_id, submission)?;
            if decision(&lookup, &fingerprint, mode).needs_secrets() {
                secrets = Some(CreationSecrets::generate(mode));
            }
        }
        let applied = write_transaction_once(conn, |conn| {
            let call = Call {
                application_id,
                submission,
                fingerprint: &fingerprint,
                mode,
            };
            apply(conn, &call, secrets.as_ref())
        })?;
        match applied {
            Applied::Done(outcome) => return Ok(outcome),
            Applied::NeedsSecrets => secrets = Some(CreationSecrets::generate(mode)),
        }
    })
}

fn find(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
) -> Result<Lookup, StoreError> {
    let mut unknown_external_id = None;
    if let Some(external_id) = &submission.external_id {
        match find_by_external_id(conn, external_id)? {
            Some(customer) if customer.application_id == application_id => {
                return Ok(Lookup {
                    found: Found::Existing {
                        customer,
                        named_by_external_id: true,
                    },
                    unknown_external_id: None,
                });
            }
            // Never another application's customer.
            _ => unknown_external_id = Some(external_id.clone()),
        }
    }
    let found = match find_by_bss_account(conn, application_id, &submission.bss_account_id)? {
        Some(customer) => Found::Existing {
            customer,
            named_by_external_id: false,
        },
        None => Found::New,
    };
    Ok(Lookup {
        found,
        unknown_external_id,
    })
}

fn decision(lookup: &Lookup, fingerprint: &str, mode: NotificationMode) -> SyncDecision {
    let target = match &lookup.found {
        Found::New => SyncTarget::New,
        Found::Existing {
            customer,
            named_by_external_id,
        } => SyncTarget::Existing {
            external_id: &customer.external_id,
            status: customer.status,
            unchanged: customer.sync_fingerprint.as_deref() == Some(fingerprint)
                && customer.bss_account_id.is_some(),
            named_by_external_id: *named_by_external_id,
            activated: customer.activated_at.is_some(),
        },
    };
    decide_synchronize(target, mode)
}

/// A Synchronize call, as [`apply`] carries it out.
struct Call<'a> {
    application_id: i64,
    submission: &'a AccountSubmission,
    fingerprint: &'a str,
    mode: NotificationMode,
}

fn apply(
    conn: &mut DbConnection,
    call: &Call<'_>,
    secrets: Option<&CreationSecrets>,
) -> Result<Applied, StoreError> {
    let Call {
        application_id,
        submission,
        fingerprint,
        mode,
    } = *call;
    let now = Utc::now().naive_utc();
    let lookup = find(conn, application_id, submission)?;
    let decision = decision(&lookup, fingerprint, mode);
    let secrets = match (decision.needs_secrets(), secrets) {
        (true, None) => return Ok(Applied::NeedsSecrets),
        (_, secrets) => secrets,
    };
    let password = secrets.and_then(|s| s.password.as_ref());
    let replaced_external_id = lookup.unknown_external_id;
    let outcome = match (decision, lookup.found) {
        (SyncDecision::Refuse(rejection), _) => SyncOutcome::Refused(rejection),
        (SyncDecision::Unchanged { reissue_password }, Found::Existing { customer, .. }) => {
            // A retry of the last call: nothing to write (no lock taken,
            // nothing for concurrent duplicates to fight over) but a fresh
            // password when one is due.
            let generated_password = match password.filter(|_| reissue_password) {
                Some((plain, hash)) => {
                    set_password_hash(conn, customer.id, hash, now)?;
                    Some(plain.clone())
                }
                None => None,
            };
            SyncOutcome::Updated {
                account_extra_info: customer.extra_info()?,
                external_id: customer.external_id,
                generated_password,
                replaced_external_id,
            }
        }
        (SyncDecision::Update { reissue_password }, Found::Existing { customer, .. }) => {
            let reseller = find_reseller(conn, application_id, submission)?;
            if let Some(refusal) = reseller_refusal(reseller.found, false) {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let owners = identity_owners(conn, submission)?;
            if let Some(refusal) = identity_conflict(submission, &owners, Some(customer.id)) {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let external_id = ExternalId::from_stored(customer.external_id.clone());
            let info = account_extra_info(&external_id, &submission.options);
            update_profile(
                conn,
                &customer,
                reseller.customer_id,
                submission,
                &info,
                fingerprint,
                now,
            )?;
            write_details(conn, customer.id, submission, Details::Replace)?;
            let generated_password = match password.filter(|_| reissue_password) {
                Some((plain, hash)) => {
                    set_password_hash(conn, customer.id, hash, now)?;
                    Some(plain.clone())
                }
                None => None,
            };
            SyncOutcome::Updated {
                external_id: external_id.into_inner(),
                account_extra_info: info,
                generated_password,
                replaced_external_id,
            }
        }
        (SyncDecision::Create, _) => {
            let Some(secrets) = secrets else {
                return Ok(Applied::NeedsSecrets);
            };
            let reseller = find_reseller(conn, application_id, submission)?;
            if let Some(refusal) = reseller_refusal(reseller.found, true) {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let owners = identity_owners(conn, submission)?;
            if let Some(refusal) = identity_conflict(submission, &owners, None) {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let info = account_extra_info(&secrets.external_id, &submission.options);
            let customer_id = insert_customer(
                conn,
                application_id,
                reseller.customer_id,
                submission,
                secrets,
                &info,
                now,
            )?;
            write_details(conn, customer_id, submission, Details::New)?;
            if secrets.welcome_mail {
                outbox::queue_for_customer(conn, ACCESS_INSTRUCTIONS, customer_id, now)?;
            }
            SyncOutcome::Created {
                external_id: secrets.external_id.as_str().to_owned(),
                account_extra_info: info,
                generated_password: secrets.password.as_ref().map(|(plain, _)| plain.clone()),
                mail_queued: secrets.welcome_mail,
                replaced_external_id,
            }
        }
        (SyncDecision::Unchanged { .. } | SyncDecision::Update { .. }, Found::New) => {
            unreachable!("the domain updates only an existing customer")
        }
    };
    Ok(Applied::Done(outcome))
}

/// Replaces the customer's password hash (a reissued password).
fn set_password_hash(
    conn: &mut DbConnection,
    customer_id: i64,
    hash: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(customers::table.find(customer_id))
        .set((
            customers::password_hash.eq(hash),
            customers::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Who holds each identifying value of the submission, in one query.
fn identity_owners(
    conn: &mut DbConnection,
    submission: &AccountSubmission,
) -> Result<Vec<IdentityOwner>, StoreError> {
    let wanted: Vec<(&str, &str)> = submission.identities().collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut query = customer_identities::table
        .select((
            customer_identities::option_id,
            customer_identities::normalized_value,
            customer_identities::customer_id,
        ))
        .into_boxed();
    for (option_id, normalized) in &wanted {
        query = query.or_filter(
            customer_identities::option_id
                .eq(*option_id)
                .and(customer_identities::normalized_value.eq(*normalized)),
        );
    }
    Ok(query.load(conn)?)
}

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
struct Reseller<'a> {
    found: ResellerFound<'a>,
    customer_id: Option<i64>,
}

fn find_reseller<'a>(
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

fn insert_customer(
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

fn update_profile(
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
enum Details {
    New,
    Replace,
}

/// Writes contact, address, option values and identities of a customer
/// from the submission, replacing what it had. A contact or address the BSS
/// did not send is left as it was.
fn write_details(
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
    release_identities(conn, customer_id)?;
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

/// What Delete did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted {
        external_id: String,
    },
    AlreadyDeleted {
        external_id: String,
    },
    /// No customer of the application has the ExternalID or the BSS
    /// account id: nothing to delete.
    NothingToDelete,
}

/// Marks the application's customer deleted, keeping a tombstone (when, by
/// whom, with which TrackId) and releasing its identifying values at once:
/// a later sign-up with the same domain or username is a new customer. The
/// customer is the one of `external_id` when that is the application's,
/// else the one of `bss_account_id`.
pub fn mark_deleted(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: Option<&str>,
    bss_account_id: Option<&str>,
    deleted_by: &str,
) -> Result<DeleteOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let by_external_id = match external_id {
            Some(external_id) => find_by_external_id(conn, external_id)?
                .filter(|found| found.application_id == application_id),
            None => None,
        };
        let found = match (by_external_id, bss_account_id) {
            (Some(found), _) => Some(found),
            (None, Some(bss_account_id)) => {
                find_by_bss_account(conn, application_id, bss_account_id)?
            }
            (None, None) => None,
        };
        let Some(found) = found else {
            return Ok(DeleteOutcome::NothingToDelete);
        };
        if found.status == CustomerStatus::Deleted {
            return Ok(DeleteOutcome::AlreadyDeleted {
                external_id: found.external_id,
            });
        }
        let now = Utc::now().naive_utc();
        diesel::update(customers::table.find(found.id))
            .set((
                customers::status.eq(CustomerStatus::Deleted.as_str()),
                customers::deleted_at.eq(now),
                customers::deleted_by.eq(deleted_by),
                customers::updated_at.eq(now),
            ))
            .execute(conn)?;
        release_identities(conn, found.id)?;
        Ok(DeleteOutcome::Deleted {
            external_id: found.external_id,
        })
    })
}

/// Frees a customer's identifying values for others to take.
pub(super) fn release_identities(
    conn: &mut DbConnection,
    customer_id: i64,
) -> Result<(), StoreError> {
    diesel::delete(
        customer_identities::table.filter(customer_identities::customer_id.eq(customer_id)),
    )
    .execute(conn)?;
    Ok(())
}
