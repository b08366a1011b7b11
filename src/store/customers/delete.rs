//! Delete: a tombstone that releases what the customer held.

use chrono::Utc;
use diesel::prelude::*;

use super::find_for_application;
use crate::domain::customer::CustomerStatus;
use crate::domain::subscription::ChangeSource;
use crate::store::connection::{write_transaction, DbConnection};
use crate::store::schema::{customer_identities, customers, mailbox_services, mailboxes};
use crate::store::subscriptions::{self, Origin};
use crate::store::{mailbox_usage, StoreError};

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
/// else the one of `bss_account_id`. Its subscriptions are cancelled, each
/// with a history row (source `bss`, the call's TrackId), and its mailboxes
/// removed with their seats, so their addresses are free for a returning
/// customer with the same domain.
pub fn mark_deleted(
    conn: &mut DbConnection,
    application_id: i64,
    external_id: Option<&str>,
    bss_account_id: Option<&str>,
    deleted_by: &str,
    track_id: Option<&str>,
) -> Result<DeleteOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(found) = find_for_application(conn, application_id, external_id, bss_account_id)?
        else {
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
        remove_mailboxes(conn, found.id)?;
        subscriptions::cancel_for_customer(
            conn,
            found.id,
            &Origin {
                source: ChangeSource::Bss,
                track_id: track_id.map(str::to_owned),
            },
        )?;
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

/// Removes a customer's mailboxes and the seats they hold (the addresses
/// are unique across the operator, so a kept row would hold its address).
fn remove_mailboxes(conn: &mut DbConnection, customer_id: i64) -> Result<(), StoreError> {
    let owned = mailboxes::table
        .filter(mailboxes::customer_id.eq(customer_id))
        .select(mailboxes::id);
    let held: Vec<i64> = mailbox_services::table
        .filter(mailbox_services::mailbox_id.eq_any(owned))
        .select(mailbox_services::subscription_id)
        .distinct()
        .load(conn)?;
    diesel::delete(mailbox_services::table.filter(mailbox_services::mailbox_id.eq_any(owned)))
        .execute(conn)?;
    diesel::delete(mailboxes::table.filter(mailboxes::customer_id.eq(customer_id)))
        .execute(conn)?;
    mailbox_usage::record(conn, &held, Utc::now().naive_utc())
}
