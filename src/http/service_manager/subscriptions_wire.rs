//! The wire types of the `Subscriptions/*` calls: the ServiceDefinition the
//! BSS sends (read as leniently as an AccountDefinition) and the
//! ServiceResultDefinition Mailroom answers.

use std::collections::BTreeMap;

use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::wire::{AccountDefinition, ResultEnvelope};
use crate::domain::subscription::{ADDON_ID_KEY, SUBSCRIPTION_ID_KEY};
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
    /// Units: for mailboxes, seats. A number, or a numeric string (`"5"`).
    #[serde(default, deserialize_with = "lenient_quantity")]
    #[schema(value_type = Option<i64>)]
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
    /// The add-ons; on `Addons/*` the ones to act on carry `ActionType`
    /// `Provision` (create, update) or `Cancel`.
    pub addons: Option<Vec<AddonDefinition>>,
}

/// An add-on of a ServiceDefinition's `Addons` list.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AddonDefinition {
    /// Our add-on id (`sub_...`) once we answered one; the BSS's otherwise.
    #[serde(rename = "ID")]
    pub id: Option<String>,
    #[serde(rename = "ParentID")]
    pub parent_id: Option<String>,
    pub name: Option<String>,
    /// The BSS's product (plan) id of the add-on.
    #[serde(rename = "ProductID")]
    pub product_id: Option<String>,
    /// `Provision` (create, update) or `Cancel`.
    pub action_type: Option<String>,
    /// A number, or a numeric string; 1 when a new add-on leaves it out.
    #[serde(default, deserialize_with = "lenient_quantity")]
    #[schema(value_type = Option<i64>)]
    pub quantity: Option<i64>,
    /// Attribute id → `{ID, Name, Value, ...}` (a list of them is read too).
    #[schema(value_type = Option<Object>)]
    pub attribute_list: Option<Value>,
    /// Not in the contract's add-on: the product type, when the ProductID
    /// is new and the catalog sells more than one add-on type.
    pub service_type: Option<String>,
    /// What Mailroom answered earlier as `ExtraInfo` (its `addon_id`).
    #[schema(value_type = Option<Object>)]
    pub extra_details: Option<BTreeMap<String, Value>>,
}

impl AddonDefinition {
    /// Our id of the add-on: `ID` when it is one of ours, else
    /// `ExtraDetails.addon_id`.
    pub fn effective_id(&self) -> Option<String> {
        self.id
            .clone()
            .filter(|id| id.starts_with("sub_"))
            .or_else(|| {
                self.extra_details
                    .as_ref()?
                    .get(ADDON_ID_KEY)
                    .and_then(text)
            })
    }

    /// The attribute values sent; `None` when `AttributeList` is left out.
    pub fn attribute_values(&self) -> Option<BTreeMap<String, String>> {
        attribute_values(self.attribute_list.as_ref())
    }
}

/// A quantity read as liberally as the AccountDefinition's fields: a whole
/// number, or a string holding one; a number beyond any range reads as the
/// largest (the order then refuses it as out of range).
fn lenient_quantity<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    const EXPECTED: &str = "a whole number of units";
    let value = Option::<Value>::deserialize(deserializer)?;
    let saturated = |negative: bool| if negative { i64::MIN } else { i64::MAX };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0)
                    // `as` saturates at the ends of i64.
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| {
                de::Error::invalid_value(de::Unexpected::Other("a fraction"), &EXPECTED)
            }),
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(de::Error::invalid_value(de::Unexpected::Str(t), &EXPECTED));
            }
            Ok(Some(
                t.parse().unwrap_or_else(|_| saturated(t.starts_with('-'))),
            ))
        }
        Some(Value::Bool(b)) => Err(de::Error::invalid_type(de::Unexpected::Bool(b), &EXPECTED)),
        Some(_) => Err(de::Error::invalid_type(de::Unexpected::Map, &EXPECTED)),
    }
}

/// Attribute values: id → value as text (the `Value` of each attribute
/// object, or a bare value); `None` when no list was sent.
fn attribute_values(list: Option<&Value>) -> Option<BTreeMap<String, String>> {
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
    match list? {
        Value::Object(map) => {
            for (key, value) in map {
                add(Some(key.clone()), value);
            }
        }
        Value::Array(list) => {
            for value in list {
                add(None, value);
            }
        }
        _ => return None,
    }
    Some(values)
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

    /// The attribute values sent: id → value as text; `None` when
    /// `AttributeList` is left out (an Update then keeps the stored ones).
    pub fn attribute_values(&self) -> Option<BTreeMap<String, String>> {
        attribute_values(self.attribute_list.as_ref())
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
