//! Plans: what is sold, with its price and state, and the product types
//! Mailroom declares to the BSS. Read-only in the console for now; plans
//! are created and changed through the operator API.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::pages::render;
use super::{ConsoleError, ConsoleSession};
use crate::domain::catalog::{Plan, ProductType};
use crate::domain::operator::Permission;
use crate::http::operator::OperatorState;
use crate::store::catalog;

pub const VIEWS: &[(&str, &str)] = &[(
    "plans",
    include_str!("../../../templates/console/plans.hbs"),
)];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/plans", web::get().to(list));
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
}

#[derive(Serialize)]
struct TypeRow {
    id: String,
    name: String,
    scope: &'static str,
    attributes: Vec<String>,
}

#[derive(Serialize)]
struct ListView {
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
            id: product_type.id,
            name: product_type.name,
            scope: product_type.scope.as_str(),
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

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCatalog)?;
    let (plans, product_types) = state
        .store
        .run(|conn| Ok((catalog::plans(conn)?, catalog::product_types(conn)?)))
        .await?;
    let view = ListView {
        plans: plans.into_iter().map(PlanRow::from).collect(),
        product_types: product_types.into_iter().map(TypeRow::from).collect(),
    };
    render("plans", &session.chrome("Plans", "plans"), &view)
}

#[cfg(test)]
mod tests {
    use super::display_price;

    #[test]
    fn prices_show_in_major_units() {
        assert_eq!(display_price(499, "EUR"), "4.99 EUR");
        assert_eq!(display_price(1200, "USD"), "12.00 USD");
        assert_eq!(display_price(5, "GBP"), "0.05 GBP");
    }
}
