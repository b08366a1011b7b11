//! Email templates as plain data: the names of the templates Mailroom sends
//! and the three stored parts of a template. Checking, compiling and
//! rendering them is the notifier's business (`notify::template`).

/// The access-instructions template's name.
pub const ACCESS_INSTRUCTIONS: &str = "access_instructions";

/// The set-password mail of a mailbox (`Users/Add` without a password,
/// `Users/Password/Reset`): a one-time link to its owner.
pub const MAILBOX_SET_PASSWORD: &str = "mailbox_set_password";

/// The set-password mail of an operator (an invitation to the console or a
/// password reset): a one-time link, never a password.
pub const OPERATOR_SET_PASSWORD: &str = "operator_set_password";

// The text of a template as an operator wrote it and as a revision stores
// it: subject, plain-text body and HTML body, unchecked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TemplateSource {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}
