//! Product types edited in the console: the definition as the operator
//! API's `PUT /operator/api/product-types/{id}` takes it (JSON, attributes
//! included), checked and saved by the same code. A form per attribute
//! would be a second editor of the same rules; the JSON is the one shape.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{self, render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::error::ServerError;
use crate::http::operator::catalog::{ProductTypeInput, ProductTypeView};
use crate::http::operator::OperatorState;
use crate::store::catalog::{self, ProductTypeChange};

pub const VIEWS: &[(&str, &str)] = &[(
    "product_types_edit",
    include_str!("../../../templates/console/product_types_edit.hbs"),
)];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/product-types", web::post().to(save))
        .route("/product-types/{id}", web::get().to(edit_form));
}

/// What a new type's form starts from.
pub const NEW_TYPE_EXAMPLE: &str = r#"{
  "name": "Shared mailbox",
  "description": "A mailbox several people read.",
  "scope": "Customer",
  "allow_multiple_subscriptions": true,
  "quantity_limit": null,
  "is_addon": false,
  "attributes": [
    {"id": "storage_gb", "name": "Storage (GB)", "usage": "ProductCharacteristic",
     "kind": "Numeric", "is_required": true, "linked_to_quantity": true}
  ]
}"#;

#[derive(Debug, Deserialize)]
pub struct TypeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    definition: String,
    /// Set by the edit page: the type exists (the id is not typed).
    #[serde(default)]
    existing: String,
}

#[derive(Serialize)]
struct FormView {
    id: String,
    existing: bool,
    definition: String,
    problems: Vec<String>,
}

/// The definition of a stored type in the shape the form takes (its id is
/// the form's own field).
fn definition_of(view: ProductTypeView) -> Result<String, ConsoleError> {
    let mut json = serde_json::to_value(view).map_err(ServerError::internal)?;
    if let Some(object) = json.as_object_mut() {
        object.remove("id");
    }
    serde_json::to_string_pretty(&json).map_err(|e| ServerError::internal(e).into())
}

async fn edit_form(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageCatalog)?;
    let id = id.into_inner();
    let wanted = id.clone();
    let found = state
        .store
        .run(move |conn| catalog::product_type(conn, &wanted))
        .await?
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no product type {id}.")))?;
    let view = FormView {
        definition: definition_of(ProductTypeView::from(found))?,
        id: id.clone(),
        existing: true,
        problems: Vec::new(),
    };
    render(
        "product_types_edit",
        &session.chrome(format!("Product type {id}"), "plans"),
        &view,
    )
}

async fn save(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    form: web::Form<TypeForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageCatalog)?;
    let form = form.into_inner();
    let id = form.id.trim().to_owned();
    let refused = |problems: Vec<String>| {
        let view = FormView {
            id: id.clone(),
            existing: !form.existing.is_empty(),
            definition: form.definition.clone(),
            problems,
        };
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "product_types_edit",
            Some(&session.chrome("Product type", "plans")),
            &view,
        )
    };
    let input: ProductTypeInput = match serde_json::from_str(&form.definition) {
        Ok(input) => input,
        Err(error) => {
            return refused(vec![format!(
                "The definition is not a product type in JSON: {error}."
            )])
        }
    };
    let product_type = input.into_product_type(id.clone());
    let adding = form.existing.is_empty();
    let entry = session
        .audit(AuditAction::ProductTypeSaved)
        .target(id.as_str())
        .after(serde_json::from_str(&form.definition).unwrap_or_default());
    let work = state.store.run(move |conn| {
        // The add form never replaces a type by accident (the edit
        // page is where a type is replaced).
        if adding && catalog::product_type(conn, &product_type.id)?.is_some() {
            return Ok(None);
        }
        catalog::save_product_type(conn, &product_type).map(Some)
    });
    let change = state
        .store
        .recording_when(entry.pending(), work, |change| {
            matches!(
                change,
                Some(ProductTypeChange::Created(_) | ProductTypeChange::Updated(_))
            )
        })
        .await?;
    let saved = match change {
        None => {
            return refused(vec![format!(
                "There is already a product type {id}: edit it from its row."
            )])
        }
        Some(ProductTypeChange::Created(saved) | ProductTypeChange::Updated(saved)) => saved,
        Some(ProductTypeChange::Invalid(problems)) => return refused(problems),
    };
    tracing::info!(product_type = %saved.id, operator = %session.email, "product type saved in the console");
    Ok(pages::see_other(format!(
        "/console/plans?notice=type_saved&product_type={}",
        pages::encode_component(&saved.id)
    )))
}
