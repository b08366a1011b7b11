//! Application credentials: the ApplicationId and API key pair the BSS sends
//! on every contract call.
//!
//! Keys are 32 random bytes, so a fast hash (SHA-256) is enough to store
//! them: nobody can guess one to test against the hash. Argon2 is for
//! low-entropy secrets (passwords) and would cost every request dearly.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A freshly issued key. It is shown once and only its hash is stored.
pub struct IssuedKey {
    pub app_id: uuid::Uuid,
    pub key: String,
    pub key_hash: String,
}

impl IssuedKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        // The sample service manager's keys are base64 strings of 32 bytes.
        let key = BASE64.encode(bytes);
        let key_hash = hash_key(&key);
        Self {
            app_id: uuid::Uuid::new_v4(),
            key,
            key_hash,
        }
    }
}

/// Hex SHA-256 of the key as issued.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a presented key against a stored hash in constant time. The BSS
/// may send the key as issued or base64-encoded once more (the sample SDK
/// decodes the header before comparing), so both are accepted.
pub fn verify_key(presented: &str, stored_hash: &str) -> bool {
    let matches = |candidate: &str| {
        hash_key(candidate)
            .as_bytes()
            .ct_eq(stored_hash.as_bytes())
            .into()
    };
    if matches(presented) {
        return true;
    }
    BASE64
        .decode(presented.trim())
        .ok()
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .is_some_and(|decoded| matches(&decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_key_verifies_as_issued_and_base64_encoded() {
        let issued = IssuedKey::generate();
        assert_eq!(BASE64.decode(&issued.key).unwrap().len(), 32);
        assert!(verify_key(&issued.key, &issued.key_hash));
        assert!(verify_key(
            &BASE64.encode(issued.key.as_bytes()),
            &issued.key_hash
        ));
        assert!(!verify_key("wrong", &issued.key_hash));
        assert!(!verify_key("", &issued.key_hash));
        assert!(!issued.key_hash.contains(&issued.key));
    }
}
