//! The browser's side of a room's event stream: an `EventSource`, seen by the page as a
//! connection status signal and two callbacks.
//!
//! The first connect asks to resume after the newest rendered message
//! (`?last_event_id=`); from then on the browser's own reconnects send `Last-Event-ID`,
//! so nothing is missed across a reconnect. The page drops any message it already has,
//! so nothing is shown twice either.

use crate::message::{MessageId, RoomName};

/// What the header's indicator shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// No stream: before hydration, without JavaScript, or given up by the browser.
    Offline,
    Connecting,
    Live,
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

/// The URL of a room's stream, resuming after `after` if given.
pub fn events_url(room: &RoomName, after: Option<MessageId>) -> String {
    match after {
        Some(id) => format!("/api/rooms/{room}/events?last_event_id={id}"),
        None => format!("/api/rooms/{room}/events"),
    }
}

#[cfg(feature = "hydrate")]
pub use browser::LiveStream;

#[cfg(feature = "hydrate")]
mod browser {
    use super::*;
    use crate::message::ChatMessage;
    use leptos::prelude::*;
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{Event, EventSource, MessageEvent};

    /// An open `EventSource` with its listeners; closed when dropped.
    pub struct LiveStream {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(Event)>>,
    }

    impl LiveStream {
        pub fn open(
            url: &str,
            status: RwSignal<Connection>,
            on_message: impl Fn(ChatMessage) + 'static,
            on_resync: impl Fn() + 'static,
        ) -> Result<Self, wasm_bindgen::JsValue> {
            let source = EventSource::new(url)?;
            status.set(Connection::Connecting);
            let mut listeners = Vec::new();
            let mut listen = |name: &str, handler: Box<dyn FnMut(Event)>| {
                let closure = Closure::wrap(handler);
                source
                    .add_event_listener_with_callback(name, closure.as_ref().unchecked_ref())
                    .expect("adding an EventSource listener");
                listeners.push(closure);
            };
            listen("open", Box::new(move |_| status.set(Connection::Live)));
            listen(
                "message",
                Box::new(move |event: Event| {
                    let Some(data) = event
                        .dyn_ref::<MessageEvent>()
                        .and_then(|e| e.data().as_string())
                    else {
                        return;
                    };
                    if let Ok(message) = serde_json::from_str::<ChatMessage>(&data) {
                        on_message(message);
                    }
                }),
            );
            listen("resync", Box::new(move |_| on_resync()));
            let source_for_errors = source.clone();
            listen(
                "error",
                Box::new(move |_| {
                    // CONNECTING: the browser retries by itself, with Last-Event-ID.
                    // CLOSED: it gave up (an error status); the page reopens later.
                    status.set(if source_for_errors.ready_state() == EventSource::CLOSED {
                        Connection::Offline
                    } else {
                        Connection::Reconnecting
                    });
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
