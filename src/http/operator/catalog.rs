//! The catalog as operators manage it: product types (read) and plans.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::catalog::{
    AttributeChoice, AttributeDefinition, AttributeKind, AttributeUsage, BillingUnit, Plan,
    PlanDraft, PlanSource, ProductType, Scope,
};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::store::catalog::{self as catalog_store, PlanChange, ProductTypeChange};

/// A product type with its attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductTypeView {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub portal_url: Option<String>,
    pub allow_multiple_subscriptions: bool,
    /// Absent: no limit.
    pub quantity_limit: Option<i32>,
    pub scope: Scope,
    /// Sold as an add-on of a subscription (`Addons/*`), not on its own.
    pub is_addon: bool,
    pub attributes: Vec<AttributeView>,
}

/// An attribute of a product type.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeView {
    pub id: String,
    pub sort_order: i32,
    pub name: String,
    pub description: Option<String>,
    pub usage: AttributeUsage,
    pub kind: AttributeKind,
    pub is_required: bool,
    pub linked_to_quantity: bool,
    pub allow_unlimited: bool,
    pub predefined_values: Vec<AttributeChoice>,
    pub slider_min: Option<i64>,
    pub slider_max: Option<i64>,
    pub slider_step: Option<i64>,
}

impl From<ProductType> for ProductTypeView {
    fn from(product_type: ProductType) -> Self {
        Self {
            id: product_type.id,
            name: product_type.name,
            description: product_type.description,
            portal_url: product_type.portal_url,
            allow_multiple_subscriptions: product_type.allow_multiple_subscriptions,
            quantity_limit: product_type.quantity_limit,
            scope: product_type.scope,
            is_addon: product_type.is_addon,
            attributes: product_type
                .attributes
                .into_iter()
                .map(|a| AttributeView {
                    id: a.id,
                    sort_order: a.sort_order,
                    name: a.name,
                    description: a.description,
                    usage: a.usage,
                    kind: a.kind,
                    is_required: a.is_required,
                    linked_to_quantity: a.linked_to_quantity,
                    allow_unlimited: a.allow_unlimited,
                    predefined_values: a.predefined_values,
                    slider_min: a.slider_min,
                    slider_max: a.slider_max,
                    slider_step: a.slider_step,
                })
                .collect(),
        }
    }
}

/// A plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Stable and public: `plan_…`.
    pub id: String,
    pub product_type: String,
    pub name: String,
    pub code: Option<String>,
    /// Attribute id → value.
    pub attribute_values: BTreeMap<String, String>,
    /// In minor units (cents); absent until priced.
    pub unit_price_minor: Option<i64>,
    /// ISO 4217.
    pub currency: Option<String>,
    pub billing_period_count: Option<i32>,
    pub billing_period_unit: Option<BillingUnit>,
    /// Offered to partner platforms.
    pub visible: bool,
    /// Kept for existing subscriptions, never sold to new ones.
    pub deprecated: bool,
    pub source: PlanSource,
    /// The BSS product it was recorded from (`source` bss).
    pub product_id: Option<String>,
}

impl From<Plan> for PlanView {
    fn from(plan: Plan) -> Self {
        let terms = plan.terms;
        Self {
            id: plan.public_id,
            product_type: terms.product_type,
            name: terms.name,
            code: terms.code,
            attribute_values: terms.attribute_values,
            unit_price_minor: terms.price.as_ref().map(|p| p.minor_units),
            currency: terms.price.map(|p| p.currency.as_str().to_owned()),
            billing_period_count: terms.billing_period.map(|b| b.count),
            billing_period_unit: terms.billing_period.map(|b| b.unit),
            visible: terms.visible,
            deprecated: terms.deprecated,
            source: plan.source,
            product_id: plan.product_id,
        }
    }
}

/// A new plan.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(example = json!({"product_type": "hosted_mailbox", "name": "Mailbox 50", "code": "MBX-50",
    "attribute_values": {"storage_gb": "50", "mailbox_type": "business"},
    "unit_price_minor": 499, "currency": "EUR", "billing_period_count": 1,
    "billing_period_unit": "months", "visible": true}))]
pub struct PlanCreate {
    pub product_type: String,
    pub name: String,
    pub code: Option<String>,
    #[serde(default)]
    pub attribute_values: BTreeMap<String, String>,
    pub unit_price_minor: Option<i64>,
    pub currency: Option<String>,
    pub billing_period_count: Option<i32>,
    /// `days`, `months` or `years`.
    pub billing_period_unit: Option<String>,
    #[serde(default)]
    pub visible: bool,
    #[serde(default)]
    pub deprecated: bool,
}

/// A change to a plan: only the fields given change (an empty `code` clears
/// it). Deprecate with `{"deprecated": true}`.
#[derive(Debug, Default, Clone, Deserialize, Serialize, ToSchema)]
pub struct PlanUpdate {
    pub product_type: Option<String>,
    pub name: Option<String>,
    pub code: Option<String>,
    /// Replaces every attribute value.
    pub attribute_values: Option<BTreeMap<String, String>>,
    pub unit_price_minor: Option<i64>,
    pub currency: Option<String>,
    pub billing_period_count: Option<i32>,
    pub billing_period_unit: Option<String>,
    pub visible: Option<bool>,
    pub deprecated: Option<bool>,
}

impl PlanUpdate {
    fn apply(&self, draft: &mut PlanDraft) {
        let update = self.clone();
        if let Some(v) = update.product_type {
            draft.product_type = v;
        }
        if let Some(v) = update.name {
            draft.name = v;
        }
        if let Some(v) = update.code {
            draft.code = Some(v);
        }
        if let Some(v) = update.attribute_values {
            draft.attribute_values = v;
        }
        if let Some(v) = update.unit_price_minor {
            draft.unit_price_minor = Some(v);
        }
        if let Some(v) = update.currency {
            draft.currency = Some(v);
        }
        if let Some(v) = update.billing_period_count {
            draft.billing_period_count = Some(v);
        }
        if let Some(v) = update.billing_period_unit {
            draft.billing_period_unit = Some(v);
        }
        if let Some(v) = update.visible {
            draft.visible = v;
        }
        if let Some(v) = update.deprecated {
            draft.deprecated = v;
        }
    }
}

fn answer(change: PlanChange, id: &str) -> Result<PlanView, OperatorApiError> {
    match change {
        PlanChange::Saved(plan) => Ok(PlanView::from(plan)),
        PlanChange::Invalid(problems) => Err(OperatorApiError::Invalid(problems.join(" "))),
        PlanChange::NotFound => Err(OperatorApiError::NotFound(format!(
            "There is no plan {id}."
        ))),
    }
}

/// The product types Mailroom declares to the BSS, with their attributes.
#[utoipa::path(get, path = "/operator/api/product-types", tag = "Operator",
    responses((status = 200, body = [ProductTypeView]), (status = 403, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn product_types(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCatalog)?;
    let types = state.store.run(catalog_store::product_types).await?;
    let views: Vec<ProductTypeView> = types.into_iter().map(ProductTypeView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// Every plan, oldest first, deprecated ones included.
#[utoipa::path(get, path = "/operator/api/plans", tag = "Operator",
    responses((status = 200, body = [PlanView]), (status = 403, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn list_plans(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCatalog)?;
    let plans = state.store.run(catalog_store::plans).await?;
    let views: Vec<PlanView> = plans.into_iter().map(PlanView::from).collect();
    Ok(HttpResponse::Ok().json(views))
}

/// One plan.
#[utoipa::path(get, path = "/operator/api/plans/{id}", tag = "Operator",
    params(("id" = String, Path, description = "The plan's id, `plan_…`.")),
    responses((status = 200, body = PlanView), (status = 404, body = ErrorBody)),
    security(("OperatorSession" = [])))]
pub async fn get_plan(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ReadCatalog)?;
    let id = id.into_inner();
    let wanted = id.clone();
    let plan = state
        .store
        .run(move |conn| catalog_store::plan(conn, &wanted))
        .await?
        .ok_or_else(|| OperatorApiError::NotFound(format!("There is no plan {id}.")))?;
    Ok(HttpResponse::Ok().json(PlanView::from(plan)))
}

/// Creates a plan (Admin and up).
#[utoipa::path(post, path = "/operator/api/plans", tag = "Operator",
    request_body = PlanCreate,
    responses(
        (status = 201, body = PlanView),
        (status = 403, body = ErrorBody),
        (status = 422, description = "The plan breaks a rule: every problem in the message.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn create_plan(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    body: web::Json<PlanCreate>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageCatalog)?;
    let body = body.into_inner();
    let entry = operator
        .audit(AuditAction::PlanCreated)
        .after(serde_json::to_value(&body).unwrap_or_default());
    let draft = PlanDraft {
        product_type: body.product_type,
        name: body.name,
        code: body.code,
        attribute_values: body.attribute_values,
        unit_price_minor: body.unit_price_minor,
        currency: body.currency,
        billing_period_count: body.billing_period_count,
        billing_period_unit: body.billing_period_unit,
        visible: body.visible,
        deprecated: body.deprecated,
    };
    let change = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| catalog_store::create_plan(conn, draft)),
            |change| matches!(change, PlanChange::Saved(_)),
        )
        .await?;
    let view = answer(change, "")?;
    tracing::info!(plan = %view.id, operator = %operator.email, "plan created");
    Ok(HttpResponse::Created().json(view))
}

/// Changes a plan (Admin and up); `{"deprecated": true}` deprecates it.
#[utoipa::path(patch, path = "/operator/api/plans/{id}", tag = "Operator",
    params(("id" = String, Path, description = "The plan's id, `plan_…`.")),
    request_body = PlanUpdate,
    responses(
        (status = 200, body = PlanView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The plan would break a rule.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn update_plan(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<String>,
    body: web::Json<PlanUpdate>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageCatalog)?;
    let id = id.into_inner();
    let update = body.into_inner();
    let wanted = id.clone();
    let entry = operator
        .audit(AuditAction::PlanEdited)
        .target(id.as_str())
        .after(serde_json::to_value(&update).unwrap_or_default());
    let change = state
        .store
        .recording_when(
            entry.pending(),
            state.store.run(move |conn| {
                catalog_store::update_plan(conn, &wanted, |draft| update.apply(draft))
            }),
            |change| matches!(change, PlanChange::Saved(_)),
        )
        .await?;
    let view = answer(change, &id)?;
    tracing::info!(plan = %view.id, operator = %operator.email, "plan changed");
    Ok(HttpResponse::Ok().json(view))
}

/// A product type as an operator adds or replaces it (its attributes with
/// it). Enum values are spelled as the contract does (`Customer`,
/// `ProductCharacteristic`, `Numeric`, ...).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"name": "Shared mailbox", "scope": "Customer",
    "allow_multiple_subscriptions": true, "attributes": [
        {"id": "storage_gb", "name": "Storage (GB)", "usage": "ProductCharacteristic",
         "kind": "Numeric", "is_required": true}]}))]
pub struct ProductTypeInput {
    pub name: String,
    pub description: Option<String>,
    pub portal_url: Option<String>,
    #[serde(default)]
    pub allow_multiple_subscriptions: bool,
    /// Absent: no limit.
    pub quantity_limit: Option<i32>,
    pub scope: Scope,
    /// Sold as an add-on of a subscription (`Addons/*`); absent: not.
    #[serde(default)]
    pub is_addon: bool,
    #[serde(default)]
    pub attributes: Vec<AttributeInput>,
}

/// An attribute of a [`ProductTypeInput`].
#[derive(Debug, Deserialize, ToSchema)]
pub struct AttributeInput {
    pub id: String,
    /// Defaults to its position in the list.
    pub sort_order: Option<i32>,
    pub name: String,
    pub description: Option<String>,
    pub usage: AttributeUsage,
    pub kind: AttributeKind,
    #[serde(default)]
    pub is_required: bool,
    #[serde(default)]
    pub linked_to_quantity: bool,
    #[serde(default)]
    pub allow_unlimited: bool,
    #[serde(default)]
    pub predefined_values: Vec<AttributeChoice>,
    pub slider_min: Option<i64>,
    pub slider_max: Option<i64>,
    pub slider_step: Option<i64>,
}

impl ProductTypeInput {
    /// The type this input describes, named `id` (the console saves the same way).
    pub fn into_product_type(self, id: String) -> ProductType {
        ProductType {
            id,
            name: self.name,
            description: self.description.filter(|d| !d.trim().is_empty()),
            portal_url: self.portal_url.filter(|u| !u.trim().is_empty()),
            allow_multiple_subscriptions: self.allow_multiple_subscriptions,
            quantity_limit: self.quantity_limit,
            scope: self.scope,
            is_addon: self.is_addon,
            attributes: self
                .attributes
                .into_iter()
                .zip(0..)
                .map(|(a, position)| AttributeDefinition {
                    id: a.id,
                    sort_order: a.sort_order.unwrap_or(position),
                    name: a.name,
                    description: a.description.filter(|d| !d.trim().is_empty()),
                    usage: a.usage,
                    kind: a.kind,
                    is_required: a.is_required,
                    linked_to_quantity: a.linked_to_quantity,
                    allow_unlimited: a.allow_unlimited,
                    predefined_values: a.predefined_values,
                    slider_min: a.slider_min,
                    slider_max: a.slider_max,
                    slider_step: a.slider_step,
                })
                .collect(),
        }
    }
}

/// Adds a product type, or replaces one with its attributes (Admin and up).
/// `Fields/ServiceDefinition` declares it at once.
#[utoipa::path(put, path = "/operator/api/product-types/{id}", tag = "Operator",
    params(("id" = String, Path, description = "The type's id, the contract's ServiceType: a-z, digits and _.")),
    request_body = ProductTypeInput,
    responses(
        (status = 200, description = "Replaced.", body = ProductTypeView),
        (status = 201, description = "Added.", body = ProductTypeView),
        (status = 403, body = ErrorBody),
        (status = 422, description = "The type breaks a rule: every problem in the message.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn save_product_type(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    id: web::Path<String>,
    body: web::Json<ProductTypeInput>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageCatalog)?;
    let product_type = body.into_inner().into_product_type(id.into_inner());
    let entry = operator
        .audit(AuditAction::ProductTypeSaved)
        .target(product_type.id.as_str());
    let change = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| catalog_store::save_product_type(conn, &product_type)),
            |change| !matches!(change, ProductTypeChange::Invalid(_)),
        )
        .await?;
    match change {
        ProductTypeChange::Created(saved) => {
            tracing::info!(product_type = %saved.id, operator = %operator.email, "product type added");
            Ok(HttpResponse::Created().json(ProductTypeView::from(saved)))
        }
        ProductTypeChange::Updated(saved) => {
            tracing::info!(product_type = %saved.id, operator = %operator.email, "product type changed");
            Ok(HttpResponse::Ok().json(ProductTypeView::from(saved)))
        }
        ProductTypeChange::Invalid(problems) => Err(OperatorApiError::Invalid(problems.join(" "))),
    }
}
