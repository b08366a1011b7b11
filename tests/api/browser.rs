//! The console in a real headless Chromium, driven over WebDriver
//! (Debian's chromium and chromium-driver; `.ci/run` installs them). Without
//! chromedriver or Chromium these tests say so on standard error
//! (`SKIPPED: …`) and pass, except in CI where they fail
//! (`helpers::skip_or_fail`). Each test leaves screenshots of the pages it
//! visits under `target/tmp/screenshots/`, to look at the layout by eye.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, LazyLock};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mailroom::domain::operator::Role;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::helpers::{account, skip_or_fail, spawn_app, Backend, TestApp, OPERATOR_PASSWORD};

/// Two cores: one browser at a time keeps the tests from timing each other out.
static ONE_BROWSER: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(1));

const WAIT: Duration = Duration::from_secs(10);

/// How many times chromedriver is started before its failure to listen is
/// the test's failure.
const DRIVER_ATTEMPTS: usize = 3;

/// The chromedriver and Chromium to use, when both are there; otherwise
/// the test is skipped (or, under CI, fails) through `skip_or_fail`.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let from = |variable: &str, default: &str| {
        std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from)
    };
    let driver = from("MAILROOM_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = from("MAILROOM_CHROMIUM", "/usr/bin/chromium");
    for (path, what, variable) in [
        (&driver, "chromedriver", "MAILROOM_CHROMEDRIVER"),
        (&chromium, "Chromium", "MAILROOM_CHROMIUM"),
    ] {
        if !path.exists() {
            skip_or_fail(
                "browser",
                &format!(
                    "no {what} at {} (apt-get install chromium chromium-driver, or set {variable})",
                    path.display()
                ),
            );
            return None;
        }
    }
    Some((driver, chromium))
}

/// The port in chromedriver's "ChromeDriver was started successfully on
/// port N." line.
fn announced_port(line: &str) -> Option<u16> {
    let (_, rest) = line.split_once("started successfully on port ")?;
    rest.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// Starts chromedriver on a port the kernel picks (`--port=0`), so no
/// other process can take it between choosing and binding, and reads the
/// port from the line it prints once it listens. A chromedriver that exits
/// before that line is started again, up to `DRIVER_ATTEMPTS` times.
fn start_chromedriver(path: &Path) -> (Child, u16) {
    let mut failures = Vec::new();
    for _ in 0..DRIVER_ATTEMPTS {
        let mut driver = Command::new(path)
            .arg("--port=0")
            // Its own process group, with the Chromium it starts (see Drop).
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromedriver starts");
        // Both streams are read until they end, so chromedriver never
        // blocks on a full pipe; the channel closes when it exits.
        let (lines, received) = mpsc::channel();
        let stdout = driver.stdout.take().unwrap();
        let stderr = driver.stderr.take().unwrap();
        for stream in [
            Box::new(stdout) as Box<dyn std::io::Read + Send>,
            Box::new(stderr),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        drop(lines);
        let deadline = Instant::now() + WAIT;
        let mut output = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match received.recv_timeout(left) {
                Ok(line) => match announced_port(&line) {
                    Some(0) => {
                        let _ = driver.kill();
                        let _ = driver.wait();
                        panic!("this chromedriver cannot pick its own port (--port=0): {line}");
                    }
                    Some(port) => return (driver, port),
                    None => output.push(line),
                },
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    panic!(
                        "chromedriver did not say it listens within {WAIT:?}:\n{}",
                        output.join("\n")
                    );
                }
            }
        }
        let status = driver.wait().expect("chromedriver's exit status");
        failures.push(format!("exited with {status}:\n{}", output.join("\n")));
    }
    panic!(
        "chromedriver never listened in {DRIVER_ATTEMPTS} attempts:\n{}",
        failures.join("\n")
    );
}

/// A chromedriver process and a headless Chromium session on it.
/// Dropping it stops both, also when a failed test left the session open.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    test: &'static str,
}

impl Browser {
    async fn start(test: &'static str) -> Option<Self> {
        let (driver_path, chromium) = browser_binaries()?;
        // Two TLS backends end up linked in the test binary: pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (driver, port) = start_chromedriver(&driver_path);
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1400,1000"]
            }),
        );
        // The page's console, read back by `assert_no_console_errors`.
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let client = ClientBuilder::rustls()
            .expect("a TLS setup")
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Some(Self {
            client,
            driver,
            shots,
            test,
        })
    }

    /// Saves a screenshot of the current page and prints where.
    async fn screenshot(&self, page: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{}-{page}.png", self.test));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.expect("navigate");
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits until the text of `css` satisfies `done`.
    async fn wait_for_text(&self, css: &str, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if done(&text) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never showed {what}; it shows {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the current page's URL satisfies `done` (a form that
    /// navigated has replaced the page it was sent from).
    async fn wait_for_url(&self, what: &str, done: impl Fn(&url::Url) -> bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let current = self.client.current_url().await.expect("the current URL");
            if done(&current) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser never reached {what}; it is at {current}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn sign_in(&self, app: &TestApp, role: Role) -> String {
        let email = app.create_operator(role).await;
        self.goto(app, "/console/").await;
        self.fill("#email", &email).await;
        self.fill("#password", OPERATOR_PASSWORD).await;
        self.find("form[action='/console/login'] button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
        self.find("form.who").await;
        email
    }

    /// Fails on an error in the browser's console since the last call (a
    /// script error, a CSP violation, a resource that did not load).
    async fn assert_no_console_errors(&self, page: &str) {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .expect("the browser's console log");
        let errors: Vec<&serde_json::Value> = entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter(|e| e["level"] == "SEVERE")
                    // Chromium asks every site for one; Mailroom has none.
                    .filter(|e| !e["message"].as_str().unwrap_or("").contains("/favicon.ico"))
                    .collect()
            })
            .unwrap_or_default();
        assert!(errors.is_empty(), "console errors on {page}: {errors:?}");
    }

    /// Closes the session (and its Chromium); chromedriver stops on drop.
    async fn finish(self) {
        let _ = self.client.clone().close().await;
    }
}

/// chromedriver's log endpoint (not W3C WebDriver, so not in fantoccini):
/// the console entries since the last read.
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (
            reqwest::Method::POST,
            Some(r#"{"type":"browser"}"#.to_owned()),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver leads a process group holding the Chromium it
        // started: end the group, or a failed test leaves Chromium running.
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn operator_edits_a_template_with_live_preview() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("template-editor").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    browser.goto(&app, "/").await;
    browser.screenshot("landing").await;
    browser.sign_in(&app, Role::Admin).await;
    browser.goto(&app, "/console/templates").await;
    browser.screenshot("templates").await;
    browser
        .find("#templates a[href='/console/templates/access_instructions']")
        .await
        .click()
        .await
        .unwrap();
    // The preview shows the saved template with sample values at once.
    browser
        .wait_for_text("#preview-subject", "the rendered subject", |t| {
            !t.is_empty() && !t.contains("[#")
        })
        .await;
    browser.screenshot("editor").await;

    // Typing changes the preview.
    browser.fill("#subject", "Welcome aboard ").await;
    browser
        .find("#fields button[data-field='Account.Name']")
        .await;
    browser
        .wait_for_text("#preview-subject", "the typed subject", |t| {
            t == "Welcome aboard"
        })
        .await;
    // A merge field inserted with its button renders with the sample value.
    browser.find("#subject").await.click().await.unwrap();
    browser
        .find("#fields button[data-field='Account.Name']")
        .await
        .click()
        .await
        .unwrap();
    let subject_value = browser.find("#subject").await.prop("value").await.unwrap();
    assert_eq!(
        subject_value.as_deref(),
        Some("Welcome aboard [#Account.Name#]")
    );
    let preview = browser
        .wait_for_text("#preview-subject", "the sample name", |t| {
            t.starts_with("Welcome aboard ") && t.len() > "Welcome aboard ".len()
        })
        .await;
    assert!(!preview.contains("[#"), "{preview}");

    // An unknown field is shown next to the text body while typing.
    let text_body = browser.find("#text_body").await;
    text_body.send_keys(" [#Nope#]").await.unwrap();
    browser
        .wait_for_text("#text_body-problems", "the unknown field", |t| {
            t.contains("Nope")
        })
        .await;
    browser.screenshot("editor-problem").await;
    text_body.clear().await.unwrap();
    text_body
        .send_keys("Hello [#Contacts.FullName#], your mailbox is ready.")
        .await
        .unwrap();
    browser
        .wait_for_text("#text_body-problems", "no problems", str::is_empty)
        .await;

    browser.find("#save").await.click().await.unwrap();
    let notice = browser.text("#notice").await;
    assert!(notice.contains("Saved as a new revision"), "{notice}");
    assert!(browser.text("h1").await.contains("revision 2"));

    // Restore revision 1 from the revisions page (confirming the dialog).
    browser.find("#revisions-link").await.click().await.unwrap();
    browser
        .find("#revisions tr[data-revision='2'] details summary")
        .await
        .click()
        .await
        .unwrap();
    browser.screenshot("revisions").await;
    browser
        .find("button[data-restore='1']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .client
        .accept_alert()
        .await
        .expect("a confirmation dialog");
    let notice = browser.text("#notice").await;
    assert!(notice.contains("restored"), "{notice}");
    assert!(browser.text("h1").await.contains("revision 3"));
    let subject = browser
        .find("#subject")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(!subject.starts_with("Welcome aboard"), "{subject}");
    browser.finish().await;
}

async fn mail_admin_reads_but_is_refused_an_edit() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("mail-admin").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    app.synchronize(&account("b1", "mailadmin.example")).await;
    browser.sign_in(&app, Role::MailAdmin).await;
    browser
        .goto(&app, "/console/templates/access_instructions")
        .await;
    browser.find("#read-only").await;
    assert!(
        browser.client.find(Locator::Css("#save")).await.is_err(),
        "no save button"
    );
    // The fields are read-only: typing changes nothing.
    let subject = browser.find("#subject").await;
    let before = subject.prop("value").await.unwrap();
    let _ = subject.send_keys("changed").await;
    assert_eq!(subject.prop("value").await.unwrap(), before);
    // The nav has no keys or integrations, and the keys page refuses.
    let nav = browser.text("header nav").await;
    assert!(
        !nav.contains("Application keys") && !nav.contains("Integrations"),
        "{nav}"
    );
    browser.goto(&app, "/console/keys").await;
    assert!(browser.text("h1").await.contains("Not allowed"));
    browser.screenshot("refused").await;
    browser.finish().await;
}

async fn admin_finds_a_synchronized_customer() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("customers").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    for n in 0..3 {
        app.synchronize(&account(&format!("f{n}"), &format!("find{n}.example")))
            .await;
    }
    let mut hostile = account("x1", "hostile.example");
    hostile["Name"] = json!("<img src=x onerror=alert(1)>Hostile Ltd");
    let created = app.synchronize(&hostile).await;
    let external_id = created.body["Result"].as_str().unwrap().to_owned();
    browser.sign_in(&app, Role::Admin).await;
    browser.goto(&app, "/console/customers").await;
    browser.screenshot("list").await;
    browser.fill("#q", "hostile.example").await;
    browser
        .find("#customer-search button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    // The unfiltered list holds the row too: wait for the search's page.
    browser
        .wait_for_url("the search results", |url| {
            url.query_pairs()
                .any(|(name, value)| name == "q" && value == "hostile.example")
        })
        .await;
    let row = browser
        .find(&format!("#customers tr[data-external-id='{external_id}']"))
        .await;
    // The name a BSS sent shows as text, never as markup.
    let row_text = row.text().await.unwrap();
    assert!(
        row_text.contains("<img src=x onerror=alert(1)>Hostile Ltd"),
        "{row_text}"
    );
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("#customers tbody tr"))
            .await
            .unwrap()
            .len(),
        1
    );
    row.find(Locator::Css("a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let options = browser.text("#sync-options").await;
    assert!(options.contains("hostile.example"), "{options}");
    browser.find("#emails tr[data-mail-id]").await;
    browser.screenshot("detail").await;

    browser.find("#suspend").await.click().await.unwrap();
    browser
        .client
        .accept_alert()
        .await
        .expect("a confirmation dialog");
    browser
        .wait_for_text("#customer-status", "suspended", |t| t == "suspended")
        .await;
    browser.goto(&app, "/console/outbox").await;
    browser.find("#outbox").await;
    browser.screenshot("outbox").await;
    browser.finish().await;
}

async fn super_admin_creates_and_revokes_a_key() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("keys").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    browser.sign_in(&app, Role::SuperAdmin).await;
    browser.goto(&app, "/console/sync-options").await;
    browser.find("#bss-json").await;
    browser.screenshot("sync-options").await;
    browser.goto(&app, "/console/keys").await;
    browser.fill("#name", "browser-distributor").await;
    browser
        .find("#create-key-submit")
        .await
        .click()
        .await
        .unwrap();
    let key = browser.text("#new-key").await;
    let app_id = browser.text("#new-app-id").await;
    assert_eq!(key.len(), 44, "{key}");
    browser.find("button[data-copy='#new-key']").await;
    browser.screenshot("created").await;
    let credentials = crate::helpers::Credentials {
        app_id: app_id.clone(),
        key: key.clone(),
    };
    let exists = json!({"SyncOptions": {"domain": "nobody.example"}});
    assert_eq!(
        app.post_as(&credentials, "Accounts/Exists", &exists)
            .await
            .code(),
        0
    );

    // The list never shows the key again.
    browser.goto(&app, "/console/keys").await;
    let list = browser
        .find("#applications")
        .await
        .html(false)
        .await
        .unwrap();
    assert!(!list.contains(&key));
    browser.screenshot("list").await;
    browser
        .find(&format!(
            "#applications tr[data-app-id='{app_id}'] button[data-test='revoke']"
        ))
        .await
        .click()
        .await
        .unwrap();
    browser
        .client
        .accept_alert()
        .await
        .expect("a confirmation dialog");
    browser
        .wait_for_text(
            &format!("#applications tr[data-app-id='{app_id}']"),
            "revoked",
            |t| t.contains("revoked"),
        )
        .await;
    let refused = app.post_as(&credentials, "Accounts/Exists", &exists).await;
    assert_eq!(refused.status, reqwest::StatusCode::UNAUTHORIZED);
    browser.finish().await;
}

async fn admin_reads_subscriptions_and_edits_a_plan() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("subscriptions").await else {
        return;
    };
    let app = spawn_app(Backend::Sqlite).await;
    let mut buyer = account("s1", "subscriber.example");
    buyer["Name"] = json!("<img src=x onerror=alert(1)>Subscriber Ltd");
    let external_id = app.synchronize(&buyer).await.body["Result"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut subs = Vec::new();
    for (n, (product, name)) in [("P-BIZ", "Business"), ("P-BASIC", "Basic")]
        .into_iter()
        .enumerate()
    {
        let body = crate::operator_subscriptions::create_body(
            &external_id,
            &format!("BR-{n}"),
            product,
            name,
            5,
        );
        subs.push(
            crate::operator_subscriptions::contract_ok(&app, "Subscriptions/Create", &body).await,
        );
    }
    let mut update =
        crate::operator_subscriptions::create_body(&external_id, "BR-0", "P-BIZ", "Business", 9);
    update["ID"] = json!(subs[0]);
    crate::operator_subscriptions::contract_ok(&app, "Subscriptions/Update", &update).await;
    crate::operator_subscriptions::contract_ok(
        &app,
        "Subscriptions/Suspend",
        &json!({"ID": subs[1]}),
    )
    .await;
    // A mailbox holding a seat of the first subscription.
    let mailbox = crate::operator_subscriptions::contract_ok(
        &app,
        "Users/Add",
        &json!({"Customer": {"ID": external_id}, "Username": "pat@subscriber.example",
                "FirstName": "Pat", "LastName": "Jones", "ServiceID": subs[0]}),
    )
    .await;
    browser.sign_in(&app, Role::Admin).await;

    // The list, then filtered by status through the form.
    browser.goto(&app, "/console/subscriptions").await;
    browser
        .find(&format!(
            "#subscriptions tr[data-subscription-id='{}']",
            subs[0]
        ))
        .await;
    browser.screenshot("list").await;
    browser
        .assert_no_console_errors("the subscriptions list")
        .await;
    browser
        .find("#status option[value='suspended']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .find("#subscription-filters button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url("the filtered list", |url| {
            url.query_pairs()
                .any(|(name, value)| name == "status" && value == "suspended")
        })
        .await;
    let rows = browser
        .client
        .find_all(Locator::Css("#subscriptions tbody tr"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let export = browser
        .find("#csv-export")
        .await
        .attr("href")
        .await
        .unwrap();
    assert_eq!(
        export.as_deref(),
        Some("/console/subscriptions.csv?status=suspended")
    );
    browser.screenshot("filtered").await;

    // The customer's page: its subscriptions, a history opened.
    browser
        .goto(&app, &format!("/console/customers/{external_id}"))
        .await;
    let row = browser
        .find(&format!(
            "#subscriptions tr[data-subscription-id='{}']",
            subs[0]
        ))
        .await;
    row.find(Locator::Css("summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text(
            &format!(
                "#subscriptions tr[data-subscription-id='{}'] details",
                subs[0]
            ),
            "the history",
            |t| t.contains("quantity 5 → 9"),
        )
        .await;
    browser.screenshot("customer").await;
    browser.assert_no_console_errors("the customer page").await;
    // Its mailboxes, and the seats they use beside the subscription.
    let seats = browser
        .text(&format!(
            "#subscriptions tr[data-subscription-id='{}'] td.seats",
            subs[0]
        ))
        .await;
    assert_eq!(seats.trim(), "1 / 9");
    browser
        .find(&format!(
            "#mailboxes tr[data-mailbox-id='{mailbox}'] button.disable-mailbox"
        ))
        .await;
    browser.screenshot("customer-mailboxes").await;

    // Plans: edit one through its form.
    browser.goto(&app, "/console/plans").await;
    browser.screenshot("plans").await;
    browser.assert_no_console_errors("the plans page").await;
    browser
        .find("#plans a.edit-plan")
        .await
        .click()
        .await
        .unwrap();
    browser.fill("#unit_price", "4.99").await;
    browser.fill("#currency", "EUR").await;
    browser.fill("#billing_period_count", "1").await;
    browser
        .find("#billing_period_unit option[value='months']")
        .await
        .click()
        .await
        .unwrap();
    browser.screenshot("plan-form").await;
    browser.assert_no_console_errors("the plan form").await;
    browser.find("#save-plan").await.click().await.unwrap();
    browser
        .wait_for_text("#notice", "the saved notice", |t| t.contains("is saved"))
        .await;
    let plans = browser.text("#plans").await;
    assert!(plans.contains("4.99 EUR"), "{plans}");
    assert!(plans.contains("every 1 months"), "{plans}");
    browser.screenshot("plan-saved").await;

    // A product type's form.
    browser
        .goto(&app, "/console/product-types/hosted_mailbox")
        .await;
    browser.find("#definition").await;
    browser.screenshot("product-type").await;
    browser
        .assert_no_console_errors("the product type form")
        .await;
    browser.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_subscriptions_and_plans() {
    admin_reads_subscriptions_and_edits_a_plan().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_keys() {
    super_admin_creates_and_revokes_a_key().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_customers() {
    admin_finds_a_synchronized_customer().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_template_editor() {
    operator_edits_a_template_with_live_preview().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_mail_admin_refused() {
    mail_admin_reads_but_is_refused_an_edit().await;
}

/// A Super Admin tests the ConnectWise settings, maps a plan to a catalog
/// item found by search, and gives a customer a company and agreement,
/// against the fake ConnectWise.
async fn super_admin_maps_a_service_and_assigns_an_agreement() {
    use crate::helpers::fake_connectwise::FakeConnectWise;
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    // Without a browser: a loud skip, or under CI a failure (`browser_binaries`).
    let Some(browser) = Browser::start("connectwise").await else {
        return;
    };
    let fake = FakeConnectWise::start().await;
    let item = fake.add_catalog_item("MR-CF", "CloudFilter seat");
    fake.add_catalog_item("MR-SS", "SafeSend seat");
    let acme = fake.add_company("Acme Ltd");
    let agreement = fake.add_agreement(acme, "Acme email services");
    let (app, token) = crate::integrations::connected_app(Backend::Sqlite, &fake).await;
    let plan =
        crate::connectwise_mappings::create_plan(&app, &token, "hosted_mailbox", "CloudFilter")
            .await;
    let customer = app
        .synchronize(&account("7301", "acme-cw.example"))
        .await
        .result()
        .to_owned();

    browser.sign_in(&app, Role::SuperAdmin).await;
    browser.goto(&app, "/console/integrations").await;
    browser
        .find("#connectwise-test")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#connectwise-test-result", "a successful test", |t| {
            t.contains("Connected to ConnectWise Manage 2025.1")
        })
        .await;
    let card = browser
        .find("#integration-connectwise")
        .await
        .html(false)
        .await
        .unwrap();
    assert!(!card.contains(crate::helpers::fake_connectwise::PRIVATE_KEY));
    browser.screenshot("integrations").await;

    browser
        .find("#connectwise-services")
        .await
        .click()
        .await
        .unwrap();
    browser.fill("#search", "cloudfilter").await;
    browser
        .find("#catalog-search-submit")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#catalog-found", "the found item", |t| t.contains("MR-CF"))
        .await;
    let row = format!("tr[data-plan='{plan}']");
    browser
        .find(&format!("{row} select"))
        .await
        .select_by_value(&item.to_string())
        .await
        .unwrap();
    browser
        .find(&format!("{row} button[data-test='save-mapping']"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#notice", "the saved notice", |t| t.contains("saved"))
        .await;
    let mapped = browser.text(&row).await;
    assert!(mapped.contains("MR-CF"), "{mapped}");
    browser.screenshot("services").await;

    browser
        .goto(&app, &format!("/console/customers/{customer}"))
        .await;
    browser
        .find("#customer-integrations")
        .await
        .click()
        .await
        .unwrap();
    browser.fill("#search", "acme").await;
    browser
        .find("#company-search-submit")
        .await
        .click()
        .await
        .unwrap();
    browser.find("#company-choose").await.click().await.unwrap();
    browser
        .find("#agreement_id")
        .await
        .select_by_value(&agreement.to_string())
        .await
        .unwrap();
    browser
        .find("#assign-agreement")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_text("#notice", "the assigned notice", |t| t.contains("assigned"))
        .await;
    let current = browser.text("#current-agreement").await;
    assert!(
        current.contains("Acme Ltd") && current.contains("Acme email services"),
        "{current}"
    );
    browser.screenshot("customer-agreement").await;
    browser
        .assert_no_console_errors("the integrations pages")
        .await;
    browser.finish().await;

    let stored = app
        .operator_call(
            reqwest::Method::GET,
            &format!("/customers/{customer}/connectwise"),
            &token,
            None,
        )
        .await;
    assert_eq!(stored.body["agreement"]["agreement_id"], agreement);
    let services = app
        .operator_call(
            reqwest::Method::GET,
            "/integrations/connectwise/services",
            &token,
            None,
        )
        .await;
    assert!(services.body.to_string().contains("MR-CF"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_connectwise_mappings() {
    super_admin_maps_a_service_and_assigns_an_agreement().await;
}

/// Issue 16: an invited operator sets a password from the mailed link,
/// signs in, enrols TOTP, signs in again with a computed code, and the
/// dashboard shows the customers there are.
async fn invited_operator_signs_in_with_totp_and_sees_the_dashboard() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    let Some(browser) = Browser::start("invite-totp").await else {
        return;
    };
    let smtp = crate::smtp::SmtpServer::start(crate::smtp::Behaviour::Accept).await;
    let app =
        crate::helpers::spawn_app_with(Backend::Sqlite, crate::notifications::smtp_on(smtp.port()))
            .await;
    for n in 0..2 {
        app.synchronize(&account(&format!("t{n}"), &format!("totp{n}.example")))
            .await;
    }
    browser.sign_in(&app, Role::SuperAdmin).await;
    browser.goto(&app, "/console/operators").await;
    browser
        .fill("#invite-email", "invited.browser@example.com")
        .await;
    browser
        .find("#invite button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("#notice").await;
    browser.screenshot("invited").await;
    // Two access mails of the customers, then the invitation.
    let mails = smtp.wait_for(3, crate::notifications::WAIT).await;
    let invitation = mails
        .iter()
        .find(|m| m.rcpt_to == vec!["invited.browser@example.com".to_owned()])
        .expect("the invitation");
    let link = invitation
        .text_body
        .split_whitespace()
        .find(|word| word.contains("/console/set-password/"))
        .expect("a link");
    let path = &link[link.find("/console/").unwrap()..];
    // Signed out, as the invitee's browser would be.
    browser.find("form.who button").await.click().await.unwrap();
    browser.goto(&app, path).await;
    assert!(browser
        .text("#operator-email")
        .await
        .contains("invited.browser@example.com"));
    let password = "Browser chosen pass 9";
    browser.fill("#password", password).await;
    browser.fill("#confirm", password).await;
    browser
        .find("#set-password button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.fill("#email", "invited.browser@example.com").await;
    browser.fill("#password", password).await;
    browser
        .find("form[action='/console/login'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("form.who").await;
    // Enrol: read the key the page shows, compute the code here.
    browser.goto(&app, "/console/totp").await;
    browser.find("#totp-qr svg").await;
    let secret = browser.text("#totp-secret").await;
    let totp = |offset: i64| {
        let bytes = totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap();
        let now = chrono::Utc::now().timestamp() + offset * 30;
        totp_rs::TOTP::new_unchecked(
            totp_rs::Algorithm::SHA1,
            6,
            1,
            30,
            bytes,
            None,
            String::new(),
        )
        .generate(now as u64)
    };
    browser.fill("#code", &totp(0)).await;
    browser
        .find("#totp-confirm button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("#recovery-codes").await;
    browser.screenshot("enrolled").await;
    browser.find("form.who button").await.click().await.unwrap();
    // Password, then the code of the next step (this one is spent).
    browser.fill("#email", "invited.browser@example.com").await;
    browser.fill("#password", password).await;
    browser
        .find("form[action='/console/login'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.fill("#code", &totp(1)).await;
    browser
        .find("#second-factor button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser.find("form.who").await;
    browser.goto(&app, "/console/").await;
    assert_eq!(browser.text("#customers-total").await, "2");
    assert_eq!(browser.text("#customers-new").await, "2");
    browser.find("#calls-chart").await;
    browser.screenshot("dashboard").await;
    browser.assert_no_console_errors("the dashboard").await;
    browser.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_invite_totp_dashboard() {
    invited_operator_signs_in_with_totp_and_sees_the_dashboard().await;
}
