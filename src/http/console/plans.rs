//! Plans: what is sold, with its price and state, and the product types
//! Mailroom declares to the BSS. Roles that manage the catalog edit a
//! plan's price, billing period, visibility, deprecation and attributes
//! here, through the same unit of work and checks as the operator API.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{self, render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::catalog::{BillingUnit, Plan, PlanDraft, ProductType};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::operator::OperatorState;
use crate::store::catalog::{self, PlanChange};

pub const VIEWS: &[(&str, &str)] = &[
    (
        "plans",
        include_str!("../../../templates/console/plans.hbs"),
    ),
    (
        "plans_edit",
        include_str!("../../../templates/console/plans_edit.hbs"),
    ),
];

const LIST_PATH: &str = "/console/plans";

pub fn configure(cfg: &mut web::ServiceConfig) {
    let query = || {
        web::QueryConfig::default()
            .error_handler(|error, _| ConsoleError::BadForm(error.to_string()).into())
    };
    cfg.service(
        web::resource("/plans")
            .app_data(query())
            .route(web::get().to(list)),
    )
    .route("/plans/{id}", web::get().to(edit_form))
    .route("/plans/{id}", web::post().to(save));
}

#[derive(Serialize)]
struct PlanRow {
    id: String,
    name: String,
    code: Option<String>,
    product_type: String,
    attributes: Vec<String>,
    /// `4.99 EUR`, or none until priced.
    price: Option<String>,
    /// `every 1 months`.
    billing: Option<String>,
    visible: bool,
    deprecated: bool,
    source: &'static str,
    product_id: Option<String>,
    edit_href: String,
}

#[derive(Serialize)]
struct TypeRow {
    edit_href: String,
    id: String,
    name: String,
    scope: &'static str,
    is_addon: bool,
    attributes: Vec<String>,
}

#[derive(Serialize)]
struct ListView {
    notice: Option<String>,
    /// What the form for a new product type starts from.
    new_type_example: &'static str,
    plans: Vec<PlanRow>,
    product_types: Vec<TypeRow>,
}

/// A price in minor units as its major units: `499` EUR is `4.99 EUR`
/// (two decimals, as for most ISO 4217 currencies).
fn display_price(minor: i64, currency: &str) -> String {
    format!("{}.{:02} {currency}", minor / 100, minor % 100)
}

impl From<Plan> for PlanRow {
    fn from(plan: Plan) -> Self {
        let terms = plan.terms;
        Self {
            edit_href: edit_path(&plan.public_id),
            id: plan.public_id,
            name: terms.name,
            code: terms.code,
            product_type: terms.product_type,
            attributes: terms
                .attribute_values
                .into_iter()
                .map(|(id, value)| format!("{id}: {value}"))
                .collect(),
            price: terms
                .price
                .map(|p| display_price(p.minor_units, p.currency.as_str())),
            billing: terms
                .billing_period
                .map(|b| format!("every {} {}", b.count, b.unit.as_str())),
            visible: terms.visible,
            deprecated: terms.deprecated,
            source: plan.source.as_str(),
            product_id: plan.product_id,
        }
    }
}

impl From<ProductType> for TypeRow {
    fn from(product_type: ProductType) -> Self {
        Self {
            edit_href: format!(
                "/console/product-types/{}",
                pages::encode_component(&product_type.id)
            ),
            id: product_type.id,
            name: product_type.name,
            scope: product_type.scope.as_str(),
            is_addon: product_type.is_addon,
            attributes: product_type
                .attributes
                .into_iter()
                .map(|a| {
                    let per_seat = if a.linked_to_quantity {
                        ", per seat"
                    } else {
                        ""
                    };
                    format!(
                        "{} ({}, {}{per_seat})",
                        a.id,
                        a.kind.as_str(),
                        a.usage.as_str()
                    )
                })
                .collect(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    notice: String,
    plan: String,
    product_type: String,
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCatalog)?;
    let (plans, product_types) = state
        .store
        .run(|conn| Ok((catalog::plans(conn)?, catalog::product_types(conn)?)))
        .await?;
    let notice = match query.notice.as_str() {
        "saved" => {
            let name = plans
                .iter()
                .find(|p| p.public_id == query.plan)
                .map_or("The plan", |p| p.terms.name.as_str());
            Some(format!("{name} is saved."))
        }
        "type_saved" => Some(format!(
            "Product type {} is saved; Fields/ServiceDefinition declares it.",
            query.product_type
        )),
        _ => None,
    };
    let view = ListView {
        notice,
        new_type_example: super::product_types::NEW_TYPE_EXAMPLE,
        plans: plans.into_iter().map(PlanRow::from).collect(),
        product_types: product_types.into_iter().map(TypeRow::from).collect(),
    };
    render("plans", &session.chrome("Plans", "plans"), &view)
}

// --- Editing a plan -------------------------------------------------------------

fn edit_path(public_id: &str) -> String {
    format!("{LIST_PATH}/{}", pages::encode_component(public_id))
}

/// A price as typed (`4.99`, `12`, `0.5`) in minor units; empty is none.
fn parse_major_units(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let refused =
        || format!("The unit price {text:?} is not an amount such as 4.99 (at most two decimals).");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
        return Err(refused());
    }
    let cents = format!("{fraction:0<2}");
    whole
        .parse::<i64>()
        .ok()
        .and_then(|w| w.checked_mul(100))
        .and_then(|w| w.checked_add(cents.parse::<i64>().unwrap_or(0)))
        .map(Some)
        .ok_or_else(refused)
}

/// Minor units as the form shows them: `499` is `4.99`.
fn major_units(minor: i64) -> String {
    format!("{}.{:02}", minor / 100, minor % 100)
}

/// What the form sent (every field as typed), `attr.<id>` for attributes.
#[derive(Debug, Default, Clone)]
struct PlanForm {
    csrf: String,
    name: String,
    code: String,
    unit_price: String,
    currency: String,
    billing_period_count: String,
    billing_period_unit: String,
    visible: bool,
    deprecated: bool,
    attributes: BTreeMap<String, String>,
}

impl PlanForm {
    /// What the audit row keeps of the form (not its CSRF token).
    fn audited(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "code": self.code,
            "unit_price": self.unit_price,
            "currency": self.currency,
            "billing_period_count": self.billing_period_count,
            "billing_period_unit": self.billing_period_unit,
            "visible": self.visible,
            "deprecated": self.deprecated,
            "attributes": self.attributes,
        })
    }

    fn of_fields(fields: Vec<(String, String)>) -> Self {
        let mut form = Self::default();
        for (name, value) in fields {
            match name.as_str() {
                "csrf" => form.csrf = value,
                "name" => form.name = value,
                "code" => form.code = value,
                "unit_price" => form.unit_price = value,
                "currency" => form.currency = value,
                "billing_period_count" => form.billing_period_count = value,
                "billing_period_unit" => form.billing_period_unit = value,
                "visible" => form.visible = true,
                "deprecated" => form.deprecated = true,
                other => {
                    if let Some(id) = other.strip_prefix("attr.") {
                        form.attributes.insert(id.to_owned(), value);
                    }
                }
            }
        }
        form
    }

    fn of_plan(plan: &Plan) -> Self {
        let terms = &plan.terms;
        Self {
            csrf: String::new(),
            name: terms.name.clone(),
            code: terms.code.clone().unwrap_or_default(),
            unit_price: terms
                .price
                .as_ref()
                .map(|p| major_units(p.minor_units))
                .unwrap_or_default(),
            currency: terms
                .price
                .as_ref()
                .map(|p| p.currency.as_str().to_owned())
                .unwrap_or_default(),
            billing_period_count: terms
                .billing_period
                .map(|b| b.count.to_string())
                .unwrap_or_default(),
            billing_period_unit: terms
                .billing_period
                .map(|b| b.unit.as_str().to_owned())
                .unwrap_or_default(),
            visible: terms.visible,
            deprecated: terms.deprecated,
            attributes: terms.attribute_values.clone(),
        }
    }

    /// The edit the form asks for, applied to the plan's current draft; or
    /// what the form itself gets wrong (the domain checks the rest).
    fn edit(&self) -> Result<impl Fn(&mut PlanDraft), Vec<String>> {
        let mut problems = Vec::new();
        let unit_price_minor = parse_major_units(&self.unit_price).unwrap_or_else(|problem| {
            problems.push(problem);
            None
        });
        let count = self.billing_period_count.trim();
        let billing_period_count = if count.is_empty() {
            None
        } else {
            match count.parse::<i32>() {
                Ok(count) => Some(count),
                Err(_) => {
                    problems.push(format!(
                        "The billing period {count:?} is not a whole number."
                    ));
                    None
                }
            }
        };
        if !problems.is_empty() {
            return Err(problems);
        }
        let blank_is_none = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
        let name = self.name.clone();
        let code = self.code.clone();
        let currency = blank_is_none(&self.currency);
        let unit = blank_is_none(&self.billing_period_unit);
        let visible = self.visible;
        let deprecated = self.deprecated;
        let attributes: BTreeMap<String, String> = self
            .attributes
            .iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .map(|(id, value)| (id.clone(), value.trim().to_owned()))
            .collect();
        Ok(move |draft: &mut PlanDraft| {
            draft.name = name.clone();
            draft.code = Some(code.clone());
            draft.unit_price_minor = unit_price_minor;
            draft.currency = currency.clone();
            draft.billing_period_count = billing_period_count;
            draft.billing_period_unit = unit.clone();
            draft.visible = visible;
            draft.deprecated = deprecated;
            draft.attribute_values = attributes.clone();
        })
    }
}

#[derive(Serialize)]
struct AttributeField {
    id: String,
    name: String,
    value: String,
    help: Option<String>,
    required: bool,
}

#[derive(Serialize)]
struct UnitChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Serialize)]
struct FormView {
    id: String,
    action: String,
    product_type: String,
    source: &'static str,
    product_id: Option<String>,
    name: String,
    code: String,
    unit_price: String,
    currency: String,
    billing_period_count: String,
    units: Vec<UnitChoice>,
    visible: bool,
    deprecated: bool,
    attributes: Vec<AttributeField>,
    problems: Vec<String>,
}

fn form_view(
    plan: &Plan,
    product_type: Option<&ProductType>,
    form: &PlanForm,
    problems: Vec<String>,
) -> FormView {
    let chosen = form.billing_period_unit.trim();
    let mut units = vec![UnitChoice {
        value: "",
        label: "none",
        selected: chosen.is_empty(),
    }];
    units.extend(BillingUnit::ALL.map(|unit| UnitChoice {
        value: unit.as_str(),
        label: unit.as_str(),
        selected: unit.as_str() == chosen,
    }));
    // The type's attributes, then any value the type no longer declares
    // (shown, so that saving without it is a visible choice).
    let mut attributes: Vec<AttributeField> = product_type
        .map(|t| t.attributes.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|a| {
            let choices: Vec<&str> = a.predefined_values.iter().map(|c| c.id.as_str()).collect();
            AttributeField {
                id: a.id.clone(),
                name: a.name.clone(),
                value: form.attributes.get(&a.id).cloned().unwrap_or_default(),
                help: if choices.is_empty() {
                    a.description.clone()
                } else {
                    Some(format!("One of: {}.", choices.join(", ")))
                },
                required: a.is_required,
            }
        })
        .collect();
    for (id, value) in &form.attributes {
        if !attributes.iter().any(|a| &a.id == id) {
            attributes.push(AttributeField {
                id: id.clone(),
                name: id.clone(),
                value: value.clone(),
                help: Some("Not an attribute of the product type: empty it to remove it.".into()),
                required: false,
            });
        }
    }
    FormView {
        id: plan.public_id.clone(),
        action: edit_path(&plan.public_id),
        product_type: plan.terms.product_type.clone(),
        source: plan.source.as_str(),
        product_id: plan.product_id.clone(),
        name: form.name.clone(),
        code: form.code.clone(),
        unit_price: form.unit_price.clone(),
        currency: form.currency.clone(),
        billing_period_count: form.billing_period_count.clone(),
        units,
        visible: form.visible,
        deprecated: form.deprecated,
        attributes,
        problems,
    }
}

fn no_such_plan(id: &str) -> ConsoleError {
    ConsoleError::NotFound(format!("There is no plan {id}."))
}

/// The plan and its product type.
async fn find(
    state: &OperatorState,
    id: String,
) -> Result<(Plan, Option<ProductType>), ConsoleError> {
    let wanted = id.clone();
    state
        .store
        .run(move |conn| {
            let Some(plan) = catalog::plan(conn, &wanted)? else {
                return Ok(None);
            };
            let product_type = catalog::product_type(conn, &plan.terms.product_type)?;
            Ok(Some((plan, product_type)))
        })
        .await?
        .ok_or_else(|| no_such_plan(&id))
}

async fn edit_form(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageCatalog)?;
    let (plan, product_type) = find(&state, id.into_inner()).await?;
    let view = form_view(
        &plan,
        product_type.as_ref(),
        &PlanForm::of_plan(&plan),
        Vec::new(),
    );
    let title = format!("Plan {}", plan.terms.name);
    render("plans_edit", &session.chrome(title, "plans"), &view)
}

async fn save(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<String>,
    fields: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, ConsoleError> {
    let form = PlanForm::of_fields(fields.into_inner());
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageCatalog)?;
    let id = id.into_inner();
    let refused = |plan: &Plan, product_type: Option<&ProductType>, problems| {
        let view = form_view(plan, product_type, &form, problems);
        let title = format!("Plan {}", plan.terms.name);
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "plans_edit",
            Some(&session.chrome(title, "plans")),
            &view,
        )
    };
    let edit = match form.edit() {
        Ok(edit) => edit,
        Err(problems) => {
            let (plan, product_type) = find(&state, id).await?;
            return refused(&plan, product_type.as_ref(), problems);
        }
    };
    let wanted = id.clone();
    let entry = session
        .audit(AuditAction::PlanEdited)
        .target(id.as_str())
        .after(form.audited());
    let change = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| catalog::update_plan(conn, &wanted, edit)),
            |change| matches!(change, PlanChange::Saved(_)),
        )
        .await?;
    match change {
        PlanChange::Saved(plan) => {
            tracing::info!(plan = %plan.public_id, operator = %session.email, "plan changed in the console");
            Ok(pages::see_other(format!(
                "{LIST_PATH}?notice=saved&plan={}",
                pages::encode_component(&plan.public_id)
            )))
        }
        PlanChange::Invalid(problems) => {
            let (plan, product_type) = find(&state, id).await?;
            refused(&plan, product_type.as_ref(), problems)
        }
        PlanChange::NotFound => Err(no_such_plan(&id)),
    }
}

#[cfg(test)]
mod tests {
    use super::{display_price, major_units, parse_major_units};

    #[test]
    fn typed_prices_become_minor_units() {
        assert_eq!(parse_major_units("4.99"), Ok(Some(499)));
        assert_eq!(parse_major_units(" 12 "), Ok(Some(1200)));
        assert_eq!(parse_major_units("0.5"), Ok(Some(50)));
        assert_eq!(parse_major_units("3."), Ok(Some(300)));
        assert_eq!(parse_major_units(""), Ok(None));
        for bad in [
            "-1",
            "4.999",
            "4,99",
            "abc",
            ".5",
            "1e3",
            "99999999999999999999",
        ] {
            assert!(parse_major_units(bad).is_err(), "{bad}");
        }
        assert_eq!(major_units(499), "4.99");
        assert_eq!(major_units(5), "0.05");
    }

    #[test]
    fn prices_show_in_major_units() {
        assert_eq!(display_price(499, "EUR"), "4.99 EUR");
        assert_eq!(display_price(1200, "USD"), "12.00 USD");
        assert_eq!(display_price(5, "GBP"), "0.05 GBP");
    }
}
