//! Accounts/SyncOptions, Synchronize, Exists and Delete: every result-code
//! path, on both backends.

use std::time::{Duration, Instant};

use mailroom::domain::customer::CustomerStatus;
use mailroom::domain::password;
use mailroom::domain::sync_options::{
    DataType, OptionKind, PredefinedValue, SyncOptionDefinition, ValueFormat,
};
use mailroom::store::{customers, sync_options};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{account, spawn_app, spawn_app_with, Backend, TestApp};

/// The contract page's Synchronize example, with a mail domain added.
fn seed_payload() -> Value {
    json!({
        "ID": "3000",
        "ExternalID": "",
        "ResellerID": "",
        "ResellerExternalID": "",
        "Name": "Direct Customer Example",
        "Code": "DIRECT-Example",
        "Phone": "323-999-4500",
        "Fax": "323-999-5500",
        "WebSite": "https://www.direct.com",
        "Email": "billing@direct.com",
        "Description": "A direct customer account example",
        "SyncOptions": {"username": "billing@direct.com", "role": "1", "domain": "direct.com"},
        "ContactDetails": {
            "ID": "15200",
            "FirstName": "User",
            "LastName": "Direct Customer",
            "Phone": "323-999-4505",
            "Fax": "323-999-5505",
            "Email": "user@direct.com"
        },
        "Address": {
            "Address1": "123 Main Street",
            "Address2": "Unit 12",
            "City": "Chicago",
            "PostCode": "94903",
            "State": {"Code": "CA", "Name": "California"},
            "Country": {"Code": "US", "Name": "United States"}
        },
        "ExtraDetails": {}
    })
}

async fn sync_options_are_declared(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app.get("Accounts/SyncOptions").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.code(), 0);
    let fields = answer.body["Fields"].as_array().unwrap();
    let username = fields
        .iter()
        .find(|f| f["ID"] == "username")
        .expect("username option");
    // Exactly the definition the contract page asks for.
    assert_eq!(
        username["Definition"],
        json!({"ID": "username", "SortOrder": 0, "Name": "Username", "Description": null,
               "Kind": "SimpleValue", "DataType": "Text", "IsRequired": true,
               "PredefinedValues": [], "IsReadOnly": false, "AvailableToStorefront": false})
    );
    let domain = fields
        .iter()
        .find(|f| f["ID"] == "domain")
        .expect("domain option");
    assert_eq!(domain["Definition"]["DataType"], "Text");
    assert_eq!(domain["Definition"]["IsRequired"], true);
    assert_eq!(domain["Definition"]["AvailableToStorefront"], true);
}

async fn seed_payload_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&seed_payload()).await;
    let external_id = created.result().to_owned();
    assert!(external_id.starts_with("cus_"), "{external_id}");
    assert_eq!(created.message(), "Customer created.");
    assert_eq!(created.body["SendNotification"], false);
    assert!(created.body.get("GeneratedPassword").is_none());
    assert_eq!(
        created.body["AccountExtraInfo"],
        json!({"customer_id": external_id, "domain": "direct.com", "username": "billing@direct.com"})
    );

    let lookup = external_id.clone();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &lookup))
        .await
        .expect("stored");
    let customer = &details.customer;
    assert_eq!(customer.bss_account_id.as_deref(), Some("3000"));
    assert_eq!(customer.name, "Direct Customer Example");
    assert_eq!(customer.code.as_deref(), Some("DIRECT-Example"));
    assert_eq!(customer.phone.as_deref(), Some("323-999-4500"));
    assert_eq!(customer.fax.as_deref(), Some("323-999-5500"));
    assert_eq!(customer.website.as_deref(), Some("https://www.direct.com"));
    assert_eq!(customer.email.as_deref(), Some("billing@direct.com"));
    assert_eq!(
        customer.description.as_deref(),
        Some("A direct customer account example")
    );
    assert_eq!(customer.status.as_str(), "active");
    let contact = details.contact.expect("contact stored");
    assert_eq!(contact.bss_contact_id.as_deref(), Some("15200"));
    assert_eq!(contact.first_name.as_deref(), Some("User"));
    assert_eq!(contact.last_name.as_deref(), Some("Direct Customer"));
    assert_eq!(contact.email.as_deref(), Some("user@direct.com"));
    let address = details.address.expect("address stored");
    assert_eq!(address.address1.as_deref(), Some("123 Main Street"));
    assert_eq!(address.city.as_deref(), Some("Chicago"));
    assert_eq!(address.state_code.as_deref(), Some("CA"));
    assert_eq!(address.country_name.as_deref(), Some("United States"));
    assert_eq!(
        details.options,
        vec![
            ("domain".to_owned(), "direct.com".to_owned()),
            ("username".to_owned(), "billing@direct.com".to_owned())
        ]
    );

    let mut by_id = seed_payload();
    by_id["ExternalID"] = json!(external_id);
    let exists = app.post("Accounts/Exists", &by_id).await;
    assert_eq!((exists.code(), exists.result()), (1, external_id.as_str()));
}

async fn retries_update_and_keep_the_external_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.synchronize(&account("100", "retry.example")).await;
    let again = app.synchronize(&account("100", "retry.example")).await;
    assert_eq!(again.result(), first.result());
    assert_eq!(again.message(), "Customer updated.");
    assert_eq!(
        again.body["AccountExtraInfo"],
        first.body["AccountExtraInfo"]
    );

    // A later call with the ExternalID updates the profile in place.
    let mut renamed = account("100", "retry.example");
    renamed["ExternalID"] = json!(first.result());
    renamed["Name"] = json!("Renamed Ltd");
    renamed["Address"] = json!({"City": "Athens"});
    let updated = app.synchronize(&renamed).await;
    assert_eq!(updated.result(), first.result());
    let external_id = first.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert_eq!(details.customer.name, "Renamed Ltd");
    assert_eq!(details.address.unwrap().city.as_deref(), Some("Athens"));
    assert_eq!(app.with_store(customers::count).await, 1);
}

async fn extra_details_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("200", "extra.example")).await;
    let info = created.body["AccountExtraInfo"].clone();
    assert_eq!(info["username"], "admin@extra.example");

    // The BSS saves AccountExtraInfo and sends it back as ExtraDetails,
    // possibly with an empty ExternalID: the customer is still found, by
    // ExtraDetails.customer_id alone. (The ID below names no customer, and
    // the Exists bodies carry none of its identifying values.)
    let mut later = account("200-renumbered", "extra.example");
    later["ExtraDetails"] = json!({"customer_id": info["customer_id"], "username": info["username"], "bss_note": "kept"});
    for body in [
        json!({"ExtraDetails": later["ExtraDetails"]}),
        json!({"ID": "200-renumbered", "ExternalID": "", "ExtraDetails": later["ExtraDetails"]}),
    ] {
        let exists = app.post("Accounts/Exists", &body).await;
        assert_eq!(
            (exists.code(), exists.result()),
            (1, created.result()),
            "{body}"
        );
    }
    let mut unknown_id = later["ExtraDetails"].clone();
    unknown_id["customer_id"] = json!("cus_nobody");
    let exists = app
        .post("Accounts/Exists", &json!({"ExtraDetails": unknown_id}))
        .await;
    assert_eq!(exists.code(), 0, "{:?}", exists.body);
    // Synchronize updates that customer (without the fallback, the ID
    // would make a new customer, refused for its taken domain).
    let updated = app.synchronize(&later).await;
    assert_eq!(
        (updated.result(), updated.message()),
        (created.result(), "Customer updated.")
    );
    let external_id = created.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    let stored: Value = serde_json::from_str(&details.customer.extra_details).unwrap();
    assert_eq!(stored["bss_note"], "kept");

    let deleted = app
        .post(
            "Accounts/Delete",
            &json!({"ExternalID": "", "ExtraDetails": later["ExtraDetails"]}),
        )
        .await;
    assert_eq!(
        (deleted.code(), deleted.message(), deleted.result()),
        (0, "Customer deleted.", created.result())
    );
    assert_eq!(app.with_store(customers::count).await, 1);
}

async fn username_falls_back_to_emails(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut by_account_email = account("300", "fallback.example");
    by_account_email["SyncOptions"] = json!({"domain": "fallback.example"});
    let answer = app.synchronize(&by_account_email).await;
    assert_eq!(
        answer.body["AccountExtraInfo"]["username"],
        "admin@fallback.example"
    );

    let mut by_contact_email = account("301", "fallback2.example");
    by_contact_email["Email"] = json!("");
    let answer = app.synchronize(&by_contact_email).await;
    assert_eq!(
        answer.body["AccountExtraInfo"]["username"],
        "pat@fallback2.example"
    );

    let mut no_email = account("302", "fallback3.example");
    no_email["Email"] = Value::Null;
    no_email["ContactDetails"] = Value::Null;
    let answer = app.post("Accounts/Synchronize", &no_email).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -80030));
    assert!(
        answer.message().contains("email address"),
        "{}",
        answer.message()
    );
}

async fn storefront_validation_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let cases: Vec<(&str, Value, i64, &str)> = vec![
        ("no name", json!({"ID": "1", "SyncOptions": {"domain": "a.example"}, "Email": "a@a.example"}), -80001,
            "Please enter the name of your company or account."),
        ("long name", json!({"ID": "1", "Name": "n".repeat(201), "SyncOptions": {"domain": "a.example"}, "Email": "a@a.example"}), -80002,
            "The account name is too long: use at most 200 characters."),
        ("control characters", json!({"ID": "1", "Name": "Bad\u{7}Bell", "SyncOptions": {"domain": "a.example"}, "Email": "a@a.example"}), -80003,
            "The account name contains characters that are not allowed."),
        ("account email", json!({"ID": "1", "Name": "N", "Email": "nope", "SyncOptions": {"domain": "a.example", "username": "u1"}}), -80004,
            "Please enter a valid email address for the account."),
        ("contact email", json!({"ID": "1", "Name": "N", "Email": "a@a.example", "ContactDetails": {"Email": "nope"}, "SyncOptions": {"domain": "a.example"}}), -80005,
            "Please enter a valid email address for the contact person."),
        ("no domain", json!({"ID": "1", "Name": "N", "Email": "a@a.example"}), -80010,
            "Please enter your mail domain, for example example.com."),
        ("bad domain", json!({"ID": "1", "Name": "N", "Email": "a@a.example", "SyncOptions": {"domain": "not a domain"}}), -80020,
            "\"not a domain\" is not a valid domain name. Please enter a domain such as example.com."),
        ("long option", json!({"ID": "1", "Name": "N", "Email": "a@a.example", "SyncOptions": {"domain": format!("{}.com", "a".repeat(300))}}), -80015,
            "Mail domain is too long: use at most 255 characters."),
        ("bad username", json!({"ID": "1", "Name": "N", "Email": "a@a.example", "SyncOptions": {"domain": "a.example", "username": "two words"}}), -80031,
            "\"two words\" cannot be used as a username. Use letters, digits and . _ - + @ only."),
    ];
    for (case, body, code, message) in cases {
        let answer = app.post("Accounts/Synchronize", &body).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{case}: storefront errors travel as HTTP 200"
        );
        assert_eq!(answer.code(), code, "{case}: {:?}", answer.body);
        assert_eq!(answer.message(), message, "{case}");
    }
    // Several problems are reported together, under the first code.
    let answer = app
        .post("Accounts/Synchronize", &json!({"ID": "1", "Name": "x".repeat(300), "Email": "bad", "SyncOptions": {"domain": "a.example", "username": "u"}}))
        .await;
    assert_eq!(answer.code(), -80002);
    assert!(
        answer.message().contains("too long") && answer.message().contains("valid email"),
        "{}",
        answer.message()
    );
    assert_eq!(app.with_store(customers::count).await, 0, "nothing stored");
}

fn option(id: &str, kind: OptionKind, data_type: DataType) -> SyncOptionDefinition {
    SyncOptionDefinition {
        id: id.into(),
        sort_order: 5,
        name: id.to_uppercase(),
        description: None,
        kind,
        data_type,
        is_required: false,
        predefined_values: vec![],
        is_read_only: false,
        available_to_storefront: true,
        identifies_customer: false,
        value_format: ValueFormat::Text,
    }
}

async fn operator_defined_options(backend: Backend) {
    // No caching, so the definitions saved below are read at once.
    let app = spawn_app_with(backend, |settings| settings.cache_ttl_ms = 0).await;
    let mut plan = option("plan", OptionKind::List, DataType::Text);
    plan.predefined_values = vec![
        PredefinedValue {
            id: "1".into(),
            sort_order: 0,
            name: "Basic".into(),
            description: None,
            is_default: true,
        },
        PredefinedValue {
            id: "2".into(),
            sort_order: 1,
            name: "Pro".into(),
            description: None,
            is_default: false,
        },
    ];
    let seats = option("seats", OptionKind::SimpleValue, DataType::Number);
    let start = option("start", OptionKind::SimpleValue, DataType::Date);
    let archive = option("archive", OptionKind::Boolean, DataType::Text);
    let mut tenant = option("tenant", OptionKind::SimpleValue, DataType::Text);
    tenant.identifies_customer = true;
    tenant.is_required = true;
    for definition in [plan, seats, start, archive, tenant] {
        let outcome = app
            .with_store(move |conn| {
                sync_options::save_definition_checked(
                    conn,
                    &definition,
                    sync_options::DefinitionEdit::Create,
                )
            })
            .await;
        assert!(matches!(
            outcome,
            sync_options::SaveDefinitionOutcome::Saved
        ));
    }
    let fields = app.get("Accounts/SyncOptions").await.body["Fields"].clone();
    let plan = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["ID"] == "plan")
        .unwrap();
    assert_eq!(plan["Definition"]["Kind"], "List");
    assert_eq!(
        plan["Definition"]["PredefinedValues"][1],
        json!({"ID": "2", "SortOrder": 1, "Name": "Pro", "Description": null, "IsDefault": false})
    );

    let base = |extra: Value| {
        let mut body = account("400", "options.example");
        let options = body["SyncOptions"].as_object_mut().unwrap();
        options.insert("tenant".into(), json!("Acme-EU"));
        for (key, value) in extra.as_object().unwrap() {
            options.insert(key.clone(), value.clone());
        }
        body
    };
    for (extra, code) in [
        (json!({"plan": "3"}), -80011),
        (json!({"seats": "many"}), -80012),
        (json!({"start": "yesterday"}), -80013),
        (json!({"archive": "maybe"}), -80014),
    ] {
        let answer = app.post("Accounts/Synchronize", &base(extra.clone())).await;
        assert_eq!(answer.code(), code, "{extra}: {:?}", answer.body);
    }
    let mut missing = base(json!({}));
    missing["SyncOptions"]
        .as_object_mut()
        .unwrap()
        .remove("tenant");
    let answer = app.post("Accounts/Synchronize", &missing).await;
    assert_eq!(
        (answer.code(), answer.message()),
        (-80010, "Please fill in TENANT.")
    );

    let created = app
        .synchronize(&base(
            json!({"plan": 2, "seats": 10, "start": "2026-12-01", "archive": true}),
        ))
        .await;
    assert_eq!(created.body["AccountExtraInfo"]["plan"], "2");
    assert_eq!(created.body["AccountExtraInfo"]["seats"], "10");
    // The custom identity is unique too, whatever its case.
    let mut other = account("401", "other-options.example");
    other["SyncOptions"]["tenant"] = json!("ACME-eu");
    let answer = app.post("Accounts/Synchronize", &other).await;
    assert_eq!(
        (answer.code(), answer.message()),
        (
            -80040,
            "TENANT \"ACME-eu\" is already registered with another account."
        )
    );
}

async fn identities_are_unique_across_applications(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.synchronize(&account("500", "taken.example")).await;

    let mut same_domain = account("501", "TAKEN.example.");
    same_domain["Email"] = json!("owner@elsewhere.example");
    same_domain["ContactDetails"]["Email"] = json!("pat@elsewhere.example");
    same_domain["SyncOptions"]["username"] = json!("someone-else");
    let answer = app.post("Accounts/Synchronize", &same_domain).await;
    assert_eq!(answer.code(), -80021);
    assert_eq!(
        answer.message(),
        "The domain taken.example is already registered with another account. If it is yours, please contact our support team."
    );

    let mut same_username = account("502", "free.example");
    same_username["SyncOptions"]["username"] = json!("Admin@Taken.Example");
    let answer = app.post("Accounts/Synchronize", &same_username).await;
    assert_eq!(answer.code(), -80032);

    // A second BSS application (another distributor) cannot take it either.
    let second = app.second_application("distributor-b").await;
    let answer = app
        .post_as(
            &second,
            "Accounts/Synchronize",
            &account("500", "taken.example"),
        )
        .await;
    assert_eq!(
        answer.code(),
        -80032,
        "the username (from the same email) is checked first"
    );
    let mut other_email = account("500", "taken.example");
    other_email["SyncOptions"]["username"] = json!("b-admin");
    let answer = app
        .post_as(&second, "Accounts/Synchronize", &other_email)
        .await;
    assert_eq!(answer.code(), -80021);
    let answer = app
        .post_as(
            &second,
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "taken.example"}}),
        )
        .await;
    assert_eq!(answer.code(), 2);
    assert_eq!(
        answer.message(),
        "The account exists but belongs to a customer of another BSS application."
    );
    assert_eq!(
        answer.result_opt(),
        None,
        "another application's ExternalID is not revealed"
    );
    let answer = app
        .post_as(
            &second,
            "Accounts/Exists",
            &json!({"ExternalID": first.result()}),
        )
        .await;
    assert_eq!(answer.code(), 2);
    // Same BSS account id in the second application is another customer.
    let own = app
        .post_as(
            &second,
            "Accounts/Synchronize",
            &account("500", "second.example"),
        )
        .await;
    assert_eq!(own.code(), 0);
    assert_ne!(own.result(), first.result());
    assert_eq!(app.with_store(customers::count).await, 2);
}

async fn exists_result_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("600", "exists.example")).await;
    let external_id = created.result().to_owned();

    let by_domain = app
        .post(
            "Accounts/Exists",
            &json!({"ID": "new-bss-account", "SyncOptions": {"domain": "Exists.Example"}}),
        )
        .await;
    assert_eq!(
        (by_domain.status, by_domain.code(), by_domain.result()),
        (StatusCode::OK, 1, external_id.as_str())
    );
    let by_username = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"username": "ADMIN@exists.example"}}),
        )
        .await;
    assert_eq!(
        (by_username.code(), by_username.result()),
        (1, external_id.as_str())
    );
    // The account email is not a username: the storefront user's email may
    // be anyone's, and only the identifying options the call sends count.
    let by_email = app
        .post("Accounts/Exists", &json!({"Email": "ADMIN@exists.example"}))
        .await;
    assert_eq!(
        (by_email.code(), by_email.result_opt()),
        (0, None),
        "{}",
        by_email.body
    );
    let by_bss_id = app.post("Accounts/Exists", &json!({"ID": "600"})).await;
    assert_eq!(
        (by_bss_id.code(), by_bss_id.result()),
        (1, external_id.as_str())
    );

    let unknown = app
        .post(
            "Accounts/Exists",
            &json!({"ID": "601", "SyncOptions": {"domain": "nobody.example"}}),
        )
        .await;
    assert_eq!(
        (unknown.code(), unknown.message(), unknown.result_opt()),
        (0, "The account does not exist.", None)
    );
    let unknown_id = app
        .post(
            "Accounts/Exists",
            &json!({"ExternalID": "cus_doesnotexist"}),
        )
        .await;
    assert_eq!(unknown_id.code(), 0);
    let invalid_domain = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "not a domain"}}),
        )
        .await;
    assert_eq!(invalid_domain.code(), 0);

    // Another reseller's customer.
    let other_reseller = app
        .post(
            "Accounts/Exists",
            &json!({"ResellerID": "R9", "SyncOptions": {"domain": "exists.example"}}),
        )
        .await;
    assert_eq!(
        (
            other_reseller.code(),
            other_reseller.message(),
            other_reseller.result_opt()
        ),
        (
            2,
            "The account exists but belongs to a customer of another reseller.",
            None
        )
    );

    // Domain and username pointing at two customers.
    app.synchronize(&account("602", "second-exists.example"))
        .await;
    let ambiguous = app
        .post("Accounts/Exists", &json!({"SyncOptions": {"domain": "exists.example", "username": "admin@second-exists.example"}}))
        .await;
    assert_eq!(
        (ambiguous.code(), ambiguous.message()),
        (
            2,
            "The account's identifying sync options belong to different customers."
        )
    );

    let target = external_id.clone();
    app.with_store(move |conn| customers::set_status(conn, &target, CustomerStatus::Suspended))
        .await;
    let suspended = app
        .post("Accounts/Exists", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(
        (suspended.code(), suspended.message()),
        (2, "The account exists but is suspended.")
    );

    app.with_store({
        let target = external_id.clone();
        move |conn| customers::set_status(conn, &target, CustomerStatus::Active)
    })
    .await;
    let deleted = app
        .post("Accounts/Delete", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(deleted.code(), 0);
    // Delete released the domain: by it, nobody exists any more; by its
    // ExternalID, the tombstone answers why it cannot be linked.
    let gone = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "exists.example"}}),
        )
        .await;
    assert_eq!(
        (gone.code(), gone.message()),
        (0, "The account does not exist.")
    );
    let tombstone = app
        .post("Accounts/Exists", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(
        (tombstone.code(), tombstone.message()),
        (2, "The account exists but was deleted.")
    );
}

async fn delete_keeps_data_and_is_idempotent(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("700", "delete.example")).await;
    let external_id = created.result().to_owned();

    let first = app
        .post(
            "Accounts/Delete",
            &json!({"ExternalID": external_id, "ExtraDetails": {}}),
        )
        .await;
    assert_eq!(
        (first.status, first.code(), first.message()),
        (StatusCode::OK, 0, "Customer deleted.")
    );
    let second = app
        .post("Accounts/Delete", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(
        (second.code(), second.message()),
        (0, "The customer was already deleted.")
    );

    let target = external_id.clone();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &target))
        .await
        .unwrap();
    assert_eq!(details.customer.status.as_str(), "deleted");
    assert!(details.customer.deleted_at.is_some());
    assert!(details
        .customer
        .deleted_by
        .as_deref()
        .unwrap()
        .starts_with("application default (TrackId test-"));
    assert_eq!(
        details.customer.name, "Customer 700",
        "the tombstone keeps the data"
    );

    // A deleted customer is not synchronized back to life; its domain is
    // free for a new account.
    let mut again = account("700", "delete.example");
    again["ExternalID"] = json!(external_id);
    let answer = app.post("Accounts/Synchronize", &again).await;
    assert_eq!(answer.code(), -8);
    let answer = app
        .post("Accounts/Synchronize", &account("700", "delete.example"))
        .await;
    assert_eq!(answer.code(), -8);
    let mut new_account = account("701", "delete.example");
    new_account["SyncOptions"]["username"] = json!("new-owner");
    let answer = app.post("Accounts/Synchronize", &new_account).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert_ne!(answer.result(), external_id);

    let unknown = app
        .post("Accounts/Delete", &json!({"ExternalID": "cus_unknown"}))
        .await;
    assert_eq!(
        (unknown.status, unknown.code(), unknown.result_opt()),
        (StatusCode::OK, 0, None)
    );
    let missing = app
        .post("Accounts/Delete", &json!({"ExternalID": ""}))
        .await;
    assert_eq!((missing.status, missing.code()), (StatusCode::OK, -2));
    assert_eq!(
        missing.message(),
        "ExternalID or ID is required to delete a customer."
    );
    // Another application cannot delete it: for that application there is
    // nothing to delete.
    let second = app.second_application("other").await;
    let created = app.synchronize(&account("702", "keep.example")).await;
    let kept = created.result().to_owned();
    let answer = app
        .post_as(&second, "Accounts/Delete", &json!({"ExternalID": kept}))
        .await;
    assert_eq!((answer.code(), answer.result_opt()), (0, None));
    let details = app
        .with_store(move |conn| customers::load_details(conn, &kept))
        .await
        .unwrap();
    assert_eq!(details.customer.status.as_str(), "active");
}

async fn unknown_external_id_on_synchronize(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("800", "unknown.example");
    body["ExternalID"] = json!("cus_nothere");
    let answer = app.post("Accounts/Synchronize", &body).await;
    // Not a refusal: the call falls back to its BSS account id, which names
    // no customer yet, so the customer is created under a valid ExternalID.
    assert_eq!((answer.code(), answer.message()), (0, "Customer created."));
    assert_ne!(answer.result(), "cus_nothere");
    assert!(answer.result().starts_with("cus_"));
}

async fn resellers_are_linked(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut reseller = account("R1", "reseller.example");
    reseller["ResellerID"] = json!("R1");
    let reseller_answer = app.synchronize(&reseller).await;

    let mut end_customer = account("E1", "end.example");
    end_customer["ResellerID"] = json!("R1");
    end_customer["ResellerExternalID"] = json!(reseller_answer.result());
    let end_answer = app.synchronize(&end_customer).await;

    let external_id = end_answer.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    let reseller_id = reseller_answer.result().to_owned();
    let reseller_row = app
        .with_store(move |conn| customers::load_details(conn, &reseller_id))
        .await
        .unwrap();
    assert_eq!(
        details.customer.reseller_customer_id,
        Some(reseller_row.customer.id)
    );
    assert_eq!(details.customer.reseller_bss_id.as_deref(), Some("R1"));
    assert_eq!(
        reseller_row.customer.reseller_customer_id, None,
        "a reseller is not its own reseller"
    );

    let same_reseller = app
        .post(
            "Accounts/Exists",
            &json!({"ResellerID": "R1", "SyncOptions": {"domain": "end.example"}}),
        )
        .await;
    assert_eq!(
        (same_reseller.code(), same_reseller.result()),
        (1, end_answer.result())
    );
    let direct = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "end.example"}}),
        )
        .await;
    assert_eq!(
        (direct.code(), direct.message()),
        (
            2,
            "The account exists but belongs to a customer of another reseller."
        )
    );
}

async fn bss_notification_mode_returns_a_password_once(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.notification_mode = mailroom::config::NotificationMode::Bss;
    })
    .await;
    let created = app.synchronize(&account("900", "bssmode.example")).await;
    assert_eq!(created.body["SendNotification"], true);
    let generated = created.body["GeneratedPassword"]
        .as_str()
        .expect("a password")
        .to_owned();
    assert!(generated.len() >= 16);

    let external_id = created.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    let stored = details.customer.password_hash.expect("a hash is stored");
    assert!(stored.starts_with("$argon2id$"));
    assert!(!stored.contains(&generated));
    assert!(password::verify(&generated, &stored));

    // A retry without our ExternalID (the first answer may have been lost)
    // gets a fresh password, never the first one again.
    let retry = app.synchronize(&account("900", "bssmode.example")).await;
    assert_eq!(retry.result(), created.result());
    assert_eq!(retry.body["SendNotification"], true);
    let fresh = retry.body["GeneratedPassword"]
        .as_str()
        .expect("a fresh password");
    assert_ne!(fresh, generated, "never returned twice");
    // With our ExternalID the BSS has read an answer: no password at all.
    let mut update = account("900", "bssmode.example");
    update["ExternalID"] = json!(created.result());
    let answer = app.synchronize(&update).await;
    assert_eq!(answer.body["SendNotification"], false);
    assert!(
        answer.body.get("GeneratedPassword").is_none(),
        "{}",
        answer.body
    );
}

async fn routes_and_fields_are_case_insensitive(backend: Backend) {
    let app = spawn_app(backend).await;
    let lower = TestApp::send(
        app.request(reqwest::Method::POST, "/API/accounts/SYNCHRONIZE")
            .json(&json!({
                "id": "1000", "externalid": "", "NAME": "Lower Case Ltd", "eMail": "x@case.example",
                "syncoptions": {"DOMAIN": "case.example"},
                "contactdetails": {"firstname": "Lo", "LASTNAME": "Wer"},
                "address": {"city": "Patras", "country": {"code": "GR", "NAME": "Greece"}}
            })),
    )
    .await;
    assert_eq!(
        (lower.status, lower.code()),
        (StatusCode::OK, 0),
        "{:?}",
        lower.body
    );
    let external_id = lower.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert_eq!(details.customer.name, "Lower Case Ltd");
    assert_eq!(details.contact.unwrap().last_name.as_deref(), Some("Wer"));
    assert_eq!(
        details.address.unwrap().country_name.as_deref(),
        Some("Greece")
    );

    let options =
        TestApp::send(app.request(reqwest::Method::GET, "/api/ACCOUNTS/syncoptions")).await;
    assert_eq!(options.code(), 0);
    let exists = TestApp::send(
        app.request(reqwest::Method::POST, "/Api/Accounts/Exists")
            .json(&json!({"EXTERNALID": lower.result()})),
    )
    .await;
    assert_eq!((exists.code(), exists.result()), (1, lower.result()));
}

async fn unknown_fields_are_ignored(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("1100", "unknown-fields.example");
    body["IsTest"] = json!(true);
    body["Language"] = json!("el-GR");
    body["RandomPassword"] = json!(false);
    body["SomethingNew"] = json!({"nested": [1, 2, {"deep": null}]});
    body["ContactDetails"]["MiddleName"] = json!("Q");
    let answer = app.synchronize(&body).await;
    let external_id = answer.result().to_owned();
    let details = app
        .with_store(move |conn| customers::load_details(conn, &external_id))
        .await
        .unwrap();
    assert!(details.customer.is_test);
}

async fn unsupported_actions_answer_minus_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let answer = app.post("Reports/Usage", &json!({"CheckOnly": true})).await;
    assert_eq!((answer.status, answer.code()), (StatusCode::OK, -1));
    assert_eq!(
        answer.message(),
        "Reports/Usage functionality is not supported"
    );
}

/// The stored row of a customer.
async fn stored(app: &TestApp, external_id: &str) -> customers::CustomerDetails {
    let lookup = external_id.to_owned();
    app.with_store(move |conn| customers::load_details(conn, &lookup))
        .await
        .unwrap_or_else(|| panic!("customer {external_id} is stored"))
}

async fn an_identical_retry_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.synchronize(&seed_payload()).await;
    let external_id = first.result().to_owned();
    let before = stored(&app, &external_id).await.customer;

    let retry = app.synchronize(&seed_payload()).await;
    assert_eq!(
        (retry.result(), retry.message()),
        (external_id.as_str(), "Customer updated.")
    );
    assert_eq!(
        retry.body["AccountExtraInfo"],
        first.body["AccountExtraInfo"]
    );
    let after = stored(&app, &external_id).await.customer;
    assert_eq!(
        after.updated_at, before.updated_at,
        "an identical retry writes nothing"
    );
    assert_eq!(after.sync_fingerprint, before.sync_fingerprint);

    // A call that changes something does write (so the check above could
    // see a write), and repeating that one writes nothing again.
    let mut changed = seed_payload();
    changed["Phone"] = json!("323-999-4501");
    app.synchronize(&changed).await;
    let updated = stored(&app, &external_id).await.customer;
    assert!(
        updated.updated_at > before.updated_at,
        "{:?} after {:?}",
        updated.updated_at,
        before.updated_at
    );
    assert_eq!(updated.phone.as_deref(), Some("323-999-4501"));
    app.synchronize(&changed).await;
    assert_eq!(
        stored(&app, &external_id).await.customer.updated_at,
        updated.updated_at
    );
    assert_eq!(app.with_store(customers::count).await, 1);
    assert_eq!(app.outbox_rows().await.len(), 1, "one welcome mail");
}

async fn surrounding_spaces_are_trimmed(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut body = account("1200", "trim.example");
    body["ID"] = json!("  1200 ");
    body["Name"] = json!("  Trim Ltd  ");
    body["Email"] = json!(" admin@trim.example  ");
    body["SyncOptions"] = json!({"domain": "  trim.example ", "username": " trimmer  "});
    let created = app.synchronize(&body).await;
    let external_id = created.result().to_owned();
    assert_eq!(
        created.body["AccountExtraInfo"],
        json!({"customer_id": external_id, "domain": "trim.example", "username": "trimmer"})
    );
    let details = stored(&app, &external_id).await;
    assert_eq!(details.customer.bss_account_id.as_deref(), Some("1200"));
    assert_eq!(details.customer.name, "Trim Ltd");
    assert_eq!(
        details.customer.email.as_deref(),
        Some("admin@trim.example")
    );
    assert_eq!(
        details.options,
        vec![
            ("domain".to_owned(), "trim.example".to_owned()),
            ("username".to_owned(), "trimmer".to_owned())
        ]
    );

    // The trimmed values are the ones looked up.
    for lookup in [
        json!({"ID": "1200"}),
        json!({"ID": " 1200  "}),
        json!({"ExternalID": format!("  {external_id} ")}),
        json!({"SyncOptions": {"domain": "trim.example"}}),
        json!({"SyncOptions": {"username": "trimmer"}}),
    ] {
        let exists = app.post("Accounts/Exists", &lookup).await;
        assert_eq!(
            (exists.code(), exists.result()),
            (1, external_id.as_str()),
            "{lookup}"
        );
    }
    // An ExternalID with spaces names the customer on Synchronize too.
    let mut update = body.clone();
    update["ExternalID"] = json!(format!(" {external_id}  "));
    update["Name"] = json!(" Trimmed Again ");
    let updated = app.synchronize(&update).await;
    assert_eq!(
        (updated.result(), updated.message()),
        (external_id.as_str(), "Customer updated.")
    );
    assert_eq!(
        stored(&app, &external_id).await.customer.name,
        "Trimmed Again"
    );
    // The same call with its values trimmed is an identical retry of it.
    let before = stored(&app, &external_id).await.customer.updated_at;
    let mut trimmed = update.clone();
    trimmed["ID"] = json!("1200");
    trimmed["ExternalID"] = json!(external_id);
    trimmed["Name"] = json!("Trimmed Again");
    trimmed["Email"] = json!("admin@trim.example");
    trimmed["SyncOptions"] = json!({"domain": "trim.example", "username": "trimmer"});
    app.synchronize(&trimmed).await;
    assert_eq!(stored(&app, &external_id).await.customer.updated_at, before);
    assert_eq!(app.with_store(customers::count).await, 1);
}

async fn exists_follows_the_external_id_over_the_bss_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let a = app
        .synchronize(&account("A-1", "a-precedence.example"))
        .await
        .result()
        .to_owned();
    let b = app
        .synchronize(&account("B-2", "b-precedence.example"))
        .await
        .result()
        .to_owned();

    // ExternalID of A; ID, email and domain of B: A.
    let mut body = account("B-2", "b-precedence.example");
    body["ExternalID"] = json!(a);
    let answer = app.post("Accounts/Exists", &body).await;
    assert_eq!((answer.code(), answer.result()), (1, a.as_str()));
    // Without the ExternalID, the ID wins over the identifying values (A's).
    let answer = app
        .post(
            "Accounts/Exists",
            &json!({"ID": "B-2", "SyncOptions": {"domain": "a-precedence.example"}}),
        )
        .await;
    assert_eq!((answer.code(), answer.result()), (1, b.as_str()));
    // A's state decides, not B's.
    let target = a.clone();
    app.with_store(move |conn| customers::set_status(conn, &target, CustomerStatus::Suspended))
        .await;
    let answer = app.post("Accounts/Exists", &body).await;
    assert_eq!(
        (answer.code(), answer.message(), answer.result_opt()),
        (2, "The account exists but is suspended.", None)
    );
    // An ExternalID that names nobody is not replaced by the ID: the
    // account the BSS linked is gone (the store looks up by ExternalID
    // whenever one is given).
    body["ExternalID"] = json!("cus_nobody");
    let answer = app.post("Accounts/Exists", &body).await;
    assert_eq!(
        (answer.code(), answer.result_opt()),
        (0, None),
        "{:?}",
        answer.body
    );
}

/// Takes one connection of the app's pool and keeps it until the returned
/// sender is dropped (at most 30 s).
async fn hold_a_connection(app: &TestApp) -> std::sync::mpsc::Sender<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (held, is_held) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let store = app.store.clone();
        let holder = tokio::spawn(async move {
            store
                .run(move |_conn| {
                    let _ = held.send(());
                    let _ = released.recv_timeout(Duration::from_secs(30));
                    Ok(())
                })
                .await
        });
        if is_held.await.is_ok() {
            return release;
        }
        // A background job had the last connection until our wait ran out.
        let _ = holder.await;
        assert!(Instant::now() < deadline, "no connection could be taken");
    }
}

async fn an_unavailable_database_answers_503_within_the_timeout(backend: Backend) {
    const TIMEOUT: Duration = Duration::from_millis(500);
    let app = spawn_app_with(backend, |settings| {
        settings.database_timeout_ms = TIMEOUT.as_millis() as u64;
        settings.pool_size = 2;
        settings.mail.deliver = false;
    })
    .await;
    let created = app.synchronize(&account("1", "pool.example")).await;
    let external_id = created.result().to_owned();

    // Every connection is taken (as by a database too busy to answer).
    let holders = vec![hold_a_connection(&app).await, hold_a_connection(&app).await];
    let started = Instant::now();
    let answer = app
        .post("Accounts/Exists", &json!({"ExternalID": external_id}))
        .await;
    let waited = started.elapsed();
    assert_eq!(
        (answer.status, answer.code(), answer.message()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            -5,
            "The Mailroom database is unavailable. Please retry later."
        )
    );
    assert!(
        waited >= TIMEOUT - Duration::from_millis(20),
        "answered after {waited:?}, before the timeout"
    );
    assert!(
        waited < TIMEOUT + Duration::from_secs(2),
        "answered after {waited:?}"
    );

    // The database is back: so is the service.
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = app
            .post("Accounts/Exists", &json!({"ExternalID": external_id}))
            .await;
        if answer.status == StatusCode::OK {
            assert_eq!(answer.code(), 1);
            break;
        }
        assert!(Instant::now() < deadline, "no recovery: {:?}", answer.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

crate::both_backends!(
    sync_options_are_declared,
    seed_payload_round_trip,
    retries_update_and_keep_the_external_id,
    extra_details_round_trip,
    username_falls_back_to_emails,
    storefront_validation_codes,
    operator_defined_options,
    identities_are_unique_across_applications,
    exists_result_codes,
    delete_keeps_data_and_is_idempotent,
    unknown_external_id_on_synchronize,
    resellers_are_linked,
    bss_notification_mode_returns_a_password_once,
    routes_and_fields_are_case_insensitive,
    unknown_fields_are_ignored,
    unsupported_actions_answer_minus_one,
    an_identical_retry_writes_nothing,
    surrounding_spaces_are_trimmed,
    exists_follows_the_external_id_over_the_bss_id,
    an_unavailable_database_answers_503_within_the_timeout,
);
