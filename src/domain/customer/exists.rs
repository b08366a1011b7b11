//! Exists' rule: whether the customer a call finds can be linked to the
//! caller's BSS account.

use super::CustomerStatus;

/// What the Exists rules need to know of a stored customer.
#[derive(Debug, Clone)]
pub struct LinkCandidate<'a> {
    pub external_id: &'a str,
    pub application_id: i64,
    pub reseller_bss_id: Option<&'a str>,
    pub status: CustomerStatus,
}

/// Why an existing customer cannot be linked to the calling BSS account
/// (Exists code 2). `None` means it can.
pub fn link_refusal(
    candidate: &LinkCandidate<'_>,
    caller_application_id: i64,
    caller_reseller_bss_id: Option<&str>,
) -> Option<&'static str> {
    if candidate.application_id != caller_application_id {
        return Some("The account exists but belongs to a customer of another BSS application.");
    }
    match candidate.status {
        CustomerStatus::Deleted => return Some("The account exists but was deleted."),
        CustomerStatus::Suspended => return Some("The account exists but is suspended."),
        CustomerStatus::Active => {}
    }
    if candidate.reseller_bss_id != caller_reseller_bss_id {
        return Some("The account exists but belongs to a customer of another reseller.");
    }
    None
}

/// Exists' answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistsVerdict<'a> {
    /// Code 0.
    DoesNotExist,
    /// Code 1, with the customer's ExternalID.
    Exists(&'a str),
    /// Code 2, with the reason.
    NotValid(&'static str),
}

/// Decides Exists from the customers the call names: the store looks them up
/// by ExternalID, else by the caller's BSS account id, else by identifying
/// values, and hands over the distinct customers of the first lookup that
/// found any. Identifying values held by different customers cannot be
/// linked to one account.
pub fn exists_verdict<'a>(
    found: &[LinkCandidate<'a>],
    caller_application_id: i64,
    caller_reseller_bss_id: Option<&str>,
) -> ExistsVerdict<'a> {
    match found {
        [] => ExistsVerdict::DoesNotExist,
        [candidate] => match link_refusal(candidate, caller_application_id, caller_reseller_bss_id)
        {
            None => ExistsVerdict::Exists(candidate.external_id),
            Some(reason) => ExistsVerdict::NotValid(reason),
        },
        _ => ExistsVerdict::NotValid(
            "The account's identifying sync options belong to different customers.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> LinkCandidate<'static> {
        LinkCandidate {
            external_id: "cus_1",
            application_id: 1,
            reseller_bss_id: Some("r1"),
            status: CustomerStatus::Active,
        }
    }

    #[test]
    fn link_refusals() {
        let active = active();
        assert_eq!(link_refusal(&active, 1, Some("r1")), None);
        assert!(link_refusal(&active, 2, Some("r1"))
            .unwrap()
            .contains("another BSS application"));
        assert!(link_refusal(&active, 1, None)
            .unwrap()
            .contains("another reseller"));
        let deleted = LinkCandidate {
            status: CustomerStatus::Deleted,
            ..active.clone()
        };
        assert!(link_refusal(&deleted, 1, Some("r1"))
            .unwrap()
            .contains("deleted"));
        let suspended = LinkCandidate {
            status: CustomerStatus::Suspended,
            ..active
        };
        assert!(link_refusal(&suspended, 1, Some("r1"))
            .unwrap()
            .contains("suspended"));
    }

    #[test]
    fn verdicts() {
        assert_eq!(exists_verdict(&[], 1, None), ExistsVerdict::DoesNotExist);
        assert_eq!(
            exists_verdict(&[active()], 1, Some("r1")),
            ExistsVerdict::Exists("cus_1")
        );
        assert!(matches!(
            exists_verdict(&[active()], 2, Some("r1")),
            ExistsVerdict::NotValid(reason) if reason.contains("another BSS application")
        ));
        let other = LinkCandidate {
            external_id: "cus_2",
            ..active()
        };
        assert!(matches!(
            exists_verdict(&[active(), other], 1, Some("r1")),
            ExistsVerdict::NotValid(reason) if reason.contains("different customers")
        ));
    }
}
