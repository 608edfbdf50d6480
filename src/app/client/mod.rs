//! What only the browser does: calls to the JSON API, localStorage (recent rooms, and
//! what was read where), local time, the page's visibility, notifications, and the
//! service worker that lets a page reload offline.
//!
//! Event handlers are compiled on the server too but only ever run in the browser, so
//! each function here has a server build that answers an error and is never reached.
//!
//! Here: what both builds share (the ids, the clock, the stored formats of the last-read
//! ids and recent rooms) and the server build; `browser.rs`: the browser's side.

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
mod browser;

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

    pub async fn sign_in(_: &str) -> Result<crate::message::SessionInfo, String> {
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
pub use browser::{
    begin_session, forget_offline_pages, on_session_end, session_ended, signed, storage,
};
pub use browser::{
    delete_message, edit_message, focus_by_id, history, keep_for_offline, load_last_read,
    load_recent, mark_read, notification_permission, notify, now_ms, page_hidden, post_typing,
    presence, react, request_notification_permission, save_recent, sign_in, sign_out,
};

/// The localStorage key of the session this browser is signed in with ([`Signed`]),
/// absent while it is signed out. The other tabs hear of each change through its
/// `storage` event.
pub const SESSION_KEY: &str = "tiny-chat:session";

/// The session this browser is signed in with, as the page knows it: the name, and a tag
/// made afresh by the browser for each sign-in (or the first time it sees a session it did
/// not sign in itself). The cookie, which holds the session's id, is out of the page's
/// reach; the tag stands for it. Whatever waits to be sent carries the tag it was typed
/// under (`outbox::Unsent`), and goes only while the tag is this one: a later session,
/// even with the same name, has another tag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signed {
    pub name: DisplayName,
    pub tag: String,
    /// When the session's holding of the name began (`SessionInfo::since`).
    #[serde(default)]
    pub since: String,
}

impl Signed {
    /// The stored session; `None` when it is absent or damaged (which counts as signed
    /// out: nothing waiting is sent until a session is known again).
    pub fn parse(json: &str) -> Option<Signed> {
        serde_json::from_str::<Signed>(json)
            .ok()
            .filter(|signed| !signed.tag.is_empty())
    }
}

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
mod tests;
