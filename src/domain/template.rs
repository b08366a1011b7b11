//! Templates as data: their names.

/// The access-instructions email a new customer gets.
pub const ACCESS_INSTRUCTIONS: &str = "access_instructions";
