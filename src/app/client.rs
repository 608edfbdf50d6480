//! What only the browser does: calls to the JSON API, localStorage (recent rooms, and
//! what was read where), local time, the page's visibility and notifications.
//!
//! Event handlers are compiled on the server too but only ever run in the browser, so
//! each function here has a server build that answers an error and is never reached.

use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName},
};
use std::collections::BTreeMap;

/// The last-read message id of each room, as `localStorage` keeps it.
pub type LastRead = BTreeMap<RoomName, MessageId>;

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
    use gloo_net::http::{Request, RequestBuilder, Response};

    /// Sends `request`: its response when the server answered 2xx, else the error
    /// message the API gave (or the status), or the network error.
    async fn send(request: RequestBuilder) -> Result<Response, String> {
        send_built(request.build().map_err(network)?).await
    }

    async fn send_built(request: Request) -> Result<Response, String> {
        let response = request.send().await.map_err(network)?;
        if response.ok() {
            return Ok(response);
        }
        Err(match response.json::<ErrorBody>().await {
            Ok(body) => body.error.message,
            Err(_) => format!("the server answered {}", response.status()),
        })
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
        let request = Request::post(&format!("/api/rooms/{room}/messages"))
            .json(&body)
            .map_err(network)?;
        send_built(request).await?.json().await.map_err(network)
    }

    pub async fn sign_in(name: &str) -> Result<DisplayName, String> {
        let request = Request::post("/api/session")
            .json(&serde_json::json!({ "name": name }))
            .map_err(network)?;
        let session: SessionInfo = send_built(request).await?.json().await.map_err(network)?;
        Ok(session.name)
    }

    pub async fn sign_out() -> Result<(), String> {
        send(Request::delete("/api/session")).await.map(drop)
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
        send(Request::get(&url))
            .await?
            .json()
            .await
            .map_err(network)
    }

    /// `POST /api/rooms/{room}/typing`: tells the room you are typing.
    pub async fn post_typing(room: &RoomName) -> Result<(), String> {
        send(Request::post(&format!("/api/rooms/{room}/typing")))
            .await
            .map(drop)
    }

    /// `GET /api/rooms/{room}/presence`.
    pub async fn presence(room: &RoomName) -> Result<Presence, String> {
        send(Request::get(&format!("/api/rooms/{room}/presence")))
            .await?
            .json()
            .await
            .map_err(network)
    }

    fn storage() -> Option<web_sys::Storage> {
        web_sys::window()?.local_storage().ok()?
    }

    pub fn load_last_read() -> LastRead {
        storage()
            .and_then(|s| s.get_item(LAST_READ_KEY).ok()?)
            .map(|json| parse_last_read(&json))
            .unwrap_or_default()
    }

    /// Moves a room's last-read id forward to `id` (never back), and returns the map as
    /// it now stands. Read, changed and written at once, so that other tabs' rooms stay.
    pub fn mark_read(room: &RoomName, id: MessageId) -> LastRead {
        let mut all = load_last_read();
        if all.get(room).is_none_or(|read| *read < id) {
            all.insert(room.clone(), id);
            if let (Some(storage), Ok(json)) = (storage(), serde_json::to_string(&all)) {
                let _ = storage.set_item(LAST_READ_KEY, &json);
            }
        }
        all
    }

    /// Milliseconds since the Unix epoch, by the browser's clock.
    pub fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    /// Whether the tab is hidden (another tab, or the window minimised).
    pub fn page_hidden() -> bool {
        web_sys::window()
            .and_then(|w| w.document())
            .is_some_and(|d| d.hidden())
    }

    /// `Notification.permission`: `default`, `granted` or `denied`; `None` where the
    /// browser has no notifications.
    pub fn notification_permission() -> Option<String> {
        use web_sys::NotificationPermission as P;
        let window = web_sys::window()?;
        if !js_sys::Reflect::has(&window, &"Notification".into()).unwrap_or(false) {
            return None;
        }
        Some(
            match web_sys::Notification::permission() {
                P::Granted => "granted",
                P::Denied => "denied",
                _ => "default",
            }
            .to_owned(),
        )
    }

    /// Asks for permission to notify, and calls `answered` with the new permission.
    pub fn request_notification_permission(answered: impl FnOnce(Option<String>) + 'static) {
        use wasm_bindgen::closure::Closure;
        let Ok(promise) = web_sys::Notification::request_permission() else {
            answered(notification_permission());
            return;
        };
        let done =
            Closure::once(move |_: wasm_bindgen::JsValue| answered(notification_permission()));
        let _ = promise.then(&done);
        // Called once by the promise; it frees itself then.
        done.forget();
    }

    /// Shows a notification, if allowed; one per `tag` at a time.
    pub fn notify(title: &str, body: &str, tag: &str) {
        if notification_permission().as_deref() != Some("granted") {
            return;
        }
        let options = web_sys::NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        let _ = web_sys::Notification::new_with_options(title, &options);
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

    pub async fn post_typing(_: &RoomName) -> Result<(), String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn presence(_: &RoomName) -> Result<Presence, String> {
        Err(BROWSER_ONLY.into())
    }

    pub fn load_last_read() -> LastRead {
        LastRead::new()
    }

    pub fn mark_read(_: &RoomName, _: MessageId) -> LastRead {
        LastRead::new()
    }

    pub fn now_ms() -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_millis() as f64)
    }

    pub fn page_hidden() -> bool {
        false
    }

    pub fn notification_permission() -> Option<String> {
        None
    }

    pub fn request_notification_permission(answered: impl FnOnce(Option<String>) + 'static) {
        answered(None);
    }

    pub fn notify(_: &str, _: &str, _: &str) {}
}

pub use browser::{
    history, load_last_read, load_recent, mark_read, notification_permission, notify, now_ms,
    page_hidden, post_message, post_typing, presence, request_notification_permission, save_recent,
    sign_in, sign_out,
};

/// The localStorage key of the last-read ids: a JSON object, room to message id.
pub const LAST_READ_KEY: &str = "tiny-chat:last-read";

/// Reads the stored last-read ids, skipping any entry that is not a room and an id (a
/// bad entry costs that room its count, not every room theirs).
pub fn parse_last_read(json: &str) -> LastRead {
    serde_json::from_str::<BTreeMap<String, String>>(json)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(room, id)| Some((RoomName::parse(&room).ok()?, id.parse().ok()?)))
        .collect()
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_read_ids_survive_a_bad_entry() {
        let read = parse_last_read(r#"{"dev":"5-1","Bad":"1-0","ops":"nope","qa":"0-0"}"#);
        let dev = RoomName::parse("dev").unwrap();
        let qa = RoomName::parse("qa").unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(read[&dev], MessageId::new(5, 1));
        assert_eq!(read[&qa], MessageId::new(0, 0));
        assert!(parse_last_read("not json").is_empty());
        let json = serde_json::to_string(&read).unwrap();
        assert_eq!(json, r#"{"dev":"5-1","qa":"0-0"}"#);
    }
}
