//! Email templates and their revisions. Saving adds a revision and moves
//! the template's pointer; no revision is ever changed or removed.

use chrono::{NaiveDateTime, Utc};
use diesel::prelude::*;

use super::connection::{write_transaction, DbConnection};
use super::schema::{email_template_revisions, email_templates};
use super::StoreError;
use crate::domain::template::TemplateSource;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = email_template_revisions)]
pub struct RevisionRow {
    pub template_name: String,
    pub revision: i32,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub restored_from: Option<i32>,
}

impl RevisionRow {
    pub fn source(&self) -> TemplateSource {
        TemplateSource {
            subject: self.subject.clone(),
            text_body: self.text_body.clone(),
            html_body: self.html_body.clone(),
        }
    }
}

/// Stores `source` as revision 1 of `name` unless the template exists.
/// Returns whether it was created.
pub fn seed(
    conn: &mut DbConnection,
    name: &str,
    source: &TemplateSource,
) -> Result<bool, StoreError> {
    let seeded: Result<bool, StoreError> = write_transaction(conn, |conn| {
        if current_revision_number(conn, name)?.is_some() {
            return Ok(false);
        }
        let now = Utc::now().naive_utc();
        diesel::insert_into(email_templates::table)
            .values((
                email_templates::name.eq(name),
                email_templates::current_revision.eq(1),
                email_templates::updated_at.eq(now),
            ))
            .execute(conn)?;
        insert_revision(conn, name, 1, source, None, None, now)?;
        Ok(true)
    });
    match seeded {
        // Another instance seeded it at the same moment.
        Err(e) if e.is_retryable_conflict() => Ok(false),
        other => other,
    }
}

/// The revision a template currently uses: one indexed read, cheap enough
/// to check a compiled-template cache against on every send.
pub fn current_revision_number(
    conn: &mut DbConnection,
    name: &str,
) -> Result<Option<i32>, StoreError> {
    Ok(email_templates::table
        .find(name)
        .select(email_templates::current_revision)
        .first(conn)
        .optional()?)
}

pub fn current(conn: &mut DbConnection, name: &str) -> Result<Option<RevisionRow>, StoreError> {
    Ok(email_templates::table
        .inner_join(
            email_template_revisions::table.on(email_template_revisions::template_name
                .eq(email_templates::name)
                .and(email_template_revisions::revision.eq(email_templates::current_revision))),
        )
        .filter(email_templates::name.eq(name))
        .select(RevisionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every template at its current revision, by name.
pub fn list_current(conn: &mut DbConnection) -> Result<Vec<RevisionRow>, StoreError> {
    Ok(email_templates::table
        .inner_join(
            email_template_revisions::table.on(email_template_revisions::template_name
                .eq(email_templates::name)
                .and(email_template_revisions::revision.eq(email_templates::current_revision))),
        )
        .order(email_templates::name)
        .select(RevisionRow::as_select())
        .load(conn)?)
}

/// Up to `limit` revisions of a template older than `before` (all when
/// `None`), newest first: one page of its history, by the primary key.
pub fn revisions(
    conn: &mut DbConnection,
    name: &str,
    before: Option<i32>,
    limit: i64,
) -> Result<Vec<RevisionRow>, StoreError> {
    let mut query = email_template_revisions::table
        .filter(email_template_revisions::template_name.eq(name))
        .order(email_template_revisions::revision.desc())
        .select(RevisionRow::as_select())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(email_template_revisions::revision.lt(before));
    }
    Ok(query.load(conn)?)
}

pub fn revision(
    conn: &mut DbConnection,
    name: &str,
    revision: i32,
) -> Result<Option<RevisionRow>, StoreError> {
    Ok(email_template_revisions::table
        .find((name, revision))
        .select(RevisionRow::as_select())
        .first(conn)
        .optional()?)
}

/// What saving a new revision did.
#[derive(Debug)]
pub enum SaveOutcome {
    Saved(RevisionRow),
    NoSuchTemplate,
    /// The editor started from `base` but someone saved `current` meanwhile.
    Stale {
        base: i32,
        current: i32,
    },
}

/// A new revision of `name`, made current.
pub struct NewRevision<'a> {
    pub name: std::borrow::Cow<'a, str>,
    pub source: TemplateSource,
    pub author: std::borrow::Cow<'a, str>,
    /// The revision the editor started from; a save over a newer one is refused.
    pub base_revision: Option<i32>,
    pub restored_from: Option<i32>,
}

pub fn save(conn: &mut DbConnection, new: &NewRevision<'_>) -> Result<SaveOutcome, StoreError> {
    write_transaction(conn, |conn| {
        let Some(current) = current_revision_number(conn, &new.name)? else {
            return Ok(SaveOutcome::NoSuchTemplate);
        };
        if let Some(base) = new.base_revision {
            if base != current {
                return Ok(SaveOutcome::Stale { base, current });
            }
        }
        let now = Utc::now().naive_utc();
        let next = current + 1;
        // Moving the pointer first takes the row lock (PostgreSQL) before the
        // insert, so two concurrent saves queue instead of both inserting.
        diesel::update(email_templates::table.find(new.name.as_ref()))
            .set((
                email_templates::current_revision.eq(next),
                email_templates::updated_at.eq(now),
            ))
            .execute(conn)?;
        let row = insert_revision(
            conn,
            &new.name,
            next,
            &new.source,
            Some(&new.author),
            new.restored_from,
            now,
        )?;
        Ok(SaveOutcome::Saved(row))
    })
}

fn insert_revision(
    conn: &mut DbConnection,
    name: &str,
    revision: i32,
    source: &TemplateSource,
    author: Option<&str>,
    restored_from: Option<i32>,
    now: NaiveDateTime,
) -> Result<RevisionRow, StoreError> {
    diesel::insert_into(email_template_revisions::table)
        .values((
            email_template_revisions::template_name.eq(name),
            email_template_revisions::revision.eq(revision),
            email_template_revisions::subject.eq(&source.subject),
            email_template_revisions::text_body.eq(&source.text_body),
            email_template_revisions::html_body.eq(&source.html_body),
            email_template_revisions::created_at.eq(now),
            email_template_revisions::created_by.eq(author),
            email_template_revisions::restored_from.eq(restored_from),
        ))
        .execute(conn)?;
    self::revision(conn, name, revision)?
        .ok_or_else(|| StoreError::corrupt(format!("revision {revision} of {name} vanished")))
}
