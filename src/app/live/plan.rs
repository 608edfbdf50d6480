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
mod tests {
    use super::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    fn id(ms: u64) -> MessageId {
        MessageId { ms, seq: 0 }
    }

    fn interest(rooms: &[(&str, Option<u64>)], here: &[&str]) -> Interest {
        Interest {
            rooms: rooms
                .iter()
                .map(|(name, after)| (room(name), after.map(id)))
                .collect(),
            here: here.iter().map(|name| room(name)).collect(),
        }
    }

    fn afters(request: &StreamRequest) -> Vec<(String, Option<u64>)> {
        request
            .rooms
            .iter()
            .map(|r| (r.room.to_string(), r.after.map(|a| a.ms)))
            .collect()
    }

    #[test]
    fn a_room_page_wants_its_room_after_what_it_shows_and_the_other_recent_rooms_after_what_is_held()
     {
        let held = |r: &RoomName| (r.as_str() == "blue").then(|| id(3));
        let recent = ["green", "red", "blue"].map(room);
        let wish = Interest::of_room(&room("red"), id(9), recent, held);
        assert_eq!(
            wish,
            interest(
                &[("red", Some(9)), ("green", None), ("blue", Some(3))],
                &["red"]
            )
        );
        // A room shown empty resumes from 0-0; at most the stream's limit of rooms.
        let many = (0..MAX_STREAM_ROOMS + 5).map(|i| room(&format!("r{i}")));
        let wish = Interest::of_room(&room("red"), MessageId::default(), many, |_| None);
        assert_eq!(wish.rooms.len(), MAX_STREAM_ROOMS);
        assert_eq!(wish.rooms[0], (room("red"), Some(MessageId::default())));
    }

    #[test]
    fn the_stream_carries_every_tabs_rooms_and_is_here_where_a_tab_shows_one() {
        let mut plan = Plan::default();
        assert!(plan.want(
            "a",
            interest(&[("red", Some(5)), ("blue", None)], &["red"]),
            0.0
        ));
        assert!(plan.want("b", interest(&[("blue", Some(7))], &["blue"]), 0.0));
        let request = plan.request().unwrap();
        assert_eq!(
            afters(&request),
            [("blue".into(), Some(7)), ("red".into(), Some(5))]
        );
        assert_eq!(request.here, [0, 1]);
        // The same wish again changes nothing.
        assert!(!plan.want("b", interest(&[("blue", Some(7))], &["blue"]), 1.0));
    }

    #[test]
    fn a_tab_holding_less_than_the_stream_passed_reopens_it_from_there() {
        let mut plan = Plan::default();
        assert!(plan.want("a", interest(&[("red", Some(5))], &["red"]), 0.0));
        plan.request().unwrap();
        plan.seen(&room("red"), id(9));
        // Holding 9 or more: nothing to replay.
        assert!(!plan.want("b", interest(&[("red", Some(9))], &["red"]), 0.0));
        // Holding 6: the stream passed 7 to 9 before this tab listened.
        assert!(plan.want("c", interest(&[("red", Some(6))], &["red"]), 0.0));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(6))]);
        // Holding nothing asks for nothing.
        assert!(!plan.want("d", interest(&[("red", None)], &[]), 0.0));
    }

    #[test]
    fn after_a_resync_the_stream_goes_back_only_for_a_tab_that_holds_something() {
        let mut plan = Plan::default();
        assert!(plan.want("a", interest(&[("red", Some(0))], &["red"]), 0.0));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(0))]);
        plan.resynced(&room("red"));
        // A room still empty after the reload: no reconnect, no second resync now.
        assert!(!plan.want("a", interest(&[("red", Some(0))], &["red"]), 0.0));
        // A reload that found messages: from the newest of them.
        plan.resynced(&room("red"));
        assert!(plan.want("a", interest(&[("red", Some(8))], &["red"]), 0.0));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(8))]);
        // Live from "now" and nothing seen since: a later reconnect still resumes from
        // what the tab holds, not from a later "now".
        plan.resynced(&room("red"));
        assert!(plan.want("a", interest(&[("red", Some(9))], &["red"]), 0.0));
        plan.closed();
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(9))]);
    }

    #[test]
    fn a_reconnect_resumes_after_what_the_stream_brought() {
        let mut plan = Plan::default();
        assert!(plan.want("a", interest(&[("red", None)], &["red"]), 0.0));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), None)]);
        plan.seen(&room("red"), id(3));
        plan.seen(&room("red"), id(2));
        plan.closed();
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(3))]);
    }

    #[test]
    fn a_tab_that_leaves_takes_its_rooms_out_of_the_stream() {
        let mut plan = Plan::default();
        assert!(plan.want("a", interest(&[("red", Some(1))], &["red"]), 0.0));
        assert!(plan.want("b", interest(&[("blue", Some(1))], &["blue"]), 0.0));
        plan.request();
        assert!(plan.bye("b"));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(1))]);
        assert!(!plan.bye("b"), "twice is once");
        // A tab that stops pinging is forgotten; the leader never is.
        assert!(plan.want("c", interest(&[("blue", Some(1))], &[]), 10.0));
        plan.request();
        assert!(plan.heard("c", 50.0));
        assert!(!plan.heard("stranger", 50.0));
        assert!(!plan.expire(40.0, "a"));
        assert!(plan.expire(60.0, "a"));
        assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(1))]);
        assert!(plan.bye("a"));
        assert_eq!(plan.request(), None);
    }

    #[test]
    fn rooms_where_someone_is_come_first_and_the_stream_holds_at_most_fifty() {
        let mut plan = Plan::default();
        let many: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
        let rooms: Vec<(&str, Option<u64>)> = many.iter().map(|r| (r.as_str(), None)).collect();
        assert!(plan.want("a", interest(&rooms, &[]), 0.0));
        assert!(plan.want("b", interest(&[("zz", None)], &["zz"]), 0.0));
        let request = plan.request().unwrap();
        assert_eq!(request.rooms.len(), MAX_STREAM_ROOMS);
        let zz = request.rooms.iter().position(|r| r.room == room("zz"));
        assert_eq!(request.here, [zz.unwrap()]);
    }

    #[test]
    fn a_tab_drops_what_it_already_holds() {
        let mut positions = Positions::default();
        assert!(positions.advance(&room("red"), id(2)));
        assert!(!positions.advance(&room("red"), id(2)));
        assert!(!positions.advance(&room("red"), id(1)));
        assert!(positions.advance(&room("red"), id(3)));
        assert!(positions.advance(&room("blue"), id(1)));
        assert_eq!(positions.get(&room("red")), Some(id(3)));
    }

    #[test]
    fn notes_go_between_tabs_as_json_and_back() {
        let notes = [
            Note::Want {
                tab: "t1".into(),
                interest: interest(&[("red", Some(4))], &["red"]),
            },
            Note::Event {
                name: "message".into(),
                data: "{\"x\":\"<b>\"}".into(),
                id: "red/4-0".into(),
            },
            Note::Status {
                status: Connection::Live,
            },
        ];
        for note in notes {
            assert_eq!(Note::decode(&note.encode()), Some(note));
        }
        assert_eq!(Note::decode("{\"nonsense\":{}}"), None);
        assert_eq!(
            interest(&[("red", Some(4)), ("blue", None)], &["red"]).merge(interest(
                &[("red", Some(2)), ("green", Some(1))],
                &["green"]
            )),
            interest(
                &[("red", Some(2)), ("blue", None), ("green", Some(1))],
                &["red", "green"]
            )
        );
    }
}
