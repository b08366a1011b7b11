//! Operator accounts and their sessions.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::{operator_sessions, operators};
use super::StoreError;
use crate::domain::operator::Role;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = operators)]
pub struct OperatorRow {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    pub disabled_at: Option<NaiveDateTime>,
    /// Set once a second factor (TOTP) is enrolled.
    pub totp_enabled_at: Option<NaiveDateTime>,
}

impl OperatorRow {
    pub fn role(&self) -> Result<Role, StoreError> {
        Role::parse(&self.role).ok_or_else(|| {
            StoreError::corrupt(format!("operator {} has role {:?}", self.id, self.role))
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateOperatorError {
    #[error("an operator with email {0} exists already")]
    EmailTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores an operator; `email` is expected lower-cased.
pub fn create(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    role: Role,
) -> Result<OperatorRow, CreateOperatorError> {
    let inserted = diesel::insert_into(operators::table)
        .values((
            operators::email.eq(email),
            operators::password_hash.eq(password_hash),
            operators::role.eq(role.as_str()),
            operators::created_at.eq(Utc::now().naive_utc()),
        ))
        .returning(operators::id)
        .get_result::<i64>(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(id) => Ok(operators::table
            .find(id)
            .select(OperatorRow::as_select())
            .first(conn)
            .map_err(StoreError::from)?),
        Err(e) if e.is_retryable_conflict() => Err(CreateOperatorError::EmailTaken(email.into())),
        Err(e) => Err(e.into()),
    }
}

pub fn find_by_email(
    conn: &mut DbConnection,
    email: &str,
) -> Result<Option<OperatorRow>, StoreError> {
    Ok(operators::table
        .filter(operators::email.eq(email))
        .select(OperatorRow::as_select())
        .first(conn)
        .optional()?)
}

/// Opens a session and notes the sign-in, in one transaction.
pub fn start_session(
    conn: &mut DbConnection,
    operator_id: i64,
    token_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        // Sign-in is rare: a good moment to forget the operator's old sessions.
        diesel::delete(
            operator_sessions::table
                .filter(operator_sessions::operator_id.eq(operator_id))
                .filter(operator_sessions::expires_at.le(now)),
        )
        .execute(conn)?;
        diesel::insert_into(operator_sessions::table)
            .values((
                operator_sessions::token_hash.eq(token_hash),
                operator_sessions::operator_id.eq(operator_id),
                operator_sessions::created_at.eq(now),
                operator_sessions::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        diesel::update(operators::table.find(operator_id))
            .set(operators::last_sign_in_at.eq(now))
            .execute(conn)?;
        Ok(())
    })
}

/// The enabled operator whose unexpired session has this token hash.
pub fn session_operator(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<OperatorRow>, StoreError> {
    let now = Utc::now().naive_utc();
    Ok(operator_sessions::table
        .inner_join(operators::table)
        .filter(operator_sessions::token_hash.eq(token_hash))
        .filter(operator_sessions::expires_at.gt(now))
        .filter(operators::disabled_at.is_null())
        .select(OperatorRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn end_session(conn: &mut DbConnection, token_hash: &str) -> Result<(), StoreError> {
    diesel::delete(operator_sessions::table.find(token_hash)).execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut DbConnection, id: i64) -> Result<Option<OperatorRow>, StoreError> {
    Ok(operators::table
        .find(id)
        .select(OperatorRow::as_select())
        .first(conn)
        .optional()?)
}
