//! Mailroom: the interworks.cloud service manager of a mailbox-service
//! operator.
//!
//! Layers: [`http`] (the edge: wire types, auth, error mapping) calls
//! [`domain`] (rules, no I/O) and [`store`] (diesel over SQLite and
//! PostgreSQL); [`jobs`] holds background work. [`startup`] assembles them.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod integrations;
pub mod jobs;
pub mod notify;
pub mod startup;
pub mod store;
pub mod telemetry;
