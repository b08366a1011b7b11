//! Mailboxes: the units of work of the contract's `Users/*` calls. Each
//! write runs in one transaction; the seats a subscription's quantity
//! allows are counted under a lock of the subscription's row, so concurrent
//! adds never take more seats than were bought. Addresses are unique across
//! the operator by the unique index of their normalized form.

use std::collections::HashMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{retry_lost_races, row_locked_transaction_once, DbConnection};
use super::customers::find_for_application;
use super::schema::{
    customer_identities, customers, mailbox_services, mailboxes, plans, subscriptions,
};
use super::{activation, mailbox_usage, StoreError};
use crate::domain::customer::CustomerStatus;
use crate::domain::mailbox::{
    check_service_status, new_mailbox_id, transition, MailboxAction, MailboxAddress, MailboxStatus,
    Seats,
};
use crate::domain::sync_options::option_ids;
use crate::domain::template::MAILBOX_SET_PASSWORD;
use crate::domain::{Rejection, ResultCode};

/// Case-folding for searches: SQLite's `lower` folds ASCII letters only,
/// PostgreSQL's every letter; the search text is folded to match.
#[diesel::declare_sql_function]
extern "SQL" {
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A stored mailbox.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = mailboxes)]
pub struct MailboxRow {
    pub id: i64,
    pub public_id: String,
    pub customer_id: i64,
    pub application_id: i64,
    pub address: String,
    pub normalized_address: String,
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<String>,
    pub secondary_email: Option<String>,
    pub status: String,
    pub password_hash: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl MailboxRow {
    pub fn status(&self) -> Result<MailboxStatus, StoreError> {
        MailboxStatus::from_stored(&self.status)
            .ok_or_else(|| StoreError::corrupt(format!("mailbox status {:?}", self.status)))
    }
}

/// What the contract shows of a mailbox's customer.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = customers)]
pub struct CustomerBrief {
    pub id: i64,
    pub external_id: String,
    pub application_id: i64,
    pub bss_account_id: Option<String>,
    pub name: String,
    pub is_test: bool,
    #[diesel(deserialize_as = String)]
    pub status: CustomerStatus,
}

/// A mailbox with its customer and how many services it holds.
#[derive(Debug, Clone)]
pub struct MailboxView {
    pub mailbox: MailboxRow,
    pub customer: CustomerBrief,
    pub services: i64,
}

/// A subscription as a service mailboxes take seats of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    pub public_id: String,
    pub plan_name: String,
    pub status: String,
    pub seats: Seats,
}

/// Names a customer: our ExternalID, else the BSS account id.
#[derive(Debug, Clone, Default)]
pub struct CustomerRef {
    pub external_id: Option<String>,
    pub bss_account_id: Option<String>,
}

/// Names a mailbox: our id, else its address (any spelling).
#[derive(Debug, Clone, Default)]
pub struct MailboxRef {
    pub public_id: Option<String>,
    pub address: Option<MailboxAddress>,
}

/// The fields of a mailbox the BSS sets; `None` leaves one as it is on an
/// update.
#[derive(Debug, Clone, Default)]
pub struct MailboxFields {
    pub display_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Option<String>,
    pub secondary_email: Option<String>,
    /// Hashed by the caller (the store never hashes).
    pub password_hash: Option<String>,
}

/// `Users/Add`.
#[derive(Debug, Clone)]
pub struct NewMailbox {
    pub application_id: i64,
    pub customer: CustomerRef,
    pub address: MailboxAddress,
    pub fields: MailboxFields,
    /// A subscription (`sub_...`) to take a seat of.
    pub service: Option<String>,
}

/// What a call did.
#[derive(Debug, Clone)]
pub enum MailboxOutcome {
    Created(MailboxView),
    Changed(MailboxView),
    /// Nothing to write: a retry, or a status the mailbox already has.
    Unchanged(MailboxView),
    /// Delete of a mailbox that is not (or no longer) there.
    Absent,
    Refused(Rejection),
}

fn refused(code: ResultCode, message: &str) -> MailboxOutcome {
    MailboxOutcome::Refused(Rejection::new(code, message))
}

fn unknown_mailbox() -> MailboxOutcome {
    refused(
        ResultCode::UnknownMailbox,
        "No mailbox of this application's customers has that ID, Username or Email.",
    )
}

/// A deprovisioned mailbox holds no seats until it is provisioned again.
fn deprovisioned() -> MailboxOutcome {
    refused(
        ResultCode::MailboxStatusRefused,
        "The mailbox is deprovisioned: provision it first.",
    )
}

/// Runs `work` as one write transaction, again when it lost a race (a
/// concurrent add of the same address, a seat counted under a lock another
/// writer held).
fn write<T>(
    conn: &mut DbConnection,
    work: impl FnMut(&mut DbConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut work = work;
    retry_lost_races(StoreError::is_retryable_conflict, || {
        row_locked_transaction_once(conn, &mut work)
    })
}

/// The application's mailbox `reference` names.
pub fn find(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
) -> Result<Option<MailboxRow>, StoreError> {
    if let Some(public_id) = &reference.public_id {
        let found = mailboxes::table
            .filter(mailboxes::public_id.eq(public_id))
            .filter(mailboxes::application_id.eq(application_id))
            .select(MailboxRow::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match &reference.address {
        Some(address) => Ok(mailboxes::table
            .filter(mailboxes::normalized_address.eq(address.normalized()))
            .filter(mailboxes::application_id.eq(application_id))
            .select(MailboxRow::as_select())
            .first(conn)
            .optional()?),
        None => Ok(None),
    }
}

/// The application's customer `reference` names.
pub fn find_customer(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &CustomerRef,
) -> Result<Option<CustomerBrief>, StoreError> {
    let Some(key) = find_for_application(
        conn,
        application_id,
        reference.external_id.as_deref(),
        reference
            .bss_account_id
            .as_deref()
            .or(reference.external_id.as_deref()),
    )?
    else {
        return Ok(None);
    };
    Ok(Some(brief(conn, key.id)?))
}

fn brief(conn: &mut DbConnection, customer_id: i64) -> Result<CustomerBrief, StoreError> {
    Ok(customers::table
        .find(customer_id)
        .select(CustomerBrief::as_select())
        .first(conn)?)
}

/// The customer's mail domain (its `domain` sync option, normalized).
pub fn customer_domain(
    conn: &mut DbConnection,
    customer_id: i64,
) -> Result<Option<String>, StoreError> {
    Ok(customer_identities::table
        .filter(customer_identities::customer_id.eq(customer_id))
        .filter(customer_identities::option_id.eq(option_ids::DOMAIN))
        .select(customer_identities::normalized_value)
        .first(conn)
        .optional()?)
}

fn services_held(conn: &mut DbConnection, mailbox_id: i64) -> Result<i64, StoreError> {
    Ok(mailbox_services::table
        .filter(mailbox_services::mailbox_id.eq(mailbox_id))
        .count()
        .get_result(conn)?)
}

/// A mailbox with its customer and its count of services.
pub fn view(conn: &mut DbConnection, mailbox: MailboxRow) -> Result<MailboxView, StoreError> {
    let customer = brief(conn, mailbox.customer_id)?;
    let services = services_held(conn, mailbox.id)?;
    Ok(MailboxView {
        mailbox,
        customer,
        services,
    })
}

fn reload(conn: &mut DbConnection, id: i64) -> Result<MailboxView, StoreError> {
    let row = mailboxes::table
        .find(id)
        .select(MailboxRow::as_select())
        .first(conn)?;
    view(conn, row)
}

/// The mailbox a write names, with its customer, when the customer may
/// change it; else the outcome that answers the call (unknown, refused).
fn writable(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
) -> Result<Result<(MailboxRow, CustomerBrief), MailboxOutcome>, StoreError> {
    let Some(row) = find(conn, application_id, reference)? else {
        return Ok(Err(unknown_mailbox()));
    };
    let customer = brief(conn, row.customer_id)?;
    if let Err(rejection) = check_customer(&customer) {
        return Ok(Err(MailboxOutcome::Refused(rejection)));
    }
    Ok(Ok((row, customer)))
}

/// A customer that may get mailboxes (or seats): active.
fn check_customer(customer: &CustomerBrief) -> Result<(), Rejection> {
    match customer.status {
        CustomerStatus::Active => Ok(()),
        CustomerStatus::Suspended => Err(Rejection::new(
            ResultCode::CustomerNotActive,
            "Your account is suspended: mailboxes cannot be added or changed.",
        )),
        CustomerStatus::Deleted => Err(Rejection::new(
            ResultCode::CustomerDeleted,
            "The customer was deleted.",
        )),
    }
}

/// The columns of a subscription a seat needs.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
struct SeatSource {
    id: i64,
    quantity: i32,
    status: String,
}

fn subscription_of(
    conn: &mut DbConnection,
    customer_id: i64,
    public_id: &str,
) -> Result<Option<SeatSource>, StoreError> {
    Ok(subscriptions::table
        .filter(subscriptions::public_id.eq(public_id))
        .filter(subscriptions::customer_id.eq(customer_id))
        .select(SeatSource::as_select())
        .first(conn)
        .optional()?)
}

/// Seats of a subscription its mailboxes hold (read inside the caller's
/// transaction, e.g. an order lowering the quantity).
pub fn seats_taken(conn: &mut DbConnection, subscription_id: i64) -> Result<i64, StoreError> {
    Ok(mailbox_services::table
        .filter(mailbox_services::subscription_id.eq(subscription_id))
        .count()
        .get_result(conn)?)
}

/// Inside a write transaction: locks the subscription's row and checks a
/// seat is free. The lock is a write (setting `updated_at` to itself): on
/// SQLite the transaction already holds the database's write lock; on
/// PostgreSQL the Users units of work run at READ COMMITTED
/// ([`row_locked_transaction_once`]), so a concurrent adder waits for the
/// row, then reads it again and counts the seats with the first adder's
/// committed; an order lowering the quantity at REPEATABLE READ fails on
/// its own write of the row and runs again with the seats counted.
fn claim_seat(
    conn: &mut DbConnection,
    customer_id: i64,
    service: &str,
) -> Result<Result<SeatSource, Rejection>, StoreError> {
    let Some(found) = subscription_of(conn, customer_id, service)? else {
        return Ok(Err(Rejection::new(
            ResultCode::UnknownService,
            format!("{service} is not a subscription of the mailbox's customer."),
        )));
    };
    diesel::update(subscriptions::table.find(found.id))
        .set(subscriptions::updated_at.eq(subscriptions::updated_at))
        .execute(conn)?;
    // Read again under the lock: the quantity may have changed meanwhile.
    let source = subscriptions::table
        .find(found.id)
        .select(SeatSource::as_select())
        .first(conn)?;
    if let Err(rejection) = check_service_status(&source.status) {
        return Ok(Err(rejection));
    }
    let seats = Seats {
        quantity: i64::from(source.quantity),
        taken: seats_taken(conn, source.id)?,
    };
    Ok(seats.check_take(1).map(|()| source))
}

fn holds(
    conn: &mut DbConnection,
    mailbox_id: i64,
    subscription_id: i64,
) -> Result<bool, StoreError> {
    Ok(mailbox_services::table
        .find((mailbox_id, subscription_id))
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

fn insert_seat(
    conn: &mut DbConnection,
    mailbox_id: i64,
    subscription_id: i64,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(mailbox_services::table)
        .values((
            mailbox_services::mailbox_id.eq(mailbox_id),
            mailbox_services::subscription_id.eq(subscription_id),
            mailbox_services::created_at.eq(now),
        ))
        .execute(conn)?;
    mailbox_usage::record(conn, &[subscription_id], now)
}

/// Takes a seat for a mailbox unless it holds one already (`Ok(Ok(false))`).
fn take_seat(
    conn: &mut DbConnection,
    mailbox: &MailboxRow,
    service: &str,
    now: NaiveDateTime,
) -> Result<Result<bool, Rejection>, StoreError> {
    if let Some(found) = subscription_of(conn, mailbox.customer_id, service)? {
        if holds(conn, mailbox.id, found.id)? {
            return Ok(Ok(false));
        }
    }
    match claim_seat(conn, mailbox.customer_id, service)? {
        Ok(source) => {
            insert_seat(conn, mailbox.id, source.id, now)?;
            Ok(Ok(true))
        }
        Err(rejection) => Ok(Err(rejection)),
    }
}

#[derive(Insertable)]
#[diesel(table_name = mailboxes)]
struct InsertMailbox<'a> {
    public_id: &'a str,
    customer_id: i64,
    application_id: i64,
    address: &'a str,
    normalized_address: &'a str,
    display_name: Option<&'a str>,
    first_name: Option<&'a str>,
    last_name: Option<&'a str>,
    role: Option<&'a str>,
    secondary_email: Option<&'a str>,
    status: &'a str,
    password_hash: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

/// `Users/Add`: a new mailbox on the customer's domain, with a seat of
/// `service` when one is named. Idempotent: the same address for the same
/// customer answers that mailbox (taking the seat it asks for if it holds
/// none yet); the unique index settles concurrent adds.
pub fn add(conn: &mut DbConnection, new: &NewMailbox) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let Some(customer) = find_customer(conn, new.application_id, &new.customer)? else {
            return Ok(refused(
                ResultCode::UnknownCustomer,
                "The Customer's ID and AccountID name no customer of this application.",
            ));
        };
        let now = Utc::now().naive_utc();
        let existing = mailboxes::table
            .filter(mailboxes::normalized_address.eq(new.address.normalized()))
            .select(MailboxRow::as_select())
            .first(conn)
            .optional()?;
        if let Some(existing) = existing {
            if existing.customer_id != customer.id {
                return Ok(refused(
                    ResultCode::MailboxAddressTaken,
                    "This mailbox address is already taken.",
                ));
            }
            if let Some(service) = &new.service {
                if let Err(rejection) = check_customer(&customer) {
                    return Ok(MailboxOutcome::Refused(rejection));
                }
                if existing.status()? == MailboxStatus::Deprovisioned {
                    return Ok(deprovisioned());
                }
                match take_seat(conn, &existing, service, now)? {
                    Ok(true) => return Ok(MailboxOutcome::Changed(reload(conn, existing.id)?)),
                    Ok(false) => {}
                    Err(rejection) => return Ok(MailboxOutcome::Refused(rejection)),
                }
            }
            return Ok(MailboxOutcome::Unchanged(view(conn, existing)?));
        }
        if let Err(rejection) = check_customer(&customer) {
            return Ok(MailboxOutcome::Refused(rejection));
        }
        let domain = customer_domain(conn, customer.id)?;
        if let Err(rejection) = new.address.check_domain(domain.as_deref()) {
            return Ok(MailboxOutcome::Refused(rejection));
        }
        // The seat is checked before the mailbox is written: a refusal
        // leaves nothing behind.
        let seat = match &new.service {
            Some(service) => match claim_seat(conn, customer.id, service)? {
                Ok(source) => Some(source.id),
                Err(rejection) => return Ok(MailboxOutcome::Refused(rejection)),
            },
            None => None,
        };
        // Without a password the owner gets a link to set one: there must be
        // somewhere to send it, or nothing is added.
        let mails_link = new.fields.password_hash.is_none();
        if mails_link
            && activation::mailbox_recipient(
                conn,
                new.fields.secondary_email.as_deref(),
                customer.id,
            )?
            .is_none()
        {
            return Ok(no_link_address());
        }
        let public_id = new_mailbox_id();
        let fields = &new.fields;
        diesel::insert_into(mailboxes::table)
            .values(InsertMailbox {
                public_id: &public_id,
                customer_id: customer.id,
                application_id: new.application_id,
                address: new.address.as_given(),
                normalized_address: new.address.normalized(),
                display_name: fields.display_name.as_deref(),
                first_name: fields.first_name.as_deref(),
                last_name: fields.last_name.as_deref(),
                role: fields.role.as_deref(),
                secondary_email: fields.secondary_email.as_deref(),
                status: MailboxStatus::Provisioned.as_str(),
                password_hash: fields.password_hash.as_deref(),
                created_at: now,
                updated_at: now,
            })
            .execute(conn)?;
        let row = mailboxes::table
            .filter(mailboxes::public_id.eq(&public_id))
            .select(MailboxRow::as_select())
            .first(conn)?;
        if let Some(subscription_id) = seat {
            insert_seat(conn, row.id, subscription_id, now)?;
        }
        if mails_link {
            // Keyed by the mailbox: whatever retries, one mail for its creation.
            let key = format!("{MAILBOX_SET_PASSWORD}:mailbox:{}:created", row.id);
            activation::queue_mailbox_password_mail(
                conn,
                MAILBOX_SET_PASSWORD,
                row.id,
                customer.id,
                &key,
            )?;
        }
        Ok(MailboxOutcome::Created(view(conn, row)?))
    })
}

/// `Users/Update`: sets the fields given (and the address, when the call
/// names the mailbox by its ID and sends another one).
pub fn update(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
    fields: &MailboxFields,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let (row, customer) = match writable(conn, application_id, reference)? {
            Ok(found) => found,
            Err(outcome) => return Ok(outcome),
        };
        let new_address = reference
            .address
            .as_ref()
            .filter(|a| a.normalized() != row.normalized_address || a.as_given() != row.address);
        if let Some(address) = new_address {
            if address.normalized() != row.normalized_address {
                let domain = customer_domain(conn, customer.id)?;
                if let Err(rejection) = address.check_domain(domain.as_deref()) {
                    return Ok(MailboxOutcome::Refused(rejection));
                }
                let taken: i64 = mailboxes::table
                    .filter(mailboxes::normalized_address.eq(address.normalized()))
                    .count()
                    .get_result(conn)?;
                if taken > 0 {
                    return Ok(refused(
                        ResultCode::MailboxAddressTaken,
                        "This mailbox address is already taken.",
                    ));
                }
            }
        }
        let pick = |new: &Option<String>, old: &Option<String>| new.clone().or_else(|| old.clone());
        let display_name = pick(&fields.display_name, &row.display_name);
        let first_name = pick(&fields.first_name, &row.first_name);
        let last_name = pick(&fields.last_name, &row.last_name);
        let role = pick(&fields.role, &row.role);
        let secondary_email = pick(&fields.secondary_email, &row.secondary_email);
        let unchanged = new_address.is_none()
            && fields.password_hash.is_none()
            && display_name == row.display_name
            && first_name == row.first_name
            && last_name == row.last_name
            && role == row.role
            && secondary_email == row.secondary_email;
        if unchanged {
            return Ok(MailboxOutcome::Unchanged(view(conn, row)?));
        }
        let (address, normalized) = match new_address {
            Some(a) => (a.as_given().to_owned(), a.normalized().to_owned()),
            None => (row.address.clone(), row.normalized_address.clone()),
        };
        let password_hash = fields
            .password_hash
            .clone()
            .or_else(|| row.password_hash.clone());
        diesel::update(mailboxes::table.find(row.id))
            .set((
                mailboxes::address.eq(address),
                mailboxes::normalized_address.eq(normalized),
                mailboxes::display_name.eq(display_name),
                mailboxes::first_name.eq(first_name),
                mailboxes::last_name.eq(last_name),
                mailboxes::role.eq(role),
                mailboxes::secondary_email.eq(secondary_email),
                mailboxes::password_hash.eq(password_hash),
                mailboxes::updated_at.eq(Utc::now().naive_utc()),
            ))
            .execute(conn)?;
        Ok(MailboxOutcome::Changed(reload(conn, row.id)?))
    })
}

fn no_link_address() -> MailboxOutcome {
    refused(
        ResultCode::NoPasswordLinkAddress,
        "No password was given and there is no email address to send the set-password link \
         to: give the mailbox a SecondaryEmail (or the account a contact email), or a Password.",
    )
}

/// `Users/Password/Reset`: with `password_hash`, the BSS's new password is
/// stored; without, the owner is mailed a new set-password link (queued in
/// this transaction; earlier unused links expire). The password in place
/// stays until the owner sets a new one.
pub fn reset_password(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
    password_hash: Option<&str>,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let (row, _) = match writable(conn, application_id, reference)? {
            Ok(found) => found,
            Err(outcome) => return Ok(outcome),
        };
        let now = Utc::now().naive_utc();
        if let Some(hash) = password_hash {
            diesel::update(mailboxes::table.find(row.id))
                .set((
                    mailboxes::password_hash.eq(hash),
                    mailboxes::updated_at.eq(now),
                ))
                .execute(conn)?;
            return Ok(MailboxOutcome::Changed(reload(conn, row.id)?));
        }
        if activation::mailbox_recipient(conn, row.secondary_email.as_deref(), row.customer_id)?
            .is_none()
        {
            return Ok(no_link_address());
        }
        // Every reset is a new mail (the BSS asks again when the owner did).
        let key = format!(
            "{MAILBOX_SET_PASSWORD}:mailbox:{}:reset:{}",
            row.id,
            uuid::Uuid::new_v4().simple()
        );
        activation::queue_mailbox_password_mail(
            conn,
            MAILBOX_SET_PASSWORD,
            row.id,
            row.customer_id,
            &key,
        )?;
        Ok(MailboxOutcome::Changed(view(conn, row)?))
    })
}

/// `Users/Delete`: the mailbox and its seats go; its address is free again.
/// A mailbox that is not there answers [`MailboxOutcome::Absent`] (the
/// BSS's retry of a delete that was carried out).
pub fn delete(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let Some(row) = find(conn, application_id, reference)? else {
            return Ok(MailboxOutcome::Absent);
        };
        let gone = view(conn, row)?;
        let held = mailbox_usage::held_by(conn, &[gone.mailbox.id])?;
        diesel::delete(
            mailbox_services::table.filter(mailbox_services::mailbox_id.eq(gone.mailbox.id)),
        )
        .execute(conn)?;
        diesel::delete(mailboxes::table.find(gone.mailbox.id)).execute(conn)?;
        mailbox_usage::record(conn, &held, Utc::now().naive_utc())?;
        Ok(MailboxOutcome::Changed(gone))
    })
}

/// `Users/Disable`, `Activate`, `Provision`, `DeProvision`. Deprovisioning
/// gives the mailbox's seats back.
pub fn change_status(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
    action: MailboxAction,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let Some(row) = find(conn, application_id, reference)? else {
            return Ok(unknown_mailbox());
        };
        let to = match transition(row.status()?, action) {
            Ok(Some(to)) => to,
            Ok(None) => return Ok(MailboxOutcome::Unchanged(view(conn, row)?)),
            Err(rejection) => return Ok(MailboxOutcome::Refused(rejection)),
        };
        if to != MailboxStatus::Deprovisioned {
            let customer = brief(conn, row.customer_id)?;
            if let Err(rejection) = check_customer(&customer) {
                return Ok(MailboxOutcome::Refused(rejection));
            }
        }
        let now = Utc::now().naive_utc();
        let held = mailbox_usage::held_by(conn, &[row.id])?;
        diesel::update(mailboxes::table.find(row.id))
            .set((
                mailboxes::status.eq(to.as_str()),
                mailboxes::updated_at.eq(now),
            ))
            .execute(conn)?;
        if to == MailboxStatus::Deprovisioned {
            diesel::delete(mailbox_services::table.filter(mailbox_services::mailbox_id.eq(row.id)))
                .execute(conn)?;
        }
        mailbox_usage::record(conn, &held, now)?;
        Ok(MailboxOutcome::Changed(reload(conn, row.id)?))
    })
}

/// `Users/Service/Add`: the mailbox takes a seat of one of its customer's
/// subscriptions (no seat left: refused, saying how many are).
pub fn add_service(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
    service: &str,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let (row, _) = match writable(conn, application_id, reference)? {
            Ok(found) => found,
            Err(outcome) => return Ok(outcome),
        };
        if row.status()? == MailboxStatus::Deprovisioned {
            return Ok(deprovisioned());
        }
        match take_seat(conn, &row, service, Utc::now().naive_utc())? {
            Ok(true) => Ok(MailboxOutcome::Changed(reload(conn, row.id)?)),
            Ok(false) => Ok(MailboxOutcome::Unchanged(view(conn, row)?)),
            Err(rejection) => Ok(MailboxOutcome::Refused(rejection)),
        }
    })
}

/// `Users/Service/Delete`: gives the seat back (nothing to do when the
/// mailbox holds none of that subscription).
pub fn remove_service(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &MailboxRef,
    service: &str,
) -> Result<MailboxOutcome, StoreError> {
    write(conn, |conn| {
        let Some(row) = find(conn, application_id, reference)? else {
            return Ok(unknown_mailbox());
        };
        let Some(source) = subscription_of(conn, row.customer_id, service)? else {
            return Ok(refused(
                ResultCode::UnknownService,
                "The ServiceID is not a subscription of the mailbox's customer.",
            ));
        };
        let removed =
            diesel::delete(mailbox_services::table.find((row.id, source.id))).execute(conn)?;
        if removed == 0 {
            return Ok(MailboxOutcome::Unchanged(view(conn, row)?));
        }
        mailbox_usage::record(conn, &[source.id], Utc::now().naive_utc())?;
        Ok(MailboxOutcome::Changed(reload(conn, row.id)?))
    })
}

/// Seats taken per subscription, for the given subscriptions.
fn taken_by(
    conn: &mut DbConnection,
    subscription_ids: &[i64],
) -> Result<HashMap<i64, i64>, StoreError> {
    let counts: Vec<(i64, i64)> = mailbox_services::table
        .filter(mailbox_services::subscription_id.eq_any(subscription_ids))
        .group_by(mailbox_services::subscription_id)
        .select((mailbox_services::subscription_id, diesel::dsl::count_star()))
        .load(conn)?;
    Ok(counts.into_iter().collect())
}

fn with_seats(
    conn: &mut DbConnection,
    rows: Vec<(i64, String, String, String, i32)>,
) -> Result<Vec<ServiceView>, StoreError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let taken = taken_by(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|(id, public_id, plan_name, status, quantity)| ServiceView {
            public_id,
            plan_name,
            status,
            seats: Seats {
                quantity: i64::from(quantity),
                taken: taken.get(&id).copied().unwrap_or(0),
            },
        })
        .collect())
}

/// The services a mailbox holds, oldest first.
pub fn services_of(
    conn: &mut DbConnection,
    mailbox_id: i64,
) -> Result<Vec<ServiceView>, StoreError> {
    let rows = mailbox_services::table
        .inner_join(subscriptions::table.inner_join(plans::table))
        .filter(mailbox_services::mailbox_id.eq(mailbox_id))
        .order((mailbox_services::created_at, subscriptions::id))
        .select((
            subscriptions::id,
            subscriptions::public_id,
            plans::name,
            subscriptions::status,
            subscriptions::quantity,
        ))
        .load(conn)?;
    with_seats(conn, rows)
}

/// A customer's subscriptions that are not cancelled: the services its
/// mailboxes can take seats of.
pub fn available_services(
    conn: &mut DbConnection,
    customer_id: i64,
) -> Result<Vec<ServiceView>, StoreError> {
    let rows = subscriptions::table
        .inner_join(plans::table)
        .filter(subscriptions::customer_id.eq(customer_id))
        .filter(subscriptions::status.ne("cancelled"))
        .order(subscriptions::id)
        .select((
            subscriptions::id,
            subscriptions::public_id,
            plans::name,
            subscriptions::status,
            subscriptions::quantity,
        ))
        .load(conn)?;
    with_seats(conn, rows)
}

/// A page: 1-based number and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: i64,
    pub size: i64,
}

impl Page {
    fn offset(self) -> i64 {
        (self.number.max(1) - 1).saturating_mul(self.size)
    }
}

/// The LIKE pattern of a search text, folded the way the backend's `lower`
/// folds, with the pattern characters escaped by `\`.
fn pattern(search: Option<&str>, conn: &DbConnection) -> Option<String> {
    let search = search.map(str::trim).filter(|s| !s.is_empty())?;
    let folded = match conn {
        DbConnection::Sqlite(_) => search.to_ascii_lowercase(),
        DbConnection::Postgres(_) => search.to_lowercase(),
    };
    let mut out = String::with_capacity(folded.len() + 2);
    out.push('%');
    for c in folded.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    Some(out)
}

/// Which of a customer's mailboxes `Users/Get/List` shows.
#[derive(Debug, Clone, Default)]
pub struct MailboxFilter {
    /// Found (case-insensitively) in the address or a name.
    pub search: Option<String>,
    /// Empty: every status.
    pub statuses: Vec<MailboxStatus>,
    /// Subscriptions (`sub_...`): mailboxes holding any of them. Empty: all.
    pub services: Vec<String>,
}

macro_rules! filter_mailboxes {
    ($query:expr, $customer_id:expr, $filter:expr, $pattern:expr) => {{
        let mut query = $query.filter(mailboxes::customer_id.eq($customer_id));
        if !$filter.statuses.is_empty() {
            let statuses: Vec<&str> = $filter.statuses.iter().map(|s| s.as_str()).collect();
            query = query.filter(mailboxes::status.eq_any(statuses));
        }
        if !$filter.services.is_empty() {
            query = query.filter(
                mailboxes::id.eq_any(
                    mailbox_services::table
                        .inner_join(subscriptions::table)
                        .filter(subscriptions::public_id.eq_any($filter.services.clone()))
                        .select(mailbox_services::mailbox_id),
                ),
            );
        }
        if let Some(pattern) = $pattern {
            query = query.filter(
                mailboxes::normalized_address
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(mailboxes::address).like(pattern.clone()).escape('\\'))
                    .or(lower(mailboxes::display_name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(mailboxes::first_name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(mailboxes::last_name.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\')),
            );
        }
        query
    }};
}

/// A page of a customer's mailboxes by address, and how many match in all.
pub fn list(
    conn: &mut DbConnection,
    customer: &CustomerBrief,
    filter: &MailboxFilter,
    page: Page,
) -> Result<(Vec<MailboxView>, i64), StoreError> {
    let pattern = pattern(filter.search.as_deref(), conn);
    let total: i64 = filter_mailboxes!(
        mailboxes::table.into_boxed(),
        customer.id,
        filter,
        pattern.as_ref()
    )
    .count()
    .get_result(conn)?;
    let rows: Vec<MailboxRow> = filter_mailboxes!(
        mailboxes::table.into_boxed(),
        customer.id,
        filter,
        pattern.as_ref()
    )
    .order((mailboxes::normalized_address, mailboxes::id))
    .limit(page.size)
    .offset(page.offset())
    .select(MailboxRow::as_select())
    .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let held: HashMap<i64, i64> = mailbox_services::table
        .filter(mailbox_services::mailbox_id.eq_any(&ids))
        .group_by(mailbox_services::mailbox_id)
        .select((mailbox_services::mailbox_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let views = rows
        .into_iter()
        .map(|mailbox| MailboxView {
            services: held.get(&mailbox.id).copied().unwrap_or(0),
            customer: customer.clone(),
            mailbox,
        })
        .collect();
    Ok((views, total))
}

/// A customer as `Users/Get/Customers` lists it.
#[derive(Debug, Clone)]
pub struct CustomerSummary {
    pub customer: CustomerBrief,
    pub domain: Option<String>,
    pub mailboxes: i64,
}

/// Which customers `Users/Get/Customers` shows.
#[derive(Debug, Clone, Default)]
pub struct CustomerListFilter {
    /// One customer (ExternalID or BSS account id).
    pub customer: Option<String>,
    /// Found in the name, ExternalID, BSS account id or domain.
    pub search: Option<String>,
    /// Empty: active and suspended ones (deleted ones only when asked).
    pub statuses: Vec<CustomerStatus>,
    pub is_test: Option<bool>,
}

macro_rules! filter_customers {
    ($query:expr, $application_id:expr, $filter:expr, $pattern:expr) => {{
        let mut query = $query.filter(customers::application_id.eq($application_id));
        let statuses: Vec<&str> = if $filter.statuses.is_empty() {
            vec![
                CustomerStatus::Active.as_str(),
                CustomerStatus::Suspended.as_str(),
            ]
        } else {
            $filter.statuses.iter().map(|s| s.as_str()).collect()
        };
        query = query.filter(customers::status.eq_any(statuses));
        if let Some(id) = &$filter.customer {
            query = query.filter(
                customers::external_id
                    .eq(id.clone())
                    .or(customers::bss_account_id.eq(id.clone())),
            );
        }
        if let Some(is_test) = $filter.is_test {
            query = query.filter(customers::is_test.eq(is_test));
        }
        if let Some(pattern) = $pattern {
            query = query.filter(
                lower(customers::name)
                    .like(pattern.clone())
                    .escape('\\')
                    .or(lower(customers::external_id)
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(lower(customers::bss_account_id.assume_not_null())
                        .like(pattern.clone())
                        .escape('\\'))
                    .or(customers::id.eq_any(
                        customer_identities::table
                            .filter(customer_identities::option_id.eq(option_ids::DOMAIN))
                            .filter(
                                customer_identities::normalized_value
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

/// A page of the application's customers by name, with their domains and
/// mailbox counts, and how many match in all.
pub fn customers(
    conn: &mut DbConnection,
    application_id: i64,
    filter: &CustomerListFilter,
    page: Page,
) -> Result<(Vec<CustomerSummary>, i64), StoreError> {
    let pattern = pattern(filter.search.as_deref(), conn);
    let total: i64 = filter_customers!(
        customers::table.into_boxed(),
        application_id,
        filter,
        pattern.as_ref()
    )
    .count()
    .get_result(conn)?;
    let rows: Vec<CustomerBrief> = filter_customers!(
        customers::table.into_boxed(),
        application_id,
        filter,
        pattern.as_ref()
    )
    .order((customers::name, customers::id))
    .limit(page.size)
    .offset(page.offset())
    .select(CustomerBrief::as_select())
    .load(conn)?;
    let summaries = summarize(conn, rows)?;
    Ok((summaries, total))
}

/// Domains and mailbox counts of the given customers (two queries).
pub fn summarize(
    conn: &mut DbConnection,
    rows: Vec<CustomerBrief>,
) -> Result<Vec<CustomerSummary>, StoreError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let domains: HashMap<i64, String> = customer_identities::table
        .filter(customer_identities::customer_id.eq_any(&ids))
        .filter(customer_identities::option_id.eq(option_ids::DOMAIN))
        .select((
            customer_identities::customer_id,
            customer_identities::normalized_value,
        ))
        .load::<(i64, String)>(conn)?
        .into_iter()
        .collect();
    let counts: HashMap<i64, i64> = mailboxes::table
        .filter(mailboxes::customer_id.eq_any(&ids))
        .group_by(mailboxes::customer_id)
        .select((mailboxes::customer_id, diesel::dsl::count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|customer| CustomerSummary {
            domain: domains.get(&customer.id).cloned(),
            mailboxes: counts.get(&customer.id).copied().unwrap_or(0),
            customer,
        })
        .collect())
}

/// Provisioned mailboxes holding a plan's seats, per customer and plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanUsage {
    pub customer_id: i64,
    pub plan_id: i64,
    pub mailboxes: i64,
}

/// Usage per customer and plan (one customer's, or every customer's): the
/// provisioned mailboxes holding a seat of the plan's subscriptions, in one
/// query, for a PSA sync that bills mailboxes in use.
pub fn usage(
    conn: &mut DbConnection,
    customer_id: Option<i64>,
) -> Result<Vec<PlanUsage>, StoreError> {
    let mut query = mailbox_services::table
        .inner_join(mailboxes::table)
        .inner_join(subscriptions::table)
        .filter(mailboxes::status.eq(MailboxStatus::Provisioned.as_str()))
        .filter(subscriptions::status.ne("cancelled"))
        .group_by((subscriptions::customer_id, subscriptions::plan_id))
        .select((
            subscriptions::customer_id,
            subscriptions::plan_id,
            diesel::dsl::count_star(),
        ))
        .order((subscriptions::customer_id, subscriptions::plan_id))
        .into_boxed();
    if let Some(customer_id) = customer_id {
        query = query.filter(subscriptions::customer_id.eq(customer_id));
    }
    Ok(query
        .load::<(i64, i64, i64)>(conn)?
        .into_iter()
        .map(|(customer_id, plan_id, mailboxes)| PlanUsage {
            customer_id,
            plan_id,
            mailboxes,
        })
        .collect())
}

/// Seats of a subscription (by public id): bought and taken.
pub fn seats_of(conn: &mut DbConnection, public_id: &str) -> Result<Option<Seats>, StoreError> {
    let Some((id, quantity)) = subscriptions::table
        .filter(subscriptions::public_id.eq(public_id))
        .select((subscriptions::id, subscriptions::quantity))
        .first::<(i64, i32)>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    Ok(Some(Seats {
        quantity: i64::from(quantity),
        taken: seats_taken(conn, id)?,
    }))
}

/// A mailbox by its public id (for tests and the console).
pub fn by_public_id(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<MailboxRow>, StoreError> {
    Ok(mailboxes::table
        .filter(mailboxes::public_id.eq(public_id))
        .select(MailboxRow::as_select())
        .first(conn)
        .optional()?)
}
