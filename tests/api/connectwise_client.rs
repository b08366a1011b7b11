//! The ConnectWise client the quantity sync uses, against the fake
//! ConnectWise: the exact bodies of its writes (quantities only), a create
//! never repeated after an answer that may have acted, and additions read
//! across pages. No database is involved.

use mailroom::integrations::connectwise::client::ConnectWiseClient;
use mailroom::integrations::{IntegrationError, SettingValues};
use serde_json::json;

use crate::helpers::fake_connectwise::{error_body, FakeConnectWise};

fn client_of(fake: &FakeConnectWise) -> ConnectWiseClient {
    let settings = fake.settings();
    let mut values = SettingValues::default();
    for (key, value) in settings.as_object().unwrap() {
        let value = value.as_str().unwrap().to_owned();
        if key == "private_key" {
            values.secrets.insert(key.clone(), value);
        } else {
            values.plain.insert(key.clone(), value);
        }
    }
    ConnectWiseClient::from_settings(&values).expect("complete settings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_carry_quantities_only_and_a_create_is_not_repeated() {
    let fake = FakeConnectWise::start().await;
    let company = fake.add_company("Acme Ltd");
    let agreement = fake.add_agreement(company, "Acme email");
    let filter = fake.add_catalog_item("MR-CF", "CloudFilter seat");
    let archive = fake.add_catalog_item("MR-AR", "Archive seat");
    let addition = fake.add_addition(agreement, filter, 3.0);
    let client = client_of(&fake);

    let patched = client
        .set_addition_quantity(agreement, addition, 12)
        .await
        .unwrap();
    assert_eq!(patched.quantity, 12.0);
    let created = client.create_addition(agreement, archive, 4).await.unwrap();
    assert_eq!(created.product.id, archive);
    let writes = fake.writes();
    assert_eq!(writes.len(), 2);
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        format!("finance/agreements/{agreement}/additions/{addition}")
    );
    assert_eq!(
        writes[0].json(),
        json!([{"op": "replace", "path": "quantity", "value": 12}])
    );
    assert_eq!(writes[1].method, "POST");
    assert_eq!(
        writes[1].json(),
        json!({"product": {"id": archive}, "quantity": 4, "billCustomer": "Billable"})
    );
    for write in &writes {
        let body = write.body.to_ascii_lowercase();
        for field in ["cost", "price", "description"] {
            assert!(!body.contains(field), "{field} sent in {}", write.body);
        }
    }
    // The partner's price and cost are untouched.
    let stored = fake.additions(agreement);
    assert_eq!((stored[0].unit_price, stored[0].unit_cost), (4.5, 2.25));

    // A 500 after a create may have created it: not sent again.
    fake.clear_requests();
    fake.fail_next(500, error_body("ServerError", "try later"));
    let failed = client.create_addition(agreement, archive, 4).await;
    assert!(
        matches!(failed, Err(IntegrationError::Unavailable { .. })),
        "{failed:?}"
    );
    assert_eq!(fake.writes().len(), 1);
    // A 429 did nothing: sent again once the wait is over.
    fake.clear_requests();
    fake.rate_limit_next(1);
    client.create_addition(agreement, filter, 1).await.unwrap();
    assert_eq!(fake.writes().len(), 2);
    assert_eq!(fake.additions(agreement).len(), 3);
    // A PATCH is safe to repeat after a 5xx.
    fake.clear_requests();
    fake.fail_next(503, error_body("ServerError", "busy"));
    client
        .set_addition_quantity(agreement, addition, 13)
        .await
        .unwrap();
    assert_eq!(fake.writes().len(), 2);

    // A refusal carries ConnectWise's message and field.
    let refused = client.create_addition(agreement, 999_999, 1).await;
    match refused {
        Err(IntegrationError::Refused {
            status, message, ..
        }) => {
            assert_eq!(status, 400);
            assert_eq!(
                message,
                "400 addition object is invalid (product: product not found)"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn additions_are_read_across_pages() {
    let fake = FakeConnectWise::start().await;
    let company = fake.add_company("Big Co");
    let agreement = fake.add_agreement(company, "Big email");
    let item = fake.add_catalog_item("MR-1", "Mailbox");
    for n in 0..1_203 {
        fake.add_addition(agreement, item, f64::from(n));
    }
    let client = client_of(&fake);
    let started = std::time::Instant::now();
    let additions = client.additions(agreement).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(additions.len(), 1_203);
    assert_eq!(additions[1_202].quantity, 1_202.0);
    let pages: Vec<Option<String>> = fake
        .requests()
        .iter()
        .map(|call| call.query_param("page"))
        .collect();
    assert_eq!(pages, [None, Some("2".to_owned())], "two pages of 1000");
    assert!(elapsed.as_secs() < 10, "{elapsed:?}");
}
