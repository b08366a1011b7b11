//! ConnectWise Manage's JSON, as far as Mailroom reads and writes it. The
//! write types carry only what a quantity sync may send: a product, a
//! quantity and `billCustomer`; no cost, price or description field exists
//! on them, so none can be sent.

use serde::{Deserialize, Serialize};

/// `GET system/info`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    pub version: String,
    #[serde(default)]
    pub is_cloud: bool,
    #[serde(default)]
    pub cloud_region: Option<String>,
}

/// A reference to another record (`company`, `product`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `procurement/catalog`: an item an addition can sell.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub id: i64,
    pub identifier: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub inactive_flag: bool,
}

/// `company/companies`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: i64,
    #[serde(default)]
    pub identifier: String,
    pub name: String,
    #[serde(default)]
    pub deleted_flag: bool,
}

/// `finance/agreements`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: i64,
    pub name: String,
    pub company: Reference,
    #[serde(default)]
    pub cancelled_flag: bool,
    #[serde(default)]
    pub agreement_status: Option<String>,
}

/// `finance/agreements/{id}/additions`: a product line of an agreement.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub id: i64,
    pub product: Reference,
    #[serde(default)]
    pub quantity: f64,
    #[serde(default)]
    pub bill_customer: Option<String>,
    #[serde(default)]
    pub cancelled_date: Option<String>,
}

/// One operation of a JSON Patch (`PATCH .../additions/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchOperation {
    pub op: &'static str,
    pub path: &'static str,
    pub value: i64,
}

impl PatchOperation {
    /// The only change a quantity sync makes.
    pub fn quantity(quantity: i64) -> PatchOperation {
        PatchOperation {
            op: "replace",
            path: "quantity",
            value: quantity,
        }
    }
}

/// `POST .../additions`: a new addition with product, quantity and
/// `billCustomer` only (ConnectWise fills price and cost from the
/// catalog).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAddition {
    pub product: ProductId,
    pub quantity: i64,
    pub bill_customer: BillCustomer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProductId {
    pub id: i64,
}

/// How an addition is billed (required on create).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum BillCustomer {
    Billable,
    DoNotBill,
    NoCharge,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_carry_quantities_only() {
        let patch = serde_json::to_value([PatchOperation::quantity(12)]).unwrap();
        assert_eq!(
            patch,
            serde_json::json!([{"op": "replace", "path": "quantity", "value": 12}])
        );
        let create = serde_json::to_value(NewAddition {
            product: ProductId { id: 7 },
            quantity: 3,
            bill_customer: BillCustomer::Billable,
        })
        .unwrap();
        assert_eq!(
            create,
            serde_json::json!({"product": {"id": 7}, "quantity": 3, "billCustomer": "Billable"})
        );
    }

    #[test]
    fn records_read_with_the_fields_they_have() {
        let addition: Addition = serde_json::from_str(
            r#"{"id":5,"product":{"id":7,"identifier":"MR-1"},"quantity":3.0,"unitPrice":4.5,"unitCost":2.0,"billCustomer":"Billable","agreementId":9}"#,
        )
        .unwrap();
        assert_eq!(addition.product.id, 7);
        assert_eq!(addition.quantity, 3.0);
    }
}
