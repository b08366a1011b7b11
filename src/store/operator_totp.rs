//! Two-factor sign-in facts: an operator's TOTP secret and enrolment, the
//! last time step a code was taken for, recovery codes (hashed), and the
//! challenges of sign-ins waiting for their second factor (hashed).

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::{operator_recovery_codes, operator_sign_in_challenges, operators};
use super::StoreError;

/// An operator's second factor as stored.
#[derive(Debug, Clone)]
pub struct TotpState {
    /// Base32; present from the start of an enrolment.
    pub secret: Option<String>,
    pub enabled_at: Option<NaiveDateTime>,
    pub last_step: Option<i64>,
}

pub fn state(conn: &mut DbConnection, operator_id: i64) -> Result<Option<TotpState>, StoreError> {
    Ok(operators::table
        .find(operator_id)
        .select((
            operators::totp_secret,
            operators::totp_enabled_at,
            operators::totp_last_step,
        ))
        .first::<(Option<String>, Option<NaiveDateTime>, Option<i64>)>(conn)
        .optional()?
        .map(|(secret, enabled_at, last_step)| TotpState {
            secret,
            enabled_at,
            last_step,
        }))
}

/// Starts (or restarts) an enrolment with a new secret; not while one is
/// enabled.
pub fn begin_enrolment(
    conn: &mut DbConnection,
    operator_id: i64,
    secret: &str,
) -> Result<bool, StoreError> {
    let updated = diesel::update(
        operators::table
            .find(operator_id)
            .filter(operators::totp_enabled_at.is_null()),
    )
    .set((
        operators::totp_secret.eq(secret),
        operators::totp_last_step.eq(None::<i64>),
    ))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Takes a code's time step when it is newer than the last one taken: a
/// code works once, also when two requests race with it.
pub fn take_step(conn: &mut DbConnection, operator_id: i64, step: i64) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let updated = diesel::update(
            operators::table.find(operator_id).filter(
                operators::totp_last_step
                    .is_null()
                    .or(operators::totp_last_step.lt(step)),
            ),
        )
        .set(operators::totp_last_step.eq(step))
        .execute(conn)?;
        Ok(updated == 1)
    })
}

/// Confirms an enrolment (the code's step taken) and replaces the recovery
/// codes, in one transaction. False when the step was used already.
pub fn confirm_enrolment(
    conn: &mut DbConnection,
    operator_id: i64,
    step: i64,
    recovery_code_hashes: &[String],
) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let updated = diesel::update(
            operators::table
                .find(operator_id)
                .filter(operators::totp_enabled_at.is_null())
                .filter(operators::totp_secret.is_not_null()),
        )
        .set((
            operators::totp_enabled_at.eq(Utc::now().naive_utc()),
            operators::totp_last_step.eq(step),
        ))
        .execute(conn)?;
        if updated != 1 {
            return Ok(false);
        }
        diesel::delete(
            operator_recovery_codes::table
                .filter(operator_recovery_codes::operator_id.eq(operator_id)),
        )
        .execute(conn)?;
        for hash in recovery_code_hashes {
            diesel::insert_into(operator_recovery_codes::table)
                .values((
                    operator_recovery_codes::code_hash.eq(hash),
                    operator_recovery_codes::operator_id.eq(operator_id),
                ))
                .execute(conn)?;
        }
        Ok(true)
    })
}

/// Uses a recovery code once.
pub fn use_recovery_code(
    conn: &mut DbConnection,
    operator_id: i64,
    code_hash: &str,
) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let updated = diesel::update(
            operator_recovery_codes::table
                .find(code_hash)
                .filter(operator_recovery_codes::operator_id.eq(operator_id))
                .filter(operator_recovery_codes::used_at.is_null()),
        )
        .set(operator_recovery_codes::used_at.eq(Utc::now().naive_utc()))
        .execute(conn)?;
        Ok(updated == 1)
    })
}

/// Recovery codes not used yet.
pub fn recovery_codes_left(conn: &mut DbConnection, operator_id: i64) -> Result<i64, StoreError> {
    Ok(operator_recovery_codes::table
        .filter(operator_recovery_codes::operator_id.eq(operator_id))
        .filter(operator_recovery_codes::used_at.is_null())
        .count()
        .get_result(conn)?)
}

pub fn open_challenge(
    conn: &mut DbConnection,
    operator_id: i64,
    token_hash: &str,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        diesel::delete(
            operator_sign_in_challenges::table
                .filter(operator_sign_in_challenges::operator_id.eq(operator_id))
                .filter(operator_sign_in_challenges::expires_at.le(now)),
        )
        .execute(conn)?;
        diesel::insert_into(operator_sign_in_challenges::table)
            .values((
                operator_sign_in_challenges::token_hash.eq(token_hash),
                operator_sign_in_challenges::operator_id.eq(operator_id),
                operator_sign_in_challenges::created_at.eq(now),
                operator_sign_in_challenges::expires_at.eq(expires_at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The operator of an unexpired challenge.
pub fn challenge_operator(
    conn: &mut DbConnection,
    token_hash: &str,
) -> Result<Option<i64>, StoreError> {
    Ok(operator_sign_in_challenges::table
        .find(token_hash)
        .filter(operator_sign_in_challenges::expires_at.gt(Utc::now().naive_utc()))
        .select(operator_sign_in_challenges::operator_id)
        .first(conn)
        .optional()?)
}

pub fn close_challenge(conn: &mut DbConnection, token_hash: &str) -> Result<(), StoreError> {
    diesel::delete(operator_sign_in_challenges::table.find(token_hash)).execute(conn)?;
    Ok(())
}
