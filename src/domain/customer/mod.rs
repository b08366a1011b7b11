//! Customers: what the BSS submits, their ids and statuses, and the rules
//! of the contract calls that touch them.

mod exists;
mod lifecycle;
mod sync;

pub use exists::{exists_verdict, link_refusal, ExistsVerdict, LinkCandidate};
pub use lifecycle::{StatusAction, StatusActionOutcome};
pub use sync::{
    decide as decide_synchronize, identity_conflict, reseller_refusal, CreationSecrets,
    IdentityOwner, NotificationMode, ResellerFound, SyncDecision, SyncTarget,
};

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::sync_options::OptionValue;

/// Lifecycle of a customer. Deleted customers are tombstones: their data and
/// identifying values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStatus {
    Active,
    Suspended,
    Deleted,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleted => "deleted",
        }
    }

    /// Reads the stored text; the database's CHECK constraint admits only
    /// these three.
    pub fn from_stored(text: &str) -> Option<Self> {
        match text {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

/// A stored status the code does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown customer status {0:?}")]
pub struct UnknownCustomerStatus(String);

impl TryFrom<String> for CustomerStatus {
    type Error = UnknownCustomerStatus;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::from_stored(&text).ok_or(UnknownCustomerStatus(text))
    }
}

impl fmt::Display for CustomerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Mailroom's id of a customer, the contract's ExternalID: opaque, stable,
/// not guessable (`cus_` and a ULID, whose last 80 bits are random).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn generate() -> Self {
        Self(format!(
            "cus_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))
    }

    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The account of a Synchronize call, validated.
#[derive(Debug, Clone, Serialize)]
pub struct AccountSubmission {
    pub bss_account_id: String,
    pub external_id: Option<String>,
    pub reseller: ResellerRef,
    pub profile: AccountProfile,
    pub contact: Option<ContactProfile>,
    pub address: Option<AddressProfile>,
    /// Saved as the BSS sent it.
    pub extra_details: BTreeMap<String, serde_json::Value>,
    pub options: Vec<OptionValue>,
    pub is_test: bool,
}

impl AccountSubmission {
    /// Hex SHA-256 of everything a Synchronize writes: equal fingerprints
    /// mean a call would change nothing.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::to_vec(self).expect("submissions serialize");
        Sha256::digest(&canonical)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The value of an option, if submitted.
    pub fn option(&self, option_id: &str) -> Option<&OptionValue> {
        self.options.iter().find(|o| o.option_id == option_id)
    }

    /// The values that identify the customer, as (option id, normalized value).
    pub fn identities(&self) -> impl Iterator<Item = (&str, &str)> {
        self.options
            .iter()
            .filter_map(|o| Some((o.option_id.as_str(), o.identity.as_deref()?)))
    }
}

/// What Synchronize answers as `AccountExtraInfo`: the BSS saves it, sends it
/// back as `ExtraDetails`, and offers each key as a merge field `[#key#]` in
/// its notification template. Holds `customer_id` (the ExternalID) and every
/// sync option value, `username` among them.
pub fn account_extra_info(
    external_id: &ExternalId,
    options: &[OptionValue],
) -> BTreeMap<String, String> {
    let mut info: BTreeMap<String, String> = options
        .iter()
        .map(|o| (o.option_id.clone(), o.value.clone()))
        .collect();
    info.insert(CUSTOMER_ID_KEY.to_owned(), external_id.as_str().to_owned());
    info
}

/// The `AccountExtraInfo` key holding the ExternalID; a call that arrives
/// with an empty ExternalID but this key in `ExtraDetails` is read as if the
/// ExternalID were set.
pub const CUSTOMER_ID_KEY: &str = "customer_id";

/// The reseller an account is sold through. For the reseller's own account
/// the BSS sends its own id as ResellerID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResellerRef {
    pub bss_id: Option<String>,
    pub external_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountProfile {
    pub name: String,
    pub code: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub website: Option<String>,
    pub email: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContactProfile {
    pub bss_contact_id: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
    pub email: Option<String>,
}

impl ContactProfile {
    /// "First Last", or whichever of the two is set.
    pub fn full_name(&self) -> Option<String> {
        let parts: Vec<&str> = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddressProfile {
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub post_code: Option<String>,
    pub state_code: Option<String>,
    pub state_name: Option<String>,
    pub country_code: Option<String>,
    pub country_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_ids_are_prefixed_and_unique() {
        let a = ExternalId::generate();
        let b = ExternalId::generate();
        assert!(a.as_str().starts_with("cus_"));
        assert_eq!(a.as_str().len(), 30);
        assert_ne!(a, b);
    }

    #[test]
    fn contact_full_name() {
        let contact = ContactProfile {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..Default::default()
        };
        assert_eq!(contact.full_name().as_deref(), Some("Ada Lovelace"));
        assert_eq!(ContactProfile::default().full_name(), None);
    }
}
