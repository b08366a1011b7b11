//! The database schema: the tables the migrations create on each backend are
//! the ones `src/store/schema.rs` declares, and every migration reverts
//! cleanly and runs again to the same schema.

use std::collections::{BTreeMap, BTreeSet};

use diesel::sql_types::{Integer, Text};
use diesel::{QueryableByName, RunQueryDsl};
use mailroom::config::Settings;
use mailroom::store::{migrations, DbConnection, DbTarget, Store, StoreError};

use crate::both_backends;
use crate::helpers::{Backend, TestDatabase};

both_backends!(
    schema_rs_matches_the_migrated_database,
    migrations_revert_and_run_again
);

/// diesel's own bookkeeping, not an application table.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

// ---------------------------------------------------------------------------
// What src/store/schema.rs declares

/// A table of a `diesel::table!` block.
#[derive(Debug, PartialEq, Eq)]
struct DeclaredTable {
    primary_key: Vec<String>,
    columns: Vec<DeclaredColumn>,
}

/// A column line such as `revoked_at -> Nullable<Timestamp>,`.
#[derive(Debug, PartialEq, Eq)]
struct DeclaredColumn {
    name: String,
    /// The diesel SQL type without `Nullable<>` or a path: `Timestamp`.
    sql_type: String,
    nullable: bool,
}

impl DeclaredColumn {
    fn spelled(&self) -> String {
        if self.nullable {
            format!("Nullable<{}>", self.sql_type)
        } else {
            self.sql_type.clone()
        }
    }
}

fn declared_schema() -> BTreeMap<String, DeclaredTable> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/store/schema.rs");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let tables = parse_schema(&text);
    assert!(
        !tables.is_empty(),
        "no diesel::table! block found in {path}"
    );
    tables
}

/// Reads the `diesel::table!` blocks of a schema file as `diesel
/// print-schema` writes them (and rustfmt keeps them): the header
/// `name (key, ...) {` on a line of its own, then one column per line.
/// Panics on a line it does not understand rather than skip it.
fn parse_schema(text: &str) -> BTreeMap<String, DeclaredTable> {
    let mut tables = BTreeMap::new();
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()));
    while let Some((_, line)) = lines.next() {
        if !(line.starts_with("diesel::table!") || line.starts_with("table!")) {
            continue;
        }
        let mut sql_name: Option<String> = None;
        let mut table: Option<(String, DeclaredTable)> = None;
        loop {
            let (number, line) = lines
                .next()
                .expect("schema.rs ends inside a diesel::table! block");
            let unreadable = format!("schema.rs line {number} is not understood: {line:?}");
            if line.is_empty() || line.starts_with("//") || line.starts_with("use ") {
                continue;
            }
            if let Some(attribute) = line.strip_prefix("#[") {
                if let Some(name) = attribute.strip_prefix("sql_name = \"") {
                    sql_name = Some(name.split('"').next().expect(&unreadable).into());
                }
                continue;
            }
            match &mut table {
                None => {
                    // `name (a, b) {`
                    let header = line.strip_suffix('{').expect(&unreadable).trim();
                    let (name, key) = header.split_once('(').expect(&unreadable);
                    let key = key.trim().strip_suffix(')').expect(&unreadable);
                    let name = sql_name.take().unwrap_or_else(|| name.trim().to_owned());
                    let name = name.rsplit('.').next().unwrap_or_default().to_owned();
                    let primary_key = key
                        .split(',')
                        .map(|column| column.trim().trim_start_matches("r#").to_owned())
                        .filter(|column| !column.is_empty())
                        .collect();
                    table = Some((
                        name,
                        DeclaredTable {
                            primary_key,
                            columns: Vec::new(),
                        },
                    ));
                }
                Some((name, declared)) if line == "}" => {
                    assert!(
                        !declared.columns.is_empty(),
                        "schema.rs line {number}: table `{name}` has no columns"
                    );
                    let closing = lines.next().map(|(_, line)| line);
                    assert_eq!(
                        closing,
                        Some("}"),
                        "schema.rs line {}: the diesel::table! block of `{name}` should end here",
                        number + 1
                    );
                    break;
                }
                Some((_, declared)) => {
                    // `name -> Type,`
                    let (name, sql_type) = line.split_once("->").expect(&unreadable);
                    let sql_type = sql_type.trim().trim_end_matches(',').trim();
                    let (sql_type, nullable) = match sql_type.strip_prefix("Nullable<") {
                        Some(inner) => (inner.strip_suffix('>').expect(&unreadable), true),
                        None => (sql_type, false),
                    };
                    let name = sql_name
                        .take()
                        .unwrap_or_else(|| name.trim().trim_start_matches("r#").to_owned());
                    declared.columns.push(DeclaredColumn {
                        name,
                        sql_type: sql_type.rsplit("::").next().unwrap_or_default().to_owned(),
                        nullable,
                    });
                }
            }
        }
        let (name, declared) = table.expect("a diesel::table! block with a table");
        assert!(
            !tables.contains_key(&name),
            "schema.rs declares `{name}` twice"
        );
        tables.insert(name, declared);
    }
    tables
}

#[test]
fn the_schema_parser_reads_table_blocks() {
    let tables = parse_schema(
        r#"
//! A schema.
diesel::table! {
    /// Things.
    things (id, kind) {
        id -> BigInt,
        kind -> diesel::sql_types::Text,
        #[sql_name = "type"]
        r#type -> Nullable<Timestamp>,
    }
}

diesel::joinable!(things -> others (id));
"#,
    );
    let column = |name: &str, sql_type: &str, nullable| DeclaredColumn {
        name: name.into(),
        sql_type: sql_type.into(),
        nullable,
    };
    let expected = BTreeMap::from([(
        "things".to_owned(),
        DeclaredTable {
            primary_key: vec!["id".into(), "kind".into()],
            columns: vec![
                column("id", "BigInt", false),
                column("kind", "Text", false),
                column("type", "Timestamp", true),
            ],
        },
    )]);
    assert_eq!(tables, expected);
}

// ---------------------------------------------------------------------------
// What the database has

#[derive(Debug, Clone, PartialEq, Eq)]
struct FoundColumn {
    name: String,
    /// As the database reports it: `TIMESTAMP` (SQLite), `timestamp
    /// without time zone` (PostgreSQL).
    data_type: String,
    nullable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct FoundTable {
    /// In the order the table defines them.
    columns: Vec<FoundColumn>,
    primary_key: Vec<String>,
}

/// The application tables of a database, by name.
type FoundSchema = BTreeMap<String, FoundTable>;

#[derive(QueryableByName)]
struct ColumnRow {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Integer)]
    not_null: i32,
    /// Position in the primary key from 1; 0 when not part of it.
    #[diesel(sql_type = Integer)]
    key_position: i32,
}

const SQLITE_COLUMNS: &str = r#"
    SELECT m.name AS table_name, p.name AS column_name, p.type AS data_type,
           p."notnull" AS not_null, p.pk AS key_position
    FROM sqlite_master AS m, pragma_table_info(m.name) AS p
    WHERE m.type = 'table'
    ORDER BY m.name, p.cid"#;

const POSTGRES_COLUMNS: &str = "
    SELECT c.table_name::text AS table_name, c.column_name::text AS column_name,
           c.data_type::text AS data_type,
           CASE WHEN c.is_nullable = 'NO' THEN 1 ELSE 0 END AS not_null,
           COALESCE(k.ordinal_position, 0)::int4 AS key_position
    FROM information_schema.columns AS c
    JOIN information_schema.tables AS t
      ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    LEFT JOIN information_schema.table_constraints AS pk
      ON pk.table_schema = c.table_schema AND pk.table_name = c.table_name
     AND pk.constraint_type = 'PRIMARY KEY'
    LEFT JOIN information_schema.key_column_usage AS k
      ON k.constraint_schema = pk.constraint_schema AND k.constraint_name = pk.constraint_name
     AND k.table_name = c.table_name AND k.column_name = c.column_name
    WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
    ORDER BY c.table_name, c.ordinal_position";

/// The application tables and columns the database has now.
fn introspect(conn: &mut DbConnection) -> Result<FoundSchema, StoreError> {
    let rows = match conn {
        DbConnection::Sqlite(sqlite) => diesel::sql_query(SQLITE_COLUMNS).load::<ColumnRow>(sqlite),
        DbConnection::Postgres(pg) => diesel::sql_query(POSTGRES_COLUMNS).load::<ColumnRow>(pg),
    }?;
    let mut schema = FoundSchema::new();
    let mut keys: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for row in rows {
        if row.table_name == MIGRATIONS_TABLE || row.table_name.starts_with("sqlite_") {
            continue;
        }
        if row.key_position > 0 {
            keys.entry(row.table_name.clone())
                .or_default()
                .push((row.key_position, row.column_name.clone()));
        }
        schema
            .entry(row.table_name)
            .or_default()
            .columns
            .push(FoundColumn {
                name: row.column_name,
                data_type: row.data_type,
                // SQLite lets a key column other than an INTEGER PRIMARY KEY
                // hold NULL unless it says NOT NULL; diesel, as PostgreSQL,
                // takes key columns as never null.
                nullable: row.not_null == 0 && row.key_position == 0,
            });
    }
    for (table, mut key) in keys {
        key.sort();
        if let Some(found) = schema.get_mut(&table) {
            found.primary_key = key.into_iter().map(|(_, column)| column).collect();
        }
    }
    Ok(schema)
}

async fn introspected(store: &Store) -> FoundSchema {
    store
        .run(introspect)
        .await
        .expect("read the tables and columns of the database")
}

// ---------------------------------------------------------------------------
// Comparing the two

/// The types a column of this diesel SQL type can have in the database:
/// SQLite's declared types (any integer type is 64-bit there), PostgreSQL's
/// `information_schema` names (of the exact width diesel reads: a `BigInt`
/// over an `integer` column fails when read). `None` for a type this check
/// does not know yet.
fn accepted_types(backend: Backend, sql_type: &str) -> Option<&'static [&'static str]> {
    const SQLITE_INTEGERS: &[&str] = &["INTEGER", "BIGINT", "INT", "INT8", "INT4", "SMALLINT"];
    const SQLITE_TEXTS: &[&str] = &["TEXT", "VARCHAR", "CHAR", "CHARACTER VARYING", "CLOB"];
    const POSTGRES_TEXTS: &[&str] = &["text", "character varying", "character"];
    let accepted: &'static [&'static str] = match (backend, sql_type) {
        (Backend::Sqlite, "BigInt" | "Integer" | "SmallInt") => SQLITE_INTEGERS,
        (Backend::Sqlite, "Text" | "VarChar") => SQLITE_TEXTS,
        (Backend::Sqlite, "Bool") => &["BOOLEAN", "BOOL", "INTEGER"],
        (Backend::Sqlite, "Timestamp") => &["TIMESTAMP", "DATETIME"],
        (Backend::Sqlite, "Double") => &["DOUBLE", "DOUBLE PRECISION", "REAL", "FLOAT"],
        (Backend::Sqlite, "Float") => &["REAL", "FLOAT"],
        (Backend::Sqlite, "Binary") => &["BLOB"],
        (Backend::Sqlite, "Date") => &["DATE"],
        (Backend::Postgres, "BigInt") => &["bigint"],
        (Backend::Postgres, "Integer") => &["integer"],
        (Backend::Postgres, "SmallInt") => &["smallint"],
        (Backend::Postgres, "Text" | "VarChar") => POSTGRES_TEXTS,
        (Backend::Postgres, "Bool") => &["boolean"],
        (Backend::Postgres, "Timestamp") => &["timestamp without time zone"],
        (Backend::Postgres, "Timestamptz") => &["timestamp with time zone"],
        (Backend::Postgres, "Double") => &["double precision"],
        (Backend::Postgres, "Float") => &["real"],
        (Backend::Postgres, "Binary") => &["bytea"],
        (Backend::Postgres, "Date") => &["date"],
        _ => return None,
    };
    Some(accepted)
}

/// `VARCHAR(255)` as `VARCHAR`, in SQLite's case-insensitive spelling.
fn type_name(backend: Backend, data_type: &str) -> String {
    let base = data_type.split('(').next().unwrap_or_default();
    let words = base.split_whitespace().collect::<Vec<_>>().join(" ");
    match backend {
        Backend::Sqlite => words.to_ascii_uppercase(),
        Backend::Postgres => words,
    }
}

fn key_list(columns: &[String]) -> String {
    format!("({})", columns.join(", "))
}

/// Every difference between schema.rs and the database, one line each.
fn drift(
    backend: Backend,
    declared: &BTreeMap<String, DeclaredTable>,
    found: &FoundSchema,
) -> Vec<String> {
    let mut differences = Vec::new();
    for name in declared.keys().filter(|name| !found.contains_key(*name)) {
        differences.push(format!(
            "table `{name}`: declared in schema.rs, not created by the migrations"
        ));
    }
    for (name, table) in found
        .iter()
        .filter(|(name, _)| !declared.contains_key(*name))
    {
        let columns: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        differences.push(format!(
            "table `{name}`: created by the migrations (columns {}), missing from schema.rs",
            columns.join(", ")
        ));
    }
    for (name, expected) in declared {
        let Some(actual) = found.get(name) else {
            continue;
        };
        let in_database: BTreeMap<&str, &FoundColumn> = actual
            .columns
            .iter()
            .map(|column| (column.name.as_str(), column))
            .collect();
        let in_schema_rs: BTreeSet<&str> =
            expected.columns.iter().map(|c| c.name.as_str()).collect();
        for column in &expected.columns {
            let place = format!("`{name}`.`{}`", column.name);
            let Some(found_column) = in_database.get(column.name.as_str()) else {
                differences.push(format!(
                    "{place}: declared in schema.rs as {}, missing from the database",
                    column.spelled()
                ));
                continue;
            };
            match accepted_types(backend, &column.sql_type) {
                None => differences.push(format!(
                    "{place}: schema.rs type {} is unknown to this check (add it to \
                     accepted_types), the database has {}",
                    column.sql_type, found_column.data_type
                )),
                Some(accepted)
                    if !accepted
                        .contains(&type_name(backend, &found_column.data_type).as_str()) =>
                {
                    differences.push(format!(
                        "{place}: type: schema.rs says {}, so expected {}; found {}",
                        column.spelled(),
                        accepted.join(" or "),
                        found_column.data_type
                    ))
                }
                Some(_) => {}
            }
            if column.nullable != found_column.nullable {
                let nullability = |nullable| if nullable { "NULL allowed" } else { "NOT NULL" };
                differences.push(format!(
                    "{place}: nullability: schema.rs says {} ({}), found {}",
                    nullability(column.nullable),
                    column.spelled(),
                    nullability(found_column.nullable)
                ));
            }
        }
        for column in actual
            .columns
            .iter()
            .filter(|column| !in_schema_rs.contains(column.name.as_str()))
        {
            differences.push(format!(
                "`{name}`.`{}`: in the database ({}{}), missing from schema.rs",
                column.name,
                column.data_type,
                if column.nullable { "" } else { " NOT NULL" }
            ));
        }
        if expected.primary_key != actual.primary_key {
            differences.push(format!(
                "`{name}`: primary key: schema.rs says {}, found {}",
                key_list(&expected.primary_key),
                key_list(&actual.primary_key)
            ));
        }
    }
    differences
}

fn migrations_folder(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    }
}

/// The versions of the migrations of a backend, oldest first, as diesel
/// names them: `2026-11-23-000001_create_core` is `20261123000001`.
fn migration_versions(backend: Backend) -> Vec<String> {
    let folder = format!(
        "{}/{}",
        env!("CARGO_MANIFEST_DIR"),
        migrations_folder(backend)
    );
    let entries =
        std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("cannot list {folder}: {e}"));
    let mut versions: Vec<String> = entries
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.join("up.sql").is_file())
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            name.split('_').next().unwrap_or_default().replace('-', "")
        })
        .collect();
    versions.sort();
    assert!(!versions.is_empty(), "no migrations in {folder}");
    versions
}

/// A store over `database`, not migrated yet.
async fn unmigrated_store(database: &TestDatabase) -> Store {
    let target = DbTarget::parse(&database.url()).expect("a database URL");
    let options = mailroom::startup::pool_options(&Settings::default());
    tokio::task::spawn_blocking(move || Store::connect(target, &options))
        .await
        .expect("the connecting task")
        .expect("connect to the test database")
}

// ---------------------------------------------------------------------------
// The tests

/// The tables, columns, types, nullability and primary keys the migrations
/// create are the ones schema.rs declares, so that no query diesel builds
/// from schema.rs meets a column that is missing or of another type.
async fn schema_rs_matches_the_migrated_database(backend: Backend) {
    let database = TestDatabase::create(backend);
    // As the service starts: open the pool and run the pending migrations.
    let settings = Settings {
        database_url: database.url(),
        pool_size: 2,
        ..Settings::default()
    };
    let store = mailroom::startup::open_store(&settings)
        .await
        .expect("the store opens and migrates");

    let declared = declared_schema();
    let found = introspected(&store).await;
    let differences = drift(backend, &declared, &found);
    assert!(
        differences.is_empty(),
        "src/store/schema.rs does not match what {} creates ({} difference{}):\n  - {}\n\
         Change whichever side is wrong: schema.rs and every backend's migrations must agree.",
        migrations_folder(backend),
        differences.len(),
        if differences.len() == 1 { "" } else { "s" },
        differences.join("\n  - ")
    );
}

/// Every migration's down.sql undoes its up.sql: reverting all leaves no
/// application table, and running them again gives the same schema.
async fn migrations_revert_and_run_again(backend: Backend) {
    let database = TestDatabase::create(backend);
    let store = unmigrated_store(&database).await;
    let versions = migration_versions(backend);
    let folder = migrations_folder(backend);

    let applied = store
        .migrate()
        .await
        .expect("the first run of the migrations");
    assert_eq!(
        applied, versions,
        "the first run applies every migration of {folder}, oldest first"
    );
    let first = introspected(&store).await;
    assert!(
        !first.is_empty(),
        "the migrations of {folder} create no table"
    );

    let reverted = store
        .run(|conn| Ok(migrations::revert_all(conn)?))
        .await
        .unwrap_or_else(|e| panic!("reverting the migrations of {folder} failed: {e:#?}"));
    let newest_first: Vec<String> = versions.iter().rev().cloned().collect();
    assert_eq!(
        reverted, newest_first,
        "every migration of {folder} is reverted, newest first"
    );
    let left = introspected(&store).await;
    assert!(
        left.is_empty(),
        "after reverting every migration of {folder} these tables remain (a down.sql \
         misses them): {:?}",
        left.keys().collect::<Vec<_>>()
    );

    let applied = store
        .migrate()
        .await
        .expect("the migrations run again after being reverted");
    assert_eq!(
        applied, versions,
        "the second run applies every migration of {folder} again"
    );
    let second = introspected(&store).await;
    let mut differences = Vec::new();
    for name in first.keys().chain(second.keys()).collect::<BTreeSet<_>>() {
        match (first.get(name), second.get(name)) {
            (Some(before), Some(after)) if before == after => {}
            (before, after) => differences.push(format!(
                "`{name}`:\n      first run:  {before:?}\n      second run: {after:?}"
            )),
        }
    }
    assert!(
        differences.is_empty(),
        "running the migrations of {folder} after reverting them gives another schema \
         (a down.sql leaves something behind, or undoes too much):\n  - {}",
        differences.join("\n  - ")
    );
}
