//! The Subscriptions part of the service-manager contract: Create, Update
//! (and UpgradeToPaid, UpgradeDowngrade), Activate, Suspend, Cancel. Every
//! call takes a ServiceDefinition; `CheckOnly: true` runs the same checks
//! and writes nothing.

use actix_web::{web, HttpRequest, HttpResponse};

use super::answer::{answer_json, AnswerFacts};
use super::auth::Caller;
use super::body::ContractJson;
use super::error::ApiError;
use super::settings;
use super::subscriptions_wire::{seed_service_example, ServiceDefinition, ServiceResultDefinition};
use super::wire::ResultEnvelope;
use super::ContractState;
use crate::domain::subscription::{ChangeSource, StatusAction};
use crate::domain::ResultCode;
use crate::store::subscriptions::{
    self, Answered, Order, Origin, SubscriptionOutcome, SubscriptionRef,
};
use crate::telemetry::track_id;

fn respond(outcome: SubscriptionOutcome, done: &str) -> HttpResponse {
    respond_as(
        outcome,
        "Subscription created.",
        done,
        "The subscription already is as asked: nothing changed.",
    )
}

/// The answer of an outcome, with the messages of the call's kind of
/// subscription (a subscription or an add-on).
pub(super) fn respond_as(
    outcome: SubscriptionOutcome,
    created: &str,
    done: &str,
    unchanged: &str,
) -> HttpResponse {
    let (code, message, answered) = match outcome {
        SubscriptionOutcome::Created(a) => (ResultCode::Success, created, Some(a)),
        SubscriptionOutcome::Changed(a) => (ResultCode::Success, done, Some(a)),
        SubscriptionOutcome::Unchanged(a) => (ResultCode::Success, unchanged, Some(a)),
        SubscriptionOutcome::Checked(a) => (
            ResultCode::Success,
            "CheckOnly: the call can be carried out; nothing was changed.",
            Some(a),
        ),
        SubscriptionOutcome::Refused(rejection) => {
            return answer_result(ServiceResultDefinition::new(
                rejection.code,
                rejection.message,
            ))
        }
    };
    let mut result = ServiceResultDefinition::new(code, message);
    if let Some(Answered {
        public_id,
        extra_info,
        account_extra_info,
    }) = answered
    {
        result.result = public_id;
        result.extra_info = extra_info;
        result.account_extra_info = account_extra_info;
    }
    answer_result(result)
}

fn answer_result(result: ServiceResultDefinition) -> HttpResponse {
    let code = ResultCode::from_code(result.code).unwrap_or(ResultCode::InternalError);
    let external_id = result.result.clone();
    let mut response = answer_json(code, &result);
    if let Some(facts) = response.extensions_mut().get_mut::<AnswerFacts>() {
        facts.external_id = external_id;
    }
    response
}

pub(super) fn origin(req: &HttpRequest) -> Origin {
    Origin {
        source: ChangeSource::Bss,
        track_id: track_id(req.headers()).map(str::to_owned),
    }
}

pub(super) fn reference(service: &ServiceDefinition) -> SubscriptionRef {
    SubscriptionRef {
        public_id: service.effective_id(),
        bss_subscription_id: service.subscription_id.clone(),
        original_bss_subscription_id: service.original_subscription_id.clone(),
    }
}

/// Create and the Update family: one unit of work finds (or records, except
/// on `CheckOnly`) the plan of the ProductID and orders.
async fn order(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    service: ServiceDefinition,
    create: bool,
    done: &'static str,
) -> Result<HttpResponse, ApiError> {
    if create && service.subscription_id.is_none() {
        return Err(ApiError::bad_request(
            "SubscriptionID is required to create a subscription.",
        ));
    }
    // A Create without ProductID takes the application's default plan.
    let default_plan = if create && service.product_id.is_none() {
        Some(settings::default_plan_for_create(&req)?)
    } else {
        None
    };
    if !create && service.effective_id().is_none() && service.subscription_id.is_none() {
        return Err(ApiError::bad_request(
            "ID or SubscriptionID is required to name the subscription.",
        ));
    }
    let account = service.account.as_ref();
    let order = Order {
        application_id: caller.application_id,
        customer_external_id: account.and_then(|a| a.effective_external_id()),
        bss_account_id: account.and_then(|a| a.id.clone()),
        subscription: reference(&service),
        product_type_id: service.service_type.clone(),
        product_id: service.product_id.clone(),
        default_plan,
        name: service.name.clone().unwrap_or_default(),
        quantity: service.quantity,
        attribute_values: service.attribute_values(),
        origin: origin(&req),
        check_only: service.is_check_only(),
        create,
    };
    let outcome = state
        .store
        .run(move |conn| subscriptions::order(conn, &order))
        .await?;
    Ok(respond(outcome, done))
}

async fn status(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    service: ServiceDefinition,
    action: StatusAction,
    done: &'static str,
) -> Result<HttpResponse, ApiError> {
    if service.effective_id().is_none() && service.subscription_id.is_none() {
        return Err(ApiError::bad_request(
            "ID or SubscriptionID is required to name the subscription.",
        ));
    }
    let reference = reference(&service);
    let origin = origin(&req);
    let check_only = service.is_check_only();
    let outcome = state
        .store
        .run(move |conn| {
            subscriptions::change_status(
                conn,
                caller.application_id,
                &reference,
                action,
                &origin,
                check_only,
            )
        })
        .await?;
    Ok(respond(outcome, done))
}

/// Creates a subscription for the customer of `Account` (by its ExternalID,
/// else its BSS id). Idempotent per SubscriptionID: a retry, a repeated
/// order or concurrent Creates give one subscription and the same `Result`.
/// `CheckOnly: true` runs every check and writes nothing. A ProductID
/// Mailroom does not know yet is recorded as an unpriced plan.
#[utoipa::path(
    post,
    path = "/api/Subscriptions/Create",
    tag = "Subscriptions",
    operation_id = "subscriptions_create",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, recorded in the subscription's history.")),
    request_body(content = ServiceDefinition, description = "The subscription. Field names are matched case-insensitively; unknown fields are ignored.",
        example = json!(seed_service_example())),
    responses(
        (status = 200, description = "Created (or found again), checked, or refused (a storefront message for -8xxxx, a message for BSS staff otherwise).", body = ServiceResultDefinition, examples(
            ("Created" = (value = json!({
                "Code": 0, "Message": "Subscription created.", "ErrorCode": 0, "ErrorMessage": "Subscription created.",
                "Result": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0",
                "ExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "subscription_id": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0"},
                "AccountExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "domain": "direct.com", "username": "info@direct.com"},
                "SendNotification": false}))),
            ("Quantity out of range" = (summary = "A storefront error", value = json!({
                "Code": -80062, "Message": "Please order at least 1.", "ErrorCode": -80062, "ErrorMessage": "Please order at least 1.",
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
    order(req, state, caller, service, true, "Subscription updated.").await
}

/// Changes a subscription's quantity, plan (ProductID) or attributes, each
/// change a history row. A cancelled subscription answers -23.
#[utoipa::path(
    post,
    path = "/api/Subscriptions/Update",
    tag = "Subscriptions",
    operation_id = "subscriptions_update",
    params(("X-CloudPlatform-TrackId" = Option<String>, Header, description = "The BSS's id of this call, recorded in the subscription's history.")),
    request_body(content = ServiceDefinition, description = "`ID` (ours, or `ExtraDetails.subscription_id`) or `SubscriptionID` names the subscription; a field left out keeps its value.",
        example = json!({"ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "SubscriptionID": "51234", "ServiceType": "hosted_mailbox", "ProductID": "1207", "Quantity": 12, "CheckOnly": false})),
    responses(
        (status = 200, description = "Updated, unchanged, checked or refused.", body = ServiceResultDefinition, example = json!({
            "Code": 0, "Message": "Subscription updated.", "ErrorCode": 0, "ErrorMessage": "Subscription updated.",
            "Result": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0",
            "ExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "subscription_id": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0"},
            "AccountExtraInfo": {"customer_id": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"}, "SendNotification": false})),
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
    order(req, state, caller, service, false, "Subscription updated.").await
}

/// A trial becomes paid: an Update (the plan of the new ProductID, its
/// quantity), recorded in the history.
#[utoipa::path(
    post,
    path = "/api/Subscriptions/UpgradeToPaid",
    tag = "Subscriptions",
    operation_id = "subscriptions_upgrade_to_paid",
    request_body(content = ServiceDefinition),
    responses((status = 200, description = "As Update.", body = ServiceResultDefinition)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn upgrade_to_paid(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    order(
        req,
        state,
        caller,
        service,
        false,
        "Subscription upgraded to paid.",
    )
    .await
}

/// Moves a subscription to another plan (ProductID): an Update; the
/// subscription is also found by `OriginalSubscriptionID`.
#[utoipa::path(
    post,
    path = "/api/Subscriptions/UpgradeDowngrade",
    tag = "Subscriptions",
    operation_id = "subscriptions_upgrade_downgrade",
    request_body(content = ServiceDefinition),
    responses((status = 200, description = "As Update.", body = ServiceResultDefinition)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn upgrade_downgrade(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    order(
        req,
        state,
        caller,
        service,
        false,
        "Subscription plan changed.",
    )
    .await
}

/// Re-activates a suspended subscription (a cancelled one answers -23).
#[utoipa::path(
    post,
    path = "/api/Subscriptions/Activate",
    tag = "Subscriptions",
    operation_id = "subscriptions_activate",
    request_body(content = ServiceDefinition, example = json!({"ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "SubscriptionID": "51234"})),
    responses((status = 200, description = "Activated, already active, or refused.", body = ServiceResultDefinition)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn activate(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Subscription activated.";
    status(req, state, caller, service, StatusAction::Activate, done).await
}

/// Suspends a subscription (a cancelled one answers -23).
#[utoipa::path(
    post,
    path = "/api/Subscriptions/Suspend",
    tag = "Subscriptions",
    operation_id = "subscriptions_suspend",
    request_body(content = ServiceDefinition, example = json!({"ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "SubscriptionID": "51234"})),
    responses((status = 200, description = "Suspended, already suspended, or refused.", body = ServiceResultDefinition)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn suspend(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Subscription suspended.";
    status(req, state, caller, service, StatusAction::Suspend, done).await
}

/// Cancels a subscription: final (cancelling again answers 0).
#[utoipa::path(
    post,
    path = "/api/Subscriptions/Cancel",
    tag = "Subscriptions",
    operation_id = "subscriptions_cancel",
    request_body(content = ServiceDefinition, example = json!({"ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "SubscriptionID": "51234"})),
    responses((status = 200, description = "Cancelled, already cancelled, or refused.", body = ServiceResultDefinition)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn cancel(
    req: HttpRequest,
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(service): ContractJson<ServiceDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Subscription cancelled.";
    status(req, state, caller, service, StatusAction::Cancel, done).await
}
