//! Who is in which room, as this node sees it: people, not streams.
//!
//! A person's streams to a room on this node are counted here. The first one registers
//! the person with the broker ([`Awareness::enter`], which sends `join` when they were
//! online on no node); when the last one closes, the leave waits `CHAT_LEAVE_GRACE_SECS`
//! and happens only if no stream came back meanwhile ([`Awareness::leave`], which sends
//! `leave` when no other node has them), so that a reload makes neither a leave nor a join.
//!
//! Every [`REFRESH_EVERY`] the node tells the broker who is present here
//! ([`Awareness::refresh`]): on Redis that keeps their entries from expiring, restores
//! them if Redis lost them, and prunes the people of nodes that died.

use super::{Awareness, BrokerResult, Holder};
use crate::{
    awareness::Presence,
    message::{DisplayName, RoomName},
};
use std::{
    collections::{HashMap, hash_map::Entry},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// How often this node refreshes its people with the broker. The Redis broker lets an
/// entry live [`PRESENCE_TTL`](super::redis::PRESENCE_TTL) past its last refresh.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

type Key = (RoomName, String);

struct Local {
    name: DisplayName,
    /// Open streams of this person to this room, on this node.
    streams: usize,
    /// Bumped whenever `streams` rises from 0, so that a pending leave knows that the
    /// person came back within the grace.
    generation: u64,
}

pub struct PresenceTracker {
    awareness: Arc<dyn Awareness>,
    grace: Duration,
    /// A std `Mutex`: held for map updates only, never across an `.await`.
    local: Mutex<HashMap<Key, Local>>,
}

impl PresenceTracker {
    pub fn new(awareness: Arc<dyn Awareness>, grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            awareness,
            grace,
            local: Mutex::new(HashMap::new()),
        })
    }

    /// A stream of `person`'s to `room` opened. If they still hold their name, counts the
    /// stream (registering them with the broker when it is their first to the room here)
    /// and answers the room's presence, which includes them, from that same step; the
    /// guard counts the stream until it is dropped. `None` when the name is no longer
    /// theirs: the stream listens, but they are not present.
    pub async fn arrive(
        self: &Arc<Self>,
        room: &RoomName,
        person: &Holder,
    ) -> BrokerResult<Option<(Here, Presence)>> {
        let key = (room.clone(), person.name.canonical());
        let first = {
            let mut local = self.local.lock().expect("presence lock poisoned");
            match local.entry(key.clone()) {
                Entry::Occupied(mut entry) => {
                    let entry = entry.get_mut();
                    if entry.streams == 0 {
                        entry.generation += 1;
                    }
                    entry.streams += 1;
                    false
                }
                Entry::Vacant(entry) => {
                    entry.insert(Local {
                        name: person.name.clone(),
                        streams: 1,
                        generation: 0,
                    });
                    true
                }
            }
        };
        // The guard exists before the broker is asked: if this future is dropped while it
        // waits (the client went away), or the name is not theirs, its leave still runs.
        let here = Here {
            tracker: Arc::clone(self),
            key: Some(key),
        };
        Ok(self
            .awareness
            .enter(room, person, first)
            .await?
            .map(|presence| (here, presence)))
    }

    /// A stream closed: the leave waits out the grace (unless `at_once`: the person
    /// signed out, and is not coming back with a reload).
    fn depart(self: &Arc<Self>, key: Key, at_once: bool) {
        let generation = {
            let mut local = self.local.lock().expect("presence lock poisoned");
            let Some(entry) = local.get_mut(&key) else {
                return;
            };
            entry.streams = entry.streams.saturating_sub(1);
            if entry.streams > 0 {
                return;
            }
            entry.generation
        };
        let tracker = Arc::clone(self);
        tokio::spawn(async move {
            if !at_once && !tracker.grace.is_zero() {
                tokio::time::sleep(tracker.grace).await;
            }
            let name = {
                let mut local = tracker.local.lock().expect("presence lock poisoned");
                match local.get(&key) {
                    Some(entry) if entry.streams == 0 && entry.generation == generation => {
                        local.remove(&key).map(|entry| entry.name)
                    }
                    _ => None,
                }
            };
            if let Some(name) = name
                && let Err(error) = tracker.awareness.leave(&key.0, &name).await
            {
                // On Redis the entry expires and another node (or this one) sends the leave.
                tracing::warn!(room = %key.0, error = format!("{error:#}"), "could not end presence");
            }
        });
    }

    /// Everyone present on this node, by room (those within their grace included).
    pub fn snapshot(&self) -> Vec<(RoomName, Vec<DisplayName>)> {
        let local = self.local.lock().expect("presence lock poisoned");
        let mut rooms: HashMap<&RoomName, Vec<DisplayName>> = HashMap::new();
        for ((room, _), entry) in local.iter() {
            rooms.entry(room).or_default().push(entry.name.clone());
        }
        rooms
            .into_iter()
            .map(|(room, names)| (room.clone(), names))
            .collect()
    }

    /// Refreshes this node's people with the broker every [`REFRESH_EVERY`], until
    /// `shutdown`.
    pub async fn run_refresh(self: Arc<Self>, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = shutdown.cancelled() => return,
            }
            let present = self.snapshot();
            if let Err(error) = self.awareness.refresh(&present).await {
                tracing::warn!(error = format!("{error:#}"), "could not refresh presence");
            }
        }
    }
}

/// One stream's share in its person's presence in a room; ends it when dropped.
pub struct Here {
    tracker: Arc<PresenceTracker>,
    key: Option<Key>,
}

impl Here {
    /// Ends this stream's share now, with no grace: when it is the person's last stream
    /// to the room here, they leave at once.
    pub fn leave_now(mut self) {
        if let Some(key) = self.key.take() {
            self.tracker.depart(key, true);
        }
    }
}

impl Drop for Here {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.tracker.depart(key, false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::broker::{Broker, Claim, Limits};

    fn tracker(grace_ms: u64) -> (Arc<PresenceTracker>, Broker) {
        let broker = Broker::memory(Limits::for_tests());
        (
            PresenceTracker::new(
                Arc::clone(&broker.awareness),
                Duration::from_millis(grace_ms),
            ),
            broker,
        )
    }

    async fn holder(broker: &Broker, name: &str) -> Holder {
        let holder = Holder {
            name: DisplayName::parse(name).unwrap(),
            session_id: format!("session-of-{name}"),
            since: 0,
        };
        let claim = broker
            .names
            .claim(&holder, None, "127.0.0.1".parse().unwrap())
            .await
            .unwrap();
        assert!(matches!(claim, Claim::Granted { .. }));
        holder
    }

    #[tokio::test(start_paused = true)]
    async fn a_name_no_longer_held_is_not_present() {
        let (tracker, broker) = tracker(0);
        let room = RoomName::everyone();
        let ann = holder(&broker, "ann").await;
        broker.names.release(&ann).await.unwrap();
        assert!(tracker.arrive(&room, &ann).await.unwrap().is_none());
        assert_eq!(broker.awareness.presence(&room).await.unwrap().count, 0);
    }

    fn names(presence: &Presence) -> Vec<&str> {
        presence.online.iter().map(DisplayName::as_str).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn two_tabs_are_one_person_and_a_reload_within_the_grace_is_no_leave() {
        let (tracker, broker) = tracker(3_000);
        let room = RoomName::everyone();
        let ann = holder(&broker, "Ann").await;
        let (first, _) = tracker.arrive(&room, &ann).await.unwrap().unwrap();
        let (second, _) = tracker.arrive(&room, &ann).await.unwrap().unwrap();
        assert_eq!(broker.awareness.presence(&room).await.unwrap().count, 1);
        drop(first);
        drop(second);
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        let _back = tracker.arrive(&room, &ann).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(5_000)).await;
        assert_eq!(
            names(&broker.awareness.presence(&room).await.unwrap()),
            ["Ann"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_tab_leaves_after_the_grace() {
        let (tracker, broker) = tracker(3_000);
        let room = RoomName::everyone();
        let ann = holder(&broker, "ann").await;
        drop(tracker.arrive(&room, &ann).await.unwrap().unwrap());
        tokio::time::sleep(Duration::from_millis(2_900)).await;
        assert_eq!(broker.awareness.presence(&room).await.unwrap().count, 1);
        tokio::time::sleep(Duration::from_millis(200)).await;
        tokio::task::yield_now().await;
        assert_eq!(broker.awareness.presence(&room).await.unwrap().count, 0);
        assert!(tracker.snapshot().is_empty(), "nothing is left behind");
    }
}
