//! Subscriptions and add-ons: the units of work of the contract's
//! `Subscriptions/*` and `Addons/*` calls and of the customer status changes
//! that carry over to them. Each reads the facts, asks the domain
//! (`domain::subscription`) and writes the subscription with its history
//! rows in one transaction (a refusal rolls back whatever the unit wrote).
//! `CheckOnly` calls run the same reads and checks, and write nothing.
//!
//! `order` holds Create and the Update family, `status` the status changes
//! and their cascades, `addons` the add-ons (subscriptions with a parent),
//! `history` the history rows and the queries over them.

mod addons;
mod history;
mod order;
pub mod queries;
mod status;

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::connection::{retry_lost_races, write_transaction_once, DbConnection};
use super::customers::CustomerKey;
use super::schema::subscriptions;
use super::StoreError;
use crate::domain::subscription::{extra_info, SubscriptionStatus, Terms};
use crate::domain::{Rejection, ResultCode};

pub use super::catalog::PlanKey;
pub use crate::domain::subscription::ChangeSource;
pub use addons::{addon_order, AddonAction, AddonItem, AddonOrder};
pub use history::{by_public_id, counts, history, seats_on, ChangeRow};
pub use order::{order, Order};
pub use status::{
    cancel_for_customer, change_status, reactivate_for_customer, suspend_for_customer,
};

/// A stored subscription (an add-on when it has a parent).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscriptions)]
pub struct SubscriptionRow {
    pub id: i64,
    pub public_id: String,
    pub customer_id: i64,
    pub application_id: i64,
    pub bss_subscription_id: String,
    pub plan_id: i64,
    pub product_type_id: String,
    pub quantity: i32,
    pub status: String,
    pub suspended_with_customer: bool,
    pub source: String,
    pub attribute_values: String,
    pub extra_info: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    /// The subscription an add-on belongs to; `None` for a subscription.
    pub parent_subscription_id: Option<i64>,
}

impl SubscriptionRow {
    pub fn status(&self) -> Result<SubscriptionStatus, StoreError> {
        SubscriptionStatus::parse(&self.status)
            .ok_or_else(|| StoreError::corrupt(format!("subscription status {:?}", self.status)))
    }

    fn stored_attributes(&self) -> Result<BTreeMap<String, String>, StoreError> {
        serde_json::from_str(&self.attribute_values).map_err(|e| {
            StoreError::corrupt_because(format!("attributes of {}", self.public_id), e)
        })
    }

    fn terms(&self) -> Result<Terms, StoreError> {
        Ok(Terms {
            plan_id: self.plan_id,
            quantity: i64::from(self.quantity),
            attribute_values: self.stored_attributes()?,
        })
    }
}

/// Who asks, and the TrackId of the call, for the history.
#[derive(Debug, Clone)]
pub struct Origin {
    pub source: ChangeSource,
    pub track_id: Option<String>,
}

/// Names a subscription: our id (from `ID` or `ExtraDetails`) and the
/// BSS's SubscriptionID.
#[derive(Debug, Clone, Default)]
pub struct SubscriptionRef {
    pub public_id: Option<String>,
    pub bss_subscription_id: Option<String>,
    /// The BSS's OriginalSubscriptionID (an upgrade may carry a new
    /// SubscriptionID): tried last.
    pub original_bss_subscription_id: Option<String>,
}

/// What the BSS is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// Our id; `None` on a `CheckOnly` Create of a new subscription.
    pub public_id: Option<String>,
    pub extra_info: BTreeMap<String, String>,
    pub account_extra_info: BTreeMap<String, String>,
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionOutcome {
    Created(Answered),
    Changed(Answered),
    /// Nothing to write: a retry, or a status the subscription already has.
    Unchanged(Answered),
    /// `CheckOnly`: every check passed, nothing written.
    Checked(Answered),
    Refused(Rejection),
}

/// The application's subscription (not an add-on) named by `reference`.
pub fn find(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &SubscriptionRef,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let of_application = || {
        subscriptions::table
            .filter(subscriptions::application_id.eq(application_id))
            .filter(subscriptions::parent_subscription_id.is_null())
            .select(SubscriptionRow::as_select())
    };
    if let Some(public_id) = &reference.public_id {
        let found = of_application()
            .filter(subscriptions::public_id.eq(public_id))
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    for bss_id in [
        &reference.bss_subscription_id,
        &reference.original_bss_subscription_id,
    ]
    .into_iter()
    .flatten()
    {
        let found = of_application()
            .filter(subscriptions::bss_subscription_id.eq(bss_id))
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

fn answered(row: &SubscriptionRow, customer: &CustomerKey) -> Result<Answered, StoreError> {
    Ok(Answered {
        public_id: Some(row.public_id.clone()),
        extra_info: stored_extra_info(row, customer),
        account_extra_info: customer.extra_info()?,
    })
}

/// The answer of a `CheckOnly` call that would create: no id yet.
fn answered_none(customer: &CustomerKey) -> Result<Answered, StoreError> {
    Ok(Answered {
        public_id: None,
        extra_info: BTreeMap::new(),
        account_extra_info: customer.extra_info()?,
    })
}

/// What a row asks the BSS to send back: what was stored with it, else the
/// subscription's own keys.
fn stored_extra_info(row: &SubscriptionRow, customer: &CustomerKey) -> BTreeMap<String, String> {
    serde_json::from_str::<BTreeMap<String, String>>(&row.extra_info)
        .ok()
        .filter(|info| !info.is_empty())
        .unwrap_or_else(|| extra_info(&row.public_id, &customer.external_id))
}

fn customer_of(conn: &mut DbConnection, row: &SubscriptionRow) -> Result<CustomerKey, StoreError> {
    use super::schema::customers;
    Ok(customers::table
        .find(row.customer_id)
        .select(CustomerKey::as_select())
        .first(conn)?)
}

/// A quantity as stored; the domain refuses any beyond the column's range
/// before one is written.
fn to_i32(quantity: i64) -> Result<i32, StoreError> {
    i32::try_from(quantity)
        .map_err(|_| StoreError::corrupt(format!("quantity {quantity} beyond the stored range")))
}

fn json(values: &BTreeMap<String, String>) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "{}".to_owned())
}

fn refused(code: ResultCode, message: &str) -> SubscriptionOutcome {
    SubscriptionOutcome::Refused(Rejection::new(code, message))
}

/// What a unit of work's transaction ends with: a refusal rolls back what
/// the unit wrote before it (a plan recorded for the order, say).
enum UnitError {
    Store(StoreError),
    Refused(Rejection),
}

impl From<diesel::result::Error> for UnitError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Store(error.into())
    }
}

impl super::connection::TransactionError for UnitError {
    fn is_serialization_failure(&self) -> bool {
        match self {
            Self::Store(error) => error.is_serialization_failure(),
            Self::Refused(_) => false,
        }
    }
}

/// Runs `work` in one write transaction, run again when it lost a race; a
/// refused outcome rolls the transaction back. `check_only` runs it outside
/// any transaction (it writes nothing).
fn unit_of_work(
    conn: &mut DbConnection,
    check_only: bool,
    mut work: impl FnMut(&mut DbConnection) -> Result<SubscriptionOutcome, StoreError>,
) -> Result<SubscriptionOutcome, StoreError> {
    if check_only {
        return work(conn);
    }
    retry_lost_races(StoreError::is_retryable_conflict, || {
        let ran = write_transaction_once(conn, |conn| match work(conn) {
            Ok(SubscriptionOutcome::Refused(rejection)) => Err(UnitError::Refused(rejection)),
            Ok(outcome) => Ok(outcome),
            Err(error) => Err(UnitError::Store(error)),
        });
        match ran {
            Ok(outcome) => Ok(outcome),
            Err(UnitError::Refused(rejection)) => Ok(SubscriptionOutcome::Refused(rejection)),
            Err(UnitError::Store(error)) => Err(error),
        }
    })
}
