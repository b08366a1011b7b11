//! The BSS's merge-field syntax rewritten as handlebars (`[#Field#]` ->
//! `{{Field}}`), keeping what it takes to point back at the operator's text.

use super::problem::{TemplatePart, TemplateProblem};

/// A part with `[#...#]` rewritten as handlebars, and what it takes to point
/// a handlebars position back at the operator's text. Lines never change (a
/// merge field cannot span lines); columns shift within a line.
pub(super) struct Translated {
    pub(super) text: String,
    /// Per line (0-based), the merge fields rewritten on it, left to right.
    shifts: Vec<Vec<Shift>>,
}

/// One rewritten merge field; columns are 0-based, in chars (as pest counts).
#[derive(Debug, Clone, Copy)]
struct Shift {
    original_start: usize,
    original_len: usize,
    translated_start: usize,
    translated_len: usize,
}

impl Translated {
    /// Maps a 1-based handlebars (line, column) back to the operator's text.
    pub(super) fn original_position(&self, line: usize, column: usize) -> (usize, usize) {
        let Some(shifts) = line.checked_sub(1).and_then(|index| self.shifts.get(index)) else {
            return (line, column);
        };
        let target = column.saturating_sub(1);
        let mut original = target;
        for shift in shifts {
            let translated_end = shift.translated_start + shift.translated_len;
            if target >= translated_end {
                original = shift.original_start + shift.original_len + (target - translated_end);
            } else if target >= shift.translated_start {
                // Inside a rewritten field: point at its `[#`.
                original = shift.original_start;
                break;
            } else {
                break;
            }
        }
        (line, original + 1)
    }
}

pub(super) fn translate_merge_fields(
    part: TemplatePart,
    source: &str,
    problems: &mut Vec<TemplateProblem>,
) -> Translated {
    let mut text = String::with_capacity(source.len());
    let mut all_shifts = Vec::new();
    for (index, line) in source.split('\n').enumerate() {
        if index > 0 {
            text.push('\n');
        }
        let line_no = index + 1;
        let mut shifts = Vec::new();
        // Columns (in chars) reached so far in the original and the output.
        let (mut original_col, mut translated_col) = (0, 0);
        let mut rest = line;
        while let Some(open) = rest.find("[#") {
            let before = &rest[..open];
            text.push_str(before);
            let before_len = before.chars().count();
            original_col += before_len;
            translated_col += before_len;

            let Some(close) = rest[open + 2..].find("#]") else {
                problems.push(TemplateProblem::new(
                    part,
                    Some((line_no, original_col + 1)),
                    format!("Merge field opened with [# at line {line_no} is not closed with #]."),
                ));
                // Keep the rest as text so the other checks still run.
                text.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let end = open + 2 + close + 2;
            let raw = &rest[open..end];
            let raw_len = raw.chars().count();
            match field_expression(raw[2..raw.len() - 2].trim()) {
                Some(expression) => {
                    let len = expression.chars().count();
                    shifts.push(Shift {
                        original_start: original_col,
                        original_len: raw_len,
                        translated_start: translated_col,
                        translated_len: len,
                    });
                    text.push_str(&expression);
                    translated_col += len;
                }
                None => {
                    problems.push(TemplateProblem::new(
                        part,
                        Some((line_no, original_col + 1)),
                        format!(
                            "Merge field {raw} at line {line_no} is not a field name: use \
                             letters, digits, _ and -, with dots between parts, e.g. \
                             [#Contacts.FullName#]."
                        ),
                    ));
                    text.push_str(raw);
                    translated_col += raw_len;
                }
            }
            original_col += raw_len;
            rest = &rest[end..];
        }
        text.push_str(rest);
        all_shifts.push(shifts);
    }
    Translated {
        text,
        shifts: all_shifts,
    }
}

/// `Contacts.FullName` -> `{{Contacts.FullName}}`; `None` if not a field
/// name.
fn field_expression(name: &str) -> Option<String> {
    let segments: Vec<&str> = name.split('.').collect();
    if !segments.iter().all(|s| is_field_segment(s)) {
        return None;
    }
    let path: Vec<String> = segments.iter().map(|s| handlebars_segment(s)).collect();
    Some(format!("{{{{{}}}}}", path.join(".")))
}

/// Letters, digits, `_` and `-`. `this` is excluded: handlebars drops it
/// from paths.
pub(super) fn is_field_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "this"
        && segment
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// Words handlebars would read as something other than a path.
const HANDLEBARS_WORDS: &[&str] = &["else", "as", "true", "false", "null", "undefined"];

/// A segment handlebars takes literally: plain identifiers as they are,
/// anything else (`customer-location`, `else`, `1st`) as `[segment]`.
fn handlebars_segment(segment: &str) -> String {
    let plain = segment
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !segment.starts_with(|c: char| c.is_ascii_digit())
        && !HANDLEBARS_WORDS.contains(&segment);
    if plain {
        segment.to_owned()
    } else {
        format!("[{segment}]")
    }
}

#[cfg(test)]
mod tests {
    use crate::config::NotificationMode;
    use crate::notify::template::test_support::*;
    use crate::notify::template::KnownFields;

    #[test]
    fn both_syntaxes_render_the_same() {
        let bss = source(
            "Welcome [#Contacts.FullName#]",
            "Hi [# Contacts.FirstName #], user [#username#] at [#Operator.Name#]",
            "<p>[#Contacts.FullName#]</p>",
        );
        let hbs = source(
            "Welcome {{Contacts.FullName}}",
            "Hi {{Contacts.FirstName}}, user {{username}} at {{Operator.Name}}",
            "<p>{{Contacts.FullName}}</p>",
        );
        let a = render(&bss, &known(), &maria());
        assert_eq!(a, render(&hbs, &known(), &maria()));
        assert_eq!(a.subject, "Welcome Maria Papadopoulou");
        assert_eq!(a.text_body, "Hi Maria, user maria at Example Mail");
        assert_eq!(a.html_body, "<p>Maria Papadopoulou</p>");
    }

    #[test]
    fn positions_point_at_the_operators_text() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer-id".to_owned()]);
        // `[#customer-id#]` becomes the longer `{{[customer-id]}}`.
        let found = problems(&text("x\n[#customer-id#] {{nope}} [#nada#]"), &known);
        let at: Vec<_> = found.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, [(Some(2), Some(17)), (Some(2), Some(26))]);
    }

    #[test]
    fn unclosed_merge_field_is_reported() {
        let found = problems(&text("Hi\nDear [#Contacts.FullName,\n#]"), &known());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (Some(2), Some(6)));
        assert_eq!(
            found[0].message,
            "Merge field opened with [# at line 2 is not closed with #]."
        );

        let found = problems(&text("[#Contacts Full Name#]"), &known());
        assert!(found[0].message.contains("is not a field name"));
    }
}
