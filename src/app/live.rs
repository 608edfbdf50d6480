//! The browser's one event stream, `GET /api/events`: an `EventSource` for every room the
//! tab cares about, seen by the page as a connection status and one callback per event.
//!
//! The browser's own reconnect would resume only one room (`Last-Event-ID` holds one
//! `<room>/<id>`), so the stream is closed on its first error and the page opens a fresh
//! one with the newest id it holds for each room (see `feed.rs`).

use crate::awareness::StreamRequest;

/// What the header's indicator shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connection {
    /// No stream: before hydration, or without JavaScript.
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

/// The event names the page listens to; the stream's other events are ignored.
pub const EVENTS: [&str; 6] = ["message", "resync", "presence", "join", "leave", "typing"];

/// The URL of the many-room stream for `request`.
pub fn stream_url(request: &StreamRequest) -> String {
    format!("/api/events?{}", request.to_query())
}

#[cfg(feature = "hydrate")]
pub use browser::LiveStream;

#[cfg(feature = "hydrate")]
mod browser {
    use super::EVENTS;
    use std::rc::Rc;
    use wasm_bindgen::{JsCast, closure::Closure};
    use web_sys::{Event, EventSource, MessageEvent};

    /// An open `EventSource` with its listeners; closed when dropped.
    pub struct LiveStream {
        source: EventSource,
        _listeners: Vec<Closure<dyn FnMut(Event)>>,
    }

    impl LiveStream {
        /// Opens `url`. `on_event` gets each event's name, data and `lastEventId`;
        /// `on_error` is called once, after the stream has been closed (never retried
        /// by the browser itself).
        pub fn open(
            url: &str,
            on_open: impl Fn() + 'static,
            on_event: impl Fn(&str, &str, &str) + 'static,
            on_error: impl Fn() + 'static,
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
            let on_event = Rc::new(on_event);
            for name in EVENTS {
                let on_event = Rc::clone(&on_event);
                listen(
                    name,
                    Box::new(move |event: Event| {
                        let Some(event) = event.dyn_ref::<MessageEvent>() else {
                            return;
                        };
                        if let Some(data) = event.data().as_string() {
                            on_event(name, &data, &event.last_event_id());
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
