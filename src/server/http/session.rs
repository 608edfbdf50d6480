//! Guest identity on the HTTP edge: the session extractors and `/api/session`.
//!
//! The cookie ([`cookie`](super::cookie)) carries a session's id and name; the session
//! holds its name while the broker's hold for that name carries its id
//! ([`Chat::holds`]). So a token stops working everywhere once its hold ends: on
//! sign-out, after `CHAT_NAME_IDLE_DAYS` unused, or when someone else takes the name
//! after that.
//!
//! - [`Claimed`]: a validly signed token, hold not checked. Posting uses it, because the
//!   publish step checks the hold itself, in the same atomic step that stores.
//! - [`Session`]: a token whose session holds its name now; everything else uses it.
//!
//! Each extractor asks for the parts of the state it reads (`FromRef`), not the whole.

use super::{
    cookie::{CookieSettings, Token, cookie_header, removal_header, renewal_header},
    error::{Error, Result},
    extract::ApiJson,
    net::ClientAddr,
};
use crate::server::chat::Chat;
use axum::{
    extract::{FromRef, FromRequestParts, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use serde::Deserialize;

/// A validly signed session token whose hold is not checked yet. As an extractor it
/// answers 401 `unauthenticated` when the cookie is missing, tampered with, or signed by
/// another secret.
#[derive(Clone, Debug)]
pub struct Claimed(pub Token);

impl<S> FromRequestParts<S> for Claimed
where
    S: Send + Sync,
    CookieSettings: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let cookie = CookieSettings::from_ref(state);
        Token::from_headers(&parts.headers, &cookie)
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
    pub async fn verify(
        chat: &Chat,
        cookie: &CookieSettings,
        headers: &HeaderMap,
    ) -> Result<Option<Self>> {
        let Some(token) = Token::from_headers(headers, cookie) else {
            return Ok(None);
        };
        let held = chat.holds(&token.holder()).await?;
        Ok(held.then_some(Self(token)))
    }
}

impl<S> FromRequestParts<S> for Session
where
    S: Send + Sync,
    Chat: FromRef<S>,
    CookieSettings: FromRef<S>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let (chat, cookie) = (Chat::from_ref(state), CookieSettings::from_ref(state));
        Session::verify(&chat, &cookie, &parts.headers)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

/// Signs in as `raw_name` from `client` ([`Chat::sign_in`]), as the session of the
/// cookie in `headers` if there is one: the one path for the JSON API and the no-JS form.
/// Answers the new token and its `Set-Cookie`.
pub async fn sign_in_as(
    chat: &Chat,
    cookie: &CookieSettings,
    headers: &HeaderMap,
    client: ClientAddr,
    raw_name: &str,
) -> Result<(Token, HeaderValue)> {
    let previous = Token::from_headers(headers, cookie).map(|token| token.holder());
    let holder = chat
        .sign_in(previous.as_ref(), raw_name, client.limit_key())
        .await?;
    let token = Token::issue(holder);
    let set_cookie = cookie_header(cookie, &token);
    Ok((token, set_cookie))
}

/// Ends the hold of the session in `headers`, if any, and returns the removal cookie.
pub async fn sign_out_of(
    chat: &Chat,
    cookie: &CookieSettings,
    headers: &HeaderMap,
) -> Result<HeaderValue> {
    if let Some(token) = Token::from_headers(headers, cookie) {
        chat.sign_out(&token.holder()).await?;
    }
    Ok(removal_header(cookie))
}

#[derive(Deserialize)]
pub struct SignIn {
    name: String,
}

/// `POST /api/session`
pub async fn sign_in(
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    client: ClientAddr,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignIn>,
) -> Result<impl IntoResponse> {
    let (token, set_cookie) = sign_in_as(&chat, &cookie, &headers, client, &body.name).await?;
    Ok(([(header::SET_COOKIE, set_cookie)], axum::Json(token.info())))
}

/// `GET /api/session`: reading it is use, so the cookie is renewed when due.
pub async fn current(State(cookie): State<CookieSettings>, Session(token): Session) -> Response {
    let renewal = renewal_header(&cookie, &token);
    with_cookie(axum::Json(token.info()), renewal)
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
    State(chat): State<Chat>,
    State(cookie): State<CookieSettings>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    let removal = sign_out_of(&chat, &cookie, &headers).await?;
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, removal)]))
}
