//! The Redis broker: several nodes on one Redis behave as one chat.
//!
//! Keys, under a configurable prefix `P`:
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log` | Stream | the room's log: its last `CHAT_HISTORY_LIMIT` messages and the changes to them (see [`log`](self::log)); with the room's `ids` and `state`, expires after `CHAT_ROOM_IDLE_DAYS` without a post |
//! | `P:room:{room}:live` | Pub/Sub channel | each log entry as it is stored |
//! | `P:rooms` | sorted set | room → time of its last message, at most `CHAT_MAX_ROOMS`; a room trimmed from it loses its log too |
//! | `P:room:{room}:post:{session}:{client_id}` | string, 24 h | the first message of an idempotent post |
//! | `P:name:{name}` | string, TTL `CHAT_NAME_IDLE_DAYS` | the id of the session holding the name (`{name}` is its key, `DisplayName::key`: look-alikes share it) |
//! | `P:rate:{name}` | string, short TTL | the name's post limit: the GCRA "theoretical arrival time", in µs |
//! | `P:signin:{address}` | string, short TTL | the client address's sign-in limit, likewise |
//!
//! On a Redis Cluster (`REDIS_CLUSTER_URLS`), a room's name in its keys is a hash tag
//! (`P:room:{lobby}:log`, braces included) and a name's hold and limit share one
//! (`P:{name:ann}`, `P:{name:ann}:rate`); what else differs there is in [`cluster`].
//!
//! One struct, [`RedisBroker`], plays the four roles of [`super::Broker`]: the room log
//! (`log.rs`, `post.rs`), names (`names.rs`), presence and typing (`presence.rs`), and
//! the bus (here: the node's hub, fed by the Pub/Sub task in `listener.rs`, or on a
//! cluster by `shards.rs`). Every step that must be atomic is one Lua script (`lua/`,
//! loaded by `scripts.rs`, their keys and arguments named as `lua.rs` says): a post
//! (`post.rs`) checks the hold, applies the post limit, appends and publishes in one
//! round trip. Each node holds one multiplexed command connection and one Pub/Sub
//! connection with a pattern subscription to every room's channel; nothing opens a
//! connection per request or per SSE client.

mod chain;
mod cluster;
mod conn;
mod kept;
mod keys;
mod listener;
mod log;
mod lua;
mod names;
mod parse;
mod post;
mod presence;
mod scripts;
mod shards;
mod store;

pub use cluster::{ask_any_node, delete_prefix_on_cluster};
pub use keys::delete_prefix;

pub use presence::PRESENCE_TTL;

use super::{
    Backfill, BrokerError, BrokerResult, Bus, Limits, Subscription, hub::Hub, with_default_room,
};
use crate::message::RoomName;
use anyhow::Context;
use async_trait::async_trait;
use chain::Chain;
use conn::Conn;
use keys::Keys;
use redis::{
    Client,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use scripts::{Scripts, interval_us, rate_limited};
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use store::Store;
use tokio_util::sync::CancellationToken;

/// Every command gives up after this long, so that a POST answers 503 promptly when
/// Redis is gone.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the Pub/Sub connection is pinged, to notice a dead connection that TCP has
/// not reported.
const LISTENER_PING_EVERY: Duration = Duration::from_secs(5);
const RECONNECT_MIN: Duration = Duration::from_millis(50);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// Allowance for clock skew between this node and Redis when catching up a room that has
/// had no message since it opened here.
const CLOCK_SKEW_MS: u64 = 2_000;

pub struct RedisBroker {
    connection: Conn,
    keys: Keys,
    hub: Arc<Hub>,
    limits: Limits,
    /// Every script, loaded once (with `SPUBLISH` on a cluster).
    scripts: Arc<Scripts>,
    /// This process's random id: its presence entries carry it.
    node_id: String,
    listener: Arc<ListenerState>,
    /// On a cluster: its sharded subscriptions.
    cluster: Option<cluster::ClusterParts>,
    /// With PostgreSQL keeping the chat: the order of each room's live entries, and
    /// what this node missed of them, from the database (`chain.rs`).
    chain: Option<Arc<Chain>>,
}

/// What the Pub/Sub task shares with the broker.
struct ListenerState {
    /// Subscribed and caught up: live deliveries flow.
    healthy: AtomicBool,
    /// When the subscription was last known to be working (ms since the epoch): the
    /// floor from which a room that saw no message is caught up after a reconnect.
    last_ok_ms: AtomicU64,
}

impl RedisBroker {
    /// Connects lazily: the node starts (and answers `/readyz` with 503) even while Redis
    /// is down, and connects as soon as it is up. The Pub/Sub task stops on `shutdown`.
    /// With `backfill`, the log is kept there and Redis only carries it live (`chain.rs`).
    pub fn start(
        url: &str,
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
        backfill: Option<Arc<dyn Backfill>>,
    ) -> anyhow::Result<Self> {
        let client = Client::open(url).context("parsing REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_MAX);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("creating the Redis connection manager")?;
        let broker = Self::new(Conn::Single(connection), prefix, limits, false, backfill);
        let task = listener::Listener {
            client,
            store: broker.store(),
            hub: Arc::clone(&broker.hub),
            state: Arc::clone(&broker.listener),
        };
        tokio::spawn(task.run(shutdown));
        Ok(broker)
    }

    fn new(
        connection: Conn,
        prefix: &str,
        limits: Limits,
        sharded: bool,
        backfill: Option<Arc<dyn Backfill>>,
    ) -> Self {
        let hub = Hub::new(limits.subscriber_buffer, limits.buffer_budget());
        Self {
            chain: backfill.map(|backfill| Arc::new(Chain::new(backfill, Arc::clone(&hub)))),
            connection,
            keys: Keys {
                prefix: prefix.to_owned(),
                tagged: sharded,
            },
            hub,
            limits: Limits {
                history: limits.history.max(1),
                max_rooms: limits.max_rooms.max(1),
                ..limits
            },
            scripts: Arc::new(Scripts::new(sharded)),
            node_id: format!("{:016x}", rand::random::<u64>()),
            listener: Arc::new(ListenerState {
                healthy: AtomicBool::new(false),
                last_ok_ms: AtomicU64::new(now_ms()),
            }),
            cluster: None,
        }
    }

    fn name_idle_ms(&self) -> u64 {
        self.limits.name_idle.as_millis().max(1) as u64
    }

    fn room_idle_ms(&self) -> u64 {
        self.limits.room_idle.as_millis().max(1) as u64
    }

    fn store(&self) -> Store {
        Store {
            connection: self.connection.clone(),
            keys: self.keys.clone(),
            scripts: Arc::clone(&self.scripts),
            chain: self.chain.clone(),
        }
    }
}

#[async_trait]
impl Bus for RedisBroker {
    /// Subscribed in the hub first, then (on a cluster) to the rooms' shard channels: so
    /// whatever is published once this returns reaches the subscriptions. On one Redis
    /// the node's pattern subscription already covers every room.
    ///
    /// A message answered before the subscription may still be on its way through
    /// Pub/Sub to this node, and would reach it: so, once subscribed, each room's newest
    /// stored id is read (one round trip for all the rooms) and is the subscription's
    /// floor. Without it (Redis did not answer), a stream live from now starts without.
    async fn subscribe(&self, rooms: &[RoomName]) -> Vec<Subscription> {
        if let Some(chain) = &self.chain {
            return self.subscribe_chained(chain, rooms).await;
        }
        let mut subscriptions: Vec<Subscription> =
            rooms.iter().map(|room| self.hub.subscribe(room)).collect();
        if let Some(cluster) = &self.cluster {
            cluster.shards.watch(rooms).await;
        }
        match self.store().newest(rooms).await {
            Ok(floors) => {
                for (subscription, floor) in subscriptions.iter_mut().zip(floors) {
                    subscription.floor = floor;
                }
            }
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "cannot read the rooms' newest ids"
            ),
        }
        subscriptions
    }

    async fn ready(&self) -> bool {
        if !self.listener.healthy.load(Ordering::Acquire) {
            return false;
        }
        let ping: redis::RedisResult<String> = redis::cmd("PING")
            .query_async(&mut self.connection.clone())
            .await;
        ping.is_ok()
    }

    fn close(&self) {
        self.hub.close();
    }
}

fn unavailable(error: anyhow::Error) -> BrokerError {
    metrics::counter!("chat_broker_errors_total").increment(1);
    BrokerError::Unavailable(error)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
