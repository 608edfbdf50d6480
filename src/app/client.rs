//! What only the browser does: calls to the JSON API, localStorage (recent rooms, and
//! what was read where), local time, the page's visibility, notifications, and the
//! service worker that lets a page reload offline.
//!
//! Event handlers are compiled on the server too but only ever run in the browser, so
//! each function here has a server build that answers an error and is never reached.

use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName},
};
use litemap::LiteMap;

/// The last-read message id of each room, as `localStorage` keeps it.
pub type LastRead = LiteMap<RoomName, MessageId>;

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
    use crate::message::{EditBody, ErrorBody, SessionInfo};
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

    /// `PATCH /api/rooms/{room}/messages/{id}`: your message with its new text.
    pub async fn edit_message(
        room: &RoomName,
        id: MessageId,
        text: &str,
    ) -> Result<ChatMessage, String> {
        let body = EditBody { text: text.into() };
        let request = Request::patch(&format!("/api/rooms/{room}/messages/{id}"))
            .json(&body)
            .map_err(network)?;
        send_built(request).await?.json().await.map_err(network)
    }

    /// `DELETE /api/rooms/{room}/messages/{id}`: your message is gone.
    pub async fn delete_message(room: &RoomName, id: MessageId) -> Result<(), String> {
        send(Request::delete(&format!("/api/rooms/{room}/messages/{id}")))
            .await
            .map(drop)
    }

    /// Adds (`on`) or takes back your reaction `emoji` to a message; the message as it
    /// then stands.
    pub async fn react(
        room: &RoomName,
        id: MessageId,
        emoji: &str,
        on: bool,
    ) -> Result<ChatMessage, String> {
        let emoji = String::from(js_sys::encode_uri_component(emoji));
        let url = format!("/api/rooms/{room}/messages/{id}/reactions/{emoji}");
        let request = if on {
            Request::put(&url)
        } else {
            Request::delete(&url)
        };
        send(request).await?.json().await.map_err(network)
    }

    pub async fn sign_in(name: &str) -> Result<DisplayName, String> {
        let request = Request::post("/api/session")
            .json(&serde_json::json!({ "name": name }))
            .map_err(network)?;
        let session: SessionInfo = send_built(request).await?.json().await.map_err(network)?;
        session_changed();
        Ok(session.name)
    }

    pub async fn sign_out() -> Result<(), String> {
        send(Request::delete("/api/session")).await?;
        session_changed();
        Ok(())
    }

    /// Who is signed in changed, in this tab: the other tabs hear of it through the
    /// `storage` event of [`SESSION_KEY`], and the offline pages, which show the name,
    /// are dropped.
    fn session_changed() {
        if let Some(storage) = storage() {
            let _ = storage.set_item(SESSION_KEY, &now_ms().to_string());
        }
        forget_offline_pages();
    }

    /// Drops the pages the service worker keeps for offline reloads: they show whoever
    /// was signed in when they were kept.
    fn forget_offline_pages() {
        let window = web_sys::window();
        let Some(window) = window
            .filter(|w| js_sys::Reflect::get(w, &"caches".into()).is_ok_and(|c| !c.is_undefined()))
        else {
            return;
        };
        if let Ok(caches) = window.caches() {
            // The same name as `CACHE` in public/sw.js.
            let _ = caches.delete("tiny-chat-v1");
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

    pub fn storage() -> Option<web_sys::Storage> {
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
            if let Some(storage) = storage() {
                let _ = storage.set_item(LAST_READ_KEY, &last_read_json(&all));
            }
        }
        all
    }

    /// Milliseconds since the Unix epoch, by the browser's clock.
    pub fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    /// Moves the focus to the element `id`, or to `fallback` where `id` is gone or
    /// cannot take it. On the next frame: what was just changed on the page (a row
    /// leaving its edit) is drawn by then.
    pub fn focus_by_id(id: &str, fallback: &str) {
        use wasm_bindgen::JsCast;
        let ids = [id.to_owned(), fallback.to_owned()];
        leptos::prelude::request_animation_frame(move || {
            let Some(document) = web_sys::window().and_then(|w| w.document()) else {
                return;
            };
            for id in &ids {
                let Some(element) = document
                    .get_element_by_id(id)
                    .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
                else {
                    continue;
                };
                let _ = element.focus();
                let element: &web_sys::Element = element.as_ref();
                if document.active_element().as_ref() == Some(element) {
                    return;
                }
            }
        });
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

    /// Registers the service worker (`public/sw.js`), which keeps the pages opened here
    /// and the app's `/pkg/` files so that a page reloads while the browser is offline,
    /// and asks it to keep `page` (a path) and the built files fetched so far now: they
    /// did not come through the worker if it was not in control yet when the page
    /// loaded, or if the router moved here without loading the page.
    ///
    /// Only an enhancement: where anything fails, nothing happens.
    pub fn keep_for_offline(page: &str) {
        use wasm_bindgen::{JsCast, JsValue, closure::Closure};
        let Some(window) = web_sys::window() else {
            return;
        };
        let navigator = window.navigator();
        // `navigator.serviceWorker` is undefined outside secure contexts (https, and
        // http on localhost), and the binding would throw there.
        let supported = js_sys::Reflect::get(&navigator, &"serviceWorker".into())
            .is_ok_and(|workers| !workers.is_undefined());
        if !supported {
            return;
        }
        let message = offline_message(&window, page);
        let workers = navigator.service_worker();
        // A page the worker controls was registered already. A registration that fails
        // (a private window, a blocked script) rejects: caught, so that the console does
        // not report it. Never called when it succeeds, so forgotten: a few bytes, once.
        if workers.controller().is_none() {
            let ignore = Closure::once(|_: JsValue| ());
            let _ = workers.register("/sw.js").catch(&ignore);
            ignore.forget();
        }
        // `ready` resolves, with the registration, once a worker is active.
        let Ok(ready) = workers.ready() else {
            return;
        };
        let post = Closure::once(move |registration: JsValue| {
            let active = registration
                .dyn_into::<web_sys::ServiceWorkerRegistration>()
                .ok()
                .and_then(|r| r.active());
            if let Some(worker) = active {
                let _ = worker.post_message(&message);
            }
        });
        let _ = ready.then(&post);
        // Called once by the promise; it frees itself then.
        post.forget();
    }

    /// `{cache: [page, ...the built files the page has fetched]}`, for the worker.
    fn offline_message(window: &web_sys::Window, page: &str) -> js_sys::Object {
        use wasm_bindgen::{JsCast, JsValue};
        let urls = js_sys::Array::new();
        urls.push(&JsValue::from_str(page));
        // Every built file this page has fetched so far: those its head names, and those
        // fetched by script (the WASM's split loader, the lazily loaded pieces).
        let fetched = window
            .performance()
            .map(|p| p.get_entries_by_type("resource"));
        for entry in fetched.iter().flat_map(|entries| entries.iter()) {
            if let Ok(entry) = entry.dyn_into::<web_sys::PerformanceEntry>() {
                let url = entry.name();
                if url.contains("/pkg/") {
                    urls.push(&JsValue::from_str(&url));
                }
            }
        }
        let message = js_sys::Object::new();
        let _ = js_sys::Reflect::set(&message, &"cache".into(), &urls);
        message
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

    pub async fn edit_message(_: &RoomName, _: MessageId, _: &str) -> Result<ChatMessage, String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn delete_message(_: &RoomName, _: MessageId) -> Result<(), String> {
        Err(BROWSER_ONLY.into())
    }

    pub async fn react(
        _: &RoomName,
        _: MessageId,
        _: &str,
        _: bool,
    ) -> Result<ChatMessage, String> {
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

    pub fn focus_by_id(_: &str, _: &str) {}

    pub fn notification_permission() -> Option<String> {
        None
    }

    pub fn request_notification_permission(answered: impl FnOnce(Option<String>) + 'static) {
        answered(None);
    }

    pub fn notify(_: &str, _: &str, _: &str) {}

    pub fn keep_for_offline(_: &str) {}
}

#[cfg(feature = "hydrate")]
pub use browser::storage;
pub use browser::{
    delete_message, edit_message, focus_by_id, history, keep_for_offline, load_last_read,
    load_recent, mark_read, notification_permission, notify, now_ms, page_hidden, post_typing,
    presence, react, request_notification_permission, save_recent, sign_in, sign_out,
};

/// The localStorage key a tab writes when it signs in or out, for the other tabs.
pub const SESSION_KEY: &str = "tiny-chat:session";

/// The localStorage key of the last-read ids: a JSON object, room to message id.
pub const LAST_READ_KEY: &str = "tiny-chat:last-read";

/// Reads the stored last-read ids, skipping any entry that is not a room and an id (a
/// bad entry costs that room its count, not every room theirs).
pub fn parse_last_read(json: &str) -> LastRead {
    let mut stored = serde_json::Deserializer::from_str(json);
    serde::Deserializer::deserialize_map(&mut stored, LastReadEntries)
        .and_then(|read| stored.end().map(|()| read))
        .unwrap_or_default()
}

/// The last-read ids as they are stored: a JSON object.
pub fn last_read_json(read: &LastRead) -> String {
    struct Entries<'a>(&'a LastRead);
    impl serde::Serialize for Entries<'_> {
        fn serialize<S: serde::Serializer>(&self, to: S) -> Result<S::Ok, S::Error> {
            to.collect_map(self.0.iter())
        }
    }
    serde_json::to_string(&Entries(read)).unwrap_or_default()
}

/// Reads the stored object entry by entry into the map. (Not with litemap's own serde,
/// which collects what comes out of order and sorts it: a sort of its own in the WASM.)
struct LastReadEntries;

impl<'de> serde::de::Visitor<'de> for LastReadEntries {
    type Value = LastRead;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of room names and message ids")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut entries: A) -> Result<LastRead, A::Error> {
        let mut read = LastRead::new();
        while let Some((room, id)) = entries.next_entry::<String, String>()? {
            if let (Ok(room), Ok(id)) = (RoomName::parse(&room), id.parse()) {
                read.insert(room, id);
            }
        }
        Ok(read)
    }
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
        // What follows the object makes it damaged as a whole, as serde_json's `from_str`
        // would say: nothing is read from it.
        assert!(parse_last_read(r#"{"dev":"5-1"} {"qa":"0-0"}"#).is_empty());
        assert_eq!(last_read_json(&read), r#"{"dev":"5-1","qa":"0-0"}"#);
    }
}
