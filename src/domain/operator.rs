//! Operators of this Mailroom and what each role may do. The operator API
//! and the console ask [`Role::allows`]: one policy for both.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Roles as the PSA platforms of seed 000 name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads customers and the outbox, previews templates.
    MailAdmin,
    /// Manages customers, templates, sync options and plans.
    Admin,
    /// Super Admin / Operator: everything, application keys and integrations too.
    SuperAdmin,
}

/// Something an operator may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ReadTemplates,
    PreviewTemplates,
    EditTemplates,
    SendTestMail,
    ReadOutbox,
    RetryMail,
    ReadCustomers,
    ManageCustomers,
    ManageSyncOptions,
    /// List product types and plans.
    ReadCatalog,
    /// Create and change plans (prices, deprecation).
    ManageCatalog,
    ManageApplicationKeys,
    ManageIntegrations,
    /// Read the operator audit trail.
    ReadOperatorAudit,
    /// Invite, disable, re-enable operators and change their roles.
    ManageOperators,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::SuperAdmin, Role::Admin, Role::MailAdmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::Admin => "admin",
            Self::MailAdmin => "mail_admin",
        }
    }

    /// Accepts `super_admin`, `super-admin`, `Super Admin`, `operator` (the
    /// seed's other name for it), `admin`, `mail_admin`, ...
    pub fn parse(text: &str) -> Option<Self> {
        let key: String = text
            .trim()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect();
        match key.as_str() {
            "superadmin" | "operator" | "superadminoperator" => Some(Self::SuperAdmin),
            "admin" => Some(Self::Admin),
            "mailadmin" => Some(Self::MailAdmin),
            _ => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::SuperAdmin => "Super Admin",
            Self::Admin => "Admin",
            Self::MailAdmin => "Mail Admin",
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        let least = match permission {
            ReadTemplates | PreviewTemplates | ReadOutbox | ReadCustomers | ReadCatalog => {
                Role::MailAdmin
            }
            EditTemplates | SendTestMail | RetryMail | ManageCustomers | ManageSyncOptions
            | ManageCatalog => Role::Admin,
            ManageApplicationKeys | ManageIntegrations | ReadOperatorAudit | ManageOperators => {
                Role::SuperAdmin
            }
        };
        self >= least
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_the_seed_names() {
        assert_eq!(Role::parse("Super Admin"), Some(Role::SuperAdmin));
        assert_eq!(Role::parse("operator"), Some(Role::SuperAdmin));
        assert_eq!(Role::parse("mail-admin"), Some(Role::MailAdmin));
        assert_eq!(Role::parse("ADMIN"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
    }

    #[test]
    fn each_role_has_its_rights_and_no_more() {
        use Permission::*;
        // The whole policy, written out: every permission and what each
        // role is answered (columns: Mail Admin, Admin, Super Admin).
        const Y: bool = true;
        const N: bool = false;
        let table: [(Permission, [bool; 3]); 15] = [
            (ReadTemplates, [Y, Y, Y]),
            (PreviewTemplates, [Y, Y, Y]),
            (EditTemplates, [N, Y, Y]),
            (SendTestMail, [N, Y, Y]),
            (ReadOutbox, [Y, Y, Y]),
            (RetryMail, [N, Y, Y]),
            (ReadCustomers, [Y, Y, Y]),
            (ManageCustomers, [N, Y, Y]),
            (ManageSyncOptions, [N, Y, Y]),
            (ReadCatalog, [Y, Y, Y]),
            (ManageCatalog, [N, Y, Y]),
            (ManageApplicationKeys, [N, N, Y]),
            (ManageIntegrations, [N, N, Y]),
            (ReadOperatorAudit, [N, N, Y]),
            (ManageOperators, [N, N, Y]),
        ];
        let roles = [Role::MailAdmin, Role::Admin, Role::SuperAdmin];
        for (permission, expected) in table {
            for (role, allowed) in roles.into_iter().zip(expected) {
                assert_eq!(
                    role.allows(permission),
                    allowed,
                    "{role:?} × {permission:?}"
                );
            }
        }
        // The table covers every role and every permission once: a new
        // variant fails to compile here until the table decides its row
        // or column.
        for role in roles {
            match role {
                Role::MailAdmin | Role::Admin | Role::SuperAdmin => {}
            }
        }
        let mut listed: Vec<Permission> = Vec::new();
        for (permission, _) in table {
            match permission {
                ReadTemplates
                | PreviewTemplates
                | EditTemplates
                | SendTestMail
                | ReadOutbox
                | RetryMail
                | ReadCustomers
                | ManageCustomers
                | ManageSyncOptions
                | ReadCatalog
                | ManageCatalog
                | ManageApplicationKeys
                | ManageIntegrations
                | ReadOperatorAudit
                | ManageOperators => {}
            }
            assert!(!listed.contains(&permission), "{permission:?} twice");
            listed.push(permission);
        }
        assert!(Role::ALL.iter().all(|role| roles.contains(role)));
    }
}
