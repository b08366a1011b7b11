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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{Handlebars, Path, PathSeg, TemplateErrorReason};
use serde_json::{json, Map, Value};

use crate::config::NotificationMode;

/// The access-instructions template's name.
pub const ACCESS_INSTRUCTIONS: &str = "access_instructions";

/// Longest part accepted, in bytes.
pub const MAX_PART_BYTES: usize = 128 * 1024;

/// Longest subject template accepted, in bytes (RFC 5322's line limit).
pub const MAX_SUBJECT_BYTES: usize = 998;

/// The default access-instructions template, shipped with the binary.
pub fn default_access_instructions() -> TemplateSource {
    TemplateSource {
        // Editors add a final newline; the subject is a single line.
        subject: include_str!("../../templates/email/access_instructions.subject.hbs")
            .trim()
            .to_owned(),
        text_body: include_str!("../../templates/email/access_instructions.txt.hbs").to_owned(),
        html_body: include_str!("../../templates/email/access_instructions.html.hbs").to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Known fields
// ---------------------------------------------------------------------------

/// One merge field operators may use.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct MergeField {
    pub name: String,
    pub description: String,
    pub sample: String,
}

/// A fixed field, and the mode it is limited to, if any.
struct FixedField {
    name: &'static str,
    description: &'static str,
    sample: &'static str,
    only_in: Option<NotificationMode>,
}

const fn fixed(name: &'static str, description: &'static str, sample: &'static str) -> FixedField {
    FixedField {
        name,
        description,
        sample,
        only_in: None,
    }
}

/// The fixed fields, in the order operators see them. `sample_context`
/// fills the context from these samples, so keep `Contacts.FullName`'s sample
/// equal to "FirstName LastName".
const FIXED_FIELDS: &[FixedField] = &[
    fixed(
        "Contacts.FullName",
        "The contact's first and last name; the account name when the contact has no name.",
        "Maria Papadopoulou",
    ),
    fixed("Contacts.FirstName", "The contact's first name.", "Maria"),
    fixed(
        "Contacts.LastName",
        "The contact's last name.",
        "Papadopoulou",
    ),
    fixed(
        "Contacts.Email",
        "The contact's email address.",
        "maria@example.com",
    ),
    fixed(
        "Account.Name",
        "The customer account's name.",
        "Example Ltd",
    ),
    fixed(
        "Account.Code",
        "The customer account's code in the BSS.",
        "ACC-000123",
    ),
    fixed(
        "Account.Email",
        "The customer account's email address.",
        "billing@example.com",
    ),
    fixed("username", "The mailbox account's username.", "maria"),
    fixed(
        "Operator.Name",
        "Your company's name, as customers know it.",
        "Example Mail",
    ),
    fixed(
        "Operator.SupportEmail",
        "Where customers write for help.",
        "support@example.net",
    ),
    fixed(
        "Operator.PortalUrl",
        "The portal where customers sign in.",
        "https://mail.example.net",
    ),
    FixedField {
        only_in: Some(NotificationMode::Mailroom),
        ..fixed(
            "ActivationUrl",
            "The one-time link where the customer chooses a password (expires in 72 hours).",
            "https://mail.example.net/activate/SAMPLE-TOKEN",
        )
    },
    FixedField {
        only_in: Some(NotificationMode::Bss),
        ..fixed(
            "Password",
            "The generated password, sent once.",
            "Sample-Passw0rd",
        )
    },
];

/// Top-level names of the fixed fields. An extra-info key never takes one
/// of them, in any mode: it would shadow (or stand in for) a fixed field.
const RESERVED_TOP_LEVEL: &[&str] = &[
    "Contacts",
    "Account",
    "Operator",
    "username",
    "ActivationUrl",
    "Password",
];

/// The fields a template may use: fixed ones plus every AccountExtraInfo key.
#[derive(Debug, Clone)]
pub struct KnownFields {
    fields: Vec<MergeField>,
    /// The extra-info keys among `fields` (top-level, one segment each).
    extra_keys: Vec<String>,
}

impl KnownFields {
    /// Fixed fields (`ActivationUrl` only in [`NotificationMode::Mailroom`],
    /// `Password` only in [`NotificationMode::Bss`]), then each usable key of
    /// `extra_info_keys`, sorted. A key is skipped when it is already a
    /// field, takes a fixed field's top-level name, or is not a valid field
    /// name (letters, digits, `_`, `-`).
    pub fn new(mode: NotificationMode, extra_info_keys: impl IntoIterator<Item = String>) -> Self {
        let mut fields: Vec<MergeField> = FIXED_FIELDS
            .iter()
            .filter(|f| f.only_in.is_none_or(|only| only == mode))
            .map(|f| MergeField {
                name: f.name.to_owned(),
                description: f.description.to_owned(),
                sample: f.sample.to_owned(),
            })
            .collect();
        let keys: BTreeSet<String> = extra_info_keys
            .into_iter()
            .filter(|key| {
                let usable = is_field_segment(key) && !RESERVED_TOP_LEVEL.contains(&key.as_str());
                if !usable {
                    tracing::debug!(key = %key, "account extra info key is not usable as a merge field");
                }
                usable
            })
            .collect();
        fields.extend(keys.iter().map(|key| MergeField {
            name: key.clone(),
            description: format!("The account's extra info `{key}`, as stored in the BSS."),
            sample: format!("sample-{key}"),
        }));
        Self {
            fields,
            extra_keys: keys.into_iter().collect(),
        }
    }

    pub fn fields(&self) -> &[MergeField] {
        &self.fields
    }

    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.name == name)
    }

    /// Sample values for previews: a context where every known field has
    /// its sample.
    pub fn sample_context(&self) -> MergeContext {
        let mut context = MergeContext::default();
        for field in &self.fields {
            if let Some(slot) = context.fixed_slot(&field.name) {
                *slot = Some(field.sample.clone());
            }
        }
        context.extra_info = self
            .fields
            .iter()
            .filter(|f| self.extra_keys.contains(&f.name))
            .map(|f| (f.name.clone(), f.sample.clone()))
            .collect();
        context
    }

    /// "a, b, c", for problem messages.
    fn list(&self) -> String {
        let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
        names.join(", ")
    }

    /// A known field differing from `name` only by case, to suggest.
    fn suggestion(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .map(|f| f.name.as_str())
            .find(|known| known.eq_ignore_ascii_case(name))
    }
}

// ---------------------------------------------------------------------------
// Merge context
// ---------------------------------------------------------------------------

/// Values to render with. Every known field is present at render time (empty
/// string when the customer lacks it), so strict mode never fails on a
/// template that passed validation.
#[derive(Debug, Clone, Default)]
pub struct MergeContext {
    pub contact_first_name: Option<String>,
    pub contact_last_name: Option<String>,
    pub contact_email: Option<String>,
    pub account_name: Option<String>,
    pub account_code: Option<String>,
    pub account_email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub activation_url: Option<String>,
    pub operator_name: Option<String>,
    pub operator_support_email: Option<String>,
    pub operator_portal_url: Option<String>,
    /// AccountExtraInfo key -> value (top-level merge fields).
    pub extra_info: BTreeMap<String, String>,
}

impl MergeContext {
    /// The JSON handlebars renders. Every known field is present (`""` when
    /// `None`); extra info is added at top level but never overrides a fixed
    /// field. `Password` and `ActivationUrl` are only present when known in
    /// this mode.
    pub fn to_json(&self, known: &KnownFields) -> Value {
        let text = |value: &Option<String>| Value::String(value.clone().unwrap_or_default());

        let mut root = Map::new();
        for (key, value) in &self.extra_info {
            if !RESERVED_TOP_LEVEL.contains(&key.as_str()) {
                root.insert(key.clone(), Value::String(value.clone()));
            }
        }
        // A known key the customer lacks still renders (as "").
        for key in &known.extra_keys {
            root.entry(key.clone())
                .or_insert_with(|| Value::String(String::new()));
        }

        root.insert(
            "Contacts".into(),
            json!({
                "FullName": self.full_name(),
                "FirstName": text(&self.contact_first_name),
                "LastName": text(&self.contact_last_name),
                "Email": text(&self.contact_email),
            }),
        );
        root.insert(
            "Account".into(),
            json!({
                "Name": text(&self.account_name),
                "Code": text(&self.account_code),
                "Email": text(&self.account_email),
            }),
        );
        root.insert(
            "Operator".into(),
            json!({
                "Name": text(&self.operator_name),
                "SupportEmail": text(&self.operator_support_email),
                "PortalUrl": text(&self.operator_portal_url),
            }),
        );
        // The BSS may keep the username in extra info only.
        let username = self
            .username
            .clone()
            .or_else(|| self.extra_info.get("username").cloned())
            .unwrap_or_default();
        root.insert("username".into(), Value::String(username));
        // Mode-specific secrets are only handed to the template when usable.
        if known.contains("Password") {
            root.insert("Password".into(), text(&self.password));
        }
        if known.contains("ActivationUrl") {
            root.insert("ActivationUrl".into(), text(&self.activation_url));
        }
        Value::Object(root)
    }

    /// "First Last", or the account name when the contact has no name.
    fn full_name(&self) -> String {
        let parts = [&self.contact_first_name, &self.contact_last_name];
        let name = parts
            .iter()
            .filter_map(|part| part.as_deref().map(str::trim))
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.account_name
                .as_deref()
                .map(str::trim)
                .unwrap_or_default()
                .to_owned()
        } else {
            name
        }
    }

    /// The context slot a fixed field reads from (`None` for derived
    /// fields such as `Contacts.FullName`).
    fn fixed_slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "Contacts.FirstName" => &mut self.contact_first_name,
            "Contacts.LastName" => &mut self.contact_last_name,
            "Contacts.Email" => &mut self.contact_email,
            "Account.Name" => &mut self.account_name,
            "Account.Code" => &mut self.account_code,
            "Account.Email" => &mut self.account_email,
            "username" => &mut self.username,
            "Password" => &mut self.password,
            "ActivationUrl" => &mut self.activation_url,
            "Operator.Name" => &mut self.operator_name,
            "Operator.SupportEmail" => &mut self.operator_support_email,
            "Operator.PortalUrl" => &mut self.operator_portal_url,
            _ => return None,
        })
    }
}

// ---------------------------------------------------------------------------
// Sources, problems, errors
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TemplateSource {
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
}

impl TemplateSource {
    fn part(&self, part: TemplatePart) -> &str {
        match part {
            TemplatePart::Subject => &self.subject,
            TemplatePart::TextBody => &self.text_body,
            TemplatePart::HtmlBody => &self.html_body,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TemplatePart {
    Subject,
    TextBody,
    HtmlBody,
}

impl TemplatePart {
    pub const ALL: [TemplatePart; 3] = [Self::Subject, Self::TextBody, Self::HtmlBody];

    /// How operators call the part: "subject", "text body", "HTML body".
    pub fn label(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::TextBody => "text body",
            Self::HtmlBody => "HTML body",
        }
    }

    fn registry_name(self) -> &'static str {
        match self {
            Self::Subject => "subject",
            Self::TextBody => "text_body",
            Self::HtmlBody => "html_body",
        }
    }
}

impl fmt::Display for TemplatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One problem in a template, written for the operator who edits it.
/// `line` and `column` are 1-based, in the operator's own text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct TemplateProblem {
    pub part: TemplatePart,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl TemplateProblem {
    fn new(part: TemplatePart, at: Option<(usize, usize)>, message: String) -> Self {
        Self {
            part,
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column),
            message,
        }
    }
}

impl fmt::Display for TemplateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.part, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template was refused; each problem names the part, line and
    /// field.
    #[error("the template was refused: {}", list_problems(.0))]
    Invalid(Vec<TemplateProblem>),
    /// Rendering failed although the template was valid (a bug or a missing
    /// value).
    #[error("cannot render the {part}")]
    Render {
        part: TemplatePart,
        #[source]
        source: handlebars::RenderError,
    },
}

fn list_problems(problems: &[TemplateProblem]) -> String {
    let all: Vec<String> = problems.iter().map(ToString::to_string).collect();
    all.join(" ")
}

// ---------------------------------------------------------------------------
// Compiled template
// ---------------------------------------------------------------------------

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
            if let Some(template) = compile_part(part, source.part(part), known, &mut problems) {
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

/// Checks one part and compiles it; `None` when it cannot be compiled.
/// Problems found are pushed to `problems`.
fn compile_part(
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
    let mut checker = Checker {
        part,
        known,
        translated: &translated,
        problems,
    };
    checker.template(&template, None);
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

fn syntax_problem(
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

/// Most tags (`{{...}}` and merge fields) accepted in one part. Handlebars
/// compiles in time proportional to tags times length (each element's line
/// is counted from the start), so this bounds a compile to well under a
/// second.
pub const MAX_TAGS_PER_PART: usize = 500;

/// Deepest block nesting accepted; each `{{else if}}` link counts as a level,
/// as handlebars nests it.
pub const MAX_BLOCK_DEPTH: usize = 32;

/// Most problems listed per part.
const MAX_PROBLEMS_PER_PART: usize = 50;

/// Deepest nesting of `(`, `[` and `{` accepted inside one `{{...}}` tag.
const MAX_TAG_DEPTH: usize = 8;

/// A `{{...}}` tag, found by a light scan that follows the handlebars grammar
/// closely enough to bound nesting before parsing and to explain syntax
/// errors in plain words. Escaped `\{{` counts as a tag: over-counting is
/// safe for both uses.
struct Tag<'a> {
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

fn scan_tags(text: &str) -> Vec<Tag<'_>> {
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
fn shape_problem(
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

// ---------------------------------------------------------------------------
// [#Field#] -> {{Field}}
// ---------------------------------------------------------------------------

/// A part with `[#...#]` rewritten as handlebars, and what it takes to point
/// a handlebars position back at the operator's text. Lines never change (a
/// merge field cannot span lines); columns shift within a line.
struct Translated {
    text: String,
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
    fn original_position(&self, line: usize, column: usize) -> (usize, usize) {
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

fn translate_merge_fields(
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
fn is_field_segment(segment: &str) -> bool {
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

// ---------------------------------------------------------------------------
// AST checks
// ---------------------------------------------------------------------------

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

    fn known() -> KnownFields {
        KnownFields::new(NotificationMode::Mailroom, Vec::new())
    }

    fn source(subject: &str, text_body: &str, html_body: &str) -> TemplateSource {
        TemplateSource {
            subject: subject.into(),
            text_body: text_body.into(),
            html_body: html_body.into(),
        }
    }

    /// A template with `body` as its text body, the others trivial.
    fn text(body: &str) -> TemplateSource {
        source("Hello", body, "<p>Hello</p>")
    }

    fn problems(source: &TemplateSource, known: &KnownFields) -> Vec<TemplateProblem> {
        match CompiledTemplate::compile(source, known) {
            Ok(_) => panic!("the template was accepted"),
            Err(TemplateError::Invalid(problems)) => problems,
            Err(other) => panic!("unexpected error: {other}"),
        }
    }

    fn render(
        source: &TemplateSource,
        known: &KnownFields,
        context: &MergeContext,
    ) -> RenderedMessage {
        CompiledTemplate::compile(source, known)
            .expect("valid template")
            .render(context)
            .expect("renders")
    }

    fn maria() -> MergeContext {
        MergeContext {
            contact_first_name: Some("Maria".into()),
            contact_last_name: Some("Papadopoulou".into()),
            username: Some("maria".into()),
            operator_name: Some("Example Mail".into()),
            ..MergeContext::default()
        }
    }

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

    #[test]
    fn password_and_activation_url_depend_on_the_mode() {
        let bss = KnownFields::new(NotificationMode::Bss, Vec::new());
        let mailroom = known();
        assert!(bss.contains("Password") && !bss.contains("ActivationUrl"));
        assert!(mailroom.contains("ActivationUrl") && !mailroom.contains("Password"));

        let password = text("[#Password#]");
        let link = text("[#ActivationUrl#]");
        assert_eq!(problems(&password, &mailroom).len(), 1);
        assert_eq!(problems(&link, &bss).len(), 1);

        let context = MergeContext {
            password: Some("s3cret".into()),
            activation_url: Some("https://x.example/a".into()),
            ..MergeContext::default()
        };
        assert_eq!(render(&password, &bss, &context).text_body, "s3cret");
        assert_eq!(
            render(&link, &mailroom, &context).text_body,
            "https://x.example/a"
        );
        // The other mode's secret is not even handed to the template.
        assert!(context.to_json(&mailroom).get("Password").is_none());

        // Extra info cannot bring a field of the other mode back.
        let with_extra = KnownFields::new(NotificationMode::Mailroom, vec!["Password".to_owned()]);
        assert!(!with_extra.contains("Password"));
    }

    #[test]
    fn extra_info_keys_are_merge_fields() {
        let known = KnownFields::new(
            NotificationMode::Mailroom,
            [
                "customer_location",
                "customer-id",
                "else",
                "username",
                "domain",
                "bad key",
                "a.b",
                "Contacts",
            ]
            .map(String::from),
        );
        let names: Vec<&str> = known.fields().iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            &names[names.len() - 4..],
            ["customer-id", "customer_location", "domain", "else"]
        );
        assert_eq!(names.iter().filter(|n| **n == "username").count(), 1);
        assert!(
            !known.contains("bad key") && !known.contains("a.b") && !known.contains("Contacts")
        );

        let mut context = maria();
        context.extra_info = [
            ("customer_location", "Athens"),
            ("customer-id", "C-7"),
            ("else", "E"),
            ("Contacts", "must not override"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let message = render(
            &text(
                "[#customer_location#] {{customer_location}} [#customer-id#] [#else#] [#domain#]|",
            ),
            &known,
            &context,
        );
        assert_eq!(message.text_body, "Athens Athens C-7 E |");
        let json = context.to_json(&known);
        assert_eq!(json["Contacts"]["FirstName"], "Maria");
    }

    #[test]
    fn username_falls_back_to_extra_info() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["username".to_owned()]);
        let mut context = MergeContext::default();
        context
            .extra_info
            .insert("username".into(), "from-bss".into());
        assert_eq!(context.to_json(&known)["username"], "from-bss");
        context.username = Some("maria".into());
        assert_eq!(context.to_json(&known)["username"], "maria");
    }

    #[test]
    fn full_name_falls_back_to_the_account_name() {
        let mut context = MergeContext {
            account_name: Some("Example Ltd".into()),
            contact_last_name: Some(" Papadopoulou ".into()),
            ..MergeContext::default()
        };
        assert_eq!(context.full_name(), "Papadopoulou");
        context.contact_last_name = None;
        assert_eq!(context.full_name(), "Example Ltd");
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
            "Operator.SupportEmail",
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

    #[test]
    fn sample_context_gives_every_field_its_sample() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer_id".to_owned()]);
        let json = known.sample_context().to_json(&known);
        for field in known.fields() {
            let value = field
                .name
                .split('.')
                .fold(&json, |value, segment| &value[segment]);
            assert_eq!(
                value,
                &Value::String(field.sample.clone()),
                "{}",
                field.name
            );
        }
    }

    #[test]
    fn missing_values_render_empty() {
        let known = KnownFields::new(NotificationMode::Mailroom, vec!["customer_id".to_owned()]);
        let every_field: String = known
            .fields()
            .iter()
            .map(|f| format!("[{}:[#{}#]]", f.name, f.name))
            .collect();
        let template = source("Hi [#username#]", &every_field, &every_field);
        let message = render(&template, &known, &MergeContext::default());
        assert_eq!(message.subject, "Hi");
        assert!(message
            .text_body
            .contains("[Contacts.FullName:][Contacts.FirstName:]"));
        assert!(message.text_body.ends_with("[customer_id:]"));
    }

    #[test]
    fn compiled_templates_are_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledTemplate>();
    }
}
