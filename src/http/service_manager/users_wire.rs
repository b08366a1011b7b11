//! The wire types of the `Users/*` calls (mailboxes): the UserDefinition,
//! list requests and service requests the BSS sends (read as leniently as
//! every contract body: names in any case, unknown fields ignored), and the
//! answers: the result envelope's fields beside the contract's objects.
//! A password is read, never written.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::wire::ResultEnvelope;
use crate::domain::customer::CustomerStatus;
use crate::domain::mailbox::{MailboxAddress, MailboxStatus};
use crate::domain::{Rejection, ResultCode};
use crate::store::mailboxes::{
    CustomerBrief, CustomerRef, CustomerSummary, MailboxRef, MailboxView, Page, ServiceView,
};

/// Rows a page holds when the BSS sends no `PageSize`.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// The most rows a page holds.
pub const MAX_PAGE_SIZE: i64 = 500;

/// The customer of a mailbox: `ID` is ours (the ExternalID), `AccountID`
/// the BSS's account id; either names it.
#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserCustomer {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "AccountID")]
    pub account_id: Option<String>,
    pub name: Option<String>,
    pub is_test: Option<bool>,
}

/// A mailbox as the BSS sends it (the contract's UserDefinition). `ID` is
/// ours (`mbx_...`); `Username` (else `Email`) is the address.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!(user_example()))]
pub struct UserDefinition {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    pub customer: Option<UserCustomer>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    /// The mailbox address, `local@domain` on the customer's domain.
    pub username: Option<String>,
    /// The address, when `Username` is empty.
    pub email: Option<String>,
    /// Hashed (argon2) and never answered. `Users/Add` without one leaves
    /// the mailbox without a password.
    pub password: Option<String>,
    pub role: Option<String>,
    pub secondary_email: Option<String>,
    /// Mailroom's addition for `Users/Add`: a subscription (`sub_...`) the
    /// new mailbox takes a seat of.
    #[serde(rename = "ServiceID")]
    pub service_id: Option<String>,
}

impl UserDefinition {
    /// The address the call names, parsed.
    pub fn address(&self) -> Option<Result<MailboxAddress, Rejection>> {
        self.username
            .as_deref()
            .or(self.email.as_deref())
            .map(MailboxAddress::parse)
    }

    /// The mailbox the call names: `ID`, else the address.
    pub fn reference(&self) -> Result<MailboxRef, Rejection> {
        let address = self.address().transpose()?;
        if self.id.is_none() && address.is_none() {
            return Err(Rejection::new(
                ResultCode::BadRequest,
                "ID, Username or Email is required to name the mailbox.",
            ));
        }
        Ok(MailboxRef {
            public_id: self.id.clone(),
            address,
        })
    }

    pub fn customer_ref(&self) -> CustomerRef {
        let customer = self.customer.clone().unwrap_or_default();
        CustomerRef {
            external_id: customer.id,
            bss_account_id: customer.account_id,
        }
    }
}

/// `Users/Service/Add` and `Users/Service/Delete`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserServiceRequest {
    /// Our subscription id (`sub_...`, the `Result` of `Subscriptions/Create`).
    #[serde(rename = "ServiceID")]
    pub service_id: Option<String>,
    pub user: Option<UserDefinition>,
}

/// Reads `Statuses` or `Services` items: text, a number, or an object with
/// an `ID`.
fn item_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(object) => object
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case("ID"))
            .and_then(|(_, v)| item_text(v)),
        _ => None,
    }
}

fn statuses(values: &Option<Vec<Value>>) -> Result<Vec<MailboxStatus>, Rejection> {
    values
        .iter()
        .flatten()
        .filter_map(item_text)
        .map(|text| {
            MailboxStatus::from_wire(&text).ok_or_else(|| {
                Rejection::new(
                    ResultCode::BadRequest,
                    format!(
                        "Statuses: \"{text}\" is not Provisioned, Deprovisioned, Disabled or InProgress."
                    ),
                )
            })
        })
        .collect()
}

fn page(page_id: Option<i64>, page_size: Option<i64>) -> Page {
    Page {
        number: page_id.unwrap_or(1).max(1),
        size: match page_size {
            Some(size) if size > 0 => size.min(MAX_PAGE_SIZE),
            _ => DEFAULT_PAGE_SIZE,
        },
    }
}

/// `Users/Get/Customers` (the contract's CustomersListRequest). `PageID`
/// is the 1-based page number.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CustomersListRequest {
    /// One customer: our ExternalID or the BSS account id.
    #[serde(rename = "CustomerID")]
    pub customer_id: Option<String>,
    pub search_text: Option<String>,
    /// Customer statuses as the contract names them (`Provisioned`: active,
    /// `Disabled`: suspended, `Deprovisioned`: deleted).
    #[schema(value_type = Option<Vec<String>>)]
    pub statuses: Option<Vec<Value>>,
    #[serde(rename = "PageID")]
    pub page_id: Option<i64>,
    pub page_size: Option<i64>,
    pub is_test: Option<bool>,
}

impl CustomersListRequest {
    /// The customer statuses asked for; `None` when every status asked
    /// for is one no customer has (InProgress).
    pub fn customer_statuses(&self) -> Result<Option<Vec<CustomerStatus>>, Rejection> {
        let asked = statuses(&self.statuses)?;
        let mapped: Vec<CustomerStatus> =
            asked.iter().filter_map(|s| customer_status(*s)).collect();
        Ok((asked.is_empty() || !mapped.is_empty()).then_some(mapped))
    }

    pub fn page(&self) -> Page {
        page(self.page_id, self.page_size)
    }
}

fn customer_status(status: MailboxStatus) -> Option<CustomerStatus> {
    match status {
        MailboxStatus::Provisioned => Some(CustomerStatus::Active),
        MailboxStatus::Disabled => Some(CustomerStatus::Suspended),
        MailboxStatus::Deprovisioned => Some(CustomerStatus::Deleted),
        MailboxStatus::InProgress => None,
    }
}

fn customer_wire_status(status: CustomerStatus) -> MailboxStatus {
    match status {
        CustomerStatus::Active => MailboxStatus::Provisioned,
        CustomerStatus::Suspended => MailboxStatus::Disabled,
        CustomerStatus::Deleted => MailboxStatus::Deprovisioned,
    }
}

/// `Users/Get/Customer`: `ID` (our ExternalID, or the BSS account id).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerRequest {
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "AccountID")]
    pub account_id: Option<String>,
}

/// `Users/Get/List` (the contract's UsersListRequest). `PageID` is the
/// 1-based page number.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UsersListRequest {
    /// The customer: our ExternalID or the BSS account id.
    #[serde(rename = "CustomerID")]
    pub customer_id: Option<String>,
    pub search_text: Option<String>,
    #[schema(value_type = Option<Vec<String>>)]
    pub statuses: Option<Vec<Value>>,
    /// Subscriptions (`sub_...`, or UserService objects): mailboxes
    /// holding any of them.
    #[schema(value_type = Option<Vec<String>>)]
    pub services: Option<Vec<Value>>,
    #[serde(rename = "PageID")]
    pub page_id: Option<i64>,
    pub page_size: Option<i64>,
    pub is_test: Option<bool>,
}

impl UsersListRequest {
    pub fn statuses(&self) -> Result<Vec<MailboxStatus>, Rejection> {
        statuses(&self.statuses)
    }

    pub fn services(&self) -> Vec<String> {
        self.services
            .iter()
            .flatten()
            .filter_map(item_text)
            .collect()
    }

    pub fn page(&self) -> Page {
        page(self.page_id, self.page_size)
    }
}

/// A mailbox's customer, as answered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserCustomerView {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "AccountID")]
    pub account_id: Option<String>,
    pub name: String,
    pub is_test: bool,
}

impl From<&CustomerBrief> for UserCustomerView {
    fn from(customer: &CustomerBrief) -> Self {
        Self {
            id: customer.external_id.clone(),
            account_id: customer.bss_account_id.clone(),
            name: customer.name.clone(),
            is_test: customer.is_test,
        }
    }
}

/// A mailbox, as answered (the contract's UserDefinition without its
/// password).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserView {
    #[serde(rename = "ID")]
    pub id: String,
    pub customer: UserCustomerView,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub display_name: Option<String>,
    pub username: String,
    pub email: String,
    /// `Provisioned`, `Deprovisioned`, `Disabled` or `InProgress`.
    pub status: String,
    pub role: Option<String>,
    pub percentage_completed: i32,
    pub total_services: i64,
    pub secondary_email: Option<String>,
    /// False until the mailbox's owner (or the BSS) set a password.
    pub has_password: bool,
}

impl From<&MailboxView> for UserView {
    fn from(view: &MailboxView) -> Self {
        let mailbox = &view.mailbox;
        let status = MailboxStatus::from_stored(&mailbox.status);
        Self {
            id: mailbox.public_id.clone(),
            customer: UserCustomerView::from(&view.customer),
            first_name: mailbox.first_name.clone(),
            last_name: mailbox.last_name.clone(),
            display_name: mailbox.display_name.clone(),
            username: mailbox.address.clone(),
            email: mailbox.address.clone(),
            status: status.map_or_else(|| mailbox.status.clone(), |s| s.wire_name().to_owned()),
            role: mailbox.role.clone(),
            percentage_completed: if status == Some(MailboxStatus::InProgress) {
                0
            } else {
                100
            },
            total_services: view.services,
            secondary_email: mailbox.secondary_email.clone(),
            has_password: mailbox.password_hash.is_some(),
        }
    }
}

/// A service a mailbox holds or may hold (the contract's UserService):
/// `ID` is our subscription id, `Name` its plan's name.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserServiceView {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    /// True while the subscription is active.
    pub enabled: bool,
    pub status: String,
    pub percentage_completed: i32,
    pub is_default: bool,
    /// Mailroom's addition: seats bought (the subscription's quantity).
    pub total_seats: i64,
    /// Mailroom's addition: seats free.
    pub seats_left: i64,
}

impl From<&ServiceView> for UserServiceView {
    fn from(service: &ServiceView) -> Self {
        let active = service.status == "active";
        Self {
            id: service.public_id.clone(),
            name: service.plan_name.clone(),
            enabled: active,
            status: if active {
                MailboxStatus::Provisioned
            } else {
                MailboxStatus::Deprovisioned
            }
            .wire_name()
            .to_owned(),
            percentage_completed: 100,
            is_default: false,
            total_seats: service.seats.quantity,
            seats_left: service.seats.left(),
        }
    }
}

/// A customer, as `Users/Get/Customers` lists it (the contract's
/// CustomerDefinition).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CustomerView {
    /// Our ExternalID.
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    /// The customer's mail domain.
    pub primary_domain: Option<String>,
    pub percentage_completed: i32,
    /// `Provisioned` (active), `Disabled` (suspended), `Deprovisioned` (deleted).
    pub status: String,
    pub is_test: bool,
    pub total_users: i64,
}

impl From<&CustomerSummary> for CustomerView {
    fn from(summary: &CustomerSummary) -> Self {
        Self {
            id: summary.customer.external_id.clone(),
            name: summary.customer.name.clone(),
            primary_domain: summary.domain.clone(),
            percentage_completed: 100,
            status: customer_wire_status(summary.customer.status)
                .wire_name()
                .to_owned(),
            is_test: summary.customer.is_test,
            total_users: summary.mailboxes,
        }
    }
}

/// The result envelope's fields, beside an answer's objects.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UsersEnvelope {
    #[serde(rename = "Code")]
    pub code: i32,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: i32,
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    /// The mailbox's id, where the call is about one.
    #[serde(rename = "Result", skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl UsersEnvelope {
    pub fn new(code: ResultCode, message: impl Into<String>, result: Option<String>) -> Self {
        let envelope = ResultEnvelope::new(code, message);
        Self {
            code: envelope.code,
            message: envelope.message,
            error_code: envelope.error_code,
            error_message: envelope.error_message,
            result,
        }
    }
}

/// The answer about one mailbox: the envelope (`Result` its id) and the
/// mailbox's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResult {
    #[serde(flatten)]
    pub envelope: UsersEnvelope,
    #[serde(flatten)]
    pub user: UserView,
}

/// `Users/Get/List`: a page of mailboxes, how many match in all, and the
/// customer's services.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsersListResult {
    #[serde(flatten)]
    pub envelope: UsersEnvelope,
    #[serde(rename = "Users")]
    pub users: Vec<UserView>,
    #[serde(rename = "TotalUsers")]
    pub total_users: i64,
    #[serde(rename = "AvailableServices")]
    pub available_services: Vec<UserServiceView>,
}

/// `Users/Get/Customers`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomersListResult {
    #[serde(flatten)]
    pub envelope: UsersEnvelope,
    #[serde(rename = "Customers")]
    pub customers: Vec<CustomerView>,
    #[serde(rename = "TotalCustomers")]
    pub total_customers: i64,
}

/// `Users/Get/Customer`: the envelope and the customer's fields.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResult {
    #[serde(flatten)]
    pub envelope: UsersEnvelope,
    #[serde(flatten)]
    pub customer: CustomerView,
}

/// `Users/Service/Get/List`: the services a mailbox holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServicesResult {
    #[serde(flatten)]
    pub envelope: UsersEnvelope,
    #[serde(rename = "Services")]
    pub services: Vec<UserServiceView>,
}

/// A `Users/Add` as the BSS may send it.
pub fn user_example() -> Value {
    json!({
        "ID": "",
        "Customer": {"ID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "AccountID": "3000", "Name": "Direct Customer Example", "IsTest": false},
        "FirstName": "Pat",
        "LastName": "Jones",
        "DisplayName": "Pat Jones",
        "Username": "pat.jones@direct.com",
        "Email": "pat.jones@direct.com",
        "Password": "",
        "Status": "Provisioned",
        "Role": "User",
        "PercentageCompleted": 0,
        "TotalServices": 0,
        "SecondaryEmail": "pat@home.example",
        "ServiceID": "sub_01jdxa2m7d5q8r1t3v5w7y9zb0"
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::service_manager::bss_json::from_value;

    #[test]
    fn requests_are_read_in_any_case() {
        let user: UserDefinition = from_value(json!({
            "id": "mbx_1", "CUSTOMER": {"accountid": "3000"}, "userName": " Pat@Example.com ",
            "serviceid": "sub_1", "Password": ""
        }))
        .unwrap();
        assert_eq!(user.id.as_deref(), Some("mbx_1"));
        assert_eq!(user.customer_ref().bss_account_id.as_deref(), Some("3000"));
        assert_eq!(user.service_id.as_deref(), Some("sub_1"));
        assert!(user.password.is_none(), "a blank password is none");
        let reference = user.reference().unwrap();
        assert_eq!(reference.address.unwrap().normalized(), "pat@example.com");

        let list: UsersListRequest = from_value(json!({
            "customerId": "cus_1", "STATUSES": ["disabled", 3], "services": [{"id": "sub_1"}, "sub_2"],
            "pageid": 2, "PageSize": 10000
        }))
        .unwrap();
        assert_eq!(
            list.statuses().unwrap(),
            vec![MailboxStatus::Disabled, MailboxStatus::InProgress]
        );
        assert_eq!(list.services(), vec!["sub_1", "sub_2"]);
        assert_eq!(
            list.page(),
            Page {
                number: 2,
                size: MAX_PAGE_SIZE
            }
        );
    }

    #[test]
    fn customer_statuses_map_to_ours() {
        let request = |statuses: Value| -> CustomersListRequest {
            from_value(json!({ "Statuses": statuses })).unwrap()
        };
        assert_eq!(
            request(json!([])).customer_statuses().unwrap(),
            Some(vec![])
        );
        assert_eq!(
            request(json!(["Disabled"])).customer_statuses().unwrap(),
            Some(vec![CustomerStatus::Suspended])
        );
        assert_eq!(
            request(json!(["InProgress"])).customer_statuses().unwrap(),
            None
        );
        assert!(request(json!(["Bogus"])).customer_statuses().is_err());
    }
}
