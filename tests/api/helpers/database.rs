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

/// Whether a test can run on `backend`. SQLite always can; PostgreSQL when
/// the server of [`postgres_admin_url`] accepts a connection (tried once per
/// process). When it does not, this goes through
/// [`skip_or_fail`](super::skip_or_fail): a `SKIPPED:` line naming the test
/// and `false`, or under CI a panic with the reason.
#[track_caller]
pub fn backend_available(backend: Backend) -> bool {
    static POSTGRES: OnceLock<Result<(), String>> = OnceLock::new();
    if backend == Backend::Sqlite {
        return true;
    }
    let reachable = POSTGRES.get_or_init(|| {
        let url = postgres_admin_url();
        PgConnection::establish(&url).map(drop).map_err(|error| {
            format!(
                "no PostgreSQL server at {}: {error}",
                without_password(&url)
            )
        })
    });
    match reachable {
        Ok(()) => true,
        Err(why) => {
            super::skip_or_fail("PostgreSQL", why);
            false
        }
    }
}

/// `url` as it may be printed: without its password, if it has one.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
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

    /// Where an app on this database keeps its integrations key: beside
    /// the SQLite file (the default), or a file of this database's own.
    pub fn integrations_key_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Self::Sqlite(_) => None,
            Self::Postgres { name, .. } => {
                Some(std::env::temp_dir().join(format!("{name}.integrations.key")))
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
        if let Some(key_file) = self.integrations_key_file() {
            let _ = std::fs::remove_file(key_file);
        }
        if let Self::Postgres { name, .. } = self {
            if let Ok(mut conn) = PgConnection::establish(&postgres_admin_url()) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}
