//! Operator accounts as Super Admins manage them: the list, invitations and
//! password resets (a set-password mail through the outbox, its one-time
//! link issued when it is sent), role changes, disabling and re-enabling.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection, TransactionError};
use super::operator_audit::{record_in, Actor, AuditEntry};
use super::schema::{operator_password_tokens, operator_sessions, operators, outbox};
use super::{outbox as outbox_store, StoreError};
use crate::domain::operator::Role;
use crate::domain::operator_account::{self, Account, AccountChange, AccountRefusal};
use crate::domain::operator_audit::AuditAction;
use crate::domain::template::OPERATOR_SET_PASSWORD;

/// An operator as the Operators page lists them (never their hash).
#[derive(Debug, Clone)]
pub struct OperatorSummary {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
    pub last_sign_in_at: Option<NaiveDateTime>,
    /// False for an invited operator who has not chosen a password yet.
    pub has_password: bool,
}

impl OperatorSummary {
    pub fn status(&self) -> &'static str {
        match (self.disabled_at, self.has_password) {
            (Some(_), _) => "disabled",
            (None, false) => "invited",
            (None, true) => "active",
        }
    }

    /// An invited operator without a password yet cannot sign in, so does
    /// not count as an active Super Admin.
    fn account(&self) -> Account {
        Account {
            role: self.role,
            active: self.disabled_at.is_none() && self.has_password,
        }
    }
}

type SummaryColumns = (
    operators::id,
    operators::email,
    operators::role,
    operators::created_at,
    operators::disabled_at,
    operators::last_sign_in_at,
    operators::password_hash,
);

const SUMMARY: SummaryColumns = (
    operators::id,
    operators::email,
    operators::role,
    operators::created_at,
    operators::disabled_at,
    operators::last_sign_in_at,
    operators::password_hash,
);

type SummaryRow = (
    i64,
    String,
    String,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<NaiveDateTime>,
    String,
);

fn summary(row: SummaryRow) -> Result<OperatorSummary, StoreError> {
    let (id, email, role, created_at, disabled_at, last_sign_in_at, hash) = row;
    Ok(OperatorSummary {
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::corrupt(format!("operator {id} has role {role:?}")))?,
        id,
        email,
        created_at,
        disabled_at,
        last_sign_in_at,
        has_password: !hash.is_empty(),
    })
}

/// Every operator, by email.
pub fn list(conn: &mut DbConnection) -> Result<Vec<OperatorSummary>, StoreError> {
    operators::table
        .select(SUMMARY)
        .order(operators::email)
        .load::<SummaryRow>(conn)?
        .into_iter()
        .map(summary)
        .collect()
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<OperatorSummary>, StoreError> {
    operators::table
        .find(id)
        .select(SUMMARY)
        .first::<SummaryRow>(conn)
        .optional()?
        .map(summary)
        .transpose()
}

#[derive(Debug)]
pub enum InviteOutcome {
    Invited { operator_id: i64, outbox_id: i64 },
    EmailTaken,
}

/// Creates an operator without a password (nothing signs in as it) and
/// queues its invitation, in one transaction. `email` is lower-cased.
pub fn invite(
    conn: &mut DbConnection,
    email: &str,
    role: Role,
) -> Result<InviteOutcome, StoreError> {
    let invited = write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        let operator_id = diesel::insert_into(operators::table)
            .values((
                operators::email.eq(email),
                operators::password_hash.eq(""),
                operators::role.eq(role.as_str()),
                operators::created_at.eq(now),
            ))
            .returning(operators::id)
            .get_result::<i64>(conn)?;
        let key = format!("{OPERATOR_SET_PASSWORD}:operator:{operator_id}:invite");
        let outbox_id =
            outbox_store::queue_for_operator(conn, &key, OPERATOR_SET_PASSWORD, operator_id, now)?;
        Ok::<_, StoreError>(InviteOutcome::Invited {
            operator_id,
            outbox_id,
        })
    });
    match invited {
        Err(error) if error.is_retryable_conflict() => Ok(InviteOutcome::EmailTaken),
        other => other,
    }
}

#[derive(Debug)]
pub enum ChangeOutcome {
    Changed {
        before: OperatorSummary,
        after: OperatorSummary,
    },
    NotFound,
    Refused(AccountRefusal),
}

/// Why a change's transaction rolled back.
#[derive(Debug)]
enum ChangeStop {
    NotFound,
    Refused(AccountRefusal),
    Store(StoreError),
}

impl From<diesel::result::Error> for ChangeStop {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(error.into())
    }
}

impl From<StoreError> for ChangeStop {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl TransactionError for ChangeStop {
    fn is_serialization_failure(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_serialization_failure())
    }
}

/// Changes an operator's role or status, never leaving no active Super
/// Admin. A disabled operator's sessions end with the change.
pub fn change(
    conn: &mut DbConnection,
    operator_id: i64,
    requested: AccountChange,
) -> Result<ChangeOutcome, StoreError> {
    let changed = write_transaction(conn, |conn| {
        let before = find(conn, operator_id)?.ok_or(ChangeStop::NotFound)?;
        // Every active Super Admin's row is written first: two concurrent
        // changes that would each leave one then collide (PostgreSQL) or
        // queue (SQLite), and the second one counts again.
        let active_super_admins = diesel::update(
            operators::table
                .filter(operators::role.eq(Role::SuperAdmin.as_str()))
                .filter(operators::disabled_at.is_null())
                .filter(operators::password_hash.ne("")),
        )
        .set(operators::role.eq(operators::role))
        .execute(conn)? as i64;
        let after = operator_account::apply(before.account(), requested, active_super_admins)
            .map_err(ChangeStop::Refused)?;
        let now = Utc::now().naive_utc();
        let disabled_at = match requested {
            AccountChange::Disable => before.disabled_at.or(Some(now)),
            AccountChange::Enable => None,
            AccountChange::SetRole(_) => before.disabled_at,
        };
        diesel::update(operators::table.find(operator_id))
            .set((
                operators::role.eq(after.role.as_str()),
                operators::disabled_at.eq(disabled_at),
            ))
            .execute(conn)?;
        if disabled_at.is_some() {
            diesel::delete(
                operator_sessions::table.filter(operator_sessions::operator_id.eq(operator_id)),
            )
            .execute(conn)?;
        }
        let after = find(conn, operator_id)?.ok_or(ChangeStop::NotFound)?;
        Ok(ChangeOutcome::Changed { before, after })
    });
    match changed {
        Ok(outcome) => Ok(outcome),
        Err(ChangeStop::NotFound) => Ok(ChangeOutcome::NotFound),
        Err(ChangeStop::Refused(refusal)) => Ok(ChangeOutcome::Refused(refusal)),
        Err(ChangeStop::Store(error)) => Err(error),
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum ResetOutcome {
    Queued { outbox_id: i64 },
    NotFound,
    Disabled,
}

/// Queues a set-password mail for an enabled operator. Earlier links stop
/// working when the new one is issued.
pub fn queue_password_reset(
    conn: &mut DbConnection,
    operator_id: i64,
) -> Result<ResetOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(found) = find(conn, operator_id)? else {
            return Ok(ResetOutcome::NotFound);
        };
        if found.disabled_at.is_some() {
            return Ok(ResetOutcome::Disabled);
        }
        let now = Utc::now().naive_utc();
        let key = format!(
            "{OPERATOR_SET_PASSWORD}:operator:{operator_id}:reset:{}",
            uuid::Uuid::new_v4().simple()
        );
        let outbox_id =
            outbox_store::queue_for_operator(conn, &key, OPERATOR_SET_PASSWORD, operator_id, now)?;
        Ok(ResetOutcome::Queued { outbox_id })
    })
}

/// What the outbox needs to send an operator's set-password mail.
#[derive(Debug, Clone)]
pub struct OperatorMailFacts {
    pub email: String,
    pub disabled: bool,
    pub has_password: bool,
}

pub fn mail_facts(
    conn: &mut DbConnection,
    operator_id: i64,
) -> Result<Option<OperatorMailFacts>, StoreError> {
    Ok(find(conn, operator_id)?.map(|found| OperatorMailFacts {
        disabled: found.disabled_at.is_some(),
        has_password: found.has_password,
        email: found.email,
    }))
}

/// True when a newer set-password mail of the operator is queued: the older
/// one is not sent (its link would be replaced at once).
pub fn newer_operator_mail_queued(
    conn: &mut DbConnection,
    operator_id: i64,
    outbox_id: i64,
) -> Result<bool, StoreError> {
    let newer: i64 = outbox::table
        .filter(outbox::operator_id.eq(operator_id))
        .filter(outbox::id.gt(outbox_id))
        .count()
        .get_result(conn)?;
    Ok(newer > 0)
}

/// Stores the hash of a link being mailed, and makes the operator's earlier
/// unused links stop working.
pub fn issue_token(
    conn: &mut DbConnection,
    operator_id: i64,
    outbox_id: i64,
    token_hash: &str,
    purpose: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        diesel::update(
            operator_password_tokens::table
                .filter(operator_password_tokens::operator_id.eq(operator_id))
                .filter(operator_password_tokens::used_at.is_null())
                .filter(operator_password_tokens::expires_at.gt(now)),
        )
        .set(operator_password_tokens::expires_at.eq(now))
        .execute(conn)?;
        diesel::insert_into(operator_password_tokens::table)
            .values((
                operator_password_tokens::token_hash.eq(token_hash),
                operator_password_tokens::operator_id.eq(operator_id),
                operator_password_tokens::purpose.eq(purpose),
                operator_password_tokens::outbox_id.eq(outbox_id),
                operator_password_tokens::created_at.eq(now),
                operator_password_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Where a presented set-password link stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    Valid { email: String },
    Unknown,
    Used,
    Expired,
    OperatorDisabled,
}

pub fn check_token(conn: &mut DbConnection, token_hash: &str) -> Result<TokenState, StoreError> {
    let found: Option<(
        Option<NaiveDateTime>,
        NaiveDateTime,
        String,
        Option<NaiveDateTime>,
    )> = operator_password_tokens::table
        .inner_join(operators::table.on(operators::id.eq(operator_password_tokens::operator_id)))
        .filter(operator_password_tokens::token_hash.eq(token_hash))
        .select((
            operator_password_tokens::used_at,
            operator_password_tokens::expires_at,
            operators::email,
            operators::disabled_at,
        ))
        .first(conn)
        .optional()?;
    let now = Utc::now().naive_utc();
    Ok(match found {
        None => TokenState::Unknown,
        Some((Some(_), _, _, _)) => TokenState::Used,
        Some((None, expires_at, _, _)) if expires_at <= now => TokenState::Expired,
        Some((None, _, _, Some(_))) => TokenState::OperatorDisabled,
        Some((None, _, email, None)) => TokenState::Valid { email },
    })
}

/// Sets an operator's password from a valid link, once: the link is used,
/// the operator's sessions end, and the audit row is written, in one
/// transaction. Answers the state of a link that was not valid.
pub fn set_password_with_token(
    conn: &mut DbConnection,
    token_hash: &str,
    password_hash: &str,
    source_address: Option<String>,
) -> Result<TokenState, StoreError> {
    write_transaction(conn, |conn| {
        let state = check_token(conn, token_hash)?;
        let TokenState::Valid { email } = &state else {
            return Ok(state);
        };
        let (operator_id, purpose): (i64, String) = operator_password_tokens::table
            .find(token_hash)
            .select((
                operator_password_tokens::operator_id,
                operator_password_tokens::purpose,
            ))
            .first(conn)?;
        let now = Utc::now().naive_utc();
        diesel::update(operator_password_tokens::table.find(token_hash))
            .set(operator_password_tokens::used_at.eq(now))
            .execute(conn)?;
        diesel::update(operators::table.find(operator_id))
            .set(operators::password_hash.eq(password_hash))
            .execute(conn)?;
        diesel::delete(
            operator_sessions::table.filter(operator_sessions::operator_id.eq(operator_id)),
        )
        .execute(conn)?;
        let actor = Actor {
            operator_id: Some(operator_id),
            email: email.clone(),
            source_address: source_address.clone(),
        };
        record_in(
            conn,
            &AuditEntry::new(actor, AuditAction::OperatorPasswordSet)
                .target(email.as_str())
                .after(serde_json::json!({"link": purpose})),
        )?;
        Ok(state)
    })
}

/// Replaces an operator's own password (checked by the caller against the
/// current one) and ends the operator's other sessions.
pub fn set_own_password(
    conn: &mut DbConnection,
    operator_id: i64,
    password_hash: &str,
    current_session_hash: Option<&str>,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        diesel::update(operators::table.find(operator_id))
            .set(operators::password_hash.eq(password_hash))
            .execute(conn)?;
        let others =
            operator_sessions::table.filter(operator_sessions::operator_id.eq(operator_id));
        match current_session_hash {
            Some(keep) => diesel::delete(others.filter(operator_sessions::token_hash.ne(keep)))
                .execute(conn)?,
            None => diesel::delete(others).execute(conn)?,
        };
        Ok(())
    })
}
