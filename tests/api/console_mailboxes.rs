//! The customer page's mailboxes: search and status filter, seat use per
//! subscription, and the disable/activate buttons (CSRF, role, the same
//! units of work as Users/Disable and Users/Activate).

use mailroom::domain::operator::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{console_login, spawn_app, Backend, TestApp};
use crate::subscriptions::{create_body, customer, ok};

async fn add(app: &TestApp, external_id: &str, address: &str, first: &str, service: &str) {
    let body = json!({
        "Customer": {"ID": external_id},
        "FirstName": first, "LastName": "Jones",
        "Username": address, "Email": address, "Password": "",
        "Status": "Provisioned", "Role": "User", "ServiceID": service
    });
    ok(&app.post("Users/Add", &body).await);
}

/// Set-password mails queued for a mailbox (`mbx_...`).
async fn links_queued(app: &TestApp, public_id: &str) -> i64 {
    let public_id = public_id.to_owned();
    app.with_store(move |conn| {
        use diesel::prelude::*;
        use mailroom::store::schema::{mailboxes, outbox};
        let id: i64 = mailboxes::table
            .filter(mailboxes::public_id.eq(public_id))
            .select(mailboxes::id)
            .first(conn)?;
        Ok(outbox::table
            .filter(outbox::mailbox_id.eq(id))
            .filter(outbox::template_name.eq("mailbox_set_password"))
            .count()
            .get_result(conn)?)
    })
    .await
}

async fn status_of(app: &TestApp, address: &str) -> String {
    let address = address.to_owned();
    app.with_store(move |conn| {
        use diesel::prelude::*;
        use mailroom::store::schema::mailboxes;
        Ok(mailboxes::table
            .filter(mailboxes::normalized_address.eq(address))
            .select(mailboxes::status)
            .first::<String>(conn)?)
    })
    .await
}

/// The mailboxes section of the page (the audit trail names addresses too).
fn section(html: &str) -> &str {
    let start = html
        .find("id=\"mailboxes\"")
        .expect("the mailboxes section");
    &html[start..start + html[start..].find("</section>").unwrap()]
}

fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let end = start + html[start..].find("</tr>").unwrap();
    &html[start..end]
}

async fn the_customer_page_lists_and_changes_mailboxes(backend: Backend) {
    let app = spawn_app(backend).await;
    let cus = customer(&app, "9600", "console-mbx.example").await;
    let sub = ok(&app
        .post("Subscriptions/Create", &create_body(&cus, "96001", 5))
        .await);
    add(&app, &cus, "pat@console-mbx.example", "Pat", &sub).await;
    add(&app, &cus, "sam@console-mbx.example", "Sam", &sub).await;
    add(&app, &cus, "kim@console-mbx.example", "Kim", &sub).await;
    let pat = ok(&app
        .post("Users/Get", &json!({"Username": "pat@console-mbx.example"}))
        .await);

    let mut unused = create_body(&cus, "96002", 2);
    unused["ProductID"] = json!("1208");
    let unused = ok(&app.post("Subscriptions/Create", &unused).await);

    let admin = console_login(&app, Role::Admin).await;
    let path = format!("/console/customers/{cus}");
    let page = admin.get(&path).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("id=\"mailboxes\""), "{}", page.html);
    // Seat use beside the subscription: 3 of 5.
    let sub_at = page
        .html
        .find(&format!("data-subscription-id=\"{sub}\""))
        .expect("the subscription's row");
    let seats_at = sub_at + page.html[sub_at..].find("class=\"seats\"").unwrap();
    let seats_cell = &page.html[seats_at..seats_at + page.html[seats_at..].find("</td>").unwrap()];
    assert!(seats_cell.contains("3 / 5"), "{seats_cell}");
    let unused_at = page
        .html
        .find(&format!("data-subscription-id=\"{unused}\""))
        .expect("the unused subscription's row");
    let cell_at = unused_at + page.html[unused_at..].find("class=\"seats\"").unwrap();
    let cell = &page.html[cell_at..cell_at + page.html[cell_at..].find("</td>").unwrap()];
    assert!(cell.contains("0 / 2"), "{cell}");
    for address in ["pat@", "sam@", "kim@"] {
        assert!(page.html.contains(address), "{address}");
    }
    let pat_row = row(&page.html, &format!("data-mailbox-id=\"{pat}\""));
    assert!(pat_row.contains("disable-mailbox"), "{pat_row}");

    // Search by a name, and by status.
    let found = admin.get(&format!("{path}?mq=SAM")).await;
    assert!(section(&found.html).contains("sam@console-mbx.example"));
    assert!(!section(&found.html).contains("pat@console-mbx.example"));

    // Disable: the CSRF token and the role are checked first.
    let action = format!("{path}/mailboxes/{pat}/disable");
    let forged = admin.post_form_raw(&action, &[("csrf", "wrong")]).await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER, "{}", forged.html);
    assert_eq!(
        status_of(&app, "pat@console-mbx.example").await,
        "provisioned"
    );
    let reader = console_login(&app, Role::MailAdmin).await;
    let refused = reader.post_form(&action, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let reader_page = reader.get(&path).await;
    assert!(!reader_page.html.contains("disable-mailbox"));
    assert_eq!(
        status_of(&app, "pat@console-mbx.example").await,
        "provisioned"
    );

    let disabled = admin.post_form(&action, &[]).await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER, "{}", disabled.html);
    let back = admin.get(disabled.location.as_deref().unwrap()).await;
    assert!(
        back.html.contains("The mailbox is disabled."),
        "{}",
        back.html
    );
    assert_eq!(status_of(&app, "pat@console-mbx.example").await, "disabled");
    let pat_row = row(&back.html, &format!("data-mailbox-id=\"{pat}\""));
    assert!(pat_row.contains("activate-mailbox"), "{pat_row}");
    // The BSS sees the same mailbox disabled.
    let got = app.post("Users/Get", &json!({"ID": pat})).await;
    assert_eq!(got.body["Status"], "Disabled", "{}", got.body);

    let only_disabled = admin.get(&format!("{path}?mstatus=disabled")).await;
    assert!(section(&only_disabled.html).contains("pat@console-mbx.example"));
    assert!(!section(&only_disabled.html).contains("kim@console-mbx.example"));

    // Activate again.
    let activated = admin
        .post_form(&format!("{path}/mailboxes/{pat}/activate"), &[])
        .await;
    assert_eq!(
        activated.status,
        StatusCode::SEE_OTHER,
        "{}",
        activated.html
    );
    assert_eq!(
        status_of(&app, "pat@console-mbx.example").await,
        "provisioned"
    );

    // A set-password link, queued through the outbox (role and CSRF first).
    let link = format!("{path}/mailboxes/{pat}/password-link");
    let before = links_queued(&app, &pat).await;
    let refused = reader.post_form(&link, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
    let forged = admin.post_form_raw(&link, &[("csrf", "wrong")]).await;
    assert_ne!(forged.status, StatusCode::SEE_OTHER, "{}", forged.html);
    assert_eq!(links_queued(&app, &pat).await, before);
    let page = admin.get(&path).await;
    assert!(
        row(&page.html, &format!("data-mailbox-id=\"{pat}\"")).contains("password-link-mailbox")
    );
    let sent = admin.post_form(&link, &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let back = admin.get(sent.location.as_deref().unwrap()).await;
    assert!(
        back.html.contains("A set-password link is on its way"),
        "{}",
        back.html
    );
    assert_eq!(links_queued(&app, &pat).await, before + 1);

    // Another customer's page does not reach this mailbox.
    let other = customer(&app, "9601", "console-other.example").await;
    let stray = admin
        .post_form(
            &format!("/console/customers/{other}/mailboxes/{pat}/disable"),
            &[],
        )
        .await;
    assert_eq!(stray.status, StatusCode::NOT_FOUND, "{}", stray.html);
    assert_eq!(
        status_of(&app, "pat@console-mbx.example").await,
        "provisioned"
    );
}

both_backends!(the_customer_page_lists_and_changes_mailboxes);
