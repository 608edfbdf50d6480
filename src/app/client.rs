//! What only the browser does: calls to the JSON API, localStorage, local time.
//!
//! Event handlers are compiled on the server too but only ever run in the browser, so
//! each function here has a server build that answers an error and is never reached.

use crate::message::{ChatMessage, DisplayName, MessageId, RoomName};

/// A fresh idempotency key for one post (and its retries).
pub fn new_client_id() -> String {
    #[cfg(feature = "hydrate")]
    let (a, b) = (
        (js_sys::Math::random() * 4_294_967_296.0) as u64,
        (js_sys::Math::random() * 4_294_967_296.0) as u64,
    );
    #[cfg(not(feature = "hydrate"))]
    let (a, b) = {
        use std::hash::{BuildHasher, RandomState};
        let state = RandomState::new();
        (state.hash_one(1u8) >> 32, state.hash_one(2u8) >> 32)
    };
    format!("{a:08x}{b:08x}")
}

/// `HH:MM` of an RFC 3339 timestamp: the browser's local time once `local` is true (after
/// hydration), UTC before, so that the server's HTML and the first client render agree.
pub fn clock(sent_at: &str, local: bool) -> String {
    #[cfg(feature = "hydrate")]
    if local {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_str(sent_at));
        if !date.get_time().is_nan() {
            return format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
        }
    }
    let _ = local;
    sent_at.get(11..16).unwrap_or_default().to_owned()
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use crate::message::{ErrorBody, SessionInfo};
    use gloo_net::http::{Request, Response};

    async fn error_of(response: Response) -> String {
        match response.json::<ErrorBody>().await {
            Ok(body) => body.error.message,
            Err(_) => format!("the server answered {}", response.status()),
        }
    }

    fn network(error: gloo_net::Error) -> String {
        format!("network error: {error}")
    }

    pub async fn post_message(
        room: &RoomName,
        text: &str,
        client_id: &str,
    ) -> Result<ChatMessage, String> {
        let body = serde_json::json!({ "text": text, "client_id": client_id });
        let response = Request::post(&format!("/api/rooms/{room}/messages"))
            .json(&body)
            .map_err(network)?
            .send()
            .await
            .map_err(network)?;
        if response.ok() {
            response.json().await.map_err(network)
        } else {
            Err(error_of(response).await)
        }
    }

    pub async fn sign_in(name: &str) -> Result<DisplayName, String> {
        let response = Request::post("/api/session")
            .json(&serde_json::json!({ "name": name }))
            .map_err(network)?
            .send()
            .await
            .map_err(network)?;
        if response.ok() {
            Ok(response.json::<SessionInfo>().await.map_err(network)?.name)
        } else {
            Err(error_of(response).await)
        }
    }

    pub async fn sign_out() -> Result<(), String> {
        let response = Request::delete("/api/session")
            .send()
            .await
            .map_err(network)?;
        if response.ok() {
            Ok(())
        } else {
            Err(error_of(response).await)
        }
    }

    pub async fn history(
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, String> {
        let mut url = format!("/api/rooms/{room}/messages?limit={limit}");
        if let Some(before) = before {
            url.push_str(&format!("&before={before}"));
        }
        let response = Request::get(&url).send().await.map_err(network)?;
        if response.ok() {
            response.json().await.map_err(network)
        } else {
            Err(error_of(response).await)
        }
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn load_recent() -> Vec<RoomName> {
        storage()
            .and_then(|s| s.get_item(RECENT_KEY).ok()?)
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    pub fn save_recent(rooms: &[RoomName]) {
        if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(rooms)) {
            let _ = storage.set_item(RECENT_KEY, &json);
        }
    }
}

#[cfg(not(feature = "hydrate"))]
mod browser {
    use super::*;

    const BROWSER_ONLY: &str = "only the browser calls this";

    pub async fn post_message(_: &RoomName, _: &str, _: &str) -> Result<ChatMessage, String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn sign_in(_: &str) -> Result<DisplayName, String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn sign_out() -> Result<(), String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn history(
        _: &RoomName,
        _: Option<MessageId>,
        _: usize,
    ) -> Result<Vec<ChatMessage>, String> {
        Err(BROWSER_ONLY.into())
    }

    pub fn load_recent() -> Vec<RoomName> {
        Vec::new()
    }

    pub fn save_recent(_: &[RoomName]) {}
}

pub use browser::{history, load_recent, post_message, save_recent, sign_in, sign_out};

/// The localStorage key of the recent-rooms list.
pub const RECENT_KEY: &str = "tiny-chat:recent-rooms";
/// How many recent rooms the sidebar remembers.
pub const RECENT_LIMIT: usize = 12;

/// Puts `room` first in the recent list, without duplicates.
pub fn remember(recent: &mut Vec<RoomName>, room: &RoomName) {
    recent.retain(|r| r != room);
    recent.insert(0, room.clone());
    recent.truncate(RECENT_LIMIT);
}
