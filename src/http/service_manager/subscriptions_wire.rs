//! The wire types of the `Subscriptions/*` calls: the ServiceDefinition the
//! BSS sends (read as leniently as an AccountDefinition) and the
//! ServiceResultDefinition Mailroom answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::wire::{AccountDefinition, ResultEnvelope};
use crate::domain::subscription::SUBSCRIPTION_ID_KEY;
use crate::domain::ResultCode;

/// A subscription as the BSS sends it (the contract's ServiceDefinition).
/// Names are matched case-insensitively; unknown fields are ignored.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[schema(example = json!(seed_service_example()))]
pub struct ServiceDefinition {
    /// Our subscription id: empty on Create, ours afterwards.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    /// The BSS's subscription id.
    #[serde(rename = "SubscriptionID")]
    pub subscription_id: Option<String>,
    /// The one it replaces on an upgrade.
    #[serde(rename = "OriginalSubscriptionID")]
    pub original_subscription_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// A product type id of `Fields/ServiceDefinition`.
    pub service_type: Option<String>,
    /// The BSS's product (plan) id.
    #[serde(rename = "ProductID")]
    pub product_id: Option<String>,
    pub action_type: Option<String>,
    /// Units: for mailboxes, seats.
    pub quantity: Option<i64>,
    pub status: Option<String>,
    /// The customer (its `ExternalID` is ours).
    pub account: Option<AccountDefinition>,
    /// Attribute id → `{ID, Name, Value, ...}` (a list of them is read too).
    #[schema(value_type = Option<Object>)]
    pub attribute_list: Option<Value>,
    pub is_test: Option<bool>,
    pub is_trial: Option<bool>,
    /// True: validate only, change nothing.
    pub check_only: Option<bool>,
    /// What Mailroom answered earlier as `ExtraInfo`.
    #[schema(value_type = Option<Object>)]
    pub extra_details: Option<BTreeMap<String, Value>>,
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn field<'a>(object: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

impl ServiceDefinition {
    /// Our id: `ID`, else `ExtraDetails.subscription_id`.
    pub fn effective_id(&self) -> Option<String> {
        self.id.clone().or_else(|| {
            self.extra_details
                .as_ref()?
                .get(SUBSCRIPTION_ID_KEY)
                .and_then(text)
        })
    }

    /// The attribute values: id → value as text (the `Value` of each
    /// attribute object, or a bare value).
    pub fn attribute_values(&self) -> BTreeMap<String, String> {
        let mut values = BTreeMap::new();
        let mut add = |key: Option<String>, value: &Value| {
            let (key, value) = match value {
                Value::Object(object) => (
                    key.or_else(|| field(object, "ID").and_then(text)),
                    field(object, "Value").and_then(text),
                ),
                other => (key, text(other)),
            };
            if let (Some(key), Some(value)) = (key, value) {
                values.insert(key, value);
            }
        };
        match &self.attribute_list {
            Some(Value::Object(map)) => {
                for (key, value) in map {
                    add(Some(key.clone()), value);
                }
            }
            Some(Value::Array(list)) => {
                for value in list {
                    add(None, value);
                }
            }
            _ => {}
        }
        values
    }

    pub fn is_check_only(&self) -> bool {
        self.check_only.unwrap_or(false)
    }
}

/// The answer of every `Subscriptions/*` call (the contract's
/// ServiceResultDefinition): the result envelope, `Result` our subscription
/// id, `ExtraInfo` (sent back as `ExtraDetails`), the customer's
/// `AccountExtraInfo`, and `SendNotification` (always false: Mailroom
/// sends its own mail).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ServiceResultDefinition {
    #[serde(rename = "Code")]
    pub code: i32,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "ErrorCode")]
    pub error_code: i32,
    #[serde(rename = "ErrorMessage")]
    pub error_message: String,
    #[serde(rename = "Result", skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(rename = "ExtraInfo")]
    pub extra_info: BTreeMap<String, String>,
    #[serde(rename = "AccountExtraInfo")]
    pub account_extra_info: BTreeMap<String, String>,
    #[serde(rename = "SendNotification")]
    pub send_notification: bool,
}

impl ServiceResultDefinition {
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        let envelope = ResultEnvelope::new(code, message);
        Self {
            code: envelope.code,
            message: envelope.message,
            error_code: envelope.error_code,
            error_message: envelope.error_message,
            result: None,
            extra_info: BTreeMap::new(),
            account_extra_info: BTreeMap::new(),
            send_notification: false,
        }
    }
}

/// A Create as the BSS sends it for a first order of mailboxes.
pub fn seed_service_example() -> Value {
    json!({
        "ID": "",
        "SubscriptionID": "51234",
        "Name": "Hosted mailbox Business",
        "ServiceType": "hosted_mailbox",
        "ProductID": "1207",
        "ActionType": "Provision",
        "Quantity": 10,
        "Status": "Active",
        "Account": {"ID": "3000", "ExternalID": "cus_01jdx9k3v7s0m8w2q4r6t8y0za", "Name": "Direct Customer Example"},
        "BillingAccountID": 3000,
        "AttributeList": {
            "storage_gb": {"ID": "storage_gb", "Name": "Storage per mailbox (GB)", "Value": "50", "QuantityLinked": true, "DataType": 1},
            "mailbox_type": {"ID": "mailbox_type", "Name": "Mailbox type", "Value": "business", "QuantityLinked": false, "DataType": 0}
        },
        "BillingCycle": {"Duration": "1", "DurationType": "Months"},
        "IsTest": false, "IsTrial": false, "IsFromOrder": true,
        "AllowMultipleSubscriptions": true, "CheckOnly": false,
        "ExtraDetails": {},
        "RequestedBy": {"ID": 12, "FirstName": "Pat", "LastName": "Jones", "Type": "Storefront"}
    })
}
