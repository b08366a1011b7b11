//! The console's subscriptions and plans: the Subscriptions page (filters,
//! paging, the CSV export and its escaping), the subscriptions and their
//! history on a customer's page, and plans edited through the form, with
//! refusals that change nothing and the roles that may edit.

use mailroom::domain::catalog::Plan;
use mailroom::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{console_login, spawn_app, Backend, ConsoleClient, TestApp};
use crate::operator_subscriptions::{
    contract_ok, create_body, customer, plan_of, set_source, subscribe,
};

both_backends!(
    the_subscriptions_page_filters_and_pages,
    the_csv_export_is_filtered_and_escaped,
    the_customer_page_shows_subscriptions_and_history,
    admins_edit_a_plan_and_bad_input_changes_nothing,
    only_catalog_managers_edit_plans,
    admins_add_and_edit_product_types
);

/// The subscription ids a list page shows, in order.
fn listed(html: &str) -> Vec<String> {
    html.split("data-subscription-id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// A page's HTML, with the entities handlebars writes for `=` and `&` in
/// attribute values read back (as a browser reads them).
async fn page_ok(console: &ConsoleClient<'_>, path: &str) -> String {
    let page = console.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
    page.html.replace("&#x3D;", "=")
}

async fn the_subscriptions_page_filters_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = customer(&app, "8001", "acme-page.example", "Acme <b>Ltd</b>").await;
    let globex = customer(&app, "8002", "globex-page.example", "Globex").await;
    // 26 of one plan: two pages of 25.
    let mut many = Vec::new();
    for n in 0..26 {
        many.push(subscribe(&app, &acme, &format!("M-{n}"), "P-BIZ", "Business", 1 + n).await);
    }
    let basic = subscribe(&app, &globex, "B-1", "P-BASIC", "Basic", 2).await;
    let cancelled = subscribe(&app, &globex, "B-2", "P-BASIC", "Basic", 3).await;
    contract_ok(&app, "Subscriptions/Cancel", &json!({"ID": cancelled})).await;
    set_source(&app, &basic, "member_platform").await;
    let basic_plan = plan_of(&app, "P-BASIC").await;

    let console = console_login(&app, Role::MailAdmin).await;
    let html = page_ok(&console, "/console/subscriptions").await;
    assert!(
        html.contains("href=\"/console/subscriptions\""),
        "the nav entry"
    );
    assert!(html.contains("data-total=\"28\""), "{html}");
    let first = listed(&html);
    assert_eq!(first.len(), 25);
    assert_eq!(first[0], cancelled, "newest first");
    assert_eq!(first[1], basic);
    // The name a BSS sent is text, never markup.
    assert!(html.contains("Acme &lt;b&gt;Ltd&lt;/b&gt;"));
    assert!(!html.contains("<b>Ltd</b>"));
    assert!(
        html.contains("href=\"/console/subscriptions?page=2\""),
        "{html}"
    );
    let second = listed(&page_ok(&console, "/console/subscriptions?page=2").await);
    assert_eq!(second.len(), 3);
    assert_eq!(second.last(), Some(&many[0]), "oldest last");
    // Past the end: the last page.
    assert_eq!(
        listed(&page_ok(&console, "/console/subscriptions?page=9").await),
        second
    );

    // Each filter; the pager and the export keep them.
    let by_plan = page_ok(
        &console,
        &format!("/console/subscriptions?plan={basic_plan}"),
    )
    .await;
    assert_eq!(listed(&by_plan), [cancelled.clone(), basic.clone()]);
    assert!(by_plan.contains(&format!(
        "href=\"/console/subscriptions.csv?plan={basic_plan}\""
    )));
    assert!(by_plan.contains(&format!(
        "<option value=\"{basic_plan}\" selected>Basic</option>"
    )));
    assert_eq!(
        listed(&page_ok(&console, "/console/subscriptions?status=cancelled").await),
        [cancelled.as_str()]
    );
    assert_eq!(
        listed(&page_ok(&console, "/console/subscriptions?source=member_platform").await),
        [basic.as_str()]
    );
    let active_biz = page_ok(&console, "/console/subscriptions?status=active&source=bss").await;
    assert!(active_biz.contains("data-total=\"26\""));
    assert!(
        active_biz
            .contains("href=\"/console/subscriptions?status=active&amp;source=bss&amp;page=2\""),
        "{active_biz}"
    );
    let none = page_ok(&console, "/console/subscriptions?source=distributor").await;
    assert!(none.contains("id=\"subscriptions-empty\""));
    assert!(listed(&none).is_empty());

    // A filter naming nothing is a page that says so.
    let refused = console.get("/console/subscriptions?status=paused").await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(
        refused
            .html
            .contains("There is no subscription status &quot;paused&quot;"),
        "{}",
        refused.html
    );

    // Signed out: the sign-in page.
    let anonymous = app
        .client
        .get(app.url("/console/subscriptions.csv"))
        .send()
        .await
        .unwrap();
    assert!(
        anonymous.url().path().starts_with("/console/login"),
        "{}",
        anonymous.url()
    );
}

/// The rows of a CSV export, parsed as a spreadsheet would.
async fn export(console: &ConsoleClient<'_>, query: &str) -> Vec<Vec<String>> {
    let page = console
        .get(&format!("/console/subscriptions.csv{query}"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(page.html.as_bytes());
    reader
        .records()
        .map(|r| r.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}

async fn the_csv_export_is_filtered_and_escaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let hostile = customer(
        &app,
        "8101",
        "hostile-csv.example",
        "=HYPERLINK(\"http://evil.example\",\"Click\"), \"Quoted\" Ltd",
    )
    .await;
    let plain = customer(&app, "8102", "plain-csv.example", "Plain, Inc.").await;
    let promo = subscribe(&app, &hostile, "+CSV-1", "P-PROMO", "-Promo @50", 4).await;
    let standard = subscribe(&app, &plain, "CSV-2", "P-STD", "Standard", 12).await;
    contract_ok(&app, "Subscriptions/Suspend", &json!({"ID": standard})).await;
    let promo_plan = plan_of(&app, "P-PROMO").await;

    let console = console_login(&app, Role::MailAdmin).await;
    let response = app
        .client
        .get(app.url("/console/subscriptions.csv"))
        .header("Cookie", format!("mailroom_session={}", console.session))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));

    let rows = export(&console, "").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0],
        [
            "subscription_id",
            "bss_subscription_id",
            "customer_external_id",
            "customer_name",
            "plan_id",
            "plan_name",
            "product_type",
            "quantity",
            "status",
            "source",
            "created_at",
            "updated_at",
            "cancelled_at"
        ]
    );
    // Newest first; quotes and commas survive the round trip;
    // cells a spreadsheet would run as formulas start with '.
    let standard_row = &rows[1];
    assert_eq!(standard_row[0], standard);
    assert_eq!(standard_row[3], "Plain, Inc.");
    assert_eq!(standard_row[7], "12");
    assert_eq!(standard_row[8], "suspended");
    assert_eq!(standard_row[9], "bss");
    let promo_row = &rows[2];
    assert_eq!(promo_row[0], promo);
    assert_eq!(promo_row[1], "'+CSV-1");
    assert_eq!(promo_row[2], hostile);
    assert_eq!(
        promo_row[3],
        "'=HYPERLINK(\"http://evil.example\",\"Click\"), \"Quoted\" Ltd"
    );
    assert_eq!(promo_row[4], promo_plan);
    assert_eq!(promo_row[5], "'-Promo @50");
    assert_eq!(promo_row[6], "hosted_mailbox");
    assert_eq!(promo_row[8], "active");
    assert!(promo_row[10].ends_with('Z'), "{}", promo_row[10]);
    assert_eq!(promo_row[12], "");

    // The export is the filtered list, all of it.
    let suspended = export(&console, "?status=suspended").await;
    assert_eq!(suspended.len(), 2);
    assert_eq!(suspended[1][0], standard);
    let by_plan = export(&console, &format!("?plan={promo_plan}")).await;
    assert_eq!(by_plan.len(), 2);
    assert_eq!(by_plan[1][0], promo);
    assert_eq!(
        export(&console, "?source=console").await.len(),
        1,
        "the header only"
    );
}

async fn the_customer_page_shows_subscriptions_and_history(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "8201", "history-page.example", "Historic").await;
    let bare = customer(&app, "8202", "bare-page.example", "Bare").await;
    let sub = subscribe(&app, &cus, "HP-1", "P-BIZ", "Business", 5).await;
    let mut update = create_body(&cus, "HP-1", "P-BIZ", "Business", 8);
    update["ID"] = json!(sub);
    let answer = TestApp::send(
        app.request(reqwest::Method::POST, "/api/Subscriptions/Update")
            .header("X-CloudPlatform-TrackId", "track-console-1")
            .json(&update),
    )
    .await;
    assert_eq!(answer.code(), 0, "{}", answer.body);
    contract_ok(&app, "Subscriptions/Suspend", &json!({"ID": sub})).await;
    let other = subscribe(&app, &bare, "HP-2", "P-BIZ", "Business", 1).await;

    let console = console_login(&app, Role::MailAdmin).await;
    let html = page_ok(&console, &format!("/console/customers/{cus}")).await;
    let section = html
        .split("id=\"subscriptions\"")
        .nth(1)
        .expect("a subscriptions section")
        .split("</section>")
        .next()
        .unwrap();
    assert_eq!(listed(section), [sub.as_str()], "only this customer's");
    assert!(!section.contains(&other));
    for expected in [
        "Business",
        "HP-1",
        "<span class=\"status suspended\">suspended</span>",
        "<td>8</td>",
        "<td>bss</td>",
        "History (3)",
        "quantity 5 → 8",
        "status active → suspended",
        "<code>track-console-1</code>",
        "5 × Business, active",
    ] {
        assert!(section.contains(expected), "{expected} in {section}");
    }
    let bare_page = page_ok(&console, &format!("/console/customers/{bare}")).await;
    assert!(listed(&bare_page).contains(&other));
    let empty = customer(&app, "8203", "empty-page.example", "Empty").await;
    let empty_page = page_ok(&console, &format!("/console/customers/{empty}")).await;
    assert!(empty_page.contains("No subscriptions."));
}

async fn plan(app: &TestApp, public_id: &str) -> Plan {
    let public_id = public_id.to_owned();
    app.with_store(move |conn| mailroom::store::catalog::plan(conn, &public_id))
        .await
        .expect("the plan")
}

/// The form's fields for the recorded Business plan, valid as they are.
fn good_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("name", "Business 50"),
        ("code", "BIZ-50"),
        ("unit_price", "4.99"),
        ("currency", "eur"),
        ("billing_period_count", "1"),
        ("billing_period_unit", "months"),
        ("attr.storage_gb", "50"),
        ("attr.mailbox_type", "business"),
        ("visible", "on"),
    ]
}

async fn admins_edit_a_plan_and_bad_input_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "8301", "plan-edit.example", "Buyer").await;
    subscribe(&app, &cus, "PE-1", "P-BIZ", "Business", 5).await;
    let id = plan_of(&app, "P-BIZ").await;
    let console = console_login(&app, Role::Admin).await;

    let list = page_ok(&console, "/console/plans").await;
    let edit_href = format!("/console/plans/{id}");
    assert!(list.contains(&format!("href=\"{edit_href}\"")), "{list}");
    let form = page_ok(&console, &edit_href).await;
    assert!(form.contains("id=\"plan-form\""));
    assert!(
        form.contains("name=\"attr.storage_gb\" type=\"text\" value=\"50\""),
        "{form}"
    );
    assert!(form.contains("One of: standard, business."));

    let saved = console.post_form(&edit_href, &good_form()).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let location = saved.location.expect("back to the list");
    assert_eq!(location, format!("/console/plans?notice=saved&plan={id}"));
    let notice = page_ok(&console, &location).await;
    assert!(notice.contains("Business 50 is saved."), "{notice}");
    let after = plan(&app, &id).await;
    assert_eq!(after.terms.name, "Business 50");
    assert_eq!(after.terms.code.as_deref(), Some("BIZ-50"));
    let price = after.terms.price.as_ref().expect("priced");
    assert_eq!(price.minor_units, 499);
    assert_eq!(price.currency.as_str(), "EUR");
    let period = after.terms.billing_period.expect("a billing period");
    assert_eq!((period.count, period.unit.as_str()), (1, "months"));
    assert!(after.terms.visible);
    assert!(!after.terms.deprecated);
    assert!(notice.contains("4.99 EUR"));
    // The API sees the same plan: one code path.
    let token = app.sign_in_as(Role::MailAdmin).await;
    let api = app
        .operator_call(reqwest::Method::GET, &format!("/plans/{id}"), &token, None)
        .await;
    assert_eq!(api.body["unit_price_minor"], 499);
    assert_eq!(api.body["visible"], true);

    // Deprecating, and unticking visible, through the same form.
    let mut deprecate: Vec<(&str, &str)> = good_form()
        .into_iter()
        .filter(|(k, _)| *k != "visible")
        .collect();
    deprecate.push(("deprecated", "on"));
    assert_eq!(
        console.post_form(&edit_href, &deprecate).await.status,
        StatusCode::SEE_OTHER
    );
    let deprecated = plan(&app, &id).await;
    assert!(deprecated.terms.deprecated);
    assert!(!deprecated.terms.visible);

    // Bad input: a clear message, the typed values kept, nothing changed.
    let cases: [(&str, &str, &str); 6] = [
        ("unit_price", "4.999", "is not an amount such as 4.99"),
        ("unit_price", "-3", "is not an amount such as 4.99"),
        ("currency", "EURO", "is not a three-letter ISO 4217 code"),
        (
            "billing_period_count",
            "0",
            "The billing period must be at least 1.",
        ),
        ("billing_period_count", "monthly", "is not a whole number"),
        ("name", "  ", "The plan needs a name."),
    ];
    for (field, value, message) in cases {
        let mut fields: Vec<(&str, &str)> = good_form()
            .into_iter()
            .filter(|(k, _)| *k != field)
            .collect();
        fields.push((field, value));
        let refused = console.post_form(&edit_href, &fields).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}={value}: {}",
            refused.html
        );
        assert!(
            refused.html.contains("Nothing was saved"),
            "{}",
            refused.html
        );
        assert!(
            refused.html.contains(message),
            "{message} in {}",
            refused.html
        );
        if !value.trim().is_empty() {
            assert!(
                refused.html.contains(&format!("value=\"{value}\"")),
                "the typed {field} is kept"
            );
        }
        assert_eq!(
            plan(&app, &id).await,
            deprecated,
            "{field}={value} changed the plan"
        );
    }
    // A price without a currency, an attribute the type does not have.
    let mut no_currency: Vec<(&str, &str)> = good_form()
        .into_iter()
        .filter(|(k, _)| *k != "currency")
        .collect();
    no_currency.push(("attr.colour", "blue"));
    let refused = console.post_form(&edit_href, &no_currency).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused
        .html
        .contains("Give the unit price and its currency together."));
    assert!(
        refused.html.contains("has no attribute &quot;colour&quot;"),
        "{}",
        refused.html
    );
    assert_eq!(plan(&app, &id).await, deprecated);

    // Without the form's token: refused, nothing changed.
    let mut forged: Vec<(&str, &str)> = good_form();
    forged.push(("csrf", "forged"));
    let refused = console.post_form_raw(&edit_href, &forged).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(plan(&app, &id).await, deprecated);

    let missing = console.get("/console/plans/plan_nothing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn only_catalog_managers_edit_plans(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "8401", "plan-roles.example", "Buyer").await;
    subscribe(&app, &cus, "PR-1", "P-BIZ", "Business", 5).await;
    let id = plan_of(&app, "P-BIZ").await;
    let before = plan(&app, &id).await;
    let edit_href = format!("/console/plans/{id}");

    let mail_admin = console_login(&app, Role::MailAdmin).await;
    let list = page_ok(&mail_admin, "/console/plans").await;
    assert!(
        !list.contains(&format!("href=\"{edit_href}\"")),
        "no edit link"
    );
    assert!(list.contains("Admins edit them"));
    assert_eq!(
        mail_admin.get(&edit_href).await.status,
        StatusCode::FORBIDDEN
    );
    let refused = mail_admin.post_form(&edit_href, &good_form()).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    assert_eq!(plan(&app, &id).await, before);
    // Reading subscriptions is every role's.
    page_ok(&mail_admin, "/console/subscriptions").await;

    for role in [Role::Admin, Role::SuperAdmin] {
        let console = console_login(&app, role).await;
        let list = page_ok(&console, "/console/plans").await;
        assert!(list.contains(&format!("href=\"{edit_href}\"")), "{role:?}");
        page_ok(&console, &edit_href).await;
    }
}

async fn product_type(app: &TestApp, id: &str) -> Option<mailroom::domain::catalog::ProductType> {
    let id = id.to_owned();
    app.with_store(move |conn| mailroom::store::catalog::product_type(conn, &id))
        .await
}

async fn admins_add_and_edit_product_types(backend: Backend) {
    use mailroom::http::console::product_types::NEW_TYPE_EXAMPLE;
    let app = spawn_app(backend).await;
    let console = console_login(&app, Role::Admin).await;
    let list = page_ok(&console, "/console/plans").await;
    assert!(list.contains("href=\"/console/product-types/hosted_mailbox\""));
    assert!(list.contains("id=\"new-product-type-form\""));
    let form = page_ok(&console, "/console/product-types/hosted_mailbox").await;
    assert!(form.contains("&quot;storage_gb&quot;"), "{form}");

    // Added from the plans page's form, as the API's PUT would.
    let added = console
        .post_form(
            "/console/product-types",
            &[("id", "shared_mailbox"), ("definition", NEW_TYPE_EXAMPLE)],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.html);
    let location = added.location.unwrap();
    assert!(page_ok(&console, &location)
        .await
        .contains("Product type shared_mailbox is saved"));
    let shared = product_type(&app, "shared_mailbox").await.expect("added");
    assert_eq!(shared.name, "Shared mailbox");
    assert_eq!(shared.attributes.len(), 1);
    assert!(shared.attributes[0].linked_to_quantity);

    // The add form never replaces a type.
    let again = console
        .post_form(
            "/console/product-types",
            &[
                ("id", "shared_mailbox"),
                (
                    "definition",
                    &NEW_TYPE_EXAMPLE.replace("Shared mailbox", "Other"),
                ),
            ],
        )
        .await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again
        .html
        .contains("There is already a product type shared_mailbox"));
    assert_eq!(product_type(&app, "shared_mailbox").await.unwrap(), shared);

    // Bad JSON, and a type that breaks the rules: said, nothing saved.
    let unreadable = console
        .post_form(
            "/console/product-types",
            &[
                ("id", "shared_mailbox"),
                ("existing", "1"),
                ("definition", "{\"name\": "),
            ],
        )
        .await;
    assert_eq!(unreadable.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        unreadable.html.contains("is not a product type in JSON"),
        "{}",
        unreadable.html
    );
    assert!(
        unreadable.html.contains("{&quot;name&quot;: </textarea>"),
        "the typed text is kept"
    );
    let broken = console
        .post_form(
            "/console/product-types",
            &[("id", "Bad Id!"), ("definition", NEW_TYPE_EXAMPLE)],
        )
        .await;
    assert_eq!(
        broken.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        broken.html
    );
    assert!(broken.html.contains("Nothing was saved"));
    assert!(product_type(&app, "Bad Id!").await.is_none());
    assert_eq!(product_type(&app, "shared_mailbox").await.unwrap(), shared);

    // Edited from its page.
    let edited = console
        .post_form(
            "/console/product-types",
            &[
                ("id", "shared_mailbox"),
                ("existing", "1"),
                (
                    "definition",
                    &NEW_TYPE_EXAMPLE.replace("Shared mailbox", "Team mailbox"),
                ),
            ],
        )
        .await;
    assert_eq!(edited.status, StatusCode::SEE_OTHER, "{}", edited.html);
    assert_eq!(
        product_type(&app, "shared_mailbox").await.unwrap().name,
        "Team mailbox"
    );

    // A Mail Admin reads, and is refused the forms.
    let mail_admin = console_login(&app, Role::MailAdmin).await;
    let read_only = page_ok(&mail_admin, "/console/plans").await;
    assert!(!read_only.contains("new-product-type-form"));
    assert_eq!(
        mail_admin
            .get("/console/product-types/hosted_mailbox")
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let refused = mail_admin
        .post_form(
            "/console/product-types",
            &[
                ("id", "shared_mailbox"),
                ("existing", "1"),
                ("definition", NEW_TYPE_EXAMPLE),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(
        product_type(&app, "shared_mailbox").await.unwrap().name,
        "Team mailbox"
    );
}
