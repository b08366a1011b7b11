//! The Fields part of the service-manager contract: the product types
//! Mailroom declares, its setup fields and their check, and what it is.

use actix_web::{web, HttpResponse};

use super::answer::answer_json;
use super::auth::Caller;
use super::body::ContractJson;
use super::error::ApiError;
use super::fields_wire::{
    AdditionalInfo, FieldDefinition, ServiceDefinitionResult, ValidateRequest,
};
use super::routing::ACTIONS;
use super::wire::ResultEnvelope;
use super::ContractState;
use crate::domain::catalog::setup_fields::{self, SetupField};
use crate::domain::ResultCode;
use crate::store::catalog;

/// Declares the product types the BSS can sell: their attributes, scope and
/// limits. A type's `ID` is the `ServiceType` of later Subscriptions calls.
#[utoipa::path(
    get,
    path = "/api/Fields/ServiceDefinition",
    tag = "Fields",
    operation_id = "fields_service_definition",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    responses(
        (status = 200, description = "The product types.", body = ServiceDefinitionResult, example = json!({
            "Code": 0, "Message": "", "ErrorCode": 0, "ErrorMessage": "",
            "ProductTypes": [{
                "ID": "hosted_mailbox", "Name": "Hosted mailbox",
                "Description": "Mailboxes on the operator's mail platform, sold per seat.",
                "PortalUrl": null, "AllowMultipleSubscriptions": true, "Scope": "Customer",
                "AttributeList": [{
                    "ID": "storage_gb", "SortOrder": 0, "Name": "Storage per mailbox (GB)",
                    "Description": "The mailbox quota; the subscription's storage is this times its seats.",
                    "Usage": "ProductCharacteristic", "Kind": "Numeric", "IsRequired": true,
                    "LinkedToQuantity": true, "AllowUnlimited": false, "PredefinedValues": []
                }]
            }]
        })),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn service_definition(
    state: web::Data<ContractState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let product_types = state.store.run(catalog::product_types).await?;
    Ok(answer_json(
        ResultCode::Success,
        &ServiceDefinitionResult::new(&product_types),
    ))
}

/// The setup fields, with the plans on sale as the default plan's choices.
async fn current_setup_fields(state: &ContractState) -> Result<Vec<SetupField>, ApiError> {
    let plans = state.store.run(catalog::sellable_plans).await?;
    let choices = plans
        .into_iter()
        .map(|plan| {
            let label = match &plan.terms.code {
                Some(code) => format!("{} ({code})", plan.terms.name),
                None => plan.terms.name,
            };
            (plan.public_id, label)
        })
        .collect();
    Ok(setup_fields::setup_fields(state.notification_mode, choices))
}

/// Declares the setup fields the BSS operator fills in when registering
/// Mailroom: the notification mode, the default plan for new customers and
/// the support address shown in mails. `Kind` is a number (0 Text,
/// 4 PredefinedChooseOne, ...), as the interworks sample sends it.
#[utoipa::path(
    get,
    path = "/api/Fields/Get",
    tag = "Fields",
    operation_id = "fields_get",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    responses(
        (status = 200, description = "The field definitions.", body = [FieldDefinition], example = json!([
            {"ID": "notification_mode", "SortOrder": 0, "Name": "Notification mode",
             "Description": "Who sends a new customer its access: Mailroom (an activation link) or the BSS (its access email with a generated password).",
             "Kind": 4, "IsRequired": true,
             "PredefinedValues": {"bss": "The BSS mails a generated password", "mailroom": "Mailroom mails an activation link"},
             "InitialValue": "mailroom"},
            {"ID": "support_email", "SortOrder": 2, "Name": "Support address",
             "Description": "The address Mailroom's mails give customers for help.",
             "Kind": 0, "MaxLength": 254, "IsRequired": false, "PredefinedValues": {}, "InitialValue": null}
        ])),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn get(
    state: web::Data<ContractState>,
    _caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let fields = current_setup_fields(&state).await?;
    let definitions: Vec<FieldDefinition> = fields.iter().map(FieldDefinition::from).collect();
    Ok(answer_json(ResultCode::Success, &definitions))
}

/// Checks the setup values the BSS operator entered: one message per
/// problem, an empty list when every value is acceptable. Field ids Mailroom
/// did not declare are ignored.
#[utoipa::path(
    post,
    path = "/api/Fields/Validate",
    tag = "Fields",
    operation_id = "fields_validate",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    request_body(content = ValidateRequest, example = json!({"Fields": [
        {"ID": "notification_mode", "Value": "mailroom"},
        {"ID": "support_email", "Value": "help@example.com"}
    ]})),
    responses(
        (status = 200, description = "The problems; empty when valid.", body = [String], examples(
            ("Valid" = (value = json!([]))),
            ("Invalid" = (value = json!(["Support address: help(at)example.com is not an email address."]))),
        )),
        (status = 400, description = "The body is not JSON at all.", body = ResultEnvelope),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn validate(
    state: web::Data<ContractState>,
    _caller: Caller,
    ContractJson(request): ContractJson<ValidateRequest>,
) -> Result<HttpResponse, ApiError> {
    let fields = current_setup_fields(&state).await?;
    let problems = setup_fields::validate(&fields, &request.values());
    Ok(answer_json(ResultCode::Success, &problems))
}

/// Names this service manager, its version and the contract actions it
/// implements.
#[utoipa::path(
    get,
    path = "/api/Fields/AdditionalInfo",
    tag = "Fields",
    operation_id = "fields_additional_info",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, logged with it.")),
    responses(
        (status = 200, description = "What Mailroom is.", body = AdditionalInfo),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn additional_info(_caller: Caller) -> HttpResponse {
    answer_json(
        ResultCode::Success,
        &AdditionalInfo {
            name: "Mailroom".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            supported_endpoints: ACTIONS.iter().map(|action| (*action).to_owned()).collect(),
        },
    )
}
