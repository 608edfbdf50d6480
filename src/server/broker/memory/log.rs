//! The room log in process memory: each room's log (what streams replay) and its
//! messages as they stand (what history reads), with the bounds of the module's doc.

use super::{IDEMPOTENCY_CAPACITY, MemoryBroker};
use crate::{
    message::{ChatMessage, Deleted, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::broker::{
        After, BrokerError, BrokerResult, Change, Changed, Holder, LOG_ENTRIES_PER_MESSAGE, Limits,
        NewMessage, Page, Published, ROOM_LIST_LIMIT, RoomLog,
        changes::{self, Outcome},
        holds::Holds,
        log::Entry,
        with_default_room,
    },
};
use async_trait::async_trait;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::IpAddr,
};

type PostKey = (RoomName, String, String);

#[derive(Default)]
pub(super) struct State {
    pub(super) rooms: HashMap<RoomName, Room>,
    /// Each room under the id of its newest message: least recently active first.
    pub(super) activity: BTreeMap<MessageId, RoomName>,
    /// Bytes of all rooms' messages, as [`size_of_message`] counts them.
    pub(super) bytes: usize,
    pub(super) last_id: MessageId,
    /// (room, session, client_id) → the id of the first message posted with it.
    pub(super) posts: HashMap<PostKey, MessageId>,
    pub(super) posts_order: VecDeque<PostKey>,
    pub(super) holds: Holds,
}

/// A room: its log (what streams replay) and its retained messages as they stand now
/// (what history reads). Trimming the log's oldest entry, when it is a message, forgets
/// that message too.
#[derive(Default)]
pub(super) struct Room {
    pub(super) log: VecDeque<Kept>,
    pub(super) messages: BTreeMap<MessageId, ChatMessage>,
    /// The newest message's id: the room's place in [`State::activity`].
    pub(super) newest_message: Option<MessageId>,
    pub(super) bytes: usize,
}

/// A log entry as the room keeps it: whole, or an update that names its message, which
/// `Room::messages` holds as it stands (so that a flood of reactions keeps one copy of
/// the message, not one per change: a replay sends it as it stands then).
pub(super) enum Kept {
    Whole(Entry),
    Update { id: MessageId, of: MessageId },
}

impl Kept {
    fn id(&self) -> MessageId {
        match self {
            Kept::Whole(entry) => entry.id(),
            Kept::Update { id, .. } => *id,
        }
    }

    /// What it costs to keep, with its deque slot.
    fn size(&self) -> usize {
        match self {
            Kept::Whole(entry) => size_of_entry(entry),
            Kept::Update { .. } => 0,
        }
        .max(std::mem::size_of::<Kept>())
    }
}

/// What a message costs to keep: its strings plus the struct.
fn size_of_message(message: &ChatMessage) -> usize {
    let reactions: usize = message
        .reactions
        .iter()
        .map(|r| r.emoji.len() + r.names.iter().map(|n| n.as_str().len() + 32).sum::<usize>())
        .sum();
    message.text.len()
        + message.sender.as_str().len()
        + message.sent_at.len()
        + message.room.as_str().len()
        + message.edited_at.as_ref().map_or(0, String::len)
        + reactions
        + std::mem::size_of::<ChatMessage>()
}

/// What a log entry costs to keep, with its deque slot.
fn size_of_entry(entry: &Entry) -> usize {
    let message = match entry {
        Entry::Message(message) | Entry::Update { message, .. } => size_of_message(message),
        Entry::Delete { .. } => 0,
    };
    message + std::mem::size_of::<Entry>()
}

impl State {
    /// The last id given to an entry.
    pub(super) fn last_id(&self) -> MessageId {
        self.last_id
    }

    /// The next id: the current millisecond, or a higher sequence within the last id's
    /// millisecond if the clock has not moved on (or went back).
    fn next_id(&mut self, now: u64) -> MessageId {
        self.last_id = if now > self.last_id.ms {
            MessageId::new(now, 0)
        } else {
            MessageId::new(self.last_id.ms, self.last_id.seq + 1)
        };
        self.last_id
    }

    fn remember_post(&mut self, key: PostKey, id: MessageId) {
        if self.posts_order.len() >= IDEMPOTENCY_CAPACITY
            && let Some(oldest) = self.posts_order.pop_front()
        {
            self.posts.remove(&oldest);
        }
        self.posts_order.push_back(key.clone());
        self.posts.insert(key, id);
    }

    /// Appends a new message to its room's log and history, then trims the rooms to the
    /// idle and byte limits (see [`State::evict`]).
    fn store(&mut self, message: ChatMessage, limits: &Limits) {
        let room_name = message.room.clone();
        let id = message.id;
        let cost = size_of_message(&message);
        let room = self.rooms.entry(room_name.clone()).or_default();
        let previous_newest = room.newest_message.replace(id);
        room.messages.insert(id, message.clone());
        room.bytes += cost;
        self.bytes += cost;
        self.append(&room_name, Kept::Whole(Entry::Message(message)), limits);
        if let Some(previous) = previous_newest {
            self.activity.remove(&previous);
        }
        self.activity.insert(id, room_name);
        self.evict(Some(id), id, limits);
    }

    /// Keeps the rooms within the byte limit and forgets the idle ones (as of `now`).
    /// Past the byte limit the room just written to (its newest message at `keep`) gives
    /// up its own oldest entries first, down to that message, so that whoever fills
    /// memory wears out their own room's history before anyone else's; only then do the
    /// least recently active rooms go. The room count never forgets a room: a post that
    /// would make one too many is refused (`admit_new_room`).
    fn evict(&mut self, keep: Option<MessageId>, now: MessageId, limits: &Limits) {
        let idle_before = MessageId::new(
            now.ms.saturating_sub(limits.room_idle.as_millis() as u64),
            0,
        );
        if let Some(keep) = keep
            && self.bytes > limits.memory_bytes
            && let Some(room) = self.activity.get(&keep).cloned()
        {
            self.trim_oldest(&room, keep, limits.memory_bytes);
        }
        while let Some((&oldest, _)) = self.activity.first_key_value() {
            let over = self.bytes > limits.memory_bytes;
            if Some(oldest) == keep || !(over || oldest < idle_before) {
                break;
            }
            self.forget_least_active();
        }
    }

    /// Drops `room`'s oldest log entries (and the messages among them) while all rooms
    /// hold more than `budget` bytes, down to its message `keep`.
    fn trim_oldest(&mut self, room: &RoomName, keep: MessageId, budget: usize) {
        let Some(room) = self.rooms.get_mut(room) else {
            return;
        };
        while self.bytes > budget && room.log.front().is_some_and(|e| e.id() < keep) {
            let Some(old) = room.log.pop_front() else {
                break;
            };
            let freed = forget(room, &old);
            room.bytes -= freed;
            self.bytes -= freed;
        }
    }

    /// Appends an entry to its room's log (which exists), then trims the log from its
    /// oldest entry while the room keeps more messages than the history limit, or the log
    /// more than [`LOG_ENTRIES_PER_MESSAGE`] entries per message of the limit: a message
    /// trimmed from the log leaves history too.
    fn append(&mut self, room: &RoomName, kept: Kept, limits: &Limits) {
        let cost = kept.size();
        let Some(room) = self.rooms.get_mut(room) else {
            return;
        };
        room.log.push_back(kept);
        room.bytes += cost;
        self.bytes += cost;
        while room.messages.len() > limits.history
            || room.log.len() > limits.history * LOG_ENTRIES_PER_MESSAGE
        {
            let Some(old) = room.log.pop_front() else {
                break;
            };
            let freed = forget(room, &old);
            room.bytes -= freed;
            self.bytes -= freed;
        }
    }

    fn forget_least_active(&mut self) {
        if let Some((_, name)) = self.activity.pop_first()
            && let Some(room) = self.rooms.remove(&name)
        {
            self.bytes -= room.bytes;
        }
    }

    pub(super) fn find(&self, room: &RoomName, id: MessageId) -> Option<&ChatMessage> {
        self.rooms.get(room)?.messages.get(&id)
    }
}

/// Forgets a log entry trimmed from `room`'s log, with its message when it is one;
/// answers the bytes freed.
fn forget(room: &mut Room, old: &Kept) -> usize {
    let mut freed = old.size();
    if let Kept::Whole(Entry::Message(message)) = old
        && let Some(current) = room.messages.remove(&message.id)
    {
        freed += size_of_message(&current);
    }
    freed
}

impl MemoryBroker {
    /// Lets `new` make its room: if the chat has room for one more once the idle rooms
    /// are forgotten ([`BrokerError::RoomsFull`] if not; no active room is ever forgotten
    /// for it), and its author and address are within the new-room limit.
    fn admit_new_room(
        &self,
        state: &mut State,
        author: &Holder,
        client: IpAddr,
        now_ms: u64,
    ) -> BrokerResult<()> {
        state.evict(None, MessageId::new(now_ms, 0), &self.limits);
        if state.rooms.len() >= self.limits.max_rooms {
            return Err(BrokerError::RoomsFull);
        }
        self.new_room_by_name
            .check(&author.name.key())
            .map_err(BrokerError::RateLimited)?;
        self.new_room_by_client
            .check(&client)
            .map_err(BrokerError::RateLimited)
    }
}

#[async_trait]
impl RoomLog for MemoryBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        let mut state = self.lock();
        let now = self.clock.elapsed();
        if !state.holds.touch(&new.author, self.limits.name_idle, now) {
            return Err(BrokerError::Revoked);
        }
        let key = new
            .client_id
            .map(|client_id| (new.room.clone(), new.author.session_id.clone(), client_id));
        if let Some(&first) = key.as_ref().and_then(|k| state.posts.get(k)) {
            // The first message as it stands, whatever this retry's text says (the
            // record holds its id, not its text); gone once deleted or forgotten.
            return match state.find(&new.room, first) {
                Some(message) => Ok(Published::Repeat(message.clone())),
                None => Err(BrokerError::NotFound),
            };
        }
        self.post_limit
            .check(&new.author.name.key())
            .map_err(BrokerError::RateLimited)?;
        let now_ms = self.clock.now_ms();
        if !state.rooms.contains_key(&new.room) {
            self.admit_new_room(&mut state, &new.author, new.client, now_ms)?;
        }
        let id = state.next_id(now_ms);
        let message = ChatMessage::new(id, new.room, new.author.name, new.text.into_string());
        state.store(message.clone(), &self.limits);
        if let Some(key) = key {
            state.remember_post(key, id);
        }
        self.hub.dispatch(&Entry::Message(message.clone()));
        Ok(Published::New(message))
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        let mut state = self.lock();
        let now = self.clock.elapsed();
        if !state
            .holds
            .touch(&change.author, self.limits.name_idle, now)
        {
            return Err(BrokerError::Revoked);
        }
        let current = state
            .find(&change.room, change.id)
            .ok_or(BrokerError::NotFound)?;
        let outcome = changes::apply(current, &change.kind, &change.author, self.clock.now_ms())?;
        if outcome == Outcome::Same {
            return Ok(Changed::Message(current.clone()));
        }
        self.post_limit
            .check(&change.author.name.key())
            .map_err(BrokerError::RateLimited)?;
        let id = state.next_id(self.clock.now_ms());
        let room = state.rooms.get_mut(&change.room).expect("found above");
        let old = room.messages.remove(&change.id).expect("found above");
        let mut cost = -(size_of_message(&old) as isize);
        let (entry, kept, answer) = if let Outcome::Updated(message) = outcome {
            cost += size_of_message(&message) as isize;
            room.messages.insert(change.id, message.clone());
            let entry = Entry::Update {
                id,
                message: message.clone(),
            };
            let kept = Kept::Update { id, of: change.id };
            (entry, kept, Changed::Message(message))
        } else {
            let deleted = Deleted {
                room: change.room.clone(),
                id: change.id,
            };
            let entry = Entry::Delete { id, deleted };
            (entry.clone(), Kept::Whole(entry), Changed::Deleted)
        };
        room.bytes = room.bytes.saturating_add_signed(cost);
        let keep = room.newest_message.unwrap_or(change.id);
        state.bytes = state.bytes.saturating_add_signed(cost);
        state.append(&change.room, kept, &self.limits);
        state.evict(Some(keep), id, &self.limits);
        self.hub.dispatch(&entry);
        Ok(answer)
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let state = self.lock();
        let Some(messages) = state.rooms.get(room).map(|r| &r.messages) else {
            return Ok(Vec::new());
        };
        let older = match before {
            Some(before) => messages.range(..before),
            None => messages.range(..),
        };
        let mut page: Vec<ChatMessage> = older.rev().take(limit).map(|(_, m)| m.clone()).collect();
        page.reverse();
        Ok(page)
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let state = self.lock();
        let Some(room) = state.rooms.get(room) else {
            return Ok(After::Resync { oldest: None });
        };
        let log = &room.log;
        let Ok(index) = log.binary_search_by(|e| e.id().cmp(&after)) else {
            return Ok(After::Resync {
                oldest: log.front().map(Kept::id),
            });
        };
        let read: Vec<&Kept> = log.range(index + 1..).take(limit).collect();
        // An update is sent with its message as it stands; one of a message deleted
        // since is left out, as the delete that follows it says the rest.
        let entries = read
            .iter()
            .filter_map(|kept| match kept {
                Kept::Whole(entry) => Some(entry.clone()),
                Kept::Update { id, of } => room.messages.get(of).map(|message| Entry::Update {
                    id: *id,
                    message: message.clone(),
                }),
            })
            .collect();
        Ok(After::Entries(Page {
            entries,
            last: read.last().map(|kept| kept.id()),
            full: read.len() >= limit,
        }))
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        let state = self.lock();
        let rooms = state
            .activity
            .values()
            .rev()
            .take(ROOM_LIST_LIMIT)
            .filter_map(|name| {
                let newest = state.rooms.get(name)?.newest_message?;
                Some(RoomSummary {
                    name: name.clone(),
                    last_message_at: Some(rfc3339_millis(newest.ms)),
                })
            })
            .collect();
        Ok(with_default_room(rooms))
    }
}
