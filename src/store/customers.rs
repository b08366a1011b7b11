//! Customers: the units of work behind Synchronize, Exists and Delete.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::outbox;
use super::schema::{addresses, contacts, customer_identities, customer_sync_options, customers};
use super::StoreError;
use crate::domain::customer::{account_extra_info, AccountSubmission, CustomerStatus, ExternalId};
use crate::domain::{Rejection, ResultCode};

/// How often a unit of work runs again after losing a unique-key race.
const MAX_ATTEMPTS: usize = 4;

/// The columns the contract calls need to decide on a customer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerKey {
    pub id: i64,
    pub external_id: String,
    pub application_id: i64,
    pub bss_account_id: Option<String>,
    pub reseller_bss_id: Option<String>,
    pub status: String,
    pub account_extra_info: String,
    pub sync_fingerprint: Option<String>,
}

impl CustomerKey {
    pub fn status(&self) -> Result<CustomerStatus, StoreError> {
        CustomerStatus::from_stored(&self.status).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "customer {} has status {:?}",
                self.external_id, self.status
            ))
        })
    }

    pub fn extra_info(&self) -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(&self.account_extra_info).map_err(|e| {
            StoreError::Corrupt(format!("account_extra_info of {}: {e}", self.external_id))
        })
    }
}

/// Secrets made for a customer about to be created. Hashing a password is
/// slow on purpose, so it happens outside the write transaction and only
/// when a customer is likely to be created.
pub struct CreationSecrets {
    pub external_id: ExternalId,
    /// The generated password and its argon2 hash (BSS notification mode).
    pub password: Option<(String, String)>,
    /// The template of the mail Mailroom queues for the new customer, in the
    /// transaction that creates it (Mailroom notification mode).
    pub welcome_mail: Option<&'static str>,
}

/// What Synchronize did.
#[derive(Debug)]
pub enum SyncOutcome {
    Created {
        external_id: String,
        account_extra_info: BTreeMap<String, String>,
        generated_password: Option<String>,
        /// Whether a mail was queued for it.
        mail_queued: bool,
    },
    /// The account was known (a retry, a later update, a lost race): same
    /// ExternalID, nothing created.
    Updated {
        external_id: String,
        account_extra_info: BTreeMap<String, String>,
    },
    Refused(Rejection),
}

enum Target {
    Found(CustomerKey),
    NotYetCreated,
    UnknownExternalId(String),
}

enum Applied {
    Done(SyncOutcome),
    NeedsCreationSecrets,
}

/// Creates or updates the customer of `submission` for the application, in
/// one transaction. Idempotent per (application, BSS account id): the
/// database's unique keys settle concurrent calls and the loser runs again,
/// finding the winner's customer.
pub fn synchronize(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
    make_secrets: &mut dyn FnMut() -> CreationSecrets,
) -> Result<SyncOutcome, StoreError> {
    let mut secrets: Option<CreationSecrets> = None;
    let mut attempt = 0;
    loop {
        attempt += 1;
        if secrets.is_none()
            && matches!(
                find_target(conn, application_id, submission)?,
                Target::NotYetCreated
            )
        {
            secrets = Some(make_secrets());
        }
        let applied = write_transaction(conn, |conn| {
            apply(conn, application_id, submission, secrets.as_ref())
        });
        match applied {
            Ok(Applied::Done(outcome)) => return Ok(outcome),
            Ok(Applied::NeedsCreationSecrets) => secrets = Some(make_secrets()),
            Err(error) if error.is_retryable_conflict() && attempt < MAX_ATTEMPTS => {
                tracing::debug!(attempt, "synchronize lost a race, running again");
            }
            Err(error) => return Err(error),
        }
        if attempt >= MAX_ATTEMPTS {
            return Err(StoreError::Corrupt("synchronize did not settle".into()));
        }
    }
}

fn find_target(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
) -> Result<Target, StoreError> {
    if let Some(external_id) = &submission.external_id {
        return Ok(match find_by_external_id(conn, external_id)? {
            Some(found) if found.application_id == application_id => Target::Found(found),
            _ => Target::UnknownExternalId(external_id.clone()),
        });
    }
    Ok(
        match find_by_bss_account(conn, application_id, &submission.bss_account_id)? {
            Some(found) => Target::Found(found),
            None => Target::NotYetCreated,
        },
    )
}

fn apply(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
    secrets: Option<&CreationSecrets>,
) -> Result<Applied, StoreError> {
    let now = Utc::now().naive_utc();
    match find_target(conn, application_id, submission)? {
        Target::UnknownExternalId(external_id) => {
            Ok(Applied::Done(SyncOutcome::Refused(Rejection::new(
                ResultCode::UnknownCustomer,
                format!("No customer of this application has ExternalID {external_id}."),
            ))))
        }
        Target::Found(existing) if existing.status()? == CustomerStatus::Deleted => {
            Ok(Applied::Done(SyncOutcome::Refused(Rejection::new(
                ResultCode::CustomerDeleted,
                format!(
                    "Customer {} was deleted and cannot be synchronized again; restore it in the \
                     Mailroom console first.",
                    existing.external_id
                ),
            ))))
        }
        Target::Found(existing) => {
            let fingerprint = submission.fingerprint();
            if existing.sync_fingerprint.as_deref() == Some(fingerprint.as_str())
                && existing.bss_account_id.is_some()
            {
                // A retry of the last call: nothing to write, so no lock
                // taken and nothing for concurrent duplicates to fight over.
                return Ok(Applied::Done(SyncOutcome::Updated {
                    account_extra_info: existing.extra_info()?,
                    external_id: existing.external_id,
                }));
            }
            if let Some(refusal) = identity_conflict(conn, submission, Some(existing.id))? {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let external_id = ExternalId::from_stored(existing.external_id.clone());
            let info = account_extra_info(&external_id, &submission.options);
            update_profile(conn, &existing, submission, &info, &fingerprint, now)?;
            write_details(conn, existing.id, submission, Details::Replace)?;
            Ok(Applied::Done(SyncOutcome::Updated {
                external_id: external_id.into_inner(),
                account_extra_info: info,
            }))
        }
        Target::NotYetCreated => {
            let Some(secrets) = secrets else {
                return Ok(Applied::NeedsCreationSecrets);
            };
            if let Some(refusal) = identity_conflict(conn, submission, None)? {
                return Ok(Applied::Done(SyncOutcome::Refused(refusal)));
            }
            let info = account_extra_info(&secrets.external_id, &submission.options);
            let customer_id =
                insert_customer(conn, application_id, submission, secrets, &info, now)?;
            write_details(conn, customer_id, submission, Details::New)?;
            if let Some(template) = secrets.welcome_mail {
                outbox::queue_for_customer(conn, template, customer_id, now)?;
            }
            Ok(Applied::Done(SyncOutcome::Created {
                external_id: secrets.external_id.as_str().to_owned(),
                account_extra_info: info,
                generated_password: secrets.password.as_ref().map(|(plain, _)| plain.clone()),
                mail_queued: secrets.welcome_mail.is_some(),
            }))
        }
    }
}

/// The first identifying value of the submission that another customer holds.
fn identity_conflict(
    conn: &mut DbConnection,
    submission: &AccountSubmission,
    own_id: Option<i64>,
) -> Result<Option<Rejection>, StoreError> {
    let wanted: Vec<(&str, &str)> = submission.identities().collect();
    let owners = identity_owners(conn, &wanted)?;
    for value in &submission.options {
        let Some(identity) = &value.identity else {
            continue;
        };
        let taken = owners.iter().any(|(option_id, normalized, owner)| {
            *option_id == value.option_id && normalized == identity && Some(*owner) != own_id
        });
        if taken {
            return Ok(Some(value.taken()));
        }
    }
    Ok(None)
}

/// Owners of the given (option id, normalized value) pairs, in one query.
fn identity_owners(
    conn: &mut DbConnection,
    wanted: &[(&str, &str)],
) -> Result<Vec<(String, String, i64)>, StoreError> {
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
    for (option_id, normalized) in wanted {
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

/// The customer of the reseller the account is sold through, if known.
fn reseller_customer_id(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
) -> Result<Option<i64>, StoreError> {
    let reseller = &submission.reseller;
    if let Some(external_id) = &reseller.external_id {
        if let Some(found) = find_by_external_id(conn, external_id)? {
            if found.application_id == application_id {
                return Ok(Some(found.id));
            }
        }
    }
    match &reseller.bss_id {
        // The reseller's own account names itself as its reseller.
        Some(bss_id) if *bss_id != submission.bss_account_id => {
            Ok(find_by_bss_account(conn, application_id, bss_id)?.map(|found| found.id))
        }
        _ => Ok(None),
    }
}

fn insert_customer(
    conn: &mut DbConnection,
    application_id: i64,
    submission: &AccountSubmission,
    secrets: &CreationSecrets,
    info: &BTreeMap<String, String>,
    now: NaiveDateTime,
) -> Result<i64, StoreError> {
    let reseller_customer_id = reseller_customer_id(conn, application_id, submission)?;
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
    submission: &AccountSubmission,
    info: &BTreeMap<String, String>,
    fingerprint: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let reseller_customer_id = reseller_customer_id(conn, existing.application_id, submission)?;
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

    diesel::delete(
        customer_identities::table.filter(customer_identities::customer_id.eq(customer_id)),
    )
    .execute(conn)?;
    for (option_id, normalized) in submission.identities() {
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

/// What Exists found.
#[derive(Debug)]
pub enum ExistsLookup {
    NotFound,
    Found(CustomerKey),
    /// The identifying values name more than one customer.
    Ambiguous,
}

/// Finds the customer an Exists call asks about: by ExternalID when given
/// (in any application, so the caller can be told it is not theirs), else
/// by this application's BSS account id, else by identifying values.
pub fn find_for_exists(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: Option<&str>,
    bss_account_id: Option<&str>,
    identities: &[(String, String)],
) -> Result<ExistsLookup, StoreError> {
    if let Some(external_id) = external_id {
        return Ok(match find_by_external_id(conn, external_id)? {
            Some(found) => ExistsLookup::Found(found),
            None => ExistsLookup::NotFound,
        });
    }
    if let Some(bss_account_id) = bss_account_id {
        if let Some(found) = find_by_bss_account(conn, application_id, bss_account_id)? {
            return Ok(ExistsLookup::Found(found));
        }
    }
    if identities.is_empty() {
        return Ok(ExistsLookup::NotFound);
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
    Ok(match owners.len() {
        0 => ExistsLookup::NotFound,
        1 => ExistsLookup::Found(owners.remove(0)),
        _ => ExistsLookup::Ambiguous,
    })
}

/// What Delete did.
#[derive(Debug, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    AlreadyDeleted,
    Unknown,
}

/// Marks the application's customer deleted, keeping its data.
pub fn mark_deleted(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: &str,
    deleted_by: &str,
) -> Result<DeleteOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(found) = find_by_external_id(conn, external_id)?
            .filter(|found| found.application_id == application_id)
        else {
            return Ok(DeleteOutcome::Unknown);
        };
        if found.status()? == CustomerStatus::Deleted {
            return Ok(DeleteOutcome::AlreadyDeleted);
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
        Ok(DeleteOutcome::Deleted)
    })
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
    pub status: String,
    pub password_hash: Option<String>,
    pub sync_fingerprint: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub deleted_at: Option<NaiveDateTime>,
    pub deleted_by: Option<String>,
    pub activated_at: Option<NaiveDateTime>,
}

impl CustomerRow {
    pub fn extra_info(&self) -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(&self.account_extra_info).map_err(|e| {
            StoreError::Corrupt(format!("account_extra_info of {}: {e}", self.external_id))
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

// --- The operator console: listing, details, status changes -------------

use super::schema::applications;

/// Case-folding for searches. SQLite's `lower` folds ASCII letters only,
/// PostgreSQL's folds every letter; the search text is folded to match.
#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

diesel::alias!(customers as resellers: ResellerCustomers);

/// Which customers a console listing shows.
#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    /// Found anywhere (case-insensitively) in the name, code, email,
    /// ExternalID, BSS account id or an identifying value (domain, username).
    pub search: Option<String>,
    /// `None` for every status.
    pub status: Option<CustomerStatus>,
}

impl CustomerFilter {
    /// The LIKE pattern of the search text, folded the way the backend's
    /// `lower` folds, with the pattern characters escaped by `\`.
    fn pattern(&self, conn: &DbConnection) -> Option<String> {
        let search = self
            .search
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())?;
        let folded = match conn {
            DbConnection::Sqlite(_) => search.to_ascii_lowercase(),
            DbConnection::Postgres(_) => search.to_lowercase(),
        };
        let mut pattern = String::with_capacity(folded.len() + 2);
        pattern.push('%');
        for c in folded.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        Some(pattern)
    }
}

/// Narrows a boxed query over `customers` (joined or not) to a filter.
macro_rules! filter_customers {
    ($query:expr, $status:expr, $pattern:expr) => {{
        let mut query = $query;
        if let Some(status) = $status {
            query = query.filter(customers::status.eq(status.as_str()));
        }
        if let Some(pattern) = $pattern {
            // A NULL column makes its LIKE NULL, which counts as no match.
            query = query.filter(
                lower(customers::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(customers::external_id)
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::code.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::email.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::bss_account_id.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(customers::id.eq_any(
                        customer_identities::table
                            .filter(
                                lower(customer_identities::normalized_value)
                                    .like(pattern.clone())
                                    .escape('\\'),
                            )
                            .select(customer_identities::customer_id),
                    )),
            );
        }
        query
    }};
}

/// A row of the console's customer list.
#[derive(Debug, Clone, Queryable)]
pub struct CustomerListRow {
    pub external_id: String,
    pub name: String,
    pub status: String,
    pub created_at: NaiveDateTime,
    /// The ResellerID the BSS sent.
    pub reseller_bss_id: Option<String>,
    /// The name of the customer's application (tenant).
    pub tenant: String,
    /// The value of the `domain` sync option.
    pub domain: Option<String>,
    /// The reseller's own customer, when it is known here.
    pub reseller_external_id: Option<String>,
    pub reseller_name: Option<String>,
}

/// How many customers match a filter.
pub fn count_matching(conn: &mut DbConnection, filter: &CustomerFilter) -> Result<i64, StoreError> {
    let pattern = filter.pattern(conn);
    let query = filter_customers!(
        customers::table
            .select(diesel::dsl::count_star())
            .into_boxed(),
        filter.status,
        pattern
    );
    Ok(query.get_result(conn)?)
}

/// One page of the customers matching a filter, newest first, with their
/// tenant, domain and reseller, in one query.
pub fn list_matching(
    conn: &mut DbConnection,
    filter: &CustomerFilter,
    offset: i64,
    limit: i64,
) -> Result<Vec<CustomerListRow>, StoreError> {
    let pattern = filter.pattern(conn);
    let query = filter_customers!(
        customers::table
            .inner_join(applications::table)
            .left_join(
                customer_sync_options::table.on(customer_sync_options::customer_id
                    .eq(customers::id)
                    .and(customer_sync_options::option_id.eq(DOMAIN_OPTION))),
            )
            .left_join(
                resellers.on(resellers
                    .field(customers::id)
                    .nullable()
                    .eq(customers::reseller_customer_id)),
            )
            .select((
                customers::external_id,
                customers::name,
                customers::status,
                customers::created_at,
                customers::reseller_bss_id,
                applications::name,
                customer_sync_options::value.nullable(),
                resellers.field(customers::external_id).nullable(),
                resellers.field(customers::name).nullable(),
            ))
            .order(customers::id.desc())
            .offset(offset)
            .limit(limit)
            .into_boxed(),
        filter.status,
        pattern
    );
    Ok(query.load(conn)?)
}

/// The sync option the console shows as a customer's domain.
pub const DOMAIN_OPTION: &str = "domain";

/// A customer with what the console's detail page shows around it.
#[derive(Debug, Clone)]
pub struct ConsoleCustomer {
    pub details: CustomerDetails,
    /// The name of its application (tenant).
    pub tenant: Option<String>,
    /// The reseller's own customer: (ExternalID, name).
    pub reseller: Option<(String, String)>,
}

pub fn load_for_console(
    conn: &mut DbConnection,
    external_id: &str,
) -> Result<Option<ConsoleCustomer>, StoreError> {
    let Some(details) = load_details(conn, external_id)? else {
        return Ok(None);
    };
    let tenant = applications::table
        .find(details.customer.application_id)
        .select(applications::name)
        .first(conn)
        .optional()?;
    let reseller = match details.customer.reseller_customer_id {
        Some(id) => customers::table
            .find(id)
            .select((customers::external_id, customers::name))
            .first(conn)
            .optional()?,
        None => None,
    };
    Ok(Some(ConsoleCustomer {
        details,
        tenant,
        reseller,
    }))
}

/// A status change an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Suspend,
    /// Back to active, from suspended or deleted.
    Restore,
}

/// What a status change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusActionOutcome {
    Changed {
        from: CustomerStatus,
        to: CustomerStatus,
    },
    /// The customer already had the status asked for.
    Unchanged(CustomerStatus),
    /// A deleted customer cannot be suspended (restore it first).
    Refused(CustomerStatus),
    NotFound,
}

/// Suspends or restores a customer in one transaction: reads its status,
/// decides, writes.
pub fn apply_status_action(
    conn: &mut DbConnection,
    external_id: &str,
    action: StatusAction,
) -> Result<StatusActionOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(found) = find_by_external_id(conn, external_id)? else {
            return Ok(StatusActionOutcome::NotFound);
        };
        let current = found.status()?;
        let target = match (action, current) {
            (StatusAction::Suspend, CustomerStatus::Active) => CustomerStatus::Suspended,
            (StatusAction::Suspend, CustomerStatus::Deleted) => {
                return Ok(StatusActionOutcome::Refused(current))
            }
            (StatusAction::Suspend, CustomerStatus::Suspended)
            | (StatusAction::Restore, CustomerStatus::Active) => {
                return Ok(StatusActionOutcome::Unchanged(current))
            }
            (StatusAction::Restore, CustomerStatus::Suspended | CustomerStatus::Deleted) => {
                CustomerStatus::Active
            }
        };
        set_status(conn, external_id, target)?;
        if current == CustomerStatus::Deleted {
            diesel::update(customers::table.find(found.id))
                .set(customers::deleted_by.eq(None::<String>))
                .execute(conn)?;
        }
        Ok(StatusActionOutcome::Changed {
            from: current,
            to: target,
        })
    })
}
