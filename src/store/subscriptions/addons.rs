//! Add-ons: the contract's `Addons/Create|Update|Cancel`. An add-on is a
//! subscription row with a parent subscription, of a product type the
//! catalog sells as an add-on (`product_types.is_addon`), with the same
//! checks, history and idempotency as a subscription.
//!
//! Idempotency key: (parent, plan) while the add-on is not cancelled, a
//! partial unique index the last word on retries and concurrent Creates;
//! once we answered, our id (`ID` or `ExtraDetails.addon_id`) names it.

use std::collections::BTreeMap;

use chrono::Utc;
use diesel::prelude::*;

use super::history::record;
use super::order::{apply_change, NewSubscription};
use super::status::set_status;
use super::{
    answered, answered_none, customer_of, find, json, refused, to_i32, unit_of_work, Origin,
    SubscriptionOutcome, SubscriptionRef, SubscriptionRow,
};
use crate::domain::subscription::{
    addon_extra_info, cancelled, check_order, decide_order, new_subscription_id, transition,
    AddonFacts, ChangeKind, OrderDecision, OrderFacts, StatusAction, SubscriptionStatus, Terms,
};
use crate::domain::ResultCode;
use crate::store::catalog::{find_or_record_plan_in, plan_key, product_type, PlanKey};
use crate::store::connection::DbConnection;
use crate::store::customers::CustomerKey;
use crate::store::schema::{plans, product_types, subscriptions};
use crate::store::StoreError;

/// What an `Addons/*` call does to each add-on it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddonAction {
    /// Create (or find again) the add-on; an existing one is updated.
    Create,
    /// Update an existing add-on.
    Update,
    /// Cancel it (final).
    Cancel,
}

/// One add-on of the call's `Addons` list.
#[derive(Debug, Clone, Default)]
pub struct AddonItem {
    /// Our id of the add-on (`ID` when it is ours, or `ExtraDetails.addon_id`).
    pub public_id: Option<String>,
    /// Its product type; `None`: the add-on's, the plan's, or the catalog's
    /// only add-on type.
    pub product_type_id: Option<String>,
    /// The BSS's ProductID.
    pub product_id: Option<String>,
    pub name: String,
    /// `None`: the add-on's, 1 for a new one.
    pub quantity: Option<i64>,
    /// `None`: the add-on's.
    pub attribute_values: Option<BTreeMap<String, String>>,
}

/// An `Addons/*` call: the parent subscription and the add-ons to act on.
#[derive(Debug, Clone)]
pub struct AddonOrder {
    pub application_id: i64,
    pub parent: SubscriptionRef,
    pub items: Vec<AddonItem>,
    pub action: AddonAction,
    pub origin: Origin,
    pub check_only: bool,
}

/// Creates, updates or cancels the add-ons of a subscription, all in one
/// transaction (the first refusal leaves everything as it was). The answer
/// names the first add-on.
pub fn addon_order(
    conn: &mut DbConnection,
    order: &AddonOrder,
) -> Result<SubscriptionOutcome, StoreError> {
    unit_of_work(conn, order.check_only, |conn| apply(conn, order))
}

fn apply(conn: &mut DbConnection, order: &AddonOrder) -> Result<SubscriptionOutcome, StoreError> {
    let Some(parent) = find(conn, order.application_id, &order.parent)? else {
        return Ok(refused(
            ResultCode::UnknownSubscription,
            "No subscription of this application has that ID or SubscriptionID (the add-on's subscription).",
        ));
    };
    let customer = customer_of(conn, &parent)?;
    let mut first = None;
    for item in &order.items {
        let outcome = match order.action {
            AddonAction::Cancel => cancel_one(conn, order, &parent, &customer, item)?,
            AddonAction::Create | AddonAction::Update => {
                provision_one(conn, order, &parent, &customer, item)?
            }
        };
        if let SubscriptionOutcome::Refused(_) = outcome {
            return Ok(outcome);
        }
        first.get_or_insert(outcome);
    }
    first.ok_or_else(|| StoreError::corrupt("an add-on call with no add-on"))
}

/// The parent's add-on of our id, or else (while not cancelled) of `plan`.
fn find_addon(
    conn: &mut DbConnection,
    parent: &SubscriptionRow,
    public_id: Option<&str>,
    plan: Option<i64>,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let of_parent = || {
        subscriptions::table
            .filter(subscriptions::parent_subscription_id.eq(parent.id))
            .select(SubscriptionRow::as_select())
    };
    if let Some(public_id) = public_id {
        let found = of_parent()
            .filter(subscriptions::public_id.eq(public_id))
            .first(conn)
            .optional()?;
        if found.is_some() {
            return Ok(found);
        }
    }
    match plan {
        Some(plan_id) => Ok(of_parent()
            .filter(subscriptions::plan_id.eq(plan_id))
            .filter(subscriptions::status.ne(SubscriptionStatus::Cancelled.as_str()))
            .first(conn)
            .optional()?),
        None => Ok(None),
    }
}

/// The add-on's product type: sent, the add-on's, the known plan's, or the
/// catalog's only add-on type.
fn addon_type_id(
    conn: &mut DbConnection,
    application_id: i64,
    item: &AddonItem,
    existing: Option<&SubscriptionRow>,
) -> Result<Option<String>, StoreError> {
    if let Some(id) = item
        .product_type_id
        .clone()
        .or_else(|| existing.map(|row| row.product_type_id.clone()))
    {
        return Ok(Some(id));
    }
    if let Some(product_id) = &item.product_id {
        let of_plan = plans::table
            .filter(plans::application_id.eq(application_id))
            .filter(plans::product_id.eq(product_id))
            .select(plans::product_type_id)
            .first::<String>(conn)
            .optional()?;
        if of_plan.is_some() {
            return Ok(of_plan);
        }
    }
    let mut addon_types: Vec<String> = product_types::table
        .filter(product_types::is_addon.eq(true))
        .select(product_types::id)
        .limit(2)
        .load(conn)?;
    Ok(if addon_types.len() == 1 {
        addon_types.pop()
    } else {
        None
    })
}

fn provision_one(
    conn: &mut DbConnection,
    order: &AddonOrder,
    parent: &SubscriptionRow,
    customer: &CustomerKey,
    item: &AddonItem,
) -> Result<SubscriptionOutcome, StoreError> {
    let by_id = find_addon(conn, parent, item.public_id.as_deref(), None)?;
    let Some(type_id) = addon_type_id(conn, order.application_id, item, by_id.as_ref())? else {
        return Ok(refused(
            ResultCode::UnknownProductType,
            "The add-on names no product type: send its ServiceType (or a known ProductID).",
        ));
    };
    let product_type = product_type(conn, &type_id)?;
    let type_is_addon = product_types::table
        .find(&type_id)
        .select(product_types::is_addon)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    let stored_attributes = match &by_id {
        Some(row) => Some(row.terms()?.attribute_values),
        None => None,
    };
    let attribute_values = item
        .attribute_values
        .clone()
        .or(stored_attributes)
        .unwrap_or_default();
    // Recorded only for an add-on type (a refusal would roll it back anyway).
    let plan: Option<PlanKey> = match (&item.product_id, &by_id) {
        (Some(product_id), _) => find_or_record_plan_in(
            conn,
            order.application_id,
            product_type.as_ref().filter(|_| type_is_addon),
            product_id,
            &item.name,
            &attribute_values,
            !order.check_only,
        )?
        .map(|(plan, _recorded)| plan),
        (None, Some(row)) => plan_key(conn, row.plan_id)?,
        (None, None) => None,
    };
    let existing = match by_id {
        Some(row) => Some(row),
        None => find_addon(conn, parent, None, plan.as_ref().map(|p| p.id))?,
    };
    if existing.is_none() && order.action == AddonAction::Update {
        return Ok(refused(
            ResultCode::UnknownSubscription,
            "No add-on of this subscription has that ID or ProductID.",
        ));
    }
    let current = match &existing {
        Some(row) => Some((row.terms()?, row.status()?)),
        None => None,
    };
    if let Some((_, SubscriptionStatus::Cancelled)) = current {
        return Ok(SubscriptionOutcome::Refused(cancelled()));
    }
    let quantity = item
        .quantity
        .or_else(|| current.as_ref().map(|(terms, _)| terms.quantity))
        .unwrap_or(1);
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
        .filter(subscriptions::parent_subscription_id.eq(parent.id))
        .filter(subscriptions::product_type_id.eq(&type_id))
        .filter(subscriptions::status.ne(SubscriptionStatus::Cancelled.as_str()))
        .into_boxed();
    if let Some(row) = &existing {
        others = others.filter(subscriptions::id.ne(row.id));
    }
    let other_addons_of_type: i64 = others.count().get_result(conn)?;
    let facts = OrderFacts {
        customer_status: customer.status,
        product_type: product_type.as_ref(),
        product_type_id: &type_id,
        plan_deprecated: plan.as_ref().is_some_and(|p| p.deprecated),
        plan_is_new,
        quantity,
        attribute_values: &merged,
        other_subscriptions_of_type: other_addons_of_type,
        addon: Some(AddonFacts {
            parent_status: parent.status()?,
            type_is_addon,
        }),
    };
    if let Err(rejection) = check_order(&facts) {
        return Ok(SubscriptionOutcome::Refused(rejection));
    }
    if order.check_only {
        return Ok(SubscriptionOutcome::Checked(match &existing {
            Some(row) => answered(row, customer)?,
            None => answered_none(customer)?,
        }));
    }
    let Some(plan) = plan else {
        return Err(StoreError::corrupt("an add-on order to apply has no plan"));
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
            let public_id = new_subscription_id();
            let info = addon_extra_info(&public_id, &parent.public_id, &customer.external_id);
            diesel::insert_into(subscriptions::table)
                .values(NewSubscription {
                    public_id: &public_id,
                    customer_id: customer.id,
                    application_id: order.application_id,
                    // The BSS names an add-on through its parent: our id
                    // keeps the (application, SubscriptionID) key unique.
                    bss_subscription_id: &public_id,
                    plan_id: plan.id,
                    product_type_id: &type_id,
                    quantity: to_i32(quantity)?,
                    status: SubscriptionStatus::Active.as_str(),
                    source: order.origin.source.as_str(),
                    attribute_values: json(&requested.attribute_values),
                    extra_info: json(&info),
                    created_at: now,
                    updated_at: now,
                    parent_subscription_id: Some(parent.id),
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
            Ok(SubscriptionOutcome::Created(answered(&row, customer)?))
        }
        (OrderDecision::Unchanged, Some(row)) => {
            Ok(SubscriptionOutcome::Unchanged(answered(&row, customer)?))
        }
        (OrderDecision::Change { .. }, Some(row)) => {
            apply_change(conn, &row, &requested, &order.origin, now)?;
            Ok(SubscriptionOutcome::Changed(answered(&row, customer)?))
        }
        (_, None) => Err(StoreError::corrupt(
            "an add-on change decided for no add-on",
        )),
    }
}

fn cancel_one(
    conn: &mut DbConnection,
    order: &AddonOrder,
    parent: &SubscriptionRow,
    customer: &CustomerKey,
    item: &AddonItem,
) -> Result<SubscriptionOutcome, StoreError> {
    let plan = match &item.product_id {
        Some(product_id) => find_or_record_plan_in(
            conn,
            order.application_id,
            None,
            product_id,
            "",
            &BTreeMap::new(),
            false,
        )?,
        None => None,
    };
    let plan_id = plan.map(|(p, _)| p.id);
    let live = find_addon(conn, parent, item.public_id.as_deref(), plan_id)?;
    // A retried Cancel by ProductID finds the add-on it cancelled.
    let found = match (live, plan_id) {
        (Some(row), _) => Some(row),
        (None, Some(plan_id)) => subscriptions::table
            .filter(subscriptions::parent_subscription_id.eq(parent.id))
            .filter(subscriptions::plan_id.eq(plan_id))
            .order(subscriptions::id.desc())
            .select(SubscriptionRow::as_select())
            .first(conn)
            .optional()?,
        (None, None) => None,
    };
    let Some(row) = found else {
        return Ok(refused(
            ResultCode::UnknownSubscription,
            "No add-on of this subscription has that ID or ProductID.",
        ));
    };
    let from = row.status()?;
    let to = match transition(from, StatusAction::Cancel) {
        Ok(Some(to)) => to,
        Ok(None) => return Ok(SubscriptionOutcome::Unchanged(answered(&row, customer)?)),
        Err(rejection) => return Ok(SubscriptionOutcome::Refused(rejection)),
    };
    if order.check_only {
        return Ok(SubscriptionOutcome::Checked(answered(&row, customer)?));
    }
    set_status(
        conn,
        &row,
        from,
        to,
        false,
        &order.origin,
        Utc::now().naive_utc(),
    )?;
    Ok(SubscriptionOutcome::Changed(answered(&row, customer)?))
}
