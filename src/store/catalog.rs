//! The catalog's facts: product types with their attributes, and plans.
//! The rules a plan obeys are the domain's (`domain::catalog`); these units
//! of work read, ask it and write in one transaction.

use std::collections::BTreeMap;

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{
    retry_lost_races, write_transaction, write_transaction_once, DbConnection,
};
use super::schema::{plans, product_type_attributes, product_types};
use super::StoreError;
use crate::domain::catalog::{
    new_plan_id, recorded_plan_terms, AttributeChoice, AttributeDefinition, AttributeKind,
    AttributeUsage, BillingPeriod, BillingUnit, Currency, Plan, PlanDraft, PlanSource, PlanTerms,
    Price, ProductType, Scope,
};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = product_types)]
struct ProductTypeRow {
    id: String,
    name: String,
    description: Option<String>,
    portal_url: Option<String>,
    allow_multiple_subscriptions: bool,
    quantity_limit: Option<i32>,
    scope: String,
    is_addon: bool,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = product_type_attributes)]
struct AttributeRow {
    product_type_id: String,
    id: String,
    sort_order: i32,
    name: String,
    description: Option<String>,
    usage: String,
    kind: String,
    is_required: bool,
    linked_to_quantity: bool,
    allow_unlimited: bool,
    predefined_values: String,
    slider_min: Option<i64>,
    slider_max: Option<i64>,
    slider_step: Option<i64>,
}

/// A stored plan.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = plans)]
pub struct PlanRow {
    pub id: i64,
    pub public_id: String,
    pub product_type_id: String,
    pub application_id: Option<i64>,
    pub product_id: Option<String>,
    pub name: String,
    pub code: Option<String>,
    pub attribute_values: String,
    pub unit_price_minor: Option<i64>,
    pub currency: Option<String>,
    pub billing_period_count: Option<i32>,
    pub billing_period_unit: Option<String>,
    pub visible: bool,
    pub deprecated: bool,
    pub source: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = plans)]
#[diesel(treat_none_as_null = true)]
struct PlanValues<'a> {
    product_type_id: &'a str,
    name: &'a str,
    code: Option<&'a str>,
    attribute_values: String,
    unit_price_minor: Option<i64>,
    currency: Option<&'a str>,
    billing_period_count: Option<i32>,
    billing_period_unit: Option<&'a str>,
    visible: bool,
    deprecated: bool,
    updated_at: NaiveDateTime,
}

impl<'a> PlanValues<'a> {
    fn of(terms: &'a PlanTerms, now: NaiveDateTime) -> Self {
        Self {
            product_type_id: &terms.product_type,
            name: &terms.name,
            code: terms.code.as_deref(),
            attribute_values: serde_json::to_string(&terms.attribute_values)
                .unwrap_or_else(|_| "{}".to_owned()),
            unit_price_minor: terms.price.as_ref().map(|p| p.minor_units),
            currency: terms.price.as_ref().map(|p| p.currency.as_str()),
            billing_period_count: terms.billing_period.map(|b| b.count),
            billing_period_unit: terms.billing_period.map(|b| b.unit.as_str()),
            visible: terms.visible,
            deprecated: terms.deprecated,
            updated_at: now,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = plans)]
struct NewPlan<'a> {
    public_id: &'a str,
    application_id: Option<i64>,
    product_id: Option<&'a str>,
    source: &'a str,
    created_at: NaiveDateTime,
    #[diesel(embed)]
    values: PlanValues<'a>,
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::corrupt(format!("{what} {value:?} is not a known value"))
}

impl AttributeRow {
    fn into_definition(self) -> Result<AttributeDefinition, StoreError> {
        let predefined_values: Vec<AttributeChoice> = serde_json::from_str(&self.predefined_values)
            .map_err(|e| {
                StoreError::corrupt_because(
                    format!("predefined values of attribute {}", self.id),
                    e,
                )
            })?;
        Ok(AttributeDefinition {
            usage: AttributeUsage::parse(&self.usage)
                .ok_or_else(|| corrupt("attribute usage", &self.usage))?,
            kind: AttributeKind::parse(&self.kind)
                .ok_or_else(|| corrupt("attribute kind", &self.kind))?,
            id: self.id,
            sort_order: self.sort_order,
            name: self.name,
            description: self.description,
            is_required: self.is_required,
            linked_to_quantity: self.linked_to_quantity,
            allow_unlimited: self.allow_unlimited,
            predefined_values,
            slider_min: self.slider_min,
            slider_max: self.slider_max,
            slider_step: self.slider_step,
        })
    }
}

impl PlanRow {
    /// The plan as the domain sees it.
    pub fn to_plan(&self) -> Result<Plan, StoreError> {
        let attribute_values: BTreeMap<String, String> =
            serde_json::from_str(&self.attribute_values).map_err(|e| {
                StoreError::corrupt_because(format!("attributes of plan {}", self.public_id), e)
            })?;
        let price = match (self.unit_price_minor, self.currency.as_deref()) {
            (Some(minor_units), Some(currency)) => Some(Price {
                minor_units,
                currency: Currency::parse(currency).ok_or_else(|| corrupt("currency", currency))?,
            }),
            _ => None,
        };
        let billing_period = match (
            self.billing_period_count,
            self.billing_period_unit.as_deref(),
        ) {
            (Some(count), Some(unit)) => Some(BillingPeriod {
                count,
                unit: BillingUnit::parse(unit).ok_or_else(|| corrupt("billing unit", unit))?,
            }),
            _ => None,
        };
        Ok(Plan {
            public_id: self.public_id.clone(),
            application_id: self.application_id,
            product_id: self.product_id.clone(),
            source: PlanSource::parse(&self.source)
                .ok_or_else(|| corrupt("plan source", &self.source))?,
            terms: PlanTerms {
                product_type: self.product_type_id.clone(),
                name: self.name.clone(),
                code: self.code.clone(),
                attribute_values,
                price,
                billing_period,
                visible: self.visible,
                deprecated: self.deprecated,
            },
        })
    }
}

/// Product types with their attributes (in their sort order), by id:
/// two queries whatever their number. `only` narrows them to one id.
fn load_product_types(
    conn: &mut DbConnection,
    only: Option<&str>,
) -> Result<Vec<ProductType>, StoreError> {
    let mut types_query = product_types::table
        .select(ProductTypeRow::as_select())
        .order(product_types::id)
        .into_boxed();
    let mut attributes_query = product_type_attributes::table
        .select(AttributeRow::as_select())
        .order((
            product_type_attributes::product_type_id,
            product_type_attributes::sort_order,
            product_type_attributes::id,
        ))
        .into_boxed();
    if let Some(id) = only {
        types_query = types_query.filter(product_types::id.eq(id.to_owned()));
        attributes_query =
            attributes_query.filter(product_type_attributes::product_type_id.eq(id.to_owned()));
    }
    let rows: Vec<ProductTypeRow> = types_query.load(conn)?;
    let mut attributes: BTreeMap<String, Vec<AttributeDefinition>> = BTreeMap::new();
    for row in attributes_query.load::<AttributeRow>(conn)? {
        attributes
            .entry(row.product_type_id.clone())
            .or_default()
            .push(row.into_definition()?);
    }
    rows.into_iter()
        .map(|row| {
            Ok(ProductType {
                scope: Scope::parse(&row.scope).ok_or_else(|| corrupt("scope", &row.scope))?,
                attributes: attributes.remove(&row.id).unwrap_or_default(),
                id: row.id,
                name: row.name,
                description: row.description,
                portal_url: row.portal_url,
                allow_multiple_subscriptions: row.allow_multiple_subscriptions,
                quantity_limit: row.quantity_limit,
                is_addon: row.is_addon,
            })
        })
        .collect()
}

/// Every product type, by id, with its attributes.
pub fn product_types(conn: &mut DbConnection) -> Result<Vec<ProductType>, StoreError> {
    load_product_types(conn, None)
}

/// One product type with its attributes.
pub fn product_type(conn: &mut DbConnection, id: &str) -> Result<Option<ProductType>, StoreError> {
    Ok(load_product_types(conn, Some(id))?.into_iter().next())
}

/// Every plan, oldest first.
pub fn plans(conn: &mut DbConnection) -> Result<Vec<Plan>, StoreError> {
    load_plans(conn, false)
}

/// The plans that may be sold to new subscriptions (not deprecated).
pub fn sellable_plans(conn: &mut DbConnection) -> Result<Vec<Plan>, StoreError> {
    load_plans(conn, true)
}

fn load_plans(conn: &mut DbConnection, only_sellable: bool) -> Result<Vec<Plan>, StoreError> {
    let mut query = plans::table
        .select(PlanRow::as_select())
        .order(plans::id)
        .into_boxed();
    if only_sellable {
        query = query.filter(plans::deprecated.eq(false));
    }
    query
        .load::<PlanRow>(conn)?
        .iter()
        .map(PlanRow::to_plan)
        .collect()
}

/// A plan by its public id.
pub fn plan(conn: &mut DbConnection, public_id: &str) -> Result<Option<Plan>, StoreError> {
    plans::table
        .select(PlanRow::as_select())
        .filter(plans::public_id.eq(public_id))
        .first::<PlanRow>(conn)
        .optional()?
        .as_ref()
        .map(PlanRow::to_plan)
        .transpose()
}

/// What an operator's change to a plan came to.
#[derive(Debug)]
pub enum PlanChange {
    Saved(Plan),
    /// The draft breaks the rules: one message each.
    Invalid(Vec<String>),
    NotFound,
}

/// Creates an operator's plan (`source` console).
pub fn create_plan(conn: &mut DbConnection, draft: PlanDraft) -> Result<PlanChange, StoreError> {
    write_transaction(conn, |conn| {
        let product_type = product_type(conn, &draft.product_type)?;
        let terms = match draft.clone().check(product_type.as_ref()) {
            Ok(terms) => terms,
            Err(problems) => return Ok(PlanChange::Invalid(problems)),
        };
        let now = Utc::now().naive_utc();
        let public_id = new_plan_id();
        diesel::insert_into(plans::table)
            .values(NewPlan {
                public_id: &public_id,
                application_id: None,
                product_id: None,
                source: PlanSource::Console.as_str(),
                created_at: now,
                values: PlanValues::of(&terms, now),
            })
            .execute(conn)?;
        saved(conn, &public_id)
    })
}

fn saved(conn: &mut DbConnection, public_id: &str) -> Result<PlanChange, StoreError> {
    plan(conn, public_id)?
        .map(PlanChange::Saved)
        .ok_or_else(|| StoreError::corrupt(format!("plan {public_id} vanished")))
}

/// Changes a plan: `edit` gets its current terms as a draft; the result is
/// checked as a new plan would be. Deprecating is `deprecated = true`.
pub fn update_plan(
    conn: &mut DbConnection,
    public_id: &str,
    edit: impl Fn(&mut PlanDraft),
) -> Result<PlanChange, StoreError> {
    write_transaction(conn, |conn| {
        let Some(current) = plan(conn, public_id)? else {
            return Ok(PlanChange::NotFound);
        };
        let mut draft = PlanDraft::from(&current.terms);
        edit(&mut draft);
        let product_type = product_type(conn, &draft.product_type)?;
        let terms = match draft.check(product_type.as_ref()) {
            Ok(terms) => terms,
            Err(problems) => return Ok(PlanChange::Invalid(problems)),
        };
        if terms == current.terms {
            return Ok(PlanChange::Saved(current));
        }
        diesel::update(plans::table.filter(plans::public_id.eq(public_id)))
            .set(PlanValues::of(&terms, Utc::now().naive_utc()))
            .execute(conn)?;
        saved(conn, public_id)
    })
}

/// The plan of a BSS product, found or just recorded.
#[derive(Debug)]
pub enum RecordedPlan {
    /// The application's ProductID was known.
    Known(Plan),
    /// Recorded now from the call's name and attributes.
    Recorded(Plan),
    /// The call names a product type Mailroom does not declare.
    UnknownProductType,
}

impl RecordedPlan {
    pub fn plan(&self) -> Option<&Plan> {
        match self {
            Self::Known(plan) | Self::Recorded(plan) => Some(plan),
            Self::UnknownProductType => None,
        }
    }
}

/// What an order needs of its plan, read once (or known from recording it).
#[derive(Debug, Clone)]
pub struct PlanKey {
    pub id: i64,
    pub deprecated: bool,
    pub attribute_values: BTreeMap<String, String>,
}

impl PlanRow {
    fn key(&self) -> Result<PlanKey, StoreError> {
        Ok(PlanKey {
            id: self.id,
            deprecated: self.deprecated,
            attribute_values: serde_json::from_str(&self.attribute_values).map_err(|e| {
                StoreError::corrupt_because(format!("attributes of plan {}", self.public_id), e)
            })?,
        })
    }
}

/// The plan of a stored id, as an order needs it.
pub fn plan_key(conn: &mut DbConnection, id: i64) -> Result<Option<PlanKey>, StoreError> {
    plans::table
        .find(id)
        .select(PlanRow::as_select())
        .first::<PlanRow>(conn)
        .optional()?
        .map(|row| row.key())
        .transpose()
}

/// The plan with public id `public_id`, with its product type.
pub fn plan_key_by_public_id(
    conn: &mut DbConnection,
    public_id: &str,
) -> Result<Option<(PlanKey, String)>, StoreError> {
    plans::table
        .filter(plans::public_id.eq(public_id))
        .select(PlanRow::as_select())
        .first::<PlanRow>(conn)
        .optional()?
        .map(|row| Ok((row.key()?, row.product_type_id.clone())))
        .transpose()
}

/// The plan of `application`'s `product_id`; when there is none yet,
/// `product_type` is known and `record` is set, records one from the call's
/// `name` and `attributes` (unpriced, for an operator to complete) and says
/// so (`true`). Runs inside the caller's transaction, so a refused order
/// leaves no plan behind; concurrent recordings of one product are settled
/// by the unique key of (application, product_id): the loser's transaction
/// fails and, run again, finds the winner's plan.
pub fn find_or_record_plan_in(
    conn: &mut DbConnection,
    application_id: i64,
    product_type: Option<&ProductType>,
    product_id: &str,
    name: &str,
    attributes: &BTreeMap<String, String>,
    record: bool,
) -> Result<Option<(PlanKey, bool)>, StoreError> {
    let known = plans::table
        .select(PlanRow::as_select())
        .filter(plans::application_id.eq(application_id))
        .filter(plans::product_id.eq(product_id))
        .first::<PlanRow>(conn)
        .optional()?;
    if let Some(row) = known {
        return Ok(Some((row.key()?, false)));
    }
    let Some(product_type) = product_type.filter(|_| record) else {
        return Ok(None);
    };
    let terms = recorded_plan_terms(product_type, name, attributes);
    let now = Utc::now().naive_utc();
    let public_id = new_plan_id();
    diesel::insert_into(plans::table)
        .values(NewPlan {
            public_id: &public_id,
            application_id: Some(application_id),
            product_id: Some(product_id),
            source: PlanSource::Bss.as_str(),
            created_at: now,
            values: PlanValues::of(&terms, now),
        })
        .execute(conn)?;
    let id = plans::table
        .filter(plans::public_id.eq(&public_id))
        .select(plans::id)
        .first::<i64>(conn)?;
    Ok(Some((
        PlanKey {
            id,
            deprecated: terms.deprecated,
            attribute_values: terms.attribute_values,
        },
        true,
    )))
}

/// [`find_or_record_plan_in`] in a transaction of its own, answering the
/// whole plan.
pub fn find_or_record_plan(
    conn: &mut DbConnection,
    application_id: i64,
    product_type_id: &str,
    product_id: &str,
    name: &str,
    attributes: &BTreeMap<String, String>,
) -> Result<RecordedPlan, StoreError> {
    retry_lost_races(StoreError::is_retryable_conflict, || {
        write_transaction_once(conn, |conn| {
            let known_type = product_type(conn, product_type_id)?;
            let Some((key, recorded)) = find_or_record_plan_in(
                conn,
                application_id,
                known_type.as_ref(),
                product_id,
                name,
                attributes,
                true,
            )?
            else {
                return Ok(RecordedPlan::UnknownProductType);
            };
            let plan = plans::table
                .find(key.id)
                .select(PlanRow::as_select())
                .first::<PlanRow>(conn)?
                .to_plan()?;
            Ok(if recorded {
                RecordedPlan::Recorded(plan)
            } else {
                RecordedPlan::Known(plan)
            })
        })
    })
}

/// What saving a product type came to.
#[derive(Debug)]
pub enum ProductTypeChange {
    Created(ProductType),
    Updated(ProductType),
    /// The type breaks the rules: one message each.
    Invalid(Vec<String>),
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = product_types)]
#[diesel(treat_none_as_null = true)]
struct ProductTypeValues<'a> {
    name: &'a str,
    description: Option<&'a str>,
    portal_url: Option<&'a str>,
    allow_multiple_subscriptions: bool,
    quantity_limit: Option<i32>,
    scope: &'a str,
    is_addon: bool,
    updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = product_types)]
struct NewProductType<'a> {
    id: &'a str,
    created_at: NaiveDateTime,
    #[diesel(embed)]
    values: ProductTypeValues<'a>,
}

#[derive(Insertable)]
#[diesel(table_name = product_type_attributes)]
struct NewAttribute<'a> {
    product_type_id: &'a str,
    id: &'a str,
    sort_order: i32,
    name: &'a str,
    description: Option<&'a str>,
    usage: &'a str,
    kind: &'a str,
    is_required: bool,
    linked_to_quantity: bool,
    allow_unlimited: bool,
    predefined_values: String,
    slider_min: Option<i64>,
    slider_max: Option<i64>,
    slider_step: Option<i64>,
}

/// Adds a product type or replaces one (its attributes with it), after the
/// domain's check. Plans keep their attribute values; a value of an
/// attribute the type no longer has is refused when the plan is next saved.
pub fn save_product_type(
    conn: &mut DbConnection,
    product_type: &ProductType,
) -> Result<ProductTypeChange, StoreError> {
    if let Err(problems) = product_type.check() {
        return Ok(ProductTypeChange::Invalid(problems));
    }
    write_transaction(conn, |conn| {
        let now = Utc::now().naive_utc();
        let values = ProductTypeValues {
            name: product_type.name.trim(),
            description: product_type.description.as_deref(),
            portal_url: product_type.portal_url.as_deref(),
            allow_multiple_subscriptions: product_type.allow_multiple_subscriptions,
            quantity_limit: product_type.quantity_limit,
            scope: product_type.scope.as_str(),
            is_addon: product_type.is_addon,
            updated_at: now,
        };
        let updated = diesel::update(product_types::table.find(&product_type.id))
            .set(&values)
            .execute(conn)?;
        if updated == 0 {
            diesel::insert_into(product_types::table)
                .values(NewProductType {
                    id: &product_type.id,
                    created_at: now,
                    values,
                })
                .execute(conn)?;
        }
        diesel::delete(
            product_type_attributes::table
                .filter(product_type_attributes::product_type_id.eq(&product_type.id)),
        )
        .execute(conn)?;
        let attributes: Vec<NewAttribute> = product_type
            .attributes
            .iter()
            .map(|a| NewAttribute {
                product_type_id: &product_type.id,
                id: &a.id,
                sort_order: a.sort_order,
                name: a.name.trim(),
                description: a.description.as_deref(),
                usage: a.usage.as_str(),
                kind: a.kind.as_str(),
                is_required: a.is_required,
                linked_to_quantity: a.linked_to_quantity,
                allow_unlimited: a.allow_unlimited,
                predefined_values: serde_json::to_string(&a.predefined_values)
                    .unwrap_or_else(|_| "[]".to_owned()),
                slider_min: a.slider_min,
                slider_max: a.slider_max,
                slider_step: a.slider_step,
            })
            .collect();
        // One statement a row: a multi-row insert is not one code path over
        // both backends here, and a type has at most MAX_ATTRIBUTES.
        for attribute in attributes {
            diesel::insert_into(product_type_attributes::table)
                .values(attribute)
                .execute(conn)?;
        }
        let saved = product_type_by_id(conn, &product_type.id)?;
        Ok(if updated == 0 {
            ProductTypeChange::Created(saved)
        } else {
            ProductTypeChange::Updated(saved)
        })
    })
}

fn product_type_by_id(conn: &mut DbConnection, id: &str) -> Result<ProductType, StoreError> {
    product_type(conn, id)?
        .ok_or_else(|| StoreError::corrupt(format!("product type {id} vanished")))
}
