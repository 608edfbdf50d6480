//! Server functions: what the pages load while rendering on the server, and the targets
//! of the plain HTML forms that work without JavaScript (a form post answers with a
//! redirect back to the page). With JavaScript, the browser talks to the JSON API in
//! `docs/API.md` instead (see `client.rs`).
//!
//! They live under `/sf/`, apart from the public `/api/`.

use crate::message::{ChatMessage, DisplayName, RoomSummary};
use leptos::prelude::*;

/// The signed-in guest's name, if any.
#[server(prefix = "/sf", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<DisplayName>, ServerFnError> {
    Ok(ssr::session().await?.map(|s| s.name))
}

/// Signs in: the form of the lobby when JavaScript is off.
#[server(prefix = "/sf", endpoint = "sign_in")]
pub async fn sign_in(name: String) -> Result<DisplayName, ServerFnError> {
    use crate::server::session;
    let state = ssr::state()?;
    let name = DisplayName::parse(&name).map_err(|e| ServerFnError::new(e.to_string()))?;
    let (_, cookie) = session::start(&state.cookie_key, name.clone());
    expect_context::<leptos_axum::ResponseOptions>()
        .append_header(axum::http::header::SET_COOKIE, cookie);
    Ok(name)
}

/// The newest `limit` messages of a room, oldest first.
#[server(prefix = "/sf", endpoint = "history")]
pub async fn history(room: String) -> Result<Vec<ChatMessage>, ServerFnError> {
    let state = ssr::state()?;
    let room = ssr::room(&room)?;
    let page = crate::server::api::DEFAULT_PAGE;
    state
        .broker
        .history(&room, None, page)
        .await
        .map_err(ssr::error)
}

/// Rooms with recent activity first.
#[server(prefix = "/sf", endpoint = "rooms")]
pub async fn rooms() -> Result<Vec<RoomSummary>, ServerFnError> {
    ssr::state()?.broker.rooms().await.map_err(ssr::error)
}

/// Posts a message: the composer's form when JavaScript is off.
#[server(prefix = "/sf", endpoint = "post")]
pub async fn post(
    room: String,
    text: String,
    client_id: Option<String>,
) -> Result<ChatMessage, ServerFnError> {
    use crate::server::broker::Published;
    let state = ssr::state()?;
    let room = ssr::room(&room)?;
    let session = ssr::session()
        .await?
        .ok_or_else(|| ServerFnError::new("sign in first"))?;
    let published = crate::server::api::publish(&state, session, room, &text, client_id)
        .await
        .map_err(ssr::error)?;
    match published {
        Published::New(message) | Published::Repeat(message) => Ok(message),
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::{
        message::RoomName,
        server::{session::Session, state::AppState},
    };
    use axum_extra::extract::SignedCookieJar;
    use leptos::prelude::*;

    pub fn state() -> Result<AppState, ServerFnError> {
        use_context::<AppState>().ok_or_else(|| ServerFnError::new("no app state in context"))
    }

    pub async fn session() -> Result<Option<Session>, ServerFnError> {
        let state = state()?;
        let headers: axum::http::HeaderMap = leptos_axum::extract().await?;
        Ok(Session::from_jar(&SignedCookieJar::from_headers(
            &headers,
            state.cookie_key,
        )))
    }

    pub fn room(raw: &str) -> Result<RoomName, ServerFnError> {
        RoomName::parse(raw).map_err(|e| ServerFnError::new(e.to_string()))
    }

    pub fn error(error: impl std::fmt::Display) -> ServerFnError {
        ServerFnError::new(error.to_string())
    }
}
