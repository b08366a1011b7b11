//! Email templates with merge fields.
//!
//! Operators edit the access-instructions email (subject, plain-text body,
//! HTML body). They may write the BSS's merge-field syntax
//! `[#Contacts.FullName#]` or handlebars `{{Contacts.FullName}}`; both render
//! the same. A template is validated and compiled once ([`CompiledTemplate`])
//! and rendered many times. Validation walks the handlebars AST so that a
//! template which compiles never fails at render time in strict mode: every
//! variable is a known field, and only `{{#if}}`/`{{#unless}}` are allowed.
//!
//! Pure code: no I/O, no database.
//!
//! - `fields`: the merge fields a template may use ([`KnownFields`]);
//! - `context`: the values a template is rendered with ([`MergeContext`]);
//! - `problem`: template parts and the problems and errors reported on them;
//! - `compile`: compiled templates and rendering ([`CompiledTemplate`]);
//! - `check`: validating one part, from its size to its AST;
//! - `translate`: `[#Field#]` rewritten as `{{Field}}`, with positions;
//! - `syntax`: the tag scan that bounds nesting and explains syntax errors;
//! - `ast`: the walk that refuses what an email template may not use.
//!
//! The stored text itself ([`TemplateSource`]) and the template names are
//! plain data in [`crate::domain::template`].

mod ast;
mod check;
mod compile;
mod context;
mod fields;
mod problem;
mod syntax;
mod translate;

pub use check::{MAX_PART_BYTES, MAX_SUBJECT_BYTES};
pub use compile::{CompiledTemplate, RenderedMessage};
pub use context::MergeContext;
pub use fields::{KnownFields, MergeField};
pub use problem::{TemplateError, TemplatePart, TemplateProblem};
pub use syntax::{MAX_BLOCK_DEPTH, MAX_TAGS_PER_PART};

pub use crate::domain::template::{TemplateSource, ACCESS_INSTRUCTIONS, MAILBOX_SET_PASSWORD};

/// The default access-instructions template, shipped with the binary.
pub fn default_access_instructions() -> TemplateSource {
    TemplateSource {
        // Editors add a final newline; the subject is a single line.
        subject: include_str!("../../../templates/email/access_instructions.subject.hbs")
            .trim()
            .to_owned(),
        text_body: include_str!("../../../templates/email/access_instructions.txt.hbs").to_owned(),
        html_body: include_str!("../../../templates/email/access_instructions.html.hbs").to_owned(),
    }
}

/// The default set-password template of mailboxes, shipped with the binary.
pub fn default_mailbox_set_password() -> TemplateSource {
    TemplateSource {
        subject: include_str!("../../../templates/email/mailbox_set_password.subject.hbs")
            .trim()
            .to_owned(),
        text_body: include_str!("../../../templates/email/mailbox_set_password.txt.hbs").to_owned(),
        html_body: include_str!("../../../templates/email/mailbox_set_password.html.hbs")
            .to_owned(),
    }
}

/// The default set-password template of operators (invitations and resets).
pub fn default_operator_set_password() -> TemplateSource {
    TemplateSource {
        subject: include_str!("../../../templates/email/operator_set_password.subject.hbs")
            .trim()
            .to_owned(),
        text_body: include_str!("../../../templates/email/operator_set_password.txt.hbs")
            .to_owned(),
        html_body: include_str!("../../../templates/email/operator_set_password.html.hbs")
            .to_owned(),
    }
}

/// Helpers shared by the unit tests of this module's files.
#[cfg(test)]
mod test_support {
    use super::*;
    use crate::config::NotificationMode;

    pub(super) fn known() -> KnownFields {
        KnownFields::new(NotificationMode::Mailroom, Vec::new())
    }

    pub(super) fn source(subject: &str, text_body: &str, html_body: &str) -> TemplateSource {
        TemplateSource {
            subject: subject.into(),
            text_body: text_body.into(),
            html_body: html_body.into(),
        }
    }

    /// A template with `body` as its text body, the others trivial.
    pub(super) fn text(body: &str) -> TemplateSource {
        source("Hello", body, "<p>Hello</p>")
    }

    pub(super) fn problems(source: &TemplateSource, known: &KnownFields) -> Vec<TemplateProblem> {
        match CompiledTemplate::compile(source, known) {
            Ok(_) => panic!("the template was accepted"),
            Err(TemplateError::Invalid(problems)) => problems,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }

    pub(super) fn render(
        source: &TemplateSource,
        known: &KnownFields,
        context: &MergeContext,
    ) -> RenderedMessage {
        CompiledTemplate::compile(source, known)
            .expect("valid template")
            .render(context)
            .expect("renders")
    }

    pub(super) fn maria() -> MergeContext {
        MergeContext {
            contact_first_name: Some("Maria".into()),
            contact_last_name: Some("Papadopoulou".into()),
            username: Some("maria".into()),
            operator_name: Some("Example Mail".into()),
            ..MergeContext::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NotificationMode;

    #[test]
    fn default_mailbox_set_password_template_renders_its_fields() {
        let known = KnownFields::new(NotificationMode::Bss, Vec::new());
        let template = default_mailbox_set_password();
        let compiled = CompiledTemplate::compile(&template, &known).expect("default compiles");
        let message = compiled.render(&known.sample_context()).expect("renders");
        assert_eq!(
            message.subject,
            "Set the password of your Example Mail mailbox pat.jones@example.com"
        );
        for sample in [
            "Pat Jones",
            "https://mail.example.net/mailbox-password/SAMPLE-TOKEN",
            "2026-11-26 18:00 UTC",
            "help@partner.example",
        ] {
            assert!(message.text_body.contains(sample), "text lacks {sample}");
            assert!(message.html_body.contains(sample), "HTML lacks {sample}");
        }
    }

    #[test]
    fn default_template_compiles_and_renders_every_field() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer_id".to_owned()]);
        let template = default_access_instructions();
        let compiled = CompiledTemplate::compile(&template, &known).expect("default compiles");
        let message = compiled.render(&known.sample_context()).expect("renders");
        assert_eq!(
            message.subject,
            "Your Example Mail mailbox account is ready"
        );
        for field in [
            "Contacts.FullName",
            "username",
            "ActivationUrl",
            "Operator.PortalUrl",
            "support_email",
            "Operator.Name",
        ] {
            let sample = known
                .fields()
                .iter()
                .find(|f| f.name == field)
                .map(|f| f.sample.as_str())
                .unwrap_or_default();
            assert!(message.text_body.contains(sample), "text lacks {field}");
            assert!(message.html_body.contains(sample), "HTML lacks {field}");
        }
        assert!(!message.text_body.contains("[#") && !message.html_body.contains("[#"));
        assert!(message
            .html_body
            .contains("<a href=\"https://mail.example.net/activate/SAMPLE-TOKEN\""));
    }
}
