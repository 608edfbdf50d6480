//! The in-memory broker: one node, nothing else to install. One struct plays all four
//! roles of [`super::Broker`]: the room log (`log.rs`), names (here), presence and typing
//! (`awareness.rs`) and the bus (here, over the node's hub).
//!
//! Bounded under hostile use: at most `CHAT_MAX_ROOMS` rooms (a post that would make one
//! more is refused), `CHAT_MEMORY_MAX_MB` of messages over all of them (the room being
//! written to gives up its oldest entries first, then the least recently active rooms
//! go; a room idle for `CHAT_ROOM_IDLE_DAYS` goes too), at most [`IDEMPOTENCY_CAPACITY`]
//! remembered `client_id`s, and at most [`MAX_HOLDS`](super::holds::MAX_HOLDS) held names.

mod awareness;
mod log;

use super::{
    BrokerError, BrokerResult, Bus, Claim, Holder, Limits, Names, Subscription, clock::Clock,
    hub::Hub, limit::KeyedLimit,
};
use crate::message::{DisplayName, RoomName};
use async_trait::async_trait;
use log::State;
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
    sync::{Arc, Mutex},
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
    clock: Clock,
    /// Posts per name. Checked under the state lock, after the hold.
    post_limit: KeyedLimit<String>,
    /// Sign-ins per client address.
    signin_limit: KeyedLimit<IpAddr>,
    /// New rooms per name, and per client address.
    new_room_by_name: KeyedLimit<String>,
    new_room_by_client: KeyedLimit<IpAddr>,
    /// Who is in each room: canonical name → name, so sorted case-insensitively. Bounded
    /// by the open streams (and those within their leave grace) that put them there.
    presence: Mutex<HashMap<RoomName, BTreeMap<String, DisplayName>>>,
    /// `typing` per (room, canonical name): once per [`Limits::typing_throttle`].
    typing_limit: KeyedLimit<(RoomName, String)>,
}

impl MemoryBroker {
    pub fn new(limits: Limits) -> Self {
        Self::with_clock(limits, Clock::system())
    }

    /// A broker that reads `clock`, which tests move instead of sleeping.
    pub fn with_clock(limits: Limits, clock: Clock) -> Self {
        Self {
            state: Mutex::new(State::default()),
            hub: Hub::new(limits.subscriber_buffer, limits.buffer_budget()),
            post_limit: KeyedLimit::new(limits.post_rate, limits.post_burst, &clock),
            signin_limit: KeyedLimit::new(limits.signin_rate, limits.signin_burst, &clock),
            new_room_by_name: KeyedLimit::new(limits.new_room_rate, limits.new_room_burst, &clock),
            new_room_by_client: KeyedLimit::new(
                limits.new_room_rate,
                limits.new_room_burst,
                &clock,
            ),
            presence: Mutex::new(HashMap::new()),
            typing_limit: KeyedLimit::new(1.0 / limits.typing_throttle.as_secs_f64(), 1, &clock),
            limits: Limits {
                history: limits.history.max(1),
                max_rooms: limits.max_rooms.max(1),
                ..limits
            },
            clock,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("memory broker lock poisoned")
    }
}

/// What the SQLite broker (`sqlite/mod.rs`) uses of this one: it keeps names, presence,
/// typing and the bus in process as this broker does, and its room log on disk; the
/// room log kept here stays empty there.
impl MemoryBroker {
    pub(in crate::server::broker) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub(in crate::server::broker) fn clock(&self) -> &Clock {
        &self.clock
    }

    pub(in crate::server::broker) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether the session holds its name; using it extends the hold.
    pub(in crate::server::broker) fn touch(&self, holder: &Holder) -> bool {
        let now = self.clock.elapsed();
        self.lock().holds.touch(holder, self.limits.name_idle, now)
    }

    /// Puts back a hold kept on disk, which ends at `expires_ms` (wall-clock ms); one
    /// already over is left out.
    pub(in crate::server::broker) fn restore_hold(
        &self,
        key: String,
        session_id: String,
        expires_ms: u64,
    ) {
        let Some(left) = expires_ms.checked_sub(self.clock.now_ms()) else {
            return;
        };
        let expires = self.clock.elapsed() + std::time::Duration::from_millis(left);
        self.lock().holds.restore(key, session_id, expires);
    }

    /// The post limit of a name: [`BrokerError::RateLimited`] past it.
    pub(in crate::server::broker) fn check_post(&self, name: &DisplayName) -> BrokerResult<()> {
        self.post_limit
            .check(&name.key())
            .map_err(BrokerError::RateLimited)
    }

    /// The new-room limits of a name and of an address.
    pub(in crate::server::broker) fn check_new_room(
        &self,
        name: &DisplayName,
        client: IpAddr,
    ) -> BrokerResult<()> {
        self.new_room_by_name
            .check(&name.key())
            .map_err(BrokerError::RateLimited)?;
        self.new_room_by_client
            .check(&client)
            .map_err(BrokerError::RateLimited)
    }
}

#[async_trait]
impl Names for MemoryBroker {
    async fn claim(
        &self,
        holder: &Holder,
        previous: Option<&DisplayName>,
        client: IpAddr,
    ) -> BrokerResult<Claim> {
        self.signin_limit
            .check(&client)
            .map_err(BrokerError::RateLimited)?;
        let now = self.clock.elapsed();
        let mut state = self.lock();
        // Never before a message already given an id, whatever the clock says now.
        let at = self.clock.now_ms().max(state.last_id().ms);
        let granted = state
            .holds
            .claim(holder, previous, self.limits.name_idle, now);
        Ok(if granted {
            Claim::Granted { at }
        } else {
            Claim::Taken
        })
    }

    async fn release(&self, holder: &Holder) -> BrokerResult<()> {
        self.lock().holds.release(holder);
        Ok(())
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        let now = self.clock.elapsed();
        Ok(self.lock().holds.touch(holder, self.limits.name_idle, now))
    }
}

#[async_trait]
impl Bus for MemoryBroker {
    /// The hub is the whole bus: subscribed, the rooms' entries reach the streams as
    /// they are stored.
    async fn subscribe(&self, rooms: &[RoomName]) -> Vec<Subscription> {
        rooms.iter().map(|room| self.hub.subscribe(room)).collect()
    }

    async fn ready(&self) -> bool {
        true
    }

    fn close(&self) {
        self.hub.close();
    }
}

#[cfg(test)]
mod tests;
