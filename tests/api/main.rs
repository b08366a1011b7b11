//! Integration tests: Mailroom over real HTTP, on SQLite and PostgreSQL.

mod helpers;

mod accounts;
mod accounts_gaps;
mod activation_links;
mod addon_types;
mod addons;
mod audit;
mod auth;
mod bad_input;
mod browser;
mod cli;
mod concurrency;
mod console;
mod console_customers;
mod console_mailboxes;
mod console_security;
mod console_settings;
mod console_subscriptions;
mod documents;
mod fields;
mod mailbox_passwords;
mod notifications;
mod operator_api;
mod operator_audit;
mod operator_subscriptions;
mod outages;
mod outbox_delivery;
mod plans;
mod schema;
mod seats;
mod setup_settings;
mod smtp;
mod smtp_tls;
mod subscriptions;
mod users;
