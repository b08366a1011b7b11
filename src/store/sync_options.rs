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
                StoreError::Corrupt(format!("predefined values of sync option {}: {e}", self.id))
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

/// Creates or replaces a definition.
pub fn save_definition(
    conn: &mut DbConnection,
    definition: &SyncOptionDefinition,
) -> Result<(), StoreError> {
    let now = chrono::Utc::now().naive_utc();
    let predefined = serde_json::to_string(&definition.predefined_values)
        .map_err(|e| StoreError::Corrupt(format!("predefined values: {e}")))?;
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
    super::connection::write_transaction(conn, |conn| {
        let updated = diesel::update(sync_option_definitions::table.find(&definition.id))
            .set(values)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(sync_option_definitions::table)
                .values((
                    sync_option_definitions::id.eq(&definition.id),
                    sync_option_definitions::created_at.eq(now),
                    values,
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}
