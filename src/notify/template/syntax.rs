//! A light scan of the `{{...}}` tags before parsing: it refuses parts too
//! big or too deeply nested for handlebars, and turns parser errors into
//! plain words ("the {{ at line 2 is not closed").

use handlebars::TemplateErrorReason;

use super::problem::{TemplatePart, TemplateProblem};
use super::translate::Translated;

/// Most tags (`{{...}}` and merge fields) accepted in one part. Handlebars
/// compiles in time proportional to tags times length (each element's line
/// is counted from the start), so this bounds a compile to well under a
/// second.
pub const MAX_TAGS_PER_PART: usize = 500;

/// Deepest block nesting accepted; each `{{else if}}` link counts as a level,
/// as handlebars nests it.
pub const MAX_BLOCK_DEPTH: usize = 32;

/// Deepest nesting of `(`, `[` and `{` accepted inside one `{{...}}` tag.
const MAX_TAG_DEPTH: usize = 8;

/// A `{{...}}` tag, found by a light scan that follows the handlebars grammar
/// closely enough to bound nesting before parsing and to explain syntax
/// errors in plain words. Escaped `\{{` counts as a tag: over-counting is
/// safe for both uses.
pub(super) struct Tag<'a> {
    /// Byte offset of the opening `{{`.
    start: usize,
    /// After the opening braces, up to the closing `}}` or where the scan
    /// gave up.
    body: &'a str,
    closed: bool,
    /// Deepest nesting of `(`, `[` and `{` in the body, outside quotes.
    depth: usize,
}

impl Tag<'_> {
    /// The body without whitespace control (`~`) and leading blanks.
    fn content(&self) -> &str {
        self.body.trim_start_matches('~').trim_start()
    }

    /// `if` for `{{#if x}}`.
    fn block_name(&self) -> Option<&str> {
        let rest = self.content().strip_prefix('#')?;
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '~')
            .unwrap_or(rest.len());
        Some(&rest[..end])
    }

    fn is_close(&self) -> bool {
        self.content().starts_with('/')
    }

    /// `{{else if x}}` or `{{^ x}}`: one more level in the block's chain.
    fn is_chain_link(&self) -> bool {
        let content = self.content().trim_end_matches('~').trim_end();
        let rest = content
            .strip_prefix("else")
            .filter(|rest| rest.starts_with(char::is_whitespace))
            .or_else(|| content.strip_prefix('^'));
        rest.is_some_and(|rest| !rest.trim().is_empty())
    }
}

pub(super) fn scan_tags(text: &str) -> Vec<Tag<'_>> {
    let bytes = text.as_bytes();
    let mut tags = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("{{") {
        let start = from + found;
        let body_start = text.len() - text[start..].trim_start_matches('{').len();
        let (mut depth, mut deepest, mut quote) = (0_usize, 0_usize, None);
        // (end of body, where the next tag may start, closed)
        let mut end = (text.len(), text.len(), false);
        // Walks bytes (`i` may fall inside a multi-byte char); the body ends
        // only at an ASCII brace, so `text` is sliced on char boundaries.
        let mut i = body_start;
        while i < bytes.len() {
            let byte = bytes[i];
            if let Some(open_quote) = quote {
                if byte == b'\\' {
                    i += 1;
                } else if byte == open_quote {
                    quote = None;
                }
            } else if bytes[i..].starts_with(b"{{") {
                // A new tag starts: this one was never closed.
                end = (i, i, false);
                break;
            } else if depth == 0 && bytes[i..].starts_with(b"}}") {
                let braces = bytes[i..].iter().take_while(|&&b| b == b'}').count();
                end = (i, i + braces, true);
                break;
            } else {
                match byte {
                    b'"' | b'\'' => quote = Some(byte),
                    b'(' | b'[' | b'{' => {
                        depth += 1;
                        deepest = deepest.max(depth);
                    }
                    b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            i += 1;
        }
        let (body_end, next, closed) = end;
        tags.push(Tag {
            start,
            body: &text[body_start..body_end],
            closed,
            depth: deepest,
        });
        from = next;
    }
    tags
}

/// The operator's (line, column) of a byte offset in the translated text.
fn offset_position(translated: &Translated, offset: usize) -> (usize, usize) {
    let before = &translated.text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .unwrap_or_default()
        .chars()
        .count()
        + 1;
    translated.original_position(line, column)
}

/// Refuses a part too big or too deep for handlebars to handle safely: its
/// parser and renderer recurse per nesting level (too deep overflows the
/// stack and aborts the process) and its compile time grows with tags times
/// length.
pub(super) fn shape_problem(
    part: TemplatePart,
    translated: &Translated,
    tags: &[Tag<'_>],
) -> Option<TemplateProblem> {
    if tags.len() > MAX_TAGS_PER_PART {
        return Some(TemplateProblem::new(
            part,
            None,
            format!(
                "The {part} has {} tags and merge fields; the limit is {MAX_TAGS_PER_PART}.",
                tags.len()
            ),
        ));
    }
    // Levels taken by each open block: 1, plus its `{{else if}}` links.
    let mut open_blocks: Vec<usize> = Vec::new();
    for tag in tags {
        let at = || offset_position(translated, tag.start);
        if tag.depth > MAX_TAG_DEPTH {
            let (line, column) = at();
            return Some(TemplateProblem::new(
                part,
                Some((line, column)),
                format!(
                    "The tag at line {line}, column {column} nests brackets more than \
                     {MAX_TAG_DEPTH} deep."
                ),
            ));
        }
        if tag.block_name().is_some() {
            open_blocks.push(1);
        } else if tag.is_chain_link() {
            match open_blocks.last_mut() {
                Some(levels) => *levels += 1,
                None => open_blocks.push(1),
            }
        } else if tag.is_close() {
            open_blocks.pop();
        }
        if open_blocks.iter().sum::<usize>() > MAX_BLOCK_DEPTH {
            let (line, column) = at();
            return Some(TemplateProblem::new(
                part,
                Some((line, column)),
                format!(
                    "Blocks are nested more than {MAX_BLOCK_DEPTH} deep at line {line} (each \
                     {{{{else if}}}} counts as a level); simplify the template."
                ),
            ));
        }
    }
    None
}

/// The likeliest cause of a syntax error, for the message: a `{{` never
/// closed, or a block never closed. A heuristic: `None` when it finds
/// neither.
fn diagnose_syntax(translated: &Translated, tags: &[Tag<'_>]) -> Option<String> {
    if let Some(tag) = tags.iter().find(|tag| !tag.closed) {
        let (line, column) = offset_position(translated, tag.start);
        return Some(format!(
            "the {{{{ at line {line}, column {column} is not closed with }}}}."
        ));
    }
    let mut open_blocks = Vec::new();
    for tag in tags {
        if let Some(name) = tag.block_name() {
            open_blocks.push((name, tag.start));
        } else if tag.is_close() {
            open_blocks.pop();
        }
    }
    open_blocks.pop().map(|(name, start)| {
        let (line, _) = offset_position(translated, start);
        format!("`{{{{#{name}}}}}` opened at line {line} is not closed with `{{{{/{name}}}}}`.")
    })
}

/// The problem a handlebars syntax error means, at the operator's line
/// and column.
pub(super) fn syntax_problem(
    part: TemplatePart,
    error: &handlebars::TemplateError,
    translated: &Translated,
    tags: &[Tag<'_>],
) -> TemplateProblem {
    let at = error
        .pos()
        .map(|(line, column)| translated.original_position(line, column));
    let place = match at {
        Some((line, column)) => format!(" at line {line}, column {column}"),
        None => String::new(),
    };
    // The parser's own wording names grammar rules; say what is wrong instead.
    let cause = match error.reason() {
        TemplateErrorReason::MismatchingClosedHelper(open, close) => {
            format!("`{{{{#{open}}}}}` is closed with `{{{{/{close}}}}}`.")
        }
        _ => diagnose_syntax(translated, tags).unwrap_or_else(|| {
            "check that every {{ has a matching }}, every {{#if}} or {{#unless}} its \
             {{/if}} or {{/unless}}, and that a block has at most one {{else}}."
                .to_owned()
        }),
    };
    TemplateProblem::new(part, at, format!("Template syntax error{place}: {cause}"))
}

#[cfg(test)]
mod tests {
    use crate::notify::template::test_support::*;

    #[test]
    fn unbalanced_braces_are_reported_with_their_line() {
        // Handlebars fails where it gives up (line 3); the message names the
        // `{{` left open.
        let found = problems(&text("Hi\nthere {{Contacts.FirstName\nbye"), &known());
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].line, found[0].column), (Some(3), Some(1)));
        assert_eq!(
            found[0].message,
            "Template syntax error at line 3, column 1: the {{ at line 2, column 7 is not \
             closed with }}."
        );

        let found = problems(&text("[#Contacts.FirstName#] {{username}"), &known());
        assert_eq!(found[0].line, Some(1));
        assert!(found[0]
            .message
            .ends_with("the {{ at line 1, column 24 is not closed with }}."));

        let found = problems(&text("{{#if username}}\nHi\n"), &known());
        assert_eq!(found.len(), 1);
        assert!(found[0].line.is_some());
        assert!(found[0]
            .message
            .ends_with("`{{#if}}` opened at line 1 is not closed with `{{/if}}`."));

        let found = problems(&text("{{#if username}}\nHi\n{{/unless}}"), &known());
        assert_eq!(found[0].line, Some(3));
        assert!(found[0]
            .message
            .ends_with("`{{#if}}` is closed with `{{/unless}}`."));
    }
}
