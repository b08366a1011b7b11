//! Background work.

pub mod audit_writer;
pub mod outbox_worker;
pub mod retention;
pub mod rollups;
pub mod scheduler;
