//! Validating one part: its size, the subject's shape, the `[#...#]`
//! rewrite, the tag scan, parsing, then the AST walk. Holds the size limits.

use handlebars::template::Template;

use super::ast::check_template;
use super::fields::KnownFields;
use super::problem::{TemplatePart, TemplateProblem};
use super::syntax::{scan_tags, shape_problem, syntax_problem};
use super::translate::translate_merge_fields;

/// Longest part accepted, in bytes.
pub const MAX_PART_BYTES: usize = 128 * 1024;

/// Longest subject template accepted, in bytes (RFC 5322's line limit).
pub const MAX_SUBJECT_BYTES: usize = 998;

/// Most problems listed per part.
const MAX_PROBLEMS_PER_PART: usize = 50;

/// Checks one part and compiles it; `None` when it cannot be compiled.
/// Problems found are pushed to `problems`.
pub(super) fn compile_part(
    part: TemplatePart,
    text: &str,
    known: &KnownFields,
    problems: &mut Vec<TemplateProblem>,
) -> Option<Template> {
    let mut found = Vec::new();
    let template = check_part(part, text, known, &mut found);
    // Pasted junk can hold thousands of problems; the first ones are enough.
    if found.len() > MAX_PROBLEMS_PER_PART {
        let more = found.len() - MAX_PROBLEMS_PER_PART;
        found.truncate(MAX_PROBLEMS_PER_PART);
        found.push(TemplateProblem::new(
            part,
            None,
            format!("The {part} has {more} more problems; fix these first."),
        ));
    }
    problems.append(&mut found);
    template
}

fn check_part(
    part: TemplatePart,
    text: &str,
    known: &KnownFields,
    problems: &mut Vec<TemplateProblem>,
) -> Option<Template> {
    if text.len() > MAX_PART_BYTES {
        // Anything further would be slow and pointless.
        problems.push(TemplateProblem::new(
            part,
            None,
            format!(
                "The {part} is {} bytes; the limit is {MAX_PART_BYTES} bytes.",
                text.len()
            ),
        ));
        return None;
    }
    if part == TemplatePart::Subject && !check_subject(text, problems) {
        return None;
    }

    let translated = translate_merge_fields(part, text, problems);
    let tags = scan_tags(&translated.text);
    if let Some(problem) = shape_problem(part, &translated, &tags) {
        problems.push(problem);
        return None;
    }
    let template = match Template::compile_with_name(&translated.text, part.registry_name().into())
    {
        Ok(template) => template,
        Err(error) => {
            problems.push(syntax_problem(part, &error, &translated, &tags));
            return None;
        }
    };
    check_template(part, known, &translated, &template, problems);
    Some(template)
}

/// Checks the subject's shape; `false` when it is too long to check
/// further.
fn check_subject(text: &str, problems: &mut Vec<TemplateProblem>) -> bool {
    let part = TemplatePart::Subject;
    // Editors add a final newline; what matters is the text itself.
    let subject = text.trim();
    if subject.is_empty() {
        problems.push(TemplateProblem::new(
            part,
            None,
            "The subject is empty.".into(),
        ));
    }
    if subject.len() > MAX_SUBJECT_BYTES {
        problems.push(TemplateProblem::new(
            part,
            None,
            format!(
                "The subject is {} bytes; the limit is {MAX_SUBJECT_BYTES} bytes.",
                subject.len()
            ),
        ));
        return false;
    }
    if let Some(index) = subject.find(['\r', '\n']) {
        // Point at the operator's second line, counting the trimmed start.
        let leading = text.len() - text.trim_start().len();
        let line = text[..leading + index].matches('\n').count() + 2;
        problems.push(TemplateProblem::new(
            part,
            Some((line, 1)),
            format!("The subject must be a single line; line {line} starts a new one."),
        ));
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::template::syntax::{MAX_BLOCK_DEPTH, MAX_TAGS_PER_PART};
    use crate::notify::template::test_support::*;
    use crate::notify::template::CompiledTemplate;

    #[test]
    fn huge_parts_are_refused() {
        let huge = "x".repeat(10 * 1024 * 1024);
        let found = problems(&source("Hi", "", &huge), &known());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "The HTML body is 10485760 bytes; the limit is 131072 bytes."
        );
        let long = "x".repeat(MAX_SUBJECT_BYTES + 1);
        assert!(problems(&source(&long, "", ""), &known())[0]
            .message
            .contains("the limit is 998 bytes"));
        let found = problems(&source("Hi\nthere", "", ""), &known());
        assert_eq!(found[0].line, Some(2));
    }

    #[test]
    fn oversized_or_overnested_parts_are_refused_before_parsing() {
        let nested = |depth: usize| {
            text(&format!(
                "{}x{}",
                "{{#if username}}".repeat(depth),
                "{{/if}}".repeat(depth)
            ))
        };
        render(&nested(MAX_BLOCK_DEPTH), &known(), &maria());
        let found = problems(&nested(100), &known());
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .message
            .starts_with("Blocks are nested more than 32 deep at line 1"));

        let chain = format!(
            "{{{{#if username}}}}a{}{{{{/if}}}}",
            "{{else if username}}b".repeat(MAX_BLOCK_DEPTH)
        );
        assert!(problems(&text(&chain), &known())[0]
            .message
            .starts_with("Blocks are nested"));

        let parens = format!(
            "{{{{#if {}x{}}}}}y{{{{/if}}}}",
            "(".repeat(500),
            ")".repeat(500)
        );
        assert!(problems(&text(&parens), &known())[0]
            .message
            .ends_with("nests brackets more than 8 deep."));

        let found = problems(
            &text(&"{{username}}".repeat(MAX_TAGS_PER_PART + 1)),
            &known(),
        );
        assert_eq!(
            found[0].message,
            "The text body has 501 tags and merge fields; the limit is 500."
        );
        render(
            &text(&"[#username#]".repeat(MAX_TAGS_PER_PART)),
            &known(),
            &maria(),
        );

        // The scan copes with any text inside a tag.
        for body in [
            "{{é}}",
            "{{#if \"é}}\"}}x{{/if}}",
            "{{ 😀 ",
            "{{'é",
            "é{{x \\",
        ] {
            let _ = CompiledTemplate::compile(&text(body), &known());
        }

        // Junk lists its first problems only.
        let found = problems(&text(&"[#a b#]\n".repeat(400)), &known());
        assert_eq!(found.len(), MAX_PROBLEMS_PER_PART + 1);
        assert_eq!(
            found[50].message,
            "The text body has 350 more problems; fix these first."
        );
    }
}
