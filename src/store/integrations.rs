//! Integration settings: one row per integration, its plain settings as a
//! JSON object and its secrets as an opaque sealed text (sealing and
//! opening happen above, in `integrations::settings`).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::{
    retry_lost_races, write_transaction, write_transaction_once, DbConnection,
};
use super::schema::integrations;
use super::StoreError;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = integrations)]
pub struct IntegrationRow {
    pub kind: String,
    pub enabled: bool,
    /// A JSON object of strings.
    pub settings: String,
    /// Opaque: see `integrations::secrets`.
    pub sealed_secrets: Option<String>,
    pub enabled_at: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

/// What a save writes.
#[derive(Debug, Clone)]
pub struct SaveIntegration {
    pub kind: String,
    pub enabled: bool,
    pub settings: String,
    pub sealed_secrets: Option<String>,
}

pub fn find(conn: &mut DbConnection, kind: &str) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(integrations::table
        .find(kind)
        .select(IntegrationRow::as_select())
        .first(conn)
        .optional()?)
}

pub fn all(conn: &mut DbConnection) -> Result<Vec<IntegrationRow>, StoreError> {
    Ok(integrations::table
        .select(IntegrationRow::as_select())
        .order(integrations::kind)
        .load(conn)?)
}

/// The kinds of the enabled integrations (whose scheduled jobs may run).
pub fn enabled_kinds(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    Ok(integrations::table
        .filter(integrations::enabled.eq(true))
        .select(integrations::kind)
        .order(integrations::kind)
        .load(conn)?)
}

/// Writes an integration's settings in one transaction; `enabled_at`
/// becomes `now` when it turns on and stays while it stays on. The first
/// save of two at once inserts; the other runs again and updates.
pub fn save(
    conn: &mut DbConnection,
    save: &SaveIntegration,
    now: NaiveDateTime,
) -> Result<IntegrationRow, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| save_once(conn, save, now))
    })
}

fn save_once(
    conn: &mut DbConnection,
    save: &SaveIntegration,
    now: NaiveDateTime,
) -> Result<IntegrationRow, StoreError> {
    {
        let was_enabled_at = integrations::table
            .find(&save.kind)
            .select((integrations::enabled, integrations::enabled_at))
            .first::<(bool, Option<NaiveDateTime>)>(conn)
            .optional()?;
        let enabled_at = match (save.enabled, was_enabled_at) {
            (false, previous) => previous.and_then(|(_, at)| at),
            (true, Some((true, Some(at)))) => Some(at),
            (true, _) => Some(now),
        };
        let values = (
            integrations::enabled.eq(save.enabled),
            integrations::settings.eq(&save.settings),
            integrations::sealed_secrets.eq(&save.sealed_secrets),
            integrations::enabled_at.eq(enabled_at),
            integrations::updated_at.eq(now),
        );
        if was_enabled_at.is_some() {
            diesel::update(integrations::table.find(&save.kind))
                .set(values)
                .execute(conn)?;
        } else {
            diesel::insert_into(integrations::table)
                .values((integrations::kind.eq(&save.kind), values))
                .execute(conn)?;
        }
        find(conn, &save.kind)?.ok_or_else(|| StoreError::corrupt("a saved integration row"))
    }
}

/// Replaces a row's seal if it is still `expected` (a save in between
/// wins); returns whether it did.
pub fn replace_seal(
    conn: &mut DbConnection,
    kind: &str,
    expected: &str,
    resealed: &str,
) -> Result<bool, StoreError> {
    write_transaction(conn, |conn| {
        let updated = diesel::update(
            integrations::table
                .filter(integrations::kind.eq(kind))
                .filter(integrations::sealed_secrets.eq(expected)),
        )
        .set(integrations::sealed_secrets.eq(resealed))
        .execute(conn)?;
        Ok(updated == 1)
    })
}
