//! Agent sign-in: argon2 password hashes from config, and a signed,
//! expiring session cookie (no server-side session table to clean up).

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The PHC string for `password` (what `handoff agent add` stores).
pub fn hash_password(password: &str) -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored PHC string. A malformed hash
/// matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

fn mac(key: &[u8], login: &str, expires: i64) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(login.as_bytes());
    mac.update(b"\n");
    mac.update(expires.to_string().as_bytes());
    mac
}

/// The cookie value for `login` until `expires` (unix seconds).
pub fn session_cookie(key: &[u8], login: &str, expires: i64) -> String {
    let sig = hex::encode(mac(key, login, expires).finalize().into_bytes());
    format!("{}.{expires}.{sig}", hex::encode(login))
}

/// The login a cookie value vouches for at `now`, if its signature checks
/// out (constant-time) and it has not expired.
pub fn check_cookie(key: &[u8], value: &str, now: i64) -> Option<String> {
    let mut parts = value.splitn(3, '.');
    let login = String::from_utf8(hex::decode(parts.next()?).ok()?).ok()?;
    let expires: i64 = parts.next()?.parse().ok()?;
    let sig = hex::decode(parts.next()?).ok()?;
    mac(key, &login, expires).verify_slice(&sig).ok()?;
    (expires > now).then_some(login)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn cookies_are_signed_and_expire() {
        let c = session_cookie(b"k", "alice", 100);
        assert_eq!(check_cookie(b"k", &c, 99), Some("alice".into()));
        assert_eq!(check_cookie(b"k", &c, 100), None);
        assert_eq!(check_cookie(b"other", &c, 0), None);
        let forged = c.replacen(&hex::encode("alice"), &hex::encode("bob"), 1);
        assert_eq!(check_cookie(b"k", &forged, 0), None);
        assert_eq!(check_cookie(b"k", "garbage", 0), None);
    }
}
