//! Integration secrets at rest: a JSON object of an integration's secret
//! settings, sealed with XChaCha20-Poly1305 under a 32-byte key, with the
//! integration's kind as associated data (a seal copied to another
//! integration's row does not open) and a random nonce per seal.
//!
//! A seal is the text `v1.{key id}.{nonce}.{ciphertext}` (base64, no
//! padding); the key id (the first 8 bytes of the key's SHA-256, in hex)
//! says which key sealed it, so a key rotation keeps the old key among the
//! previous keys until every row is re-sealed (saving re-seals, and so does
//! `mailroom integrations reseal`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::IntegrationKind;
use crate::config::{decode_secret_key, Settings};

const FORMAT: &str = "v1";
const NONCE_BYTES: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read or create the integrations key file {path}")]
    KeyFile {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("the integrations key file {0} does not hold 32 bytes in base64")]
    BadKeyFile(PathBuf),
    #[error("a configured integrations key is not 32 bytes in base64")]
    BadKey,
    /// Sealed by a key that is neither the current nor a previous one.
    #[error("the secrets were sealed with key {0}, which is not configured (see integrations.previous_secret_keys)")]
    UnknownKey(String),
    /// Tampered with, or moved to another integration's row.
    #[error("the sealed secrets do not open: they were altered or belong to another integration")]
    Tampered,
    #[error("the sealed secrets are not in a known format")]
    Malformed,
}

/// One key with its id.
#[derive(Clone)]
pub struct SecretKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl SecretKey {
    pub fn new(bytes: [u8; 32]) -> SecretKey {
        let digest = Sha256::digest(bytes);
        let id = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        SecretKey {
            id,
            cipher: XChaCha20Poly1305::new(&bytes.into()),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The current key, which seals, and the previous ones, which only open.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: SecretKey,
    previous: Vec<SecretKey>,
}

impl KeyRing {
    pub fn new(current: SecretKey, previous: Vec<SecretKey>) -> KeyRing {
        KeyRing { current, previous }
    }

    /// The keys the settings name: `integrations.secret_key`, or else the
    /// key file (created with a new random key, mode 0600, when missing).
    pub fn from_settings(settings: &Settings) -> Result<KeyRing, SecretsError> {
        let current = match &settings.integrations.secret_key {
            Some(text) => decode_secret_key(text).ok_or(SecretsError::BadKey)?,
            None => read_or_create_key_file(&settings.integrations_key_file())?,
        };
        let previous = settings
            .integrations
            .previous_secret_keys
            .iter()
            .map(|text| decode_secret_key(text).map(SecretKey::new))
            .collect::<Option<Vec<_>>>()
            .ok_or(SecretsError::BadKey)?;
        Ok(KeyRing::new(SecretKey::new(current), previous))
    }

    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    /// Seals `secrets` for `kind` with the current key and a fresh nonce.
    pub fn seal(&self, kind: IntegrationKind, secrets: &BTreeMap<String, String>) -> String {
        let plaintext = serde_json::to_vec(secrets).expect("a map of strings serializes");
        self.seal_bytes(&associated_data(kind), &plaintext)
    }

    /// Opens a seal of `kind` with whichever configured key made it.
    pub fn open(
        &self,
        kind: IntegrationKind,
        sealed: &str,
    ) -> Result<BTreeMap<String, String>, SecretsError> {
        let plaintext = self.open_bytes(&associated_data(kind), sealed)?;
        serde_json::from_slice(&plaintext).map_err(|_| SecretsError::Malformed)
    }

    /// Seals a secret of something other than an integration (an operator's
    /// TOTP secret); `context` is the associated data: the seal opens only
    /// with the same one.
    pub fn seal_text(&self, context: &str, secret: &str) -> String {
        self.seal_bytes(context, secret.as_bytes())
    }

    /// Opens a [`KeyRing::seal_text`] seal made for `context`.
    pub fn open_text(&self, context: &str, sealed: &str) -> Result<String, SecretsError> {
        String::from_utf8(self.open_bytes(context, sealed)?).map_err(|_| SecretsError::Malformed)
    }

    /// Whether `stored` is a seal (and not a value kept in the clear before
    /// sealing existed).
    pub fn is_sealed(stored: &str) -> bool {
        stored
            .strip_prefix(FORMAT)
            .is_some_and(|rest| rest.starts_with('.'))
    }

    fn seal_bytes(&self, associated: &str, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: associated.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any length we store");
        format!(
            "{FORMAT}.{}.{}.{}",
            self.current.id,
            BASE64.encode(nonce),
            BASE64.encode(ciphertext)
        )
    }

    fn open_bytes(&self, associated: &str, sealed: &str) -> Result<Vec<u8>, SecretsError> {
        let mut parts = sealed.split('.');
        let (Some(FORMAT), Some(key_id), Some(nonce), Some(ciphertext), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(SecretsError::Malformed);
        };
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == key_id)
            .ok_or_else(|| SecretsError::UnknownKey(key_id.to_owned()))?;
        let nonce = BASE64.decode(nonce).map_err(|_| SecretsError::Malformed)?;
        let ciphertext = BASE64
            .decode(ciphertext)
            .map_err(|_| SecretsError::Malformed)?;
        if nonce.len() != NONCE_BYTES {
            return Err(SecretsError::Malformed);
        }
        key.cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: associated.as_bytes(),
                },
            )
            .map_err(|_| SecretsError::Tampered)
    }

    /// Whether `sealed` was made by the current key (no reseal needed).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) == Some(self.current.id.as_str())
    }
}

fn associated_data(kind: IntegrationKind) -> String {
    format!("mailroom.integrations.{}", kind.key())
}

/// Reads the key file, or creates it with a new random key. Created with
/// `create_new` so two instances starting together agree on one key.
fn read_or_create_key_file(path: &Path) -> Result<[u8; 32], SecretsError> {
    let io_error = |cause| SecretsError::KeyFile {
        path: path.to_path_buf(),
        cause,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            return decode_secret_key(&crate::config::SecretText(text))
                .ok_or_else(|| SecretsError::BadKeyFile(path.to_path_buf()))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(io_error(error)),
    }
    if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(io_error)?;
    }
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            let encoded = base64::engine::general_purpose::STANDARD.encode(key);
            file.write_all(format!("{encoded}\n").as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io_error)?;
            tracing::info!(path = %path.display(), "created the integrations key file");
            Ok(key)
        }
        // Another instance created it first: use its key.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(io_error)?;
            decode_secret_key(&crate::config::SecretText(text))
                .ok_or_else(|| SecretsError::BadKeyFile(path.to_path_buf()))
        }
        Err(error) => Err(io_error(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> BTreeMap<String, String> {
        BTreeMap::from([("private_key".to_owned(), "s3cret-value".to_owned())])
    }

    #[test]
    fn a_seal_opens_with_its_key_and_kind_only() {
        let ring = KeyRing::new(SecretKey::new([7; 32]), vec![]);
        let sealed = ring.seal(IntegrationKind::ConnectWise, &secrets());
        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            ring.open(IntegrationKind::ConnectWise, &sealed).unwrap(),
            secrets()
        );
        // A fresh nonce each time.
        assert_ne!(sealed, ring.seal(IntegrationKind::ConnectWise, &secrets()));
        let other = KeyRing::new(SecretKey::new([8; 32]), vec![]);
        assert!(matches!(
            other.open(IntegrationKind::ConnectWise, &sealed),
            Err(SecretsError::UnknownKey(_))
        ));
        let mut tampered = sealed.clone();
        tampered.replace_range(tampered.len() - 3.., "AAA");
        assert!(matches!(
            ring.open(IntegrationKind::ConnectWise, &tampered),
            Err(SecretsError::Tampered) | Err(SecretsError::Malformed)
        ));
        assert!(matches!(
            ring.open(IntegrationKind::ConnectWise, "plain text"),
            Err(SecretsError::Malformed)
        ));
    }

    #[test]
    fn previous_keys_open_and_the_current_key_seals() {
        let old = KeyRing::new(SecretKey::new([1; 32]), vec![]);
        let sealed = old.seal(IntegrationKind::ConnectWise, &secrets());
        let rotated = KeyRing::new(SecretKey::new([2; 32]), vec![SecretKey::new([1; 32])]);
        assert!(!rotated.is_current(&sealed));
        assert_eq!(
            rotated.open(IntegrationKind::ConnectWise, &sealed).unwrap(),
            secrets()
        );
        let resealed = rotated.seal(IntegrationKind::ConnectWise, &secrets());
        assert!(rotated.is_current(&resealed));
        assert!(format!("{rotated:?}").contains(rotated.current_key_id()));
    }

    #[test]
    fn the_key_file_is_created_once_private_to_its_owner() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("nested/integrations.key");
        let first = read_or_create_key_file(&path).unwrap();
        assert_eq!(read_or_create_key_file(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(
            read_or_create_key_file(&path),
            Err(SecretsError::BadKeyFile(_))
        ));
    }
}
