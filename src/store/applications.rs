//! Registered BSS applications (tenants) and their key hashes.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::applications;
use super::StoreError;
use crate::domain::app_key::IssuedKey;
use crate::domain::catalog::setup_fields::SetupValues;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = applications)]
pub struct ApplicationRow {
    pub id: i64,
    pub app_id: String,
    pub name: String,
    pub key_hash: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// The setup values its BSS last sent (JSON); read through `settings()`.
    pub settings: Option<String>,
}

impl ApplicationRow {
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// The setup values its BSS last sent; `None` before any call carried
    /// one. Unreadable JSON (written by a later version) counts as none.
    pub fn settings(&self) -> Option<SetupValues> {
        parse_settings(self.id, self.settings.as_deref())
    }
}

fn parse_settings(application_id: i64, json: Option<&str>) -> Option<SetupValues> {
    let json = json?;
    match serde_json::from_str(json) {
        Ok(values) => Some(values),
        Err(error) => {
            tracing::warn!(application_id, %error, "stored application settings are unreadable");
            None
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = applications)]
struct NewApplication<'a> {
    app_id: &'a str,
    name: &'a str,
    key_hash: &'a str,
    created_at: NaiveDateTime,
}

/// Why an application could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateApplicationError {
    #[error("an application named `{0}` already exists")]
    NameTaken(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Stores a new application with the hash of `issued`'s key.
pub fn create(
    conn: &mut DbConnection,
    name: &str,
    issued: &IssuedKey,
) -> Result<ApplicationRow, CreateApplicationError> {
    let app_id = issued.app_id.to_string();
    let inserted = diesel::insert_into(applications::table)
        .values(NewApplication {
            app_id: &app_id,
            name,
            key_hash: &issued.key_hash,
            created_at: Utc::now().naive_utc(),
        })
        .execute(conn)
        .map_err(StoreError::from);
    match inserted {
        Ok(_) => find_by_app_id(conn, &app_id)?
            .ok_or_else(|| StoreError::corrupt(format!("application {app_id} vanished")).into()),
        Err(e) if e.is_retryable_conflict() => Err(CreateApplicationError::NameTaken(name.into())),
        Err(e) => Err(e.into()),
    }
}

/// Creates the first application when there is none, so a new instance can
/// be called at once. Returns it with its key, or `None` when applications
/// exist already (also when a concurrent instance created it first).
pub fn create_initial(
    conn: &mut DbConnection,
) -> Result<Option<(ApplicationRow, IssuedKey)>, StoreError> {
    let result = write_transaction(conn, |conn| {
        let existing: i64 = applications::table.count().get_result(conn)?;
        if existing > 0 {
            return Ok(None);
        }
        let issued = IssuedKey::generate();
        match create(conn, "default", &issued) {
            Ok(row) => Ok(Some((row, issued))),
            Err(CreateApplicationError::NameTaken(_)) => Ok(None),
            Err(CreateApplicationError::Store(e)) => Err(e),
        }
    });
    match result {
        Err(e) if e.is_retryable_conflict() => Ok(None),
        other => other,
    }
}

pub fn list(conn: &mut DbConnection) -> Result<Vec<ApplicationRow>, StoreError> {
    Ok(applications::table
        .order(applications::id)
        .select(ApplicationRow::as_select())
        .load(conn)?)
}

/// Finds an application by its public id (a UUID in canonical form).
pub fn find_by_app_id(
    conn: &mut DbConnection,
    app_id: &str,
) -> Result<Option<ApplicationRow>, StoreError> {
    Ok(crate::on_backend!(conn, c => applications::table
        .filter(applications::app_id.eq(app_id))
        .select(ApplicationRow::as_select())
        .first(c)
        .optional())?)
}

/// Revokes the application with this id or name. Returns it, or `None` when
/// there is no such application. Revoking twice keeps the first time.
pub fn revoke(
    conn: &mut DbConnection,
    id_or_name: &str,
) -> Result<Option<ApplicationRow>, StoreError> {
    write_transaction(conn, |conn| {
        let found = applications::table
            .filter(
                applications::app_id
                    .eq(id_or_name)
                    .or(applications::name.eq(id_or_name)),
            )
            .select(ApplicationRow::as_select())
            .first(conn)
            .optional()?;
        let Some(mut row) = found else {
            return Ok(None);
        };
        if row.revoked_at.is_none() {
            let now = Utc::now().naive_utc();
            diesel::update(applications::table.find(row.id))
                .set(applications::revoked_at.eq(now))
                .execute(conn)?;
            row.revoked_at = Some(now);
        }
        Ok(Some(row))
    })
}

/// Records the setup values an application's BSS sent. The caller writes only
/// when they differ from what it last read, so a call costs no write.
pub fn save_settings(
    conn: &mut DbConnection,
    application_id: i64,
    values: &SetupValues,
) -> Result<(), StoreError> {
    let json = serde_json::to_string(values)
        .map_err(|e| StoreError::corrupt(format!("application settings: {e}")))?;
    write_transaction(conn, |conn| {
        diesel::update(applications::table.find(application_id))
            .set(applications::settings.eq(Some(&json)))
            .execute(conn)?;
        Ok(())
    })
}

/// The setup values last sent by the BSS of an application (for the mail
/// rendered later, off the request path).
pub fn settings_of(
    conn: &mut DbConnection,
    application_id: i64,
) -> Result<Option<SetupValues>, StoreError> {
    let json: Option<Option<String>> = applications::table
        .find(application_id)
        .select(applications::settings)
        .first(conn)
        .optional()?;
    Ok(parse_settings(application_id, json.flatten().as_deref()))
}
