//! A cluster node's sharded Pub/Sub: one `SSUBSCRIBE` per room with listeners here, on
//! the connection the cluster client already holds to the room's master; never one per
//! browser. (Why per room and not per partition: the cluster module's doc.)
//!
//! - A stream's rooms are subscribed before it reads anything ([`Shards::watch`]), so it
//!   misses nothing published meanwhile.
//! - Every few seconds the rooms that lost their last listener are unsubscribed, and
//!   rooms whose subscription failed (the cluster was down) are subscribed and caught up.
//! - When a slot moves, its master drops the subscription with an unsolicited
//!   `sunsubscribe`: the room is subscribed again (the client follows the `MOVED` to the
//!   new master) and caught up from its stream.
//! - When a connection drops (a master died), the client reconnects and subscribes
//!   again on its own (redis-rs 1.8 tracks subscriptions, and moves them to a replica
//!   that took over); each confirmation after the first is a resubscription, and the
//!   room is caught up from its stream, as after a Redis restart on one Redis.
//!
//! Messages are handed to the hub by the task that receives them, and never wait for
//! the subscription lock: confirmations, slot moves and the tidy-up go to a task of their
//! own, which is the only one (with [`Shards::watch`]) to take it.

use super::{COMMAND_TIMEOUT, ListenerState, Store, listener, now_ms};
use crate::{message::RoomName, server::broker::hub::Hub};
use redis::{PushInfo, PushKind, Value, cluster_async::ClusterConnection};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use tokio::sync::{Mutex, mpsc::UnboundedReceiver};
use tokio_util::sync::CancellationToken;

/// How often rooms without listeners are unsubscribed and the cluster is pinged.
const TIDY_EVERY: Duration = Duration::from_secs(2);

pub(in crate::server::broker::redis) struct Shards {
    connection: ClusterConnection,
    store: Store,
    hub: Arc<Hub>,
    state: Arc<ListenerState>,
    /// The rooms subscribed on this node, each with whether the server has confirmed the
    /// subscription: a confirmation of a confirmed room is a resubscription.
    subscribed: Mutex<HashMap<RoomName, bool>>,
}

impl Shards {
    pub(super) fn new(
        connection: ClusterConnection,
        store: Store,
        hub: Arc<Hub>,
        state: Arc<ListenerState>,
    ) -> Arc<Self> {
        Arc::new(Self {
            connection,
            store,
            hub,
            state,
            subscribed: Mutex::new(HashMap::new()),
        })
    }

    /// Subscribes to the rooms not yet subscribed here. On failure (the cluster is
    /// down), the next tidy-up subscribes them and catches them up.
    pub(super) async fn watch(&self, rooms: &[RoomName]) {
        let mut subscribed = self.subscribed.lock().await;
        for room in rooms {
            if subscribed.contains_key(room) {
                continue;
            }
            subscribed.insert(room.clone(), false);
            if let Err(error) = self.subscribe(room).await {
                subscribed.remove(room);
                tracing::warn!(%room, error = format!("{error:#}"), "cannot subscribe to a room's shard channel");
            }
        }
    }

    async fn subscribe(&self, room: &RoomName) -> anyhow::Result<()> {
        let channel = self.store.keys.live(room);
        tokio::time::timeout(
            COMMAND_TIMEOUT,
            self.connection.clone().ssubscribe(&channel),
        )
        .await
        .map_err(|_| anyhow::anyhow!("SSUBSCRIBE timed out"))??;
        metrics::counter!("chat_shard_subscribes_total").increment(1);
        Ok(())
    }

    /// Delivers messages as they come, and hands everything else to [`Shards::control`].
    pub(super) async fn run(
        self: Arc<Self>,
        mut pushes: UnboundedReceiver<PushInfo>,
        shutdown: CancellationToken,
    ) {
        // Unbounded, as `pushes` is: it holds only subscription confirmations, at most a
        // few per room subscribed here.
        let (to_control, control) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(Arc::clone(&self).control(control, shutdown.clone()));
        loop {
            let push = tokio::select! {
                push = pushes.recv() => push,
                () = shutdown.cancelled() => return,
            };
            let Some(push) = push else { return };
            let room = push
                .data
                .first()
                .and_then(|channel| redis::from_redis_value_ref::<String>(channel).ok())
                .and_then(|channel| self.store.keys.room_of_channel(&channel));
            match (push.kind, room) {
                (PushKind::SMessage, Some(room)) => {
                    if let Some(Value::BulkString(payload)) = push.data.get(1) {
                        listener::deliver(&self.store, &self.hub, room, payload).await;
                    }
                }
                (kind @ (PushKind::SSubscribe | PushKind::SUnsubscribe), Some(room)) => {
                    let _ = to_control.send((kind, room));
                }
                (PushKind::Disconnection, _) => {
                    tracing::warn!("a cluster connection dropped; the client reconnects");
                }
                _ => {}
            }
        }
    }

    /// Subscription confirmations and drops, in order, and the tidy-up.
    async fn control(
        self: Arc<Self>,
        mut changes: UnboundedReceiver<(PushKind, RoomName)>,
        shutdown: CancellationToken,
    ) {
        let mut tidy = tokio::time::interval(TIDY_EVERY);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some((PushKind::SSubscribe, room)) => self.confirmed(room).await,
                    Some((_, room)) => self.dropped(room).await,
                    None => return,
                },
                _ = tidy.tick() => self.tidy().await,
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn confirmed(&self, room: RoomName) {
        let mut subscribed = self.subscribed.lock().await;
        match subscribed.get_mut(&room) {
            Some(confirmed @ false) => *confirmed = true,
            // Subscribed again by the client after a reconnect: what was sent meanwhile
            // is in the room's stream.
            Some(true) => {
                drop(subscribed);
                self.catch_up(&room).await;
            }
            None => {}
        }
    }

    async fn dropped(&self, room: RoomName) {
        let mut subscribed = self.subscribed.lock().await;
        // Not ours (we forget a room before we unsubscribe it): its slot moved.
        if !subscribed.contains_key(&room) {
            return;
        }
        tracing::info!(%room, "the room's slot moved; subscribing again");
        metrics::counter!("chat_shard_moves_total").increment(1);
        subscribed.insert(room.clone(), false);
        if let Err(error) = self.subscribe(&room).await {
            // The next tidy-up subscribes it, and catches it up.
            subscribed.remove(&room);
            tracing::warn!(%room, error = format!("{error:#}"), "cannot subscribe again after a slot move");
            return;
        }
        drop(subscribed);
        self.catch_up(&room).await;
    }

    /// Delivers what a room missed while it was not subscribed.
    async fn catch_up(&self, room: &RoomName) {
        let Some(last) = self.hub.active_rooms().into_iter().find(|(r, _)| r == room) else {
            return;
        };
        self.catch_up_from(last).await;
    }

    /// [`listener::catch_up`] for one room and the newest id delivered there.
    async fn catch_up_from(&self, room: (RoomName, Option<crate::message::MessageId>)) {
        let floor = self.state.last_ok_ms.load(Ordering::Acquire);
        let rooms = [room];
        if let Err(error) = listener::catch_up(&self.store, &self.hub, &rooms, floor).await {
            // Its listeners stay subscribed; the next resubscription or their own
            // reconnect catches them up.
            let room = &rooms[0].0;
            tracing::warn!(%room, error = format!("{error:#}"), "cannot catch a room up");
        }
    }

    /// Unsubscribes the rooms without listeners here, subscribes (and catches up) the
    /// rooms with listeners whose subscription failed, and pings the cluster.
    async fn tidy(&self) {
        let mut subscribed = self.subscribed.lock().await;
        // Read under the lock: a stream joins the hub before it `watch`es, so a room
        // `watch` subscribed meanwhile is in this list, and not taken for one left.
        let active = self.hub.active_rooms();
        let open: HashSet<&RoomName> = active.iter().map(|(room, _)| room).collect();
        let gone: Vec<RoomName> = subscribed
            .keys()
            .filter(|room| !open.contains(room))
            .cloned()
            .collect();
        for room in gone {
            subscribed.remove(&room);
            let channel = self.store.keys.live(&room);
            if let Err(error) = self.connection.clone().sunsubscribe(&channel).await {
                tracing::warn!(%room, error = format!("{error:#}"), "cannot unsubscribe a room");
            }
        }
        let missing: Vec<_> = active
            .iter()
            .filter(|(room, _)| !subscribed.contains_key(room))
            .cloned()
            .collect();
        let mut resubscribed = Vec::new();
        for (room, last) in missing {
            subscribed.insert(room.clone(), false);
            if self.subscribe(&room).await.is_err() {
                subscribed.remove(&room);
                continue;
            }
            resubscribed.push((room, last));
        }
        // Caught up without the lock: streams opening meanwhile need not wait for it.
        drop(subscribed);
        for room in resubscribed {
            self.catch_up_from(room).await;
        }
        let ping: redis::RedisResult<String> = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await;
        let healthy = ping.is_ok();
        self.state.healthy.store(healthy, Ordering::Release);
        if healthy {
            self.state.last_ok_ms.store(now_ms(), Ordering::Release);
        }
        if let Some(chain) = &self.store.chain {
            chain.sweep().await;
        }
    }
}
