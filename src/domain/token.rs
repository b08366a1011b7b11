//! One-time and session tokens (activation links, operator sessions): 32
//! random bytes, URL-safe, stored only as their SHA-256 like API keys.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

use super::app_key::hash_key;

pub struct IssuedToken {
    /// Given to its holder once.
    pub token: String,
    /// What is stored.
    pub hash: String,
}

impl IssuedToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let hash = hash_token(&token);
        Self { token, hash }
    }
}

/// The stored form of a presented token. A token is looked up by this hash;
/// it cannot be guessed, so the lookup leaks nothing worth timing.
pub fn hash_token(token: &str) -> String {
    hash_key(token.trim())
}

/// The CSRF token of a session: derived from the session token, which only
/// the signed-in browser holds (in an HttpOnly cookie), so a page of another
/// site can neither read nor compute it, and nothing more is stored.
pub fn csrf_token(session_token: &str) -> String {
    hash_key(&format!("csrf:{}", session_token.trim()))[..40].to_owned()
}
