//! What may change about an operator account: the guard that keeps at least
//! one active Super Admin, whatever the order of changes.

use super::operator::Role;

/// An operator account as the rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub role: Role,
    pub active: bool,
}

/// A change a Super Admin asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountChange {
    SetRole(Role),
    Disable,
    Enable,
}

/// Why a change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AccountRefusal {
    #[error("This is the last active Super Admin: make another operator Super Admin first.")]
    LastSuperAdmin,
}

/// The account after `change`, or the refusal. `active_super_admins` counts
/// the active Super Admins now, this account included if it is one.
pub fn apply(
    account: Account,
    change: AccountChange,
    active_super_admins: i64,
) -> Result<Account, AccountRefusal> {
    let after = match change {
        AccountChange::SetRole(role) => Account { role, ..account },
        AccountChange::Disable => Account {
            active: false,
            ..account
        },
        AccountChange::Enable => Account {
            active: true,
            ..account
        },
    };
    let counts = |a: Account| a.active && a.role == Role::SuperAdmin;
    if counts(account) && !counts(after) && active_super_admins <= 1 {
        return Err(AccountRefusal::LastSuperAdmin);
    }
    Ok(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPER: Account = Account {
        role: Role::SuperAdmin,
        active: true,
    };

    #[test]
    fn the_last_active_super_admin_is_neither_disabled_nor_demoted() {
        assert_eq!(
            apply(SUPER, AccountChange::Disable, 1),
            Err(AccountRefusal::LastSuperAdmin)
        );
        assert_eq!(
            apply(SUPER, AccountChange::SetRole(Role::Admin), 1),
            Err(AccountRefusal::LastSuperAdmin)
        );
        // Keeping the role, or re-enabling, is no loss.
        assert_eq!(
            apply(SUPER, AccountChange::SetRole(Role::SuperAdmin), 1),
            Ok(SUPER)
        );
        assert_eq!(apply(SUPER, AccountChange::Enable, 1), Ok(SUPER));
    }

    #[test]
    fn with_another_active_super_admin_anything_goes() {
        assert_eq!(
            apply(SUPER, AccountChange::Disable, 2),
            Ok(Account {
                role: Role::SuperAdmin,
                active: false
            })
        );
        assert_eq!(
            apply(SUPER, AccountChange::SetRole(Role::MailAdmin), 2),
            Ok(Account {
                role: Role::MailAdmin,
                active: true
            })
        );
    }

    #[test]
    fn other_accounts_are_not_guarded() {
        let disabled_super = Account {
            role: Role::SuperAdmin,
            active: false,
        };
        assert!(apply(disabled_super, AccountChange::SetRole(Role::Admin), 0).is_ok());
        let admin = Account {
            role: Role::Admin,
            active: true,
        };
        assert!(apply(admin, AccountChange::Disable, 1).is_ok());
        assert_eq!(
            apply(admin, AccountChange::SetRole(Role::SuperAdmin), 1),
            Ok(Account {
                role: Role::SuperAdmin,
                active: true
            })
        );
    }
}
