//! The console in a real headless Chromium, driven over WebDriver
//! (Debian's chromium and chromium-driver; `.ci/run` installs them). Without
//! chromedriver these tests say so and pass, except in CI where they fail.
//! Each test leaves screenshots of the pages it visits under
//! `target/tmp/screenshots/`, to look at the layout by eye.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use mailroom::domain::operator::Role;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::helpers::{account, spawn_app, Backend, TestApp, OPERATOR_PASSWORD};

/// Two cores: one browser at a time keeps the tests from timing each other out.
static ONE_BROWSER: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(1));

const WAIT: Duration = Duration::from_secs(10);

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("MAILROOM_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "chromedriver is required in CI (apt-get install chromium chromium-driver)"
    );
    eprintln!(
        "note: browser tests skipped, no chromedriver at {}",
        path.display()
    );
    None
}

/// A chromedriver process and a headless Chromium session on it.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
    test: &'static str,
}

impl Browser {
    async fn start(test: &'static str) -> Option<Self> {
        let driver_path = chromedriver()?;
        // Two TLS backends end up linked in the test binary: pick one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": std::env::var("MAILROOM_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-dev-shm-usage",
                         "--window-size=1400,1000"]
            }),
        );
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

    async fn finish(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

async fn operator_edits_a_template_with_live_preview() {
    let _turn = ONE_BROWSER.acquire().await.unwrap();
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::start("template-editor").await else {
        return;
    };
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
    let app = spawn_app(Backend::Sqlite).await;
    app.synchronize(&account("b1", "mailadmin.example")).await;
    let Some(browser) = Browser::start("mail-admin").await else {
        return;
    };
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
    let app = spawn_app(Backend::Sqlite).await;
    for n in 0..3 {
        app.synchronize(&account(&format!("f{n}"), &format!("find{n}.example")))
            .await;
    }
    let mut hostile = account("x1", "hostile.example");
    hostile["Name"] = json!("<img src=x onerror=alert(1)>Hostile Ltd");
    let created = app.synchronize(&hostile).await;
    let external_id = created.body["Result"].as_str().unwrap().to_owned();
    let Some(browser) = Browser::start("customers").await else {
        return;
    };
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
    let app = spawn_app(Backend::Sqlite).await;
    let Some(browser) = Browser::start("keys").await else {
        return;
    };
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
