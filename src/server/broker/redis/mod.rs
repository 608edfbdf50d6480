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
//! | `P:name:{name}` | string, TTL `CHAT_NAME_IDLE_DAYS` | the id of the session holding the name (canonical form) |
//! | `P:rate:{name}` | string, short TTL | the name's post limit: the GCRA "theoretical arrival time", in µs |
//! | `P:signin:{address}` | string, short TTL | the client address's sign-in limit, likewise |
//!
//! On a Redis Cluster (`REDIS_CLUSTER_URLS`), a room's name in its keys is a hash tag
//! (`P:room:{lobby}:log`, braces included) and a name's hold and limit share one
//! (`P:{name:ann}`, `P:{name:ann}:rate`); what else differs there is in [`cluster`].
//!
//! A post is one Lua script: check that the session still holds its name (and extend
//! the hold), return the first message of a repeated `client_id`, apply the name's rate
//! limit, then `XADD` + `ZADD` (history's index) + `PUBLISH`. So a revoked cookie can never post, N nodes
//! share one limit per name, and a message is never stored without being published or
//! published out of id order, all in one round trip. Each node holds one multiplexed
//! command connection and one Pub/Sub connection with a pattern subscription to every
//! room's channel; nothing opens a connection per request or per SSE client.

mod cluster;
mod conn;
mod keys;
mod listener;
mod log;
mod names;
mod presence;
mod scripts;
mod shards;
mod store;

pub use cluster::{ask_any_node, delete_prefix_on_cluster};
pub use keys::delete_prefix;

pub use presence::PRESENCE_TTL;

use super::{
    After, Broker, BrokerError, BrokerResult, Change, Changed, Claim, Holder,
    LOG_ENTRIES_PER_MESSAGE, Limits, NewMessage, Published, ROOM_LIST_LIMIT, with_default_room,
};
use crate::{
    awareness::Presence,
    message::{ChatMessage, DisplayName, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::hub::Hub,
};
use anyhow::{Context, anyhow};
use async_trait::async_trait;
use conn::Conn;
use keys::Keys;
use redis::{
    AsyncCommands, Client, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use scripts::{
    CLAIM_SCRIPT, PUBLISH_SCRIPT, RunScript, TOUCH_SCRIPT, append_lua, gcra_lua, interval_us,
    publishing_script, rate_limited,
};
use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use store::Store;
use tokio_util::sync::CancellationToken;

/// How long a `client_id` is remembered.
const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;
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
    publish: Script,
    claim: Script,
    touch: Script,
    presence_scripts: presence::PresenceScripts,
    log_scripts: log::LogScripts,
    /// This process's random id: its presence entries carry it.
    node_id: String,
    listener: Arc<ListenerState>,
    /// On a cluster: its own scripts and its sharded subscriptions.
    cluster: Option<cluster::ClusterParts>,
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
    pub fn start(
        url: &str,
        prefix: &str,
        limits: Limits,
        hub: Arc<Hub>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let client = Client::open(url).context("parsing REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(RECONNECT_MAX);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("creating the Redis connection manager")?;
        let broker = Self::new(Conn::Single(connection), prefix, limits, hub, false);
        let task = listener::Listener {
            client,
            store: broker.store(),
            presence_read: broker.presence_scripts.read.clone(),
            hub: Arc::clone(&broker.hub),
            state: Arc::clone(&broker.listener),
        };
        tokio::spawn(task.run(shutdown));
        Ok(broker)
    }

    fn new(connection: Conn, prefix: &str, limits: Limits, hub: Arc<Hub>, sharded: bool) -> Self {
        Self {
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
            publish: Script::new(PUBLISH_SCRIPT),
            claim: Script::new(CLAIM_SCRIPT),
            touch: Script::new(TOUCH_SCRIPT),
            presence_scripts: presence::PresenceScripts::new(sharded),
            log_scripts: log::LogScripts::new(sharded),
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
        }
    }

    /// The publish scripts' `ARGV` (see [`PUBLISH_SCRIPT`]).
    fn post_args(&self, invocation: &mut redis::ScriptInvocation<'_>, new: &NewMessage) {
        invocation
            .arg(self.limits.history)
            .arg(new.author.name.as_str())
            .arg(new.text.as_str())
            .arg(self.keys.live(&new.room))
            .arg(new.room.as_str())
            .arg(IDEMPOTENCY_TTL_SECS)
            .arg(self.limits.max_rooms)
            .arg(&new.author.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us(self.limits.post_rate))
            .arg(self.limits.post_burst)
            .arg(self.room_idle_ms())
            .arg(format!("{}:room:", self.keys.prefix))
            .arg(self.limits.history * LOG_ENTRIES_PER_MESSAGE);
    }

    /// A publish script's answer as the post's outcome.
    fn published(&self, outcome: i64, reply: String, new: NewMessage) -> BrokerResult<Published> {
        let (id, text) = match outcome {
            1 => (reply.as_str(), new.text.into_string()),
            0 => {
                let (id, text) = reply.split_once('\n').ok_or_else(|| {
                    unavailable(anyhow!("malformed idempotency record {reply:?}"))
                })?;
                (id, text.to_owned())
            }
            -1 => return Err(BrokerError::Revoked),
            -2 => return Err(rate_limited(&reply)),
            other => return Err(unavailable(anyhow!("the publish script answered {other}"))),
        };
        let id: MessageId = id
            .parse()
            .map_err(|_| unavailable(anyhow!("Redis returned a malformed id {id:?}")))?;
        let message = ChatMessage::new(id, new.room, new.author.name, text);
        Ok(if outcome == 1 {
            Published::New(message)
        } else {
            Published::Repeat(message)
        })
    }
}

#[async_trait]
impl Broker for RedisBroker {
    async fn publish(&self, new: NewMessage) -> BrokerResult<Published> {
        if self.cluster.is_some() {
            return self.publish_on_cluster(new).await;
        }
        let room = &new.room;
        let author = &new.author;
        let mut invocation = self.publish.key(self.keys.log(room));
        invocation
            .key(self.keys.rooms())
            .key(self.keys.name(&author.name))
            .key(self.keys.rate(&author.name))
            .key(self.keys.ids(room))
            .key(self.keys.state(room));
        if let Some(client_id) = &new.client_id {
            invocation.key(self.keys.post(room, &author.session_id, client_id));
        }
        self.post_args(&mut invocation, &new);
        let (outcome, reply): (i64, String) = invocation
            .run(&self.connection, "running the publish script")
            .await?;
        self.published(outcome, reply, new)
    }

    async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> BrokerResult<Vec<ChatMessage>> {
        self.read_history(room, before, limit).await
    }

    async fn change(&self, change: Change) -> BrokerResult<Changed> {
        self.apply_change(change).await
    }

    async fn after(&self, room: &RoomName, after: MessageId, limit: usize) -> BrokerResult<After> {
        let entries = self
            .store()
            .range_from(room, after, Some(limit.saturating_add(1)))
            .await
            .map_err(unavailable)?;
        if entries.first().is_some_and(|first| first.id() == after) {
            return Ok(After::Entries(entries[1..].to_vec()));
        }
        let oldest = self.store().oldest(room).await.map_err(unavailable)?;
        Ok(After::Resync { oldest })
    }

    async fn rooms(&self) -> BrokerResult<Vec<RoomSummary>> {
        let pairs: Vec<(String, f64)> = self
            .connection
            .clone()
            .zrevrange_withscores(self.keys.rooms(), 0, ROOM_LIST_LIMIT as isize - 1)
            .await
            .context("reading the room index")
            .map_err(unavailable)?;
        let rooms = pairs
            .into_iter()
            .filter_map(|(name, ms)| {
                Some(RoomSummary {
                    name: RoomName::parse(&name).ok()?,
                    last_message_at: Some(rfc3339_millis(ms as u64)),
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
        self.claim(holder, previous, client).await
    }

    async fn release_name(&self, holder: &Holder) -> BrokerResult<()> {
        self.release(holder).await
    }

    async fn holds(&self, holder: &Holder) -> BrokerResult<bool> {
        self.holds_name(holder).await
    }

    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        self.enter_and_read(room, person, register).await
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        self.leave_one(room, person).await
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        self.read_presence(room).await
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        self.send_typing(room, person).await
    }

    async fn refresh_presence(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        self.refresh_all(present).await
    }

    async fn watch(&self, rooms: &[RoomName]) {
        if let Some(cluster) = &self.cluster {
            cluster.shards.watch(rooms).await;
        }
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

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
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
