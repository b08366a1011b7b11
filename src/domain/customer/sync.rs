//! Synchronize's decisions: what a call does to the customer it names, which
//! identifying values it may take, and what a new customer is given.

use serde::{Deserialize, Serialize};

use super::{AccountSubmission, CustomerStatus, ExternalId};
use crate::domain::password;
use crate::domain::{Rejection, ResultCode};

/// Who sends a new customer its access instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationMode {
    /// Mailroom sends its own email (with an activation link); Synchronize
    /// answers `SendNotification: false`.
    Mailroom,
    /// The BSS sends its email: Synchronize answers `SendNotification: true`
    /// and a `GeneratedPassword`, once.
    Bss,
}

/// The customer a Synchronize call names, as the store found it: by the
/// call's ExternalID when it is one of the caller's customers, else by the
/// caller's BSS account id. An ExternalID the caller does not know (stale,
/// mistyped, or another application's) is not a refusal: the call falls back
/// to the BSS account id, so a BSS is never stranded between an Exists that
/// answers "does not exist" and a Synchronize that refuses.
#[derive(Debug, Clone, Copy)]
pub enum SyncTarget<'a> {
    /// No customer of the caller has the call's BSS account id yet.
    New,
    Existing {
        external_id: &'a str,
        status: CustomerStatus,
        /// The last Synchronize sent exactly this (same fingerprint) and
        /// the customer is linked to its BSS account.
        unchanged: bool,
        /// The call carried this customer's ExternalID: the BSS has read
        /// an earlier answer of ours.
        named_by_external_id: bool,
        /// The customer has set its own password (activation).
        activated: bool,
    },
}

/// What Synchronize does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncDecision {
    Refuse(Rejection),
    /// A retry of the last call: nothing to write but, when
    /// `reissue_password`, a fresh password.
    Unchanged {
        reissue_password: bool,
    },
    Update {
        reissue_password: bool,
    },
    Create,
}

impl SyncDecision {
    /// Whether carrying the decision out needs [`CreationSecrets`] (made
    /// outside the transaction: hashing is slow on purpose).
    pub fn needs_secrets(&self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Unchanged {
                    reissue_password: true
                }
                | Self::Update {
                    reissue_password: true
                }
        )
    }
}

/// Decides what a Synchronize call does to its target. Identifying values
/// taken by another customer are checked apart ([`identity_conflict`]),
/// since finding their owners needs the database.
///
/// In BSS notification mode the password travels only in our answer: if
/// that answer was lost, the BSS retries without our ExternalID and would
/// never get credentials. So until the customer has activated, a call that
/// does not carry our ExternalID gets a fresh password (replacing the
/// previous one); once the BSS sends our ExternalID back, it is an update.
pub fn decide(target: SyncTarget<'_>, mode: NotificationMode) -> SyncDecision {
    match target {
        SyncTarget::New => SyncDecision::Create,
        SyncTarget::Existing {
            external_id,
            status: CustomerStatus::Deleted,
            ..
        } => SyncDecision::Refuse(Rejection::new(
            ResultCode::CustomerDeleted,
            format!(
                "Customer {external_id} was deleted and cannot be synchronized again; restore it \
                 in the Mailroom console first."
            ),
        )),
        SyncTarget::Existing {
            unchanged,
            named_by_external_id,
            activated,
            ..
        } => {
            let reissue_password =
                mode == NotificationMode::Bss && !activated && !named_by_external_id;
            if unchanged {
                SyncDecision::Unchanged { reissue_password }
            } else {
                SyncDecision::Update { reissue_password }
            }
        }
    }
}

/// The reseller a call names (`ResellerExternalID`, else `ResellerID`), as
/// the store found it among the caller's customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResellerFound<'a> {
    /// The call names no reseller, or only one Mailroom does not know by
    /// its BSS id (resellers may be synchronized later).
    NotKnown,
    /// `ResellerExternalID` names no customer of the caller.
    UnknownExternalId(&'a str),
    Found(CustomerStatus),
}

/// Whether the call's reseller stops it: an ExternalID that names nobody is
/// a mistake BSS staff must see (it would otherwise link the customer to no
/// reseller, silently); a deleted reseller gets no new customers.
pub fn reseller_refusal(reseller: ResellerFound<'_>, creating: bool) -> Option<Rejection> {
    match reseller {
        ResellerFound::UnknownExternalId(external_id) => Some(Rejection::new(
            ResultCode::UnknownReseller,
            format!(
                "ResellerExternalID {external_id} names no customer of this application; \
                 synchronize the reseller's own account first."
            ),
        )),
        ResellerFound::Found(CustomerStatus::Deleted) if creating => Some(Rejection::new(
            ResultCode::ResellerClosed,
            "The reseller you are ordering through has closed its account, so we cannot \
             create new accounts through it. Please contact your reseller.",
        )),
        ResellerFound::NotKnown | ResellerFound::Found(_) => None,
    }
}

/// Who holds an identifying value: (option id, normalized value, customer).
pub type IdentityOwner = (String, String, i64);

/// The refusal for the first identifying value of the submission that a
/// customer other than `own_id` holds, in the order of the options.
pub fn identity_conflict(
    submission: &AccountSubmission,
    owners: &[IdentityOwner],
    own_id: Option<i64>,
) -> Option<Rejection> {
    submission.options.iter().find_map(|value| {
        let identity = value.identity.as_ref()?;
        let taken = owners.iter().any(|(option_id, normalized, owner)| {
            *option_id == value.option_id && normalized == identity && Some(*owner) != own_id
        });
        taken.then(|| value.taken())
    })
}

/// Secrets made for a customer about to be created. Hashing a password is
/// slow on purpose, so they are made outside the write transaction and only
/// when a customer is about to be created.
pub struct CreationSecrets {
    pub external_id: ExternalId,
    /// The generated password and its argon2 hash (BSS notification mode).
    pub password: Option<(String, String)>,
    /// Whether Mailroom queues the access-instructions mail, in the
    /// transaction that creates the customer (Mailroom notification mode).
    pub welcome_mail: bool,
}

impl CreationSecrets {
    /// The secrets policy: a fresh ExternalID always; in BSS mode a password
    /// for the BSS to mail, stored only as its hash; in Mailroom mode no
    /// password at all (the customer sets one through the activation link).
    pub fn generate(mode: NotificationMode) -> Self {
        let password = match mode {
            NotificationMode::Bss => {
                let plain = password::generate();
                match password::hash(&plain) {
                    Ok(hash) => Some((plain, hash)),
                    Err(error) => {
                        // Only a broken RNG or parameters could cause this;
                        // the customer is then created without a password.
                        tracing::error!(%error, "hashing a generated password failed");
                        None
                    }
                }
            }
            NotificationMode::Mailroom => None,
        };
        Self {
            external_id: ExternalId::generate(),
            password,
            welcome_mail: mode == NotificationMode::Mailroom,
        }
    }
}

impl std::fmt::Debug for CreationSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreationSecrets")
            .field("external_id", &self.external_id)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("welcome_mail", &self.welcome_mail)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sync_options::{OptionValue, ValueFormat};

    use NotificationMode::{Bss, Mailroom};

    fn existing(status: CustomerStatus, unchanged: bool) -> SyncTarget<'static> {
        SyncTarget::Existing {
            external_id: "cus_1",
            status,
            unchanged,
            named_by_external_id: true,
            activated: false,
        }
    }

    #[test]
    fn a_deleted_customer_is_refused_even_when_unchanged() {
        for (unchanged, mode) in [(false, Mailroom), (true, Mailroom), (true, Bss)] {
            let SyncDecision::Refuse(rejection) =
                decide(existing(CustomerStatus::Deleted, unchanged), mode)
            else {
                panic!("not refused");
            };
            assert_eq!(rejection.code, ResultCode::CustomerDeleted);
            assert!(rejection.message.contains("cus_1"));
        }
    }

    #[test]
    fn known_customers_are_updated_unless_nothing_changed() {
        let no_password = false;
        for status in [CustomerStatus::Active, CustomerStatus::Suspended] {
            for mode in [Mailroom, Bss] {
                assert_eq!(
                    decide(existing(status, false), mode),
                    SyncDecision::Update {
                        reissue_password: no_password
                    }
                );
                assert_eq!(
                    decide(existing(status, true), mode),
                    SyncDecision::Unchanged {
                        reissue_password: no_password
                    }
                );
            }
        }
        assert_eq!(decide(SyncTarget::New, Mailroom), SyncDecision::Create);
        assert!(SyncDecision::Create.needs_secrets());
    }

    #[test]
    fn a_password_is_reissued_until_the_bss_has_read_our_answer() {
        let before_our_answer = |activated| SyncTarget::Existing {
            external_id: "cus_1",
            status: CustomerStatus::Active,
            unchanged: true,
            named_by_external_id: false,
            activated,
        };
        let retry = decide(before_our_answer(false), Bss);
        assert_eq!(
            retry,
            SyncDecision::Unchanged {
                reissue_password: true
            }
        );
        assert!(retry.needs_secrets());
        // Not once the customer activated, not in Mailroom mode (Mailroom
        // mails the link itself), not once the BSS sends our ExternalID.
        assert!(!decide(before_our_answer(true), Bss).needs_secrets());
        assert!(!decide(before_our_answer(false), Mailroom).needs_secrets());
        assert!(!decide(existing(CustomerStatus::Active, true), Bss).needs_secrets());
    }

    fn identity(option_id: &str, format: ValueFormat, normalized: &str) -> OptionValue {
        OptionValue {
            option_id: option_id.into(),
            option_name: option_id.into(),
            format,
            value: normalized.into(),
            identity: Some(normalized.into()),
        }
    }

    fn submission(options: Vec<OptionValue>) -> AccountSubmission {
        AccountSubmission {
            bss_account_id: "1".into(),
            external_id: None,
            reseller: Default::default(),
            profile: Default::default(),
            contact: None,
            address: None,
            extra_details: Default::default(),
            options,
            is_test: false,
        }
    }

    #[test]
    fn identities_held_by_others_conflict_in_option_order() {
        let submitted = submission(vec![
            identity("username", ValueFormat::Username, "maria@a.com"),
            identity("domain", ValueFormat::Domain, "a.com"),
        ]);
        let owners = vec![
            ("domain".to_owned(), "a.com".to_owned(), 7),
            ("username".to_owned(), "maria@a.com".to_owned(), 8),
        ];
        let conflict = identity_conflict(&submitted, &owners, None).expect("a conflict");
        assert!(
            conflict.message.contains("maria@a.com"),
            "{}",
            conflict.message
        );
        // The customer's own values are not a conflict.
        let own = vec![("domain".to_owned(), "a.com".to_owned(), 7)];
        assert_eq!(identity_conflict(&submitted, &own, Some(7)), None);
        assert!(identity_conflict(&submitted, &own, Some(9)).is_some());
        // The same value under another option is someone else's business.
        let other_option = vec![("alias".to_owned(), "a.com".to_owned(), 7)];
        assert_eq!(identity_conflict(&submitted, &other_option, None), None);
    }

    #[test]
    fn secrets_follow_the_notification_mode() {
        let mailroom = CreationSecrets::generate(NotificationMode::Mailroom);
        assert!(mailroom.password.is_none());
        assert!(mailroom.welcome_mail);
        assert!(mailroom.external_id.as_str().starts_with("cus_"));

        let bss = CreationSecrets::generate(NotificationMode::Bss);
        let (plain, hash) = bss.password.as_ref().expect("a password in BSS mode");
        assert!(!bss.welcome_mail);
        assert_ne!(plain, hash);
        assert!(password::verify(plain, hash));
        assert!(!format!("{bss:?}").contains(plain.as_str()));
        assert_ne!(bss.external_id, mailroom.external_id);
    }

    #[test]
    fn resellers_that_stop_a_call() {
        let unknown =
            reseller_refusal(ResellerFound::UnknownExternalId("cus_r"), false).expect("refused");
        assert_eq!(unknown.code, ResultCode::UnknownReseller);
        assert!(unknown.message.contains("cus_r"));
        let closed =
            reseller_refusal(ResellerFound::Found(CustomerStatus::Deleted), true).expect("refused");
        assert_eq!(closed.code, ResultCode::ResellerClosed);
        assert!(closed.code.is_storefront_visible());
        // Existing customers of a deleted reseller can still be updated.
        assert_eq!(
            reseller_refusal(ResellerFound::Found(CustomerStatus::Deleted), false),
            None
        );
        for fine in [
            ResellerFound::NotKnown,
            ResellerFound::Found(CustomerStatus::Active),
            ResellerFound::Found(CustomerStatus::Suspended),
        ] {
            assert_eq!(reseller_refusal(fine, true), None);
        }
    }
}
