//! The session cookie: a [`Token`] signed with HMAC-SHA256 (the `cookie` crate's signed
//! jar) under a key derived from `CHAT_SECRET`, so every node with the same secret accepts
//! every other node's sessions. A signature proves only that some node issued the token;
//! whether its session still holds its name is the broker's to say (`session.rs`).

use crate::{
    message::{DisplayName, SessionInfo},
    server::broker::Holder,
};
use axum::http::{HeaderMap, HeaderValue, header};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, CookieJar, Key, SameSite};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

/// The cookie's name over plain HTTP (`docs/API.md`).
pub const COOKIE_NAME: &str = "chat_session";
/// Its name when the chat is served over https: the `__Host-` prefix makes browsers keep
/// it only with `Secure`, `Path=/` and no `Domain`, so that a sibling subdomain (or a
/// network attacker over plain HTTP) cannot set one the server would take for its own.
pub const SECURE_COOKIE_NAME: &str = "__Host-chat_session";

/// Derives the 64-byte cookie key from the configured secret, whatever its length.
pub fn key_from_secret(secret: &str) -> Key {
    let digest = Sha512::new()
        .chain_update(b"tiny-chat session key v1\0")
        .chain_update(secret.as_bytes())
        .finalize();
    Key::from(&digest)
}

/// A random secret for a node started without `CHAT_SECRET`.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The cookie's attributes beyond the contract's fixed ones.
#[derive(Clone, Debug)]
pub struct CookieSettings {
    pub key: Key,
    /// `Max-Age`, in seconds: the name's idle lifetime.
    pub max_age_secs: i64,
    /// `Secure`, when `CHAT_PUBLIC_URL` is https.
    pub secure: bool,
}

impl CookieSettings {
    /// [`SECURE_COOKIE_NAME`] when the cookie is `Secure`, else [`COOKIE_NAME`].
    pub fn name(&self) -> &'static str {
        if self.secure {
            SECURE_COOKIE_NAME
        } else {
            COOKIE_NAME
        }
    }
}

/// What a session cookie carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Random per sign-in (kept across a change of name only while this very token
    /// holds its name: `Chat::sign_in`); the broker's hold for the name carries it, and
    /// it scopes idempotency keys.
    #[serde(rename = "sid")]
    pub id: String,
    pub name: DisplayName,
    /// When this cookie was issued (seconds since the epoch), so that it is renewed
    /// about daily rather than on every request (tokens from before it read as 0).
    #[serde(rename = "iat", default)]
    pub issued: u64,
    /// When the session's holding of its name began ([`Holder::since`], ms). A token from
    /// before it was kept reads as when it was issued, which is never earlier: such a
    /// session may change fewer of its own messages, never an earlier holder's.
    #[serde(rename = "hs", default)]
    pub since: Option<u64>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Token {
    /// A cookie for `holder`'s session, issued now.
    pub fn issue(holder: Holder) -> Self {
        Self {
            id: holder.session_id,
            name: holder.name,
            issued: now_secs(),
            since: Some(holder.since),
        }
    }

    /// The same session in a cookie issued now, if this one is old enough to renew: past
    /// half its lifetime, or a day, whichever comes first. Use extends the hold, and
    /// renewing the cookie with it keeps a person who keeps chatting signed in, at the
    /// cost of one HMAC a day rather than one per request.
    pub fn renewed(&self, settings: &CookieSettings) -> Option<Token> {
        let every = (settings.max_age_secs as u64 / 2).clamp(1, 86_400);
        let now = now_secs();
        (now.saturating_sub(self.issued) >= every).then(|| Token {
            issued: now,
            ..self.clone()
        })
    }

    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a token always serializes"))
    }

    fn decode(token: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).ok()?).ok()
    }

    /// Reads and verifies the signature of the session cookie in `headers`, if any.
    ///
    /// One HMAC: axum-extra's `SignedCookieJar::from_headers` verifies every cookie,
    /// signs it again to store it and verifies it once more on `get`, three HMACs per
    /// cookie, which callgrind showed as the largest cost of a post (`docs/ARCHITECTURE.md`,
    /// ledger 4).
    /// Every cookie of that name is tried (one HMAC each), so that a cookie of the same
    /// name set by a sibling domain cannot shadow the real one.
    pub fn from_headers(headers: &HeaderMap, settings: &CookieSettings) -> Option<Self> {
        let name = settings.name();
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_owned()).ok())
            .filter(|cookie| cookie.name() == name)
            .find_map(|cookie| {
                let mut jar = CookieJar::new();
                jar.add_original(cookie);
                Self::decode(jar.signed(&settings.key).get(name)?.value())
            })
    }

    /// What `GET`/`POST /api/session` answer about this session.
    pub fn info(&self) -> SessionInfo {
        SessionInfo {
            name: self.name.clone(),
            since: crate::message::rfc3339_millis(self.holding_since()),
        }
    }

    fn holding_since(&self) -> u64 {
        self.since.unwrap_or(self.issued.saturating_mul(1000))
    }

    pub fn holder(&self) -> Holder {
        Holder {
            name: self.name.clone(),
            session_id: self.id.clone(),
            since: self.holding_since(),
        }
    }
}

fn session_cookie(settings: &CookieSettings, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((settings.name(), value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(settings.secure)
        .max_age(cookie::time::Duration::seconds(max_age_secs))
        .build()
}

/// The `Set-Cookie` value that carries `token`, with a fresh `Max-Age`.
pub fn cookie_header(settings: &CookieSettings, token: &Token) -> HeaderValue {
    let mut jar = CookieJar::new();
    jar.signed_mut(&settings.key).add(session_cookie(
        settings,
        token.encode(),
        settings.max_age_secs,
    ));
    let cookie = jar
        .get(settings.name())
        .expect("the jar holds the cookie just added");
    HeaderValue::from_str(&cookie.encoded().to_string())
        .expect("a percent-encoded cookie is a valid header value")
}

/// `Set-Cookie` with a renewed cookie for `token`, if it is due (see [`Token::renewed`]).
pub fn renewal_header(settings: &CookieSettings, token: &Token) -> Option<HeaderValue> {
    token
        .renewed(settings)
        .map(|renewed| cookie_header(settings, &renewed))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn removal_header(settings: &CookieSettings) -> HeaderValue {
    let mut removal = session_cookie(settings, String::new(), 0);
    removal.make_removal();
    HeaderValue::from_str(&removal.to_string()).expect("a cookie is a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str) -> Token {
        Token::issue(Holder {
            name: DisplayName::parse(name).unwrap(),
            session_id: "a-session".into(),
            since: 1,
        })
    }

    #[test]
    fn a_token_round_trips_and_rejects_garbage() {
        let token = token("Zoë");
        assert_eq!(Token::decode(&token.encode()), Some(token));
        assert_eq!(Token::decode("not base64!"), None);
        assert_eq!(
            Token::decode(&URL_SAFE_NO_PAD.encode(br#"{"sid":"x","name":"<b>"}"#)),
            None
        );
    }

    fn settings(secret: &str) -> CookieSettings {
        CookieSettings {
            key: key_from_secret(secret),
            max_age_secs: 60,
            secure: true,
        }
    }

    #[test]
    fn a_cookie_signed_with_another_secret_is_rejected() {
        let token = token("mason");
        let set_cookie = cookie_header(&settings("one"), &token);
        let set_cookie = set_cookie.to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure", "Max-Age=60"] {
            assert!(
                set_cookie.split("; ").any(|a| a == attribute),
                "{set_cookie}"
            );
        }
        // Send it back as a browser would: the name=value pair only.
        let mut headers = HeaderMap::new();
        let pair = set_cookie.split(';').next().unwrap();
        headers.insert(header::COOKIE, pair.parse().unwrap());
        assert_eq!(Token::from_headers(&headers, &settings("one")), Some(token));
        assert_eq!(Token::from_headers(&headers, &settings("two")), None);
        // Among other cookies, with a forged one of the same name before or after it.
        let name = settings("one").name();
        for crowd in [
            format!("a=1; {name}=forged; {pair}; b=2"),
            format!("{pair}; {name}=forged"),
        ] {
            let mut crowded = HeaderMap::new();
            crowded.insert(header::COOKIE, crowd.parse().unwrap());
            assert_eq!(
                Token::from_headers(&crowded, &settings("one")).map(|t| t.name),
                Some(DisplayName::parse("mason").unwrap()),
                "{crowd}"
            );
        }
    }

    #[test]
    fn over_https_the_cookie_takes_the_host_prefix_and_only_that_name_is_read() {
        let token = token("mason");
        let secure = settings("one");
        let plain = CookieSettings {
            secure: false,
            ..settings("one")
        };
        let over_https = cookie_header(&secure, &token);
        assert!(
            over_https
                .to_str()
                .unwrap()
                .starts_with("__Host-chat_session=")
        );
        let over_http = cookie_header(&plain, &token);
        assert!(over_http.to_str().unwrap().starts_with("chat_session="));
        // A cookie of the other name is not this server's: over https, one set without
        // the prefix (by a subdomain, or over plain HTTP) is ignored.
        let mut headers = HeaderMap::new();
        let pair = over_http.to_str().unwrap().split(';').next().unwrap();
        headers.insert(header::COOKIE, pair.parse().unwrap());
        assert_eq!(Token::from_headers(&headers, &secure), None);
        assert_eq!(Token::from_headers(&headers, &plain), Some(token));
    }

    #[test]
    fn a_cookie_is_renewed_after_half_its_life_or_a_day() {
        let settings = CookieSettings {
            max_age_secs: 30 * 86_400,
            ..settings("one")
        };
        let fresh = token("mason");
        assert_eq!(fresh.renewed(&settings), None);
        let day_old = Token {
            issued: fresh.issued - 86_400,
            ..fresh.clone()
        };
        let renewed = day_old.renewed(&settings).unwrap();
        assert_eq!(
            (renewed.id, renewed.issued),
            (fresh.id.clone(), fresh.issued)
        );
        let short = CookieSettings {
            max_age_secs: 2,
            ..settings
        };
        let second_old = Token {
            issued: fresh.issued - 1,
            ..fresh
        };
        assert!(second_old.renewed(&short).is_some());
    }
}
