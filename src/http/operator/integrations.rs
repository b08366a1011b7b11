//! Integrations, as Super Admins manage them: each integration's settings
//! (secrets shown masked), "Test configuration", and ConnectWise's service
//! assignments and customer agreements. The console's pages call the same
//! functions.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ErrorBody, OperatorApiError};
use super::session::SignedIn;
use super::OperatorState;
use crate::domain::operator::Permission;
use crate::domain::operator_audit::AuditAction;
use crate::http::error::ServerError;
use crate::integrations::connectwise::client::{ConnectWiseClient, Page};
use crate::integrations::connectwise::{self, wire};
use crate::integrations::settings::{MaskedIntegration, SettingsForm};
use crate::integrations::{IntegrationError, IntegrationKind};
use crate::store::psa::{self, AgreementChoice, CatalogChoice, MapOutcome, ServiceRow};

/// An integration's card: what it is, whether it is on, its settings
/// (secrets masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationView {
    /// `connectwise`.
    pub kind: String,
    pub label: String,
    pub enabled: bool,
    pub settings: Vec<SettingView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SettingView {
    pub key: String,
    pub label: String,
    pub help: String,
    pub secret: bool,
    pub required: bool,
    /// The value, or for a secret its mask (`••••` and at most its last 2
    /// characters); empty when not set.
    pub value: String,
    pub set: bool,
}

impl From<MaskedIntegration> for IntegrationView {
    fn from(masked: MaskedIntegration) -> Self {
        Self {
            kind: masked.kind.key().to_owned(),
            label: masked.kind.label().to_owned(),
            enabled: masked.enabled,
            settings: masked
                .fields
                .into_iter()
                .map(|field| SettingView {
                    key: field.field.key.to_owned(),
                    label: field.field.label.to_owned(),
                    help: field.field.help.to_owned(),
                    secret: field.field.secret,
                    required: field.field.required,
                    value: field.value,
                    set: field.set,
                })
                .collect(),
        }
    }
}

/// New settings: a secret left empty (or sent back as its mask) keeps the
/// stored one.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingsUpdate {
    pub enabled: bool,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
}

/// What "Test configuration" found: a success, or the platform's refusal
/// in words (both HTTP 200, for the page to show).
#[derive(Debug, Serialize, ToSchema)]
pub struct TestOutcome {
    pub ok: bool,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogItemView {
    pub id: i64,
    pub identifier: String,
    pub description: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogPage {
    pub items: Vec<CatalogItemView>,
    pub page: u32,
    pub has_next: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyView {
    pub id: i64,
    pub identifier: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompanyPage {
    pub items: Vec<CompanyView>,
    pub page: u32,
    pub has_next: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgreementView {
    pub id: i64,
    pub name: String,
    pub status: Option<String>,
}

/// A plan or add-on plan and the catalog item it is sold as.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceView {
    pub plan_public_id: String,
    pub plan_name: String,
    pub product_type: String,
    pub is_addon: bool,
    /// Listed for backward compatibility; cannot be mapped.
    pub deprecated: bool,
    /// Absent: Not Assigned.
    pub catalog_item: Option<CatalogItemView>,
}

impl From<ServiceRow> for ServiceView {
    fn from(row: ServiceRow) -> Self {
        Self {
            plan_public_id: row.plan_public_id,
            plan_name: row.plan_name,
            product_type: row.product_type_name,
            is_addon: row.is_addon,
            deprecated: row.deprecated,
            catalog_item: row.mapping.map(|m| CatalogItemView {
                id: m.catalog_item_id,
                identifier: m.catalog_identifier,
                description: m.catalog_description,
            }),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ServiceAssignment {
    /// The ConnectWise catalog item (`procurement/catalog` id).
    pub catalog_item_id: i64,
}

/// A customer's ConnectWise company and agreement; absent: the customer
/// takes no part in the quantity sync.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerConnectWise {
    pub agreement: Option<CustomerAgreementView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerAgreementView {
    pub company_id: i64,
    pub company_name: String,
    pub agreement_id: i64,
    pub agreement_name: String,
}

impl From<AgreementChoice> for CustomerAgreementView {
    fn from(choice: AgreementChoice) -> Self {
        Self {
            company_id: choice.company_id,
            company_name: choice.company_name,
            agreement_id: choice.agreement_id,
            agreement_name: choice.agreement_name,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AgreementAssignment {
    pub company_id: i64,
    pub agreement_id: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Text the identifier, description or name contains.
    #[serde(default)]
    pub search: String,
    /// From 1.
    #[serde(default)]
    pub page: Option<u32>,
}

/// An integration error as the operator API answers it.
pub fn api_error(error: IntegrationError) -> OperatorApiError {
    match error {
        IntegrationError::Settings(message) => OperatorApiError::Invalid(message),
        IntegrationError::Refused {
            status: 404,
            message,
            ..
        } => OperatorApiError::NotFound(format!("ConnectWise: {message}")),
        error @ (IntegrationError::Refused { .. } | IntegrationError::Unavailable { .. }) => {
            OperatorApiError::Upstream(error.to_string())
        }
        // A database outage stays a 503, as everywhere else.
        IntegrationError::Store(cause) => match cause.downcast::<crate::store::StoreError>() {
            Ok(store) => store.into(),
            Err(other) => {
                OperatorApiError::Server(ServerError::internal(Box::<
                    dyn std::error::Error + Send + Sync,
                >::from(other)))
            }
        },
        IntegrationError::Secrets(cause) => OperatorApiError::Server(ServerError::internal(cause)),
    }
}

fn kind_of(key: &str) -> Result<IntegrationKind, OperatorApiError> {
    IntegrationKind::parse(key)
        .ok_or_else(|| OperatorApiError::NotFound(format!("There is no integration {key:?}.")))
}

/// Every integration's card.
pub async fn cards(state: &OperatorState) -> Result<Vec<IntegrationView>, OperatorApiError> {
    let all = state.integrations.all_masked().await.map_err(api_error)?;
    Ok(all.into_iter().map(IntegrationView::from).collect())
}

/// One integration's card.
pub async fn card(
    state: &OperatorState,
    kind: IntegrationKind,
) -> Result<IntegrationView, OperatorApiError> {
    let integration = state.integrations.load(kind).await.map_err(api_error)?;
    Ok(
        crate::integrations::settings::masked(kind, integration.enabled, &integration.values)
            .into(),
    )
}

/// Saves an integration's settings from a form.
pub async fn save_settings(
    state: &OperatorState,
    operator: &SignedIn,
    kind: IntegrationKind,
    form: SettingsForm,
) -> Result<IntegrationView, OperatorApiError> {
    // The audit row says which fields were sent, never their values.
    let entry = operator
        .audit(AuditAction::IntegrationSettingsSaved)
        .target(kind.key())
        .after(serde_json::json!({
            "enabled": form.enabled,
            "fields": form.values.keys().collect::<Vec<_>>(),
        }));
    let saved = state
        .store
        .recording(entry.pending(), async {
            state
                .integrations
                .save(kind, &form)
                .await
                .map_err(api_error)
        })
        .await?;
    tracing::info!(operator = %operator.email, integration = kind.key(), enabled = saved.enabled, "integration settings changed");
    Ok(crate::integrations::settings::masked(kind, saved.enabled, &saved.values).into())
}

/// "Test configuration" with the stored settings.
pub async fn run_test(
    state: &OperatorState,
    kind: IntegrationKind,
) -> Result<TestOutcome, OperatorApiError> {
    let integration = state.integrations.load(kind).await.map_err(api_error)?;
    let outcome = match kind {
        IntegrationKind::ConnectWise => connectwise::test_configuration(&integration.values).await,
    };
    match outcome {
        Ok(message) => Ok(TestOutcome { ok: true, message }),
        Err(
            error @ (IntegrationError::Settings(_)
            | IntegrationError::Refused { .. }
            | IntegrationError::Unavailable { .. }),
        ) => Ok(TestOutcome {
            ok: false,
            message: error.to_string(),
        }),
        Err(other) => Err(api_error(other)),
    }
}

/// A client on the stored ConnectWise settings.
pub async fn connectwise_client(
    state: &OperatorState,
) -> Result<ConnectWiseClient, OperatorApiError> {
    let integration = state
        .integrations
        .load(IntegrationKind::ConnectWise)
        .await
        .map_err(api_error)?;
    ConnectWiseClient::new(state.integrations.outbound().clone(), &integration.values).map_err(
        |error| match error {
            IntegrationError::Settings(message) => OperatorApiError::Conflict(format!(
                "Save the ConnectWise settings first: {message}"
            )),
            other => api_error(other),
        },
    )
}

fn catalog_page(page: Page<wire::CatalogItem>) -> CatalogPage {
    CatalogPage {
        items: page
            .items
            .into_iter()
            .map(|item| CatalogItemView {
                id: item.id,
                identifier: item.identifier,
                description: item.description,
            })
            .collect(),
        page: page.page,
        has_next: page.has_next,
    }
}

pub async fn search_catalog(
    state: &OperatorState,
    query: &SearchQuery,
) -> Result<CatalogPage, OperatorApiError> {
    let client = connectwise_client(state).await?;
    let page = client
        .catalog_page(&query.search, query.page.unwrap_or(1))
        .await
        .map_err(api_error)?;
    Ok(catalog_page(page))
}

pub async fn search_companies(
    state: &OperatorState,
    query: &SearchQuery,
) -> Result<CompanyPage, OperatorApiError> {
    let client = connectwise_client(state).await?;
    let page = client
        .companies_page(&query.search, query.page.unwrap_or(1))
        .await
        .map_err(api_error)?;
    Ok(CompanyPage {
        items: page
            .items
            .into_iter()
            .map(|company| CompanyView {
                id: company.id,
                identifier: company.identifier,
                name: company.name,
            })
            .collect(),
        page: page.page,
        has_next: page.has_next,
    })
}

pub async fn company_agreements(
    state: &OperatorState,
    company_id: i64,
) -> Result<Vec<AgreementView>, OperatorApiError> {
    let client = connectwise_client(state).await?;
    let agreements = client.agreements_of(company_id).await.map_err(api_error)?;
    Ok(agreements
        .into_iter()
        .map(|agreement| AgreementView {
            id: agreement.id,
            name: agreement.name,
            status: agreement.agreement_status,
        })
        .collect())
}

pub async fn service_list(state: &OperatorState) -> Result<Vec<ServiceView>, OperatorApiError> {
    let rows = state.store.run(psa::services).await?;
    Ok(rows.into_iter().map(ServiceView::from).collect())
}

/// Maps a plan to a catalog item, read from ConnectWise (it must exist and
/// be active); a deprecated plan is refused.
pub async fn assign_service(
    state: &OperatorState,
    operator: &SignedIn,
    plan_public_id: String,
    catalog_item_id: i64,
) -> Result<(), OperatorApiError> {
    let lookup = plan_public_id.clone();
    let deprecated = state
        .store
        .run(move |conn| psa::plan_deprecated(conn, &lookup))
        .await?;
    match deprecated {
        None => return Err(no_such_plan(&plan_public_id)),
        Some(true) => return Err(deprecated_plan(&plan_public_id)),
        Some(false) => {}
    }
    let client = connectwise_client(state).await?;
    let item = client
        .catalog_item(catalog_item_id)
        .await
        .map_err(api_error)?;
    if item.inactive_flag {
        return Err(OperatorApiError::Invalid(format!(
            "Catalog item {} is inactive in ConnectWise.",
            item.identifier
        )));
    }
    let choice = CatalogChoice {
        catalog_item_id: item.id,
        catalog_identifier: item.identifier,
        catalog_description: item.description,
    };
    let now = Utc::now().naive_utc();
    let plan = plan_public_id.clone();
    let outcome = state
        .store
        .run(move |conn| psa::map_service(conn, &plan, &choice, now))
        .await?;
    match outcome {
        MapOutcome::Mapped => {
            tracing::info!(operator = %operator.email, plan = %plan_public_id, catalog_item_id, "service mapped");
            Ok(())
        }
        MapOutcome::NoSuchPlan => Err(no_such_plan(&plan_public_id)),
        MapOutcome::Deprecated => Err(deprecated_plan(&plan_public_id)),
    }
}

fn no_such_plan(plan_public_id: &str) -> OperatorApiError {
    OperatorApiError::NotFound(format!("There is no plan {plan_public_id}."))
}

fn deprecated_plan(plan_public_id: &str) -> OperatorApiError {
    OperatorApiError::Conflict(format!(
        "Plan {plan_public_id} is deprecated: it is listed for backward compatibility and cannot be mapped."
    ))
}

/// "Not Assigned".
pub async fn unassign_service(
    state: &OperatorState,
    operator: &SignedIn,
    plan_public_id: String,
) -> Result<(), OperatorApiError> {
    let plan = plan_public_id.clone();
    match state
        .store
        .run(move |conn| psa::unmap_service(conn, &plan))
        .await?
    {
        None => Err(no_such_plan(&plan_public_id)),
        Some(_) => {
            tracing::info!(operator = %operator.email, plan = %plan_public_id, "service not assigned");
            Ok(())
        }
    }
}

fn no_such_customer(external_id: &str) -> OperatorApiError {
    OperatorApiError::NotFound(format!("There is no customer {external_id}."))
}

pub async fn customer_agreement(
    state: &OperatorState,
    external_id: String,
) -> Result<CustomerConnectWise, OperatorApiError> {
    let lookup = external_id.clone();
    let found = state
        .store
        .run(move |conn| psa::customer_agreement(conn, &lookup))
        .await?
        .ok_or_else(|| no_such_customer(&external_id))?;
    Ok(CustomerConnectWise {
        agreement: found.map(CustomerAgreementView::from),
    })
}

/// Sets a customer's agreement, read from ConnectWise: it must belong to
/// the company and not be cancelled.
pub async fn assign_agreement(
    state: &OperatorState,
    operator: &SignedIn,
    external_id: String,
    assignment: &AgreementAssignment,
) -> Result<CustomerAgreementView, OperatorApiError> {
    let lookup = external_id.clone();
    state
        .store
        .run(move |conn| psa::customer_agreement(conn, &lookup))
        .await?
        .ok_or_else(|| no_such_customer(&external_id))?;
    let client = connectwise_client(state).await?;
    let agreement = client
        .agreement(assignment.agreement_id)
        .await
        .map_err(api_error)?;
    if agreement.company.id != assignment.company_id {
        return Err(OperatorApiError::Invalid(format!(
            "Agreement {} does not belong to company {}.",
            agreement.name, assignment.company_id
        )));
    }
    if agreement.cancelled_flag {
        return Err(OperatorApiError::Invalid(format!(
            "Agreement {} is cancelled.",
            agreement.name
        )));
    }
    let company_name = match agreement.company.name.clone() {
        Some(name) => name,
        None => {
            client
                .company(assignment.company_id)
                .await
                .map_err(api_error)?
                .name
        }
    };
    let choice = AgreementChoice {
        company_id: assignment.company_id,
        company_name,
        agreement_id: agreement.id,
        agreement_name: agreement.name,
    };
    let now = Utc::now().naive_utc();
    let stored = choice.clone();
    let customer = external_id.clone();
    let found = state
        .store
        .run(move |conn| psa::set_customer_agreement(conn, &customer, &stored, now))
        .await?;
    if !found {
        return Err(no_such_customer(&external_id));
    }
    tracing::info!(operator = %operator.email, customer = %external_id, agreement_id = choice.agreement_id, "customer agreement set");
    Ok(choice.into())
}

pub async fn remove_agreement(
    state: &OperatorState,
    operator: &SignedIn,
    external_id: String,
) -> Result<(), OperatorApiError> {
    let customer = external_id.clone();
    state
        .store
        .run(move |conn| psa::remove_customer_agreement(conn, &customer))
        .await?
        .ok_or_else(|| no_such_customer(&external_id))?;
    tracing::info!(operator = %operator.email, customer = %external_id, "customer agreement removed");
    Ok(())
}

// The handlers: each checks the permission first.

/// Every integration with its settings (secrets masked). Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations", tag = "Integrations",
    responses(
        (status = 200, body = [IntegrationView]),
        (status = 403, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn list(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(cards(&state).await?))
}

/// One integration with its settings (secrets masked). Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations/{kind}", tag = "Integrations",
    params(("kind" = String, Path, description = "The integration: `connectwise`.")),
    responses(
        (status = 200, body = IntegrationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn get(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let kind = kind_of(&kind)?;
    Ok(HttpResponse::Ok().json(card(&state, kind).await?))
}

/// Saves an integration's settings; secrets are encrypted at rest, and a
/// secret sent empty or as its mask keeps the stored one. Super Admin.
#[utoipa::path(put, path = "/operator/api/integrations/{kind}", tag = "Integrations",
    params(("kind" = String, Path, description = "The integration: `connectwise`.")),
    request_body = SettingsUpdate,
    responses(
        (status = 200, body = IntegrationView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A required setting is missing or a value is not valid; the message says which.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn update(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
    body: web::Json<SettingsUpdate>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let kind = kind_of(&kind)?;
    let body = body.into_inner();
    let form = SettingsForm {
        enabled: body.enabled,
        values: body.settings,
    };
    Ok(HttpResponse::Ok().json(save_settings(&state, &operator, kind, form).await?))
}

/// "Test configuration": calls the platform with the stored settings.
/// Both a success and the platform's refusal answer 200 with `ok` and a
/// message. Super Admin.
#[utoipa::path(post, path = "/operator/api/integrations/{kind}/test", tag = "Integrations",
    params(("kind" = String, Path, description = "The integration: `connectwise`.")),
    responses(
        (status = 200, body = TestOutcome),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn test(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    kind: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let kind = kind_of(&kind)?;
    Ok(HttpResponse::Ok().json(run_test(&state, kind).await?))
}

/// Active ConnectWise catalog items, searched by identifier or
/// description, a page (25) at a time. Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations/connectwise/catalog", tag = "Integrations",
    params(SearchQuery),
    responses(
        (status = 200, body = CatalogPage),
        (status = 403, body = ErrorBody),
        (status = 409, description = "ConnectWise is not configured.", body = ErrorBody),
        (status = 502, description = "ConnectWise refused or could not be reached; the message says why.", body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn catalog(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(search_catalog(&state, &query).await?))
}

/// Every plan and add-on plan with the catalog item it is mapped to
/// (deprecated plans listed, flagged). Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations/connectwise/services", tag = "Integrations",
    responses(
        (status = 200, body = [ServiceView]),
        (status = 403, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn services(
    state: web::Data<OperatorState>,
    operator: SignedIn,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(service_list(&state).await?))
}

/// Maps a plan to a ConnectWise catalog item. Super Admin.
#[utoipa::path(put, path = "/operator/api/integrations/connectwise/services/{plan_public_id}", tag = "Integrations",
    params(("plan_public_id" = String, Path, description = "The plan's public id.")),
    request_body = ServiceAssignment,
    responses(
        (status = 204, description = "Mapped."),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such plan or catalog item.", body = ErrorBody),
        (status = 409, description = "The plan is deprecated, or ConnectWise is not configured.", body = ErrorBody),
        (status = 422, description = "The catalog item is inactive.", body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn assign(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    plan: web::Path<String>,
    body: web::Json<ServiceAssignment>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    assign_service(&state, &operator, plan.into_inner(), body.catalog_item_id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// "Not Assigned": removes a plan's mapping. Super Admin.
#[utoipa::path(delete, path = "/operator/api/integrations/connectwise/services/{plan_public_id}", tag = "Integrations",
    params(("plan_public_id" = String, Path, description = "The plan's public id.")),
    responses(
        (status = 204, description = "Not assigned (also when it was not)."),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn unassign(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    plan: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    unassign_service(&state, &operator, plan.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// ConnectWise companies (not deleted) whose name contains the search.
/// Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations/connectwise/companies", tag = "Integrations",
    params(SearchQuery),
    responses(
        (status = 200, body = CompanyPage),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn companies(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(search_companies(&state, &query).await?))
}

/// A ConnectWise company's agreements that are not cancelled. Super Admin.
#[utoipa::path(get, path = "/operator/api/integrations/connectwise/companies/{company_id}/agreements", tag = "Integrations",
    params(("company_id" = i64, Path, description = "The ConnectWise company id.")),
    responses(
        (status = 200, body = [AgreementView]),
        (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn agreements(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    company_id: web::Path<i64>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(company_agreements(&state, company_id.into_inner()).await?))
}

/// A customer's ConnectWise company and agreement. Super Admin.
#[utoipa::path(get, path = "/operator/api/customers/{external_id}/connectwise", tag = "Integrations",
    params(("external_id" = String, Path, description = "The customer's ExternalID.")),
    responses(
        (status = 200, body = CustomerConnectWise),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn get_customer(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    external_id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    Ok(HttpResponse::Ok().json(customer_agreement(&state, external_id.into_inner()).await?))
}

/// Sets a customer's ConnectWise company and agreement (checked with
/// ConnectWise): the customer takes part in the quantity sync. Super Admin.
#[utoipa::path(put, path = "/operator/api/customers/{external_id}/connectwise", tag = "Integrations",
    params(("external_id" = String, Path, description = "The customer's ExternalID.")),
    request_body = AgreementAssignment,
    responses(
        (status = 200, body = CustomerAgreementView),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such customer or agreement.", body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 422, description = "The agreement is cancelled or belongs to another company.", body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn put_customer(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    external_id: web::Path<String>,
    body: web::Json<AgreementAssignment>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    let view = assign_agreement(&state, &operator, external_id.into_inner(), &body).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Removes a customer's agreement: it no longer takes part. Super Admin.
#[utoipa::path(delete, path = "/operator/api/customers/{external_id}/connectwise", tag = "Integrations",
    params(("external_id" = String, Path, description = "The customer's ExternalID.")),
    responses(
        (status = 204, description = "Removed (also when none was set)."),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ),
    security(("OperatorSession" = [])))]
pub async fn delete_customer(
    state: web::Data<OperatorState>,
    operator: SignedIn,
    external_id: web::Path<String>,
) -> Result<HttpResponse, OperatorApiError> {
    operator.require(Permission::ManageIntegrations)?;
    remove_agreement(&state, &operator, external_id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
