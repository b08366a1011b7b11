//! Every result code Mailroom answers, in one table.
//!
//! Codes -80000..-89999 carry a message the BSS shows to the storefront
//! user, so those messages are written for a shop customer. Any other
//! negative code makes the BSS show "Contact your support department" and
//! only BSS staff read the message. `docs/result-codes.md` is generated from
//! this table (`mailroom result-codes`) and a test keeps it in step.

use std::fmt;

/// A code of the result envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ResultCode {
    Success = 0,
    /// Exists: the account exists and is valid; `Result` holds its ExternalID.
    Exists = 1,
    /// Exists: the account exists but cannot be linked; the message says why.
    ExistsNotValid = 2,

    // Seen by BSS staff only.
    NotSupported = -1,
    BadRequest = -2,
    PayloadTooLarge = -3,
    Unauthorized = -4,
    Unavailable = -5,
    InternalError = -6,
    CustomerDeleted = -8,
    NotJson = -9,
    UnknownReseller = -10,
    UnknownCustomer = -20,
    UnknownProductType = -21,
    UnknownSubscription = -22,
    SubscriptionCancelled = -23,

    // Shown to the storefront user.
    NameRequired = -80001,
    TextTooLong = -80002,
    TextInvalidCharacters = -80003,
    AccountEmailInvalid = -80004,
    ContactEmailInvalid = -80005,
    OptionRequired = -80010,
    OptionNotOffered = -80011,
    OptionNotNumber = -80012,
    OptionNotDate = -80013,
    OptionNotBoolean = -80014,
    OptionInvalid = -80015,
    DomainInvalid = -80020,
    DomainTaken = -80021,
    UsernameMissing = -80030,
    UsernameInvalid = -80031,
    UsernameTaken = -80032,
    IdentityTaken = -80040,
    ResellerClosed = -80050,
    CustomerNotActive = -80060,
    PlanNotSold = -80061,
    QuantityOutOfRange = -80062,
    AttributeRequired = -80063,
    OneSubscriptionOnly = -80064,
    ParentNotActive = -80065,
    NotAnAddon = -80066,

    // Users (mailboxes): seen by BSS staff only.
    UnknownMailbox = -30,
    UnknownService = -31,
    MailboxStatusRefused = -32,
    // Users (mailboxes): shown to the storefront user.
    MailboxAddressInvalid = -80070,
    MailboxForeignDomain = -80071,
    MailboxAddressTaken = -80072,
    NoSeatsLeft = -80073,
    ServiceNotActive = -80074,
    SecondaryEmailInvalid = -80075,
    PasswordUnacceptable = -80076,
    NoPasswordLinkAddress = -80077,
    // Subscriptions against mailboxes: shown to the storefront user.
    SeatsInUse = -80067,
}

impl ResultCode {
    /// Every code, in the order of the documentation table.
    pub const ALL: &'static [ResultCode] = &[
        Self::Success,
        Self::Exists,
        Self::ExistsNotValid,
        Self::NotSupported,
        Self::BadRequest,
        Self::PayloadTooLarge,
        Self::Unauthorized,
        Self::Unavailable,
        Self::InternalError,
        Self::CustomerDeleted,
        Self::NotJson,
        Self::UnknownReseller,
        Self::UnknownCustomer,
        Self::UnknownProductType,
        Self::UnknownSubscription,
        Self::SubscriptionCancelled,
        Self::NameRequired,
        Self::TextTooLong,
        Self::TextInvalidCharacters,
        Self::AccountEmailInvalid,
        Self::ContactEmailInvalid,
        Self::OptionRequired,
        Self::OptionNotOffered,
        Self::OptionNotNumber,
        Self::OptionNotDate,
        Self::OptionNotBoolean,
        Self::OptionInvalid,
        Self::DomainInvalid,
        Self::DomainTaken,
        Self::UsernameMissing,
        Self::UsernameInvalid,
        Self::UsernameTaken,
        Self::IdentityTaken,
        Self::ResellerClosed,
        Self::CustomerNotActive,
        Self::PlanNotSold,
        Self::QuantityOutOfRange,
        Self::AttributeRequired,
        Self::OneSubscriptionOnly,
        Self::ParentNotActive,
        Self::NotAnAddon,
        Self::UnknownMailbox,
        Self::UnknownService,
        Self::MailboxStatusRefused,
        Self::MailboxAddressInvalid,
        Self::MailboxForeignDomain,
        Self::MailboxAddressTaken,
        Self::NoSeatsLeft,
        Self::ServiceNotActive,
        Self::SecondaryEmailInvalid,
        Self::PasswordUnacceptable,
        Self::NoPasswordLinkAddress,
        Self::SeatsInUse,
    ];

    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The code of a number, when it is one of ours.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The BSS shows the message of these codes to the storefront user.
    pub const fn is_storefront_visible(self) -> bool {
        let code = self.code();
        code <= -80000 && code >= -89999
    }

    /// When the code is answered, for the documentation table.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Success => "Success. Exists: the account does not exist.",
            Self::Exists => "Exists: the account exists and is valid; `Result` is its ExternalID.",
            Self::ExistsNotValid => {
                "Exists: the account exists but is not valid (deleted, suspended, or held by \
                 another application's or another reseller's customer); the message says which."
            }
            Self::NotSupported => "The action is not supported by this service manager.",
            Self::BadRequest => {
                "The body is JSON but not an account the call can use: a field of the wrong type, \
                 or a missing identifier."
            }
            Self::PayloadTooLarge => "The request body is larger than the limit (HTTP 413).",
            Self::Unauthorized => "Missing or wrong application id or API key (HTTP 401).",
            Self::Unavailable => "The database cannot be reached; retry later (HTTP 503).",
            Self::InternalError => "An unexpected error; the cause is in the service log (HTTP 500).",
            Self::CustomerDeleted => "The customer was deleted; it cannot be synchronized again.",
            Self::NotJson => "The body is not JSON at all, or could not be read (HTTP 400).",
            Self::UnknownReseller => {
                "ResellerExternalID names no customer of this application (synchronize the \
                 reseller's own account first)."
            }
            Self::UnknownCustomer => {
                "Subscriptions: the Account's ExternalID and ID name no customer of this \
                 application (synchronize the account first)."
            }
            Self::UnknownProductType => {
                "Subscriptions: the ServiceType is not a product type Mailroom declares in \
                 Fields/ServiceDefinition."
            }
            Self::UnknownSubscription => {
                "Subscriptions: the ID, ExtraDetails.subscription_id and SubscriptionID name no \
                 subscription of this application."
            }
            Self::SubscriptionCancelled => {
                "Subscriptions: the subscription is cancelled; a cancelled subscription is final \
                 and cannot be changed or re-activated."
            }
            Self::NameRequired => "The account has no name.",
            Self::TextTooLong => "A text field is longer than its limit.",
            Self::TextInvalidCharacters => "A text field contains control characters.",
            Self::AccountEmailInvalid => "The account email is not a valid address.",
            Self::ContactEmailInvalid => "The primary contact's email is not a valid address.",
            Self::OptionRequired => "A required sync option is empty.",
            Self::OptionNotOffered => "A List sync option holds a value it does not offer.",
            Self::OptionNotNumber => "A Number or Currency sync option is not a number.",
            Self::OptionNotDate => "A Date sync option is not a date.",
            Self::OptionNotBoolean => "A Boolean sync option is not true or false.",
            Self::OptionInvalid => "A sync option value is too long or not text.",
            Self::DomainInvalid => "The domain sync option is not a valid domain name.",
            Self::DomainTaken => "The domain belongs to another customer.",
            Self::UsernameMissing => {
                "No username: neither the sync option, the account email nor the contact email is set."
            }
            Self::UsernameInvalid => "The username contains characters a login cannot have.",
            Self::UsernameTaken => "The username belongs to another customer.",
            Self::IdentityTaken => "Another identifying sync option value belongs to another customer.",
            Self::ResellerClosed => "The reseller the account is sold through was deleted: no new customers through it.",
            Self::CustomerNotActive => "Subscriptions: the customer is suspended.",
            Self::PlanNotSold => "Subscriptions: the plan is deprecated and no longer sold.",
            Self::QuantityOutOfRange => {
                "Subscriptions: the quantity is below 1 or above the product type's QuantityLimit."
            }
            Self::AttributeRequired => "Subscriptions: a required attribute has no value.",
            Self::OneSubscriptionOnly => {
                "Subscriptions: the customer already has a subscription of a product type that \
                 does not allow multiple subscriptions."
            }
            Self::ParentNotActive => {
                "Addons: the subscription the add-on belongs to is suspended or cancelled."
            }
            Self::NotAnAddon => {
                "Addons: the add-on's product type is not one sold as an add-on (or the product \
                 is not an add-on of this subscription)."
            }
            Self::UnknownMailbox => {
                "Users: the ID, Username or Email names no mailbox of this application's customers."
            }
            Self::UnknownService => {
                "Users: the ServiceID names no subscription of the mailbox's customer."
            }
            Self::MailboxStatusRefused => {
                "Users: the mailbox's status does not allow the action (a deprovisioned mailbox \
                 is provisioned first, a disabled one activated)."
            }
            Self::MailboxAddressInvalid => {
                "Users: the address is not a valid mailbox address (local@domain, RFC 5321 limits)."
            }
            Self::MailboxForeignDomain => {
                "Users: the address is not on the customer's mail domain (its `domain` sync option)."
            }
            Self::MailboxAddressTaken => "Users: the address belongs to another customer's mailbox.",
            Self::NoSeatsLeft => {
                "Users: every seat of the subscription is taken; the message says how many are left."
            }
            Self::ServiceNotActive => "Users: the subscription is suspended or cancelled.",
            Self::SecondaryEmailInvalid => "Users: the secondary email is not a valid address.",
            Self::PasswordUnacceptable => {
                "Users: the password is too weak (at least 10 characters, two kinds of \
                 character); the message says why."
            }
            Self::NoPasswordLinkAddress => {
                "Users: no password was given and there is no address to mail the set-password \
                 link to (neither the mailbox's SecondaryEmail nor the customer's contact or \
                 account email)."
            }
            Self::SeatsInUse => {
                "Subscriptions: the new quantity is below the mailboxes holding a seat of the \
                 subscription; the message says how many use it."
            }
        }
    }

    /// HTTP status the code travels with. The BSS is a .NET client that
    /// reads the code from a 200 answer and takes any other status for a
    /// transport failure, so every outcome of a JSON body is HTTP 200, refusals
    /// included; only credentials, a body that is not JSON, one over the limit
    /// and an unavailable database (which the BSS retries) differ.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::NotJson => 400,
            Self::PayloadTooLarge => 413,
            Self::Unauthorized => 401,
            Self::Unavailable => 503,
            Self::InternalError => 500,
            _ => 200,
        }
    }
}

impl fmt::Display for ResultCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

/// A refused request: a code and the message that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ResultCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: ResultCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// The Markdown table of `docs/result-codes.md`.
pub fn documentation_table() -> String {
    let mut out = String::from(
        "# Result codes\n\n\
         Generated by `mailroom result-codes` from `src/domain/result_code.rs`; a test fails \
         when the two differ.\n\n\
         Codes from -80000 to -89999 carry a message that the BSS shows to the storefront \
         user. For any other negative code the storefront shows \"Contact your support \
         department\" and only BSS staff see the message. Every answer carries the code twice, \
         as `Code` and `ErrorCode`, and the message as `Message` and `ErrorMessage`.\n\n\
         The BSS is a .NET client that reads the code from an HTTP 200 answer and takes any \
         other status for a transport failure, so every outcome of a JSON body is HTTP 200, \
         refusals included. Only bad credentials (401), a body that is not JSON at all (400), \
         a body over the limit (413) and an unavailable database (503, which the BSS retries) \
         use another status, besides an unexpected failure (500).\n\n\
         | Code | Name | HTTP | Shown to | Meaning |\n\
         |---:|---|---:|---|---|\n",
    );
    for code in ResultCode::ALL {
        let audience = if code.is_storefront_visible() {
            "storefront user"
        } else if code.code() >= 0 {
            "-"
        } else {
            "BSS staff"
        };
        out.push_str(&format!(
            "| {} | {:?} | {} | {} | {} |\n",
            code.code(),
            code,
            code.http_status(),
            audience,
            code.meaning()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_all_listed() {
        let codes: HashSet<i32> = ResultCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), ResultCode::ALL.len());
    }

    #[test]
    fn storefront_codes_are_in_the_storefront_range() {
        assert!(ResultCode::DomainTaken.is_storefront_visible());
        assert!(ResultCode::NameRequired.is_storefront_visible());
        assert!(!ResultCode::CustomerDeleted.is_storefront_visible());
        assert!(!ResultCode::Exists.is_storefront_visible());
    }
}
