//! The `mailroom` binary as an operator uses it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BINARY: &str = env!("CARGO_BIN_EXE_mailroom");

fn mailroom(dir: &tempfile::TempDir) -> Command {
    let mut command = Command::new(BINARY);
    command.current_dir(dir.path()).env_remove("RUST_LOG").env(
        "MAILROOM_DATABASE_URL",
        format!("sqlite://{}/cli.db", dir.path().display()),
    );
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_commands() {
    let (ok, stdout, _) = run(Command::new(BINARY).arg("--help"));
    assert!(ok);
    for command in [
        "serve",
        "migrate",
        "app-keys",
        "operators",
        "openapi",
        "result-codes",
    ] {
        assert!(stdout.contains(command), "{command} in {stdout}");
    }
    let (ok, stdout, _) = run(Command::new(BINARY).args(["app-keys", "--help"]));
    assert!(ok);
    for command in ["create", "list", "revoke"] {
        assert!(stdout.contains(command), "{command} in {stdout}");
    }
}

fn header_value<'a>(text: &'a str, header: &str) -> &'a str {
    text.lines()
        .find_map(|line| line.trim().strip_prefix(&format!("{header}: ")))
        .unwrap_or_else(|| panic!("no {header} in {text}"))
}

#[test]
fn app_keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = run(mailroom(&dir).arg("migrate"));
    assert!(ok, "{stderr}");
    let (ok, stdout, stderr) =
        run(mailroom(&dir).args(["app-keys", "create", "--name", "distributor-a"]));
    assert!(ok, "{stderr}");
    let app_id = header_value(&stdout, "X-CloudPlatform-ApplicationId").to_owned();
    let key = header_value(&stdout, "X-CloudPlatform-APIKey").to_owned();
    assert_eq!(key.len(), 44, "base64 of 32 bytes");

    let (ok, stdout, _) = run(mailroom(&dir).args(["app-keys", "list"]));
    assert!(ok);
    assert!(
        stdout.contains(&app_id) && stdout.contains("distributor-a") && stdout.contains("active")
    );
    assert!(!stdout.contains(&key), "keys are never listed");

    let (ok, _, stderr) =
        run(mailroom(&dir).args(["app-keys", "create", "--name", "distributor-a"]));
    assert!(!ok);
    assert!(
        stderr.contains("an application named `distributor-a` already exists"),
        "{stderr}"
    );

    let (ok, stdout, _) = run(mailroom(&dir).args(["app-keys", "revoke", "distributor-a"]));
    assert!(ok);
    assert!(stdout.contains("is revoked"));
    let (_, stdout, _) = run(mailroom(&dir).args(["app-keys", "list"]));
    assert!(stdout.contains("revoked"));
    let (ok, _, stderr) = run(mailroom(&dir).args(["app-keys", "revoke", "nobody"]));
    assert!(!ok && stderr.contains("no application"), "{stderr}");
}

/// What a child process wrote on one of its streams, line by line, as it
/// arrives; a waiter is woken on each line and at the end of the stream.
struct Collected {
    state: Mutex<Stream>,
    changed: Condvar,
}

#[derive(Default)]
struct Stream {
    text: String,
    ended: bool,
}

impl Collected {
    /// Collects `stream` on a thread of its own until it ends.
    fn start(stream: impl std::io::Read + Send + 'static) -> Arc<Self> {
        let collected = Arc::new(Self {
            state: Mutex::new(Stream::default()),
            changed: Condvar::new(),
        });
        let sink = Arc::clone(&collected);
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let mut state = sink.state.lock().unwrap();
                state.text.push_str(&line);
                state.text.push('\n');
                sink.changed.notify_all();
            }
            sink.state.lock().unwrap().ended = true;
            sink.changed.notify_all();
        });
        collected
    }

    /// Waits until `found` finds something in the text so far, up to
    /// `timeout`; fails when the stream ends (the process exited) first.
    fn wait_for<T>(&self, what: &str, timeout: Duration, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(value) = found(&state.text) {
                return value;
            }
            assert!(
                !state.ended,
                "the stream ended without {what}:\n{}",
                state.text
            );
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {timeout:?} in:\n{}",
                state.text
            );
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits until the stream has ended, up to `deadline`; whether it did.
    fn wait_for_end(&self, deadline: Instant) -> bool {
        let mut state = self.state.lock().unwrap();
        while !state.ended {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self.changed.wait_timeout(state, left).unwrap().0;
        }
        true
    }

    fn text(&self) -> String {
        self.state.lock().unwrap().text.clone()
    }
}

/// A running `mailroom serve` whose output is collected.
struct Served {
    child: Child,
    stdout: Arc<Collected>,
    stderr: Arc<Collected>,
}

const START_TIMEOUT: Duration = Duration::from_secs(20);

impl Served {
    fn start(dir: &tempfile::TempDir) -> Self {
        let mut child = mailroom(dir)
            .env("MAILROOM_LISTEN", "127.0.0.1:0")
            .env("MAILROOM_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Collected::start(child.stdout.take().unwrap());
        let stderr = Collected::start(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The port of the "mailroom listening" log line.
    fn wait_for_port(&self) -> u16 {
        self.stderr
            .wait_for("\"mailroom listening\" log line", START_TIMEOUT, |text| {
                text.lines().find_map(|line| {
                    let entry: Value = serde_json::from_str(line).ok()?;
                    (entry["fields"]["message"] == "mailroom listening")
                        .then(|| entry["fields"]["port"].as_u64())?
                })
            })
            .try_into()
            .unwrap()
    }

    /// The first application's id and key, printed on standard output on a
    /// first start. `serve` prints them after the server is bound (after
    /// the listening line), so they are waited for on their own stream.
    fn wait_for_credentials(&self) -> (String, String) {
        self.stdout
            .wait_for("first-start credentials", START_TIMEOUT, |text| {
                let value = |header: &str| {
                    text.lines()
                        .find_map(|line| line.trim().strip_prefix(&format!("{header}: ")))
                        .map(str::to_owned)
                };
                Some((
                    value("X-CloudPlatform-ApplicationId")?,
                    value("X-CloudPlatform-APIKey")?,
                ))
            })
    }

    /// Stops the process with SIGTERM and returns everything it wrote on
    /// standard output and standard error.
    fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        // Both streams end when the process exits.
        let deadline = Instant::now() + Duration::from_secs(10);
        if !(self.stdout.wait_for_end(deadline) && self.stderr.wait_for_end(deadline)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "mailroom did not stop on SIGTERM; it wrote:\n{}",
                self.stderr.text()
            );
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "mailroom exited with {status} on SIGTERM");
        (self.stdout.text(), self.stderr.text())
    }
}

#[test]
fn first_start_prints_a_working_key_that_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir);
    let port = served.wait_for_port();
    let (app_id, key) = served.wait_for_credentials();

    let client = reqwest::Client::new();
    let call = |key: &str| {
        client
            .post(format!("http://127.0.0.1:{port}/api/Accounts/Exists"))
            .header("X-CloudPlatform-ApplicationId", &app_id)
            .header("X-CloudPlatform-APIKey", key)
            .header("X-CloudPlatform-TrackId", "cli-track-7")
            .json(&json!({"SyncOptions": {"domain": "cli.example"}}))
            .send()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let accepted = runtime.block_on(call(&key)).unwrap();
    assert_eq!(accepted.status(), 200);
    let wrong_key = "V3JvbmdLZXlXcm9uZ0tleVdyb25nS2V5V3JvbmdLZXk=";
    let refused = runtime.block_on(call(wrong_key)).unwrap();
    assert_eq!(refused.status(), 401);

    let (stdout_after, stderr) = served.stop();
    assert_eq!(
        stdout_after.matches(&key).count(),
        1,
        "the key is printed once"
    );
    assert!(!stderr.contains(&key), "the key is never logged");
    assert!(!stderr.contains(wrong_key), "a refused key is never logged");
    let lines: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON log lines"))
        .collect();
    let refusal = lines
        .iter()
        .find(|l| l["fields"]["message"] == "contract call refused")
        .expect("the refusal is logged");
    assert_eq!(refusal["span"]["track_id"], "cli-track-7");
    assert_eq!(refusal["fields"]["application_id"], app_id.as_str());
    let audited = lines
        .iter()
        .find(|l| l["fields"]["message"] == "contract call" && l["fields"]["code"] == 0)
        .expect("the call is logged");
    assert_eq!(audited["span"]["track_id"], "cli-track-7");
    assert_eq!(audited["span"]["tenant"], "default");
}

/// Runs `mailroom operators create` with `password` on standard input.
fn create_operator(
    dir: &tempfile::TempDir,
    email: &str,
    role: &str,
    password: &str,
) -> (bool, String, String) {
    use std::io::Write;
    let mut child = mailroom(dir)
        .args(["operators", "create", "--email", email, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn operators_are_created_from_the_command_line_and_can_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let password = "Harbour lights 7";
    let (ok, stdout, stderr) = create_operator(&dir, "Ops@Example.com", "Super Admin", password);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("ops@example.com") && stdout.contains("Super Admin"),
        "{stdout}"
    );

    let (ok, _, stderr) = create_operator(&dir, "ops@example.com", "admin", password);
    assert!(!ok && stderr.contains("exists already"), "{stderr}");
    let (ok, _, stderr) = create_operator(&dir, "weak@example.com", "admin", "short");
    assert!(!ok && stderr.contains("at least 10 characters"), "{stderr}");
    let (ok, _, stderr) = create_operator(&dir, "role@example.com", "owner", password);
    assert!(!ok && stderr.contains("unknown role"), "{stderr}");

    let served = Served::start(&dir);
    let port = served.wait_for_port();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let signed_in = runtime
        .block_on(
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/operator/api/sessions"))
                .json(&json!({"email": "OPS@example.com", "password": password}))
                .send(),
        )
        .unwrap();
    assert_eq!(signed_in.status(), 201);
    let body: Value = runtime.block_on(signed_in.json()).unwrap();
    assert_eq!(body["operator"]["role"], "super_admin");
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, stderr) = served.stop();
    assert!(!stderr.contains(password), "the password is never logged");
    assert!(
        !stderr.contains(&token),
        "the session token is never logged"
    );
}
