//! The outbox worker's promises, through Mailroom (Synchronize, outbox,
//! worker, SMTP): a dead worker's lease ends and another worker sends the
//! mail once; temporary refusals are retried up to `max_attempts`, then the
//! mail is failed; every attempt of a mail carries the same Message-ID.

use chrono::Utc;
use mailroom::store::outbox::{self, OutboxStatus};

use crate::both_backends;
use crate::helpers::{account, spawn_app_with, spawn_instance_of, Backend};
use crate::notifications::{assert_delivered_exactly, smtp_on, WAIT};
use crate::smtp::{Behaviour, SmtpServer};

async fn a_dead_workers_lease_ends_and_another_worker_sends_the_mail_once(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::Accept).await;
    // This instance queues mail and never delivers it.
    let queueing = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.deliver = false;
    })
    .await;
    queueing.synchronize(&account("d1", "lease.example")).await;

    // A worker claims the mail with a short lease, then dies: it never
    // sends nor records anything.
    let lease_until = Utc::now().naive_utc() + chrono::Duration::milliseconds(1500);
    let claimed = queueing
        .with_store(move |conn| outbox::claim_due(conn, "dead-worker", lease_until, 10))
        .await;
    assert_eq!(claimed.len(), 1);
    let id = claimed[0].id;

    // Two live instances look for due mail from now on.
    let first = spawn_instance_of(&queueing, smtp_on(smtp.port())).await;
    let second = spawn_instance_of(&queueing, smtp_on(smtp.port())).await;
    let mails = smtp.wait_for(1, WAIT).await;
    assert!(
        mails[0].received_at.naive_utc() >= lease_until,
        "sent at {} while the dead worker's lease ran until {lease_until}",
        mails[0].received_at
    );
    let (_, rows) = assert_delivered_exactly(&first, &smtp, 1).await;
    assert_eq!(rows[0].status, OutboxStatus::Sent);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(mails[0].rcpt_to, vec!["pat@lease.example".to_owned()]);

    // The dead worker, were it to come back, writes over nothing.
    second
        .with_store(move |conn| outbox::record_failure(conn, id, "dead-worker", "late", None))
        .await;
    second
        .with_store(move |conn| {
            outbox::record_sent(
                conn,
                id,
                "dead-worker",
                "x@late.example",
                "late",
                "<late@x>",
            )
        })
        .await;
    let row = second
        .with_store(move |conn| outbox::find(conn, id))
        .await
        .expect("the mail");
    assert_eq!(row.status, OutboxStatus::Sent);
    assert_eq!(row.attempts, 1);
    assert_eq!(row.recipient.as_deref(), Some("pat@lease.example"));
    assert_eq!(row.last_error, None);
}

async fn temporary_refusals_fail_the_mail_after_max_attempts(backend: Backend) {
    // 451 at the end of DATA, every time.
    let smtp = SmtpServer::start(Behaviour::TemporaryFailure).await;
    let app = spawn_app_with(backend, |settings| {
        smtp_on(smtp.port())(settings);
        settings.mail.max_attempts = 3;
        settings.mail.retry_base_ms = 50;
        settings.mail.retry_max_ms = 100;
    })
    .await;
    app.synchronize(&account("f1", "refused.example")).await;
    let rows = app
        .wait_for_outbox(WAIT, "a failed mail", |rows| {
            rows.first()
                .is_some_and(|r| r.status == OutboxStatus::Failed)
        })
        .await;
    assert_eq!(rows[0].attempts, 3, "{rows:#?}");
    let error = rows[0].last_error.as_deref().unwrap_or_default();
    assert!(error.contains("451"), "{error}");
    // Each attempt reached the end of DATA; none was accepted.
    assert_eq!(smtp.deferred().len(), 3);
    assert_delivered_exactly(&app, &smtp, 0).await;
}

async fn every_attempt_of_a_mail_has_the_same_message_id(backend: Backend) {
    let smtp = SmtpServer::start(Behaviour::TemporaryFailure).await;
    let app = spawn_app_with(backend, smtp_on(smtp.port())).await;
    app.synchronize(&account("m1", "msgid.example")).await;
    // Two attempts refused at the end of DATA (the server kept them), then
    // the server takes mail again.
    let refused = smtp.wait_for_deferred(2, WAIT).await;
    smtp.set_behaviour(Behaviour::Accept);
    let mails = smtp.wait_for(1, WAIT).await;
    let (_, rows) = assert_delivered_exactly(&app, &smtp, 1).await;

    let message_id = mails[0].message_id.clone().expect("a Message-ID");
    assert!(message_id.contains('@'), "{message_id}");
    for attempt in &refused {
        assert_eq!(attempt.message_id.as_deref(), Some(message_id.as_str()));
        assert_eq!(attempt.rcpt_to, mails[0].rcpt_to);
    }
    assert!(rows[0].attempts >= 3, "{rows:#?}");
    assert_eq!(
        rows[0].message_id.as_deref(),
        Some(format!("<{message_id}>").as_str())
    );

    // Another mail has its own.
    app.synchronize(&account("m2", "other.example")).await;
    let mails = smtp.wait_for(2, WAIT).await;
    assert!(mails[1].message_id.is_some());
    assert_ne!(mails[1].message_id, mails[0].message_id);
    assert_delivered_exactly(&app, &smtp, 2).await;
}

both_backends!(
    a_dead_workers_lease_ends_and_another_worker_sends_the_mail_once,
    temporary_refusals_fail_the_mail_after_max_attempts,
    every_attempt_of_a_mail_has_the_same_message_id,
);
