//! The operator console as a browser sees it: signing in, the session
//! cookie and CSRF token, and pages with their redirects.

use reqwest::StatusCode;

use super::app::TestApp;
use super::operator::OPERATOR_PASSWORD;

/// A browser-like client of the console: the session cookie, the CSRF
/// token, and no automatic redirects (tests look at them).
pub struct ConsoleClient<'a> {
    pub app: &'a TestApp,
    /// The session cookie's value.
    pub session: String,
    pub csrf: String,
    client: reqwest::Client,
}

/// What a console request answered: the status, the `Location` of a
/// redirect, and the body.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub html: String,
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

async fn page(response: reqwest::Response) -> Page {
    let status = response.status();
    let location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let html = response.text().await.expect("a body");
    Page {
        status,
        location,
        html,
    }
}

/// The value of `name=` in the Set-Cookie headers of a response.
pub fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap_or("").to_owned())
}

/// The value of the hidden `csrf` input of a page.
pub fn form_csrf(html: &str) -> String {
    hidden_value(html, "csrf")
}

/// The value of the hidden input `name` of a page's form.
pub fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in the form"))
        + marker.len();
    html[start..].split('"').next().unwrap_or("").to_owned()
}

/// The CSRF token a console page gives its scripts (`<meta name="csrf-token">`).
fn meta_csrf(html: &str) -> String {
    let marker = "<meta name=\"csrf-token\" content=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no csrf-token meta tag in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap_or("").to_owned()
}

/// Signs a new operator of `role` in to the console, as a browser would.
pub async fn console_login(
    app: &TestApp,
    role: mailroom::domain::operator::Role,
) -> ConsoleClient<'_> {
    let email = app.create_operator(role).await;
    app.console_sign_in(&email).await
}

impl TestApp {
    /// Signs the operator `email` in to the console (another session each
    /// time), as a browser would, and reads the CSRF token from the page
    /// the sign-in leads to, as the page's forms and scripts do.
    pub async fn console_sign_in(&self, email: &str) -> ConsoleClient<'_> {
        sign_in(self, email).await
    }
}

async fn sign_in<'a>(app: &'a TestApp, email: &str) -> ConsoleClient<'a> {
    let client = no_redirects();
    let form = client
        .get(app.url("/console/login"))
        .send()
        .await
        .expect("login page");
    let login_csrf = set_cookie(&form, "mailroom_login_csrf").expect("a login csrf cookie");
    let html = form.text().await.unwrap();
    let field = form_csrf(&html);
    assert_eq!(field, login_csrf, "double-submit token");
    let response = client
        .post(app.url("/console/login"))
        .header("Cookie", format!("mailroom_login_csrf={login_csrf}"))
        .form(&[
            ("email", email),
            ("password", OPERATOR_PASSWORD),
            ("csrf", field.as_str()),
            ("next", "/console/"),
        ])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&response, "mailroom_session").expect("a session cookie");
    let mut console = ConsoleClient {
        app,
        csrf: String::new(),
        session,
        client,
    };
    // Follow the sign-in's redirects to a page, as a browser would.
    let mut location = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("the sign-in redirects")
        .to_owned();
    let mut landed = console.get(&location).await;
    for _ in 0..5 {
        let Some(next) = landed
            .location
            .clone()
            .filter(|_| landed.status.is_redirection())
        else {
            break;
        };
        location = next;
        landed = console.get(&location).await;
    }
    assert_eq!(landed.status, StatusCode::OK, "{location}: {}", landed.html);
    let token = meta_csrf(&landed.html);
    assert!(!token.is_empty(), "an empty CSRF token on {location}");
    assert_eq!(
        form_csrf(&landed.html),
        token,
        "the page's forms carry the token its scripts send"
    );
    console.csrf = token;
    console
}

impl ConsoleClient<'_> {
    fn cookie(&self) -> String {
        format!("mailroom_session={}", self.session)
    }

    pub async fn get(&self, path: &str) -> Page {
        page(
            self.client
                .get(self.app.url(path))
                .header("Cookie", self.cookie())
                .send()
                .await
                .expect("the console answers"),
        )
        .await
    }

    /// POSTs a form with this session's CSRF token added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        self.post_form_raw(path, &all).await
    }

    /// POSTs a form exactly as given (to test a missing or wrong token).
    pub async fn post_form_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        page(
            self.client
                .post(self.app.url(path))
                .header("Cookie", self.cookie())
                .form(fields)
                .send()
                .await
                .expect("the console answers"),
        )
        .await
    }
}
