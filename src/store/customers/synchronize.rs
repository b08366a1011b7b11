//! Synchronize: reads the facts the domain's decision needs, asks it
//! ([`crate::domain::customer::decide_synchronize`]) and carries the decision
//! out in one transaction, running again when it lost a race.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::profile::{find_reseller, insert_customer, update_profile, write_details, Details};
use super::{find_by_bss_account, find_by_external_id, CustomerKey};
use crate::domain::customer::{
    account_extra_info, decide_synchronize, identity_conflict, reseller_refusal, AccountSubmission,
    CreationSecrets, ExternalId, IdentityOwner, NotificationMode, SyncDecision, SyncTarget,
};
use crate::domain::template::ACCESS_INSTRUCTIONS;
use crate::domain::Rejection;
use crate::store::connection::{retry_lost_races, write_transaction_once, DbConnection};
use crate::store::outbox;
use crate::store::schema::{customer_identities, customers};
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
    owners_of(conn, &wanted)
}

/// Who holds each of the (option id, normalized value) pairs, in one query.
pub(super) fn owners_of(
    conn: &mut DbConnection,
    wanted: &[(&str, &str)],
) -> Result<Vec<IdentityOwner>, StoreError> {
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
