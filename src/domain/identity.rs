//! Values that name something real and so identify a customer: a mail domain
//! and a login name. Both are stored normalized, so lookups are
//! case-insensitive and a value cannot be held twice in two spellings.

use std::fmt;

use validator::ValidateEmail;

const MAX_DOMAIN_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
const MAX_USERNAME_LEN: usize = 254;

/// A DNS domain name in its ASCII form: lower case, internationalized labels
/// as punycode (`bücher.de` becomes `xn--bcher-kva.de`), no trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DomainName(String);

impl DomainName {
    pub fn parse(input: &str) -> Result<Self, InvalidIdentity> {
        let trimmed = input.trim().trim_end_matches('.');
        if trimmed.is_empty() || trimmed.chars().count() > MAX_DOMAIN_LEN {
            return Err(InvalidIdentity);
        }
        let ascii = idna::domain_to_ascii(trimmed).map_err(|_| InvalidIdentity)?;
        if ascii.len() > MAX_DOMAIN_LEN {
            return Err(InvalidIdentity);
        }
        let labels: Vec<&str> = ascii.split('.').collect();
        if labels.len() < 2 || !labels.iter().all(|label| is_valid_label(label)) {
            return Err(InvalidIdentity);
        }
        // A top-level domain is never all digits: that would be an IP address.
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(InvalidIdentity);
        }
        Ok(Self(ascii))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name: often an email address, always lower case. Letters and
/// digits of any script are allowed, plus `. _ - + @ '`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, InvalidIdentity> {
        let lowered = input.trim().to_lowercase();
        let length = lowered.chars().count();
        if length == 0 || length > MAX_USERNAME_LEN {
            return Err(InvalidIdentity);
        }
        let allowed =
            |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@' | '\'');
        if !lowered.chars().all(allowed) {
            return Err(InvalidIdentity);
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Any other identifying value: trimmed and lower-cased.
pub fn normalize_plain(input: &str) -> String {
    input.trim().to_lowercase()
}

/// An email address as given (trimmed), checked for shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(input: &str) -> Result<Self, InvalidIdentity> {
        let trimmed = input.trim();
        if trimmed.validate_email() {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(InvalidIdentity)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// The value does not have the shape its kind requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid value")]
pub struct InvalidIdentity;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_are_normalized() {
        assert_eq!(
            DomainName::parse(" Example.COM. ").unwrap().as_str(),
            "example.com"
        );
        assert_eq!(
            DomainName::parse("bücher.de").unwrap().as_str(),
            "xn--bcher-kva.de"
        );
        assert_eq!(
            DomainName::parse("mail.sub.example.co.uk")
                .unwrap()
                .as_str(),
            "mail.sub.example.co.uk"
        );
    }

    #[test]
    fn bad_domains_are_refused() {
        for bad in [
            "",
            "localhost",
            "exa mple.com",
            "-example.com",
            "example-.com",
            "example..com",
            "ex_ample.com",
            "10.0.0.1",
            "'; DROP TABLE customers; --",
            "example.com/path",
            "\u{0}.com",
        ] {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(DomainName::parse(&long_label).is_err());
        let long_domain = format!("{}com", "abcdefghi.".repeat(26));
        assert!(DomainName::parse(&long_domain).is_err());
    }

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            Username::parse(" User@Direct.com ").unwrap().as_str(),
            "user@direct.com"
        );
        assert_eq!(
            Username::parse("Jürgen.O'Neil").unwrap().as_str(),
            "jürgen.o'neil"
        );
        assert!(Username::parse("two words").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse(&"a".repeat(255)).is_err());
    }

    #[test]
    fn email_addresses_are_checked() {
        assert!(EmailAddress::parse("user@direct.com").is_ok());
        assert!(EmailAddress::parse("not an address").is_err());
        assert!(EmailAddress::parse("a@").is_err());
    }
}
