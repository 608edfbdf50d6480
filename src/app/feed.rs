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

    /// Takes the server's member list, unless the stream has already said. In the browser
    /// only: on the server a page's parts render concurrently, and a write here while
    /// another part read the signal panicked (`members::Shown`).
    #[cfg(not(feature = "ssr"))]
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
mod tests;
