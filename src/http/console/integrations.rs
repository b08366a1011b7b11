//! Integrations (Super Admin only): one card per integration (enable,
//! settings with secrets masked, "Test configuration"), ConnectWise's
//! service assignments, and a customer's ConnectWise company and
//! agreement. Plain forms over the operator API's functions.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{encode_component, render_status, see_other};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::http::operator::error::OperatorApiError;
use crate::http::operator::integrations::{
    self as api, AgreementAssignment, CatalogItemView, IntegrationView, SearchQuery, TestOutcome,
};
use crate::http::operator::session::SignedIn;
use crate::http::operator::OperatorState;
use crate::integrations::settings::SettingsForm;
use crate::integrations::IntegrationKind;

pub const VIEWS: &[(&str, &str)] = &[
    (
        "integrations_services",
        include_str!("../../../templates/console/integrations_services.hbs"),
    ),
    (
        "customer_integrations",
        include_str!("../../../templates/console/customer_integrations.hbs"),
    ),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/integrations", web::get().to(list))
        .route(
            "/integrations/connectwise/services",
            web::get().to(services),
        )
        .route(
            "/integrations/connectwise/services/{plan}",
            web::post().to(assign),
        )
        .route("/integrations/{kind}", web::post().to(save))
        .route("/integrations/{kind}/test", web::post().to(test))
        .route(
            "/customers/{external_id}/integrations",
            web::get().to(customer),
        )
        .route(
            "/customers/{external_id}/integrations/connectwise",
            web::post().to(customer_assign),
        )
        .route(
            "/customers/{external_id}/integrations/connectwise/remove",
            web::post().to(customer_remove),
        );
}

const LIST_PATH: &str = "/console/integrations";
const SERVICES_PATH: &str = "/console/integrations/connectwise/services";

fn signed_in(session: &ConsoleSession) -> SignedIn {
    session.as_operator()
}

/// What the operator can act on (a refusal, a platform's answer) as a
/// message for the page; anything else stays an error page.
fn message_of(error: OperatorApiError) -> Result<(StatusCode, String), ConsoleError> {
    let status = actix_web::ResponseError::status_code(&error);
    match error {
        OperatorApiError::Invalid(message)
        | OperatorApiError::Conflict(message)
        | OperatorApiError::Upstream(message)
        | OperatorApiError::NotFound(message)
        | OperatorApiError::BadRequest(message) => Ok((status, message)),
        other => Err(other.into()),
    }
}

#[derive(Serialize)]
struct CardView {
    #[serde(flatten)]
    card: IntegrationView,
    save_action: String,
    test_action: String,
    runs_href: String,
    services_href: Option<&'static str>,
    /// After "Test configuration" on this card.
    test: Option<TestOutcome>,
    error: Option<String>,
}

#[derive(Serialize)]
struct ListView {
    cards: Vec<CardView>,
    notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    notice: String,
}

async fn list_page(
    state: &OperatorState,
    session: &ConsoleSession,
    status: StatusCode,
    notice: Option<String>,
    annotate: impl Fn(&mut CardView),
) -> Result<HttpResponse, ConsoleError> {
    let cards = api::cards(state).await?;
    let cards = cards
        .into_iter()
        .map(|card| {
            let key = card.kind.clone();
            let mut view = CardView {
                save_action: format!("{LIST_PATH}/{key}"),
                test_action: format!("{LIST_PATH}/{key}/test"),
                runs_href: format!("{LIST_PATH}/{key}/runs"),
                services_href: (key == IntegrationKind::ConnectWise.key()).then_some(SERVICES_PATH),
                card,
                test: None,
                error: None,
            };
            annotate(&mut view);
            view
        })
        .collect();
    render_status(
        status,
        "integrations",
        Some(&session.chrome("Integrations", "integrations")),
        &ListView { cards, notice },
    )
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    let notice = (query.notice == "saved").then(|| "Settings saved.".to_owned());
    list_page(&state, &session, StatusCode::OK, notice, |_| {}).await
}

fn kind_of(key: &str) -> Result<IntegrationKind, ConsoleError> {
    IntegrationKind::parse(key)
        .ok_or_else(|| ConsoleError::NotFound(format!("There is no integration {key:?}.")))
}

async fn save(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    kind: web::Path<String>,
    form: web::Form<BTreeMap<String, String>>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    let mut values = form.into_inner();
    session.check_csrf(&values.remove("csrf").unwrap_or_default())?;
    let kind = kind_of(&kind)?;
    let enabled = values.remove("enabled").is_some();
    let settings = SettingsForm { enabled, values };
    match api::save_settings(&state, &signed_in(&session), kind, settings).await {
        Ok(_) => Ok(see_other(format!("{LIST_PATH}?notice=saved"))),
        Err(error) => {
            let (status, message) = message_of(error)?;
            list_page(&state, &session, status, None, |card| {
                if card.card.kind == kind.key() {
                    card.error = Some(message.clone());
                }
            })
            .await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CsrfForm {
    csrf: String,
}

async fn test(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    kind: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    session.check_csrf(&form.csrf)?;
    let kind = kind_of(&kind)?;
    let outcome = api::run_test(&state, kind).await?;
    let shown = std::cell::RefCell::new(Some(outcome));
    list_page(&state, &session, StatusCode::OK, None, |card| {
        if card.card.kind == kind.key() {
            card.test = shown.borrow_mut().take();
        }
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServicesQuery {
    search: String,
    page: Option<u32>,
    notice: String,
}

#[derive(Serialize)]
struct ServiceRowView {
    #[serde(flatten)]
    service: api::ServiceView,
    action: String,
}

#[derive(Serialize)]
struct ServiceSection {
    title: &'static str,
    id: &'static str,
    rows: Vec<ServiceRowView>,
}

#[derive(Serialize)]
struct ServicesView {
    /// Plans, then add-ons.
    sections: [ServiceSection; 2],
    search: String,
    /// The catalog items found (a page), offered in every row's choice.
    found: Vec<CatalogItemView>,
    searched: bool,
    next_href: Option<String>,
    previous_href: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn services_page(
    state: &OperatorState,
    session: &ConsoleSession,
    query: &ServicesQuery,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let rows = api::service_list(state).await?;
    let mut error = error;
    let page = query.page.unwrap_or(1).max(1);
    let searched = !query.search.trim().is_empty();
    let (found, has_next) = if searched {
        let search = SearchQuery {
            search: query.search.clone(),
            page: Some(page),
        };
        match api::search_catalog(state, &search).await {
            Ok(found) => (found.items, found.has_next),
            Err(problem) => {
                error = Some(message_of(problem)?.1);
                (Vec::new(), false)
            }
        }
    } else {
        (Vec::new(), false)
    };
    let href = |page: u32| {
        format!(
            "{SERVICES_PATH}?search={}&page={page}",
            encode_component(&query.search)
        )
    };
    let (addons, plans): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|service| ServiceRowView {
            action: format!(
                "{SERVICES_PATH}/{}",
                encode_component(&service.plan_public_id)
            ),
            service,
        })
        .partition(|row| row.service.is_addon);
    let notice = match query.notice.as_str() {
        "mapped" => Some("Service assignment saved.".to_owned()),
        "unassigned" => Some("The service is Not Assigned now.".to_owned()),
        _ => None,
    };
    render_status(
        status,
        "integrations_services",
        Some(&session.chrome("ConnectWise service assignments", "integrations")),
        &ServicesView {
            sections: [
                ServiceSection {
                    title: "Plans",
                    id: "plans",
                    rows: plans,
                },
                ServiceSection {
                    title: "Add-ons",
                    id: "addons",
                    rows: addons,
                },
            ],
            search: query.search.clone(),
            found,
            searched,
            next_href: has_next.then(|| href(page + 1)),
            previous_href: (page > 1).then(|| href(page - 1)),
            notice,
            error,
        },
    )
}

async fn services(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ServicesQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    services_page(&state, &session, &query, StatusCode::OK, None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssignForm {
    csrf: String,
    /// Empty: Not Assigned.
    catalog_item_id: String,
    /// The search the page showed, to come back to.
    search: String,
}

async fn assign(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    plan: web::Path<String>,
    form: web::Form<AssignForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    session.check_csrf(&form.csrf)?;
    let plan = plan.into_inner();
    let operator = signed_in(&session);
    let choice = form.catalog_item_id.trim();
    let outcome = if choice.is_empty() {
        api::unassign_service(&state, &operator, plan)
            .await
            .map(|()| "unassigned")
    } else {
        let id = choice
            .parse::<i64>()
            .map_err(|_| ConsoleError::BadForm("catalog_item_id is not a number".into()))?;
        api::assign_service(&state, &operator, plan, id)
            .await
            .map(|()| "mapped")
    };
    match outcome {
        Ok(notice) => Ok(see_other(format!(
            "{SERVICES_PATH}?search={}&notice={notice}",
            encode_component(&form.search)
        ))),
        Err(error) => {
            let (status, message) = message_of(error)?;
            let query = ServicesQuery {
                search: form.search.clone(),
                page: None,
                notice: String::new(),
            };
            services_page(&state, &session, &query, status, Some(message)).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomerQuery {
    /// Text a company's name contains.
    search: String,
    /// The company whose agreements to offer.
    company_id: Option<i64>,
    notice: String,
}

#[derive(Serialize)]
struct ChoiceView {
    id: i64,
    name: String,
    selected: bool,
}

#[derive(Serialize)]
struct CustomerView {
    external_id: String,
    customer_href: String,
    action: String,
    remove_action: String,
    current: Option<api::CustomerAgreementView>,
    search: String,
    searched: bool,
    companies: Vec<ChoiceView>,
    company_id: Option<i64>,
    agreements: Vec<ChoiceView>,
    notice: Option<&'static str>,
    error: Option<String>,
}

fn customer_path(external_id: &str) -> String {
    format!("/console/customers/{}", encode_component(external_id))
}

async fn customer_page(
    state: &OperatorState,
    session: &ConsoleSession,
    external_id: String,
    query: &CustomerQuery,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, ConsoleError> {
    let current = match api::customer_agreement(state, external_id.clone()).await {
        Ok(found) => found.agreement,
        Err(OperatorApiError::NotFound(message)) => return Err(ConsoleError::NotFound(message)),
        Err(other) => return Err(other.into()),
    };
    let mut error = error;
    let searched = !query.search.trim().is_empty();
    let mut companies = Vec::new();
    if searched {
        let search = SearchQuery {
            search: query.search.clone(),
            page: Some(1),
        };
        match api::search_companies(state, &search).await {
            Ok(found) => {
                companies = found
                    .items
                    .into_iter()
                    .map(|company| ChoiceView {
                        selected: Some(company.id) == query.company_id,
                        id: company.id,
                        name: company.name,
                    })
                    .collect()
            }
            Err(problem) => error = Some(message_of(problem)?.1),
        }
    }
    let mut agreements = Vec::new();
    if let Some(company_id) = query.company_id {
        match api::company_agreements(state, company_id).await {
            Ok(found) => {
                agreements = found
                    .into_iter()
                    .map(|agreement| ChoiceView {
                        selected: current
                            .as_ref()
                            .is_some_and(|c| c.agreement_id == agreement.id),
                        id: agreement.id,
                        name: agreement.name,
                    })
                    .collect()
            }
            Err(problem) => error = Some(message_of(problem)?.1),
        }
    }
    let path = customer_path(&external_id);
    let notice = match query.notice.as_str() {
        "assigned" => Some(
            "The agreement is assigned: this customer takes part in the nightly quantity sync.",
        ),
        "removed" => Some("The agreement is removed: this customer no longer takes part."),
        _ => None,
    };
    render_status(
        status,
        "customer_integrations",
        Some(&session.chrome("Customer integrations", "customers")),
        &CustomerView {
            customer_href: path.clone(),
            action: format!("{path}/integrations/connectwise"),
            remove_action: format!("{path}/integrations/connectwise/remove"),
            external_id,
            current,
            search: query.search.clone(),
            searched,
            companies,
            company_id: query.company_id,
            agreements,
            notice,
            error,
        },
    )
}

async fn customer(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    external_id: web::Path<String>,
    query: web::Query<CustomerQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    customer_page(
        &state,
        &session,
        external_id.into_inner(),
        &query,
        StatusCode::OK,
        None,
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CustomerAssignForm {
    csrf: String,
    company_id: Option<i64>,
    agreement_id: Option<i64>,
}

async fn customer_assign(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    external_id: web::Path<String>,
    form: web::Form<CustomerAssignForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    session.check_csrf(&form.csrf)?;
    let external_id = external_id.into_inner();
    let (Some(company_id), Some(agreement_id)) = (form.company_id, form.agreement_id) else {
        return Err(ConsoleError::BadForm(
            "choose a company and an agreement".into(),
        ));
    };
    let assignment = AgreementAssignment {
        company_id,
        agreement_id,
    };
    match api::assign_agreement(
        &state,
        &signed_in(&session),
        external_id.clone(),
        &assignment,
    )
    .await
    {
        Ok(_) => Ok(see_other(format!(
            "{}/integrations?notice=assigned",
            customer_path(&external_id)
        ))),
        Err(error) => {
            let (status, message) = message_of(error)?;
            let query = CustomerQuery {
                company_id: Some(company_id),
                ..CustomerQuery::default()
            };
            customer_page(&state, &session, external_id, &query, status, Some(message)).await
        }
    }
}

async fn customer_remove(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    external_id: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageIntegrations)?;
    session.check_csrf(&form.csrf)?;
    let external_id = external_id.into_inner();
    api::remove_agreement(&state, &signed_in(&session), external_id.clone()).await?;
    Ok(see_other(format!(
        "{}/integrations?notice=removed",
        customer_path(&external_id)
    )))
}
