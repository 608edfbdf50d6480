//! The in-memory broker: one node, nothing else to install.
//!
//! Bounded under hostile use: at most `CHAT_MAX_ROOMS` rooms and `CHAT_MEMORY_MAX_MB` of
//! messages over all of them (the least recently active room is forgotten first, and a
//! room idle for `CHAT_ROOM_IDLE_DAYS` goes too), at most [`IDEMPOTENCY_CAPACITY`]
//! remembered `client_id`s, and at most [`holds::MAX_HOLDS`] held names.

use super::{
    After, Broker, BrokerError, BrokerResult, Claim, Holder, Limits, NewMessage, Published,
    ROOM_LIST_LIMIT, holds::Holds, with_default_room,
};
use crate::{
    awareness::{
        JOIN_LEAVE_LIMIT, ONLINE_LIST_LIMIT, PersonEventKind, Presence, TYPING_THROTTLE_MS,
    },
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::{hub::Hub, limit::KeyedLimit},
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

#[derive(Default)]
struct Room {
    log: VecDeque<ChatMessage>,
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

/// What a message costs to keep: its strings plus the struct and the deque slot.
fn size_of_message(message: &ChatMessage) -> usize {
    message.text.len()
        + message.sender.as_str().len()
        + message.sent_at.len()
        + message.room.as_str().len()
        + std::mem::size_of::<ChatMessage>()
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

    /// Appends a message to its room, then trims the room to the history limit and all
    /// rooms to the room, idle and byte limits (never the room just posted to).
    fn store(&mut self, message: ChatMessage, limits: &Limits) {
        let room_name = message.room.clone();
        let cost = size_of_message(&message);
        let id = message.id;
        let room = self.rooms.entry(room_name.clone()).or_default();
        let previous_newest = room.log.back().map(|m| m.id);
        room.log.push_back(message);
        room.bytes += cost;
        self.bytes += cost;
        while room.log.len() > limits.history {
            if let Some(old) = room.log.pop_front() {
                let freed = size_of_message(&old);
                room.bytes -= freed;
                self.bytes -= freed;
            }
        }
        if let Some(previous) = previous_newest {
            self.activity.remove(&previous);
        }
        self.activity.insert(id, room_name);

        let idle_before =
            MessageId::new(id.ms.saturating_sub(limits.room_idle.as_millis() as u64), 0);
        while let Some((&oldest, _)) = self.activity.first_key_value() {
            let over = self.rooms.len() > limits.max_rooms || self.bytes > limits.memory_bytes;
            if oldest == id || !(over || oldest < idle_before) {
                break;
            }
            self.forget_least_active();
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
        let log = &self.rooms.get(room)?.log;
        log.binary_search_by(|m| m.id.cmp(&id))
            .ok()
            .map(|index| &log[index])
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
            // A retry carries the same text; once the first message has left the room's
            // history, answer with what this request says it was.
            let message = state
                .find(&new.room, first)
                .cloned()
                .unwrap_or_else(|| ChatMessage {
                    id: first,
                    room: new.room.clone(),
                    sender: new.author.name.clone(),
                    text: new.text.as_str().to_owned(),
                    sent_at: rfc3339_millis(first.ms),
                });
            return Ok(Published::Repeat(message));
        }
        self.post_limit
            .check(&new.author.name.canonical())
            .map_err(BrokerError::RateLimited)?;
        let id = state.next_id();
        let message = ChatMessage {
            id,
            room: new.room,
            sender: new.author.name,
            text: new.text.into_string(),
            sent_at: rfc3339_millis(id.ms),
        };
        state.store(message.clone(), &self.limits);
        if let Some(key) = key {
            state.remember_post(key, id);
        }
        self.hub.dispatch(&message);
        Ok(Published::New(message))
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        let state = self.lock();
        let Some(log) = state.rooms.get(room).map(|r| &r.log) else {
            return Ok(Vec::new());
        };
        let end = before.map_or(log.len(), |before| log.partition_point(|m| m.id < before));
        let start = end.saturating_sub(limit);
        Ok(log.range(start..end).cloned().collect())
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let state = self.lock();
        let Some(log) = state.rooms.get(room).map(|r| &r.log) else {
            return Ok(After::Resync { oldest: None });
        };
        match log.binary_search_by(|m| m.id.cmp(&after)) {
            Ok(index) => Ok(After::Messages(
                log.range(index + 1..).take(limit).cloned().collect(),
            )),
            Err(_) => Ok(After::Resync {
                oldest: log.front().map(|m| m.id),
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
                let last = state.rooms.get(name)?.log.back()?;
                Some(RoomSummary {
                    name: name.clone(),
                    last_message_at: Some(last.sent_at.clone()),
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
mod tests {
    use super::*;
    use crate::message::MessageText;
    use std::time::Duration;

    fn limits() -> Limits {
        Limits {
            history: 10,
            name_idle: Duration::from_secs(3600),
            post_rate: 0.0,
            post_burst: 1,
            signin_rate: 0.0,
            signin_burst: 1,
            max_rooms: 3,
            room_idle: Duration::from_secs(3600),
            memory_bytes: 1 << 20,
        }
    }

    async fn broker(limits: Limits) -> (MemoryBroker, Holder) {
        let broker = MemoryBroker::new(limits, Hub::new(8));
        let ann = Holder {
            name: DisplayName::parse("ann").unwrap(),
            session_id: "s".into(),
        };
        let here = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(
            broker.claim_name(&ann, None, here).await.unwrap(),
            Claim::Granted
        );
        (broker, ann)
    }

    async fn post(broker: &MemoryBroker, author: &Holder, room: &str, text: &str) {
        broker
            .publish(NewMessage {
                room: RoomName::parse(room).unwrap(),
                author: author.clone(),
                text: MessageText::parse(text).unwrap(),
                client_id: None,
            })
            .await
            .unwrap();
    }

    fn room_names(broker: &MemoryBroker) -> Vec<String> {
        let state = broker.lock();
        state.activity.values().map(|r| r.to_string()).collect()
    }

    #[tokio::test]
    async fn past_the_room_limit_the_least_recently_active_room_is_forgotten() {
        let (broker, ann) = broker(limits()).await;
        for room in ["a", "b", "c", "a", "d"] {
            post(&broker, &ann, room, "hi").await;
        }
        assert_eq!(room_names(&broker), ["c", "a", "d"]);
        assert!(
            !broker
                .lock()
                .rooms
                .contains_key(&RoomName::parse("b").unwrap())
        );
    }

    #[tokio::test]
    async fn past_the_byte_limit_old_rooms_go_and_the_count_stays_exact() {
        let (broker, ann) = broker(Limits {
            max_rooms: 1000,
            memory_bytes: 64 * 1024,
            ..limits()
        })
        .await;
        let text = "x".repeat(2000);
        for i in 0..200 {
            post(&broker, &ann, &format!("r{i}"), &text).await;
        }
        let state = broker.lock();
        assert!(state.bytes <= 64 * 1024, "{} bytes kept", state.bytes);
        let counted: usize = state.rooms.values().map(|r| r.bytes).sum();
        assert_eq!(counted, state.bytes);
        assert_eq!(state.rooms.len(), state.activity.len());
        assert!(state.rooms.contains_key(&RoomName::parse("r199").unwrap()));
    }

    #[tokio::test]
    async fn an_idle_room_is_forgotten_when_the_next_post_comes() {
        let (broker, ann) = broker(Limits {
            room_idle: Duration::from_millis(20),
            ..limits()
        })
        .await;
        post(&broker, &ann, "old", "hi").await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        post(&broker, &ann, "new", "hi").await;
        assert_eq!(room_names(&broker), ["new"]);
    }

    #[tokio::test]
    async fn a_session_that_does_not_hold_its_name_cannot_post() {
        let (broker, ann) = broker(limits()).await;
        broker.release_name(&ann).await.unwrap();
        let result = broker
            .publish(NewMessage {
                room: RoomName::everyone(),
                author: ann,
                text: MessageText::parse("hi").unwrap(),
                client_id: None,
            })
            .await;
        assert!(matches!(result, Err(BrokerError::Revoked)));
        assert!(broker.lock().rooms.is_empty());
    }

    #[tokio::test]
    async fn a_repeat_after_the_first_message_left_history_answers_with_its_id() {
        let (broker, ann) = broker(limits()).await;
        let post = |text: &str, client_id: Option<&str>| NewMessage {
            room: RoomName::everyone(),
            author: ann.clone(),
            text: MessageText::parse(text).unwrap(),
            client_id: client_id.map(str::to_owned),
        };
        let Published::New(first) = broker.publish(post("once", Some("c-1"))).await.unwrap() else {
            panic!("the first post is new");
        };
        for i in 0..limits().history + 5 {
            broker.publish(post(&format!("m{i}"), None)).await.unwrap();
        }
        assert!(
            broker
                .lock()
                .find(&RoomName::everyone(), first.id)
                .is_none()
        );

        let again = broker.publish(post("once", Some("c-1"))).await.unwrap();
        assert_eq!(again, Published::Repeat(first));
    }
}
