//! The `mailroom` binary as an operator uses it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// A running `mailroom serve` whose output is collected.
struct Served {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

impl Served {
    fn start(dir: &tempfile::TempDir) -> Self {
        let mut child = mailroom(dir)
            .env("MAILROOM_LISTEN", "127.0.0.1:0")
            .env("MAILROOM_LOG_FORMAT", "json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
        }
    }

    fn wait_for_port(&self) -> u16 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let port = self.stderr.lock().unwrap().lines().find_map(|line| {
                let entry: Value = serde_json::from_str(line).ok()?;
                (entry["fields"]["message"] == "mailroom listening")
                    .then(|| entry["fields"]["port"].as_u64())?
            });
            if let Some(port) = port {
                return u16::try_from(port).unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "no listening line in {}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("mailroom did not stop on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(100));
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (stdout, stderr)
    }
}

#[test]
fn first_start_prints_a_working_key_that_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let served = Served::start(&dir);
    let port = served.wait_for_port();
    let stdout = served.stdout.lock().unwrap().clone();
    let app_id = header_value(&stdout, "X-CloudPlatform-ApplicationId").to_owned();
    let key = header_value(&stdout, "X-CloudPlatform-APIKey").to_owned();

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
