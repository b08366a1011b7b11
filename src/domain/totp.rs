//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30 s
//! steps), as authenticator apps expect them, and recovery codes.

use rand::Rng;
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per step.
pub const STEP_SECS: u64 = 30;
/// Steps either side of now a code is still taken (clock drift).
const SKEW_STEPS: u64 = 1;
/// Recovery codes an enrolment gets.
pub const RECOVERY_CODES: usize = 10;

/// A TOTP secret (base32, as the QR code and manual entry carry it).
#[derive(Clone)]
pub struct TotpSecret(String);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// 160 random bits, as RFC 4226 recommends.
    pub fn generate() -> Self {
        let bytes: [u8; 20] = rand::thread_rng().gen();
        Self(Secret::Raw(bytes.to_vec()).to_encoded().to_string())
    }

    pub fn from_base32(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn base32(&self) -> &str {
        &self.0
    }

    fn totp(&self, account: &str, issuer: &str) -> Option<TOTP> {
        let bytes = Secret::Encoded(self.0.clone()).to_bytes().ok()?;
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            STEP_SECS,
            bytes,
            Some(issuer.to_owned()),
            account.to_owned(),
        )
        .into()
    }

    /// The `otpauth://` address an authenticator app reads from the QR code.
    pub fn provisioning_url(&self, account: &str, issuer: &str) -> Option<String> {
        Some(self.totp(account, issuer)?.get_url())
    }

    /// The step a code belongs to, when it is the code of now or of a step
    /// either side (an app's clock may drift a little).
    pub fn matching_step(&self, code: &str, unix_now: u64) -> Option<u64> {
        let code = code.trim().replace(' ', "");
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("", "")?;
        let now_step = unix_now / STEP_SECS;
        (now_step.saturating_sub(SKEW_STEPS)..=now_step + SKEW_STEPS)
            .find(|step| totp.generate(step * STEP_SECS) == code)
    }
}

/// One-time recovery codes: `xxxxx-xxxxx` of lower-case letters and
/// digits (about 51 bits each; they are hashed with SHA-256 like tokens).
pub fn recovery_codes() -> Vec<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut code: String = (0..10)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect();
            code.insert(5, '-');
            code
        })
        .collect()
}

/// A recovery code as typed, normalized for hashing.
pub fn normalize_recovery_code(typed: &str) -> String {
    let compact: String = typed
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if compact.len() == 10 {
        format!("{}-{}", &compact[..5], &compact[5..])
    } else {
        compact
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_sha1_test_vector() {
        // RFC 6238 appendix B: the ASCII secret "12345678901234567890",
        // T = 59 s gives 94287082 (8 digits); its last 6 digits are ours.
        let secret = TotpSecret(
            Secret::Raw(b"12345678901234567890".to_vec())
                .to_encoded()
                .to_string(),
        );
        assert_eq!(secret.matching_step("287082", 59), Some(1));
        assert_eq!(secret.matching_step("287082", 59 + 30), Some(1), "drift");
        assert_eq!(secret.matching_step("287082", 59 + 90), None, "too old");
        assert_eq!(secret.matching_step("28708", 59), None);
        assert_eq!(secret.matching_step("abcdef", 59), None);
    }

    #[test]
    fn secrets_and_codes_are_fresh_and_well_formed() {
        let (a, b) = (TotpSecret::generate(), TotpSecret::generate());
        assert_ne!(a.base32(), b.base32());
        assert_eq!(a.base32().len(), 32);
        let url = a.provisioning_url("ops@example.com", "Mailroom").unwrap();
        assert!(
            url.starts_with("otpauth://totp/Mailroom:ops%40example.com?secret="),
            "{url}"
        );
        let codes = recovery_codes();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(codes
            .iter()
            .all(|c| c.len() == 11 && c.as_bytes()[5] == b'-'));
        assert_eq!(normalize_recovery_code(" ABCDE fghjk "), "abcde-fghjk");
        assert_eq!(normalize_recovery_code(&codes[0].to_uppercase()), codes[0]);
    }
}
