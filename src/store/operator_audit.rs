//! The operator audit trail: one row per operator action, written in the
//! action's own transaction through [`crate::store::Store::recording`] (or
//! [`record`] inside a unit of work), and read back filtered and paged.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use super::connection::{write_transaction, DbConnection, PendingRow};
use super::schema::operator_audit;
use super::StoreError;
use crate::domain::operator_audit::{mask_secrets, AuditAction};

/// Who did something, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// None for a sign-in attempt with an unknown email.
    pub operator_id: Option<i64>,
    pub email: String,
    pub source_address: Option<String>,
}

/// A row about to be written. Before and after are masked as they are set.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Actor,
    pub action: AuditAction,
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl AuditEntry {
    pub fn new(actor: Actor, action: AuditAction) -> Self {
        Self {
            actor,
            action,
            target: None,
            before: None,
            after: None,
        }
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn before(mut self, state: Value) -> Self {
        self.before = Some(mask_secrets(state));
        self
    }

    pub fn after(mut self, state: Value) -> Self {
        self.after = Some(mask_secrets(state));
        self
    }

    /// The entry as the pending row of [`crate::store::Store::recording`].
    pub fn pending(self) -> std::sync::Arc<dyn PendingRow> {
        std::sync::Arc::new(self)
    }
}

impl PendingRow for AuditEntry {
    fn write(&self, conn: &mut DbConnection) -> Result<(), diesel::result::Error> {
        diesel::insert_into(operator_audit::table)
            .values((
                operator_audit::occurred_at.eq(Utc::now().naive_utc()),
                operator_audit::operator_id.eq(self.actor.operator_id),
                operator_audit::operator_email.eq(&self.actor.email),
                operator_audit::action.eq(self.action.as_str()),
                operator_audit::target.eq(&self.target),
                operator_audit::source_address.eq(&self.actor.source_address),
                operator_audit::before_state.eq(self.before.as_ref().map(Value::to_string)),
                operator_audit::after_state.eq(self.after.as_ref().map(Value::to_string)),
            ))
            .execute(conn)?;
        Ok(())
    }
}

/// Writes an entry inside the caller's transaction.
pub fn record_in(conn: &mut DbConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    Ok(entry.write(conn)?)
}

/// Writes an entry in a transaction of its own: for what has no store write
/// to ride with (a sign-in attempt, recorded right after it).
pub fn record(conn: &mut DbConnection, entry: &AuditEntry) -> Result<(), StoreError> {
    write_transaction(conn, |conn| record_in(conn, entry))
}

/// A stored row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = operator_audit)]
pub struct AuditRow {
    pub id: i64,
    pub occurred_at: NaiveDateTime,
    pub operator_id: Option<i64>,
    pub operator_email: String,
    pub action: String,
    pub target: Option<String>,
    pub source_address: Option<String>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
}

/// The filters of the Audit page and API; all optional.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The operator's email, lower-cased.
    pub operator_email: Option<String>,
    pub action: Option<AuditAction>,
    /// Inclusive lower and exclusive upper bound of `occurred_at`.
    pub from: Option<NaiveDateTime>,
    pub until: Option<NaiveDateTime>,
}

/// Rows matching `filter`, newest first, with ids below `before` (the
/// previous page's last id), at most `limit` of them. Each filter has its
/// index (`operator_audit_*`).
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    let mut query = operator_audit::table
        .select(AuditRow::as_select())
        .order(operator_audit::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(email) = &filter.operator_email {
        query = query.filter(operator_audit::operator_email.eq(email.clone()));
    }
    if let Some(action) = filter.action {
        query = query.filter(operator_audit::action.eq(action.as_str()));
    }
    if let Some(from) = filter.from {
        query = query.filter(operator_audit::occurred_at.ge(from));
    }
    if let Some(until) = filter.until {
        query = query.filter(operator_audit::occurred_at.lt(until));
    }
    if let Some(before) = before {
        query = query.filter(operator_audit::id.lt(before));
    }
    Ok(query.load(conn)?)
}
