//! Sync options: the fields `Accounts/SyncOptions` declares to the BSS,
//! listed beside the exact JSON the BSS receives. Admins edit them and add
//! new ones; an edit never overwrites a save made meanwhile.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::pages::{render, render_status};
use super::{ConsoleError, ConsoleSession};
use crate::domain::operator::Permission;
use crate::domain::sync_options::{
    DataType, OptionKind, PredefinedValue, SyncOptionCatalog, SyncOptionDefinition, ValueFormat,
    MAX_OPTION_VALUE_LEN,
};
use crate::http::error::ServerError;
use crate::http::operator::OperatorState;
use crate::http::service_manager::wire::SyncOptionsResult;
use crate::store::sync_options::{
    self as option_store, DefinitionEdit, SaveDefinitionOutcome, StoredDefinition,
};

pub const TEMPLATES: &[(&str, &str)] = &[
    (
        "sync_options",
        include_str!("../../../templates/console/sync_options.hbs"),
    ),
    (
        "sync_options_form",
        include_str!("../../../templates/console/sync_options_form.hbs"),
    ),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    // `new` before `{id}`: it is not an option id (see `check_new_id`).
    cfg.route("/sync-options", web::get().to(list))
        .route("/sync-options/new", web::get().to(new_form))
        .route("/sync-options/new", web::post().to(create))
        .route("/sync-options/{id}", web::get().to(edit_form))
        .route("/sync-options/{id}", web::post().to(save));
}

const LIST_PATH: &str = "/console/sync-options";
const MAX_ID_LEN: usize = 64;
const MAX_NAME_LEN: usize = 100;
const MAX_DESCRIPTION_LEN: usize = 1000;
const MAX_PREDEFINED_VALUES: usize = 500;

const KINDS: [OptionKind; 10] = [
    OptionKind::SimpleValue,
    OptionKind::List,
    OptionKind::ListMultiSelect,
    OptionKind::TextArea,
    OptionKind::Boolean,
    OptionKind::Link,
    OptionKind::Mask,
    OptionKind::Mod11CheckDigit,
    OptionKind::File,
    OptionKind::Unknown,
];

const DATA_TYPES: [DataType; 8] = [
    DataType::Text,
    DataType::Number,
    DataType::Numeric,
    DataType::Currency,
    DataType::Date,
    DataType::DateTime,
    DataType::Boolean,
    DataType::Unknown,
];

const VALUE_FORMATS: [(ValueFormat, &str); 3] = [
    (ValueFormat::Text, "text"),
    (
        ValueFormat::Domain,
        "domain: a DNS name, stored in its ASCII form",
    ),
    (
        ValueFormat::Username,
        "username: a login; falls back to the account email, then the contact email",
    ),
];

fn is_list(kind: OptionKind) -> bool {
    matches!(kind, OptionKind::List | OptionKind::ListMultiSelect)
}

// ---------------------------------------------------------------- the list

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListQuery {
    notice: String,
    option: String,
}

#[derive(Serialize)]
struct OptionRow {
    id: String,
    name: String,
    description: Option<String>,
    kind: &'static str,
    data_type: &'static str,
    required: bool,
    storefront: bool,
    read_only: bool,
    identifies_customer: bool,
    value_format: &'static str,
    /// `value = label` of each predefined value.
    values: Vec<String>,
    updated_at: String,
    edit_href: String,
}

#[derive(Serialize)]
struct ListView {
    options: Vec<OptionRow>,
    bss_json: String,
    notice: Option<String>,
}

async fn list(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ReadCustomers)?;
    let stored = state.store.run(option_store::list_stored).await?;
    // The JSON from the very rows listed beside it, built as the contract
    // handler builds it (its cache may be up to a few seconds older).
    let catalog = SyncOptionCatalog::new(stored.iter().map(|s| s.definition.clone()).collect());
    let bss_json = serde_json::to_string_pretty(&SyncOptionsResult::from_catalog(&catalog))
        .map_err(|e| ConsoleError::from(ServerError::internal(e)))?;
    let options = catalog
        .definitions()
        .iter()
        .map(|definition| {
            let updated_at = stored
                .iter()
                .find(|s| s.definition.id == definition.id)
                .map(|s| super::pages::display_time(s.updated_at))
                .unwrap_or_default();
            OptionRow {
                id: definition.id.clone(),
                name: definition.name.clone(),
                description: definition.description.clone(),
                kind: definition.kind.as_str(),
                data_type: definition.data_type.as_str(),
                required: definition.is_required,
                storefront: definition.available_to_storefront,
                read_only: definition.is_read_only,
                identifies_customer: definition.identifies_customer,
                value_format: definition.value_format.as_str(),
                values: definition
                    .predefined_values
                    .iter()
                    .map(|v| {
                        if v.name == v.id {
                            v.id.clone()
                        } else {
                            format!("{} = {}", v.id, v.name)
                        }
                    })
                    .collect(),
                updated_at,
                edit_href: edit_path(&definition.id),
            }
        })
        .collect();
    let notice = match query.notice.as_str() {
        "saved" => Some(format!(
            "Saved {}. Accounts/SyncOptions answers with it from now on.",
            query.option
        )),
        "created" => Some(format!(
            "Added {}. Accounts/SyncOptions answers with it from now on.",
            query.option
        )),
        _ => None,
    };
    render(
        "sync_options",
        &session.chrome("Sync options", "sync_options"),
        &ListView {
            options,
            bss_json,
            notice,
        },
    )
}

// ---------------------------------------------------------------- the form

/// The edit form as posted. Every field is text, so that a missing one is a
/// message next to it rather than a bad request; checkboxes are present
/// (any value) when ticked.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct OptionForm {
    csrf: String,
    /// Only on the form of a new option.
    id: String,
    /// The version the edit started from.
    updated_at: String,
    name: String,
    description: String,
    sort_order: String,
    kind: String,
    data_type: String,
    value_format: String,
    /// One `value=label` (or `value`) a line.
    predefined_values: String,
    required: String,
    available_to_storefront: String,
    read_only: String,
    identifies_customer: String,
}

/// What the form shows in its fields.
#[derive(Debug, Default, Serialize)]
struct FormFields {
    id: String,
    updated_at: String,
    name: String,
    description: String,
    sort_order: String,
    kind: String,
    data_type: String,
    value_format: String,
    predefined_values: String,
    required: bool,
    available_to_storefront: bool,
    read_only: bool,
    identifies_customer: bool,
}

impl FormFields {
    fn of(stored: &StoredDefinition) -> Self {
        let d = &stored.definition;
        Self {
            id: d.id.clone(),
            updated_at: stored.version(),
            name: d.name.clone(),
            description: d.description.clone().unwrap_or_default(),
            sort_order: d.sort_order.to_string(),
            kind: d.kind.as_str().to_owned(),
            data_type: d.data_type.as_str().to_owned(),
            value_format: d.value_format.as_str().to_owned(),
            predefined_values: values_text(&d.predefined_values),
            required: d.is_required,
            available_to_storefront: d.available_to_storefront,
            read_only: d.is_read_only,
            identifies_customer: d.identifies_customer,
        }
    }

    fn typed(form: &OptionForm) -> Self {
        Self {
            id: form.id.trim().to_owned(),
            updated_at: form.updated_at.clone(),
            name: form.name.clone(),
            description: form.description.clone(),
            sort_order: form.sort_order.clone(),
            kind: form.kind.clone(),
            data_type: form.data_type.clone(),
            value_format: form.value_format.clone(),
            predefined_values: form.predefined_values.clone(),
            required: !form.required.is_empty(),
            available_to_storefront: !form.available_to_storefront.is_empty(),
            read_only: !form.read_only.is_empty(),
            identifies_customer: !form.identifies_customer.is_empty(),
        }
    }
}

/// The predefined values as the form's text area shows them.
fn values_text(values: &[PredefinedValue]) -> String {
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

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices<T: Copy>(
    all: &[(T, &'static str)],
    as_str: fn(T) -> &'static str,
    selected: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|&(item, label)| Choice {
            value: as_str(item),
            label,
            selected: as_str(item) == selected,
        })
        .collect()
}

fn labelled<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<(T, &'static str)> {
    all.iter().map(|&item| (item, as_str(item))).collect()
}

#[derive(Serialize)]
struct FormView {
    is_new: bool,
    action: String,
    fields: FormFields,
    kinds: Vec<Choice>,
    data_types: Vec<Choice>,
    value_formats: Vec<Choice>,
    errors: BTreeMap<&'static str, String>,
    has_errors: bool,
    /// Set when someone saved the option meanwhile: `fields` are theirs,
    /// `yours` what this operator sent.
    conflict: bool,
    yours: Option<FormFields>,
}

impl FormView {
    fn new(is_new: bool, fields: FormFields, errors: BTreeMap<&'static str, String>) -> Self {
        let action = if is_new {
            format!("{LIST_PATH}/new")
        } else {
            edit_path(&fields.id)
        };
        Self {
            is_new,
            action,
            kinds: choices(
                &labelled(&KINDS, OptionKind::as_str),
                OptionKind::as_str,
                &fields.kind,
            ),
            data_types: choices(
                &labelled(&DATA_TYPES, DataType::as_str),
                DataType::as_str,
                &fields.data_type,
            ),
            value_formats: choices(&VALUE_FORMATS, ValueFormat::as_str, &fields.value_format),
            fields,
            has_errors: !errors.is_empty(),
            errors,
            conflict: false,
            yours: None,
        }
    }
}

fn form_page(
    status: StatusCode,
    session: &ConsoleSession,
    view: &FormView,
) -> Result<HttpResponse, ConsoleError> {
    let title = if view.is_new {
        "New sync option".to_owned()
    } else {
        format!("Sync option {}", view.fields.id)
    };
    render_status(
        status,
        "sync_options_form",
        Some(&session.chrome(title, "sync_options")),
        view,
    )
}

fn conflict_page(
    session: &ConsoleSession,
    theirs: &StoredDefinition,
    yours: &OptionForm,
) -> Result<HttpResponse, ConsoleError> {
    let mut view = FormView::new(false, FormFields::of(theirs), BTreeMap::new());
    view.conflict = true;
    let mut typed = FormFields::typed(yours);
    typed.id = theirs.definition.id.clone();
    view.yours = Some(typed);
    form_page(StatusCode::CONFLICT, session, &view)
}

fn edit_path(option_id: &str) -> String {
    format!("{LIST_PATH}/{}", super::pages::encode_component(option_id))
}

fn no_such_option() -> ConsoleError {
    ConsoleError::NotFound("There is no such sync option.".into())
}

fn saved(notice: &str, option_id: &str) -> HttpResponse {
    super::pages::see_other(format!(
        "{LIST_PATH}?notice={notice}&option={}",
        super::pages::encode_component(option_id)
    ))
}

async fn find(
    state: &OperatorState,
    option_id: String,
) -> Result<Option<StoredDefinition>, ConsoleError> {
    Ok(state
        .store
        .run(move |conn| option_store::find_stored(conn, &option_id))
        .await?)
}

async fn edit_form(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    option_id: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageSyncOptions)?;
    let stored = find(&state, option_id.into_inner())
        .await?
        .ok_or_else(no_such_option)?;
    let view = FormView::new(false, FormFields::of(&stored), BTreeMap::new());
    form_page(StatusCode::OK, &session, &view)
}

async fn save(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    option_id: web::Path<String>,
    form: web::Form<OptionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageSyncOptions)?;
    let form = form.into_inner();
    let current = find(&state, option_id.into_inner())
        .await?
        .ok_or_else(no_such_option)?;
    // Someone else's save first: there is no point in checking fields
    // typed over a version that is gone.
    if current.version() != form.updated_at {
        return conflict_page(&session, &current, &form);
    }
    let mut errors = BTreeMap::new();
    let definition = parse_definition(
        &form,
        current.definition.id.clone(),
        Some(&current.definition),
        &mut errors,
    );
    let Some(definition) = definition.filter(|_| errors.is_empty()) else {
        let mut fields = FormFields::typed(&form);
        fields.id = current.definition.id.clone();
        let view = FormView::new(false, fields, errors);
        return form_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &view);
    };
    let option_id = definition.id.clone();
    let edit = DefinitionEdit::Update {
        version: form.updated_at.clone(),
    };
    let outcome = state
        .store
        .run(move |conn| option_store::save_definition_checked(conn, &definition, edit))
        .await?;
    match outcome {
        SaveDefinitionOutcome::Saved => {
            state.catalog.invalidate();
            tracing::info!(operator = %session.email, option = %option_id, "sync option saved");
            Ok(saved("saved", &option_id))
        }
        SaveDefinitionOutcome::Changed(theirs) => conflict_page(&session, &theirs, &form),
        SaveDefinitionOutcome::NotFound | SaveDefinitionOutcome::IdTaken => Err(no_such_option()),
    }
}

async fn new_form(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
) -> Result<HttpResponse, ConsoleError> {
    session.require(Permission::ManageSyncOptions)?;
    let stored = state.store.run(option_store::list_stored).await?;
    let next_position = stored
        .iter()
        .map(|s| s.definition.sort_order)
        .max()
        .map_or(0, |last| last.saturating_add(1));
    let fields = FormFields {
        sort_order: next_position.to_string(),
        kind: OptionKind::SimpleValue.as_str().to_owned(),
        data_type: DataType::Text.as_str().to_owned(),
        value_format: ValueFormat::Text.as_str().to_owned(),
        ..FormFields::default()
    };
    form_page(
        StatusCode::OK,
        &session,
        &FormView::new(true, fields, BTreeMap::new()),
    )
}

async fn create(
    state: web::Data<OperatorState>,
    session: ConsoleSession,
    form: web::Form<OptionForm>,
) -> Result<HttpResponse, ConsoleError> {
    session.check_csrf(&form.csrf)?;
    session.require(Permission::ManageSyncOptions)?;
    let form = form.into_inner();
    let option_id = form.id.trim().to_owned();
    let mut errors = BTreeMap::new();
    if let Err(message) = check_new_id(&option_id) {
        errors.insert("id", message);
    } else {
        let wanted = option_id.clone();
        let taken = state
            .store
            .run(move |conn| {
                Ok(option_store::list_stored(conn)?
                    .iter()
                    .any(|s| s.definition.id.eq_ignore_ascii_case(&wanted)))
            })
            .await?;
        if taken {
            errors.insert("id", id_taken(&option_id));
        }
    }
    let definition = parse_definition(&form, option_id.clone(), None, &mut errors);
    let unprocessable = |errors| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &session,
            &FormView::new(true, FormFields::typed(&form), errors),
        )
    };
    let Some(definition) = definition.filter(|_| errors.is_empty()) else {
        return unprocessable(errors);
    };
    let outcome = state
        .store
        .run(move |conn| {
            option_store::save_definition_checked(conn, &definition, DefinitionEdit::Create)
        })
        .await?;
    match outcome {
        SaveDefinitionOutcome::Saved => {
            state.catalog.invalidate();
            tracing::info!(operator = %session.email, option = %option_id, "sync option added");
            Ok(saved("created", &option_id))
        }
        _ => {
            errors.insert("id", id_taken(&option_id));
            unprocessable(errors)
        }
    }
}

fn id_taken(option_id: &str) -> String {
    format!("There is an option {option_id} already; choose another id.")
}

/// Ids are what the BSS sends back as `SyncOptions` keys: short, plain.
fn check_new_id(option_id: &str) -> Result<(), String> {
    if option_id.is_empty() {
        return Err("Give the option an id, for example company_size.".into());
    }
    if option_id.len() > MAX_ID_LEN {
        return Err(format!("Use at most {MAX_ID_LEN} characters."));
    }
    if !option_id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("Use lowercase letters, digits and _ only.".into());
    }
    if option_id == "new" {
        return Err("new is reserved; choose another id.".into());
    }
    Ok(())
}

fn parse_choice<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, text: &str) -> Option<T> {
    all.iter().copied().find(|item| as_str(*item) == text)
}

fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
}

/// Reads the form into a definition, noting a message per bad field.
/// `current` lends its values' descriptions and default marks (which the
/// form does not show) to the values kept by id.
fn parse_definition(
    form: &OptionForm,
    option_id: String,
    current: Option<&SyncOptionDefinition>,
    errors: &mut BTreeMap<&'static str, String>,
) -> Option<SyncOptionDefinition> {
    let name = form.name.trim();
    if name.is_empty() {
        errors.insert("name", "Give the option a name; the BSS shows it.".into());
    } else if name.chars().count() > MAX_NAME_LEN {
        errors.insert("name", format!("Use at most {MAX_NAME_LEN} characters."));
    } else if name.chars().any(char::is_control) {
        errors.insert("name", "Use one line of plain text.".into());
    }
    let description = form.description.trim();
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        errors.insert(
            "description",
            format!("Use at most {MAX_DESCRIPTION_LEN} characters."),
        );
    } else if has_control(description) {
        errors.insert("description", "Use plain text.".into());
    }
    let sort_order = match form.sort_order.trim() {
        "" => Some(current.map_or(0, |c| c.sort_order)),
        text => text.parse::<i32>().ok(),
    };
    if sort_order.is_none() {
        errors.insert("sort_order", "Use a whole number, such as 2.".into());
    }
    let kind = parse_choice(&KINDS, OptionKind::as_str, &form.kind);
    if kind.is_none() {
        errors.insert("kind", "Choose how the BSS shows the option.".into());
    }
    let data_type = parse_choice(&DATA_TYPES, DataType::as_str, &form.data_type);
    if data_type.is_none() {
        errors.insert("data_type", "Choose the type of the values.".into());
    }
    let formats: Vec<ValueFormat> = VALUE_FORMATS.iter().map(|(f, _)| *f).collect();
    let value_format = parse_choice(&formats, ValueFormat::as_str, &form.value_format);
    if value_format.is_none() {
        errors.insert("value_format", "Choose text, domain or username.".into());
    }
    let predefined_values = match parse_values(&form.predefined_values, kind, current) {
        Ok(values) => values,
        Err(message) => {
            errors.insert("predefined_values", message);
            Vec::new()
        }
    };
    if kind.is_some_and(is_list)
        && predefined_values.is_empty()
        && !errors.contains_key("predefined_values")
    {
        errors.insert(
            "predefined_values",
            "A list needs the values to choose from: one value=label a line.".into(),
        );
    }
    Some(SyncOptionDefinition {
        id: option_id,
        sort_order: sort_order?,
        name: name.to_owned(),
        description: (!description.is_empty()).then(|| description.to_owned()),
        kind: kind?,
        data_type: data_type?,
        is_required: !form.required.is_empty(),
        predefined_values,
        is_read_only: !form.read_only.is_empty(),
        available_to_storefront: !form.available_to_storefront.is_empty(),
        identifies_customer: !form.identifies_customer.is_empty(),
        value_format: value_format?,
    })
}

/// One `value=label` or `value` a line; blank lines are skipped.
fn parse_values(
    text: &str,
    kind: Option<OptionKind>,
    current: Option<&SyncOptionDefinition>,
) -> Result<Vec<PredefinedValue>, String> {
    let mut values: Vec<PredefinedValue> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (value, label) = match line.split_once('=') {
            Some((value, label)) => (value.trim(), label.trim()),
            None => (line, line),
        };
        let label = if label.is_empty() { value } else { label };
        if value.is_empty() {
            return Err(format!(
                "Line {line_number} has no value before =; write value=label."
            ));
        }
        if value.chars().count() > MAX_OPTION_VALUE_LEN
            || label.chars().count() > MAX_OPTION_VALUE_LEN
        {
            return Err(format!(
                "Line {line_number} is too long: use at most {MAX_OPTION_VALUE_LEN} characters \
                 for a value and for a label."
            ));
        }
        if line.chars().any(char::is_control) {
            return Err(format!(
                "Line {line_number} holds characters that are not allowed."
            ));
        }
        if kind == Some(OptionKind::ListMultiSelect) && value.contains(',') {
            return Err(format!(
                "Line {line_number}: values of a multiple-choice list cannot contain a comma \
                 (the BSS sends the chosen ones separated by commas)."
            ));
        }
        if values.iter().any(|v| v.id == value) {
            return Err(format!(
                "Line {line_number} repeats the value {value}; each value once."
            ));
        }
        if values.len() == MAX_PREDEFINED_VALUES {
            return Err(format!("Offer at most {MAX_PREDEFINED_VALUES} values."));
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
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_values_read_value_label_lines() {
        let values = parse_values("1=User\n\n 2 = Admin \nguest", Some(OptionKind::List), None)
            .expect("valid");
        let pairs: Vec<(&str, &str, i32)> = values
            .iter()
            .map(|v| (v.id.as_str(), v.name.as_str(), v.sort_order))
            .collect();
        assert_eq!(
            pairs,
            vec![("1", "User", 0), ("2", "Admin", 1), ("guest", "guest", 2)]
        );
        assert_eq!(values_text(&values), "1=User\n2=Admin\nguest");
        assert!(parse_values("1=a\n1=b", None, None).is_err());
        assert!(parse_values("=a", None, None).is_err());
        assert!(parse_values("a,b", Some(OptionKind::ListMultiSelect), None).is_err());
    }

    #[test]
    fn new_ids_are_plain_and_not_reserved() {
        assert!(check_new_id("company_size2").is_ok());
        for bad in ["", "Company", "has space", "new", "a-b", &"x".repeat(65)] {
            assert!(check_new_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_list_without_values_is_refused() {
        let form = OptionForm {
            name: "Plan".into(),
            kind: "List".into(),
            data_type: "Text".into(),
            value_format: "text".into(),
            ..OptionForm::default()
        };
        let mut errors = BTreeMap::new();
        parse_definition(&form, "plan".into(), None, &mut errors);
        assert!(errors.contains_key("predefined_values"), "{errors:?}");
        assert!(!errors.contains_key("name"));
    }
}
