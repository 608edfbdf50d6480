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

use super::live::{Connection, Role};
use crate::{
    awareness::{ONLINE_LIST_LIMIT, PersonEvent, PersonEventKind, Presence},
    message::{ChatMessage, Deleted, DisplayName, MessageId, Resync, RoomName},
};
use leptos::prelude::*;
use litemap::LiteMap;

/// A room's messages by id: whatever arrives twice (history, live, a post's answer) is
/// shown once, in order; an `update` replaces one, a `delete` takes it out.
pub type Messages = LiteMap<MessageId, ChatMessage>;

/// Messages fetched per page of history.
pub const PAGE: usize = 50;
/// How long someone shows as typing after their last `typing` event.
pub const TYPING_SHOWS_MS: f64 = 4_000.0;

/// What arrived in a background room after its last-read id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    /// Sets, not counters: a message delivered twice (a replay, and the page fetched
    /// after a resync) counts once.
    pub ids: LiteMap<MessageId, ()>,
    pub mentions: LiteMap<MessageId, ()>,
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
        self.ids.insert(message.id, ());
        if me.is_some_and(|me| crate::awareness::mentions_name(&message.text, me)) {
            self.mentions.insert(message.id, ());
        }
    }

    /// Forgets a message that was deleted: it is no longer there to read. Whether it
    /// was unread.
    pub fn forget(&mut self, id: MessageId) -> bool {
        self.mentions.remove(&id);
        self.ids.remove(&id).is_some()
    }

    /// Forgets what is no longer unread once the room was read up to `read`.
    pub fn read_up_to(&mut self, read: MessageId) {
        self.ids.retain(|id, _| *id > read);
        self.mentions.retain(|id, _| *id > read);
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
    /// This tab's part in the browser's one stream, once it has one.
    pub role: RwSignal<Option<Role>>,
    /// Who is here: `None` until the server's render or the stream says.
    pub members: RwSignal<Option<Presence>>,
    pub typing: RwSignal<Vec<Typist>>,
    /// The other recent rooms' unread messages.
    pub unread: RwSignal<LiteMap<RoomName, Unread>>,
    /// This browser's recent rooms, most recent first (the sidebar).
    pub recent: RwSignal<Vec<RoomName>>,
    /// The message of yours being edited in this tab, if any: one at a time, started
    /// from its row or by Up in the empty composer.
    pub editing: RwSignal<Option<Editing>>,
}

/// An edit in progress.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Editing {
    pub id: MessageId,
    /// The id of the element the focus goes back to afterwards (where the edit began).
    pub return_to: String,
    /// What is typed so far, once anything is: kept here, outside the row, so that a
    /// row drawn again (its group changed when the message above it went) keeps it.
    pub draft: Option<String>,
}

impl Feed {
    pub fn new(room: RoomName) -> Self {
        Self {
            room: StoredValue::new(room),
            messages: RwSignal::new(Messages::new()),
            more_older: RwSignal::new(true),
            status: RwSignal::new(Connection::Offline),
            role: RwSignal::new(None),
            members: RwSignal::new(None),
            typing: RwSignal::new(Vec::new()),
            unread: RwSignal::new(LiteMap::new()),
            recent: RwSignal::new(Vec::new()),
            editing: RwSignal::new(None),
        }
    }

    /// Adds messages (a page of history, a post's answer, a live one).
    pub fn add(&self, page: impl IntoIterator<Item = ChatMessage>) {
        self.messages.maybe_update(|all| apply_new(all, page));
    }

    /// A message changed (`update`): shown as it now stands, if it is shown at all.
    pub fn change(&self, message: ChatMessage) {
        self.messages.maybe_update(|all| apply_update(all, message));
    }

    /// A message is gone (`delete`, or your own delete's answer).
    pub fn remove(&self, id: MessageId) {
        self.messages.maybe_update(|all| apply_delete(all, id));
        self.editing.maybe_update(|editing| {
            let was = editing.as_ref().is_some_and(|e| e.id == id);
            if was {
                *editing = None;
            }
            was
        });
    }

    /// The answer to your own change of a message, sent while it stood as `before`.
    pub fn answer(&self, before: &ChatMessage, answer: ChatMessage) {
        self.messages
            .maybe_update(|all| apply_answer(all, before, answer));
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

/// Adds the messages not held yet. One that is held stays as it is: the stream has kept
/// it current (its changes come as `update`s), and a page of history or a post's answer
/// may be older than what the stream brought meanwhile. Whether anything was added.
pub fn apply_new(all: &mut Messages, page: impl IntoIterator<Item = ChatMessage>) -> bool {
    let before = all.len();
    for message in page {
        all.entry(message.id).or_insert(message);
    }
    all.len() != before
}

/// Replaces a message that is held with `message`; a message that is not (deleted
/// since, or older than what is shown) is not added. Whether anything changed.
pub fn apply_update(all: &mut Messages, message: ChatMessage) -> bool {
    match all.get_mut(&message.id) {
        Some(held) if *held != message => {
            *held = message;
            true
        }
        _ => false,
    }
}

/// The answer to a change you made while the message stood as `before`. The stream's
/// `update` brings the same, and it may have brought more since (someone's reaction
/// after yours), which an older answer must not undo: so the answer is taken only while
/// the message is still as it was. Whether anything changed.
pub fn apply_answer(all: &mut Messages, before: &ChatMessage, answer: ChatMessage) -> bool {
    all.get(&before.id) == Some(before) && apply_update(all, answer)
}

/// The newest message `name` sent among `all` (what Up in the empty composer edits).
pub fn newest_of(all: &Messages, name: &DisplayName) -> Option<MessageId> {
    all.values()
        .rev()
        .find(|m| m.sender.same_name(name))
        .map(|m| m.id)
}

/// Removes message `id`, if held. Whether anything changed.
pub fn apply_delete(all: &mut Messages, id: MessageId) -> bool {
    all.remove(&id).is_some()
}

/// One event of the stream, parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Message(ChatMessage),
    /// A message as it stands after an edit or a reaction.
    Update(ChatMessage),
    Delete(Deleted),
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
            "update" => Self::Update(serde_json::from_str(data).ok()?),
            "delete" => Self::Delete(serde_json::from_str(data).ok()?),
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
            Self::Message(m) | Self::Update(m) => &m.room,
            Self::Delete(d) => &d.room,
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
    use crate::message::{Reaction, RoomName};

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
            edited_at: None,
            reactions: Vec::new(),
        }
    }

    fn held(all: impl IntoIterator<Item = ChatMessage>) -> Messages {
        all.into_iter().map(|m| (m.id, m)).collect()
    }

    #[test]
    fn an_update_replaces_a_held_message_and_never_adds_one() {
        let mut all = held([message(1, "bob", "teh"), message(2, "carol", "hi")]);
        let mut fixed = message(1, "bob", "the");
        fixed.edited_at = Some(crate::message::rfc3339_millis(3));
        assert!(apply_update(&mut all, fixed.clone()));
        assert_eq!(all[&MessageId::new(1, 0)], fixed);
        // The same state again changes nothing (and notifies nobody).
        assert!(!apply_update(&mut all, fixed));
        // A message deleted since, or never loaded, stays out.
        assert!(!apply_update(&mut all, message(7, "bob", "gone")));
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn what_arrives_twice_is_held_once_as_the_stream_left_it() {
        let mut edited = message(1, "bob", "the");
        edited.edited_at = Some(crate::message::rfc3339_millis(3));
        let mut all = held([edited.clone()]);
        // A page fetched before the edit arrived, with one message more.
        assert!(apply_new(
            &mut all,
            [message(1, "bob", "teh"), message(2, "bob", "new")]
        ));
        assert_eq!(all[&MessageId::new(1, 0)], edited);
        assert_eq!(all.len(), 2);
        assert!(!apply_new(&mut all, [message(2, "bob", "new")]));
    }

    #[test]
    fn an_answer_never_undoes_what_the_stream_brought_since() {
        let before = message(1, "alice", "hi");
        let mut mine = before.clone();
        mine.reactions = vec![Reaction {
            emoji: "👍".into(),
            names: names(&["alice"]),
        }];
        let mut both = mine.clone();
        both.reactions[0].names.push(name("bob"));

        // The answer comes first: taken.
        let mut all = held([before.clone()]);
        assert!(apply_answer(&mut all, &before, mine.clone()));
        assert_eq!(all[&before.id], mine);

        // The stream brought your reaction and then bob's: the late answer is left out.
        let mut all = held([both.clone()]);
        assert!(!apply_answer(&mut all, &before, mine.clone()));
        assert_eq!(all[&before.id], both);

        // Deleted meanwhile: it stays deleted.
        let mut all = Messages::new();
        assert!(!apply_answer(&mut all, &before, mine));
        assert!(all.is_empty());
    }

    #[test]
    fn a_deleted_message_is_no_longer_unread() {
        let me = name("alice");
        let mut unread = Unread::default();
        unread.add(&message(11, "bob", "hey @alice"), None, Some(&me));
        unread.add(&message(12, "bob", "there"), None, Some(&me));
        unread.forget(MessageId::new(11, 0));
        assert_eq!(unread.count(), 1);
        assert!(!unread.mentioned());
    }

    #[test]
    fn up_edits_your_newest_message() {
        let all = held([
            message(1, "alice", "first"),
            message(2, "Alice", "second"),
            message(3, "bob", "not yours"),
        ]);
        assert_eq!(newest_of(&all, &name("alice")), Some(MessageId::new(2, 0)));
        assert_eq!(newest_of(&all, &name("carol")), None);
    }

    #[test]
    fn a_delete_removes_a_held_message_once() {
        let mut all = held([message(1, "bob", "oops"), message(2, "carol", "hi")]);
        assert!(apply_delete(&mut all, MessageId::new(1, 0)));
        assert!(!apply_delete(&mut all, MessageId::new(1, 0)));
        assert!(!apply_delete(&mut all, MessageId::new(9, 0)));
        assert_eq!(
            all.keys().copied().collect::<Vec<_>>(),
            [MessageId::new(2, 0)]
        );
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
        assert_eq!(StreamEvent::parse("reaction", "{}"), None);
        let delete = StreamEvent::parse("delete", r#"{"room":"dev","id":"5-0"}"#).unwrap();
        assert_eq!(
            delete,
            StreamEvent::Delete(Deleted {
                room: room(),
                id: MessageId::new(5, 0)
            })
        );
        let update = StreamEvent::parse(
            "update",
            r#"{"id":"5-0","room":"dev","sender":"bob","text":"fixed","sent_at":"x","edited_at":"y","reactions":[{"emoji":"👍","names":["alice"]}]}"#,
        )
        .unwrap();
        let StreamEvent::Update(updated) = update else {
            panic!("an update: {update:?}");
        };
        assert_eq!(updated.edited_at.as_deref(), Some("y"));
        assert_eq!(updated.reactions[0].names, names(&["alice"]));
        assert_eq!(StreamEvent::parse("message", "not json"), None);
    }
}
