//! The test harness: a real Mailroom server on a free port, over a fresh
//! SQLite file or a fresh PostgreSQL database, called over real HTTP. The
//! helpers live in the submodules and are re-exported here, with the
//! `both_backends!` macro that runs a test on each backend.

mod app;
mod console;
mod contract;
mod database;
mod operator;

pub use app::{spawn_app, spawn_app_with, spawn_instance_of, Credentials, TestApp};
pub use console::{console_login, form_csrf, set_cookie, ConsoleClient};
pub use contract::{account, Answer};
pub use database::{backend_available, postgres_admin_url, Backend, TestDatabase};
pub use operator::OPERATOR_PASSWORD;

/// Runs each listed `async fn name(backend: Backend)` once per backend.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::helpers::backend_available($crate::helpers::Backend::Postgres) {
                        super::$name($crate::helpers::Backend::Postgres).await;
                    }
                }
            )+
        }
    };
}
