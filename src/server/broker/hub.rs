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
    collections::HashMap,
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
}

impl Delivery {
    pub fn frame(&self) -> &Bytes {
        match self {
            Delivery::Entry { frame, .. }
            | Delivery::Resync { frame }
            | Delivery::Person { frame } => frame,
        }
    }
}

struct RoomChannel {
    sender: broadcast::Sender<Delivery>,
    /// The newest log entry id dispatched to this room. Dispatch drops anything not newer,
    /// which makes it safe for the Redis broker to replay a range after a reconnect while
    /// the same messages may also arrive through Pub/Sub.
    last_id: Option<MessageId>,
}

/// The rooms with subscribers on this node.
///
/// A std `Mutex`, not tokio's: it is held only for map look-ups and a non-blocking
/// `broadcast::send`, never across an `.await`.
pub struct Hub {
    rooms: Mutex<HashMap<RoomName, RoomChannel>>,
    /// Deliveries buffered per room before the slowest subscriber lags. A subscriber that
    /// lags catches up from the broker's history (or gets a `resync`): it never slows the
    /// sender or the other subscribers, and it never silently skips a message.
    capacity: usize,
    /// Set by [`Hub::close`] at shutdown.
    closed: AtomicBool,
}

impl Hub {
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        })
    }

    /// Subscribes to a room's live deliveries, from this moment on.
    pub fn subscribe(self: &Arc<Self>, room: &RoomName) -> Subscription {
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
        let channel = rooms.entry(room.clone()).or_insert_with(|| RoomChannel {
            sender: broadcast::channel(self.capacity).0,
            last_id: None,
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
    /// Returns whether it was sent.
    pub fn dispatch(&self, entry: &Entry) -> bool {
        let mut rooms = self.rooms.lock().expect("hub lock poisoned");
        let Some(channel) = rooms.get_mut(entry.room()) else {
            return false;
        };
        let id = entry.id();
        if channel.last_id.is_some_and(|last| id <= last) {
            return false;
        }
        channel.last_id = Some(id);
        let delivery = Delivery::Entry {
            id,
            frame: entry.frame(),
            room_frame: Arc::new(OnceLock::new()),
        };
        // An error only means that every receiver has just gone away.
        let _ = channel.sender.send(delivery);
        true
    }

    /// Tells every subscriber of a room to reload its history.
    pub fn resync(&self, room: &RoomName, oldest: Option<MessageId>) {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        if let Some(channel) = rooms.get(room) {
            let _ = channel.sender.send(Delivery::Resync {
                frame: resync_frame(room, oldest),
            });
        }
    }

    /// Tells every subscriber of a room that someone joined, left or is typing.
    pub fn person(&self, kind: PersonEventKind, room: &RoomName, name: &DisplayName) {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        // Encoded only where someone listens (a short JSON, under the lock).
        if let Some(channel) = rooms.get(room) {
            let frame = person_frame(kind, room, name);
            let _ = channel.sender.send(Delivery::Person { frame });
        }
    }

    /// Sends a room's subscribers its presence as it stands (after they may have missed
    /// joins or leaves).
    pub fn presence(&self, presence: &Presence) {
        let frame = presence_frame(presence);
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        if let Some(channel) = rooms.get(&presence.room) {
            let _ = channel.sender.send(Delivery::Person { frame });
        }
    }

    /// The rooms with subscribers here, each with the newest entry id dispatched to it.
    pub fn active_rooms(&self) -> Vec<(RoomName, Option<MessageId>)> {
        let rooms = self.rooms.lock().expect("hub lock poisoned");
        rooms
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
        rooms.clear();
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
            .get(&self.room)
            .is_some_and(|c| c.sender.receiver_count() <= 1)
        {
            rooms.remove(&self.room);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{ChatMessage, DisplayName};

    fn message(room: &RoomName, ms: u64) -> Entry {
        Entry::Message(ChatMessage::new(
            MessageId::new(ms, 0),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            format!("m{ms}"),
        ))
    }

    #[test]
    fn a_frame_is_an_sse_event_with_the_message_id() {
        let room = RoomName::everyone();
        let frame = message(&room, 7).frame();
        let text = std::str::from_utf8(&frame).unwrap();
        assert!(text.starts_with("id: 7-0\ndata: {\"id\":\"7-0\""), "{text}");
        assert!(text.ends_with("}\n\n"));
        assert_eq!(text.matches('\n').count(), 3, "data must be on one line");
    }

    #[test]
    fn person_events_are_named_events_without_an_id() {
        let hub = Hub::new(8);
        let room = RoomName::everyone();
        let mut sub = hub.subscribe(&room);
        let ann = DisplayName::parse("Ann").unwrap();
        hub.person(PersonEventKind::Typing, &room, &ann);
        let Ok(Delivery::Person { frame }) = sub.receiver.try_recv() else {
            panic!("expected a person event");
        };
        assert_eq!(
            std::str::from_utf8(&frame).unwrap(),
            "event: typing\ndata: {\"room\":\"everyone\",\"name\":\"Ann\"}\n\n"
        );
    }

    #[test]
    fn dispatch_drops_messages_not_newer_than_the_last_one() {
        let hub = Hub::new(8);
        let room = RoomName::everyone();
        let mut sub = hub.subscribe(&room);
        assert!(hub.dispatch(&message(&room, 2)));
        assert!(!hub.dispatch(&message(&room, 2)));
        assert!(!hub.dispatch(&message(&room, 1)));
        assert!(hub.dispatch(&message(&room, 3)));
        let ids: Vec<_> = std::iter::from_fn(|| sub.receiver.try_recv().ok())
            .map(|d| match d {
                Delivery::Entry { id, .. } => id.ms,
                Delivery::Resync { .. } | Delivery::Person { .. } => 0,
            })
            .collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn closing_ends_every_subscription_after_what_it_already_holds() {
        let hub = Hub::new(8);
        let room = RoomName::everyone();
        let mut open = hub.subscribe(&room);
        assert!(hub.dispatch(&message(&room, 1)));
        hub.close();
        assert!(matches!(
            open.receiver.try_recv(),
            Ok(Delivery::Entry { .. })
        ));
        assert_eq!(
            open.receiver.try_recv().unwrap_err(),
            broadcast::error::TryRecvError::Closed
        );
        let mut late = hub.subscribe(&room);
        assert_eq!(
            late.receiver.try_recv().unwrap_err(),
            broadcast::error::TryRecvError::Closed
        );
        assert!(!hub.dispatch(&message(&room, 2)));
    }

    #[test]
    fn a_room_is_freed_when_its_last_subscriber_leaves() {
        let hub = Hub::new(8);
        let room = RoomName::everyone();
        let first = hub.subscribe(&room);
        let second = hub.subscribe(&room);
        drop(first);
        assert_eq!(hub.active_rooms().len(), 1);
        drop(second);
        assert!(hub.active_rooms().is_empty());
        assert!(!hub.dispatch(&message(&room, 1)), "nobody to deliver to");
    }
}
