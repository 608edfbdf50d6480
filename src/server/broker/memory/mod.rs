//! The in-memory broker: one node, nothing else to install.
//!
//! Bounded under hostile use: at most `CHAT_MAX_ROOMS` rooms and `CHAT_MEMORY_MAX_MB` of
//! messages over all of them (the least recently active room is forgotten first, and a
//! room idle for `CHAT_ROOM_IDLE_DAYS` goes too), at most [`IDEMPOTENCY_CAPACITY`]
//! remembered `client_id`s, and at most [`holds::MAX_HOLDS`] held names.

use super::{
    After, Broker, BrokerError, BrokerResult, Change, Changed, Claim, Holder,
    LOG_ENTRIES_PER_MESSAGE, Limits, NewMessage, Published, ROOM_LIST_LIMIT,
    changes::{self, Outcome},
    holds::Holds,
    with_default_room,
};
use crate::{
    awareness::{
        JOIN_LEAVE_LIMIT, ONLINE_LIST_LIMIT, PersonEventKind, Presence, TYPING_THROTTLE_MS,
    },
    message::{
        ChatMessage, Deleted, DisplayName, MessageId, RoomName, RoomSummary, rfc3339_millis,
    },
    server::{hub::Hub, limit::KeyedLimit, log::Entry},
};
use async_trait::async_trait;
use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex},
    time::{Instant, SystemTime, UNIX_EPOCH},
};

/// How many `client_id`s the broker remembers, oldest forgotten first. Each entry holds
/// only keys and an id, not the message. (The Redis broker keeps each for a day instead.)
const IDEMPOTENCY_CAPACITY: usize = 100_000;

pub struct MemoryBroker {
    /// A std `Mutex`: every critical section is short and synchronous. Publishing checks
    /// the author's hold, stores and dispatches under the lock, so that live order always
    /// equals id order and a revoked session can never slip a post in.
    state: Mutex<State>,
    hub: Arc<Hub>,
    limits: Limits,
    /// Posts per name. Checked under the state lock, after the hold.
    post_limit: KeyedLimit<String>,
    /// Sign-ins per client address.
    signin_limit: KeyedLimit<IpAddr>,
    /// Who is in each room: canonical name → name, so sorted case-insensitively. Bounded
    /// by the open streams (and those within their leave grace) that put them there.
    presence: Mutex<HashMap<RoomName, BTreeMap<String, DisplayName>>>,
    /// `typing` per (room, canonical name): once per [`TYPING_THROTTLE_MS`].
    typing_limit: KeyedLimit<(RoomName, String)>,
}

type PostKey = (RoomName, String, String);

#[derive(Default)]
struct State {
    rooms: HashMap<RoomName, Room>,
    /// Each room under the id of its newest message: least recently active first.
    activity: BTreeMap<MessageId, RoomName>,
    /// Bytes of all rooms' messages, as [`size_of_message`] counts them.
    bytes: usize,
    last_id: MessageId,
    /// (room, session, client_id) → the id of the first message posted with it.
    posts: HashMap<PostKey, MessageId>,
    posts_order: VecDeque<PostKey>,
    holds: Holds,
}

/// A room: its log (what streams replay) and its retained messages as they stand now
/// (what history reads). Trimming the log's oldest entry, when it is a message, forgets
/// that message too.
#[derive(Default)]
struct Room {
    log: VecDeque<Entry>,
    messages: BTreeMap<MessageId, ChatMessage>,
    /// The newest message's id: the room's place in [`State::activity`].
    newest_message: Option<MessageId>,
    bytes: usize,
}

/// A room's presence from its people (canonical name → name, so in order).
fn snapshot(room: &RoomName, people: Option<&BTreeMap<String, DisplayName>>) -> Presence {
    Presence {
        room: room.clone(),
        online: people
            .into_iter()
            .flat_map(BTreeMap::values)
            .take(ONLINE_LIST_LIMIT)
            .cloned()
            .collect(),
        count: people.map_or(0, BTreeMap::len),
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

impl MemoryBroker {
    /// Tells the room that `name` joined or left (`people` is the room after): by name
    /// while the room has at most [`JOIN_LEAVE_LIMIT`] people before and after; by its
    /// whole presence when the change crosses that limit, either way; else not at all.
    fn announce(
        &self,
        kind: PersonEventKind,
        room: &RoomName,
        name: &DisplayName,
        people: &BTreeMap<String, DisplayName>,
    ) {
        let after = people.len();
        let before = if kind == PersonEventKind::Join {
            after - 1
        } else {
            after + 1
        };
        match (before <= JOIN_LEAVE_LIMIT, after <= JOIN_LEAVE_LIMIT) {
            (true, true) => self.hub.person(kind, room, name),
            (false, false) => {}
            _ => self.hub.presence(&snapshot(room, Some(people))),
        }
    }

    pub fn new(limits: Limits, hub: Arc<Hub>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hub,
            post_limit: KeyedLimit::new(limits.post_rate, limits.post_burst),
            signin_limit: KeyedLimit::new(limits.signin_rate, limits.signin_burst),
            presence: Mutex::new(HashMap::new()),
            typing_limit: KeyedLimit::new(1000.0 / TYPING_THROTTLE_MS as f64, 1),
            limits: Limits {
                history: limits.history.max(1),
                max_rooms: limits.max_rooms.max(1),
                ..limits
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory broker lock poisoned")
    }
}

impl State {
    /// The next id: the current millisecond, or a higher sequence within the last id's
    /// millisecond if the clock has not moved on (or went back).
    fn next_id(&mut self) -> MessageId {
        let now = now_ms();
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

    /// Appends a new message to its room's log and history, then trims all rooms to the
    /// room, idle and byte limits (never the room just posted to).
    fn store(&mut self, message: ChatMessage, limits: &Limits) {
        let room_name = message.room.clone();
        let id = message.id;
        let cost = size_of_message(&message);
        let room = self.rooms.entry(room_name.clone()).or_default();
        let previous_newest = room.newest_message.replace(id);
        room.messages.insert(id, message.clone());
        room.bytes += cost;
        self.bytes += cost;
        self.append(Entry::Message(message), limits);
        if let Some(previous) = previous_newest {
            self.activity.remove(&previous);
        }
        self.activity.insert(id, room_name);
        self.evict(id, id, limits);
    }

    /// Forgets the least recently active rooms while over the room or byte limit, and
    /// those idle past the limit at `now`; never the room active at `keep` (the one just
    /// written to, under its newest message's id).
    fn evict(&mut self, keep: MessageId, now: MessageId, limits: &Limits) {
        let idle_before = MessageId::new(
            now.ms.saturating_sub(limits.room_idle.as_millis() as u64),
            0,
        );
        while let Some((&oldest, _)) = self.activity.first_key_value() {
            let over = self.rooms.len() > limits.max_rooms || self.bytes > limits.memory_bytes;
            if oldest == keep || !(over || oldest < idle_before) {
                break;
            }
            self.forget_least_active();
        }
    }

    /// Appends an entry to its room's log (which exists), then trims the log from its
    /// oldest entry while the room keeps more messages than the history limit, or the log
    /// more than [`LOG_ENTRIES_PER_MESSAGE`] entries per message of the limit: a message
    /// trimmed from the log leaves history too.
    fn append(&mut self, entry: Entry, limits: &Limits) {
        let cost = size_of_entry(&entry);
        let Some(room) = self.rooms.get_mut(entry.room()) else {
            return;
        };
        room.log.push_back(entry);
        room.bytes += cost;
        self.bytes += cost;
        while room.messages.len() > limits.history
            || room.log.len() > limits.history * LOG_ENTRIES_PER_MESSAGE
        {
            let Some(old) = room.log.pop_front() else {
                break;
            };
            let mut freed = size_of_entry(&old);
            if let Entry::Message(message) = &old
                && let Some(current) = room.messages.remove(&message.id)
            {
                freed += size_of_message(&current);
            }
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

    fn find(&self, room: &RoomName, id: MessageId) -> Option<&ChatMessage> {
        self.rooms.get(room)?.messages.get(&id)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        let mut state = self.lock();
        if !state
            .holds
            .touch(&new.author, self.limits.name_idle, Instant::now())
        {
            return Err(BrokerError::Revoked);
        }
        let key = new
            .client_id
            .map(|client_id| (new.room.clone(), new.author.session_id.clone(), client_id));
        if let Some(&first) = key.as_ref().and_then(|k| state.posts.get(k)) {
            // A retry carries the same text: answer with the message as first posted,
            // whatever became of it since (as the Redis broker does).
            let text = new.text.into_string();
            let message = ChatMessage::new(first, new.room, new.author.name, text);
            return Ok(Published::Repeat(message));
        }
        self.post_limit
            .check(&new.author.name.canonical())
            .map_err(BrokerError::RateLimited)?;
        let id = state.next_id();
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
        if !state
            .holds
            .touch(&change.author, self.limits.name_idle, Instant::now())
        {
            return Err(BrokerError::Revoked);
        }
        let current = state
            .find(&change.room, change.id)
            .ok_or(BrokerError::NotFound)?;
        let outcome = changes::apply(current, &change.kind, &change.author, now_ms())?;
        if outcome == Outcome::Same {
            return Ok(Changed::Message(current.clone()));
        }
        self.post_limit
            .check(&change.author.name.canonical())
            .map_err(BrokerError::RateLimited)?;
        let id = state.next_id();
        let room = state.rooms.get_mut(&change.room).expect("found above");
        let old = room.messages.remove(&change.id).expect("found above");
        let mut cost = -(size_of_message(&old) as isize);
        let (entry, answer) = if let Outcome::Updated(message) = outcome {
            cost += size_of_message(&message) as isize;
            room.messages.insert(change.id, message.clone());
            let entry = Entry::Update {
                id,
                message: message.clone(),
            };
            (entry, Changed::Message(message))
        } else {
            let deleted = Deleted {
                room: change.room.clone(),
                id: change.id,
            };
            (Entry::Delete { id, deleted }, Changed::Deleted)
        };
        room.bytes = room.bytes.saturating_add_signed(cost);
        let keep = room.newest_message.unwrap_or(change.id);
        state.bytes = state.bytes.saturating_add_signed(cost);
        state.append(entry.clone(), &self.limits);
        state.evict(keep, id, &self.limits);
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
        let Some(log) = state.rooms.get(room).map(|r| &r.log) else {
            return Ok(After::Resync { oldest: None });
        };
        match log.binary_search_by(|e| e.id().cmp(&after)) {
            Ok(index) => Ok(After::Entries(
                log.range(index + 1..).take(limit).cloned().collect(),
            )),
            Err(_) => Ok(After::Resync {
                oldest: log.front().map(Entry::id),
            }),
        }
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

    async fn claim_name(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        self.signin_limit
            .check(&client)
            .map_err(BrokerError::RateLimited)?;
        self.lock()
            .holds
            .claim(holder, previous, self.limits.name_idle, Instant::now())
    }

    async fn release_name(&self, holder: &Holder) -> BrokerResult<()> {
        self.lock().holds.release(holder);
        Ok(())
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        Ok(self
            .lock()
            .holds
            .touch(holder, self.limits.name_idle, Instant::now()))
    }

    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        if !self.holds(person).await? {
            return Ok(None);
        }
        let mut presence = self.presence.lock().expect("presence lock poisoned");
        if !register {
            return Ok(Some(snapshot(room, presence.get(room))));
        }
        let people = presence.entry(room.clone()).or_default();
        let name = &person.name;
        if people.insert(name.canonical(), name.clone()).is_none() {
            // Under the lock, so that a join and a leave of one person go out in order.
            self.announce(PersonEventKind::Join, room, name, people);
        }
        Ok(Some(snapshot(room, Some(people))))
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        let mut presence = self.presence.lock().expect("presence lock poisoned");
        let Some(people) = presence.get_mut(room) else {
            return Ok(());
        };
        if let Some(name) = people.remove(&person.canonical()) {
            self.announce(PersonEventKind::Leave, room, &name, people);
        }
        if people.is_empty() {
            presence.remove(room);
        }
        Ok(())
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        let presence = self.presence.lock().expect("presence lock poisoned");
        Ok(snapshot(room, presence.get(room)))
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        if !self.holds(person).await? {
            return Err(BrokerError::Revoked);
        }
        let name = &person.name;
        if self
            .typing_limit
            .check(&(room.clone(), name.canonical()))
            .is_ok()
        {
            self.hub.person(PersonEventKind::Typing, room, name);
        }
        Ok(())
    }

    /// One node: the tracker's own count is the whole truth, nothing expires.
    async fn refresh_presence(&self, _: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        Ok(())
    }

    async fn ready(&self) -> bool {
        true
    }

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}

#[cfg(test)]
mod tests;
