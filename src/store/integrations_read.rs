//! What the scheduler reads of the integrations' rows: which are enabled.
//! (Their settings, secrets opened, come from the integrations' settings
//! service.)

use diesel::prelude::*;

use super::schema::integrations;
use super::{DbConnection, StoreError};

/// The kinds (`integrations.kind`) of the enabled integrations.
pub fn enabled_kinds(conn: &mut DbConnection) -> Result<Vec<String>, StoreError> {
    Ok(integrations::table
        .filter(integrations::enabled.eq(true))
        .select(integrations::kind)
        .order(integrations::kind)
        .load(conn)?)
}

/// An integration's plain settings (a JSON object of strings), if it has a
/// row. Secrets are not here: they are sealed.
pub fn plain_settings(
    conn: &mut DbConnection,
    kind: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, StoreError> {
    let Some(stored) = integrations::table
        .find(kind)
        .select(integrations::settings)
        .first::<String>(conn)
        .optional()?
    else {
        return Ok(None);
    };
    serde_json::from_str(&stored)
        .map(Some)
        .map_err(|error| StoreError::corrupt_because(format!("the settings of {kind}"), error))
}
