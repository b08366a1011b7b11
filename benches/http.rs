//! HTTP benchmark: drives a running Mailroom with N keep-alive connections
//! and compares it with a bare actix-web handler that parses and returns
//! the same JSON.
//!
//! `cargo bench --bench http -- [--seconds 10] [--connections 32]
//!  [--backends sqlite,postgres] [--customers 1000] [--only exists,synchronize,subscriptions]
//!  [--deliver-mail true|false] [--mailboxes 10000]`
//!
//! Everything runs in this process: the servers on their actix workers, the
//! load generator on its own small runtime, a minimal HTTP/1.1 client so the
//! generator costs as little CPU as possible. PostgreSQL is the server at
//! MAILROOM_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
//! in a database made for the run and dropped after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::{Connection, PgConnection, RunQueryDsl};
use futures::StreamExt;
use hdrhistogram::Histogram;
use mailroom::config::Settings;
use mailroom::startup::Application;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    seconds: u64,
    connections: usize,
    backends: Vec<String>,
    customers: usize,
    /// Only scenarios whose name contains one of these (all when empty).
    only: Vec<String>,
    /// Whether the outbox worker delivers mail while the load runs.
    deliver_mail: bool,
    /// Mailboxes of the one customer the Users/Get/List scenarios read.
    mailboxes: usize,
}

fn options() -> Options {
    let mut options = Options {
        seconds: 10,
        connections: 32,
        backends: vec!["sqlite".into(), "postgres".into()],
        customers: 1000,
        only: Vec::new(),
        deliver_mail: true,
        mailboxes: 10_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value().parse().expect("seconds"),
            "--connections" => options.connections = value().parse().expect("connections"),
            "--backends" => options.backends = value().split(',').map(str::to_owned).collect(),
            "--customers" => options.customers = value().parse().expect("customers"),
            "--deliver-mail" => options.deliver_mail = value().parse().expect("true or false"),
            "--mailboxes" => options.mailboxes = value().parse().expect("mailboxes"),
            "--only" => options.only = value().split(',').map(str::to_lowercase).collect(),
            // `cargo bench` passes --bench to every target.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    options
}

/// One request's bytes, ready to write.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &Value,
) -> Vec<u8> {
    let body = serde_json::to_vec(body).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}

/// Reads one response; returns whether its status was 200 and the body
/// contained `expect`.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
    expect: &[u8],
) -> std::io::Result<bool> {
    buffer.clear();
    let mut chunk = [0u8; 8192];
    let header_end = loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(position) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break position + 4;
        }
    };
    let head = std::str::from_utf8(&buffer[..header_end])
        .unwrap_or_default()
        .to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < header_end + length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
    let ok = head.starts_with("http/1.1 200")
        && buffer[header_end..]
            .windows(expect.len())
            .any(|w| w == expect);
    Ok(ok)
}

/// Makes the bytes of the n-th request of a scenario.
type RequestMaker = Arc<dyn Fn(u64) -> Vec<u8> + Send + Sync>;

struct Outcome {
    requests: u64,
    failures: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// Sends requests from `make(n)` over `connections` keep-alive connections
/// for `seconds` (after a one-second warm-up that is not counted).
async fn drive(
    port: u16,
    connections: usize,
    seconds: u64,
    expect: &'static [u8],
    make: RequestMaker,
) -> Outcome {
    let counter = Arc::new(AtomicU64::new(0));
    let warmup_end = Instant::now() + Duration::from_secs(1);
    let end = warmup_end + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let make = Arc::clone(&make);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                stream.set_nodelay(true).unwrap();
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
                let (mut requests, mut failures) = (0u64, 0u64);
                let mut buffer = Vec::with_capacity(16 * 1024);
                loop {
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    let bytes = make(counter.fetch_add(1, Ordering::Relaxed));
                    let started = Instant::now();
                    stream.write_all(&bytes).await.unwrap();
                    let ok = read_response(&mut stream, &mut buffer, expect)
                        .await
                        .unwrap_or(false);
                    if started >= warmup_end {
                        histogram
                            .record(started.elapsed().as_micros() as u64)
                            .unwrap();
                        requests += 1;
                        failures += u64::from(!ok);
                    }
                }
                (requests, failures, histogram)
            })
        })
        .collect();
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut requests, mut failures) = (0, 0);
    for task in tasks {
        let (r, f, h) = task.await.unwrap();
        requests += r;
        failures += f;
        latency.add(h).unwrap();
    }
    Outcome {
        requests,
        failures,
        elapsed: Duration::from_secs(seconds),
        latency,
    }
}

fn seed_account(n: u64, run: &str) -> Value {
    json!({
        "ID": format!("{run}-{n}"),
        "ExternalID": "",
        "ResellerID": "",
        "ResellerExternalID": "",
        "Name": format!("Bench Customer {n}"),
        "Code": format!("BENCH-{n}"),
        "Phone": "323-999-4500",
        "Fax": "323-999-5500",
        "WebSite": "https://www.direct.com",
        "Email": format!("admin{n}@{run}-{n}.example"),
        "Description": "A direct customer account example",
        "SyncOptions": {"domain": format!("{run}-{n}.example"), "role": "1"},
        "ContactDetails": {"ID": "15200", "FirstName": "User", "LastName": "Direct Customer",
            "Phone": "323-999-4505", "Fax": "323-999-5505", "Email": format!("user{n}@{run}-{n}.example")},
        "Address": {"Address1": "123 Main Street", "Address2": "Unit 12", "City": "Chicago", "PostCode": "94903",
            "State": {"Code": "CA", "Name": "California"}, "Country": {"Code": "US", "Name": "United States"}},
        "ExtraDetails": {}
    })
}

/// A Subscriptions/Create of hosted mailboxes for a customer, as the BSS
/// sends it (ProductID 1207 becomes a recorded plan on the first call).
fn subscription_body(external_id: &str, subscription_id: &str, quantity: u64) -> Value {
    json!({
        "ID": "",
        "SubscriptionID": subscription_id,
        "Name": "Hosted mailbox Business",
        "ServiceType": "hosted_mailbox",
        "ProductID": "1207",
        "ActionType": "Provision",
        "Quantity": quantity,
        "Status": "Active",
        "Account": {"ID": "", "ExternalID": external_id, "Name": "Bench Customer"},
        "AttributeList": {
            "storage_gb": {"ID": "storage_gb", "Name": "Storage", "Value": "50", "QuantityLinked": true, "DataType": 1},
            "mailbox_type": {"ID": "mailbox_type", "Name": "Mailbox type", "Value": "business", "QuantityLinked": false, "DataType": 0}
        },
        "BillingCycle": {"Duration": "1", "DurationType": "Months"},
        "IsTest": false, "IsTrial": false, "IsFromOrder": true,
        "AllowMultipleSubscriptions": true, "CheckOnly": false,
        "ExtraDetails": {}
    })
}

/// A Users/Add of a mailbox holding a seat of `service`; its owner's
/// set-password link goes to the secondary address.
fn mailbox_body(external_id: &str, address: &str, service: &str) -> Value {
    json!({
        "ID": "",
        "Customer": {"ID": external_id, "AccountID": "", "Name": "Bench Customer", "IsTest": false},
        "FirstName": "Pat",
        "LastName": "Jones",
        "DisplayName": "Pat Jones",
        "Username": address,
        "Email": address,
        "SecondaryEmail": "owner@elsewhere.example",
        "Status": "Provisioned",
        "Role": "User",
        "ServiceID": service
    })
}

async fn bare_handler(body: web::Json<Value>) -> HttpResponse {
    HttpResponse::Ok().json(body.into_inner())
}

struct Row {
    scenario: String,
    backend: String,
    outcome: Outcome,
}

async fn run_backend(backend: &str, options: &Options, rows: &mut Vec<Row>) {
    let (url, cleanup) = match backend {
        "sqlite" => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/bench.db", dir.path().display());
            (url, Cleanup::Sqlite(dir))
        }
        "postgres" => {
            let admin = std::env::var("MAILROOM_TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("mailroom_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin).expect("PostgreSQL for the benchmark");
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let server = admin.rsplit_once('/').unwrap().0.to_owned();
            (
                format!("{server}/{name}"),
                Cleanup::Postgres { admin, name },
            )
        }
        other => panic!("unknown backend {other}"),
    };
    // New customers get their access mail, delivered while the load runs
    // (as .eml files: no SMTP server's speed in the figure).
    let mail_dir = tempfile::tempdir().unwrap();
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: url,
        ..Settings::default()
    };
    settings.mail.eml_dir = mail_dir.path().to_path_buf();
    settings.mail.poll_interval_ms = 200;
    settings.mail.deliver = options.deliver_mail;
    let settings = settings.validated().unwrap();
    let application = Application::build(settings).await.expect("mailroom starts");
    let port = application.port();
    let credentials = application.initial_credentials().cloned().unwrap();
    let handle = application.handle();
    let server = tokio::spawn(application.run_until_stopped());
    let headers = vec![
        (
            "X-CloudPlatform-ApplicationId".to_owned(),
            credentials.app_id.clone(),
        ),
        ("X-CloudPlatform-APIKey".to_owned(), credentials.key.clone()),
        ("X-CloudPlatform-TrackId".to_owned(), "bench".to_owned()),
    ];

    // Seed customers through the API itself.
    let run = "seed";
    let client = reqwest::Client::new();
    let mut external_ids = Vec::with_capacity(options.customers);
    for n in 0..options.customers as u64 {
        let answer: Value = client
            .post(format!("http://127.0.0.1:{port}/api/Accounts/Synchronize"))
            .header("X-CloudPlatform-ApplicationId", &credentials.app_id)
            .header("X-CloudPlatform-APIKey", &credentials.key)
            .json(&seed_account(n, run))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["Code"], 0, "{answer}");
        external_ids.push(answer["Result"].as_str().unwrap().to_owned());
    }

    let by_id: Arc<Vec<Vec<u8>>> = Arc::new(
        external_ids
            .iter()
            .map(|id| {
                request(
                    port,
                    "POST",
                    "/api/Accounts/Exists",
                    &headers,
                    &json!({"ExternalID": id, "ID": "x"}),
                )
            })
            .collect(),
    );
    let wanted = |scenario: &str| {
        options.only.is_empty()
            || options
                .only
                .iter()
                .any(|o| scenario.to_lowercase().contains(o))
    };
    const UPDATE: &str = "Subscriptions/Update (quantity change of an existing subscription)";
    // One subscription per seeded customer for the Update scenario, created
    // through the API too.
    let mut subscription_ids = Vec::new();
    if wanted(UPDATE) {
        for (n, external_id) in external_ids.iter().enumerate() {
            let answer: Value = client
                .post(format!("http://127.0.0.1:{port}/api/Subscriptions/Create"))
                .header("X-CloudPlatform-ApplicationId", &credentials.app_id)
                .header("X-CloudPlatform-APIKey", &credentials.key)
                .json(&subscription_body(external_id, &format!("seed-{n}"), 1))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(answer["Code"], 0, "{answer}");
            subscription_ids.push(answer["Result"].as_str().unwrap().to_owned());
        }
    }
    // One customer with many mailboxes (added through Users/Add, 8 at a
    // time) for the Users/Get/List scenarios.
    const LIST_FIRST: &str = "Users/Get/List (first page of 50, one customer's mailboxes)";
    const LIST_DEEP: &str = "Users/Get/List (page 100 of 50, one customer's mailboxes)";
    const LIST_SEARCH: &str = "Users/Get/List (search one address, one customer's mailboxes)";
    if [LIST_FIRST, LIST_DEEP, LIST_SEARCH]
        .iter()
        .any(|scenario| wanted(scenario))
    {
        let owner = external_ids[0].clone();
        let answer: Value = client
            .post(format!("http://127.0.0.1:{port}/api/Subscriptions/Create"))
            .header("X-CloudPlatform-ApplicationId", &credentials.app_id)
            .header("X-CloudPlatform-APIKey", &credentials.key)
            .json(&subscription_body(
                &owner,
                "mailboxes",
                options.mailboxes as u64,
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["Code"], 0, "{answer}");
        let service = answer["Result"].as_str().unwrap().to_owned();
        let started = Instant::now();
        futures::stream::iter(0..options.mailboxes)
            .map(|n| {
                let client = client.clone();
                let body = mailbox_body(&owner, &format!("user{n}@seed-0.example"), &service);
                let (app_id, key) = (credentials.app_id.clone(), credentials.key.clone());
                async move {
                    let answer: Value = client
                        .post(format!("http://127.0.0.1:{port}/api/Users/Add"))
                        .header("X-CloudPlatform-ApplicationId", app_id)
                        .header("X-CloudPlatform-APIKey", key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    assert_eq!(answer["Code"], 0, "{answer}");
                }
            })
            .buffer_unordered(8)
            .collect::<Vec<()>>()
            .await;
        eprintln!(
            "  {backend:<8} {} mailboxes added through Users/Add in {:.1} s",
            options.mailboxes,
            started.elapsed().as_secs_f64()
        );
    }
    let list_request = |page: u64, search: Option<String>| {
        let mut body = json!({"CustomerID": external_ids[0], "PageID": page, "PageSize": 50});
        if let Some(search) = search {
            body["SearchText"] = json!(search);
        }
        request(port, "POST", "/api/Users/Get/List", &headers, &body)
    };
    let list_first = list_request(1, None);
    let list_deep = list_request(100, None);
    let list_searches: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..options.mailboxes.clamp(1, 1000))
            .map(|n| list_request(1, Some(format!("user{n}@"))))
            .collect(),
    );
    let external_ids = Arc::new(external_ids);
    let subscription_ids = Arc::new(subscription_ids);

    let by_domain: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..options.customers as u64)
            .map(|n| {
                let mut body = seed_account(n, run);
                body["ID"] = json!(format!("new-{n}"));
                request(port, "POST", "/api/Accounts/Exists", &headers, &body)
            })
            .collect(),
    );
    let scenarios: Vec<(&str, &'static [u8], RequestMaker)> = vec![
        ("Exists by ExternalID", b"\"Code\":1", {
            let by_id = Arc::clone(&by_id);
            Arc::new(move |n| by_id[n as usize % by_id.len()].clone())
        }),
        ("Exists by domain (empty ExternalID)", b"\"Code\":1", {
            let by_domain = Arc::clone(&by_domain);
            Arc::new(move |n| by_domain[n as usize % by_domain.len()].clone())
        }),
        (
            "Synchronize (new customers, access mail queued and sent)",
            b"Customer created.",
            {
                let headers = headers.clone();
                Arc::new(move |n| {
                    request(
                        port,
                        "POST",
                        "/api/Accounts/Synchronize",
                        &headers,
                        &seed_account(n, "new"),
                    )
                })
            },
        ),
        (
            "Subscriptions/Create (a new subscription each call, seeded customers)",
            b"Subscription created.",
            {
                let headers = headers.clone();
                let external_ids = Arc::clone(&external_ids);
                Arc::new(move |n| {
                    let customer = &external_ids[n as usize % external_ids.len()];
                    let body = subscription_body(customer, &format!("new-{n}"), 5);
                    request(port, "POST", "/api/Subscriptions/Create", &headers, &body)
                })
            },
        ),
        (UPDATE, b"\"Code\":0", {
            let headers = headers.clone();
            let subscription_ids = Arc::clone(&subscription_ids);
            Arc::new(move |n| {
                // Each visit of a subscription asks another quantity than
                // the last one (2..21, round robin over the subscriptions).
                let count = subscription_ids.len().max(1) as u64;
                let id = subscription_ids
                    .get((n % count) as usize)
                    .map_or("", String::as_str);
                let quantity = 2 + (n / count) % 20;
                let body = json!({"ID": id, "ServiceType": "hosted_mailbox", "Quantity": quantity, "CheckOnly": false});
                request(port, "POST", "/api/Subscriptions/Update", &headers, &body)
            })
        }),
        (LIST_FIRST, b"\"TotalUsers\":", {
            Arc::new(move |_| list_first.clone())
        }),
        (LIST_DEEP, b"\"TotalUsers\":", {
            Arc::new(move |_| list_deep.clone())
        }),
        (LIST_SEARCH, b"\"TotalUsers\":1", {
            Arc::new(move |n| list_searches[n as usize % list_searches.len()].clone())
        }),
    ];
    for (scenario, expect, make) in scenarios {
        if !wanted(scenario) {
            continue;
        }
        let outcome = drive(port, options.connections, options.seconds, expect, make).await;
        eprintln!("  {backend:<8} {scenario}: {} requests", outcome.requests);
        rows.push(Row {
            scenario: scenario.to_owned(),
            backend: backend.to_owned(),
            outcome,
        });
    }
    handle.stop(true).await;
    let _ = server.await;
    let mails = std::fs::read_dir(mail_dir.path()).map_or(0, |dir| dir.count());
    eprintln!("  {backend:<8} access mails written while measuring and after: {mails}");
    drop(cleanup);
}

enum Cleanup {
    #[allow(dead_code)]
    Sqlite(tempfile::TempDir),
    Postgres {
        admin: String,
        name: String,
    },
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Self::Postgres { admin, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

fn main() {
    let options = options();
    // The servers' own worker threads do the serving; this runtime hosts
    // the load generator and the server futures.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut rows = Vec::new();

        let bare = HttpServer::new(|| App::new().route("/bare", web::post().to(bare_handler)))
            .bind(("127.0.0.1", 0))
            .unwrap();
        let bare_port = bare.addrs()[0].port();
        let bare = bare.run();
        let bare_handle = bare.handle();
        let bare_task = tokio::spawn(bare);
        let body = seed_account(1, "bare");
        let bare_request = request(bare_port, "POST", "/bare", &[], &body);
        let outcome = drive(
            bare_port,
            options.connections,
            options.seconds,
            b"\"Name\"",
            Arc::new(move |_| bare_request.clone()),
        )
        .await;
        eprintln!("  bare actix-web: {} requests", outcome.requests);
        rows.push(Row {
            scenario: "Bare actix-web handler (parse and echo JSON)".into(),
            backend: "-".into(),
            outcome,
        });
        bare_handle.stop(true).await;
        let _ = bare_task.await;

        for backend in &options.backends {
            run_backend(backend, &options, &mut rows).await;
        }

        let bare_rate = rows[0].outcome.requests as f64 / rows[0].outcome.elapsed.as_secs_f64();
        println!(
            "\n{} connections, {} s per scenario after a 1 s warm-up; {} seeded customers.\n",
            options.connections, options.seconds, options.customers
        );
        println!("| Scenario | Backend | req/s | p50 ms | p99 ms | vs bare | failed |");
        println!("|---|---|---:|---:|---:|---:|---:|");
        for row in &rows {
            let rate = row.outcome.requests as f64 / row.outcome.elapsed.as_secs_f64();
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.0}% | {} |",
                row.scenario,
                row.backend,
                rate,
                row.outcome.latency.value_at_quantile(0.50) as f64 / 1000.0,
                row.outcome.latency.value_at_quantile(0.99) as f64 / 1000.0,
                100.0 * rate / bare_rate,
                row.outcome.failures,
            );
        }
    });
}
