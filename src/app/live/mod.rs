//! The browser's one event stream, `GET /api/events`, shared by all its tabs.
//!
//! Browsers give a host six HTTP/1.1 connections, and an event stream holds one for as
//! long as its tab is open: with one stream per tab, the seventh tab of the chat would not
//! even load. So the tabs of a browser elect a leader (`shared.rs`), which holds one
//! stream for every room any tab shows or follows and hands each event to the others.
//! `plan.rs` holds the rules, `LiveStream` (below) the `EventSource` itself.
//!
//! The browser's own reconnect would resume only one room (`Last-Event-ID` holds one
//! `<room>/<id>`), so the stream is closed on its first error and the leader opens a
//! fresh one with the newest id it has passed in each room.

pub mod plan;
#[cfg(feature = "hydrate")]
mod shared;

#[cfg(feature = "hydrate")]
pub use shared::{Subscriber, Subscription, on_wake, open_early, sends, subscribe};

use crate::awareness::StreamRequest;
use serde::{Deserialize, Serialize};

/// What the header's indicator shows, for the browser as a whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Connection {
    /// No stream: the browser is offline, or before hydration, or without JavaScript.
    Offline,
    Connecting,
    Live,
    /// The stream dropped; a fresh one opens in a few seconds.
    Reconnecting,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Offline => "offline",
            Connection::Connecting => "connecting",
            Connection::Live => "live",
            Connection::Reconnecting => "reconnecting",
        }
    }
}

/// This tab's part in the browser's one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Holds the stream and hands its events to the other tabs.
    Leader,
    /// Gets the events from the leader.
    Follower,
    /// Holds a stream of its own: the browser has no Web Locks or BroadcastChannel
    /// (Web Locks need a secure context: `localhost` is one, `http://chat.lan` is not).
    Solo,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Leader => "leader",
            Role::Follower => "follower",
            Role::Solo => "solo",
        }
    }
}

/// The events that are entries of a room's log, the only ones sent with an `id:`.
#[cfg(feature = "hydrate")]
const ENTRIES: [&str; 3] = ["message", "update", "delete"];

/// The event names the page listens to; the stream's other events are ignored.
pub const EVENTS: [&str; 8] = [
    "message", "update", "delete", "resync", "presence", "join", "leave", "typing",
];

/// The URL of the many-room stream for `request`.
pub fn stream_url(request: &StreamRequest) -> String {
    format!("/api/events?{}", request.to_query())
}

#[cfg(feature = "hydrate")]
pub use browser::LiveStream;

#[cfg(feature = "hydrate")]
mod browser {
    use super::{ENTRIES, EVENTS};
    use std::rc::Rc;
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{Event, EventSource, MessageEvent};

    /// What gets each event of a [`LiveStream`]: its name, data and `lastEventId`.
    pub type OnStreamEvent = Rc<dyn Fn(&str, &str, &str)>;

    /// An open `EventSource` with its listeners; closed when dropped.
    pub struct LiveStream {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(Event)>>,
    }

    impl LiveStream {
        /// Opens `url`. `on_event` gets each event's name, data and `lastEventId`;
        /// `on_error` is called once, after the stream has been closed (never retried
        /// by the browser itself). (Boxed callbacks: one copy of this function in the
        /// WASM for its two callers.)
        pub fn open(
            url: &str,
            on_open: Box<dyn Fn()>,
            on_event: OnStreamEvent,
            on_error: Box<dyn Fn()>,
        ) -> Result<Self, wasm_bindgen::JsValue> {
            let source = EventSource::new(url)?;
            let mut listeners = Vec::new();
            let mut listen = |name: &str, handler: Box<dyn FnMut(Event)>| {
                let closure = Closure::wrap(handler);
                source
                    .add_event_listener_with_callback(name, closure.as_ref().unchecked_ref())
                    .expect("adding an EventSource listener");
                listeners.push(closure);
            };
            listen("open", Box::new(move |_| on_open()));
            for name in EVENTS {
                let on_event = Rc::clone(&on_event);
                listen(
                    name,
                    Box::new(move |event: Event| {
                        let Some(event) = event.dyn_ref::<MessageEvent>() else {
                            return;
                        };
                        // `lastEventId` is the stream's last id on *every* event, entries
                        // or not: handed on with entries only, so that nothing mistakes
                        // a typing event for a repeat of the message before it.
                        let id = if ENTRIES.contains(&name) {
                            event.last_event_id()
                        } else {
                            String::new()
                        };
                        if let Some(data) = event.data().as_string() {
                            on_event(name, &data, &id);
                        }
                    }),
                );
            }
            let source_for_errors = source.clone();
            listen(
                "error",
                Box::new(move |_| {
                    // Close now, so the browser does not retry with one room's id; the
                    // listeners stay alive until the page drops this stream.
                    if source_for_errors.ready_state() != EventSource::CLOSED {
                        source_for_errors.close();
                    }
                    on_error();
                }),
            );
            Ok(Self {
                source,
                _listeners: listeners,
            })
        }
    }

    impl Drop for LiveStream {
        fn drop(&mut self) {
            self.source.close();
        }
    }
}
