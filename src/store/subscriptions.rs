//! Subscriptions: the units of work of the contract's `Subscriptions/*`
//! calls and of the customer status changes that carry over to them. Each
//! reads the facts, asks the domain (`domain::subscription`) and writes the
//! subscription with its history rows in one transaction. `CheckOnly` calls
//! run the same reads and checks, and write nothing.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::catalog::{product_type, PlanRow};
use super::connection::{retry_lost_races, write_transaction_once, DbConnection};
use super::customers::{find_for_application, CustomerKey};
use super::schema::{plans, subscription_changes, subscriptions};
use super::StoreError;
use crate::domain::subscription::{
    check_order, decide_order, extra_info, new_subscription_id, seats_held, transition, ChangeKind,
    ChangeSource, OrderDecision, OrderFacts, StateAfter, StatusAction, SubscriptionStatus, Terms,
};
use crate::domain::{Rejection, ResultCode};

/// A stored subscription.
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
}

impl SubscriptionRow {
    pub fn status(&self) -> Result<SubscriptionStatus, StoreError> {
        SubscriptionStatus::parse(&self.status)
            .ok_or_else(|| StoreError::corrupt(format!("subscription status {:?}", self.status)))
    }

    fn terms(&self) -> Result<Terms, StoreError> {
        Ok(Terms {
            plan_id: self.plan_id,
            quantity: i64::from(self.quantity),
            attribute_values: serde_json::from_str(&self.attribute_values).map_err(|e| {
                StoreError::corrupt_because(format!("attributes of {}", self.public_id), e)
            })?,
        })
    }
}

/// A stored history row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = subscription_changes)]
pub struct ChangeRow {
    pub id: i64,
    pub subscription_id: i64,
    pub customer_id: i64,
    pub effective_at: NaiveDateTime,
    pub kind: String,
    pub old_quantity: Option<i32>,
    pub new_quantity: i32,
    pub old_plan_id: Option<i64>,
    pub new_plan_id: i64,
    pub old_status: Option<String>,
    pub new_status: String,
    pub source: String,
    pub track_id: Option<String>,
}

#[derive(Insertable)]
#[diesel(table_name = subscription_changes)]
struct NewChange<'a> {
    subscription_id: i64,
    customer_id: i64,
    effective_at: NaiveDateTime,
    kind: &'a str,
    old_quantity: Option<i32>,
    new_quantity: i32,
    old_plan_id: Option<i64>,
    new_plan_id: i64,
    old_status: Option<&'a str>,
    new_status: &'a str,
    source: &'a str,
    track_id: Option<&'a str>,
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

/// The plan of an order, as the caller found (or recorded) it.
#[derive(Debug, Clone)]
pub struct PlanKey {
    pub id: i64,
    pub deprecated: bool,
    pub attribute_values: BTreeMap<String, String>,
}

/// A Create or an Update.
#[derive(Debug, Clone)]
pub struct Order {
    pub application_id: i64,
    pub customer_external_id: Option<String>,
    pub bss_account_id: Option<String>,
    pub subscription: SubscriptionRef,
    /// `None`: the subscription's (an Update may leave it out).
    pub product_type_id: Option<String>,
    /// `None`: the subscription's plan; or, on a `CheckOnly` Create, a
    /// ProductID not recorded yet; or an unknown product type.
    pub plan: Option<PlanKey>,
    /// `None`: the subscription's.
    pub quantity: Option<i64>,
    pub attribute_values: BTreeMap<String, String>,
    pub origin: Origin,
    pub check_only: bool,
    /// Create: a subscription not found is created; Update: refused.
    pub create: bool,
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

/// The application's subscription named by `reference`.
pub fn find(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &SubscriptionRef,
) -> Result<Option<SubscriptionRow>, StoreError> {
    if let Some(public_id) = &reference.public_id {
        let found = subscriptions::table
            .filter(subscriptions::public_id.eq(public_id))
            .filter(subscriptions::application_id.eq(application_id))
            .select(SubscriptionRow::as_select())
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
        let found = subscriptions::table
            .filter(subscriptions::application_id.eq(application_id))
            .filter(subscriptions::bss_subscription_id.eq(bss_id))
            .select(SubscriptionRow::as_select())
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    Ok(None)
}

/// The plan an application's BSS ProductID names, without recording one
/// (for `CheckOnly`).
pub fn plan_of_product(
    conn: &mut DbConnection,
    application_id: i64,
    product_id: &str,
) -> Result<Option<PlanKey>, StoreError> {
    plans::table
        .filter(plans::application_id.eq(application_id))
        .filter(plans::product_id.eq(product_id))
        .select(PlanRow::as_select())
        .first::<PlanRow>(conn)
        .optional()?
        .map(|row| plan_key(&row))
        .transpose()
}

/// The key of a stored plan, by its public id.
pub fn plan_key_of(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<PlanKey>, StoreError> {
    plans::table
        .filter(plans::public_id.eq(public_id))
        .select(PlanRow::as_select())
        .first::<PlanRow>(conn)
        .optional()?
        .map(|row| plan_key(&row))
        .transpose()
}

fn plan_key_by_id(conn: &mut DbConnection, id: i64) -> Result<Option<PlanKey>, StoreError> {
    plans::table
        .find(id)
        .select(PlanRow::as_select())
        .first::<PlanRow>(conn)
        .optional()?
        .map(|row| plan_key(&row))
        .transpose()
}

fn plan_key(row: &PlanRow) -> Result<PlanKey, StoreError> {
    let plan = row.to_plan()?;
    Ok(PlanKey {
        id: row.id,
        deprecated: plan.terms.deprecated,
        attribute_values: plan.terms.attribute_values,
    })
}

fn answered(row: &SubscriptionRow, customer: &CustomerKey) -> Result<Answered, StoreError> {
    Ok(Answered {
        public_id: Some(row.public_id.clone()),
        extra_info: extra_info(&row.public_id, &customer.external_id),
        account_extra_info: customer.extra_info()?,
    })
}

fn customer_of(conn: &mut DbConnection, row: &SubscriptionRow) -> Result<CustomerKey, StoreError> {
    use super::schema::customers;
    Ok(customers::table
        .find(row.customer_id)
        .select(CustomerKey::as_select())
        .first(conn)?)
}

fn to_i32(quantity: i64) -> i32 {
    i32::try_from(quantity).unwrap_or(i32::MAX)
}

/// One history row: the state after the change, and the part before it.
#[allow(clippy::too_many_arguments)]
fn record(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    kind: ChangeKind,
    before: Option<(i64, i64, SubscriptionStatus)>,
    after: (i64, i64, SubscriptionStatus),
    origin: &Origin,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let (new_quantity, new_plan, new_status) = after;
    let (old_quantity, old_plan, old_status) = match (kind, before) {
        (ChangeKind::Created, _) | (_, None) => (None, None, None),
        (_, Some((q, p, s))) => (
            (kind == ChangeKind::Quantity).then_some(to_i32(q)),
            (kind == ChangeKind::Plan).then_some(p),
            (kind == ChangeKind::Status).then_some(s.as_str()),
        ),
    };
    diesel::insert_into(subscription_changes::table)
        .values(NewChange {
            subscription_id: row.id,
            customer_id: row.customer_id,
            effective_at: now,
            kind: kind.as_str(),
            old_quantity,
            new_quantity: to_i32(new_quantity),
            old_plan_id: old_plan,
            new_plan_id: new_plan,
            old_status,
            new_status: new_status.as_str(),
            source: origin.source.as_str(),
            track_id: origin.track_id.as_deref(),
        })
        .execute(conn)?;
    Ok(())
}

#[derive(Insertable)]
#[diesel(table_name = subscriptions)]
struct NewSubscription<'a> {
    public_id: &'a str,
    customer_id: i64,
    application_id: i64,
    bss_subscription_id: &'a str,
    plan_id: i64,
    product_type_id: &'a str,
    quantity: i32,
    status: &'a str,
    source: &'a str,
    attribute_values: String,
    extra_info: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

fn refused(code: ResultCode, message: &str) -> SubscriptionOutcome {
    SubscriptionOutcome::Refused(Rejection::new(code, message))
}

/// Creates or updates a subscription (see [`Order`]). Idempotent per
/// (application, SubscriptionID): the unique key settles concurrent Creates
/// and the loser runs again, finding the winner's subscription unchanged.
pub fn order(conn: &mut DbConnection, order: &Order) -> Result<SubscriptionOutcome, StoreError> {
    if order.check_only {
        return apply_order(conn, order);
    }
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| apply_order(conn, order))
    })
}

fn apply_order(conn: &mut DbConnection, order: &Order) -> Result<SubscriptionOutcome, StoreError> {
    let existing = find(conn, order.application_id, &order.subscription)?;
    if existing.is_none() && !order.create {
        return Ok(refused(
            ResultCode::UnknownSubscription,
            "No subscription of this application has that ID or SubscriptionID.",
        ));
    }
    let customer = match &existing {
        Some(row) => Some(customer_of(conn, row)?),
        None => find_for_application(
            conn,
            order.application_id,
            order.customer_external_id.as_deref(),
            order.bss_account_id.as_deref(),
        )?,
    };
    let Some(customer) = customer else {
        return Ok(refused(
            ResultCode::UnknownCustomer,
            "The Account's ExternalID and ID name no customer of this application: synchronize the account first.",
        ));
    };
    let current = match &existing {
        Some(row) => Some((row.terms()?, row.status()?)),
        None => None,
    };
    if let Some((_, SubscriptionStatus::Cancelled)) = current {
        return Ok(SubscriptionOutcome::Refused(
            crate::domain::subscription::cancelled(),
        ));
    }
    let Some(product_type_id) = order
        .product_type_id
        .clone()
        .or_else(|| existing.as_ref().map(|row| row.product_type_id.clone()))
    else {
        return Ok(refused(
            ResultCode::UnknownProductType,
            "ServiceType is required to create a subscription.",
        ));
    };
    let product_type = product_type(conn, &product_type_id)?;
    let plan = match (&order.plan, &existing) {
        (Some(plan), _) => Some(plan.clone()),
        (None, Some(row)) if order.product_type_id.is_none() || product_type.is_some() => {
            plan_key_by_id(conn, row.plan_id)?
        }
        _ => None,
    };
    let quantity = order
        .quantity
        .or_else(|| existing.as_ref().map(|row| i64::from(row.quantity)))
        .unwrap_or(0);
    let mut merged = plan
        .as_ref()
        .map(|p| p.attribute_values.clone())
        .unwrap_or_default();
    merged.extend(order.attribute_values.clone());
    let plan_is_new = match (&current, &plan) {
        (Some((terms, _)), Some(plan)) => terms.plan_id != plan.id,
        _ => true,
    };
    let mut others = subscriptions::table
        .filter(subscriptions::customer_id.eq(customer.id))
        .filter(subscriptions::product_type_id.eq(&product_type_id))
        .filter(subscriptions::status.ne(SubscriptionStatus::Cancelled.as_str()))
        .into_boxed();
    if let Some(row) = &existing {
        others = others.filter(subscriptions::id.ne(row.id));
    }
    let other_subscriptions_of_type: i64 = others.count().get_result(conn)?;
    let facts = OrderFacts {
        customer_status: customer.status,
        product_type: product_type.as_ref(),
        product_type_id: &product_type_id,
        plan_deprecated: plan.as_ref().is_some_and(|p| p.deprecated),
        plan_is_new,
        quantity,
        attribute_values: &merged,
        other_subscriptions_of_type,
    };
    if let Err(rejection) = check_order(&facts) {
        return Ok(SubscriptionOutcome::Refused(rejection));
    }
    if order.check_only {
        return Ok(SubscriptionOutcome::Checked(match &existing {
            Some(row) => answered(row, &customer)?,
            None => Answered {
                public_id: None,
                extra_info: BTreeMap::new(),
                account_extra_info: customer.extra_info()?,
            },
        }));
    }
    let Some(plan) = &plan else {
        return Err(StoreError::corrupt("an order to apply has no plan"));
    };
    let requested = Terms {
        plan_id: plan.id,
        quantity,
        attribute_values: order.attribute_values.clone(),
    };
    let decision = match decide_order(current.as_ref().map(|(t, s)| (t, *s)), &requested) {
        Ok(decision) => decision,
        Err(rejection) => return Ok(SubscriptionOutcome::Refused(rejection)),
    };
    let now = Utc::now().naive_utc();
    match (decision, existing) {
        (OrderDecision::New, _) => {
            let Some(bss_id) = order.subscription.bss_subscription_id.as_deref() else {
                return Ok(refused(
                    ResultCode::BadRequest,
                    "SubscriptionID is required to create a subscription.",
                ));
            };
            let public_id = new_subscription_id();
            diesel::insert_into(subscriptions::table)
                .values(NewSubscription {
                    public_id: &public_id,
                    customer_id: customer.id,
                    application_id: order.application_id,
                    bss_subscription_id: bss_id,
                    plan_id: plan.id,
                    product_type_id: &product_type_id,
                    quantity: to_i32(quantity),
                    status: SubscriptionStatus::Active.as_str(),
                    source: order.origin.source.as_str(),
                    attribute_values: json(&order.attribute_values),
                    extra_info: json(&extra_info(&public_id, &customer.external_id)),
                    created_at: now,
                    updated_at: now,
                })
                .execute(conn)?;
            let row: SubscriptionRow = subscriptions::table
                .filter(subscriptions::public_id.eq(&public_id))
                .select(SubscriptionRow::as_select())
                .first(conn)?;
            record(
                conn,
                &row,
                ChangeKind::Created,
                None,
                (quantity, plan.id, SubscriptionStatus::Active),
                &order.origin,
                now,
            )?;
            Ok(SubscriptionOutcome::Created(answered(&row, &customer)?))
        }
        (OrderDecision::Unchanged, Some(row)) => {
            Ok(SubscriptionOutcome::Unchanged(answered(&row, &customer)?))
        }
        (
            OrderDecision::Change {
                quantity: quantity_change,
                plan: plan_change,
                ..
            },
            Some(row),
        ) => {
            let status = row.status()?;
            diesel::update(subscriptions::table.find(row.id))
                .set((
                    subscriptions::quantity.eq(to_i32(quantity)),
                    subscriptions::plan_id.eq(plan.id),
                    subscriptions::attribute_values.eq(json(&order.attribute_values)),
                    subscriptions::updated_at.eq(now),
                ))
                .execute(conn)?;
            let old_quantity = i64::from(row.quantity);
            if let Some((old, new)) = plan_change {
                record(
                    conn,
                    &row,
                    ChangeKind::Plan,
                    Some((old_quantity, old, status)),
                    (old_quantity, new, status),
                    &order.origin,
                    now,
                )?;
            }
            if let Some((old, new)) = quantity_change {
                record(
                    conn,
                    &row,
                    ChangeKind::Quantity,
                    Some((old, plan.id, status)),
                    (new, plan.id, status),
                    &order.origin,
                    now,
                )?;
            }
            Ok(SubscriptionOutcome::Changed(answered(&row, &customer)?))
        }
        (_, None) => Err(StoreError::corrupt("a change decided for no subscription")),
    }
}

fn json(values: &BTreeMap<String, String>) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "{}".to_owned())
}

/// Activates, suspends or cancels a subscription; cancelled is final.
pub fn change_status(
    conn: &mut DbConnection,
    application_id: i64,
    reference: &SubscriptionRef,
    action: StatusAction,
    origin: &Origin,
    check_only: bool,
) -> Result<SubscriptionOutcome, StoreError> {
    let work = |conn: &mut DbConnection| -> Result<SubscriptionOutcome, StoreError> {
        let Some(row) = find(conn, application_id, reference)? else {
            return Ok(refused(
                ResultCode::UnknownSubscription,
                "No subscription of this application has that ID or SubscriptionID.",
            ));
        };
        let customer = customer_of(conn, &row)?;
        let from = row.status()?;
        let to = match transition(from, action) {
            Ok(Some(to)) => to,
            Ok(None) => return Ok(SubscriptionOutcome::Unchanged(answered(&row, &customer)?)),
            Err(rejection) => return Ok(SubscriptionOutcome::Refused(rejection)),
        };
        if check_only {
            return Ok(SubscriptionOutcome::Checked(answered(&row, &customer)?));
        }
        set_status(conn, &row, from, to, false, origin, Utc::now().naive_utc())?;
        Ok(SubscriptionOutcome::Changed(answered(&row, &customer)?))
    };
    if check_only {
        return work(conn);
    }
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, work)
    })
}

fn set_status(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    from: SubscriptionStatus,
    to: SubscriptionStatus,
    with_customer: bool,
    origin: &Origin,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let cancelled_at = (to == SubscriptionStatus::Cancelled).then_some(now);
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::status.eq(to.as_str()),
            subscriptions::suspended_with_customer.eq(with_customer),
            subscriptions::cancelled_at.eq(cancelled_at),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    let quantity = i64::from(row.quantity);
    record(
        conn,
        row,
        ChangeKind::Status,
        Some((quantity, row.plan_id, from)),
        (quantity, row.plan_id, to),
        origin,
        now,
    )
}

/// Inside a customer's transaction: moves its subscriptions of status
/// `from` (and, for a restore, only the ones its suspension suspended) to
/// `to`, each with a history row.
fn cascade(
    conn: &mut DbConnection,
    customer_id: i64,
    from: &[SubscriptionStatus],
    only_suspended_with_customer: bool,
    to: SubscriptionStatus,
    origin: &Origin,
) -> Result<usize, StoreError> {
    let statuses: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    let mut query = subscriptions::table
        .filter(subscriptions::customer_id.eq(customer_id))
        .filter(subscriptions::status.eq_any(statuses))
        .select(SubscriptionRow::as_select())
        .order(subscriptions::id)
        .into_boxed();
    if only_suspended_with_customer {
        query = query.filter(subscriptions::suspended_with_customer.eq(true));
    }
    let rows: Vec<SubscriptionRow> = query.load(conn)?;
    let now = Utc::now().naive_utc();
    let with_customer = to == SubscriptionStatus::Suspended;
    for row in &rows {
        set_status(conn, row, row.status()?, to, with_customer, origin, now)?;
    }
    Ok(rows.len())
}

/// A deleted customer's subscriptions are cancelled (run inside its delete).
pub fn cancel_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    cascade(
        conn,
        customer_id,
        &[SubscriptionStatus::Active, SubscriptionStatus::Suspended],
        false,
        SubscriptionStatus::Cancelled,
        origin,
    )
}

/// A suspended customer's active subscriptions are suspended with it.
pub fn suspend_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    cascade(
        conn,
        customer_id,
        &[SubscriptionStatus::Active],
        false,
        SubscriptionStatus::Suspended,
        origin,
    )
}

/// A restored customer's subscriptions that its suspension suspended are
/// active again (ones the BSS suspended stay suspended).
pub fn reactivate_for_customer(
    conn: &mut DbConnection,
    customer_id: i64,
    origin: &Origin,
) -> Result<usize, StoreError> {
    cascade(
        conn,
        customer_id,
        &[SubscriptionStatus::Suspended],
        true,
        SubscriptionStatus::Active,
        origin,
    )
}

/// How many seats of a plan a customer held at `at`: one query over the
/// history (each subscription's last row up to then counts, when it is on
/// the plan and not cancelled).
pub fn seats_on(
    conn: &mut DbConnection,
    customer_id: i64,
    plan_id: i64,
    at: NaiveDateTime,
) -> Result<i64, StoreError> {
    let rows: Vec<(i64, i64, i32, String)> = subscription_changes::table
        .filter(subscription_changes::customer_id.eq(customer_id))
        .filter(subscription_changes::effective_at.le(at))
        .order((
            subscription_changes::subscription_id,
            subscription_changes::effective_at,
            subscription_changes::id,
        ))
        .select((
            subscription_changes::subscription_id,
            subscription_changes::new_plan_id,
            subscription_changes::new_quantity,
            subscription_changes::new_status,
        ))
        .load(conn)?;
    let states = rows
        .into_iter()
        .map(|(subscription_id, plan_id, quantity, status)| {
            Ok(StateAfter {
                subscription_id,
                plan_id,
                quantity: i64::from(quantity),
                status: SubscriptionStatus::parse(&status)
                    .ok_or_else(|| StoreError::corrupt(format!("change status {status:?}")))?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(seats_held(&states, plan_id))
}

/// A subscription by its public id.
pub fn by_public_id(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    Ok(subscriptions::table
        .filter(subscriptions::public_id.eq(public_id))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?)
}

/// A subscription's history, oldest first.
pub fn history(
    conn: &mut DbConnection,
    subscription_id: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    Ok(subscription_changes::table
        .filter(subscription_changes::subscription_id.eq(subscription_id))
        .order((subscription_changes::effective_at, subscription_changes::id))
        .select(ChangeRow::as_select())
        .load(conn)?)
}

/// How many subscriptions and history rows there are.
pub fn counts(conn: &mut DbConnection) -> Result<(i64, i64), StoreError> {
    Ok((
        subscriptions::table.count().get_result(conn)?,
        subscription_changes::table.count().get_result(conn)?,
    ))
}
