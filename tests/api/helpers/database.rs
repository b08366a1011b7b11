//! The databases tests run on: the two backends, the PostgreSQL server to
//! create databases on, and a fresh database that is dropped with the test.

use std::sync::OnceLock;

use diesel::{Connection, PgConnection, RunQueryDsl};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("MAILROOM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Whether PostgreSQL tests can run. Without a server they are skipped
/// with a note, except in CI (`CI` set) where that is a failure.
pub fn backend_available(backend: Backend) -> bool {
    static POSTGRES: OnceLock<bool> = OnceLock::new();
    if backend == Backend::Sqlite {
        return true;
    }
    *POSTGRES.get_or_init(|| match PgConnection::establish(&postgres_admin_url()) {
        Ok(_) => true,
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!(
                "PostgreSQL at {} is required in CI: {error}",
                postgres_admin_url()
            )
        }
        Err(error) => {
            eprintln!(
                "note: PostgreSQL tests skipped, no server at {}: {error}",
                postgres_admin_url()
            );
            false
        }
    })
}

/// A database that lives as long as the test.
pub enum TestDatabase {
    Sqlite(tempfile::TempDir),
    Postgres { name: String, url: String },
}

impl TestDatabase {
    pub fn create(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::Sqlite(tempfile::tempdir().expect("a temporary folder")),
            Backend::Postgres => {
                let name = format!("mailroom_test_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = PgConnection::establish(&admin).expect("connect to PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
                let base = admin.split('?').next().unwrap_or(&admin);
                let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
                Self::Postgres {
                    url: format!("{server}/{name}"),
                    name,
                }
            }
        }
    }

    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(dir) => format!("sqlite://{}/mailroom.db", dir.path().display()),
            Self::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Self::Postgres { name, .. } = self {
            if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}
