//! Session tokens and the host site's signed identity claims. Pure: the
//! caller passes the current time and stores what these functions return.

use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::protocol::SignedIdentity;

/// A new bearer token for a browser: 32 random bytes, hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What is stored for a token: its SHA-256, hex. A leaked database does not
/// hand out live sessions.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A claim that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The site's user id.
    pub user_id: String,
    /// Their email.
    pub email: Option<String>,
    /// Their name.
    pub name: Option<String>,
}

/// Why a claim was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// No shared secret is configured, so no claim can be trusted.
    #[error("identity verification is not configured")]
    NotConfigured,
    /// The signature does not match.
    #[error("the identity signature does not match")]
    BadSignature,
    /// `expires` is in the past.
    #[error("the identity claim expired")]
    Expired,
    /// The user id is empty or too long.
    #[error("the identity's user id is empty or longer than 128 characters")]
    BadUserId,
}

/// The text the host site signs.
pub fn signing_input(
    user_id: &str,
    email: Option<&str>,
    name: Option<&str>,
    expires: i64,
) -> String {
    format!(
        "{user_id}\n{}\n{}\n{expires}",
        email.unwrap_or_default(),
        name.unwrap_or_default()
    )
}

/// The signature a host site computes (also used by tests and the demo).
pub fn sign(secret: &[u8], input: &str) -> String {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(input.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a claim against the shared secret at `now` (unix seconds). The
/// comparison is constant-time.
pub fn verify(
    secret: Option<&[u8]>,
    claim: &SignedIdentity,
    now: i64,
) -> Result<VerifiedUser, IdentityError> {
    let secret = secret.ok_or(IdentityError::NotConfigured)?;
    if claim.user_id.is_empty() || claim.user_id.chars().count() > 128 {
        return Err(IdentityError::BadUserId);
    }
    let input = signing_input(
        &claim.user_id,
        claim.email.as_deref(),
        claim.name.as_deref(),
        claim.expires,
    );
    let sig = hex::decode(&claim.sig).map_err(|_| IdentityError::BadSignature)?;
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(input.as_bytes());
    mac.verify_slice(&sig)
        .map_err(|_| IdentityError::BadSignature)?;
    if claim.expires < now {
        return Err(IdentityError::Expired);
    }
    Ok(VerifiedUser {
        user_id: claim.user_id.clone(),
        email: claim.email.clone(),
        name: claim.name.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(secret: &[u8], user: &str, expires: i64) -> SignedIdentity {
        SignedIdentity {
            user_id: user.into(),
            email: Some("ana@example.com".into()),
            name: Some("Ana".into()),
            expires,
            sig: sign(
                secret,
                &signing_input(user, Some("ana@example.com"), Some("Ana"), expires),
            ),
        }
    }

    #[test]
    fn a_signed_claim_is_accepted_until_it_expires() {
        let c = claim(b"s3cret", "u42", 1_000);
        let user = verify(Some(b"s3cret"), &c, 999).unwrap();
        assert_eq!(user.user_id, "u42");
        assert_eq!(
            verify(Some(b"s3cret"), &c, 1_001),
            Err(IdentityError::Expired)
        );
    }

    #[test]
    fn unsigned_or_altered_claims_are_refused() {
        let mut c = claim(b"s3cret", "u42", 1_000);
        assert_eq!(verify(None, &c, 0), Err(IdentityError::NotConfigured));
        assert_eq!(
            verify(Some(b"other"), &c, 0),
            Err(IdentityError::BadSignature)
        );
        c.email = Some("boss@example.com".into());
        assert_eq!(
            verify(Some(b"s3cret"), &c, 0),
            Err(IdentityError::BadSignature)
        );
        let mut c = claim(b"s3cret", "u42", 1_000);
        c.sig = "not hex".into();
        assert_eq!(
            verify(Some(b"s3cret"), &c, 0),
            Err(IdentityError::BadSignature)
        );
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), a);
    }
}
