//! The Accounts calls on the paths a real BSS takes when something went
//! wrong before: a body it got wrong, an ExternalID we no longer know, a
//! deleted customer's domain signing up again, an answer it never read.

use std::time::Duration;

use mailroom::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::both_backends;
use crate::helpers::{
    account, console_login, hidden_value, spawn_app, spawn_app_with, Backend, TestApp,
};

async fn load(app: &TestApp, external_id: &str) -> mailroom::store::customers::CustomerDetails {
    let external_id = external_id.to_owned();
    app.with_store(move |conn| mailroom::store::customers::load_details(conn, &external_id))
        .await
        .expect("the customer is stored")
}

// --- 1. HTTP 200 for every business outcome -------------------------------

async fn json_that_does_not_fit_is_a_200_with_its_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut wrong_type = account("8000", "wrong-type.example");
    wrong_type["Name"] = json!(5);
    let answer = app.post("Accounts/Synchronize", &wrong_type).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.code(), -2, "{}", answer.body);
    assert_eq!(answer.body["ErrorCode"], -2);
    assert!(
        answer.message().contains("Name"),
        "the message names the field: {}",
        answer.body
    );

    // Delete naming nothing at all.
    let answer = app
        .post("Accounts/Delete", &json!({"ExtraDetails": {}}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.code(), -2, "{}", answer.body);

    // Exists with a wrongly typed ID.
    let answer = app.post("Accounts/Exists", &json!({"ID": {"a": 1}})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.code(), -2, "{}", answer.body);
}

async fn only_a_body_that_is_not_json_is_a_400(backend: Backend) {
    let app = spawn_app(backend).await;
    for body in ["not json", "{\"ID\": ", ""] {
        let answer = TestApp::send(
            app.request(reqwest::Method::POST, "/api/Accounts/Synchronize")
                .header("Content-Type", "application/json")
                .body(body),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body:?}: {}",
            answer.body
        );
        assert_eq!(answer.code(), -9, "{body:?}: {}", answer.body);
    }
}

// --- 2. A stale or unknown ExternalID never strands an account -------------

async fn an_unknown_external_id_falls_back_to_the_bss_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("8100", "fallback.example")).await;
    assert_eq!(created.code(), 0, "{}", created.body);
    let external_id = created.result().to_owned();

    // The BSS lost our ExternalID and sends a stale one: Exists says it does
    // not know it, and Synchronize updates the account's customer.
    let mut stale = account("8100", "fallback.example");
    stale["ExternalID"] = json!("cus_01stale0000000000000000000");
    stale["Name"] = json!("Renamed after a stale id");
    let exists = app
        .post(
            "Accounts/Exists",
            &json!({"ExternalID": "cus_01stale0000000000000000000"}),
        )
        .await;
    assert_eq!(exists.code(), 0, "{}", exists.body);
    let answer = app.synchronize(&stale).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert_eq!(answer.result(), external_id);
    assert_eq!(
        load(&app, &external_id).await.customer.name,
        "Renamed after a stale id"
    );

    // An unknown ExternalID with a new BSS account creates the customer and
    // answers the ExternalID that is valid now.
    let mut new_account = account("8101", "fallback-new.example");
    new_account["ExternalID"] = json!("cus_01unknown000000000000000000");
    let answer = app.synchronize(&new_account).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let created_now = answer.result().to_owned();
    assert_ne!(created_now, "cus_01unknown000000000000000000");
    assert_eq!(
        load(&app, &created_now)
            .await
            .customer
            .bss_account_id
            .as_deref(),
        Some("8101")
    );
}

async fn another_applications_external_id_is_never_reached(backend: Backend) {
    let app = spawn_app(backend).await;
    let other = app.second_application("other BSS").await;
    let theirs = app
        .post_as(
            &other,
            "Accounts/Synchronize",
            &account("8200", "theirs.example"),
        )
        .await;
    assert_eq!(theirs.code(), 0, "{}", theirs.body);
    let their_id = theirs.result().to_owned();

    let mut ours = account("8200", "ours.example");
    ours["ExternalID"] = json!(their_id);
    ours["Name"] = json!("Not theirs");
    let answer = app.synchronize(&ours).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    let our_id = answer.result().to_owned();
    assert_ne!(
        our_id, their_id,
        "a customer of its own, not the other application's"
    );
    assert_eq!(load(&app, &their_id).await.customer.name, "Customer 8200");
    assert_eq!(load(&app, &our_id).await.customer.name, "Not theirs");
}

// --- 3. Delete frees what the customer held --------------------------------

async fn a_deleted_customers_domain_can_sign_up_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("8300", "returning.example")).await;
    let first_id = created.result().to_owned();
    let deleted = TestApp::send(
        app.tracked(reqwest::Method::POST, "/api/Accounts/Delete")
            .json(&json!({"ExternalID": first_id, "ExtraDetails": {"customer_id": first_id}})),
    )
    .await;
    assert_eq!(deleted.code(), 0, "{}", deleted.body);
    assert_eq!(deleted.result(), first_id);

    // The tombstone remembers who deleted it, and when.
    let tombstone = load(&app, &first_id).await.customer;
    assert_eq!(tombstone.status.as_str(), "deleted");
    assert!(tombstone.deleted_at.is_some());
    let deleted_by = tombstone.deleted_by.expect("who deleted it");
    assert!(deleted_by.contains("TrackId"), "{deleted_by}");
    assert!(
        !deleted_by.contains("TrackId -)"),
        "the call's TrackId: {deleted_by}"
    );

    // Its domain is free: Exists by it says no, and a new account takes it.
    let by_domain = app
        .post(
            "Accounts/Exists",
            &json!({"SyncOptions": {"domain": "returning.example"}}),
        )
        .await;
    assert_eq!(by_domain.code(), 0, "{}", by_domain.body);
    let again = app.synchronize(&account("8301", "returning.example")).await;
    assert_eq!(again.code(), 0, "{}", again.body);
    let second_id = again.result().to_owned();
    assert_ne!(second_id, first_id);

    // The deleted ExternalID still exists, and says why it cannot be linked.
    let by_old_id = app
        .post("Accounts/Exists", &json!({"ExternalID": first_id}))
        .await;
    assert_eq!(by_old_id.code(), 2, "{}", by_old_id.body);
    assert!(
        by_old_id.message().contains("deleted"),
        "{}",
        by_old_id.body
    );
}

async fn delete_by_bss_account_id_and_with_nothing_to_delete(backend: Backend) {
    let app = spawn_app(backend).await;
    let created = app.synchronize(&account("8400", "by-id.example")).await;
    let external_id = created.result().to_owned();

    let by_id = app
        .post("Accounts/Delete", &json!({"ID": "8400", "ExternalID": ""}))
        .await;
    assert_eq!(by_id.code(), 0, "{}", by_id.body);
    assert_eq!(by_id.result(), external_id);
    assert_eq!(
        load(&app, &external_id).await.customer.status.as_str(),
        "deleted"
    );

    let again = app.post("Accounts/Delete", &json!({"ID": "8400"})).await;
    assert_eq!(again.code(), 0, "{}", again.body);
    assert!(again.message().contains("already"), "{}", again.body);

    for nothing in [
        json!({"ID": "no-such-account"}),
        json!({"ExternalID": "cus_01nothing00000000000000000"}),
    ] {
        let answer = app.post("Accounts/Delete", &nothing).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.code(), 0, "{nothing}: {}", answer.body);
        assert!(
            answer.message().contains("nothing to delete"),
            "{}",
            answer.body
        );
        assert!(
            answer.body.get("Result").is_none_or(Value::is_null),
            "{}",
            answer.body
        );
    }
}

async fn restoring_a_deleted_customer_takes_its_domain_back_if_still_free(backend: Backend) {
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::Admin).await;
    let kept = app
        .synchronize(&account("8500", "kept.example"))
        .await
        .result()
        .to_owned();
    let lost = app
        .synchronize(&account("8501", "lost.example"))
        .await
        .result()
        .to_owned();
    for external_id in [&kept, &lost] {
        let answer = app
            .post("Accounts/Delete", &json!({"ExternalID": external_id}))
            .await;
        assert_eq!(answer.code(), 0, "{}", answer.body);
    }
    // Someone else signs up with the second one's domain meanwhile.
    let taker = app.synchronize(&account("8502", "lost.example")).await;
    assert_eq!(taker.code(), 0, "{}", taker.body);

    let page = console
        .post_form(&format!("/console/customers/{kept}/restore"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    assert_eq!(load(&app, &kept).await.customer.status.as_str(), "active");
    let mut same_domain = account("8503", "kept.example");
    same_domain["Email"] = json!("someone@elsewhere.example");
    let taken = app.post("Accounts/Synchronize", &same_domain).await;
    assert_eq!(
        taken.code(),
        -80021,
        "the restored customer holds its domain again: {}",
        taken.body
    );

    let page = console
        .post_form(&format!("/console/customers/{lost}/restore"), &[])
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let location = page.location.expect("back to the customer");
    assert!(location.ends_with("notice=identity_taken"), "{location}");
    assert_eq!(load(&app, &lost).await.customer.status.as_str(), "deleted");
    let shown = console.get(&location).await;
    assert!(
        shown.html.contains("another customer took its"),
        "{}",
        shown.html
    );
}

async fn a_tombstone_loses_its_personal_data_after_the_retention(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.retention.deleted_customer_days = 0;
        settings.retention.interval_ms = 100;
    })
    .await;
    let mut full = account("8600", "erased.example");
    full["Address"] = json!({"Address1": "1 Main St", "City": "Springfield"});
    full["Phone"] = json!("+1 555 0100");
    let external_id = app.synchronize(&full).await.result().to_owned();
    let kept = app
        .synchronize(&account("8601", "kept-data.example"))
        .await
        .result()
        .to_owned();
    let before = load(&app, &external_id).await;
    assert!(before.contact.is_some() && before.address.is_some());

    let deleted = app
        .post("Accounts/Delete", &json!({"ExternalID": external_id}))
        .await;
    assert_eq!(deleted.code(), 0, "{}", deleted.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let erased = loop {
        let now = load(&app, &external_id).await;
        if now.customer.personal_data_erased_at.is_some() {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never erased: {now:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let customer = &erased.customer;
    assert_eq!(customer.name, "(deleted customer)");
    assert_eq!(customer.email, None);
    assert_eq!(customer.phone, None);
    assert_eq!(customer.code, None);
    assert_eq!(customer.extra_details, "{}");
    assert!(!customer.account_extra_info.contains("erased.example"));
    assert!(erased.contact.is_none() && erased.address.is_none());
    assert!(erased.options.is_empty());
    // Ids and dates stay.
    assert_eq!(customer.external_id, external_id);
    assert_eq!(customer.bss_account_id.as_deref(), Some("8600"));
    assert_eq!(customer.created_at, before.customer.created_at);
    assert!(customer.deleted_at.is_some() && customer.deleted_by.is_some());
    // A customer that was not deleted keeps everything.
    let untouched = load(&app, &kept).await;
    assert_eq!(untouched.customer.name, "Customer 8601");
    assert!(untouched.contact.is_some());
}

// --- 4. Credentials survive a lost answer (BSS notification mode) ----------

async fn a_retry_before_our_answer_was_read_gets_a_fresh_password(backend: Backend) {
    let app = spawn_app_with(backend, |settings| {
        settings.notification_mode = mailroom::config::NotificationMode::Bss;
    })
    .await;
    let first = app
        .synchronize(&account("8700", "lost-answer.example"))
        .await;
    assert_eq!(first.code(), 0, "{}", first.body);
    assert_eq!(first.body["SendNotification"], true);
    let first_password = first.body["GeneratedPassword"]
        .as_str()
        .expect("a password")
        .to_owned();
    let external_id = first.result().to_owned();

    // The answer was lost: the BSS sends the same call again.
    let retry = app
        .synchronize(&account("8700", "lost-answer.example"))
        .await;
    assert_eq!(retry.code(), 0, "{}", retry.body);
    assert_eq!(retry.result(), external_id);
    assert_eq!(retry.body["SendNotification"], true, "{}", retry.body);
    let second_password = retry.body["GeneratedPassword"]
        .as_str()
        .expect("a fresh password");
    assert_ne!(second_password, first_password);
    let hash = load(&app, &external_id)
        .await
        .customer
        .password_hash
        .expect("a stored hash");
    assert!(mailroom::domain::password::verify(second_password, &hash));
    assert!(
        !mailroom::domain::password::verify(&first_password, &hash),
        "the old one is replaced"
    );

    // Once the BSS sends our ExternalID back, it is an update: no password.
    let mut update = account("8700", "lost-answer.example");
    update["ExternalID"] = json!(external_id);
    let answer = app.synchronize(&update).await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    assert_eq!(answer.body["SendNotification"], false, "{}", answer.body);
    assert!(
        answer
            .body
            .get("GeneratedPassword")
            .is_none_or(Value::is_null),
        "{}",
        answer.body
    );
}

async fn in_mailroom_mode_a_retry_carries_no_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app
        .synchronize(&account("8710", "mailroom-mode.example"))
        .await;
    let retry = app
        .synchronize(&account("8710", "mailroom-mode.example"))
        .await;
    for answer in [&first, &retry] {
        assert_eq!(answer.code(), 0, "{}", answer.body);
        assert_eq!(answer.body["SendNotification"], false, "{}", answer.body);
        assert!(answer
            .body
            .get("GeneratedPassword")
            .is_none_or(Value::is_null));
    }
}

// --- 6. Identity rules that match the seed ---------------------------------

async fn exists_never_matches_the_account_email_as_a_username(backend: Backend) {
    let app = spawn_app(backend).await;
    // Its username is filled from its email, admin@maria.example.
    let created = app.synchronize(&account("8800", "maria.example")).await;
    let external_id = created.result().to_owned();
    let info = &created.body["AccountExtraInfo"];
    assert_eq!(info["username"], "admin@maria.example", "{info}");

    let same_email = app
        .post(
            "Accounts/Exists",
            &json!({"ID": "9999", "Email": "admin@maria.example", "SyncOptions": {}}),
        )
        .await;
    assert_eq!(
        same_email.code(),
        0,
        "an email alone is anyone's: {}",
        same_email.body
    );

    let by_username = app
        .post(
            "Accounts/Exists",
            &json!({"ID": "9999", "SyncOptions": {"username": "admin@maria.example"}}),
        )
        .await;
    assert_eq!(by_username.code(), 1, "{}", by_username.body);
    assert_eq!(by_username.result(), external_id);
}

async fn the_username_option_keeps_its_kind_type_and_required_flag(backend: Backend) {
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::SuperAdmin).await;
    let form = console.get("/console/sync-options/username").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.html);
    let updated_at = hidden_value(&form.html, "updated_at");
    let fields = |kind: &'static str, name: &'static str| {
        vec![
            ("name", name),
            ("description", "Filled by the BSS from your email."),
            ("sort_order", "0"),
            ("kind", kind),
            ("data_type", "Text"),
            ("value_format", "username"),
            ("predefined_values", ""),
            ("required", "on"),
        ]
    };
    let mut changed = fields("TextArea", "Username");
    changed.push(("updated_at", &updated_at));
    let refused = console
        .post_form("/console/sync-options/username", &changed)
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    assert!(
        refused
            .html
            .contains("The username option keeps this as it is"),
        "{}",
        refused.html
    );
    let catalog = app.get("Accounts/SyncOptions").await;
    let username = catalog.body["Fields"]
        .as_array()
        .expect("fields")
        .iter()
        .find(|f| f["ID"] == "username")
        .expect("the username option")
        .clone();
    assert_eq!(username["Definition"]["Kind"], "SimpleValue", "{username}");

    // Its name and description are the operator's.
    let mut renamed = fields("SimpleValue", "Your login");
    renamed.push(("updated_at", &updated_at));
    let saved = console
        .post_form("/console/sync-options/username", &renamed)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
}

// --- 7. Reseller edge cases ------------------------------------------------

/// A reseller's own account, then an end customer sold through it.
async fn reseller_with_a_customer(app: &TestApp, id: &str) -> (String, String) {
    let mut reseller = account(id, &format!("reseller-{id}.example"));
    reseller["ResellerID"] = json!(id);
    let reseller_id = app.synchronize(&reseller).await.result().to_owned();
    let customer_bss_id = format!("{id}-1");
    let mut customer = account(&customer_bss_id, &format!("end-{id}.example"));
    customer["ResellerID"] = json!(id);
    customer["ResellerExternalID"] = json!(reseller_id);
    let customer_id = app.synchronize(&customer).await.result().to_owned();
    (reseller_id, customer_id)
}

async fn an_unknown_reseller_external_id_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut customer = account("9100", "orphan.example");
    customer["ResellerID"] = json!("9199");
    customer["ResellerExternalID"] = json!("cus_01noreseller0000000000000");
    let answer = app.post("Accounts/Synchronize", &customer).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.code(), -10, "{}", answer.body);
    assert!(
        answer.message().contains("cus_01noreseller0000000000000"),
        "{}",
        answer.body
    );
    let created = app.post("Accounts/Exists", &json!({"ID": "9100"})).await;
    assert_eq!(created.code(), 0, "nothing was created: {}", created.body);
}

async fn a_deleted_reseller_gets_no_new_customers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (reseller_id, customer_id) = reseller_with_a_customer(&app, "9200").await;
    let deleted = app
        .post("Accounts/Delete", &json!({"ExternalID": reseller_id}))
        .await;
    assert_eq!(deleted.code(), 0, "{}", deleted.body);

    let mut newcomer = account("9200-2", "newcomer-9200.example");
    newcomer["ResellerID"] = json!("9200");
    newcomer["ResellerExternalID"] = json!(reseller_id);
    let refused = app.post("Accounts/Synchronize", &newcomer).await;
    assert_eq!(refused.code(), -80050, "{}", refused.body);
    assert!(refused.message().contains("reseller"), "{}", refused.body);
    // Through its BSS id alone, too.
    newcomer["ResellerExternalID"] = json!("");
    let refused = app.post("Accounts/Synchronize", &newcomer).await;
    assert_eq!(refused.code(), -80050, "{}", refused.body);

    // Its existing customers can still be updated.
    let mut update = account("9200-1", "end-9200.example");
    update["ExternalID"] = json!(customer_id);
    update["ResellerID"] = json!("9200");
    update["ResellerExternalID"] = json!(reseller_id);
    update["Name"] = json!("Still served");
    let answer = app.synchronize(&update).await;
    assert_eq!(answer.result(), customer_id);
}

async fn a_resellers_page_lists_its_customers(backend: Backend) {
    let app = spawn_app(backend).await;
    let (reseller_id, customer_id) = reseller_with_a_customer(&app, "9300").await;
    let unrelated = app
        .synchronize(&account("9301", "unrelated.example"))
        .await
        .result()
        .to_owned();
    let console = console_login(&app, Role::MailAdmin).await;
    let page = console
        .get(&format!("/console/customers/{reseller_id}"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let section = page
        .html
        .split("id=\"resold-customers\"")
        .nth(1)
        .expect("a section of resold customers")
        .split("</section>")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(section.contains("(1)"), "{section}");
    assert!(
        section.contains(&format!("/console/customers/{customer_id}")),
        "{section}"
    );
    assert!(section.contains("Customer 9300-1"), "{section}");
    assert!(!section.contains(&unrelated), "{section}");
    // An end customer resells nothing: no such section.
    let page = console
        .get(&format!("/console/customers/{customer_id}"))
        .await;
    assert!(!page.html.contains("resold-customers"));
}

both_backends!(
    json_that_does_not_fit_is_a_200_with_its_code,
    only_a_body_that_is_not_json_is_a_400,
    an_unknown_external_id_falls_back_to_the_bss_account,
    another_applications_external_id_is_never_reached,
    a_deleted_customers_domain_can_sign_up_again,
    delete_by_bss_account_id_and_with_nothing_to_delete,
    restoring_a_deleted_customer_takes_its_domain_back_if_still_free,
    a_tombstone_loses_its_personal_data_after_the_retention,
    a_retry_before_our_answer_was_read_gets_a_fresh_password,
    in_mailroom_mode_a_retry_carries_no_password,
    exists_never_matches_the_account_email_as_a_username,
    the_username_option_keeps_its_kind_type_and_required_flag,
    an_unknown_reseller_external_id_is_refused,
    a_deleted_reseller_gets_no_new_customers,
    a_resellers_page_lists_its_customers,
);
