//! Guest identity: a display name in a signed, HttpOnly cookie, held by one session.
//!
//! The cookie is signed with HMAC-SHA256 (the `cookie` crate's signed jar) under a key derived
//! from `CHAT_SECRET`, so every node with the same secret accepts every other node's
//! sessions. A signature proves only that some node issued the token; the name belongs
//! to the session whose id the broker's hold carries ([`super::broker::Broker::holds`]).
//! So a token stops working everywhere once its hold ends: on sign-out, after
//! `CHAT_NAME_IDLE_DAYS` unused, or when someone else takes the name after that.
//!
//! - [`Claimed`]: a validly signed token, hold not checked. Posting uses it, because the
//!   publish step checks the hold itself, in the same atomic step that stores.
//! - [`Session`]: a token whose session holds its name now; everything else uses it.

use super::{
    broker::{Claim, Holder},
    error::{Error, Result},
    extract::ApiJson,
    net::ClientAddr,
    state::AppState,
};
use crate::message::{DisplayName, SessionInfo};
use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use cookie::{Cookie, CookieJar, Key, SameSite};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

pub const COOKIE_NAME: &str = "chat_session";

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

/// What a session cookie carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    /// Random per sign-in (and kept across a change of name); the broker's hold for the
    /// name carries it, and it scopes idempotency keys.
    #[serde(rename = "sid")]
    pub id: String,
    pub name: DisplayName,
    /// When this cookie was issued (seconds since the epoch), so that it is renewed
    /// about daily rather than on every request (tokens from before it read as 0).
    #[serde(rename = "iat", default)]
    pub issued: u64,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Token {
    fn new(name: DisplayName) -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            id: URL_SAFE_NO_PAD.encode(bytes),
            name,
            issued: now_secs(),
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
    /// cookie, which callgrind showed as the largest cost of a post (BENCHMARKS.md).
    /// Every cookie of that name is tried (one HMAC each), so that a cookie of the same
    /// name set by a sibling domain cannot shadow the real one.
    pub fn from_headers(headers: &HeaderMap, key: &Key) -> Option<Self> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(';'))
            .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_owned()).ok())
            .filter(|cookie| cookie.name() == COOKIE_NAME)
            .find_map(|cookie| {
                let mut jar = CookieJar::new();
                jar.add_original(cookie);
                Self::decode(jar.signed(key).get(COOKIE_NAME)?.value())
            })
    }

    pub fn holder(&self) -> Holder {
        Holder {
            name: self.name.clone(),
            session_id: self.id.clone(),
        }
    }
}

/// A validly signed session token whose hold is not checked yet. As an extractor it
/// answers 401 `unauthenticated` when the cookie is missing, tampered with, or signed by
/// another secret.
#[derive(Clone, Debug)]
pub struct Claimed(pub Token);

impl<S> FromRequestParts<S> for Claimed
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let state = AppState::from_ref(state);
        Token::from_headers(&parts.headers, &state.cookie.key)
            .map(Claimed)
            .ok_or(Error::Unauthenticated)
    }
}

/// The signed-in guest: a token whose session holds its name now. Reading it counts as
/// use and extends the hold. As an extractor it answers 401 `unauthenticated` otherwise.
#[derive(Clone, Debug)]
pub struct Session(pub Token);

impl Session {
    /// The session in `headers`, if its token is valid and its hold is current.
    pub async fn verify(state: &AppState, headers: &HeaderMap) -> Result<Option<Self>> {
        let Some(token) = Token::from_headers(headers, &state.cookie.key) else {
            return Ok(None);
        };
        let held = state.broker.holds(&token.holder()).await?;
        Ok(held.then_some(Self(token)))
    }
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let state = AppState::from_ref(state);
        Session::verify(&state, &parts.headers)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

fn session_cookie(settings: &CookieSettings, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, value))
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
        .get(COOKIE_NAME)
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

/// Signs in as `raw_name` from `client`: the one path for the JSON API and the no-JS
/// form. A session that already has a token keeps its id, so signing in again with the
/// name it holds succeeds, and a new name releases the old one.
pub async fn sign_in_as(
    state: &AppState,
    headers: &HeaderMap,
    client: ClientAddr,
    raw_name: &str,
) -> Result<(Token, HeaderValue)> {
    let name = DisplayName::parse(raw_name)?;
    let previous = Token::from_headers(headers, &state.cookie.key);
    let token = match &previous {
        Some(previous) => Token {
            id: previous.id.clone(),
            name,
            issued: now_secs(),
        },
        None => Token::new(name),
    };
    let previous_name = previous.as_ref().map(|t| &t.name);
    match state
        .broker
        .claim_name(&token.holder(), previous_name, client.0)
        .await?
    {
        Claim::Granted => {
            let cookie = cookie_header(&state.cookie, &token);
            Ok((token, cookie))
        }
        Claim::Taken => Err(Error::NameTaken),
    }
}

/// Ends the hold of the session in `headers`, if any, and returns the removal cookie.
pub async fn sign_out_of(state: &AppState, headers: &HeaderMap) -> Result<HeaderValue> {
    if let Some(token) = Token::from_headers(headers, &state.cookie.key) {
        state.broker.release_name(&token.holder()).await?;
    }
    Ok(removal_header(&state.cookie))
}

#[derive(Deserialize)]
pub struct SignIn {
    name: String,
}

/// `POST /api/session`
pub async fn sign_in(
    State(state): State<AppState>,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<impl IntoResponse> {
    let (token, cookie) = sign_in_as(&state, &headers, client, &body.name).await?;
    Ok((
        [(header::SET_COOKIE, cookie)],
        axum::Json(SessionInfo { name: token.name }),
    ))
}

/// `GET /api/session`: reading it is use, so the cookie is renewed when due.
pub async fn current(State(state): State<AppState>, Session(token): Session) -> Response {
    let renewal = renewal_header(&state.cookie, &token);
    with_cookie(axum::Json(SessionInfo { name: token.name }), renewal)
}

/// A response with `Set-Cookie: cookie`, when there is one.
pub fn with_cookie(response: impl IntoResponse, cookie: Option<HeaderValue>) -> Response {
    let mut response = response.into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// `DELETE /api/session`: always answers with a removal cookie, whether or not the
/// request carried a valid session.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    let removal = sign_out_of(&state, &headers).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, removal)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_rejects_garbage() {
        let token = Token::new(DisplayName::parse("Zoë").unwrap());
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
        let token = Token::new(DisplayName::parse("mason").unwrap());
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
        assert_eq!(
            Token::from_headers(&headers, &key_from_secret("one")),
            Some(token)
        );
        assert_eq!(Token::from_headers(&headers, &key_from_secret("two")), None);
        // Among other cookies, with a forged one of the same name before or after it.
        for crowd in [
            format!("a=1; chat_session=forged; {pair}; b=2"),
            format!("{pair}; chat_session=forged"),
        ] {
            let mut crowded = HeaderMap::new();
            crowded.insert(header::COOKIE, crowd.parse().unwrap());
            assert_eq!(
                Token::from_headers(&crowded, &key_from_secret("one")).map(|t| t.name),
                Some(DisplayName::parse("mason").unwrap()),
                "{crowd}"
            );
        }
    }

    #[test]
    fn a_cookie_is_renewed_after_half_its_life_or_a_day() {
        let settings = CookieSettings {
            max_age_secs: 30 * 86_400,
            ..settings("one")
        };
        let fresh = Token::new(DisplayName::parse("mason").unwrap());
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
