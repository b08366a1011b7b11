//! The parts of a template ([`TemplatePart`]) and what goes wrong with them:
//! problems with part, line and column for the operator ([`TemplateProblem`])
//! and the errors of compiling and rendering ([`TemplateError`]).

use std::fmt;

use super::TemplateSource;

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

    /// This part's text in `source`.
    pub(super) fn text(self, source: &TemplateSource) -> &str {
        match self {
            Self::Subject => &source.subject,
            Self::TextBody => &source.text_body,
            Self::HtmlBody => &source.html_body,
        }
    }

    /// The name the part is registered under in a handlebars registry.
    pub(super) fn registry_name(self) -> &'static str {
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
    pub(super) fn new(part: TemplatePart, at: Option<(usize, usize)>, message: String) -> Self {
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
