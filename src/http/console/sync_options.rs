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
use crate::domain::operator_audit::AuditAction;
use crate::domain::sync_options::{
    check_new_id, predefined_values_text, DataType, DefinitionDraft, DefinitionProblem, OptionKind,
    SyncOptionCatalog, ValueFormat,
};
use crate::http::error::ServerError;
use crate::http::operator::OperatorState;
use crate::http::service_manager::wire::SyncOptionsResult;
use crate::store::sync_options::{
    self as option_store, DefinitionEdit, SaveDefinitionOutcome, StoredDefinition,
};

pub const VIEWS: &[(&str, &str)] = &[
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
    // `new` before `{id}`: it is not an option id (see `definition::RESERVED_ID`).
    cfg.route("/sync-options", web::get().to(list))
        .route("/sync-options/new", web::get().to(new_form))
        .route("/sync-options/new", web::post().to(create))
        .route("/sync-options/{id}", web::get().to(edit_form))
        .route("/sync-options/{id}", web::post().to(save));
}

const LIST_PATH: &str = "/console/sync-options";

/// How the form's choice of value format reads.
fn value_format_label(format: ValueFormat) -> &'static str {
    match format {
        ValueFormat::Text => "text",
        ValueFormat::Domain => "domain: a DNS name, stored in its ASCII form",
        ValueFormat::Username => {
            "username: a login; falls back to the account email, then the contact email"
        }
    }
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

impl OptionForm {
    /// The definition as typed; checkboxes are ticked when present.
    fn draft(&self) -> DefinitionDraft<'_> {
        DefinitionDraft {
            name: &self.name,
            description: &self.description,
            sort_order: &self.sort_order,
            kind: &self.kind,
            data_type: &self.data_type,
            value_format: &self.value_format,
            predefined_values: &self.predefined_values,
            is_required: !self.required.is_empty(),
            is_read_only: !self.read_only.is_empty(),
            available_to_storefront: !self.available_to_storefront.is_empty(),
            identifies_customer: !self.identifies_customer.is_empty(),
        }
    }
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
            predefined_values: predefined_values_text(&d.predefined_values),
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

#[derive(Serialize)]
struct Choice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

fn choices<T: Copy>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
    selected: &str,
) -> Vec<Choice> {
    all.iter()
        .map(|&item| Choice {
            value: as_str(item),
            label: label(item),
            selected: as_str(item) == selected,
        })
        .collect()
}

/// The message of each problem, under the form field it is about.
fn field_errors(
    problems: impl IntoIterator<Item = DefinitionProblem>,
) -> BTreeMap<&'static str, String> {
    problems
        .into_iter()
        .map(|problem| (problem.field().as_str(), problem.to_string()))
        .collect()
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
                &OptionKind::ALL,
                OptionKind::as_str,
                OptionKind::as_str,
                &fields.kind,
            ),
            data_types: choices(
                &DataType::ALL,
                DataType::as_str,
                DataType::as_str,
                &fields.data_type,
            ),
            value_formats: choices(
                &ValueFormat::ALL,
                ValueFormat::as_str,
                value_format_label,
                &fields.value_format,
            ),
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
    let checked = form
        .draft()
        .check(current.definition.id.clone(), Some(&current.definition));
    let definition = match checked {
        Ok(definition) => definition,
        Err(problems) => {
            let mut fields = FormFields::typed(&form);
            fields.id = current.definition.id.clone();
            let view = FormView::new(false, fields, field_errors(problems));
            return form_page(StatusCode::UNPROCESSABLE_ENTITY, &session, &view);
        }
    };
    let option_id = definition.id.clone();
    let edit = DefinitionEdit::Update {
        version: form.updated_at.clone(),
    };
    let entry = session
        .audit(AuditAction::SyncOptionEdited)
        .target(option_id.as_str())
        .before(audited(&current.definition))
        .after(audited(&definition));
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state
                .store
                .run(move |conn| option_store::save_definition_checked(conn, &definition, edit)),
            |outcome| matches!(outcome, SaveDefinitionOutcome::Saved),
        )
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
    let mut problems = Vec::new();
    if let Err(problem) = check_new_id(&option_id) {
        problems.push(problem);
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
            problems.push(id_taken(&option_id));
        }
    }
    let unprocessable = |problems: Vec<DefinitionProblem>| {
        form_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &session,
            &FormView::new(true, FormFields::typed(&form), field_errors(problems)),
        )
    };
    let definition = match form.draft().check(option_id.clone(), None) {
        Ok(definition) if problems.is_empty() => definition,
        Ok(_) => return unprocessable(problems),
        Err(more) => {
            problems.extend(more);
            return unprocessable(problems);
        }
    };
    let entry = session
        .audit(AuditAction::SyncOptionCreated)
        .target(option_id.as_str())
        .after(audited(&definition));
    let outcome = state
        .store
        .recording_when(
            entry.pending(),
            state.store.run(move |conn| {
                option_store::save_definition_checked(conn, &definition, DefinitionEdit::Create)
            }),
            |outcome| matches!(outcome, SaveDefinitionOutcome::Saved),
        )
        .await?;
    match outcome {
        SaveDefinitionOutcome::Saved => {
            state.catalog.invalidate();
            tracing::info!(operator = %session.email, option = %option_id, "sync option added");
            Ok(saved("created", &option_id))
        }
        _ => unprocessable(vec![id_taken(&option_id)]),
    }
}

/// A definition as its audit row keeps it.
fn audited(definition: &crate::domain::sync_options::SyncOptionDefinition) -> serde_json::Value {
    serde_json::json!({
        "name": definition.name,
        "description": definition.description,
        "sort_order": definition.sort_order,
        "kind": definition.kind.as_str(),
        "data_type": definition.data_type.as_str(),
        "value_format": definition.value_format.as_str(),
        "is_required": definition.is_required,
        "is_read_only": definition.is_read_only,
        "available_to_storefront": definition.available_to_storefront,
        "identifies_customer": definition.identifies_customer,
        "predefined_values": definition.predefined_values,
    })
}

fn id_taken(option_id: &str) -> DefinitionProblem {
    DefinitionProblem::IdTaken {
        id: option_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> OptionForm {
        OptionForm {
            name: "Plan".into(),
            kind: "List".into(),
            data_type: "Text".into(),
            value_format: "text".into(),
            ..OptionForm::default()
        }
    }

    #[test]
    fn a_list_without_values_is_refused() {
        let problems = form().draft().check("plan".into(), None).unwrap_err();
        let errors = field_errors(problems);
        assert!(errors.contains_key("predefined_values"), "{errors:?}");
        assert!(!errors.contains_key("name"));
    }

    #[test]
    fn ticked_boxes_and_typed_fields_reach_the_definition() {
        let form = OptionForm {
            predefined_values: "1=User\n2".into(),
            required: "on".into(),
            identifies_customer: "on".into(),
            ..form()
        };
        let definition = form.draft().check("plan".into(), None).expect("valid");
        assert!(definition.is_required && definition.identifies_customer);
        assert!(!definition.available_to_storefront && !definition.is_read_only);
        assert_eq!(
            predefined_values_text(&definition.predefined_values),
            "1=User\n2"
        );
    }

    #[test]
    fn each_problem_is_shown_at_its_field() {
        let errors = field_errors([id_taken("plan"), DefinitionProblem::SortOrderNotWhole]);
        assert_eq!(
            errors.get("id").map(String::as_str),
            Some("There is an option plan already; choose another id.")
        );
        assert_eq!(
            errors.get("sort_order").map(String::as_str),
            Some("Use a whole number, such as 2.")
        );
    }

    #[test]
    fn choices_follow_the_domain_lists() {
        let kinds = choices(
            &OptionKind::ALL,
            OptionKind::as_str,
            OptionKind::as_str,
            "List",
        );
        let values: Vec<&str> = kinds.iter().map(|c| c.value).collect();
        assert_eq!(
            values,
            [
                "SimpleValue",
                "List",
                "ListMultiSelect",
                "TextArea",
                "Boolean",
                "Link",
                "Mask",
                "MOD11CheckDigit",
                "File",
                "Unknown"
            ]
        );
        assert!(kinds.iter().all(|c| c.selected == (c.value == "List")));
        let formats = choices(
            &ValueFormat::ALL,
            ValueFormat::as_str,
            value_format_label,
            "domain",
        );
        assert_eq!(formats[0].label, "text");
        assert!(formats[1].selected && formats[1].label.starts_with("domain: "));
    }
}
