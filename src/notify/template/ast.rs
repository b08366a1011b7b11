//! The walk over a parsed part's handlebars AST that records every construct
//! an email template may not use: unknown fields, helpers other than
//! `{{#if}}`/`{{#unless}}`, partials, decorators, unescaped HTML.

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Path, PathSeg};

use super::fields::KnownFields;
use super::problem::{TemplatePart, TemplateProblem};
use super::translate::Translated;

/// Records in `problems` every construct of `template`, a parsed `part`,
/// that an email template may not use.
pub(super) fn check_template(
    part: TemplatePart,
    known: &KnownFields,
    translated: &Translated,
    template: &Template,
    problems: &mut Vec<TemplateProblem>,
) {
    let mut checker = Checker {
        part,
        known,
        translated,
        problems,
    };
    checker.template(template, None);
}

/// Walks a compiled part and records every construct an email template may
/// not use.
struct Checker<'a> {
    part: TemplatePart,
    known: &'a KnownFields,
    translated: &'a Translated,
    problems: &'a mut Vec<TemplateProblem>,
}

impl Checker<'_> {
    /// `inherited` is the enclosing element's position, for elements
    /// handlebars does not map (the `{{else if}}` chain).
    fn template(&mut self, template: &Template, inherited: Option<(usize, usize)>) {
        for (index, element) in template.elements.iter().enumerate() {
            let at = template
                .mapping
                .get(index)
                .map(|mapping| self.translated.original_position(mapping.0, mapping.1))
                .or(inherited);
            self.element(element, at);
        }
    }

    fn element(&mut self, element: &TemplateElement, at: Option<(usize, usize)>) {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::HtmlExpression(_) if self.part == TemplatePart::HtmlBody => {
                self.problem(
                    at,
                    format!(
                        "Unescaped output {{{{{{...}}}}}} is not allowed in the HTML body{}: \
                         merge values are always escaped.",
                        in_line(at)
                    ),
                );
            }
            // Nothing is escaped in the subject and text body anyway.
            TemplateElement::Expression(helper) | TemplateElement::HtmlExpression(helper) => {
                self.expression(helper, at)
            }
            TemplateElement::HelperBlock(helper) => self.block(helper, at),
            TemplateElement::PartialExpression(partial)
            | TemplateElement::PartialBlock(partial) => {
                let name = partial.name.as_name().unwrap_or("...");
                self.unsupported(at, &format!("`{{{{> {name}}}}}`"));
            }
            TemplateElement::DecoratorExpression(decorator)
            | TemplateElement::DecoratorBlock(decorator) => {
                let name = decorator.name.as_name().unwrap_or("...");
                self.unsupported(at, &format!("`{{{{* {name}}}}}`"));
            }
            // Elements added by future handlebars versions.
            _ => self.unsupported(at, "This construct"),
        }
    }

    /// `{{field}}`: a plain variable, never a helper call.
    fn expression(&mut self, helper: &HelperTemplate, at: Option<(usize, usize)>) {
        let is_plain = helper.params.is_empty() && helper.hash.is_empty();
        match &helper.name {
            Parameter::Path(path) if is_plain => self.field(path, at),
            Parameter::Subexpression(_) => self.unsupported(at, "A (subexpression)"),
            name => {
                let name = name.as_name().unwrap_or("...");
                self.unsupported(at, &format!("`{{{{{name}}}}}`"));
            }
        }
    }

    /// `{{#if field}}`/`{{#unless field}}` only, with their branches.
    fn block(&mut self, helper: &HelperTemplate, at: Option<(usize, usize)>) {
        let name = helper.name.as_name().unwrap_or("...");
        if !matches!(name, "if" | "unless") {
            self.unsupported(at, &format!("`{{{{#{name}}}}}`"));
            return;
        }
        match helper.params.as_slice() {
            [Parameter::Path(path)] if helper.hash.is_empty() && helper.block_param.is_none() => {
                self.field(path, at)
            }
            [Parameter::Literal(_)] if helper.hash.is_empty() && helper.block_param.is_none() => {}
            _ => self.problem(
                at,
                format!(
                    "`{{{{#{name}}}}}`{} takes exactly one merge field, e.g. \
                     {{{{#{name} Contacts.FirstName}}}}.",
                    in_line(at)
                ),
            ),
        }
        for branch in [&helper.template, &helper.inverse].into_iter().flatten() {
            self.template(branch, at);
        }
    }

    fn field(&mut self, path: &Path, at: Option<(usize, usize)>) {
        let (name, usable) = match path {
            Path::Relative((segments, raw)) => {
                let names: Option<Vec<&str>> = segments
                    .iter()
                    .map(|segment| match segment {
                        PathSeg::Named(name) => Some(name.as_str()),
                        _ => None,
                    })
                    .collect();
                match names {
                    // `[a.b]` is one key "a.b", not the field a.b.
                    Some(names) if !names.is_empty() => (
                        names.join("."),
                        names.iter().all(|name| !name.contains('.')),
                    ),
                    // `this`, `../x`, `@root.x`.
                    _ => (raw.clone(), false),
                }
            }
            // `@index` and other block-local variables.
            Path::Local((_, _, raw)) => (raw.clone(), false),
        };
        if usable && self.known.contains(&name) {
            return;
        }
        let hint = self
            .known
            .suggestion(&name)
            .map(|known| format!(" Did you mean `{known}`?"))
            .unwrap_or_default();
        self.problem(
            at,
            format!(
                "Unknown merge field `{name}`{}.{hint} Known fields: {}.",
                at_line(at),
                self.known.list()
            ),
        );
    }

    fn unsupported(&mut self, at: Option<(usize, usize)>, what: &str) {
        self.problem(
            at,
            format!(
                "{what} is not supported in email templates{}; use merge fields and \
                 {{{{#if}}}}/{{{{#unless}}}}.",
                in_line(at)
            ),
        );
    }

    fn problem(&mut self, at: Option<(usize, usize)>, message: String) {
        self.problems
            .push(TemplateProblem::new(self.part, at, message));
    }
}

/// " at line 3", or nothing when the line is unknown.
fn at_line(at: Option<(usize, usize)>) -> String {
    at.map(|(line, _)| format!(" at line {line}"))
        .unwrap_or_default()
}

/// " (line 3)", or nothing when the line is unknown.
fn in_line(at: Option<(usize, usize)>) -> String {
    at.map(|(line, _)| format!(" (line {line})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::template::test_support::*;
    use crate::notify::template::MergeContext;

    #[test]
    fn unknown_field_is_named_with_its_line_and_the_known_list() {
        let found = problems(&text("Hello\n\nDear [#Contact.FullName#],\n"), &known());
        assert_eq!(found.len(), 1);
        let problem = &found[0];
        assert_eq!(problem.part, TemplatePart::TextBody);
        assert_eq!((problem.line, problem.column), (Some(3), Some(6)));
        assert!(
            problem.message.starts_with(
                "Unknown merge field `Contact.FullName` at line 3. Known fields: \
                 Contacts.FullName, Contacts.FirstName, "
            ),
            "{}",
            problem.message
        );
        assert!(problem.message.contains("ActivationUrl"));

        // Columns after a rewritten field still point at the operator's text.
        let found = problems(&text("[#username#] and {{nope}}"), &known());
        assert_eq!((found[0].line, found[0].column), (Some(1), Some(18)));

        let found = problems(&text("{{contacts.fullname}}"), &known());
        assert!(found[0]
            .message
            .contains("Did you mean `Contacts.FullName`?"));

        // Only whole fields: not the objects that hold them, nor `[a.b]` keys.
        for body in [
            "{{Contacts}}",
            "{{[Contacts.FullName]}}",
            "{{this}}",
            "{{@root.username}}",
        ] {
            assert_eq!(problems(&text(body), &known()).len(), 1, "{body}");
        }
    }

    #[test]
    fn helpers_other_than_if_and_unless_are_refused() {
        let found = problems(&text("Hi\n\n\n{{#each Contacts}}x{{/each}}"), &known());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "`{{#each}}` is not supported in email templates (line 4); use merge fields and \
             {{#if}}/{{#unless}}."
        );
        for body in [
            "{{#with Contacts}}{{FullName}}{{/with}}",
            "{{lookup Contacts 'FullName'}}",
            "{{> header}}",
            "{{#> layout}}x{{/layout}}",
            "{{*inline}}",
            "{{#if (eq username 'x')}}y{{/if}}",
            "{{{{raw}}}}{{x}}{{{{/raw}}}}",
            "{{#if username includeZero=true}}y{{/if}}",
            "{{#if}}y{{/if}}",
            "{{#if username}}{{#each Contacts}}{{/each}}{{/if}}",
        ] {
            assert_eq!(problems(&text(body), &known()).len(), 1, "{body}");
        }
        // Comments and raw text are fine.
        render(
            &text("{{! note }}{{!-- more --}}plain \\{{x}}"),
            &known(),
            &maria(),
        );
    }

    #[test]
    fn triple_stash_is_refused_in_html_only() {
        let found = problems(
            &source("Hi", "", "<p>\n{{{Contacts.FullName}}}</p>"),
            &known(),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].part, TemplatePart::HtmlBody);
        assert_eq!(
            found[0].message,
            "Unescaped output {{{...}}} is not allowed in the HTML body (line 2): merge values \
             are always escaped."
        );
        assert_eq!(
            problems(&source("Hi", "", "{{&username}}"), &known()).len(),
            1
        );

        let context = MergeContext {
            contact_first_name: Some("A&B".into()),
            ..MergeContext::default()
        };
        let message = render(
            &source("{{{Contacts.FirstName}}}", "{{{Contacts.FirstName}}}", ""),
            &known(),
            &context,
        );
        assert_eq!(message.subject, "A&B");
        assert_eq!(message.text_body, "A&B");
    }

    #[test]
    fn if_and_unless_take_known_fields() {
        let template = text(
            "{{#if Contacts.FirstName}}Hi {{Contacts.FirstName}}{{else}}Hello{{/if}}\
             {{#unless Account.Code}}!{{/unless}}",
        );
        assert_eq!(render(&template, &known(), &maria()).text_body, "Hi Maria!");
        assert_eq!(
            render(&template, &known(), &MergeContext::default()).text_body,
            "Hello!"
        );

        let found = problems(&text("{{#if Contacts.Nickname}}x{{/if}}"), &known());
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .message
            .starts_with("Unknown merge field `Contacts.Nickname` at line 1."));

        // Fields inside branches and `{{else if}}` chains are checked too.
        let found = problems(
            &text("{{#if username}}\n{{nope}}\n{{else if Account.Nope}}\n{{also}}{{/if}}"),
            &known(),
        );
        let names: Vec<&str> = found
            .iter()
            .map(|p| p.message.split('`').nth(1).unwrap_or_default())
            .collect();
        assert_eq!(names, ["nope", "Account.Nope", "also"]);
        assert_eq!(found[0].line, Some(2));
    }
}
