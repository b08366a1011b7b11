//! Activation tokens: one-time links with which a new customer chooses its
//! password, or the owner of a mailbox sets the mailbox's (a token with a
//! `mailbox_id`; the two kinds never stand in for each other). Only their
//! hashes are stored.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::outbox;
use super::schema::{activation_tokens, contacts, customers, mailboxes, outbox as outbox_table};
use super::StoreError;
use crate::domain::customer::CustomerStatus;

pub fn issue(
    conn: &mut DbConnection,
    customer_id: i64,
    outbox_id: Option<i64>,
    token_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(activation_tokens::table)
        .values((
            activation_tokens::token_hash.eq(token_hash),
            activation_tokens::customer_id.eq(customer_id),
            activation_tokens::outbox_id.eq(outbox_id),
            activation_tokens::created_at.eq(Utc::now().naive_utc()),
            activation_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where a presented token stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// Usable: the customer's name, to greet them.
    Valid {
        customer_name: String,
    },
    Unknown,
    Used,
    Expired,
    /// The customer was deleted or suspended since the mail went out.
    CustomerInactive,
}

pub fn check(conn: &mut DbConnection, token_hash: &str) -> Result<TokenState, StoreError> {
    let found: Option<(Option<NaiveDateTime>, NaiveDateTime, String, String)> =
        activation_tokens::table
            .inner_join(customers::table)
            .filter(activation_tokens::token_hash.eq(token_hash))
            .filter(activation_tokens::mailbox_id.is_null())
            .select((
                activation_tokens::used_at,
                activation_tokens::expires_at,
                customers::status,
                customers::name,
            ))
            .first(conn)
            .optional()?;
    let now = Utc::now().naive_utc();
    Ok(match found {
        None => TokenState::Unknown,
        Some((Some(_), ..)) => TokenState::Used,
        Some((None, expires_at, ..)) if expires_at <= now => TokenState::Expired,
        Some((None, _, status, _)) if status != CustomerStatus::Active.as_str() => {
            TokenState::CustomerInactive
        }
        Some((None, _, _, customer_name)) => TokenState::Valid { customer_name },
    })
}

/// Uses the token to set the customer's password. The token is consumed in
/// the same transaction, with every other link the customer was sent, so a
/// link works once even when two submissions race.
pub fn activate(
    conn: &mut DbConnection,
    token_hash: &str,
    password_hash: &str,
) -> Result<TokenState, StoreError> {
    write_transaction(conn, |conn| {
        let state = check(conn, token_hash)?;
        let TokenState::Valid { .. } = state else {
            return Ok(state);
        };
        let now = Utc::now().naive_utc();
        let customer_id: i64 = diesel::update(
            activation_tokens::table
                .filter(activation_tokens::token_hash.eq(token_hash))
                .filter(activation_tokens::used_at.is_null()),
        )
        .set(activation_tokens::used_at.eq(now))
        .returning(activation_tokens::customer_id)
        .get_result(conn)?;
        diesel::update(
            activation_tokens::table
                .filter(activation_tokens::customer_id.eq(customer_id))
                .filter(activation_tokens::mailbox_id.is_null())
                .filter(activation_tokens::used_at.is_null()),
        )
        .set(activation_tokens::used_at.eq(now))
        .execute(conn)?;
        diesel::update(customers::table.find(customer_id))
            .set((
                customers::password_hash.eq(password_hash),
                customers::activated_at.eq(now),
                customers::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(state)
    })
}

/// What a request for a new activation link did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResendOutcome {
    /// A fresh access mail is queued; every earlier link has expired.
    Queued {
        outbox_id: i64,
    },
    /// The customer chose its password already: a link would do nothing.
    AlreadyActivated,
    /// The customer is suspended or deleted.
    NotActive,
    /// A new link was queued for the customer less than the given while
    /// ago (the public form's per-customer limit).
    TooSoon,
    NotFound,
}

/// Who asks for the new link.
#[derive(Debug, Clone)]
pub enum ResendCustomer {
    /// An operator, naming the customer.
    ByExternalId(String),
    /// The public form, with the (expired) link's token hash.
    ByTokenHash(String),
}

/// Queues a fresh access mail for a customer that has not activated, in one
/// transaction with expiring every link it was sent before. With
/// `not_within`, nothing is queued when a new link was queued for the
/// customer within that while.
pub fn resend_access_mail(
    conn: &mut DbConnection,
    customer: &ResendCustomer,
    template_name: &str,
    not_within: Option<chrono::Duration>,
) -> Result<ResendOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let found: Option<(i64, String, Option<NaiveDateTime>)> = match customer {
            ResendCustomer::ByExternalId(external_id) => customers::table
                .filter(customers::external_id.eq(external_id))
                .select((customers::id, customers::status, customers::activated_at))
                .first(conn)
                .optional()?,
            ResendCustomer::ByTokenHash(token_hash) => activation_tokens::table
                .inner_join(customers::table)
                .filter(activation_tokens::token_hash.eq(token_hash))
                .filter(activation_tokens::mailbox_id.is_null())
                .select((customers::id, customers::status, customers::activated_at))
                .first(conn)
                .optional()?,
        };
        let Some((customer_id, status, activated_at)) = found else {
            return Ok(ResendOutcome::NotFound);
        };
        if activated_at.is_some() {
            return Ok(ResendOutcome::AlreadyActivated);
        }
        if status != CustomerStatus::Active.as_str() {
            return Ok(ResendOutcome::NotActive);
        }
        let now = Utc::now().naive_utc();
        if let Some(while_) = not_within {
            if outbox::queued_again_for_customer_since(
                conn,
                template_name,
                customer_id,
                now - while_,
            )? {
                return Ok(ResendOutcome::TooSoon);
            }
        }
        diesel::update(
            activation_tokens::table
                .filter(activation_tokens::customer_id.eq(customer_id))
                .filter(activation_tokens::mailbox_id.is_null())
                .filter(activation_tokens::used_at.is_null())
                .filter(activation_tokens::expires_at.gt(now)),
        )
        .set(activation_tokens::expires_at.eq(now))
        .execute(conn)?;
        let outbox_id = outbox::queue_again_for_customer(conn, template_name, customer_id, now)?;
        Ok(ResendOutcome::Queued { outbox_id })
    })
}

/// Records a mailbox's set-password token (rendered into its mail).
pub fn issue_for_mailbox(
    conn: &mut DbConnection,
    mailbox_id: i64,
    outbox_id: i64,
    token_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    let customer_id: i64 = mailboxes::table
        .find(mailbox_id)
        .select(mailboxes::customer_id)
        .first(conn)?;
    diesel::insert_into(activation_tokens::table)
        .values((
            activation_tokens::token_hash.eq(token_hash),
            activation_tokens::customer_id.eq(customer_id),
            activation_tokens::mailbox_id.eq(mailbox_id),
            activation_tokens::outbox_id.eq(outbox_id),
            activation_tokens::created_at.eq(Utc::now().naive_utc()),
            activation_tokens::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Where a set-password mail goes: the mailbox's secondary email, else the
/// customer's contact email, else its account email (the access mail's
/// order). `None` when there is none: then no link can be sent.
pub fn mailbox_recipient(
    conn: &mut DbConnection,
    secondary_email: Option<&str>,
    customer_id: i64,
) -> Result<Option<String>, StoreError> {
    let present = |value: Option<String>| value.filter(|v| !v.trim().is_empty());
    if let Some(address) = present(secondary_email.map(str::to_owned)) {
        return Ok(Some(address));
    }
    let contact: Option<Option<String>> = contacts::table
        .find(customer_id)
        .select(contacts::email)
        .first(conn)
        .optional()?;
    if let Some(address) = present(contact.flatten()) {
        return Ok(Some(address));
    }
    let account: Option<Option<String>> = customers::table
        .find(customer_id)
        .select(customers::email)
        .first(conn)
        .optional()?;
    Ok(present(account.flatten()))
}

/// What a set-password mail needs of its mailbox when it is sent.
#[derive(Debug, Clone)]
pub struct MailboxMailFacts {
    pub address: String,
    pub display_name: String,
    pub customer_id: i64,
    pub recipient: Option<String>,
}

/// The facts of the mailbox a set-password mail is for, or `None` when the
/// mailbox is gone.
pub fn mailbox_mail_facts(
    conn: &mut DbConnection,
    mailbox_id: i64,
) -> Result<Option<MailboxMailFacts>, StoreError> {
    type Found = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        i64,
    );
    let found: Option<Found> = mailboxes::table
        .find(mailbox_id)
        .select((
            mailboxes::address,
            mailboxes::display_name,
            mailboxes::first_name,
            mailboxes::last_name,
            mailboxes::secondary_email,
            mailboxes::customer_id,
        ))
        .first(conn)
        .optional()?;
    let Some((address, display_name, first, last, secondary, customer_id)) = found else {
        return Ok(None);
    };
    let names = [first, last]
        .into_iter()
        .flatten()
        .map(|part| part.trim().to_owned())
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let display_name = display_name
        .filter(|name| !name.trim().is_empty())
        .or_else(|| (!names.is_empty()).then_some(names))
        .unwrap_or_else(|| address.clone());
    let recipient = mailbox_recipient(conn, secondary.as_deref(), customer_id)?;
    Ok(Some(MailboxMailFacts {
        address,
        display_name,
        customer_id,
        recipient,
    }))
}

/// Queues a set-password mail for a mailbox, in the caller's transaction
/// (the write that needs it), under `dedupe_key` (a retried `Users/Add`
/// queues nothing twice). Every link the mailbox was sent before and that
/// is still unused expires: the newest mail is the one that works.
pub fn queue_mailbox_password_mail(
    conn: &mut DbConnection,
    template_name: &str,
    mailbox_id: i64,
    customer_id: i64,
    dedupe_key: &str,
) -> Result<i64, StoreError> {
    let now = Utc::now().naive_utc();
    diesel::update(
        activation_tokens::table
            .filter(activation_tokens::mailbox_id.eq(mailbox_id))
            .filter(activation_tokens::used_at.is_null())
            .filter(activation_tokens::expires_at.gt(now)),
    )
    .set(activation_tokens::expires_at.eq(now))
    .execute(conn)?;
    let existing: Option<i64> = outbox_table::table
        .filter(outbox_table::dedupe_key.eq(dedupe_key))
        .select(outbox_table::id)
        .first(conn)
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    outbox::queue_for_mailbox(
        conn,
        dedupe_key,
        template_name,
        customer_id,
        mailbox_id,
        now,
    )
}

/// Whether a set-password mail for the mailbox was queued after the one
/// with `outbox_id`: then that older mail must not go out with a working
/// link (a reset retires every earlier link, sent or not).
pub fn newer_mailbox_mail_queued(
    conn: &mut DbConnection,
    mailbox_id: i64,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    let newer: i64 = outbox_table::table
        .filter(outbox_table::mailbox_id.eq(mailbox_id))
        .filter(outbox_table::id.gt(outbox_id))
        .count()
        .get_result(conn)?;
    Ok(newer > 0)
}

/// Where a presented set-password token stands: as [`TokenState`], where
/// `Valid` carries the mailbox's address.
pub fn check_mailbox(conn: &mut DbConnection, token_hash: &str) -> Result<TokenState, StoreError> {
    let found: Option<(Option<NaiveDateTime>, NaiveDateTime, String, String)> =
        activation_tokens::table
            .inner_join(
                mailboxes::table.on(mailboxes::id.nullable().eq(activation_tokens::mailbox_id)),
            )
            .inner_join(customers::table.on(customers::id.eq(mailboxes::customer_id)))
            .filter(activation_tokens::token_hash.eq(token_hash))
            .select((
                activation_tokens::used_at,
                activation_tokens::expires_at,
                customers::status,
                mailboxes::address,
            ))
            .first(conn)
            .optional()?;
    let now = Utc::now().naive_utc();
    Ok(match found {
        None => TokenState::Unknown,
        Some((Some(_), ..)) => TokenState::Used,
        Some((None, expires_at, ..)) if expires_at <= now => TokenState::Expired,
        Some((None, _, status, _)) if status != CustomerStatus::Active.as_str() => {
            TokenState::CustomerInactive
        }
        Some((None, _, _, address)) => TokenState::Valid {
            customer_name: address,
        },
    })
}

/// Uses a set-password token: stores the mailbox's new password hash and
/// consumes this link and every other unused one of the mailbox, in one
/// transaction, so a link works once even when two submissions race.
pub fn set_mailbox_password(
    conn: &mut DbConnection,
    token_hash: &str,
    password_hash: &str,
) -> Result<TokenState, StoreError> {
    write_transaction(conn, |conn| {
        let state = check_mailbox(conn, token_hash)?;
        let TokenState::Valid { .. } = state else {
            return Ok(state);
        };
        let now = Utc::now().naive_utc();
        let mailbox_id: Option<i64> = diesel::update(
            activation_tokens::table
                .filter(activation_tokens::token_hash.eq(token_hash))
                .filter(activation_tokens::used_at.is_null()),
        )
        .set(activation_tokens::used_at.eq(now))
        .returning(activation_tokens::mailbox_id)
        .get_result(conn)?;
        let Some(mailbox_id) = mailbox_id else {
            return Ok(TokenState::Unknown);
        };
        diesel::update(
            activation_tokens::table
                .filter(activation_tokens::mailbox_id.eq(mailbox_id))
                .filter(activation_tokens::used_at.is_null()),
        )
        .set(activation_tokens::used_at.eq(now))
        .execute(conn)?;
        diesel::update(mailboxes::table.find(mailbox_id))
            .set((
                mailboxes::password_hash.eq(password_hash),
                mailboxes::updated_at.eq(now),
            ))
            .execute(conn)?;
        Ok(state)
    })
}
