//! A cluster node's sharded Pub/Sub: one `SSUBSCRIBE` per room with listeners here, on
//! the connection the cluster client already holds to the room's master; never one per
//! browser. (Why per room and not per partition: [`cluster`](super::cluster).)
//!
//! - A stream's rooms are subscribed before it reads anything ([`Shards::watch`]), so it
//!   misses nothing published meanwhile.
//! - Every few seconds the rooms that lost their last listener are unsubscribed, and
//!   rooms whose subscription failed (the cluster was down) are subscribed and caught up.
//! - When a slot moves, its master drops the subscription with an unsolicited
//!   `sunsubscribe`: the room is subscribed again (the client follows the `MOVED` to the
//!   new master) and caught up from its stream.
//! - When a connection drops (a master died), the client reconnects and subscribes
//!   again on its own; each confirmation after the first is a resubscription, and the
//!   room is caught up from its stream, as after a Redis restart on one Redis.

use super::{COMMAND_TIMEOUT, ListenerState, Store, listener, now_ms};
use crate::{message::RoomName, server::hub::Hub};
use redis::{PushInfo, PushKind, Script, Value, cluster_async::ClusterConnection};
use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tokio::sync::{Mutex, mpsc::UnboundedReceiver};
use tokio_util::sync::CancellationToken;

/// How often rooms without listeners are unsubscribed and the cluster is pinged.
const TIDY_EVERY: Duration = Duration::from_secs(2);

pub(in crate::server::broker::redis) struct Shards {
    connection: ClusterConnection,
    store: Store,
    presence_read: Script,
    hub: Arc<Hub>,
    state: Arc<ListenerState>,
    /// The rooms subscribed on this node, each with whether the server has confirmed the
    /// subscription: a confirmation of a confirmed room is a resubscription.
    subscribed: Mutex<HashMap<RoomName, bool>>,
    /// A connection dropped since the last tidy-up. The client reconnects to the same
    /// address, but only learns that a replica took over a dead master's slots when a
    /// command to them fails: so every room is subscribed again (and caught up) until
    /// that succeeds.
    dropped: AtomicBool,
}

impl Shards {
    pub(super) fn new(
        connection: ClusterConnection,
        store: Store,
        presence_read: Script,
        hub: Arc<Hub>,
        state: Arc<ListenerState>,
    ) -> Arc<Self> {
        Arc::new(Self {
            connection,
            store,
            presence_read,
            hub,
            state,
            subscribed: Mutex::new(HashMap::new()),
            dropped: AtomicBool::new(false),
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

    pub(super) async fn run(
        self: Arc<Self>,
        mut pushes: UnboundedReceiver<PushInfo>,
        shutdown: CancellationToken,
    ) {
        let mut tidy = tokio::time::interval(TIDY_EVERY);
        loop {
            tokio::select! {
                push = pushes.recv() => match push {
                    Some(push) => self.on_push(push).await,
                    None => return,
                },
                _ = tidy.tick() => self.tidy().await,
                () = shutdown.cancelled() => return,
            }
        }
    }

    async fn on_push(&self, push: PushInfo) {
        let room = push
            .data
            .first()
            .and_then(|channel| redis::from_redis_value_ref::<String>(channel).ok())
            .and_then(|channel| self.store.keys.room_of_channel(&channel));
        match (push.kind, room) {
            (PushKind::SMessage, Some(room)) => {
                if let Some(Value::BulkString(payload)) = push.data.get(1) {
                    listener::deliver(&self.hub, room, payload);
                }
            }
            (PushKind::SSubscribe, Some(room)) => {
                let mut subscribed = self.subscribed.lock().await;
                match subscribed.get_mut(&room) {
                    Some(confirmed @ false) => *confirmed = true,
                    // Subscribed again by the client after a reconnect: what was sent
                    // meanwhile is in the room's stream.
                    Some(true) => {
                        drop(subscribed);
                        self.catch_up(&room).await;
                    }
                    None => {}
                }
            }
            (PushKind::SUnsubscribe, Some(room)) => {
                let mut subscribed = self.subscribed.lock().await;
                // Not ours (we forget a room before we unsubscribe it): its slot moved.
                if subscribed.contains_key(&room) {
                    tracing::info!(%room, "the room's slot moved; subscribing again");
                    metrics::counter!("chat_shard_moves_total").increment(1);
                    subscribed.insert(room.clone(), false);
                    if let Err(error) = self.subscribe(&room).await {
                        subscribed.remove(&room);
                        tracing::warn!(%room, error = format!("{error:#}"), "cannot subscribe again after a slot move");
                        return;
                    }
                    drop(subscribed);
                    self.catch_up(&room).await;
                }
            }
            (PushKind::Disconnection, _) => {
                tracing::warn!("a cluster connection dropped; subscribing every room again");
                self.dropped.store(true, Ordering::Release);
            }
            _ => {}
        }
    }

    /// Delivers what a room missed while it was not subscribed.
    async fn catch_up(&self, room: &RoomName) {
        let Some(last) = self.hub.active_rooms().into_iter().find(|(r, _)| r == room) else {
            return;
        };
        let floor = self.state.last_ok_ms.load(Ordering::Acquire);
        let rooms = [last];
        if let Err(error) =
            listener::catch_up(&self.store, &self.presence_read, &self.hub, &rooms, floor).await
        {
            // Its listeners stay subscribed; the next resubscription or their own
            // reconnect catches them up.
            tracing::warn!(%room, error = format!("{error:#}"), "cannot catch a room up");
        }
    }

    /// Unsubscribes the rooms without listeners here, subscribes (and catches up) the
    /// rooms with listeners whose subscription failed, and pings the cluster.
    async fn tidy(&self) {
        let active = self.hub.active_rooms();
        let open: HashSet<&RoomName> = active.iter().map(|(room, _)| room).collect();
        let mut subscribed = self.subscribed.lock().await;
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
        let floor = self.state.last_ok_ms.load(Ordering::Acquire);
        for (room, last) in missing {
            subscribed.insert(room.clone(), false);
            if self.subscribe(&room).await.is_err() {
                subscribed.remove(&room);
                continue;
            }
            let rooms = [(room, last)];
            let _ = listener::catch_up(&self.store, &self.presence_read, &self.hub, &rooms, floor)
                .await;
        }
        if self.dropped.swap(false, Ordering::AcqRel) {
            let rooms: Vec<_> = active
                .iter()
                .filter(|(room, _)| subscribed.contains_key(room))
                .cloned()
                .collect();
            for (room, last) in rooms {
                if let Err(error) = self.subscribe(&room).await {
                    tracing::debug!(%room, error = format!("{error:#}"), "cannot subscribe again yet");
                    self.dropped.store(true, Ordering::Release);
                    continue;
                }
                let rooms = [(room, last)];
                let _ =
                    listener::catch_up(&self.store, &self.presence_read, &self.hub, &rooms, floor)
                        .await;
            }
        }
        drop(subscribed);
        let ping: redis::RedisResult<String> = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await;
        let healthy = ping.is_ok();
        self.state.healthy.store(healthy, Ordering::Release);
        if healthy {
            self.state.last_ok_ms.store(now_ms(), Ordering::Release);
        }
    }
}
