//! Sessions of the audit log page: a signed cookie that names the API key or
//! the viewer link behind it, never a secret.
//!
//! The cookie is `base64url(claims) "." base64url(HMAC-SHA256(claims))` under
//! a key derived from the server's signing key, so every server of a
//! deployment accepts it and nothing is stored per session. Each request
//! looks the key or link up again: revoking either ends its sessions at once.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use hmac::{Hmac, Mac};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE: &str = "evident_session";
/// How long an operator's sign-in lasts.
pub const KEY_SESSION: SignedDuration = SignedDuration::from_hours(12);

/// What a session stands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// An API key with the read scope, by id.
    Key(String),
    /// A viewer link, by id.
    Link(String),
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(flatten)]
    principal: Principal,
    /// Unix seconds after which the cookie is refused.
    exp: i64,
}

/// Signs and opens session cookies.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("SessionKey(..)")
    }
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; the error cannot happen.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

impl SessionKey {
    /// A key of its own for sessions, derived from `secret` (the signing key's encoding).
    pub fn derive(secret: &[u8]) -> SessionKey {
        let mut derived = mac(secret);
        derived.update(b"evident/ui-session/v1");
        SessionKey(derived.finalize().into_bytes().into())
    }

    /// A cookie value for `principal`, good until `expires_at`.
    pub fn sign(&self, principal: Principal, expires_at: Timestamp) -> String {
        let claims = Claims {
            principal,
            exp: expires_at.as_second(),
        };
        let body = BASE64URL.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let mut signature = mac(&self.0);
        signature.update(body.as_bytes());
        format!(
            "{body}.{}",
            BASE64URL.encode(signature.finalize().into_bytes())
        )
    }

    /// The principal of a cookie this key signed and that has not expired at `now`.
    pub fn open(&self, token: &str, now: Timestamp) -> Option<Principal> {
        self.open_until(token, now).map(|(principal, _)| principal)
    }

    /// The principal of a good cookie and when it expires.
    pub fn open_until(&self, token: &str, now: Timestamp) -> Option<(Principal, Timestamp)> {
        let (body, signature) = token.split_once('.')?;
        let signature = BASE64URL.decode(signature).ok()?;
        let mut expected = mac(&self.0);
        expected.update(body.as_bytes());
        // verify_slice compares in constant time.
        expected.verify_slice(&signature).ok()?;
        let claims: Claims = serde_json::from_slice(&BASE64URL.decode(body).ok()?).ok()?;
        let expires_at = Timestamp::from_second(claims.exp).ok()?;
        (now < expires_at).then_some((claims.principal, expires_at))
    }
}

/// The session cookie's value among a request's `Cookie` headers.
pub fn from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    headers
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(name, value)| (name == COOKIE).then_some(value))
}

/// How the cookie is set: operators' sessions stay first-party (SameSite=Strict);
/// a viewer's must also work inside a product's iframe, so over TLS it is a
/// partitioned third-party cookie (CHIPS), kept apart per embedding site.
pub fn set_cookie(value: &str, max_age: SignedDuration, embeddable: bool, tls: bool) -> String {
    let seconds = max_age.as_secs().max(0);
    let site = match (embeddable, tls) {
        (true, true) => "SameSite=None; Secure; Partitioned",
        (true, false) => "SameSite=Lax",
        (false, true) => "SameSite=Strict; Secure",
        (false, false) => "SameSite=Strict",
    };
    format!("{COOKIE}={value}; Path=/ui; HttpOnly; Max-Age={seconds}; {site}")
}

/// A `Set-Cookie` value that ends the session in the browser.
pub fn clear_cookie(tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/ui; HttpOnly; Max-Age=0; SameSite=Strict{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn a_signed_cookie_opens_until_it_expires() {
        let key = SessionKey::derive(b"seed");
        let token = key.sign(Principal::Key("key_1".into()), at(1_000));
        assert_eq!(
            key.open(&token, at(999)),
            Some(Principal::Key("key_1".into()))
        );
        assert_eq!(key.open(&token, at(1_000)), None);
        let link = key.sign(Principal::Link("vl_1".into()), at(1_000));
        assert_eq!(key.open(&link, at(0)), Some(Principal::Link("vl_1".into())));
    }

    #[test]
    fn altered_or_foreign_cookies_are_refused() {
        let key = SessionKey::derive(b"seed");
        let token = key.sign(Principal::Key("key_1".into()), at(1_000));
        let (body, signature) = token.split_once('.').unwrap();
        let forged = BASE64URL.encode(br#"{"kind":"key","id":"key_2","exp":1000}"#);
        for bad in [
            format!("{forged}.{signature}"),
            format!("{body}.{}", BASE64URL.encode([0u8; 32])),
            body.to_owned(),
            String::new(),
            "..".to_owned(),
        ] {
            assert_eq!(key.open(&bad, at(0)), None, "{bad}");
        }
        assert_eq!(SessionKey::derive(b"other").open(&token, at(0)), None);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let headers = ["a=1; evident_session=abc.def", "b=2"];
        assert_eq!(from_cookies(headers.into_iter()), Some("abc.def"));
        assert_eq!(from_cookies(["evident_sessionx=1"].into_iter()), None);
    }

    #[test]
    fn cookies_are_http_only_and_strict_unless_embeddable() {
        let operator = set_cookie("v", KEY_SESSION, false, true);
        assert!(operator.contains("HttpOnly") && operator.contains("SameSite=Strict; Secure"));
        let viewer = set_cookie("v", SignedDuration::from_secs(60), true, true);
        assert!(
            viewer.contains("SameSite=None; Secure; Partitioned") && viewer.contains("Max-Age=60")
        );
        assert!(!set_cookie("v", KEY_SESSION, false, false).contains("Secure"));
    }
}
