//! Mailboxes, as the contract's `Users/*` calls decide them: the address
//! (RFC 5321/5322 limits, IDN domains in ASCII, compared case-insensitively),
//! the rule that it lives on the customer's domain, the statuses and their
//! transitions, and seat arithmetic.

use std::fmt;

use super::identity::{DomainName, EmailAddress};
use super::{Rejection, ResultCode};

/// RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
const MAX_LOCAL_LEN: usize = 64;
/// RFC 5321 4.5.3.1.3 (a path of 256 octets with its brackets) and the
/// RFC 3696 erratum: an address is at most 254 octets.
const MAX_ADDRESS_LEN: usize = 254;

/// A mailbox address, `local@domain`: kept as given (trimmed) for display,
/// compared by its normalized form (lower case, the domain in ASCII).
#[derive(Debug, Clone)]
pub struct MailboxAddress {
    given: String,
    normalized: String,
    domain: DomainName,
}

impl MailboxAddress {
    /// Parses `input`: a dot-atom local part (RFC 5322 3.2.3) of at most 64
    /// octets, a domain of valid labels (an internationalized one becomes
    /// punycode), at most 254 octets in all in the ASCII form.
    pub fn parse(input: &str) -> Result<Self, Rejection> {
        let given = input.trim();
        let invalid = || {
            Rejection::new(
                ResultCode::MailboxAddressInvalid,
                format!("\"{}\" is not a valid mailbox address.", shorten(given)),
            )
        };
        let (local, domain) = given.rsplit_once('@').ok_or_else(invalid)?;
        if !is_dot_atom(local) || local.len() > MAX_LOCAL_LEN {
            return Err(invalid());
        }
        let domain = DomainName::parse(domain).map_err(|_| invalid())?;
        let normalized = format!("{}@{}", local.to_ascii_lowercase(), domain.as_str());
        if normalized.len() > MAX_ADDRESS_LEN {
            return Err(invalid());
        }
        Ok(Self {
            given: given.to_owned(),
            normalized,
            domain,
        })
    }

    /// As the BSS sent it.
    pub fn as_given(&self) -> &str {
        &self.given
    }

    /// The comparable form the unique index holds.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    pub fn domain(&self) -> &DomainName {
        &self.domain
    }

    /// The address must be on the customer's mail domain (its `domain` sync
    /// option, stored normalized); a customer without one has none.
    pub fn check_domain(&self, customer_domain: Option<&str>) -> Result<(), Rejection> {
        match customer_domain {
            Some(domain) if domain == self.domain.as_str() => Ok(()),
            Some(domain) => Err(Rejection::new(
                ResultCode::MailboxForeignDomain,
                format!("Mailbox addresses must end with @{domain}."),
            )),
            None => Err(Rejection::new(
                ResultCode::MailboxForeignDomain,
                "Your account has no mail domain yet: set one before adding mailboxes.",
            )),
        }
    }
}

impl PartialEq for MailboxAddress {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for MailboxAddress {}

impl fmt::Display for MailboxAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.given)
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}

/// RFC 5322 atext: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// Atoms of atext joined by single dots (no leading, trailing or double dot).
fn is_dot_atom(local: &str) -> bool {
    !local.is_empty()
        && local
            .split('.')
            .all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
}

/// A secondary (contact) email: any valid address, kept as given.
pub fn parse_secondary_email(input: &str) -> Result<String, Rejection> {
    EmailAddress::parse(input)
        .map(EmailAddress::into_inner)
        .map_err(|_| {
            Rejection::new(
                ResultCode::SecondaryEmailInvalid,
                "The secondary email is not a valid address.",
            )
        })
}

/// A password the BSS sends, before it is hashed: the strength every chosen
/// password needs (`password::check_strength`).
pub fn check_password(password: &str) -> Result<(), Rejection> {
    super::password::check_strength(password)
        .map_err(|weak| Rejection::new(ResultCode::PasswordUnacceptable, weak.0))
}

/// A new mailbox's public id: `mbx_` and a lower-case ULID.
pub fn new_mailbox_id() -> String {
    format!("mbx_{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// A mailbox's status, as the contract names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailboxStatus {
    Provisioned,
    Disabled,
    Deprovisioned,
    InProgress,
}

impl MailboxStatus {
    pub const ALL: [Self; 4] = [
        Self::Provisioned,
        Self::Disabled,
        Self::Deprovisioned,
        Self::InProgress,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioned => "provisioned",
            Self::Disabled => "disabled",
            Self::Deprovisioned => "deprovisioned",
            Self::InProgress => "in_progress",
        }
    }

    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The contract's spelling.
    pub fn wire_name(self) -> &'static str {
        match self {
            Self::Provisioned => "Provisioned",
            Self::Disabled => "Disabled",
            Self::Deprovisioned => "Deprovisioned",
            Self::InProgress => "InProgress",
        }
    }

    /// The contract's spelling in any case (also a number: the .NET enum's
    /// index, in the order the contract lists them).
    pub fn from_wire(text: &str) -> Option<Self> {
        let text = text.trim();
        match text {
            "0" => Some(Self::Provisioned),
            "1" => Some(Self::Deprovisioned),
            "2" => Some(Self::Disabled),
            "3" => Some(Self::InProgress),
            _ => Self::ALL
                .into_iter()
                .find(|s| s.wire_name().eq_ignore_ascii_case(text)),
        }
    }
}

/// What the BSS asks of a mailbox's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxAction {
    Disable,
    Activate,
    Provision,
    Deprovision,
}

/// The status after `action`, `None` when the mailbox already has it (a
/// retry), or the refusal. Deprovisioned is left only by Provision;
/// Disabled only by Activate (or Deprovision).
pub fn transition(
    from: MailboxStatus,
    action: MailboxAction,
) -> Result<Option<MailboxStatus>, Rejection> {
    use MailboxAction as A;
    use MailboxStatus as S;
    let to = match (action, from) {
        (A::Disable, S::Disabled)
        | (A::Activate, S::Provisioned)
        | (A::Provision, S::Provisioned)
        | (A::Deprovision, S::Deprovisioned) => return Ok(None),
        (A::Disable, S::Provisioned | S::InProgress) => S::Disabled,
        (A::Activate, S::Disabled) => S::Provisioned,
        (A::Provision, S::Deprovisioned | S::InProgress) => S::Provisioned,
        (A::Deprovision, _) => S::Deprovisioned,
        (A::Disable | A::Activate, S::Deprovisioned) => {
            return Err(Rejection::new(
                ResultCode::MailboxStatusRefused,
                "The mailbox is deprovisioned: provision it first.",
            ))
        }
        (A::Activate, S::InProgress) => {
            return Err(Rejection::new(
                ResultCode::MailboxStatusRefused,
                "The mailbox is still being provisioned.",
            ))
        }
        (A::Provision, S::Disabled) => {
            return Err(Rejection::new(
                ResultCode::MailboxStatusRefused,
                "The mailbox is disabled: activate it instead.",
            ))
        }
    };
    Ok(Some(to))
}

/// Seats of a subscription: bought (its quantity) and taken (mailboxes
/// holding it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub quantity: i64,
    pub taken: i64,
}

impl Seats {
    /// Never negative, even when a lowered quantity left more taken.
    pub fn left(self) -> i64 {
        (self.quantity - self.taken).max(0)
    }

    /// Whether `more` mailboxes can take a seat; the refusal says how many
    /// are left.
    pub fn check_take(self, more: i64) -> Result<(), Rejection> {
        let left = self.left();
        if more <= left {
            return Ok(());
        }
        let seats = |n: i64| if n == 1 { "seat" } else { "seats" };
        Err(Rejection::new(
            ResultCode::NoSeatsLeft,
            format!(
                "No mailbox seat is free on this subscription: {left} {} left of {} \
                 ({} in use). Order more seats first.",
                seats(left),
                self.quantity,
                self.taken
            ),
        ))
    }
}

/// The service must be on sale to take a seat of it.
pub fn check_service_status(subscription_status: &str) -> Result<(), Rejection> {
    if subscription_status == "active" {
        Ok(())
    } else {
        Err(Rejection::new(
            ResultCode::ServiceNotActive,
            "This subscription is suspended or cancelled: its seats cannot be used.",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_normalized_and_compared_case_insensitively() {
        let a = MailboxAddress::parse("  Pat.Jones@Example.COM ").unwrap();
        assert_eq!(a.as_given(), "Pat.Jones@Example.COM");
        assert_eq!(a.normalized(), "pat.jones@example.com");
        assert_eq!(a, MailboxAddress::parse("pat.jones@example.com").unwrap());
        assert_ne!(a, MailboxAddress::parse("pat@example.com").unwrap());
    }

    #[test]
    fn idn_domains_become_punycode() {
        let a = MailboxAddress::parse("info@Bücher.de").unwrap();
        assert_eq!(a.normalized(), "info@xn--bcher-kva.de");
        assert_eq!(a.as_given(), "info@Bücher.de");
        assert_eq!(a, MailboxAddress::parse("INFO@xn--bcher-kva.de").unwrap());
    }

    #[test]
    fn bad_addresses_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_whole = format!("{}@{}.com", "a".repeat(64), "b.".repeat(94));
        for bad in [
            "",
            "pat",
            "@example.com",
            "pat@",
            ".pat@example.com",
            "pat.@example.com",
            "pa..t@example.com",
            "pat jones@example.com",
            "pat@example",
            "pat@-example.com",
            "pät@example.com",
            "\"pat\"@example.com",
            "pat@exa_mple.com",
            long_local.as_str(),
            long_whole.as_str(),
        ] {
            let refused = MailboxAddress::parse(bad).expect_err(bad);
            assert_eq!(refused.code, ResultCode::MailboxAddressInvalid, "{bad}");
        }
        let limit_local = format!("{}@example.com", "a".repeat(64));
        assert!(MailboxAddress::parse(&limit_local).is_ok());
        assert!(MailboxAddress::parse("o'brien+tag/x=y@example.com").is_ok());
    }

    #[test]
    fn the_domain_must_be_the_customers() {
        let a = MailboxAddress::parse("pat@Example.com").unwrap();
        assert!(a.check_domain(Some("example.com")).is_ok());
        let foreign = a.check_domain(Some("other.com")).unwrap_err();
        assert_eq!(foreign.code, ResultCode::MailboxForeignDomain);
        assert!(foreign.message.contains("@other.com"));
        assert!(a.check_domain(Some("sub.example.com")).is_err());
        assert_eq!(
            a.check_domain(None).unwrap_err().code,
            ResultCode::MailboxForeignDomain
        );
    }

    #[test]
    fn statuses_round_trip() {
        for status in MailboxStatus::ALL {
            assert_eq!(MailboxStatus::from_stored(status.as_str()), Some(status));
            assert_eq!(MailboxStatus::from_wire(status.wire_name()), Some(status));
        }
        assert_eq!(
            MailboxStatus::from_wire("inprogress"),
            Some(MailboxStatus::InProgress)
        );
        assert_eq!(MailboxStatus::from_wire("Active"), None);
    }

    #[test]
    fn transitions() {
        use MailboxAction as A;
        use MailboxStatus as S;
        assert_eq!(
            transition(S::Provisioned, A::Disable),
            Ok(Some(S::Disabled))
        );
        assert_eq!(transition(S::Disabled, A::Disable), Ok(None));
        assert_eq!(
            transition(S::Disabled, A::Activate),
            Ok(Some(S::Provisioned))
        );
        assert_eq!(transition(S::Provisioned, A::Activate), Ok(None));
        assert_eq!(
            transition(S::Deprovisioned, A::Provision),
            Ok(Some(S::Provisioned))
        );
        assert_eq!(
            transition(S::Disabled, A::Deprovision),
            Ok(Some(S::Deprovisioned))
        );
        assert_eq!(transition(S::Deprovisioned, A::Deprovision), Ok(None));
        for (from, action) in [
            (S::Deprovisioned, A::Activate),
            (S::Deprovisioned, A::Disable),
            (S::Disabled, A::Provision),
            (S::InProgress, A::Activate),
        ] {
            assert_eq!(
                transition(from, action).unwrap_err().code,
                ResultCode::MailboxStatusRefused
            );
        }
    }

    #[test]
    fn seats() {
        let seats = Seats {
            quantity: 10,
            taken: 9,
        };
        assert_eq!(seats.left(), 1);
        assert!(seats.check_take(1).is_ok());
        let refused = seats.check_take(2).unwrap_err();
        assert_eq!(refused.code, ResultCode::NoSeatsLeft);
        assert!(
            refused.message.contains("1 seat left of 10"),
            "{}",
            refused.message
        );
        let over = Seats {
            quantity: 3,
            taken: 5,
        };
        assert_eq!(over.left(), 0);
        assert!(over
            .check_take(1)
            .unwrap_err()
            .message
            .contains("0 seats left"));
        assert!(over.check_take(0).is_ok());
    }

    #[test]
    fn passwords_and_secondary_emails() {
        assert_eq!(
            check_password("short").unwrap_err().code,
            ResultCode::PasswordUnacceptable
        );
        assert!(check_password("correct horse 7").is_ok());
        assert_eq!(
            parse_secondary_email("not an email").unwrap_err().code,
            ResultCode::SecondaryEmailInvalid
        );
        assert_eq!(parse_secondary_email(" a@b.com ").unwrap(), "a@b.com");
    }
}
