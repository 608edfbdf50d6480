//! What the tabs of one browser say to each other, and how the tab that holds the
//! browser's one event stream decides what to ask the server for. No browser calls here,
//! so that the rules are tested on the server build (`cargo test`).
//!
//! Every tab keeps the newest id it holds in each room and drops an event whose id is not
//! newer ([`Positions`]). The leader may therefore replay more than a tab needs, never
//! less: when a tab arrives holding less than the stream has already passed in a room,
//! the stream is reopened from that tab's position, and the other tabs drop the repeats.

use super::Connection;
use crate::{
    awareness::{MAX_STREAM_ROOMS, StreamRequest, StreamRoom},
    message::{MessageId, RoomName},
};
use litemap::LiteMap;
use serde::{Deserialize, Serialize};

/// The name of the Web Lock whose holder leads, and of the tabs' BroadcastChannel.
pub const CHANNEL: &str = "tiny-chat";

/// What one tab wants from the stream.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interest {
    /// The rooms it shows or follows, each with the newest id it holds there (`None`:
    /// nothing yet, live from now on is enough).
    pub rooms: Vec<(RoomName, Option<MessageId>)>,
    /// The rooms the person is in, in this tab (the room it shows).
    pub here: Vec<RoomName>,
}

impl Interest {
    /// A room page's wish: its room after `shown` (the newest id it holds there, `0-0`
    /// for none), and each other recent room, up to the stream's limit, after `held`.
    /// One function, so that the stream a page opens before it is hydrated
    /// (`shared::open_early`) asks for what its feed will ask for once it runs.
    pub fn of_room(
        current: &RoomName,
        shown: MessageId,
        recent: impl IntoIterator<Item = RoomName>,
        held: impl Fn(&RoomName) -> Option<MessageId>,
    ) -> Interest {
        let mut rooms = vec![(current.clone(), Some(shown))];
        let others = recent.into_iter().filter(|room| room != current);
        for room in others.take(MAX_STREAM_ROOMS - 1) {
            let after = held(&room);
            rooms.push((room, after));
        }
        Interest {
            rooms,
            here: vec![current.clone()],
        }
    }

    /// Both tabs' wishes as one (the subscribers of one page).
    pub fn merge(mut self, other: Interest) -> Interest {
        for (room, after) in other.rooms {
            match self.rooms.iter_mut().find(|(r, _)| *r == room) {
                Some((_, held)) => *held = lowest(*held, after),
                None => self.rooms.push((room, after)),
            }
        }
        for room in other.here {
            if !self.here.contains(&room) {
                self.here.push(room);
            }
        }
        self
    }
}

/// A note from one tab to the others, over the BroadcastChannel (as JSON). Externally
/// tagged (`{"want":{...}}`): serde's internal tagging buffers every value first, and
/// that code cost the WASM 6 KB (gzipped).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Note {
    /// A tab says what it wants: when it opens, when that changes, when a leader starts.
    Want { tab: String, interest: Interest },
    /// A tab is going away (its page is hidden for good, or put in the back-forward cache).
    Bye { tab: String },
    /// The leader has taken a tab's `Want` into its plan: what it sends from now on
    /// follows it.
    Heard { tab: String },
    /// A tab took the lead; the others answer with `Want`.
    Lead { tab: String },
    /// A follower asks whether the leader is still there; the leader answers `Status`.
    Ping { tab: String },
    /// The leader's stream: whether it is open.
    Status { status: Connection },
    /// One event of the stream, as it came.
    Event {
        name: String,
        data: String,
        id: String,
    },
}

impl Note {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(raw: &str) -> Option<Note> {
        serde_json::from_str(raw).ok()
    }
}

/// `rooms` in order, each once. (By insertion: rooms are few, and the code of a sort of
/// its own is not worth it.)
fn sorted<'a>(rooms: impl Iterator<Item = &'a RoomName>) -> Vec<RoomName> {
    let mut sorted: Vec<RoomName> = Vec::new();
    for room in rooms {
        if let Err(at) = sorted.binary_search(room) {
            sorted.insert(at, room.clone());
        }
    }
    sorted
}

/// The lower of two positions, where `None` (nothing held) asks for nothing.
fn lowest(a: Option<MessageId>, b: Option<MessageId>) -> Option<MessageId> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The newest id a tab holds in each room: an event whose id is not newer is a repeat.
#[derive(Clone, Debug, Default)]
pub struct Positions(LiteMap<RoomName, MessageId>);

impl Positions {
    /// Moves `room` to `id`; whether `id` was new (else the event is a repeat).
    pub fn advance(&mut self, room: &RoomName, id: MessageId) -> bool {
        match self.0.get_mut(room) {
            Some(held) if *held >= id => false,
            Some(held) => {
                *held = id;
                true
            }
            None => {
                self.0.insert(room.clone(), id);
                true
            }
        }
    }

    pub fn get(&self, room: &RoomName) -> Option<MessageId> {
        self.0.get(room).copied()
    }
}

/// The leader's plan: every tab's wish, and how far the open stream has come in each
/// room (its floor: every tab has been sent everything up to there).
#[derive(Debug, Default)]
pub struct Plan {
    tabs: LiteMap<String, Wish>,
    floor: LiteMap<RoomName, Option<MessageId>>,
    /// The rooms and `here` of the open stream, if one is open or opening.
    open: Option<(Vec<RoomName>, Vec<RoomName>)>,
}

#[derive(Debug)]
struct Wish {
    interest: Interest,
    heard_ms: f64,
}

impl Plan {
    /// A tab (the leader's own too) said what it wants. Whether the stream must reopen:
    /// its rooms changed, or the tab holds less than the stream has passed in a room.
    #[must_use]
    pub fn want(&mut self, tab: &str, interest: Interest, now_ms: f64) -> bool {
        let mut behind = false;
        for (room, after) in &interest.rooms {
            let (Some(floor), Some(after)) = (self.floor.get_mut(room), after) else {
                continue;
            };
            match floor {
                Some(held) if *after < *held => {
                    *held = *after;
                    behind = true;
                }
                Some(_) => {}
                // The stream went live from "now" (a fresh room, or after a `resync`):
                // the tab's position becomes the floor, so that the next reconnect
                // resumes from it rather than from a later "now". Only a tab holding
                // something (not `0-0`, a room shown empty) can have missed anything.
                None => {
                    *floor = Some(*after);
                    behind |= *after != MessageId::default();
                }
            }
        }
        self.tabs.insert(
            tab.to_owned(),
            Wish {
                interest,
                heard_ms: now_ms,
            },
        );
        behind || !self.serves()
    }

    /// A tab is still there (it pinged); whether it is known (a tab forgotten while it
    /// was frozen must say again what it wants).
    pub fn heard(&mut self, tab: &str, now_ms: f64) -> bool {
        self.tabs
            .get_mut(tab)
            .map(|wish| wish.heard_ms = now_ms)
            .is_some()
    }

    /// A tab went away. Whether the stream must reopen (without its rooms).
    #[must_use]
    pub fn bye(&mut self, tab: &str) -> bool {
        self.tabs.remove(tab).is_some() && !self.serves()
    }

    /// Forgets the tabs not heard from since `before_ms` (closed without a word), except
    /// `keep` (the leader itself). Whether the stream must reopen.
    #[must_use]
    pub fn expire(&mut self, before_ms: f64, keep: &str) -> bool {
        let count = self.tabs.len();
        self.tabs
            .retain(|tab, wish| tab == keep || wish.heard_ms >= before_ms);
        self.tabs.len() != count && !self.serves()
    }

    /// The stream brought `id` in `room`: every tab has been sent it.
    pub fn seen(&mut self, room: &RoomName, id: MessageId) {
        if let Some(floor) = self.floor.get_mut(room) {
            *floor = Some(floor.map_or(id, |floor| floor.max(id)));
        }
    }

    /// The stream said `resync` for `room`: it could not resume there, and goes on from
    /// now. The tabs reload that room and say where they stand.
    pub fn resynced(&mut self, room: &RoomName) {
        if let Some(floor) = self.floor.get_mut(room) {
            *floor = None;
        }
    }

    /// The rooms and `here` wanted now: rooms where someone is first, at most
    /// [`MAX_STREAM_ROOMS`].
    fn wanted(&self) -> (Vec<RoomName>, Vec<RoomName>) {
        let mut rooms: Vec<RoomName> = Vec::new();
        let wishes = || self.tabs.values().map(|w| &w.interest);
        let here = wishes().flat_map(|i| i.here.iter());
        let others = wishes().flat_map(|i| i.rooms.iter().map(|(room, _)| room));
        for room in here.chain(others) {
            if rooms.len() == MAX_STREAM_ROOMS {
                break;
            }
            if !rooms.contains(room) {
                rooms.push(room.clone());
            }
        }
        let here = wishes()
            .flat_map(|i| i.here.iter())
            .filter(|room| rooms.contains(room));
        (sorted(rooms.iter()), sorted(here))
    }

    fn serves(&self) -> bool {
        self.open.as_ref() == Some(&self.wanted())
    }

    /// The request for a fresh stream, taken as the open one; `None` when no tab wants a
    /// room. A room the stream carried resumes after its floor; a new one after the
    /// least any tab holds there.
    pub fn request(&mut self) -> Option<StreamRequest> {
        let (rooms, here) = self.wanted();
        let mut floor = LiteMap::new();
        for room in &rooms {
            let after = self.floor.get(room).copied().unwrap_or_else(|| {
                self.tabs
                    .values()
                    .flat_map(|w| w.interest.rooms.iter())
                    .filter(|(r, _)| r == room)
                    .fold(None, |least, (_, after)| lowest(least, *after))
            });
            floor.insert(room.clone(), after);
        }
        self.floor = floor;
        self.open = Some((rooms.clone(), here.clone()));
        if rooms.is_empty() {
            return None;
        }
        let request = StreamRequest {
            here: here
                .iter()
                .filter_map(|h| rooms.iter().position(|r| r == h))
                .collect(),
            rooms: rooms
                .into_iter()
                .map(|room| StreamRoom {
                    after: self.floor[&room],
                    room,
                })
                .collect(),
        };
        Some(request)
    }

    /// The stream closed: the next one must be asked for.
    pub fn closed(&mut self) {
        self.open = None;
    }
}

#[cfg(test)]
mod tests;
