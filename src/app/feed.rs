//! What a room page knows, kept current by the tab's one event stream: the room's
//! messages, who is here and who is typing, and what arrived in the other recent rooms.
//!
//! [`Feed`] is the state, as signals the components read. The browser side (in
//! `feed/stream.rs`) opens `GET /api/events` for the room and the recent rooms, applies
//! each event here, and reconnects by itself with the newest id it holds for each room,
//! so that nothing is missed, and nothing shown twice, in any room.

#[cfg(feature = "hydrate")]
mod stream;

#[cfg(feature = "hydrate")]
pub use stream::connect;

use super::live::Connection;
use crate::{
    awareness::{ONLINE_LIST_LIMIT, PersonEvent, PersonEventKind, Presence},
    message::{ChatMessage, DisplayName, MessageId, Resync, RoomName},
};
use leptos::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

/// A room's messages by id: whatever arrives twice (history, live, a post's answer) is
/// shown once, in order.
pub type Messages = BTreeMap<MessageId, ChatMessage>;

/// Messages fetched per page of history.
pub const PAGE: usize = 50;
/// How long someone shows as typing after their last `typing` event.
pub const TYPING_SHOWS_MS: f64 = 4_000.0;

/// What arrived in a background room after its last-read id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    /// Sets, not counters: a message delivered twice (a replay, and the page fetched
    /// after a resync) counts once.
    pub ids: BTreeSet<MessageId>,
    pub mentions: BTreeSet<MessageId>,
}

impl Unread {
    pub fn count(&self) -> usize {
        self.ids.len()
    }

    pub fn mentioned(&self) -> bool {
        !self.mentions.is_empty()
    }

    /// Counts `message` if it is newer than `read` and someone else's.
    pub fn add(
        &mut self,
        message: &ChatMessage,
        read: Option<MessageId>,
        me: Option<&DisplayName>,
    ) {
        if read.is_some_and(|read| message.id <= read)
            || me.is_some_and(|me| me.same_name(&message.sender))
        {
            return;
        }
        self.ids.insert(message.id);
        if me.is_some_and(|me| crate::awareness::mentions_name(&message.text, me)) {
            self.mentions.insert(message.id);
        }
    }

    /// Forgets what is no longer unread once the room was read up to `read`.
    pub fn read_up_to(&mut self, read: MessageId) {
        self.ids.retain(|id| *id > read);
        self.mentions.retain(|id| *id > read);
    }
}

/// Someone typing, until when (the browser's clock, in ms).
#[derive(Clone, Debug, PartialEq)]
pub struct Typist {
    pub name: DisplayName,
    pub until: f64,
}

/// The state of the room page. Every field is a signal or a stored value, so it is
/// `Copy` and shared through context.
#[derive(Clone, Copy)]
pub struct Feed {
    pub room: StoredValue<RoomName>,
    pub messages: RwSignal<Messages>,
    /// Whether there is history before the oldest message shown.
    pub more_older: RwSignal<bool>,
    pub status: RwSignal<Connection>,
    /// Who is here: `None` until the server's render or the stream says.
    pub members: RwSignal<Option<Presence>>,
    pub typing: RwSignal<Vec<Typist>>,
    /// The other recent rooms' unread messages.
    pub unread: RwSignal<BTreeMap<RoomName, Unread>>,
    /// This browser's recent rooms, most recent first (the sidebar).
    pub recent: RwSignal<Vec<RoomName>>,
}

impl Feed {
    pub fn new(room: RoomName) -> Self {
        Self {
            room: StoredValue::new(room),
            messages: RwSignal::new(Messages::new()),
            more_older: RwSignal::new(true),
            status: RwSignal::new(Connection::Offline),
            members: RwSignal::new(None),
            typing: RwSignal::new(Vec::new()),
            unread: RwSignal::new(BTreeMap::new()),
            recent: RwSignal::new(Vec::new()),
        }
    }

    /// Adds messages (a page of history, a post's answer, a live one).
    pub fn add(&self, page: impl IntoIterator<Item = ChatMessage>) {
        self.messages
            .update(|all| all.extend(page.into_iter().map(|m| (m.id, m))));
    }

    /// Takes the server's member list, unless the stream has already said.
    pub fn seed_members(&self, presence: Presence) {
        self.members.update(|members| {
            members.get_or_insert(presence);
        });
    }

    /// The tab's title: `(N) #room · tiny-chat`, N the unread messages in the other
    /// rooms. (With `try_`: the title may be read once more as the room is left.)
    pub fn title(&self) -> String {
        let Some(room) = self.room.try_get_value() else {
            return String::new();
        };
        let elsewhere = self.unread.try_with(|all| {
            all.iter()
                .filter(|(r, _)| **r != room)
                .map(|(_, u)| u.count())
                .sum()
        });
        title(&room, elsewhere.unwrap_or(0))
    }
}

pub fn title(room: &RoomName, unread_elsewhere: usize) -> String {
    match unread_elsewhere {
        0 => format!("#{room} · tiny-chat"),
        n => format!("({n}) #{room} · tiny-chat"),
    }
}

/// One event of the stream, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Message(ChatMessage),
    Resync(Resync),
    Presence(Presence),
    Person(PersonEventKind, PersonEvent),
}

impl StreamEvent {
    /// The event `kind` with `data`; `None` for an unknown kind or data that does not
    /// parse (ignored, as the API asks of clients).
    pub fn parse(kind: &str, data: &str) -> Option<Self> {
        Some(match kind {
            "message" => Self::Message(serde_json::from_str(data).ok()?),
            "resync" => Self::Resync(serde_json::from_str(data).ok()?),
            "presence" => Self::Presence(serde_json::from_str(data).ok()?),
            "join" => Self::Person(PersonEventKind::Join, serde_json::from_str(data).ok()?),
            "leave" => Self::Person(PersonEventKind::Leave, serde_json::from_str(data).ok()?),
            "typing" => Self::Person(PersonEventKind::Typing, serde_json::from_str(data).ok()?),
            _ => return None,
        })
    }

    /// The room the event is about.
    pub fn room(&self) -> &RoomName {
        match self {
            Self::Message(m) => &m.room,
            Self::Resync(r) => &r.room,
            Self::Presence(p) => &p.room,
            Self::Person(_, e) => &e.room,
        }
    }
}

/// `name` joined: listed in order (case-insensitively) and counted, unless already
/// listed, so that a repeated join changes nothing.
pub fn join(presence: &mut Presence, name: DisplayName) {
    if presence.online.iter().any(|n| n.same_name(&name)) {
        return;
    }
    if presence.online.len() < ONLINE_LIST_LIMIT {
        let key = name.canonical();
        let at = presence.online.partition_point(|n| n.canonical() < key);
        presence.online.insert(at, name);
    }
    presence.count = (presence.count + 1).max(presence.online.len());
}

/// `name` left: unlisted and uncounted, if listed (a repeated leave changes nothing).
pub fn leave(presence: &mut Presence, name: &DisplayName) {
    if let Some(at) = presence.online.iter().position(|n| n.same_name(name)) {
        presence.online.remove(at);
        presence.count = presence.count.saturating_sub(1).max(presence.online.len());
    }
}

/// "alice is typing…", "alice and bob are typing…", "several people are typing…".
pub fn typing_label(names: &[DisplayName]) -> Option<String> {
    match names {
        [] => None,
        [one] => Some(format!("{one} is typing…")),
        [one, two] => Some(format!("{one} and {two} are typing…")),
        _ => Some("several people are typing…".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::RoomName;

    fn name(raw: &str) -> DisplayName {
        DisplayName::parse(raw).unwrap()
    }

    fn names(raw: &[&str]) -> Vec<DisplayName> {
        raw.iter().map(|n| name(n)).collect()
    }

    fn room() -> RoomName {
        RoomName::parse("dev").unwrap()
    }

    fn message(id: u64, sender: &str, text: &str) -> ChatMessage {
        ChatMessage {
            id: MessageId::new(id, 0),
            room: room(),
            sender: name(sender),
            text: text.into(),
            sent_at: crate::message::rfc3339_millis(id),
        }
    }

    #[test]
    fn joins_and_leaves_are_idempotent_and_keep_the_list_sorted() {
        let mut here = Presence {
            room: room(),
            online: names(&["bob", "dave"]),
            count: 2,
        };
        join(&mut here, name("Carol"));
        join(&mut here, name("carol"));
        join(&mut here, name("alice"));
        assert_eq!(here.online, names(&["alice", "bob", "Carol", "dave"]));
        assert_eq!(here.count, 4);
        leave(&mut here, &name("BOB"));
        leave(&mut here, &name("bob"));
        leave(&mut here, &name("nobody"));
        assert_eq!(here.online, names(&["alice", "Carol", "dave"]));
        assert_eq!(here.count, 3);
    }

    #[test]
    fn a_full_list_still_counts_a_join() {
        let online: Vec<_> = (0..ONLINE_LIST_LIMIT)
            .map(|i| name(&format!("p{i:03}")))
            .collect();
        let mut here = Presence {
            room: room(),
            online,
            count: 100,
        };
        join(&mut here, name("zed"));
        assert_eq!(here.online.len(), ONLINE_LIST_LIMIT);
        assert_eq!(here.count, 101);
    }

    #[test]
    fn typing_reads_as_a_sentence() {
        assert_eq!(typing_label(&[]), None);
        assert_eq!(
            typing_label(&names(&["alice"])).unwrap(),
            "alice is typing…"
        );
        assert_eq!(
            typing_label(&names(&["alice", "bob"])).unwrap(),
            "alice and bob are typing…"
        );
        assert_eq!(
            typing_label(&names(&["alice", "bob", "carol"])).unwrap(),
            "several people are typing…"
        );
    }

    #[test]
    fn unread_counts_each_newer_message_of_others_once() {
        let me = name("alice");
        let mut unread = Unread::default();
        let read = Some(MessageId::new(10, 0));
        unread.add(&message(9, "bob", "old"), read, Some(&me));
        unread.add(&message(11, "bob", "new"), read, Some(&me));
        unread.add(&message(11, "bob", "new"), read, Some(&me));
        unread.add(&message(12, "Alice", "mine"), read, Some(&me));
        unread.add(&message(13, "carol", "hey @alice"), read, Some(&me));
        assert_eq!(unread.count(), 2);
        assert!(unread.mentioned());
        unread.read_up_to(MessageId::new(13, 0));
        assert_eq!(unread, Unread::default());
    }

    #[test]
    fn titles_count_what_is_unread_elsewhere() {
        assert_eq!(title(&room(), 0), "#dev · tiny-chat");
        assert_eq!(title(&room(), 3), "(3) #dev · tiny-chat");
    }

    #[test]
    fn stream_events_parse_and_unknown_ones_are_ignored() {
        let typing = StreamEvent::parse("typing", r#"{"room":"dev","name":"bob"}"#).unwrap();
        assert_eq!(typing.room(), &room());
        assert!(matches!(
            typing,
            StreamEvent::Person(PersonEventKind::Typing, _)
        ));
        let resync = StreamEvent::parse("resync", r#"{"room":"dev","oldest":null}"#).unwrap();
        assert!(matches!(
            resync,
            StreamEvent::Resync(Resync { oldest: None, .. })
        ));
        assert_eq!(StreamEvent::parse("update", "{}"), None);
        assert_eq!(StreamEvent::parse("message", "not json"), None);
    }
}
