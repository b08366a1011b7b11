//! The HTTP edge: three front ends (the BSS contract in [`service_manager`],
//! the operator API in [`operator`], the console in [`console`]) and the
//! public activation pages, over what they share here: the error policy,
//! health checks and the sign-in throttle.

pub mod activation;
pub mod body_deadline;
pub mod console;
pub mod error;
pub mod headers;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod service_manager;
pub mod throttle;
