//! Status changes an operator makes: suspend and restore.

use super::CustomerStatus;

/// A status change an operator asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    Suspend,
    /// Back to active, from suspended or deleted.
    Restore,
}

/// What a status change does (or did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusActionOutcome {
    Changed {
        from: CustomerStatus,
        to: CustomerStatus,
    },
    /// The customer already had the status asked for.
    Unchanged(CustomerStatus),
    /// A deleted customer cannot be suspended (restore it first).
    Refused(CustomerStatus),
    /// A deleted customer's identifying value (its domain, its username)
    /// went to another customer after the delete released it: restoring
    /// would make two customers hold it.
    IdentityTaken {
        option_id: String,
        value: String,
    },
    NotFound,
}

impl StatusAction {
    /// The state machine: what the action does to a customer of `current`
    /// status. Never [`StatusActionOutcome::NotFound`].
    pub fn apply_to(self, current: CustomerStatus) -> StatusActionOutcome {
        let to = match (self, current) {
            (Self::Suspend, CustomerStatus::Active) => CustomerStatus::Suspended,
            (Self::Suspend, CustomerStatus::Deleted) => {
                return StatusActionOutcome::Refused(current)
            }
            (Self::Suspend, CustomerStatus::Suspended)
            | (Self::Restore, CustomerStatus::Active) => {
                return StatusActionOutcome::Unchanged(current)
            }
            (Self::Restore, CustomerStatus::Suspended | CustomerStatus::Deleted) => {
                CustomerStatus::Active
            }
        };
        StatusActionOutcome::Changed { from: current, to }
    }
}

#[cfg(test)]
mod tests {
    use super::CustomerStatus::{Active, Deleted, Suspended};
    use super::StatusAction::{Restore, Suspend};
    use super::StatusActionOutcome::{Changed, Refused, Unchanged};

    #[test]
    fn the_whole_state_machine() {
        assert_eq!(
            Suspend.apply_to(Active),
            Changed {
                from: Active,
                to: Suspended
            }
        );
        assert_eq!(Suspend.apply_to(Suspended), Unchanged(Suspended));
        assert_eq!(Suspend.apply_to(Deleted), Refused(Deleted));
        assert_eq!(Restore.apply_to(Active), Unchanged(Active));
        assert_eq!(
            Restore.apply_to(Suspended),
            Changed {
                from: Suspended,
                to: Active
            }
        );
        assert_eq!(
            Restore.apply_to(Deleted),
            Changed {
                from: Deleted,
                to: Active
            }
        );
    }
}
