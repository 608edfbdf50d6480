//! The bounds a broker keeps: the numbers the config gives it (`Config::limits`), so
//! that the domain reads no config of its own.

use super::hub;
use std::time::Duration;

/// The bounds a broker keeps (the config gives the numbers: `Config::limits`).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Messages retained per room; the log keeps up to [`LOG_ENTRIES_PER_MESSAGE`](super::LOG_ENTRIES_PER_MESSAGE) times
    /// as many entries, changes included.
    pub history: usize,
    /// How long an unused name stays held.
    pub name_idle: Duration,
    /// Posts per second per name (0: off) and the burst allowed at once.
    pub post_rate: f64,
    pub post_burst: u32,
    /// Sign-ins per second per client address (0: off) and the burst allowed at once.
    pub signin_rate: f64,
    pub signin_burst: u32,
    /// Rooms with messages at most; a post that would make one more is refused.
    pub max_rooms: usize,
    /// New rooms per second each name, and each client address, may make (0: off), and
    /// the burst allowed at once.
    pub new_room_rate: f64,
    pub new_room_burst: u32,
    /// A room with no message for this long is forgotten.
    pub room_idle: Duration,
    /// Memory broker: bytes of messages kept over all rooms.
    pub memory_bytes: usize,
    /// Live deliveries buffered per room before a slow subscriber catches up from the
    /// log (`CHAT_SUBSCRIBER_BUFFER`).
    pub subscriber_buffer: usize,
    /// And the bytes they may take on this node, over all rooms
    /// (`CHAT_SUBSCRIBER_BUFFER_MB`); one room may take an eighth of it.
    pub subscriber_buffer_bytes: usize,
    /// A person's `typing` fans out at most once per room in this long, on all nodes
    /// together ([`TYPING_THROTTLE_MS`](crate::awareness::TYPING_THROTTLE_MS) unless a
    /// test says otherwise).
    pub typing_throttle: Duration,
}

#[cfg(test)]
impl Limits {
    /// Small bounds, no rate limits: what the unit tests start from.
    pub fn for_tests() -> Self {
        Self {
            history: 10,
            name_idle: Duration::from_secs(3600),
            post_rate: 0.0,
            post_burst: 1,
            signin_rate: 0.0,
            signin_burst: 1,
            max_rooms: 3,
            new_room_rate: 0.0,
            new_room_burst: 1,
            room_idle: Duration::from_secs(3600),
            memory_bytes: 1 << 20,
            subscriber_buffer: 8,
            subscriber_buffer_bytes: 1 << 20,
            typing_throttle: Duration::from_secs(2),
        }
    }
}

impl Limits {
    /// The hub's byte budget: all of it over the rooms, an eighth in any one.
    pub(super) fn buffer_budget(&self) -> hub::Budget {
        hub::Budget {
            total: self.subscriber_buffer_bytes,
            per_room: (self.subscriber_buffer_bytes / 8).max(64 * 1024),
        }
    }
}
