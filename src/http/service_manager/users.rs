//! The Users part of the service-manager contract: a customer's mailboxes
//! and the seats of its subscriptions they hold. Every call takes a JSON
//! body (a UserDefinition, a list request or a service request) and
//! answers the result envelope, with the contract's objects beside it.
//! Refusals answer the plain envelope with their code.

use actix_web::{web, HttpResponse};
use serde::Serialize;

use super::answer::{answer, answer_json, AnswerFacts};
use super::auth::Caller;
use super::body::ContractJson;
use super::error::ApiError;
use super::users_wire::{
    user_example, CustomerRequest, CustomerResult, CustomerView, CustomersListRequest,
    CustomersListResult, ServicesResult, UserDefinition, UserResult, UserServiceRequest,
    UserServiceView, UserView, UsersEnvelope, UsersListRequest, UsersListResult,
};
use super::wire::ResultEnvelope;
use super::ContractState;
use crate::domain::mailbox::{check_password, parse_secondary_email, MailboxAction};
use crate::domain::password;
use crate::domain::{Rejection, ResultCode};
use crate::http::error::ServerError;
use crate::store::mailboxes::{
    self, CustomerListFilter, CustomerRef, MailboxFields, MailboxFilter, MailboxOutcome,
    MailboxView, NewMailbox,
};

/// Answers `body` for `code`, recording `result` (a mailbox's or
/// customer's id) for the audit.
fn answer_about(code: ResultCode, result: Option<String>, body: &impl Serialize) -> HttpResponse {
    let mut response = answer_json(code, body);
    if let Some(facts) = response.extensions_mut().get_mut::<AnswerFacts>() {
        facts.external_id = result;
    }
    response
}

fn user_answer(view: &MailboxView, message: &str) -> HttpResponse {
    let id = view.mailbox.public_id.clone();
    answer_about(
        ResultCode::Success,
        Some(id.clone()),
        &UserResult {
            envelope: UsersEnvelope::new(ResultCode::Success, message, Some(id)),
            user: UserView::from(view),
        },
    )
}

fn respond(outcome: MailboxOutcome, done: &str) -> Result<HttpResponse, ApiError> {
    match outcome {
        MailboxOutcome::Created(view) => Ok(user_answer(&view, "Mailbox created.")),
        MailboxOutcome::Changed(view) => Ok(user_answer(&view, done)),
        MailboxOutcome::Unchanged(view) => Ok(user_answer(
            &view,
            "The mailbox already is as asked: nothing changed.",
        )),
        MailboxOutcome::Absent => Ok(answer(ResultEnvelope::new(
            ResultCode::Success,
            "No such mailbox: nothing to delete.",
        ))),
        MailboxOutcome::Refused(rejection) => Err(rejection.into()),
    }
}

/// The fields a UserDefinition sets, checked; the password is returned
/// apart, to be hashed.
fn fields(user: &UserDefinition) -> Result<(MailboxFields, Option<String>), Rejection> {
    let secondary_email = user
        .secondary_email
        .as_deref()
        .map(parse_secondary_email)
        .transpose()?;
    if let Some(password) = &user.password {
        check_password(password)?;
    }
    Ok((
        MailboxFields {
            display_name: user.display_name.clone(),
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            role: user.role.clone(),
            secondary_email,
            password_hash: None,
        },
        user.password.clone(),
    ))
}

/// argon2 off the async runtime.
async fn hashed(password: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(password) = password else {
        return Ok(None);
    };
    match web::block(move || password::hash(&password)).await {
        Ok(Ok(hash)) => Ok(Some(hash)),
        Ok(Err(error)) => Err(ServerError::internal(error.to_string()).into()),
        Err(error) => Err(ServerError::internal(error).into()),
    }
}

/// Lists the application's customers (paged by `PageID`, 1-based, and
/// `PageSize`; searched in name, ids and domain; by status), each with its
/// domain and count of mailboxes.
#[utoipa::path(
    post,
    path = "/api/Users/Get/Customers",
    tag = "Users",
    operation_id = "users_get_customers",
    request_body(content = CustomersListRequest, example = json!({"SearchText": "direct", "Statuses": ["Provisioned"], "PageID": 1, "PageSize": 50})),
    responses(
        (status = 200, description = "A page of customers.", body = CustomersListResult, example = json!({
            "Code": 0, "Message": "", "ErrorCode": 0, "ErrorMessage": "",
            "Customers": [{"ID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "Name": "Direct Customer Example", "PrimaryDomain": "direct.com",
                "PercentageCompleted": 100, "Status": "Provisioned", "IsTest": false, "TotalUsers": 3}],
            "TotalCustomers": 1})),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn get_customers(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(request): ContractJson<CustomersListRequest>,
) -> Result<HttpResponse, ApiError> {
    let page = request.page();
    let Some(statuses) = request.customer_statuses()? else {
        return Ok(answer_about(
            ResultCode::Success,
            None,
            &CustomersListResult {
                envelope: UsersEnvelope::new(ResultCode::Success, "", None),
                customers: Vec::new(),
                total_customers: 0,
            },
        ));
    };
    let filter = CustomerListFilter {
        customer: request.customer_id.clone(),
        search: request.search_text.clone(),
        statuses,
        is_test: request.is_test,
    };
    let (rows, total) = state
        .store
        .run(move |conn| mailboxes::customers(conn, caller.application_id, &filter, page))
        .await?;
    Ok(answer_about(
        ResultCode::Success,
        None,
        &CustomersListResult {
            envelope: UsersEnvelope::new(ResultCode::Success, "", None),
            customers: rows.iter().map(CustomerView::from).collect(),
            total_customers: total,
        },
    ))
}

/// One customer (by `ID`: our ExternalID or the BSS account id), with its
/// domain and count of mailboxes.
#[utoipa::path(
    post,
    path = "/api/Users/Get/Customer",
    tag = "Users",
    operation_id = "users_get_customer",
    request_body(content = CustomerRequest, example = json!({"ID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za"})),
    responses(
        (status = 200, description = "The customer, or -20 when there is none.", body = CustomerResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn get_customer(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(request): ContractJson<CustomerRequest>,
) -> Result<HttpResponse, ApiError> {
    if request.id.is_none() && request.account_id.is_none() {
        return Err(ApiError::bad_request(
            "ID is required to name the customer.",
        ));
    }
    let reference = CustomerRef {
        external_id: request.id.clone(),
        bss_account_id: request.account_id.clone(),
    };
    let found = state
        .store
        .run(move |conn| {
            let Some(customer) = mailboxes::find_customer(conn, caller.application_id, &reference)?
            else {
                return Ok(None);
            };
            Ok(mailboxes::summarize(conn, vec![customer])?.pop())
        })
        .await?;
    let Some(summary) = found else {
        return Err(unknown_customer().into());
    };
    let id = summary.customer.external_id.clone();
    Ok(answer_about(
        ResultCode::Success,
        Some(id.clone()),
        &CustomerResult {
            envelope: UsersEnvelope::new(ResultCode::Success, "", Some(id)),
            customer: CustomerView::from(&summary),
        },
    ))
}

fn unknown_customer() -> Rejection {
    Rejection::new(
        ResultCode::UnknownCustomer,
        "The CustomerID names no customer of this application.",
    )
}

/// A customer's mailboxes (paged by `PageID`, 1-based, and `PageSize`;
/// searched in the address and names; by status and by the services they
/// hold), how many match in all, and the customer's services with their
/// seats.
#[utoipa::path(
    post,
    path = "/api/Users/Get/List",
    tag = "Users",
    operation_id = "users_get_list",
    request_body(content = UsersListRequest, example = json!({"CustomerID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "SearchText": "pat", "Statuses": ["Provisioned"], "Services": [], "PageID": 1, "PageSize": 50})),
    responses(
        (status = 200, description = "A page of mailboxes, or -20 for an unknown customer.", body = UsersListResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn get_list(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(request): ContractJson<UsersListRequest>,
) -> Result<HttpResponse, ApiError> {
    let Some(customer_id) = request.customer_id.clone() else {
        return Err(ApiError::bad_request(
            "CustomerID is required to list mailboxes.",
        ));
    };
    let filter = MailboxFilter {
        search: request.search_text.clone(),
        statuses: request.statuses()?,
        services: request.services(),
    };
    let page = request.page();
    let found = state
        .store
        .run(move |conn| {
            let reference = CustomerRef {
                external_id: Some(customer_id),
                bss_account_id: None,
            };
            let Some(customer) = mailboxes::find_customer(conn, caller.application_id, &reference)?
            else {
                return Ok(None);
            };
            let (views, total) = mailboxes::list(conn, &customer, &filter, page)?;
            let services = mailboxes::available_services(conn, customer.id)?;
            Ok(Some((views, total, services)))
        })
        .await?;
    let Some((views, total, services)) = found else {
        return Err(unknown_customer().into());
    };
    Ok(answer_about(
        ResultCode::Success,
        None,
        &UsersListResult {
            envelope: UsersEnvelope::new(ResultCode::Success, "", None),
            users: views.iter().map(UserView::from).collect(),
            total_users: total,
            available_services: services.iter().map(UserServiceView::from).collect(),
        },
    ))
}

/// One mailbox, by `ID` or its address (`Username`, else `Email`).
#[utoipa::path(
    post,
    path = "/api/Users/Get",
    tag = "Users",
    operation_id = "users_get",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses(
        (status = 200, description = "The mailbox (never its password), or -30.", body = UserResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn get(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    let found = state
        .store
        .run(move |conn| {
            mailboxes::find(conn, caller.application_id, &reference)?
                .map(|row| mailboxes::view(conn, row))
                .transpose()
        })
        .await?;
    match found {
        Some(view) => Ok(user_answer(&view, "")),
        None => Err(Rejection::new(
            ResultCode::UnknownMailbox,
            "No mailbox of this application's customers has that ID, Username or Email.",
        )
        .into()),
    }
}

/// Adds a mailbox for the customer of `Customer` (`ID` ours, or
/// `AccountID`): the address (`Username`, else `Email`) must be on the
/// customer's domain and free across the operator. Idempotent: the same
/// address for the same customer answers that mailbox. With `ServiceID`,
/// the mailbox takes a seat of that subscription (none left: -80073, and
/// nothing is added). A `Password` is hashed (argon2), never answered.
#[utoipa::path(
    post,
    path = "/api/Users/Add",
    tag = "Users",
    operation_id = "users_add",
    request_body(content = UserDefinition, example = json!(user_example())),
    responses(
        (status = 200, description = "Created (or found again), or refused.", body = UserResult, examples(
            ("Created" = (value = json!({
                "Code": 0, "Message": "Mailbox created.", "ErrorCode": 0, "ErrorMessage": "Mailbox created.",
                "Result": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y", "ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y",
                "Customer": {"ID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "AccountID": "3000", "Name": "Direct Customer Example", "IsTest": false},
                "FirstName": "Pat", "LastName": "Jones", "DisplayName": "Pat Jones",
                "Username": "pat.jones@direct.com", "Email": "pat.jones@direct.com", "Status": "Provisioned",
                "Role": "User", "PercentageCompleted": 100, "TotalServices": 1, "SecondaryEmail": "pat@home.example",
                "HasPassword": false}))),
            ("No seats left" = (summary = "A storefront error", value = json!({
                "Code": -80073, "ErrorCode": -80073,
                "Message": "No mailbox seat is free on this subscription: 0 seats left of 10 (10 in use). Order more seats first.",
                "ErrorMessage": "No mailbox seat is free on this subscription: 0 seats left of 10 (10 in use). Order more seats first."}))),
        )),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn add(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let Some(address) = user.address().transpose()? else {
        return Err(ApiError::bad_request(
            "Username or Email is required: the mailbox's address.",
        ));
    };
    let customer = user.customer_ref();
    if customer.external_id.is_none() && customer.bss_account_id.is_none() {
        return Err(ApiError::bad_request(
            "Customer.ID or Customer.AccountID is required to name the customer.",
        ));
    }
    let (mut fields, password) = fields(&user)?;
    fields.password_hash = hashed(password).await?;
    let mails_link = fields.password_hash.is_none();
    let new = NewMailbox {
        application_id: caller.application_id,
        customer,
        address,
        fields,
        service: user.service_id.clone(),
    };
    let outcome = state
        .store
        .run(move |conn| mailboxes::add(conn, &new))
        .await?;
    if mails_link && matches!(outcome, MailboxOutcome::Created(_)) {
        // The set-password mail was queued with the mailbox; it is due now.
        state.outbox.wake_worker();
    }
    respond(outcome, "Mailbox updated.")
}

/// Changes a mailbox's names, role, secondary email or password (fields
/// left out keep their value); named by `ID`, a new `Username` changes its
/// address (on the same domain, free across the operator).
#[utoipa::path(
    post,
    path = "/api/Users/Update",
    tag = "Users",
    operation_id = "users_update",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y", "DisplayName": "Pat J."})),
    responses(
        (status = 200, description = "Updated, unchanged, or refused.", body = UserResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn update(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    let (mut fields, password) = fields(&user)?;
    fields.password_hash = hashed(password).await?;
    let outcome = state
        .store
        .run(move |conn| mailboxes::update(conn, caller.application_id, &reference, &fields))
        .await?;
    respond(outcome, "Mailbox updated.")
}

/// Resets a mailbox's password (named by `ID`, `Username` or `Email`).
/// With a `Password`, that password is hashed (argon2) and stored. Without
/// one, the mailbox's owner is mailed a one-time link to set a password:
/// to its `SecondaryEmail`, else the customer's contact email, else the
/// account's (none of them: -80077). The link expires like an activation
/// link, and a new reset makes the earlier links stop working; the current
/// password stays until the owner sets a new one.
#[utoipa::path(
    post,
    path = "/api/Users/Password/Reset",
    tag = "Users",
    operation_id = "users_password_reset",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses(
        (status = 200, description = "A set-password link is queued (or the given password stored), or refused.", body = UserResult, examples(
            ("Link queued" = (value = json!({
                "Code": 0, "Message": "A link to set the password is on its way to the mailbox's owner.",
                "ErrorCode": 0, "ErrorMessage": "A link to set the password is on its way to the mailbox's owner.",
                "Result": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y", "ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y",
                "Customer": {"ID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "AccountID": "3000", "Name": "Direct Customer Example", "IsTest": false},
                "FirstName": "Pat", "LastName": "Jones", "DisplayName": "Pat Jones",
                "Username": "pat.jones@direct.com", "Email": "pat.jones@direct.com", "Status": "Provisioned",
                "Role": "User", "PercentageCompleted": 100, "TotalServices": 1, "SecondaryEmail": "pat@home.example",
                "HasPassword": true}))),
            ("No address" = (summary = "A storefront error", value = json!({
                "Code": -80077, "ErrorCode": -80077,
                "Message": "No password was given and there is no email address to send the set-password link to: give the mailbox a SecondaryEmail (or the account a contact email), or a Password.",
                "ErrorMessage": "No password was given and there is no email address to send the set-password link to: give the mailbox a SecondaryEmail (or the account a contact email), or a Password."}))),
        )),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
        (status = 503, description = "The database is unavailable.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn password_reset(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    if let Some(password) = &user.password {
        check_password(password)?;
    }
    let password_hash = hashed(user.password.clone()).await?;
    let mails_link = password_hash.is_none();
    let outcome = state
        .store
        .run(move |conn| {
            mailboxes::reset_password(
                conn,
                caller.application_id,
                &reference,
                password_hash.as_deref(),
            )
        })
        .await?;
    let changed = matches!(outcome, MailboxOutcome::Changed(_));
    if mails_link && changed {
        state.outbox.wake_worker();
    }
    respond(
        outcome,
        if mails_link {
            "A link to set the password is on its way to the mailbox's owner."
        } else {
            "Password set."
        },
    )
}

/// Deletes a mailbox: its seats are free and its address too. Deleting a
/// mailbox that is not there answers 0 (a retry).
#[utoipa::path(
    post,
    path = "/api/Users/Delete",
    tag = "Users",
    operation_id = "users_delete",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses(
        (status = 200, description = "Deleted (the answer shows what was), or not there.", body = UserResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn delete(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    let outcome = state
        .store
        .run(move |conn| mailboxes::delete(conn, caller.application_id, &reference))
        .await?;
    respond(outcome, "Mailbox deleted.")
}

async fn status(
    state: web::Data<ContractState>,
    caller: Caller,
    user: UserDefinition,
    action: MailboxAction,
    done: &'static str,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    let outcome = state
        .store
        .run(move |conn| mailboxes::change_status(conn, caller.application_id, &reference, action))
        .await?;
    respond(outcome, done)
}

/// Disables a mailbox (provisioned or in progress); disabling again
/// answers 0; a deprovisioned one answers -32.
#[utoipa::path(
    post,
    path = "/api/Users/Disable",
    tag = "Users",
    operation_id = "users_disable",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses((status = 200, description = "Disabled, already disabled, or refused.", body = UserResult)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn disable(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Mailbox disabled.";
    status(state, caller, user, MailboxAction::Disable, done).await
}

/// Activates a disabled mailbox (it is Provisioned again).
#[utoipa::path(
    post,
    path = "/api/Users/Activate",
    tag = "Users",
    operation_id = "users_activate",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses((status = 200, description = "Activated, already active, or refused.", body = UserResult)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn activate(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Mailbox activated.";
    status(state, caller, user, MailboxAction::Activate, done).await
}

/// Provisions a deprovisioned mailbox again (without seats: add its
/// services again).
#[utoipa::path(
    post,
    path = "/api/Users/Provision",
    tag = "Users",
    operation_id = "users_provision",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses((status = 200, description = "Provisioned, already provisioned, or refused.", body = UserResult)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn provision(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Mailbox provisioned.";
    status(state, caller, user, MailboxAction::Provision, done).await
}

/// Deprovisions a mailbox: it keeps its address and gives its seats back.
#[utoipa::path(
    post,
    path = "/api/Users/DeProvision",
    tag = "Users",
    operation_id = "users_deprovision",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses((status = 200, description = "Deprovisioned, or already.", body = UserResult)),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn deprovision(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let done = "Mailbox deprovisioned.";
    status(state, caller, user, MailboxAction::Deprovision, done).await
}

/// The services (subscriptions) a mailbox holds seats of.
#[utoipa::path(
    post,
    path = "/api/Users/Service/Get/List",
    tag = "Users",
    operation_id = "users_service_get_list",
    request_body(content = UserDefinition, example = json!({"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"})),
    responses(
        (status = 200, description = "The mailbox's services, or -30.", body = ServicesResult, example = json!({
            "Code": 0, "Message": "", "ErrorCode": 0, "ErrorMessage": "", "Result": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y",
            "Services": [{"ID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "Name": "Hosted mailbox Business", "Enabled": true,
                "Status": "Provisioned", "PercentageCompleted": 100, "IsDefault": false, "TotalSeats": 10, "SeatsLeft": 7}]})),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn service_list(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(user): ContractJson<UserDefinition>,
) -> Result<HttpResponse, ApiError> {
    let reference = user.reference()?;
    let found = state
        .store
        .run(move |conn| {
            let Some(row) = mailboxes::find(conn, caller.application_id, &reference)? else {
                return Ok(None);
            };
            let services = mailboxes::services_of(conn, row.id)?;
            Ok(Some((row.public_id, services)))
        })
        .await?;
    let Some((id, services)) = found else {
        return Err(Rejection::new(
            ResultCode::UnknownMailbox,
            "No mailbox of this application's customers has that ID, Username or Email.",
        )
        .into());
    };
    Ok(answer_about(
        ResultCode::Success,
        Some(id.clone()),
        &ServicesResult {
            envelope: UsersEnvelope::new(ResultCode::Success, "", Some(id)),
            services: services.iter().map(UserServiceView::from).collect(),
        },
    ))
}

fn service_id(request: &UserServiceRequest) -> Result<String, ApiError> {
    request
        .service_id
        .clone()
        .ok_or_else(|| ApiError::bad_request("ServiceID is required: the subscription (sub_...)."))
}

/// The mailbox (`User`) takes a seat of the subscription `ServiceID` (a
/// `sub_...` of its customer). No seat left: -80073, saying how many are.
/// Holding it already answers 0.
#[utoipa::path(
    post,
    path = "/api/Users/Service/Add",
    tag = "Users",
    operation_id = "users_service_add",
    request_body(content = UserServiceRequest, example = json!({"ServiceID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "User": {"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"}})),
    responses(
        (status = 200, description = "Added, already held, or refused.", body = UserResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn service_add(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(request): ContractJson<UserServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let service = service_id(&request)?;
    let reference = request.user.unwrap_or_default().reference()?;
    let outcome = state
        .store
        .run(move |conn| mailboxes::add_service(conn, caller.application_id, &reference, &service))
        .await?;
    respond(outcome, "Service added to the mailbox.")
}

/// The mailbox (`User`) gives its seat of `ServiceID` back (not holding
/// one answers 0).
#[utoipa::path(
    post,
    path = "/api/Users/Service/Delete",
    tag = "Users",
    operation_id = "users_service_delete",
    request_body(content = UserServiceRequest, example = json!({"ServiceID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0", "User": {"ID": "mbx_01jdxb7c2e4g6j8m0p2r4t6w8y"}})),
    responses(
        (status = 200, description = "Removed, not held, or refused.", body = UserResult),
        (status = 401, description = "Missing or wrong credentials.", body = ResultEnvelope),
    ),
    security(("ApplicationId" = [], "ApiKey" = []))
)]
pub async fn service_delete(
    state: web::Data<ContractState>,
    caller: Caller,
    ContractJson(request): ContractJson<UserServiceRequest>,
) -> Result<HttpResponse, ApiError> {
    let service = service_id(&request)?;
    let reference = request.user.unwrap_or_default().reference()?;
    let outcome = state
        .store
        .run(move |conn| {
            mailboxes::remove_service(conn, caller.application_id, &reference, &service)
        })
        .await?;
    respond(outcome, "Service removed from the mailbox.")
}
