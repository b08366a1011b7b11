//! Create and the Update family (Update, UpgradeToPaid, UpgradeDowngrade):
//! one transaction finds the subscription and its customer, finds (or
//! records) the plan of the ProductID, checks the order, and writes the
//! subscription with a history row per change.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::history::record;
use super::{
    answered, answered_none, customer_of, find, json, refused, to_i32, unit_of_work, Origin,
    SubscriptionOutcome, SubscriptionRef, SubscriptionRow,
};
use crate::domain::catalog::setup_fields::DEFAULT_PLAN;
use crate::domain::subscription::{
    check_order, check_seats_in_use, decide_order, extra_info, new_subscription_id, ChangeKind,
    OrderDecision, OrderFacts, SubscriptionStatus, Terms,
};
use crate::domain::ResultCode;
use crate::store::catalog::{
    find_or_record_plan_in, plan_key, plan_key_by_public_id, product_type,
};
use crate::store::connection::DbConnection;
use crate::store::customers::find_for_application;
use crate::store::mailboxes::seats_taken;
use crate::store::schema::subscriptions;
use crate::store::StoreError;

/// A Create or an Update.
#[derive(Debug, Clone)]
pub struct Order {
    pub application_id: i64,
    pub customer_external_id: Option<String>,
    pub bss_account_id: Option<String>,
    pub subscription: SubscriptionRef,
    /// `None`: the subscription's (an Update may leave it out).
    pub product_type_id: Option<String>,
    /// The BSS's ProductID; `None`: the subscription's plan. An unknown one
    /// of a known product type is recorded as a plan (not on `CheckOnly`).
    pub product_id: Option<String>,
    /// The public id of the plan a Create without ProductID gets (the
    /// application's `default_plan` setting).
    pub default_plan: Option<String>,
    /// The call's `Name`, the name of a plan recorded from it.
    pub name: String,
    /// `None`: the subscription's.
    pub quantity: Option<i64>,
    /// `None`: the subscription's (only a sent `AttributeList` replaces them).
    pub attribute_values: Option<BTreeMap<String, String>>,
    pub origin: Origin,
    pub check_only: bool,
    /// Create: a subscription not found is created; Update: refused.
    pub create: bool,
}

#[derive(Insertable)]
#[diesel(table_name = subscriptions)]
pub(super) struct NewSubscription<'a> {
    pub public_id: &'a str,
    pub customer_id: i64,
    pub application_id: i64,
    pub bss_subscription_id: &'a str,
    pub plan_id: i64,
    pub product_type_id: &'a str,
    pub quantity: i32,
    pub status: &'a str,
    pub source: &'a str,
    pub attribute_values: String,
    pub extra_info: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub parent_subscription_id: Option<i64>,
}

/// Creates or updates a subscription (see [`Order`]). Idempotent per
/// (application, SubscriptionID): the unique key settles concurrent Creates
/// and the loser runs again, finding the winner's subscription unchanged.
/// A refusal rolls back everything, a plan recorded for the order included.
pub fn order(conn: &mut DbConnection, order: &Order) -> Result<SubscriptionOutcome, StoreError> {
    unit_of_work(conn, order.check_only, |conn| apply_order(conn, order))
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
    // The default plan, when the order names none: it must exist and be of
    // the ServiceType sent (or gives the order its type).
    let default_plan = match (&order.default_plan, &order.product_id, &existing) {
        (Some(public_id), None, None) => match plan_key_by_public_id(conn, public_id)? {
            Some(found) => Some(found),
            None => {
                return Ok(refused(
                    ResultCode::BadRequest,
                    &format!(
                        "The {DEFAULT_PLAN} setting names {public_id}, which is not a plan of \
                         Mailroom: send a ProductID or choose another default plan."
                    ),
                ))
            }
        },
        _ => None,
    };
    if let (Some((_, plan_type)), Some(asked)) = (&default_plan, &order.product_type_id) {
        if plan_type != asked {
            return Ok(refused(
                ResultCode::BadRequest,
                &format!(
                    "The {DEFAULT_PLAN} setting names a plan of {plan_type}, not of the \
                     ServiceType {asked}: send a ProductID."
                ),
            ));
        }
    }
    let Some(product_type_id) = order
        .product_type_id
        .clone()
        .or_else(|| {
            default_plan
                .as_ref()
                .map(|(_, plan_type)| plan_type.clone())
        })
        .or_else(|| existing.as_ref().map(|row| row.product_type_id.clone()))
    else {
        return Ok(refused(
            ResultCode::UnknownProductType,
            "ServiceType is required to create a subscription.",
        ));
    };
    let product_type = product_type(conn, &product_type_id)?;
    // The order's attributes: the ones sent, else the stored ones.
    let attribute_values = match (&order.attribute_values, &current) {
        (Some(sent), _) => sent.clone(),
        (None, Some((terms, _))) => terms.attribute_values.clone(),
        (None, None) => BTreeMap::new(),
    };
    let plan = match (&order.product_id, &existing) {
        (Some(product_id), _) => find_or_record_plan_in(
            conn,
            order.application_id,
            product_type.as_ref(),
            product_id,
            &order.name,
            &attribute_values,
            !order.check_only,
        )?
        .map(|(plan, _recorded)| plan),
        (None, Some(row)) if order.product_type_id.is_none() || product_type.is_some() => {
            plan_key(conn, row.plan_id)?
        }
        (None, None) => default_plan.map(|(key, _)| key),
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
    merged.extend(attribute_values.clone());
    let plan_is_new = match (&current, &plan) {
        (Some((terms, _)), Some(plan)) => terms.plan_id != plan.id,
        _ => true,
    };
    let mut others = subscriptions::table
        .filter(subscriptions::customer_id.eq(customer.id))
        .filter(subscriptions::product_type_id.eq(&product_type_id))
        .filter(subscriptions::parent_subscription_id.is_null())
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
        addon: None,
    };
    if let Err(rejection) = check_order(&facts) {
        return Ok(SubscriptionOutcome::Refused(rejection));
    }
    // Counted in this transaction: a mailbox taking a seat writes the
    // subscription's row first, as this order does when it applies, so the
    // two serialize (CheckOnly reads the count as it stands).
    if let Some(row) = &existing {
        let in_use = seats_taken(conn, row.id)?;
        if let Err(rejection) = check_seats_in_use(i64::from(row.quantity), quantity, in_use) {
            return Ok(SubscriptionOutcome::Refused(rejection));
        }
    }
    // An UpgradeDowngrade that replaces the BSS's subscription id: the new
    // one is stored, so later calls by it find the subscription.
    let new_bss_id = match (&existing, &order.subscription) {
        (
            Some(row),
            SubscriptionRef {
                bss_subscription_id: Some(new),
                original_bss_subscription_id: Some(original),
                ..
            },
        ) if *original == row.bss_subscription_id && *new != row.bss_subscription_id => {
            Some(new.clone())
        }
        _ => None,
    };
    if let (Some(new), Some(row)) = (&new_bss_id, &existing) {
        let holder = find(
            conn,
            order.application_id,
            &SubscriptionRef {
                bss_subscription_id: Some(new.clone()),
                ..SubscriptionRef::default()
            },
        )?;
        if holder.is_some_and(|other| other.id != row.id) {
            return Ok(refused(
                ResultCode::BadRequest,
                "The SubscriptionID already names another subscription of this application.",
            ));
        }
    }
    if order.check_only {
        return Ok(SubscriptionOutcome::Checked(match &existing {
            Some(row) => answered(row, &customer)?,
            None => answered_none(&customer)?,
        }));
    }
    let Some(plan) = &plan else {
        return Err(StoreError::corrupt("an order to apply has no plan"));
    };
    let requested = Terms {
        plan_id: plan.id,
        quantity,
        attribute_values,
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
                    quantity: to_i32(quantity)?,
                    status: SubscriptionStatus::Active.as_str(),
                    source: order.origin.source.as_str(),
                    attribute_values: json(&requested.attribute_values),
                    extra_info: json(&extra_info(&public_id, &customer.external_id)),
                    created_at: now,
                    updated_at: now,
                    parent_subscription_id: None,
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
            if let Some(new) = &new_bss_id {
                replace_bss_id(conn, &row, new, now)?;
                return Ok(SubscriptionOutcome::Changed(answered(&row, &customer)?));
            }
            Ok(SubscriptionOutcome::Unchanged(answered(&row, &customer)?))
        }
        (OrderDecision::Change { .. }, Some(row)) => {
            if let Some(new) = &new_bss_id {
                replace_bss_id(conn, &row, new, now)?;
            }
            apply_change(conn, &row, &requested, &order.origin, now)?;
            Ok(SubscriptionOutcome::Changed(answered(&row, &customer)?))
        }
        (_, None) => Err(StoreError::corrupt("a change decided for no subscription")),
    }
}

fn replace_bss_id(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    new: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::bss_subscription_id.eq(new),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Writes new terms over a stored subscription (or add-on), with a history
/// row for each part that changed: plan, quantity, attributes.
pub(super) fn apply_change(
    conn: &mut DbConnection,
    row: &SubscriptionRow,
    requested: &Terms,
    origin: &Origin,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let current = row.terms()?;
    let status = row.status()?;
    let OrderDecision::Change {
        quantity: quantity_change,
        plan: plan_change,
        attributes_changed,
    } = decide_order(Some((&current, status)), requested).map_err(|rejection| {
        StoreError::corrupt(format!("a change to {}: {rejection}", row.public_id))
    })?
    else {
        return Ok(());
    };
    diesel::update(subscriptions::table.find(row.id))
        .set((
            subscriptions::quantity.eq(to_i32(requested.quantity)?),
            subscriptions::plan_id.eq(requested.plan_id),
            subscriptions::attribute_values.eq(json(&requested.attribute_values)),
            subscriptions::updated_at.eq(now),
        ))
        .execute(conn)?;
    let old_quantity = current.quantity;
    if let Some((old, new)) = plan_change {
        record(
            conn,
            row,
            ChangeKind::Plan,
            Some((old_quantity, old, status)),
            (old_quantity, new, status),
            origin,
            now,
        )?;
    }
    if let Some((old, new)) = quantity_change {
        record(
            conn,
            row,
            ChangeKind::Quantity,
            Some((old, requested.plan_id, status)),
            (new, requested.plan_id, status),
            origin,
            now,
        )?;
    }
    if attributes_changed {
        let state = (requested.quantity, requested.plan_id, status);
        record(
            conn,
            row,
            ChangeKind::Attributes,
            Some(state),
            state,
            origin,
            now,
        )?;
    }
    Ok(())
}
