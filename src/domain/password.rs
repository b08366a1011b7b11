//! Customer passwords: generated ones for the BSS notification mode, and
//! argon2 hashing for storage.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::seq::SliceRandom;
use rand::Rng;

const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!#%+-=?@";
const GENERATED_LENGTH: usize = 16;

/// A random password with lower and upper case letters, digits and a
/// symbol, without look-alike characters (l, I, O, 0, 1).
pub fn generate() -> String {
    let mut rng = rand::rngs::OsRng;
    let all: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS].concat();
    let mut chars: Vec<u8> = [LOWER, UPPER, DIGITS, SYMBOLS]
        .iter()
        .map(|class| class[rng.gen_range(0..class.len())])
        .collect();
    while chars.len() < GENERATED_LENGTH {
        chars.push(all[rng.gen_range(0..all.len())]);
    }
    chars.shuffle(&mut rng);
    String::from_utf8(chars).expect("ASCII characters")
}

/// The argon2id hash of a password, in PHC string form.
pub fn hash(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// True when `password` matches the stored PHC hash.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_have_every_class() {
        let password = generate();
        assert_eq!(password.len(), GENERATED_LENGTH);
        for class in [LOWER, UPPER, DIGITS, SYMBOLS] {
            assert!(password.bytes().any(|b| class.contains(&b)), "{password}");
        }
        assert_ne!(generate(), password);
    }

    #[test]
    fn hashes_verify() {
        let stored = hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse", &stored));
        assert!(!verify("wrong", &stored));
    }
}

/// Shortest password a person may choose.
pub const MIN_CHOSEN_LENGTH: usize = 10;

/// Why a chosen password is refused, written for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WeakPassword(pub String);

/// The minimum strength of a password a customer or operator chooses: at
/// least 10 characters, not one kind of character only, not all the same.
pub fn check_strength(password: &str) -> Result<(), WeakPassword> {
    let length = password.chars().count();
    if length < MIN_CHOSEN_LENGTH {
        return Err(WeakPassword(format!(
            "Choose a password of at least {MIN_CHOSEN_LENGTH} characters (this one has {length})."
        )));
    }
    if length > 1024 {
        return Err(WeakPassword(
            "Choose a password of at most 1024 characters.".into(),
        ));
    }
    let kinds = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if kinds.iter().filter(|&&k| k).count() < 2 || distinct.len() < 4 {
        return Err(WeakPassword(
            "Mix at least two of: lower-case letters, capitals, digits and symbols.".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod strength_tests {
    use super::*;

    #[test]
    fn weak_passwords_are_refused_with_a_reason() {
        assert!(check_strength("short1A")
            .unwrap_err()
            .0
            .contains("10 characters"));
        assert!(check_strength("abcdefghijkl")
            .unwrap_err()
            .0
            .contains("Mix"));
        assert!(check_strength("aaaaaaaaa1").is_err());
        assert!(check_strength("correct horse 7").is_ok());
        assert!(check_strength(&generate()).is_ok());
    }
}
