//! Server functions: what the pages load while rendering on the server, and the targets
//! of the plain HTML forms that work without JavaScript (a form post answers with a
//! redirect back to the page). With JavaScript, the browser talks to the JSON API in
//! `docs/API.md` instead (see `client`).
//!
//! They live under `/sf/`, apart from the public `/api/`.

use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, RoomSummary},
};
use leptos::{
    prelude::*,
    server_fn::{Bytes, ContentType, Decodes, Encodes, Format, FormatType},
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The server functions' JSON, read in the browser with `serde_json::from_str`, as the
/// data a page is hydrated from is. The default codec reads with `from_slice`, and
/// serde_json's reader is generic: each type a page loads was decoded by two copies of
/// the same code, which this one reader saves in the main WASM (`docs/ARCHITECTURE.md`,
/// ledger 13).
/// On the wire it is the default's JSON, unchanged.
pub struct JsonText;

/// How the server functions answer: [`JsonText`] in the body (they are still called with
/// a form post). Every `#[server]` here names it as its `output`.
pub type Answer = leptos::server_fn::codec::Post<JsonText>;

impl ContentType for JsonText {
    const CONTENT_TYPE: &'static str = "application/json";
}

impl FormatType for JsonText {
    const FORMAT_TYPE: Format = Format::Text;
}

impl<T: Serialize> Encodes<T> for JsonText {
    type Error = serde_json::Error;

    fn encode(output: &T) -> Result<Bytes, Self::Error> {
        serde_json::to_vec(output).map(Bytes::from)
    }
}

impl<T: DeserializeOwned> Decodes<T> for JsonText {
    type Error = serde_json::Error;

    fn decode(bytes: Bytes) -> Result<T, Self::Error> {
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| <serde_json::Error as serde::de::Error>::custom("not UTF-8"))?;
        serde_json::from_str(text)
    }
}

/// Why a form was refused, carried back to the page in a server function's error (as
/// JSON), so that the page shows the same message with or without JavaScript and keeps
/// what was typed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormError {
    /// The API's error code, e.g. `name_taken`.
    pub code: String,
    pub message: String,
    /// What the person typed.
    pub value: String,
}

impl FormError {
    /// Reads a `FormError` back from a server function error; other errors keep their
    /// text.
    pub fn from_server_error(error: &ServerFnError, value: &str) -> Self {
        let text = match error {
            ServerFnError::ServerError(text) => text.as_str(),
            _ => "",
        };
        serde_json::from_str(text).unwrap_or_else(|_| Self {
            code: "error".into(),
            message: if text.is_empty() {
                error.to_string()
            } else {
                text.to_owned()
            },
            value: value.to_owned(),
        })
    }
}

/// The signed-in guest's name, if the session still holds it. Rendering a page counts as
/// use: the hold is extended, and the cookie is renewed when that is due.
#[server(prefix = "/sf", endpoint = "whoami", output = Answer)]
pub async fn whoami() -> Result<Option<DisplayName>, ServerFnError> {
    use crate::server::http::{cookie::renewal_header, session::Session};
    let state = ssr::state()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
    let session = Session::verify(&state.chat, &state.cookie, &headers)
        .await
        .map_err(ssr::error)?;
    Ok(session.map(|session| {
        if let Some(cookie) = renewal_header(&state.cookie, &session.0) {
            expect_context::<leptos_axum::ResponseOptions>()
                .append_header(axum::http::header::SET_COOKIE, cookie);
        }
        session.0.name
    }))
}

/// Signs in: the lobby's and the room's form when JavaScript is off.
#[server(prefix = "/sf", endpoint = "sign_in", output = Answer)]
pub async fn sign_in(name: String) -> Result<DisplayName, ServerFnError> {
    use crate::server::http::{net::ClientAddr, session};
    let state = ssr::state()?;
    let parts: axum::http::request::Parts = leptos_axum::extract().await?;
    let client = ClientAddr::of(&parts, &state.trusted_proxies);
    match session::sign_in_as(&state.chat, &state.cookie, &parts.headers, client, &name).await {
        Ok((token, cookie)) => {
            expect_context::<leptos_axum::ResponseOptions>()
                .append_header(axum::http::header::SET_COOKIE, cookie);
            Ok(token.name)
        }
        Err(error) => Err(ssr::form_error(&error, &name)),
    }
}

/// Signs out: the header's button when JavaScript is off.
#[server(prefix = "/sf", endpoint = "sign_out", output = Answer)]
pub async fn sign_out() -> Result<(), ServerFnError> {
    let state = ssr::state()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
    let removal = crate::server::http::session::sign_out_of(&state.chat, &state.cookie, &headers)
        .await
        .map_err(ssr::error)?;
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(axum::http::header::SET_COOKIE, removal);
    Ok(())
}

/// The newest `limit` messages of a room, oldest first.
#[server(prefix = "/sf", endpoint = "history", output = Answer)]
pub async fn history(room: String) -> Result<Vec<ChatMessage>, ServerFnError> {
    let state = ssr::state()?;
    let room = ssr::room(&room)?;
    let page = crate::server::http::api::DEFAULT_PAGE;
    state
        .chat
        .history(&room, None, page)
        .await
        .map_err(ssr::error)
}

/// Who is in a room now: the member list as the server renders it. (Not named
/// `presence`: the macro makes a struct named after the function, which would clash with
/// `awareness::Presence`.)
#[server(prefix = "/sf", endpoint = "members", output = Answer)]
pub async fn members(room: String) -> Result<Presence, ServerFnError> {
    let state = ssr::state()?;
    let room = ssr::room(&room)?;
    state.chat.presence(&room).await.map_err(ssr::error)
}

/// Rooms with recent activity first.
#[server(prefix = "/sf", endpoint = "rooms", output = Answer)]
pub async fn rooms() -> Result<Vec<RoomSummary>, ServerFnError> {
    ssr::state()?.chat.rooms().await.map_err(ssr::error)
}

/// Posts a message: the composer's form when JavaScript is off.
#[server(prefix = "/sf", endpoint = "post", output = Answer)]
pub async fn post(
    room: String,
    text: String,
    client_id: Option<String>,
) -> Result<ChatMessage, ServerFnError> {
    use crate::server::{
        broker::Published,
        http::{cookie::Token, error::Error, net::ClientAddr},
    };
    let state = ssr::state()?;
    let room = ssr::room(&room)?;
    let parts: axum::http::request::Parts = leptos_axum::extract().await?;
    let token = Token::from_headers(&parts.headers, &state.cookie)
        .ok_or_else(|| ssr::error(Error::Unauthenticated))?;
    let client = ClientAddr::of(&parts, &state.trusted_proxies).limit_key();
    let published = state
        .chat
        .post(token.holder(), room, &text, client_id, client)
        .await
        .map_err(|error| ssr::form_error(&error.into(), &text))?;
    match published {
        Published::New(message) | Published::Repeat(message) => Ok(message),
    }
}

#[cfg(feature = "ssr")]
pub(super) mod ssr {
    use super::FormError;
    use crate::{
        message::{DisplayName, RoomName, SessionInfo},
        server::{http::error::Error, state::AppState},
    };
    use leptos::prelude::*;

    /// The holding of the session whose page is being rendered, when it holds `name`
    /// (`whoami` has checked that it still does).
    pub fn holding(name: DisplayName) -> SessionInfo {
        use crate::server::http::cookie::Token;
        let token = use_context::<AppState>().zip(use_context::<axum::http::request::Parts>());
        let token =
            token.and_then(|(state, parts)| Token::from_headers(&parts.headers, &state.cookie));
        match token {
            Some(token) if token.name.same_name(&name) => token.info(),
            _ => SessionInfo {
                name,
                since: String::new(),
            },
        }
    }

    pub fn state() -> Result<AppState, ServerFnError> {
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("no app state in context"))
    }

    pub fn room(raw: &str) -> Result<RoomName, ServerFnError> {
        RoomName::parse(raw).map_err(error)
    }

    /// A use case's refusal, as the API would say it: its public message only (a
    /// failure of the broker is logged in full, and not shown to the page). Called over
    /// HTTP, the server function answers it in the API's shape, with its status
    /// ([`refuse`](crate::server::http::server_fns::refuse)).
    pub fn error(error: impl Into<Error>) -> ServerFnError {
        let error = error.into();
        if let Error::Broker(broker) = &error {
            tracing::error!(
                error = format!("{broker:#}"),
                "a page could not load its data"
            );
        }
        crate::server::http::server_fns::refuse(&error);
        ServerFnError::new(error.public_message())
    }

    /// An API error as a [`FormError`] for the page the form came from (over HTTP,
    /// likewise in the API's shape to anything but a form post).
    pub fn form_error(error: &Error, value: &str) -> ServerFnError {
        crate::server::http::server_fns::refuse(error);
        let form = FormError {
            code: error.code().to_owned(),
            message: error.public_message(),
            value: value.to_owned(),
        };
        ServerFnError::ServerError(serde_json::to_string(&form).expect("a FormError serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, RoomName};

    #[test]
    fn the_json_of_an_answer_reads_back_the_same_and_refuses_what_is_not_utf8() {
        let messages = vec![ChatMessage {
            id: MessageId::new(5, 1),
            room: RoomName::parse("dev").unwrap(),
            sender: DisplayName::parse("Zoë").unwrap(),
            text: "héllo \"there\"".into(),
            sent_at: crate::message::rfc3339_millis(5),
            edited_at: None,
            reactions: Vec::new(),
        }];
        let bytes = <JsonText as Encodes<_>>::encode(&messages).unwrap();
        // The default codec's JSON, byte for byte.
        assert_eq!(bytes, serde_json::to_vec(&messages).unwrap());
        let read: Vec<ChatMessage> = <JsonText as Decodes<_>>::decode(bytes).unwrap();
        assert_eq!(read, messages);
        let broken = Bytes::from_static(b"[\"\xff\"]");
        assert!(<JsonText as Decodes<Vec<String>>>::decode(broken).is_err());
    }
}
