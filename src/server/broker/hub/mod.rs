//! In-process fan-out: one broadcast channel per room that has subscribers on this node.
//!
//! Both brokers deliver through a [`Hub`]: the memory broker right after it stores a
//! message, the Redis broker from its single Pub/Sub connection. Each message is encoded
//! into its SSE frame once, here, and every subscriber gets a clone of the same [`Bytes`].
//! Private to the broker: the rest of the server subscribes through [`super::Bus`].

use super::{
    frames::{person_frame, presence_frame, resync_frame},
    log::Entry,
};
use crate::{
    awareness::{PersonEventKind, Presence},
    message::{DisplayName, MessageId, RoomName},
};
use bytes::Bytes;
use std::{
    collections::{HashMap, VecDeque},
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, Ordering},
    },
};
use tokio::sync::broadcast;

/// What a subscriber receives: an encoded SSE frame, with the log entry's id when it is
/// one (a message or a change to one), so that a subscriber can drop what it already
/// sent during a replay.
#[derive(Clone, Debug)]
pub enum Delivery {
    Entry {
        id: MessageId,
        frame: Bytes,
        /// The same frame with `id: <room>/<id>`, for the many-room streams: made by the
        /// first of them to write it, then shared by all (so still encoded once).
        room_frame: Arc<OnceLock<Bytes>>,
    },
    Resync {
        frame: Bytes,
    },
    /// `join`, `leave` or `typing`: no id, nothing to replay.
    Person {
        frame: Bytes,
    },
    /// A log entry whose frame would have taken the buffers past their budget: only its
    /// id travels, and each subscriber reads the entry from the log, as after a lag.
    /// `previous` is the entry dispatched to the room before it (where a stream that has
    /// sent nothing yet catches up from).
    Skipped {
        id: MessageId,
        previous: MessageId,
    },
}

impl Delivery {
    /// The frame to write; a skipped entry has none (it is read from the log).
    pub fn frame(&self) -> &Bytes {
        static NONE: Bytes = Bytes::new();
        match self {
            Delivery::Entry { frame, .. }
            | Delivery::Resync { frame }
            | Delivery::Person { frame } => frame,
            Delivery::Skipped { .. } => &NONE,
        }
    }

    /// What a buffered delivery keeps: its frame and about as much again for the rest.
    fn weight(&self) -> usize {
        self.frame().len() + 96
    }
}

/// What became of an entry given to [`Hub::dispatch_chained`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chained {
    Sent,
    /// Delivered here already (or older than this node's subscribers care for).
    Old,
    /// The entry before it was not delivered here: fill from the store first.
    Gap,
    /// Nobody here listens to the room.
    Unwatched,
}

/// The bytes the hub's buffers may hold on this node, over all rooms and in any one.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    pub total: usize,
    pub per_room: usize,
}

struct RoomChannel {
    sender: broadcast::Sender<Delivery>,
    /// The newest log entry id dispatched to this room. Dispatch drops anything not newer,
    /// which makes it safe for the Redis broker to replay a range after a reconnect while
    /// the same messages may also arrive through Pub/Sub.
    last_id: Option<MessageId>,
    /// The weights of what the channel's ring may still hold, oldest first: a broadcast
    /// channel keeps its last `capacity` values until they are written over.
    held: VecDeque<usize>,
    bytes: usize,
}

/// The channels, and the bytes they hold together.
#[derive(Default)]
struct Rooms {
    map: HashMap<RoomName, RoomChannel>,
    bytes: usize,
}

impl Rooms {
    /// Sends `delivery` to `room`'s channel, counting what its ring holds after.
    fn send(&mut self, room: &RoomName, delivery: Delivery, capacity: usize) {
        let Some(channel) = self.map.get_mut(room) else {
            return;
        };
        if channel.held.len() >= capacity
            && let Some(old) = channel.held.pop_front()
        {
            channel.bytes -= old;
            self.bytes -= old;
        }
        let weight = delivery.weight();
        channel.held.push_back(weight);
        channel.bytes += weight;
        self.bytes += weight;
        // An error only means that every receiver has just gone away.
        let _ = channel.sender.send(delivery);
    }

    fn remove(&mut self, room: &RoomName) {
        if let Some(channel) = self.map.remove(room) {
            self.bytes -= channel.bytes;
        }
    }
}

/// The rooms with subscribers on this node.
///
/// A std `Mutex`, not tokio's: it is held only for map look-ups and a non-blocking
/// `broadcast::send`, never across an `.await`.
pub struct Hub {
    rooms: Mutex<Rooms>,
    /// Deliveries buffered per room before the slowest subscriber lags. A subscriber that
    /// lags catches up from the broker's history (or gets a `resync`): it never slows the
    /// sender or the other subscribers, and it never silently skips a message.
    capacity: usize,
    /// And the bytes their frames may take: past it an entry travels as its id alone
    /// ([`Delivery::Skipped`]), and its subscribers read it from the log. (So a room's
    /// buffer holds at most its budget plus about 100 bytes a place.)
    budget: Budget,
    /// Set by [`Hub::close`] at shutdown.
    closed: AtomicBool,
}

impl Hub {
    pub fn new(capacity: usize, budget: Budget) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(Rooms::default()),
            capacity: capacity.max(1),
            budget,
            closed: AtomicBool::new(false),
        })
    }

    /// What the buffers hold now, in bytes.
    #[cfg(test)]
    fn buffered_bytes(&self) -> usize {
        self.rooms.lock().expect("hub lock poisoned").bytes
    }

    #[cfg(test)]
    fn bytes_of(&self, room: &RoomName) -> usize {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        rooms.map.get(room).map_or(0, |channel| channel.bytes)
    }

    /// Subscribes to a room's live deliveries, from this moment on.
    pub fn subscribe(self: &Arc<Self>, room: &RoomName) -> Subscription {
        self.subscribe_from(room, None)
    }

    /// Subscribes to a room's live deliveries, from this moment on; a room with no
    /// subscriber here yet starts its chain at `newest`, the newest entry kept when the
    /// subscription was made ([`Hub::dispatch_chained`]).
    pub fn subscribe_from(
        self: &Arc<Self>,
        room: &RoomName,
        newest: Option<MessageId>,
    ) -> Subscription {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        if self.closed.load(Ordering::Acquire) {
            // Shutting down: a subscription that ends at once.
            return Subscription {
                receiver: broadcast::channel(1).1,
                floor: None,
                room: room.clone(),
                hub: Arc::clone(self),
            };
        }
        let channel = rooms
            .map
            .entry(room.clone())
            .or_insert_with(|| RoomChannel {
                sender: broadcast::channel(self.capacity).0,
                last_id: newest,
                held: VecDeque::new(),
                bytes: 0,
            });
        Subscription {
            receiver: channel.sender.subscribe(),
            floor: None,
            room: room.clone(),
            hub: Arc::clone(self),
        }
    }

    /// Delivers a log entry (a message, or a change to one) to the room's subscribers on
    /// this node, if it has any and the entry is newer than the last one delivered there.
    /// Returns whether it was sent. Its frame is buffered only within the budget, in the
    /// room and in all: past it, its id alone goes out (not for a room's first entry,
    /// which a stream would have nothing to catch up from).
    pub fn dispatch(&self, entry: &Entry) -> bool {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        let Some(channel) = rooms.map.get(entry.room()) else {
            return false;
        };
        if channel.last_id.is_some_and(|last| entry.id() <= last) {
            return false;
        }
        self.send_entry(&mut rooms, entry);
        true
    }

    /// Delivers a log entry that names the entry before it in its room (`previous`, as
    /// the store that keeps the log ordered them): sent only when that is the last one
    /// delivered here, so that nothing is ever delivered past a missing entry. A
    /// [`Chained::Gap`] is for the caller to fill from the store, in order.
    pub fn dispatch_chained(&self, previous: Option<MessageId>, entry: &Entry) -> Chained {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        let Some(channel) = rooms.map.get(entry.room()) else {
            return Chained::Unwatched;
        };
        if channel.last_id.is_some_and(|last| entry.id() <= last) {
            return Chained::Old;
        }
        if channel.last_id != previous {
            return Chained::Gap;
        }
        self.send_entry(&mut rooms, entry);
        Chained::Sent
    }

    /// The newest entry id delivered to a room here: `None` when it has no subscriber.
    pub fn last_of(&self, room: &RoomName) -> Option<Option<MessageId>> {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        rooms.map.get(room).map(|channel| channel.last_id)
    }

    /// Moves a room's newest delivered id on to `id` (an entry read from the store that
    /// is of no use to send, such as an update of a message deleted since).
    pub fn advance(&self, room: &RoomName, id: MessageId) {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        if let Some(channel) = rooms.map.get_mut(room)
            && channel.last_id.is_none_or(|last| last < id)
        {
            channel.last_id = Some(id);
        }
    }

    /// Sends an entry newer than the room's last: its frame within the budget, or its id.
    fn send_entry(&self, rooms: &mut Rooms, entry: &Entry) {
        let total = rooms.bytes;
        let Some(channel) = rooms.map.get_mut(entry.room()) else {
            return;
        };
        let id = entry.id();
        let previous = channel.last_id.replace(id);
        let frame = entry.frame();
        let freed = match channel.held.front() {
            Some(&oldest) if channel.held.len() >= self.capacity => oldest,
            _ => 0,
        };
        let fits = |held: usize, budget: usize| held - freed + frame.len() + 96 <= budget;
        let delivery = match previous {
            Some(previous)
                if !fits(channel.bytes, self.budget.per_room)
                    || !fits(total, self.budget.total) =>
            {
                Delivery::Skipped { id, previous }
            }
            _ => Delivery::Entry {
                id,
                frame,
                room_frame: Arc::new(OnceLock::new()),
            },
        };
        rooms.send(entry.room(), delivery, self.capacity);
    }

    /// Tells every subscriber of a room to reload its history.
    pub fn resync(&self, room: &RoomName, oldest: Option<MessageId>) {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        if rooms.map.contains_key(room) {
            let frame = resync_frame(room, oldest);
            rooms.send(room, Delivery::Resync { frame }, self.capacity);
        }
    }

    /// Tells every subscriber of a room that someone joined, left or is typing.
    pub fn person(&self, kind: PersonEventKind, room: &RoomName, name: &DisplayName) {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        // Encoded only where someone listens (a short JSON, under the lock).
        if rooms.map.contains_key(room) {
            let frame = person_frame(kind, room, name);
            rooms.send(room, Delivery::Person { frame }, self.capacity);
        }
    }

    /// Sends a room's subscribers its presence as it stands (after they may have missed
    /// joins or leaves).
    pub fn presence(&self, presence: &Presence) {
        let frame = presence_frame(presence);
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        if rooms.map.contains_key(&presence.room) {
            rooms.send(&presence.room, Delivery::Person { frame }, self.capacity);
        }
    }

    /// The rooms with subscribers here, each with the newest entry id dispatched to it.
    pub fn active_rooms(&self) -> Vec<(RoomName, Option<MessageId>)> {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        rooms
            .map
            .iter()
            .map(|(room, channel)| (room.clone(), channel.last_id))
            .collect()
    }

    /// Ends every subscription, now and from now on: each stream delivers what it has
    /// already received, then ends. Called when graceful shutdown begins; it costs the
    /// streams nothing per delivery, unlike a shutdown future polled on every wake-up.
    pub fn close(&self) {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        self.closed.store(true, Ordering::Release);
        *rooms = Rooms::default();
    }
}

/// A live subscription to one room. Dropping the last one of a room frees the room.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Delivery>,
    /// The newest entry of the room's log when the subscription was made, where the bus
    /// can tell it ([`super::Bus::subscribe`]): what a stream live from now must not
    /// carry, though it may still be on its way to this node.
    pub floor: Option<MessageId>,
    room: RoomName,
    hub: Arc<Hub>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut rooms = self.hub.rooms.lock().expect("hub lock poisoned");
        // `self.receiver` is still alive here, so 1 means "only us".
        if rooms
            .map
            .get(&self.room)
            .is_some_and(|c| c.sender.receiver_count() <= 1)
        {
            rooms.remove(&self.room);
        }
    }
}

#[cfg(test)]
mod tests;
