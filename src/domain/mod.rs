//! Domain rules with no I/O: result codes, identifying values, sync options,
//! customers and application keys.

pub mod app_key;
pub mod catalog;
pub mod customer;
pub mod identity;
pub mod mailbox;
pub mod operator;
pub mod operator_account;
pub mod operator_audit;
pub mod password;
pub mod psa_sync;
pub mod result_code;
pub mod schedule;
pub mod subscription;
pub mod sync_options;
pub mod template;
pub mod token;
pub mod totp;

pub use result_code::{Rejection, ResultCode};
