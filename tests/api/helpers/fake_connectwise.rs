//! A fake ConnectWise Manage on loopback, following the platform's
//! documented REST API (`../shared/INTEGRATIONS.md`): Basic auth of
//! `{companyId}+{publicKey}:{privateKey}`, a `clientId` header and a
//! versioned `Accept` (401/400 with ConnectWise's error body otherwise),
//! `page`/`pageSize` paging with `Link: <...>; rel="next"`, the
//! `conditions=` forms Mailroom sends, and additions that PATCH (JSON Patch)
//! and POST change. It keeps companies, agreements, the catalog and
//! additions in memory, records every request for asserts, and can be told
//! to fail or rate-limit the next call.
//!
//! ```ignore
//! let fake = FakeConnectWise::start().await;
//! let company = fake.add_company("Acme Ltd");
//! let agreement = fake.add_agreement(company, "Acme email");
//! let item = fake.add_catalog_item("MR-BASIC", "Mailroom Basic");
//! fake.add_addition(agreement, item, 3.0);
//! // ... save fake.settings() as the integration's settings, run ...
//! assert_eq!(fake.additions(agreement)[0].quantity, 5.0);
//! ```
#![allow(dead_code)] // each test file uses a part

use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::ServerHandle;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Value};

/// The API base under the site URL.
pub const API_BASE: &str = "/v4_6_release/apis/3.0/";
/// The credentials the fake accepts (see [`FakeConnectWise::settings`]).
pub const COMPANY_ID: &str = "mailroom_test";
pub const PUBLIC_KEY: &str = "Pub1icKeyAbc";
pub const PRIVATE_KEY: &str = "Pr1vateKey-s3cret-9f3a";
pub const CLIENT_ID: &str = "7c0b4d7e-client-id-1234";
/// What `system/info` says.
pub const VERSION: &str = "v2025.1.94651";
/// ConnectWise's default page size.
const DEFAULT_PAGE_SIZE: usize = 25;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    pub id: i64,
    pub identifier: String,
    pub name: String,
    pub deleted_flag: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Agreement {
    pub id: i64,
    pub name: String,
    #[serde(rename = "type")]
    pub agreement_type: Value,
    pub company: Value,
    pub cancelled_flag: bool,
    pub agreement_status: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub id: i64,
    pub identifier: String,
    pub description: String,
    pub price: f64,
    pub cost: f64,
    pub inactive_flag: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Addition {
    pub id: i64,
    pub product: Value,
    pub quantity: f64,
    pub less_included: f64,
    pub unit_price: f64,
    pub unit_cost: f64,
    pub bill_customer: String,
    pub effective_date: Option<String>,
    pub cancelled_date: Option<String>,
    pub description: String,
    pub agreement_id: i64,
}

impl Addition {
    pub fn product_id(&self) -> i64 {
        self.product["id"].as_i64().expect("a product id")
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// The path under [`API_BASE`], e.g. `finance/agreements/7/additions`.
    pub path: String,
    /// The raw query string.
    pub query: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
    /// A decoded query parameter.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE")
    }
}

/// An answer the fake was told to give instead of the real one.
#[derive(Debug, Clone)]
enum Injected {
    Status(u16, Value),
    RateLimit(u64),
}

#[derive(Default)]
struct State {
    next_id: i64,
    companies: Vec<Company>,
    agreements: Vec<Agreement>,
    catalog: Vec<CatalogItem>,
    additions: BTreeMap<i64, Vec<Addition>>,
    requests: Vec<RecordedRequest>,
    next_answers: VecDeque<Injected>,
    /// Paths (under the API base) that always fail, by prefix.
    failing_paths: Vec<(String, u16, Value)>,
}

impl State {
    fn new_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }
}

pub struct FakeConnectWise {
    /// The site URL to configure: `http://127.0.0.1:{port}`.
    pub site_url: String,
    state: Arc<Mutex<State>>,
    handle: ServerHandle,
}

impl FakeConnectWise {
    pub async fn start() -> FakeConnectWise {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("an address").port();
        let site_url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            next_id: 100,
            ..State::default()
        }));
        let shared = web::Data::from(Arc::clone(&state));
        let site = web::Data::new(site_url.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(site.clone())
                .app_data(web::PayloadConfig::new(1 << 20))
                .default_service(web::to(answer))
        })
        .workers(1)
        .listen(listener)
        .expect("the fake listens")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeConnectWise {
            site_url,
            state,
            handle,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("the fake's state")
    }

    /// The integration's plain settings and secret for this fake, by
    /// `SettingField::key`.
    pub fn settings(&self) -> Value {
        json!({
            "site_url": self.site_url,
            "company_id": COMPANY_ID,
            "public_key": PUBLIC_KEY,
            "private_key": PRIVATE_KEY,
            "client_id": CLIENT_ID,
        })
    }

    pub fn add_company(&self, name: &str) -> i64 {
        let mut state = self.state();
        let id = state.new_id();
        state.companies.push(Company {
            id,
            identifier: name.chars().filter(|c| c.is_ascii_alphanumeric()).collect(),
            name: name.to_owned(),
            deleted_flag: false,
        });
        id
    }

    pub fn add_deleted_company(&self, name: &str) -> i64 {
        let id = self.add_company(name);
        let mut state = self.state();
        if let Some(company) = state.companies.iter_mut().find(|c| c.id == id) {
            company.deleted_flag = true;
        }
        id
    }

    pub fn add_agreement(&self, company_id: i64, name: &str) -> i64 {
        self.insert_agreement(company_id, name, false)
    }

    pub fn add_cancelled_agreement(&self, company_id: i64, name: &str) -> i64 {
        self.insert_agreement(company_id, name, true)
    }

    fn insert_agreement(&self, company_id: i64, name: &str, cancelled: bool) -> i64 {
        let mut state = self.state();
        let id = state.new_id();
        let company = state
            .companies
            .iter()
            .find(|company| company.id == company_id)
            .map(|company| json!({"id": company.id, "identifier": company.identifier, "name": company.name}))
            .unwrap_or_else(|| json!({"id": company_id}));
        state.agreements.push(Agreement {
            id,
            name: name.to_owned(),
            agreement_type: json!({"id": 1, "name": "Managed Services"}),
            company,
            cancelled_flag: cancelled,
            agreement_status: if cancelled { "Cancelled" } else { "Active" }.to_owned(),
        });
        state.additions.entry(id).or_default();
        id
    }

    pub fn add_catalog_item(&self, identifier: &str, description: &str) -> i64 {
        let mut state = self.state();
        let id = state.new_id();
        state.catalog.push(CatalogItem {
            id,
            identifier: identifier.to_owned(),
            description: description.to_owned(),
            price: 4.5,
            cost: 2.25,
            inactive_flag: false,
        });
        id
    }

    pub fn add_inactive_catalog_item(&self, identifier: &str, description: &str) -> i64 {
        let id = self.add_catalog_item(identifier, description);
        let mut state = self.state();
        if let Some(item) = state.catalog.iter_mut().find(|item| item.id == id) {
            item.inactive_flag = true;
        }
        id
    }

    /// An addition of `product_id` on an agreement, with a price and cost of
    /// its own (which Mailroom must never change).
    pub fn add_addition(&self, agreement_id: i64, product_id: i64, quantity: f64) -> i64 {
        let mut state = self.state();
        let id = state.new_id();
        let addition = Addition {
            id,
            product: json!({"id": product_id}),
            quantity,
            less_included: 0.0,
            unit_price: 4.5,
            unit_cost: 2.25,
            bill_customer: "Billable".to_owned(),
            effective_date: Some("2026-01-01T00:00:00Z".to_owned()),
            cancelled_date: None,
            description: "Set up by the partner".to_owned(),
            agreement_id,
        };
        state
            .additions
            .entry(agreement_id)
            .or_default()
            .push(addition);
        id
    }

    /// An agreement's additions as they stand.
    pub fn additions(&self, agreement_id: i64) -> Vec<Addition> {
        self.state()
            .additions
            .get(&agreement_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state().requests.clone()
    }

    /// The writes (POST, PATCH, PUT, DELETE) received so far.
    pub fn writes(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_write)
            .collect()
    }

    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }

    /// The next request (whatever it is) is answered with `status` and
    /// `body` instead.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.state()
            .next_answers
            .push_back(Injected::Status(status, body));
    }

    /// The next request is answered 429 with `Retry-After: {seconds}`.
    pub fn rate_limit_next(&self, seconds: u64) {
        self.state()
            .next_answers
            .push_back(Injected::RateLimit(seconds));
    }

    /// Every request whose path (under the API base) starts with `prefix`
    /// is answered with `status` and `body`, e.g.
    /// `fail_path("finance/agreements/7", 403, ...)`.
    pub fn fail_path(&self, prefix: &str, status: u16, body: Value) {
        self.state()
            .failing_paths
            .push((prefix.to_owned(), status, body));
    }
}

impl Drop for FakeConnectWise {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// ConnectWise's error body.
pub fn error_body(code: &str, message: &str) -> Value {
    json!({"code": code, "message": message, "errors": []})
}

fn error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(error_body(code, message))
}

async fn answer(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<Mutex<State>>,
    site: web::Data<String>,
) -> HttpResponse {
    let Some(path) = request.path().strip_prefix(API_BASE).map(str::to_owned) else {
        return error(StatusCode::NOT_FOUND, "NotFound", "Unknown path");
    };
    let recorded = RecordedRequest {
        method: request.method().as_str().to_owned(),
        path: path.clone(),
        query: request.query_string().to_owned(),
        headers: request
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    value.to_str().unwrap_or("").to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let mut state = state.lock().expect("the fake's state");
    state.requests.push(recorded.clone());

    if let Some(injected) = state.next_answers.pop_front() {
        return match injected {
            Injected::Status(status, body) => {
                HttpResponse::build(StatusCode::from_u16(status).expect("a status")).json(body)
            }
            Injected::RateLimit(seconds) => HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", seconds.to_string()))
                .json(error_body(
                    "TooManyRequests",
                    "Too many requests, slow down",
                )),
        };
    }
    if let Some(refusal) = check_credentials(&recorded) {
        return refusal;
    }
    if let Some((_, status, body)) = state
        .failing_paths
        .iter()
        .find(|(prefix, _, _)| path.starts_with(prefix.as_str()))
    {
        return HttpResponse::build(StatusCode::from_u16(*status).expect("a status"))
            .json(body.clone());
    }
    route(&mut state, &recorded, &site)
}

fn check_credentials(request: &RecordedRequest) -> Option<HttpResponse> {
    let expected = format!("{COMPANY_ID}+{PUBLIC_KEY}:{PRIVATE_KEY}");
    let given = request
        .header("authorization")
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()
        });
    if given.as_deref() != Some(expected.as_bytes()) {
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Authentication failed: the API keys or company id are not valid",
        ));
    }
    if request.header("clientid") != Some(CLIENT_ID) {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "A valid clientId header is required",
        ));
    }
    let accept = request.header("accept").unwrap_or("");
    let versioned = accept
        .strip_prefix("application/vnd.connectwise.com+json; version=")
        .is_some_and(|version| {
            version.split('.').count() == 2
                && version.split('.').all(|part| part.parse::<u32>().is_ok())
        });
    if !versioned {
        return Some(error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "The Accept header must name an API version",
        ));
    }
    None
}

fn route(state: &mut State, request: &RecordedRequest, site: &str) -> HttpResponse {
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    let method = request.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["system", "info"]) => HttpResponse::Ok().json(json!({
            "version": VERSION,
            "isCloud": true,
            "serverTimeZone": "Eastern Standard Time",
            "cloudRegion": "NA",
        })),
        ("GET", ["procurement", "catalog"]) => list(&state.catalog, request, site),
        ("GET", ["procurement", "catalog", id]) => {
            match state.catalog.iter().find(|c| Some(c.id) == id.parse().ok()) {
                Some(item) => HttpResponse::Ok().json(item),
                None => not_found("Catalog item"),
            }
        }
        ("GET", ["company", "companies"]) => list(&state.companies, request, site),
        ("GET", ["company", "companies", id]) => {
            match state
                .companies
                .iter()
                .find(|c| Some(c.id) == id.parse().ok())
            {
                Some(company) => HttpResponse::Ok().json(company),
                None => not_found("Company"),
            }
        }
        ("GET", ["finance", "agreements"]) => list(&state.agreements, request, site),
        ("GET", ["finance", "agreements", id]) => {
            match state
                .agreements
                .iter()
                .find(|a| Some(a.id) == id.parse().ok())
            {
                Some(agreement) => HttpResponse::Ok().json(agreement),
                None => not_found("Agreement"),
            }
        }
        (_, ["finance", "agreements", id, "additions", rest @ ..]) => {
            let Some(agreement_id) = id
                .parse::<i64>()
                .ok()
                .filter(|id| state.agreements.iter().any(|a| a.id == *id))
            else {
                return not_found("Agreement");
            };
            additions(state, request, site, agreement_id, rest)
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("No route for {method} {}", request.path),
        ),
    }
}

fn not_found(what: &str) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{what} not found"),
    )
}

fn additions(
    state: &mut State,
    request: &RecordedRequest,
    site: &str,
    agreement_id: i64,
    rest: &[&str],
) -> HttpResponse {
    match (request.method.as_str(), rest) {
        ("GET", []) => list(&state.additions[&agreement_id], request, site),
        ("POST", []) => {
            let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
                return error(StatusCode::BAD_REQUEST, "InvalidObject", "Unreadable body");
            };
            let Some(product_id) = body["product"]["id"].as_i64() else {
                return field_error("product", "product is required");
            };
            if !state.catalog.iter().any(|item| item.id == product_id) {
                return field_error("product", "product not found");
            }
            let bill_customer = body["billCustomer"].as_str().unwrap_or("");
            if !["Billable", "DoNotBill", "NoCharge"].contains(&bill_customer) {
                return field_error("billCustomer", "billCustomer is required");
            }
            let quantity = body["quantity"].as_f64().unwrap_or(0.0);
            let id = state.new_id();
            let catalog = state
                .catalog
                .iter()
                .find(|item| item.id == product_id)
                .cloned()
                .expect("checked above");
            let addition = Addition {
                id,
                product: json!({"id": product_id, "identifier": catalog.identifier}),
                quantity,
                less_included: 0.0,
                // ConnectWise fills price, cost and description from the
                // catalog item when the request leaves them out.
                unit_price: catalog.price,
                unit_cost: catalog.cost,
                bill_customer: bill_customer.to_owned(),
                effective_date: None,
                cancelled_date: None,
                description: catalog.description,
                agreement_id,
            };
            state
                .additions
                .entry(agreement_id)
                .or_default()
                .push(addition.clone());
            HttpResponse::Created().json(addition)
        }
        (method, [addition_id]) => {
            let Some(addition) = state.additions.get_mut(&agreement_id).and_then(|all| {
                all.iter_mut()
                    .find(|a| Some(a.id) == addition_id.parse().ok())
            }) else {
                return not_found("Addition");
            };
            match method {
                "GET" => HttpResponse::Ok().json(&*addition),
                "PATCH" => match apply_patch(addition, &request.body) {
                    Ok(()) => HttpResponse::Ok().json(&*addition),
                    Err(refusal) => *refusal,
                },
                _ => error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    "Method not allowed",
                ),
            }
        }
        _ => not_found("Resource"),
    }
}

fn field_error(field: &str, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({
        "code": "InvalidObject",
        "message": "addition object is invalid",
        "errors": [{"code": "InvalidField", "message": message, "resource": "addition", "field": field}],
    }))
}

/// Applies a JSON Patch of `replace` operations to an addition.
fn apply_patch(addition: &mut Addition, body: &str) -> Result<(), Box<HttpResponse>> {
    let unreadable = || {
        Box::new(error(
            StatusCode::BAD_REQUEST,
            "InvalidObject",
            "Unreadable patch",
        ))
    };
    let operations: Vec<Value> = serde_json::from_str(body).map_err(|_| unreadable())?;
    for operation in operations {
        if operation["op"] != "replace" {
            return Err(unreadable());
        }
        let path = operation["path"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/');
        let value = &operation["value"];
        match path {
            "quantity" => addition.quantity = value.as_f64().ok_or_else(unreadable)?,
            "unitPrice" => addition.unit_price = value.as_f64().ok_or_else(unreadable)?,
            "unitCost" => addition.unit_cost = value.as_f64().ok_or_else(unreadable)?,
            "description" => {
                addition.description = value.as_str().ok_or_else(unreadable)?.to_owned()
            }
            _ => return Err(Box::new(field_error(path, "unknown field"))),
        }
    }
    Ok(())
}

/// One page of `records` that match the request's `conditions`, with the
/// `Link` header of the next page when there is one.
fn list<T: Serialize>(records: &[T], request: &RecordedRequest, site: &str) -> HttpResponse {
    let all: Vec<Value> = records
        .iter()
        .map(|record| serde_json::to_value(record).expect("a record"))
        .collect();
    let matching = match request.query_param("conditions") {
        None => all,
        Some(conditions) => match Condition::parse(&conditions) {
            Ok(condition) => all
                .into_iter()
                .filter(|record| condition.holds(record))
                .collect(),
            Err(why) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "InvalidObject",
                    &format!("conditions: {why}"),
                )
            }
        },
    };
    let page: usize = request
        .query_param("page")
        .and_then(|page| page.parse().ok())
        .filter(|page| *page >= 1)
        .unwrap_or(1);
    let page_size: usize = request
        .query_param("pageSize")
        .and_then(|size| size.parse().ok())
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(1, 1000);
    let start = (page - 1).saturating_mul(page_size).min(matching.len());
    let end = (start + page_size).min(matching.len());
    let mut response = HttpResponse::Ok();
    if end < matching.len() {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(
                url::form_urlencoded::parse(request.query.as_bytes())
                    .filter(|(key, _)| key != "page"),
            )
            .append_pair("page", &(page + 1).to_string())
            .finish();
        response.insert_header((
            "Link",
            format!(
                "<{site}{API_BASE}{}?{query}>; rel=\"next\", <{site}{API_BASE}{}?page=1>; rel=\"first\"",
                request.path, request.path
            ),
        ));
    }
    response.json(&matching[start..end])
}

/// The `conditions=` language, as far as Mailroom uses it: comparisons
/// `field = value`, `field != value`, `field contains "text"`, joined by
/// `and`/`or` and grouped with parentheses; fields are paths like
/// `company/id`.
#[derive(Debug)]
enum Condition {
    Equals(String, Value, bool),
    Contains(String, String),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

impl Condition {
    fn parse(text: &str) -> Result<Condition, String> {
        let tokens = tokenize(text)?;
        let mut position = 0;
        let condition = parse_or(&tokens, &mut position)?;
        if position != tokens.len() {
            return Err(format!("unexpected {:?}", tokens[position]));
        }
        Ok(condition)
    }

    fn holds(&self, record: &Value) -> bool {
        let field = |path: &str| {
            path.split('/')
                .try_fold(record, |value, key| value.get(key))
                .cloned()
        };
        match self {
            Self::Equals(path, expected, equal) => {
                let actual = field(path).unwrap_or(Value::Null);
                let same = match (&actual, expected) {
                    (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
                    (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
                    (a, b) => a == b,
                };
                same == *equal
            }
            Self::Contains(path, needle) => field(path)
                .and_then(|value| value.as_str().map(str::to_lowercase))
                .is_some_and(|text| text.contains(&needle.to_lowercase())),
            Self::And(left, right) => left.holds(record) && right.holds(record),
            Self::Or(left, right) => left.holds(record) || right.holds(record),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Operator(String),
    Open,
    Close,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut value = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => value.extend(chars.next()),
                        Some('"') => break,
                        Some(c) => value.push(c),
                        None => return Err("an unclosed string".to_owned()),
                    }
                }
                tokens.push(Token::Text(value));
            }
            '=' | '!' | '<' | '>' => {
                let mut operator = String::new();
                while let Some(&c) = chars.peek() {
                    if !"=!<>".contains(c) {
                        break;
                    }
                    operator.push(c);
                    chars.next();
                }
                tokens.push(Token::Operator(operator));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ' ' || "()=!<>\"".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
}

fn parse_or(tokens: &[Token], position: &mut usize) -> Result<Condition, String> {
    let mut left = parse_and(tokens, position)?;
    while is_word(tokens.get(*position), "or") {
        *position += 1;
        let right = parse_and(tokens, position)?;
        left = Condition::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_and(tokens: &[Token], position: &mut usize) -> Result<Condition, String> {
    let mut left = parse_comparison(tokens, position)?;
    while is_word(tokens.get(*position), "and") {
        *position += 1;
        let right = parse_comparison(tokens, position)?;
        left = Condition::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_comparison(tokens: &[Token], position: &mut usize) -> Result<Condition, String> {
    if tokens.get(*position) == Some(&Token::Open) {
        *position += 1;
        let inner = parse_or(tokens, position)?;
        if tokens.get(*position) != Some(&Token::Close) {
            return Err("a missing )".to_owned());
        }
        *position += 1;
        return Ok(inner);
    }
    let Some(Token::Word(field)) = tokens.get(*position).cloned() else {
        return Err(format!("a field expected at {position}"));
    };
    *position += 1;
    let operator = tokens.get(*position).cloned();
    *position += 1;
    let value = match tokens.get(*position).cloned() {
        Some(Token::Text(text)) => Value::String(text),
        Some(Token::Word(word)) => match word.as_str() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Null,
            number => json!(number
                .parse::<f64>()
                .map_err(|_| format!("an unquoted value {number:?}"))?),
        },
        other => return Err(format!("a value expected, not {other:?}")),
    };
    *position += 1;
    match operator {
        Some(Token::Operator(op)) if op == "=" => Ok(Condition::Equals(field, value, true)),
        Some(Token::Operator(op)) if op == "!=" => Ok(Condition::Equals(field, value, false)),
        Some(Token::Word(word)) if word.eq_ignore_ascii_case("contains") => match value {
            Value::String(text) => Ok(Condition::Contains(field, text)),
            _ => Err("contains takes a quoted string".to_owned()),
        },
        other => Err(format!("an unknown operator {other:?}")),
    }
}
