//! The test harness: a real Mailroom server on a free port, over a fresh
//! SQLite file or a fresh PostgreSQL database, called over real HTTP. The
//! helpers live in the submodules and are re-exported here, with the
//! `both_backends!` macro that runs a test on each backend, and the one
//! policy for a test whose outside dependency is missing
//! ([`skip_or_fail`]).

mod app;
mod console;
mod contract;
mod database;
pub mod fake_connectwise;
mod operator;

pub use app::{
    spawn_app, spawn_app_with, spawn_app_with_clock, spawn_instance_of, Credentials, TestApp,
};
pub use console::{console_login, form_csrf, hidden_value, set_cookie, ConsoleClient};
pub use contract::{account, Answer};
pub use database::{backend_available, postgres_admin_url, Backend, TestDatabase};
pub use operator::OPERATOR_PASSWORD;

/// Whether the environment variable `name` is on: set, and neither empty,
/// `0` nor `false` (in any case).
pub fn env_flag(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| {
        let value = value.to_string_lossy();
        let value = value.trim();
        !(value.is_empty() || value == "0" || value.eq_ignore_ascii_case("false"))
    })
}

/// Whether the tests run in CI (`CI` on, see [`env_flag`]): there nothing
/// may be skipped and no snapshot rewritten.
pub fn in_ci() -> bool {
    env_flag("CI")
}

/// Writes `line` straight to the process's standard error. libtest
/// captures only the `print!`/`eprint!` family, so this line is shown even
/// for a test that passes.
pub fn say_loudly(line: &str) {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "{line}");
    let _ = stderr.flush();
}

/// The one policy for a test that cannot run because something outside
/// the crate is missing (a PostgreSQL server, chromedriver, Chromium):
/// `what` names the kind of test ("PostgreSQL", "browser"), `why` says
/// what is missing. Under CI (see [`in_ci`]) the test fails with that
/// reason. Elsewhere it returns (the caller then ends the test, which
/// passes) after one `SKIPPED:` line on standard error, past libtest's
/// capture, naming the test.
#[track_caller]
pub fn skip_or_fail(what: &str, why: &str) {
    let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
    let thread = std::thread::current();
    // libtest names a test's thread after the test (unless it runs the
    // tests one at a time on the main thread).
    let test = match thread.name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "a test".to_owned(),
    };
    if in_ci() {
        panic!(
            "{test} ({what} test) cannot run: {why} [with CI set, a missing dependency fails \
             the test instead of skipping it]"
        );
    }
    say_loudly(&format!(
        "SKIPPED: {test} ({what} test): {why} [passes without running; CI=true makes it fail]"
    ));
}

/// Runs each listed `async fn name(backend: Backend)` once per backend. On
/// PostgreSQL, a missing server is a loud skip, or a failure under CI
/// (see [`skip_or_fail`]).
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
