//! Sync option definitions, and a short-lived cache of them: every contract
//! call needs the catalog and it changes rarely.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::DbConnection;
use super::schema::sync_option_definitions;
use super::{Store, StoreError};
use crate::domain::sync_options::{
    DataType, OptionKind, PredefinedValue, SyncOptionCatalog, SyncOptionDefinition, ValueFormat,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sync_option_definitions)]
struct DefinitionRow {
    id: String,
    sort_order: i32,
    name: String,
    description: Option<String>,
    kind: String,
    data_type: String,
    is_required: bool,
    predefined_values: String,
    is_read_only: bool,
    available_to_storefront: bool,
    identifies_customer: bool,
    value_format: String,
    #[allow(dead_code)]
    updated_at: NaiveDateTime,
}

impl DefinitionRow {
    fn into_definition(self) -> Result<SyncOptionDefinition, StoreError> {
        let predefined_values: Vec<PredefinedValue> = serde_json::from_str(&self.predefined_values)
            .map_err(|e| {
                StoreError::corrupt_because(
                    format!("predefined values of sync option {}", self.id),
                    e,
                )
            })?;
        Ok(SyncOptionDefinition {
            kind: OptionKind::from_stored(&self.kind),
            data_type: DataType::from_stored(&self.data_type),
            value_format: ValueFormat::from_stored(&self.value_format),
            id: self.id,
            sort_order: self.sort_order,
            name: self.name,
            description: self.description,
            is_required: self.is_required,
            predefined_values,
            is_read_only: self.is_read_only,
            available_to_storefront: self.available_to_storefront,
            identifies_customer: self.identifies_customer,
        })
    }
}

pub fn load_catalog(conn: &mut DbConnection) -> Result<SyncOptionCatalog, StoreError> {
    let rows = sync_option_definitions::table
        .select(DefinitionRow::as_select())
        .load(conn)?;
    let definitions = rows
        .into_iter()
        .map(DefinitionRow::into_definition)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SyncOptionCatalog::new(definitions))
}

/// The catalog, reloaded at most every `ttl` (edits made by this process
/// call [`CatalogCache::invalidate`]; other instances see them after `ttl`).
pub struct CatalogCache {
    store: Store,
    ttl: Duration,
    cached: RwLock<Option<(Instant, Arc<SyncOptionCatalog>)>>,
}

impl CatalogCache {
    pub fn new(store: Store, ttl: Duration) -> Self {
        Self {
            store,
            ttl,
            cached: RwLock::new(None),
        }
    }

    pub async fn get(&self) -> Result<Arc<SyncOptionCatalog>, StoreError> {
        if let Some((loaded_at, catalog)) = self.cached.read().expect("catalog cache lock").as_ref()
        {
            if loaded_at.elapsed() < self.ttl {
                return Ok(Arc::clone(catalog));
            }
        }
        let catalog = Arc::new(self.store.run(load_catalog).await?);
        *self.cached.write().expect("catalog cache lock") =
            Some((Instant::now(), Arc::clone(&catalog)));
        Ok(catalog)
    }

    pub fn invalidate(&self) {
        *self.cached.write().expect("catalog cache lock") = None;
    }
}

/// A definition with the time it was last saved, which is its version for
/// edits (see [`save_definition_checked`]).
#[derive(Debug, Clone)]
pub struct StoredDefinition {
    pub definition: SyncOptionDefinition,
    pub updated_at: NaiveDateTime,
}

impl StoredDefinition {
    /// The text an edit form carries to notice a save made meanwhile.
    pub fn version(&self) -> String {
        definition_version(self.updated_at)
    }
}

/// `updated_at` as an exact text (every digit of the fraction the
/// database keeps), so that the same stored row always gives the same text.
pub fn definition_version(updated_at: NaiveDateTime) -> String {
    updated_at.format("%Y-%m-%dT%H:%M:%S%.f").to_string()
}

fn into_stored(row: DefinitionRow) -> Result<StoredDefinition, StoreError> {
    let updated_at = row.updated_at;
    Ok(StoredDefinition {
        definition: row.into_definition()?,
        updated_at,
    })
}

/// Every definition with its version, in the catalog's order.
pub fn list_stored(conn: &mut DbConnection) -> Result<Vec<StoredDefinition>, StoreError> {
    let rows = sync_option_definitions::table
        .select(DefinitionRow::as_select())
        .load(conn)?;
    let mut stored = rows
        .into_iter()
        .map(into_stored)
        .collect::<Result<Vec<_>, _>>()?;
    stored.sort_by(|a, b| {
        let (a, b) = (&a.definition, &b.definition);
        a.sort_order.cmp(&b.sort_order).then(a.id.cmp(&b.id))
    });
    Ok(stored)
}

/// One definition by its exact id.
pub fn find_stored(
    conn: &mut DbConnection,
    option_id: &str,
) -> Result<Option<StoredDefinition>, StoreError> {
    sync_option_definitions::table
        .find(option_id)
        .select(DefinitionRow::as_select())
        .first(conn)
        .optional()?
        .map(into_stored)
        .transpose()
}

/// What a checked save is meant to do.
#[derive(Debug, Clone)]
pub enum DefinitionEdit {
    /// Add a new option; its id must not exist (in any case).
    Create,
    /// Replace the option, if it is still at `version` ([`StoredDefinition::version`]).
    Update { version: String },
}

/// What [`save_definition_checked`] did.
#[derive(Debug)]
pub enum SaveDefinitionOutcome {
    Saved,
    /// Create: an option with this id exists already.
    IdTaken,
    /// Update: there is no option with this id.
    NotFound,
    /// Update: someone saved the option after the edit began; nothing was
    /// written. Holds their version.
    Changed(Box<StoredDefinition>),
}

/// Creates or updates a definition in one transaction, refusing to
/// overwrite a version the editor has not seen. When an option stops
/// identifying customers its identity index rows go in the same
/// transaction; values already stored are not indexed when it starts to
/// (each customer's is, at its next synchronization that changes it).
pub fn save_definition_checked(
    conn: &mut DbConnection,
    definition: &SyncOptionDefinition,
    edit: DefinitionEdit,
) -> Result<SaveDefinitionOutcome, StoreError> {
    use super::schema::customer_identities;

    let predefined = serde_json::to_string(&definition.predefined_values)
        .map_err(|e| StoreError::corrupt_because("predefined values", e))?;
    let result = super::connection::write_transaction(conn, |conn| -> Result<_, StoreError> {
        let now = chrono::Utc::now().naive_utc();
        let values = (
            sync_option_definitions::sort_order.eq(definition.sort_order),
            sync_option_definitions::name.eq(&definition.name),
            sync_option_definitions::description.eq(&definition.description),
            sync_option_definitions::kind.eq(definition.kind.as_str()),
            sync_option_definitions::data_type.eq(definition.data_type.as_str()),
            sync_option_definitions::is_required.eq(definition.is_required),
            sync_option_definitions::predefined_values.eq(&predefined),
            sync_option_definitions::is_read_only.eq(definition.is_read_only),
            sync_option_definitions::available_to_storefront.eq(definition.available_to_storefront),
            sync_option_definitions::identifies_customer.eq(definition.identifies_customer),
            sync_option_definitions::value_format.eq(definition.value_format.as_str()),
            sync_option_definitions::updated_at.eq(now),
        );
        match &edit {
            DefinitionEdit::Create => {
                // A handful of rows: the catalog reads them all too.
                let ids: Vec<String> = sync_option_definitions::table
                    .select(sync_option_definitions::id)
                    .load(conn)?;
                if ids.iter().any(|id| id.eq_ignore_ascii_case(&definition.id)) {
                    return Ok(SaveDefinitionOutcome::IdTaken);
                }
                diesel::insert_into(sync_option_definitions::table)
                    .values((
                        sync_option_definitions::id.eq(&definition.id),
                        sync_option_definitions::created_at.eq(now),
                        values,
                    ))
                    .execute(conn)?;
            }
            DefinitionEdit::Update { version } => {
                let Some(current) = find_stored(conn, &definition.id)? else {
                    return Ok(SaveDefinitionOutcome::NotFound);
                };
                if current.version() != *version {
                    return Ok(SaveDefinitionOutcome::Changed(Box::new(current)));
                }
                diesel::update(sync_option_definitions::table.find(&definition.id))
                    .set(values)
                    .execute(conn)?;
                if current.definition.identifies_customer && !definition.identifies_customer {
                    diesel::delete(
                        customer_identities::table
                            .filter(customer_identities::option_id.eq(&definition.id)),
                    )
                    .execute(conn)?;
                }
            }
        }
        Ok(SaveDefinitionOutcome::Saved)
    });
    match result {
        // Another editor added the same id first.
        Err(e) if matches!(edit, DefinitionEdit::Create) && e.is_retryable_conflict() => {
            Ok(SaveDefinitionOutcome::IdTaken)
        }
        other => other,
    }
}
