//! Background work.

pub mod audit_writer;
