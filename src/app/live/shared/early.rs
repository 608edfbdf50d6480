//! The stream a room page asks for before it is hydrated.
//!
//! A page goes live one round trip after it asks for its stream. Asked for by the feed,
//! once the app runs, that round trip comes after hydration; asked for before, the two
//! overlap. On issue 11's slow phone the room goes live about 90 ms sooner, on a first
//! visit and on a return (`docs/ARCHITECTURE.md`, ledger 12).
//!
//! Before hydration the tab does not know yet whether it will lead (the lock is granted
//! later), nor what its feed will want. So [`open_early`] guesses the second from what
//! the page shows (the room in its address, the newest row the server wrote) and what
//! the feed reads itself (the recent rooms and last-read ids in `localStorage`), through
//! the same [`Interest::of_room`], and opens that stream with its events held back. Then
//! exactly one of these happens:
//!
//! - This tab leads, and its plan asks for that very request: the leader takes the
//!   stream as its own and replays what it held ([`Link::adopt_early`]).
//! - Anything else (another tab leads, the plan asks for something else, the stream
//!   fails, too much arrives, or nothing is decided within [`EARLY_WAIT`]): the stream is
//!   closed and what it held dropped, and the leader opens its own as before.
//!
//! So a wrong guess costs only the time won, never a message. Without Web Locks or
//! BroadcastChannel (a tab on its own) no stream is opened early.

use super::{Link, link};
use crate::{
    app::{
        client,
        live::{
            LiveStream,
            plan::{Interest, Plan},
            stream_url,
        },
    },
    awareness::StreamRequest,
    message::{MessageId, RoomName},
};
use leptos::prelude::{document, set_timeout, window};
use std::{rc::Rc, time::Duration};
use wasm_bindgen::JsCast;

/// How long an early stream waits to be taken.
const EARLY_WAIT: Duration = Duration::from_secs(5);
/// More events than this held back, and the early stream is given up.
const HELD_MAX: usize = 1_000;

/// A stream opened before the tab knew it would lead, and what it brought meanwhile.
pub(super) struct Early {
    request: StreamRequest,
    stream: LiveStream,
    opened: bool,
    held: Vec<(String, String, String)>,
}

/// On a room page (`/r/<room>`), before hydration: opens the stream the page's feed
/// will want, for its leader to take. Whether it did.
pub fn open_early() -> bool {
    let Some(room) = window()
        .location()
        .pathname()
        .ok()
        .and_then(|path| RoomName::parse(path.strip_prefix("/r/")?).ok())
    else {
        return false;
    };
    let this = link();
    if this.channel.is_none() {
        return false;
    }
    let last_read = client::load_last_read();
    let interest = Interest::of_room(&room, newest_row(), client::load_recent(), |room| {
        last_read.get(room).copied()
    });
    let mut plan = Plan::default();
    let _ = plan.want(&this.me, interest, client::now_ms());
    let Some(request) = plan.request() else {
        return false;
    };
    let stream = LiveStream::open(
        &stream_url(&request),
        Box::new(|| link().early_open()),
        Rc::new(|name, data, id| link().early_event(name, data, id)),
        Box::new(|| link().early_error()),
    );
    if let Ok(stream) = stream {
        *this.early.borrow_mut() = Some(Early {
            request,
            stream,
            opened: false,
            held: Vec::new(),
        });
        set_timeout(|| drop(link().early.take()), EARLY_WAIT);
        return true;
    }
    false
}

/// The id of the newest row the server wrote (`0-0` for none): the position the feed
/// starts from once it has read the same messages from the page's data.
fn newest_row() -> MessageId {
    let rows = document()
        .query_selector_all(".message-log > li[data-id]")
        .ok();
    rows.and_then(|rows| rows.item(rows.length().checked_sub(1)?))
        .and_then(|row| row.dyn_into::<web_sys::Element>().ok())
        .and_then(|row| row.get_attribute("data-id")?.parse().ok())
        .unwrap_or_default()
}

impl Link {
    /// As a new leader, with the plan holding this tab's wish alone: takes the early
    /// stream if the plan asks for exactly it. Whether it did; if not, it is closed.
    pub(super) fn adopt_early(&self) -> bool {
        let Some(early) = self.early.take() else {
            return false;
        };
        let asked = self.plan.borrow_mut().request();
        if asked.as_ref() != Some(&early.request) {
            self.plan.borrow_mut().closed();
            return false;
        }
        self.generation.set(self.generation.get() + 1);
        let generation = self.generation.get();
        self.adopted.set(Some(generation));
        *self.stream.borrow_mut() = Some(early.stream);
        if early.opened {
            self.upstream_open(generation);
        }
        for (name, data, id) in &early.held {
            self.upstream_event(generation, name, data, id);
        }
        true
    }

    /// Gives the early stream up: another tab leads (a note only a leader sends came), or
    /// the page is leaving.
    pub(super) fn drop_early(&self) {
        drop(self.early.take());
    }

    fn early_open(&self) {
        match self.adopted.get() {
            Some(generation) => self.upstream_open(generation),
            None => {
                if let Some(early) = self.early.borrow_mut().as_mut() {
                    early.opened = true;
                }
            }
        }
    }

    fn early_event(&self, name: &str, data: &str, id: &str) {
        if let Some(generation) = self.adopted.get() {
            return self.upstream_event(generation, name, data, id);
        }
        let mut early = self.early.borrow_mut();
        let Some(held) = early.as_mut().map(|early| &mut early.held) else {
            return;
        };
        if held.len() < HELD_MAX {
            held.push((name.to_owned(), data.to_owned(), id.to_owned()));
        } else {
            // (Dropped from a timer: not inside its own callback.)
            let given_up = early.take();
            set_timeout(move || drop(given_up), Duration::ZERO);
        }
    }

    fn early_error(&self) {
        if let Some(generation) = self.adopted.get() {
            return self.upstream_error(generation);
        }
        let failed = self.early.take();
        set_timeout(move || drop(failed), Duration::ZERO);
    }
}
