//! What makes a sync option definition valid: the rules an operator's edit
//! follows before it is saved, whichever screen or API it came through.
//! Each rule names the field it is about, so a form can show its message
//! next to that field.

use std::fmt;

use super::{
    option_ids, DataType, OptionKind, PredefinedValue, SyncOptionDefinition, ValueFormat,
    MAX_OPTION_VALUE_LEN,
};

/// Longest option id.
pub const MAX_ID_LEN: usize = 64;
/// Longest option name, in characters.
pub const MAX_NAME_LEN: usize = 100;
/// Longest option description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 1000;
/// Most values one option offers.
pub const MAX_PREDEFINED_VALUES: usize = 500;
/// Never an option id: the console's page for a new option is `…/new`.
pub const RESERVED_ID: &str = "new";

/// A field of a definition, as a problem names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DefinitionField {
    Id,
    Name,
    Description,
    SortOrder,
    Kind,
    DataType,
    ValueFormat,
    PredefinedValues,
    Required,
}

impl DefinitionField {
    /// The field's name in [`SyncOptionDefinition`] (forms use the same).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::Name => "name",
            Self::Description => "description",
            Self::SortOrder => "sort_order",
            Self::Kind => "kind",
            Self::DataType => "data_type",
            Self::ValueFormat => "value_format",
            Self::PredefinedValues => "predefined_values",
            Self::Required => "required",
        }
    }
}

/// Why a definition (or the id of a new one) cannot be saved. `line`s are
/// those of the predefined values' text, counted from 1, blank ones too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefinitionProblem {
    IdMissing,
    IdTooLong,
    /// Not only lowercase ASCII letters, digits and `_`.
    IdNotPlain,
    /// The id is [`RESERVED_ID`].
    IdReserved,
    /// Another option has this id (in any case).
    IdTaken {
        id: String,
    },
    NameMissing,
    NameTooLong,
    /// Control characters, line breaks among them.
    NameNotOneLine,
    DescriptionTooLong,
    /// Control characters other than line breaks and tabs.
    DescriptionNotPlain,
    SortOrderNotWhole,
    KindUnknown,
    DataTypeUnknown,
    ValueFormatUnknown,
    /// A line starts with `=`.
    ValueMissing {
        line: usize,
    },
    /// A value or label longer than [`MAX_OPTION_VALUE_LEN`].
    ValueTooLong {
        line: usize,
    },
    /// Control characters on the line.
    ValueNotAllowed {
        line: usize,
    },
    /// A value of a multiple-choice list holds a comma, the separator of
    /// the chosen values.
    ValueWithComma {
        line: usize,
    },
    ValueRepeated {
        line: usize,
        value: String,
    },
    /// More than [`MAX_PREDEFINED_VALUES`].
    TooManyValues,
    /// A list kind with nothing to choose from.
    ListWithoutValues,
    /// The `username` option is what the BSS fills with the account's
    /// email: its kind, data type, format and being required are fixed
    /// (its name and description are the operator's).
    FixedForUsername(DefinitionField),
}

impl DefinitionProblem {
    /// The field the problem is about.
    pub fn field(&self) -> DefinitionField {
        use DefinitionProblem::*;
        match self {
            IdMissing | IdTooLong | IdNotPlain | IdReserved | IdTaken { .. } => DefinitionField::Id,
            NameMissing | NameTooLong | NameNotOneLine => DefinitionField::Name,
            DescriptionTooLong | DescriptionNotPlain => DefinitionField::Description,
            SortOrderNotWhole => DefinitionField::SortOrder,
            KindUnknown => DefinitionField::Kind,
            DataTypeUnknown => DefinitionField::DataType,
            ValueFormatUnknown => DefinitionField::ValueFormat,
            ValueMissing { .. }
            | ValueTooLong { .. }
            | ValueNotAllowed { .. }
            | ValueWithComma { .. }
            | ValueRepeated { .. }
            | TooManyValues
            | ListWithoutValues => DefinitionField::PredefinedValues,
            FixedForUsername(field) => *field,
        }
    }
}

/// What to tell the operator, next to the field.
impl fmt::Display for DefinitionProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DefinitionProblem::*;
        match self {
            IdMissing => f.write_str("Give the option an id, for example company_size."),
            IdTooLong => write!(f, "Use at most {MAX_ID_LEN} characters."),
            IdNotPlain => f.write_str("Use lowercase letters, digits and _ only."),
            IdReserved => write!(f, "{RESERVED_ID} is reserved; choose another id."),
            IdTaken { id } => write!(f, "There is an option {id} already; choose another id."),
            NameMissing => f.write_str("Give the option a name; the BSS shows it."),
            NameTooLong => write!(f, "Use at most {MAX_NAME_LEN} characters."),
            NameNotOneLine => f.write_str("Use one line of plain text."),
            DescriptionTooLong => write!(f, "Use at most {MAX_DESCRIPTION_LEN} characters."),
            DescriptionNotPlain => f.write_str("Use plain text."),
            SortOrderNotWhole => f.write_str("Use a whole number, such as 2."),
            KindUnknown => f.write_str("Choose how the BSS shows the option."),
            DataTypeUnknown => f.write_str("Choose the type of the values."),
            ValueFormatUnknown => f.write_str("Choose text, domain or username."),
            ValueMissing { line } => {
                write!(f, "Line {line} has no value before =; write value=label.")
            }
            ValueTooLong { line } => write!(
                f,
                "Line {line} is too long: use at most {MAX_OPTION_VALUE_LEN} characters for a \
                 value and for a label."
            ),
            ValueNotAllowed { line } => {
                write!(f, "Line {line} holds characters that are not allowed.")
            }
            ValueWithComma { line } => write!(
                f,
                "Line {line}: values of a multiple-choice list cannot contain a comma (the BSS \
                 sends the chosen ones separated by commas)."
            ),
            ValueRepeated { line, value } => {
                write!(f, "Line {line} repeats the value {value}; each value once.")
            }
            TooManyValues => write!(f, "Offer at most {MAX_PREDEFINED_VALUES} values."),
            ListWithoutValues => {
                f.write_str("A list needs the values to choose from: one value=label a line.")
            }
            FixedForUsername(_) => f.write_str(
                "The username option keeps this as it is: the BSS fills it with the account's \
                 email (you can change its name and description).",
            ),
        }
    }
}

impl std::error::Error for DefinitionProblem {}

/// Checks the id of a new option (given trimmed). Ids are what the BSS
/// sends back as `SyncOptions` keys: short, plain. Whether another option
/// has it already is for the caller to find out ([`DefinitionProblem::IdTaken`]).
pub fn check_new_id(option_id: &str) -> Result<(), DefinitionProblem> {
    if option_id.is_empty() {
        return Err(DefinitionProblem::IdMissing);
    }
    if option_id.len() > MAX_ID_LEN {
        return Err(DefinitionProblem::IdTooLong);
    }
    if !option_id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(DefinitionProblem::IdNotPlain);
    }
    if option_id == RESERVED_ID {
        return Err(DefinitionProblem::IdReserved);
    }
    Ok(())
}

/// A definition as an operator typed it, every field as text so that each
/// bad one gets its own problem. The id is apart: it never changes once the
/// option exists.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefinitionDraft<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// A whole number; empty keeps the current position (0 for a new option).
    pub sort_order: &'a str,
    /// An [`OptionKind`], spelled exactly.
    pub kind: &'a str,
    /// A [`DataType`], spelled exactly.
    pub data_type: &'a str,
    /// A [`ValueFormat`], spelled exactly.
    pub value_format: &'a str,
    /// One `value=label` (or `value`) a line, as [`parse_predefined_values`] reads it.
    pub predefined_values: &'a str,
    pub is_required: bool,
    pub is_read_only: bool,
    pub available_to_storefront: bool,
    pub identifies_customer: bool,
}

impl DefinitionDraft<'_> {
    /// The definition to save as `option_id`, or every problem, at most one
    /// a field, in the order of [`DefinitionField`]. `current` is the saved
    /// definition when editing one (see [`parse_predefined_values`]).
    pub fn check(
        &self,
        option_id: String,
        current: Option<&SyncOptionDefinition>,
    ) -> Result<SyncOptionDefinition, Vec<DefinitionProblem>> {
        let name = check_name(self.name);
        let description = check_description(self.description);
        let sort_order = match self.sort_order.trim() {
            "" => Ok(current.map_or(0, |c| c.sort_order)),
            text => text
                .parse::<i32>()
                .map_err(|_| DefinitionProblem::SortOrderNotWhole),
        };
        let kind = OptionKind::parse(self.kind).ok_or(DefinitionProblem::KindUnknown);
        let data_type = DataType::parse(self.data_type).ok_or(DefinitionProblem::DataTypeUnknown);
        let value_format =
            ValueFormat::parse(self.value_format).ok_or(DefinitionProblem::ValueFormatUnknown);
        let predefined_values =
            parse_predefined_values(self.predefined_values, kind.as_ref().ok().copied(), current);
        let definition = match (
            name,
            description,
            sort_order,
            kind,
            data_type,
            value_format,
            predefined_values,
        ) {
            (
                Ok(name),
                Ok(description),
                Ok(sort_order),
                Ok(kind),
                Ok(data_type),
                Ok(value_format),
                Ok(predefined_values),
            ) => SyncOptionDefinition {
                id: option_id,
                sort_order,
                name,
                description,
                kind,
                data_type,
                is_required: self.is_required,
                predefined_values,
                is_read_only: self.is_read_only,
                available_to_storefront: self.available_to_storefront,
                identifies_customer: self.identifies_customer,
                value_format,
            },
            (name, description, sort_order, kind, data_type, value_format, predefined_values) => {
                return Err([
                    name.err(),
                    description.err(),
                    sort_order.err(),
                    kind.err(),
                    data_type.err(),
                    value_format.err(),
                    predefined_values.err(),
                ]
                .into_iter()
                .flatten()
                .collect());
            }
        };
        match current {
            Some(current) if definition.id == option_ids::USERNAME => {
                let problems = username_changes(current, &definition);
                if problems.is_empty() {
                    Ok(definition)
                } else {
                    Err(problems)
                }
            }
            _ => Ok(definition),
        }
    }
}

/// What an edit of the `username` option may not change.
fn username_changes(
    current: &SyncOptionDefinition,
    edited: &SyncOptionDefinition,
) -> Vec<DefinitionProblem> {
    [
        (edited.kind != current.kind, DefinitionField::Kind),
        (
            edited.data_type != current.data_type,
            DefinitionField::DataType,
        ),
        (
            edited.value_format != current.value_format,
            DefinitionField::ValueFormat,
        ),
        (
            edited.is_required != current.is_required,
            DefinitionField::Required,
        ),
    ]
    .into_iter()
    .filter(|(changed, _)| *changed)
    .map(|(_, field)| DefinitionProblem::FixedForUsername(field))
    .collect()
}

/// The name, trimmed: one line the BSS shows.
fn check_name(name: &str) -> Result<String, DefinitionProblem> {
    let name = name.trim();
    if name.is_empty() {
        Err(DefinitionProblem::NameMissing)
    } else if name.chars().count() > MAX_NAME_LEN {
        Err(DefinitionProblem::NameTooLong)
    } else if name.chars().any(char::is_control) {
        Err(DefinitionProblem::NameNotOneLine)
    } else {
        Ok(name.to_owned())
    }
}

/// The description, trimmed (`None` when empty): plain text, lines allowed.
fn check_description(description: &str) -> Result<Option<String>, DefinitionProblem> {
    let description = description.trim();
    let is_plain = |c: char| !c.is_control() || matches!(c, '\n' | '\r' | '\t');
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        Err(DefinitionProblem::DescriptionTooLong)
    } else if !description.chars().all(is_plain) {
        Err(DefinitionProblem::DescriptionNotPlain)
    } else {
        Ok((!description.is_empty()).then(|| description.to_owned()))
    }
}

/// Reads the values an option offers: one `value=label` or `value` a line
/// (then the label is the value, as it is after an empty `=`), both
/// trimmed; blank lines are skipped. The first problem, in line order, is
/// returned. A list kind needs at least one value; `None` (a kind not
/// understood) is held to no kind's rules. `current` lends its values'
/// descriptions and default marks (which the notation does not carry) to
/// the values kept, matched by value.
pub fn parse_predefined_values(
    text: &str,
    kind: Option<OptionKind>,
    current: Option<&SyncOptionDefinition>,
) -> Result<Vec<PredefinedValue>, DefinitionProblem> {
    let mut values: Vec<PredefinedValue> = Vec::new();
    for (index, line_text) in text.lines().enumerate() {
        let line = index + 1;
        let line_text = line_text.trim();
        if line_text.is_empty() {
            continue;
        }
        let (value, label) = match line_text.split_once('=') {
            Some((value, label)) => (value.trim(), label.trim()),
            None => (line_text, line_text),
        };
        let label = if label.is_empty() { value } else { label };
        if value.is_empty() {
            return Err(DefinitionProblem::ValueMissing { line });
        }
        if value.chars().count() > MAX_OPTION_VALUE_LEN
            || label.chars().count() > MAX_OPTION_VALUE_LEN
        {
            return Err(DefinitionProblem::ValueTooLong { line });
        }
        // The whole line: a control character around the `=` is refused too.
        if line_text.chars().any(char::is_control) {
            return Err(DefinitionProblem::ValueNotAllowed { line });
        }
        if kind == Some(OptionKind::ListMultiSelect) && value.contains(',') {
            return Err(DefinitionProblem::ValueWithComma { line });
        }
        if values.iter().any(|v| v.id == value) {
            return Err(DefinitionProblem::ValueRepeated {
                line,
                value: value.to_owned(),
            });
        }
        if values.len() == MAX_PREDEFINED_VALUES {
            return Err(DefinitionProblem::TooManyValues);
        }
        let kept = current.and_then(|c| c.predefined_values.iter().find(|v| v.id == value));
        values.push(PredefinedValue {
            id: value.to_owned(),
            sort_order: i32::try_from(values.len()).unwrap_or(i32::MAX),
            name: label.to_owned(),
            description: kept.and_then(|v| v.description.clone()),
            is_default: kept.is_some_and(|v| v.is_default),
        });
    }
    if values.is_empty() && kind.is_some_and(OptionKind::is_list) {
        return Err(DefinitionProblem::ListWithoutValues);
    }
    Ok(values)
}

/// The values in the notation [`parse_predefined_values`] reads, in order
/// (`value` alone when the label is the value).
pub fn predefined_values_text(values: &[PredefinedValue]) -> String {
    values
        .iter()
        .map(|v| {
            if v.name == v.id {
                v.id.clone()
            } else {
                format!("{}={}", v.id, v.name)
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft() -> DefinitionDraft<'static> {
        DefinitionDraft {
            name: "Plan",
            kind: "SimpleValue",
            data_type: "Text",
            value_format: "text",
            ..DefinitionDraft::default()
        }
    }

    fn problems(draft: DefinitionDraft<'_>) -> Vec<DefinitionProblem> {
        draft.check("plan".into(), None).unwrap_err()
    }

    fn offered(
        id: &str,
        name: &str,
        description: Option<&str>,
        is_default: bool,
    ) -> PredefinedValue {
        PredefinedValue {
            id: id.into(),
            sort_order: 0,
            name: name.into(),
            description: description.map(Into::into),
            is_default,
        }
    }

    #[test]
    fn predefined_values_read_value_label_lines() {
        let values =
            parse_predefined_values("1=User\n\n 2 = Admin \nguest", Some(OptionKind::List), None)
                .expect("valid");
        let pairs: Vec<(&str, &str, i32)> = values
            .iter()
            .map(|v| (v.id.as_str(), v.name.as_str(), v.sort_order))
            .collect();
        assert_eq!(
            pairs,
            vec![("1", "User", 0), ("2", "Admin", 1), ("guest", "guest", 2)]
        );
        assert_eq!(predefined_values_text(&values), "1=User\n2=Admin\nguest");
        assert!(parse_predefined_values("1=a\n1=b", None, None).is_err());
        assert!(parse_predefined_values("=a", None, None).is_err());
        assert!(parse_predefined_values("a,b", Some(OptionKind::ListMultiSelect), None).is_err());
    }

    #[test]
    fn predefined_value_problems_name_their_line() {
        let parse = |text: &str, kind| parse_predefined_values(text, kind, None).unwrap_err();
        assert_eq!(
            parse("1=a\n\n1=b", None),
            DefinitionProblem::ValueRepeated {
                line: 3,
                value: "1".into()
            }
        );
        assert_eq!(
            parse("a\n = x", None),
            DefinitionProblem::ValueMissing { line: 2 }
        );
        assert_eq!(
            parse(&format!("a={}", "l".repeat(256)), None),
            DefinitionProblem::ValueTooLong { line: 1 }
        );
        assert_eq!(
            parse(&"v".repeat(256), None),
            DefinitionProblem::ValueTooLong { line: 1 }
        );
        assert_eq!(
            parse("ok\na\u{7}=b", None),
            DefinitionProblem::ValueNotAllowed { line: 2 }
        );
        // Between the value and `=`: trimmed off the value, still refused.
        assert_eq!(
            parse("a\t=b", None),
            DefinitionProblem::ValueNotAllowed { line: 1 }
        );
        assert_eq!(
            parse("x\na,b=Both", Some(OptionKind::ListMultiSelect)),
            DefinitionProblem::ValueWithComma { line: 2 }
        );
        assert_eq!(
            parse("\n \n", Some(OptionKind::ListMultiSelect)),
            DefinitionProblem::ListWithoutValues
        );
        // Commas are fine in a single-choice list, and no kind needs values.
        assert!(parse_predefined_values("a,b", Some(OptionKind::List), None).is_ok());
        assert_eq!(parse_predefined_values("", None, None), Ok(vec![]));
        assert_eq!(
            parse_predefined_values("", Some(OptionKind::SimpleValue), None),
            Ok(vec![])
        );
        // An empty label reads as the value.
        assert_eq!(
            parse_predefined_values("a=", None, None).unwrap()[0].name,
            "a"
        );
    }

    #[test]
    fn at_most_so_many_values_are_offered() {
        let lines: Vec<String> = (0..=MAX_PREDEFINED_VALUES).map(|i| i.to_string()).collect();
        let all = lines.join("\n");
        let at_most = lines[..MAX_PREDEFINED_VALUES].join("\n");
        assert_eq!(
            parse_predefined_values(&at_most, None, None).unwrap().len(),
            MAX_PREDEFINED_VALUES
        );
        assert_eq!(
            parse_predefined_values(&all, None, None),
            Err(DefinitionProblem::TooManyValues)
        );
        // A bad line is named before the count is.
        let repeated = format!("{at_most}\n0");
        assert!(matches!(
            parse_predefined_values(&repeated, None, None),
            Err(DefinitionProblem::ValueRepeated { .. })
        ));
    }

    #[test]
    fn values_kept_keep_their_description_and_default_mark() {
        let current = SyncOptionDefinition {
            predefined_values: vec![
                offered("1", "User", Some("An ordinary user"), true),
                offered("2", "Admin", None, false),
            ],
            ..draft().check("role".into(), None).unwrap()
        };
        let values =
            parse_predefined_values("2=Administrator\n1=Member\n3", None, Some(&current)).unwrap();
        assert_eq!(
            values,
            vec![
                PredefinedValue {
                    sort_order: 0,
                    ..offered("2", "Administrator", None, false)
                },
                PredefinedValue {
                    sort_order: 1,
                    ..offered("1", "Member", Some("An ordinary user"), true)
                },
                PredefinedValue {
                    sort_order: 2,
                    ..offered("3", "3", None, false)
                },
            ]
        );
    }

    #[test]
    fn new_ids_are_plain_and_not_reserved() {
        assert!(check_new_id("company_size2").is_ok());
        for bad in ["", "Company", "has space", "new", "a-b", &"x".repeat(65)] {
            assert!(check_new_id(bad).is_err(), "{bad}");
        }
        assert!(check_new_id(&"x".repeat(MAX_ID_LEN)).is_ok());
        assert_eq!(check_new_id(""), Err(DefinitionProblem::IdMissing));
        assert_eq!(
            check_new_id(&"x".repeat(65)),
            Err(DefinitionProblem::IdTooLong)
        );
        assert_eq!(check_new_id("é"), Err(DefinitionProblem::IdNotPlain));
        assert_eq!(
            check_new_id(RESERVED_ID),
            Err(DefinitionProblem::IdReserved)
        );
        assert_eq!(
            DefinitionProblem::IdTaken { id: "plan".into() }.field(),
            DefinitionField::Id
        );
    }

    #[test]
    fn a_list_without_values_is_refused() {
        let found = problems(DefinitionDraft {
            kind: "List",
            ..draft()
        });
        assert_eq!(found, vec![DefinitionProblem::ListWithoutValues]);
        assert_eq!(found[0].field(), DefinitionField::PredefinedValues);
        assert_eq!(
            found[0].to_string(),
            "A list needs the values to choose from: one value=label a line."
        );
    }

    #[test]
    fn a_good_draft_is_the_definition_to_save() {
        let definition = DefinitionDraft {
            name: "  Plan ",
            description: " Which plan.\n\tSee the price list. ",
            sort_order: " 7 ",
            kind: "ListMultiSelect",
            predefined_values: "s=Small\nl=Large",
            is_required: true,
            available_to_storefront: true,
            ..draft()
        }
        .check("plan".into(), None)
        .expect("valid");
        assert_eq!(definition.id, "plan");
        assert_eq!(definition.name, "Plan");
        assert_eq!(
            definition.description.as_deref(),
            Some("Which plan.\n\tSee the price list.")
        );
        assert_eq!(definition.sort_order, 7);
        assert_eq!(definition.kind, OptionKind::ListMultiSelect);
        assert_eq!(definition.data_type, DataType::Text);
        assert_eq!(definition.value_format, ValueFormat::Text);
        assert_eq!(definition.predefined_values.len(), 2);
        assert!(definition.is_required && definition.available_to_storefront);
        assert!(!definition.is_read_only && !definition.identifies_customer);
    }

    #[test]
    fn an_empty_position_keeps_the_current_one() {
        let current = DefinitionDraft {
            sort_order: "4",
            ..draft()
        }
        .check("plan".into(), None)
        .unwrap();
        let kept = draft().check("plan".into(), Some(&current)).unwrap();
        assert_eq!(kept.sort_order, 4);
        assert_eq!(draft().check("plan".into(), None).unwrap().sort_order, 0);
        let blank_description = DefinitionDraft {
            description: "  \n ",
            ..draft()
        };
        assert_eq!(
            blank_description
                .check("plan".into(), None)
                .unwrap()
                .description,
            None
        );
    }

    #[test]
    fn every_bad_field_is_named_once_in_field_order() {
        let found = problems(DefinitionDraft {
            name: " ",
            description: "bell\u{7}",
            sort_order: "2.5",
            kind: "list",
            data_type: "",
            value_format: "Domain",
            predefined_values: "=x",
            ..draft()
        });
        let fields: Vec<&str> = found.iter().map(|p| p.field().as_str()).collect();
        assert_eq!(
            fields,
            [
                "name",
                "description",
                "sort_order",
                "kind",
                "data_type",
                "value_format",
                "predefined_values"
            ]
        );
        let messages: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "Give the option a name; the BSS shows it.",
                "Use plain text.",
                "Use a whole number, such as 2.",
                "Choose how the BSS shows the option.",
                "Choose the type of the values.",
                "Choose text, domain or username.",
                "Line 1 has no value before =; write value=label.",
            ]
        );
    }

    #[test]
    fn names_and_descriptions_have_limits() {
        let name_of = |name: &str| problems(DefinitionDraft { name, ..draft() });
        assert_eq!(
            name_of(&"n".repeat(MAX_NAME_LEN + 1)),
            [DefinitionProblem::NameTooLong]
        );
        assert_eq!(name_of("two\nlines"), [DefinitionProblem::NameNotOneLine]);
        assert!(DefinitionDraft {
            name: &"ñ".repeat(MAX_NAME_LEN),
            ..draft()
        }
        .check("plan".into(), None)
        .is_ok());
        let too_long = "d".repeat(MAX_DESCRIPTION_LEN + 1);
        assert_eq!(
            problems(DefinitionDraft {
                description: &too_long,
                ..draft()
            }),
            [DefinitionProblem::DescriptionTooLong]
        );
        assert_eq!(
            DefinitionProblem::NameTooLong.to_string(),
            "Use at most 100 characters."
        );
    }

    #[test]
    fn the_username_option_keeps_what_the_bss_relies_on() {
        let username = DefinitionDraft {
            name: "Username",
            kind: "SimpleValue",
            data_type: "Text",
            value_format: "username",
            is_required: true,
            ..DefinitionDraft::default()
        };
        let current = username
            .check(option_ids::USERNAME.into(), None)
            .expect("the stored username option");
        // Its name and description are the operator's to change.
        let renamed = DefinitionDraft {
            name: "Login",
            description: "Filled from your email.",
            ..username
        };
        let saved = renamed
            .check(option_ids::USERNAME.into(), Some(&current))
            .expect("a new name is fine");
        assert_eq!(saved.name, "Login");
        // Its kind, data type, format and being required are not.
        let changed = DefinitionDraft {
            kind: "TextArea",
            data_type: "Number",
            value_format: "text",
            is_required: false,
            ..username
        };
        let problems = changed
            .check(option_ids::USERNAME.into(), Some(&current))
            .unwrap_err();
        let fields: Vec<DefinitionField> = problems.iter().map(DefinitionProblem::field).collect();
        assert_eq!(
            fields,
            [
                DefinitionField::Kind,
                DefinitionField::DataType,
                DefinitionField::ValueFormat,
                DefinitionField::Required
            ]
        );
        assert!(problems[0].to_string().contains("username option"));
        // Another option may change all of these.
        let plan = changed.check("plan".into(), Some(&current));
        assert!(plan.is_ok(), "{plan:?}");
    }
}
