//! Guest identity: a display name in a signed, HttpOnly cookie.
//!
//! The cookie is signed with HMAC-SHA256 (axum-extra's signed jar) under a key derived
//! from `CHAT_SECRET`, so every node with the same secret accepts every other node's
//! sessions, and nobody can post under a name the server did not sign.

use super::{
    error::{Error, Result},
    extract::ApiJson,
    state::AppState,
};
use crate::message::{DisplayName, SessionInfo};
use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{StatusCode, request::Parts},
    response::IntoResponse,
};
use axum_extra::extract::{
    CookieJar, SignedCookieJar,
    cookie::{Cookie, Key, SameSite},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
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

/// The signed-in guest. As an extractor it answers 401 `unauthenticated` when the cookie
/// is missing, tampered with, or signed by another secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random per sign-in; scopes idempotency keys to this session.
    #[serde(rename = "sid")]
    pub id: String,
    pub name: DisplayName,
}

impl Session {
    fn new(name: DisplayName) -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self {
            id: URL_SAFE_NO_PAD.encode(bytes),
            name,
        }
    }

    fn to_token(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a session always serializes"))
    }

    fn from_token(token: &str) -> Option<Self> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token).ok()?).ok()
    }

    /// Reads and verifies the session cookie, if any.
    pub fn from_jar(jar: &SignedCookieJar) -> Option<Self> {
        Self::from_token(jar.get(COOKIE_NAME)?.value())
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
        let jar = SignedCookieJar::from_headers(&parts.headers, state.cookie_key.clone());
        Session::from_jar(&jar).ok_or(Error::Unauthenticated)
    }
}

fn session_cookie(value: String) -> Cookie<'static> {
    Cookie::build((COOKIE_NAME, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .build()
}

#[derive(Deserialize)]
pub struct SignIn {
    name: String,
}

/// A fresh session for `name`, and the `Set-Cookie` header value that carries it.
pub fn start(key: &Key, name: DisplayName) -> (Session, axum::http::HeaderValue) {
    let session = Session::new(name);
    let response = SignedCookieJar::new(key.clone())
        .add(session_cookie(session.to_token()))
        .into_response();
    let header = response
        .headers()
        .get(axum::http::header::SET_COOKIE)
        .expect("a jar with one added cookie sets it")
        .clone();
    (session, header)
}

/// `POST /api/session`
pub async fn sign_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<impl IntoResponse> {
    let name = DisplayName::parse(&body.name)?;
    let (_, cookie) = start(&state.cookie_key, name.clone());
    Ok((
        [(axum::http::header::SET_COOKIE, cookie)],
        axum::Json(SessionInfo { name }),
    ))
}

/// `GET /api/session`
pub async fn current(session: Session) -> axum::Json<SessionInfo> {
    axum::Json(SessionInfo { name: session.name })
}

/// `DELETE /api/session`: always answers with a removal cookie, whether or not the
/// request carried a valid session.
pub async fn sign_out() -> impl IntoResponse {
    let mut removal = session_cookie(String::new());
    removal.make_removal();
    (StatusCode::NO_CONTENT, CookieJar::new().add(removal))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_rejects_garbage() {
        let session = Session::new(DisplayName::parse("Zoë").unwrap());
        assert_eq!(Session::from_token(&session.to_token()), Some(session));
        assert_eq!(Session::from_token("not base64!"), None);
        assert_eq!(
            Session::from_token(&URL_SAFE_NO_PAD.encode(br#"{"sid":"x","name":"<b>"}"#)),
            None
        );
    }

    #[test]
    fn a_cookie_signed_with_another_secret_is_rejected() {
        let session = Session::new(DisplayName::parse("mason").unwrap());
        let signed =
            SignedCookieJar::new(key_from_secret("one")).add(session_cookie(session.to_token()));
        let cookie = signed.get(COOKIE_NAME).unwrap();
        let mut headers = axum::http::HeaderMap::new();
        // The jar stores the signed value; send it back as a browser would.
        let header = signed
            .into_response()
            .headers()
            .get(axum::http::header::SET_COOKIE)
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        headers.insert(axum::http::header::COOKIE, header.parse().unwrap());
        let same = SignedCookieJar::from_headers(&headers, key_from_secret("one"));
        assert_eq!(
            Session::from_jar(&same).map(|s| s.name),
            Some(session.name.clone())
        );
        let other = SignedCookieJar::from_headers(&headers, key_from_secret("two"));
        assert_eq!(Session::from_jar(&other), None);
        assert_eq!(cookie.value(), session.to_token());
    }
}
