//! The Addons part of the service-manager contract: Create, Update, Cancel.
//! Each takes the parent's ServiceDefinition (`ID` ours or `SubscriptionID`
//! the BSS's) whose `Addons` list carries the add-on(s) to act on, marked
//! with `ActionType` `Provision` (create, update) or `Cancel`.
//! `CheckOnly: true` runs the same checks and writes nothing.

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::Caller;
use super::body::ContractJson;
use super::error::ApiError;
use super::subscriptions::{origin, reference, respond_as};
use super::subscriptions_wire::{AddonDefinition, ServiceDefinition, ServiceResultDefinition};
use super::wire::ResultEnvelope;
use super::ContractState;
use crate::store::subscriptions::{self, AddonAction, AddonItem, AddonOrder};

/// The add-ons a call acts on: the ones whose `ActionType` is the call's;
/// a list of one add-on without an `ActionType` is that one.
fn selected(service: &ServiceDefinition, action: AddonAction) -> Vec<&AddonDefinition> {
    let wanted = match action {
        AddonAction::Cancel => "Cancel",
        AddonAction::Create | AddonAction::Update => "Provision",
    };
    let list = service.addons.as_deref().unwrap_or_default();
    let marked: Vec<&AddonDefinition> = list
        .iter()
        .filter(|a| {
            a.action_type
                .as_deref()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(wanted))
        })
        .collect();
    match list {
        [only] if marked.is_empty() && only.action_type.is_none() => vec![only],
        _ => marked,
    }
}

fn item(addon: &AddonDefinition) -> AddonItem {
    AddonItem {
        public_id: addon.effective_id(),
        product_type_id: addon.service_type.clone(),
        product_id: addon.product_id.clone(),
        name: addon.name.clone().unwrap_or_default(),
        quantity: addon.quantity,
        attribute_values: addon.attribute_values(),
    }
}

async fn addons(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    service: ServiceDefinition,
    action: AddonAction,
    done: &'static str,
) -> Result<HttpResponse, ApiError> {
    if service.effective_id().is_none() && service.subscription_id.is_none() {
        return Err(ApiError::bad_request(
            "ID or SubscriptionID is required to name the add-on's subscription.",
        ));
    }
    let items: Vec<AddonItem> = selected(&service, action).into_iter().map(item).collect();
    if items.is_empty() {
        return Err(ApiError::bad_request(match action {
            AddonAction::Cancel => "Addons carries no add-on with ActionType Cancel.",
            _ => "Addons carries no add-on with ActionType Provision.",
        }));
    }
    if action != AddonAction::Cancel
        && items
            .iter()
            .any(|i| i.public_id.is_none() && i.product_id.is_none())
    {
        return Err(ApiError::bad_request(
            "Each add-on needs its ProductID (or our ID of it).",
        ));
    }
    let order = AddonOrder {
        application_id: caller.application_id,
        parent: reference(&service),
        items,
        action,
        origin: origin(&req),
        check_only: service.is_check_only(),
    };
    let outcome = state
        .store
        .run(move |conn| subscriptions::addon_order(conn, &order))
        .await?;
    Ok(respond_as(
        outcome,
        "Add-on created.",
        done,
        "The add-on already is as asked: nothing changed.",
    ))
}

/// Adds an add-on to a subscription (the parent: `ID`, `ExtraDetails` or
/// `SubscriptionID`); `Addons` carries it with `ActionType: Provision`.
/// Its product type must be one the catalog sells as an add-on (the seeded
/// `archiving`). Idempotent per (parent, ProductID) while the add-on is not
/// cancelled: a retry answers the same add-on id. Suspending, re-activating
/// or cancelling the parent (or its customer) carries its add-ons along.
#[utoipa::path(
    post,
    path = "/api/Addons/Create",
    tag = "Addons",
    operation_id = "addons_create",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, recorded in the add-on's history.")),
    request_body(content = ServiceDefinition, description = "The parent subscription, with the add-on in `Addons`. Field names are matched case-insensitively; unknown fields are ignored.",
        example = json!({
            "ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "SubscriptionID": "51234", "ServiceType": "hosted_mailbox",
            "Account": {"ID": "3000", "ExternalID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"},
            "Addons": [{"ID": "", "ParentID": "51234", "Name": "Mail archiving 5 years", "ProductID": "2010",
                "ActionType": "Provision", "Quantity": 10,
                "AttributeList": {"retention_years": {"ID": "retention_years", "Value": "5"}}}],
            "CheckOnly": false})),
    responses(
        (status = 200, description = "Created (or found again), checked, or refused (a storefront message for -8xxxx, a message for BSS staff otherwise).", body = ServiceResultDefinition, examples(
            ("Created" = (value = json!({
                "Code": 0, "Message": "Add-on created.", "ErrorCode": 0, "ErrorMessage": "Add-on created.",
                "Result": "sub_01jdxb7q2w4e6r8t0y2u4i6o8p",
                "ExtraInfo": {"addon_id": "sub_01jdxb7q2w4e6r8t0y2u4i6o8p", "customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "subscription_id": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0"},
                "AccountExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"},
                "SendNotification": false}))),
            ("Parent suspended" = (summary = "A storefront error", value = json!({
                "Code": -80065, "Message": "The subscription this add-on is for is not active. Please re-activate it first.",
                "ErrorCode": -80065, "ErrorMessage": "The subscription this add-on is for is not active. Please re-activate it first.",
                "ExtraInfo": {}, "AccountExtraInfo": {}, "SendNotification": false}))),
        )),
        (status = 400, description = "The body is not JSON at all.", body = ResultEnvelope),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn create(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Add-on updated.";
    addons(req, state, caller, service, AddonAction::Create, done).await
}

/// Changes an add-on's quantity, plan (ProductID) or attributes, each change
/// a history row; the add-on is named by our id (its `ID` or
/// `ExtraDetails.addon_id`) or by its ProductID. A cancelled add-on answers -23.
#[utoipa::path(
    post,
    path = "/api/Addons/Update",
    tag = "Addons",
    operation_id = "addons_update",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, recorded in the add-on's history.")),
    request_body(content = ServiceDefinition, example = json!({
        "ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0",
        "Addons": [{"ID": "sub_01jdxb7q2w4e6r8t0y2u4i6o8p", "ProductID": "2010", "ActionType": "Provision", "Quantity": 12}]})),
    responses(
        (status = 200, description = "Updated, unchanged, checked or refused.", body = ServiceResultDefinition),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn update(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Add-on updated.";
    addons(req, state, caller, service, AddonAction::Update, done).await
}

/// Cancels an add-on (`ActionType: Cancel`): final; cancelling again answers 0.
#[utoipa::path(
    post,
    path = "/api/Addons/Cancel",
    tag = "Addons",
    operation_id = "addons_cancel",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, recorded in the add-on's history.")),
    request_body(content = ServiceDefinition, example = json!({
        "ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0",
        "Addons": [{"ID": "sub_01jdxb7q2w4e6r8t0y2u4i6o8p", "ProductID": "2010", "ActionType": "Cancel"}]})),
    responses(
        (status = 200, description = "Cancelled, already cancelled, or refused.", body = ServiceResultDefinition),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Add-on cancelled.";
    addons(req, state, caller, service, AddonAction::Cancel, done).await
}
