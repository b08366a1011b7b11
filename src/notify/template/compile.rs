//! Compiled templates: a validated template registered in two handlebars
//! registries (plain and HTML-escaping), rendered many times.

use std::fmt;

use handlebars::Handlebars;

use super::check::compile_part;
use super::context::MergeContext;
use super::fields::KnownFields;
use super::problem::{TemplateError, TemplatePart};
use super::TemplateSource;

/// A validated, compiled template: compile once, render many times.
pub struct CompiledTemplate {
    /// Subject and text body: nothing is escaped.
    plain: Handlebars<'static>,
    /// HTML body: merge values are HTML-escaped.
    html: Handlebars<'static>,
    known: KnownFields,
}

impl fmt::Debug for CompiledTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledTemplate")
            .field("known", &self.known)
            .finish_non_exhaustive()
    }
}

/// Built-in helpers besides `if`/`unless`. Validation refuses them, but a
/// name-only `{{len}}` would still call a helper before looking up a field
/// named `len`, so they go.
const UNUSED_HELPERS: &[&str] = &[
    "each", "with", "lookup", "raw", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and", "or",
    "not", "len",
];

fn registry(escape_html: bool) -> Handlebars<'static> {
    let mut registry = Handlebars::new();
    registry.set_strict_mode(true);
    for helper in UNUSED_HELPERS {
        registry.unregister_helper(helper);
    }
    if !escape_html {
        registry.register_escape_fn(handlebars::no_escape);
    }
    registry
}

impl CompiledTemplate {
    /// Validates every part and compiles it; all problems are reported at
    /// once, with the operator's line and column.
    pub fn compile(source: &TemplateSource, known: &KnownFields) -> Result<Self, TemplateError> {
        let mut problems = Vec::new();
        let mut compiled = Vec::with_capacity(TemplatePart::ALL.len());
        for part in TemplatePart::ALL {
            if let Some(template) = compile_part(part, part.text(source), known, &mut problems) {
                compiled.push((part, template));
            }
        }
        if !problems.is_empty() {
            return Err(TemplateError::Invalid(problems));
        }

        let mut plain = registry(false);
        let mut html = registry(true);
        for (part, template) in compiled {
            let target = match part {
                TemplatePart::HtmlBody => &mut html,
                TemplatePart::Subject | TemplatePart::TextBody => &mut plain,
            };
            target.register_template(part.registry_name(), template);
        }
        Ok(Self {
            plain,
            html,
            known: known.clone(),
        })
    }

    pub fn render(&self, context: &MergeContext) -> Result<RenderedMessage, TemplateError> {
        let data = context.to_json(&self.known);
        let render = |registry: &Handlebars<'static>, part: TemplatePart| {
            registry
                .render(part.registry_name(), &data)
                .map_err(|source| TemplateError::Render { part, source })
        };
        // A header must stay on one line whatever the merge values hold.
        let subject = render(&self.plain, TemplatePart::Subject)?
            .replace(['\r', '\n'], " ")
            .trim()
            .to_owned();
        Ok(RenderedMessage {
            subject,
            text_body: render(&self.plain, TemplatePart::TextBody)?,
            html_body: render(&self.html, TemplatePart::HtmlBody)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RenderedMessage {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::template::test_support::*;

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let context = MergeContext {
            contact_first_name: Some("<script>alert(1)</script>".into()),
            ..MergeContext::default()
        };
        let message = render(
            &source(
                "Hi [#Contacts.FirstName#]",
                "Hi [#Contacts.FirstName#]",
                "<p>Hi [#Contacts.FirstName#]</p>",
            ),
            &known(),
            &context,
        );
        assert_eq!(message.subject, "Hi <script>alert(1)</script>");
        assert_eq!(message.text_body, "Hi <script>alert(1)</script>");
        assert_eq!(
            message.html_body,
            "<p>Hi &lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
    }

    #[test]
    fn subject_stays_on_one_line() {
        let context = MergeContext {
            account_name: Some("Evil\r\nBcc: x@example.com".into()),
            ..MergeContext::default()
        };
        let message = render(&source("Hi [#Account.Name#]  ", "", ""), &known(), &context);
        assert_eq!(message.subject, "Hi Evil  Bcc: x@example.com");
    }

    #[test]
    fn all_problems_are_collected() {
        let found = problems(
            &source(
                "",
                "[#nope#]\n{{#each x}}{{/each}}",
                "{{{username}}} [#unclosed",
            ),
            &known(),
        );
        let parts: Vec<TemplatePart> = found.iter().map(|p| p.part).collect();
        assert_eq!(
            parts,
            [
                TemplatePart::Subject,
                TemplatePart::TextBody,
                TemplatePart::TextBody,
                TemplatePart::HtmlBody,
                TemplatePart::HtmlBody,
            ]
        );
        let error = TemplateError::Invalid(found);
        assert!(error.to_string().contains("subject: The subject is empty."));
    }

    #[test]
    fn compiled_templates_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledTemplate>();
    }
}
