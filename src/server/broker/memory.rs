//! The in-memory broker: one node, nothing else to install.

use super::{
    After, Broker, BrokerResult, IdempotencyKey, NewMessage, Published, ROOM_LIST_LIMIT,
    with_default_room,
};
use crate::{
    message::{ChatMessage, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::hub::Hub,
};
use async_trait::async_trait;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

/// How many `client_id`s the broker remembers, oldest forgotten first. (The Redis broker
/// keeps each one for a day instead.)
const IDEMPOTENCY_CAPACITY: usize = 100_000;

pub struct MemoryBroker {
    /// A std `Mutex`: every critical section is short and synchronous. Publishing stores
    /// and dispatches under the lock, so that live order always equals id order.
    state: Mutex<State>,
    hub: Arc<Hub>,
    history_limit: usize,
}

#[derive(Default)]
struct State {
    rooms: HashMap<RoomName, VecDeque<ChatMessage>>,
    last_id: MessageId,
    posts: HashMap<(RoomName, IdempotencyKey), ChatMessage>,
    posts_order: VecDeque<(RoomName, IdempotencyKey)>,
}

impl MemoryBroker {
    pub fn new(history_limit: usize, hub: Arc<Hub>) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hub,
            history_limit: history_limit.max(1),
        }
    }
}

impl State {
    /// The next id: the current millisecond, or a higher sequence within the last id's
    /// millisecond if the clock has not moved on (or went back).
    fn next_id(&mut self) -> MessageId {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        self.last_id = if now > self.last_id.ms {
            MessageId::new(now, 0)
        } else {
            MessageId::new(self.last_id.ms, self.last_id.seq + 1)
        };
        self.last_id
    }

    fn remember_post(&mut self, key: (RoomName, IdempotencyKey), message: ChatMessage) {
        if self.posts_order.len() >= IDEMPOTENCY_CAPACITY
            && let Some(oldest) = self.posts_order.pop_front()
        {
            self.posts.remove(&oldest);
        }
        self.posts_order.push_back(key.clone());
        self.posts.insert(key, message);
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        let mut state = self.state.lock().expect("memory broker lock poisoned");
        let key = new.idempotency.map(|k| (new.room.clone(), k));
        if let Some(first) = key.as_ref().and_then(|k| state.posts.get(k)) {
            return Ok(Published::Repeat(first.clone()));
        }
        let id = state.next_id();
        let message = ChatMessage {
            id,
            room: new.room,
            sender: new.sender,
            text: new.text.into_string(),
            sent_at: rfc3339_millis(id.ms),
        };
        let log = state.rooms.entry(message.room.clone()).or_default();
        if log.len() >= self.history_limit {
            log.pop_front();
        }
        log.push_back(message.clone());
        if let Some(key) = key {
            state.remember_post(key, message.clone());
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
        let state = self.state.lock().expect("memory broker lock poisoned");
        let Some(log) = state.rooms.get(room) else {
            return Ok(Vec::new());
        };
        let end = before.map_or(log.len(), |before| log.partition_point(|m| m.id < before));
        let start = end.saturating_sub(limit);
        Ok(log.range(start..end).cloned().collect())
    }

    async fn after(&self, room: &RoomName, after: MessageId) -> BrokerResult<After> {
        let state = self.state.lock().expect("memory broker lock poisoned");
        let log = state.rooms.get(room);
        let oldest = log.and_then(|l| l.front()).map(|m| m.id);
        let Some(log) = log else {
            return Ok(After::Resync { oldest });
        };
        match log.binary_search_by(|m| m.id.cmp(&after)) {
            Ok(index) => Ok(After::Messages(log.range(index + 1..).cloned().collect())),
            Err(_) => Ok(After::Resync { oldest }),
        }
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        let state = self.state.lock().expect("memory broker lock poisoned");
        let mut active: Vec<(MessageId, RoomSummary)> = state
            .rooms
            .iter()
            .filter_map(|(name, log)| {
                let last = log.back()?;
                Some((
                    last.id,
                    RoomSummary {
                        name: name.clone(),
                        last_message_at: Some(last.sent_at.clone()),
                    },
                ))
            })
            .collect();
        active.sort_unstable_by_key(|(id, _)| std::cmp::Reverse(*id));
        active.truncate(ROOM_LIST_LIMIT);
        Ok(with_default_room(
            active.into_iter().map(|(_, r)| r).collect(),
        ))
    }

    async fn ready(&self) -> bool {
        true
    }

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }
}
