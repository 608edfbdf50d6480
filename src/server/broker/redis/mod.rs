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
mod presence;
mod shards;
mod store;

pub use cluster::{ask_any_node, delete_prefix_on_cluster};

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
    AsyncCommands, Client, FromRedisValue, Script,
    aio::{ConnectionManager, ConnectionManagerConfig},
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

/// A GCRA rate limit in Lua, shared by the scripts below: `gcra(key, interval µs, burst)`
/// takes one cell and returns 0, or returns how many µs until one is free. The key holds
/// the "theoretical arrival time" and expires when the limit has fully recovered. Time
/// is Redis's own (`TIME`), so every node shares one clock.
macro_rules! gcra_lua {
    () => {
        r#"
local function gcra(key, interval, burst)
  if interval <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local wait = next_tat - burst * interval - now
  if wait > 0 then return wait end
  redis.call('SET', key, string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  return 0
end
"#
    };
}
pub(crate) use gcra_lua;

/// Appends a message to a room's log (`append(log, index, state, [idempotency key],
/// ARGV)`, `ARGV` as the publish script's), extends the room's keys, publishes it and
/// remembers its idempotency key; returns its id. Shared by the one-Redis and the cluster
/// post scripts.
macro_rules! append_lua {
    () => {
        r#"
local function append(log, ids, state, post)
  local id = redis.call('XADD', log, '*', 's', ARGV[2], 't', ARGV[3])
  redis.call('ZADD', ids, 0, pad(id))
  trim(log, ids, state, tonumber(ARGV[1]), tonumber(ARGV[14]))
  for _, key in ipairs({log, ids, state}) do redis.call('PEXPIRE', key, ARGV[12]) end
  redis.call('PUBLISH', ARGV[4], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
  if post then redis.call('SET', post, id .. '\n' .. ARGV[3], 'EX', ARGV[6]) end
  return id
end
"#
    };
}
pub(crate) use append_lua;

/// `KEYS`: log, room index, name hold, name rate, history index, state, [idempotency key].
/// `ARGV`: messages kept, sender, text, channel, room, idempotency TTL, room index
/// limit, session id, hold TTL (ms), rate interval (µs, 0 for no limit), burst, room TTL
/// (ms), the prefix of a room's keys (to delete the rooms trimmed from the index), and
/// the log's length limit.
///
/// Returns `{1, id}` for a new message, `{0, "id\ntext"}` for a repeat, `{-1, ""}` when
/// the session no longer holds its name, and `{-2, wait µs}` past the rate limit.
const PUBLISH_SCRIPT: &str = concat!(
    gcra_lua!(),
    log::log_lua!(),
    append_lua!(),
    r#"
if redis.call('GET', KEYS[3]) ~= ARGV[8] then return {-1, ''} end
redis.call('PEXPIRE', KEYS[3], ARGV[9])
if KEYS[7] then
  local prior = redis.call('GET', KEYS[7])
  if prior then return {0, prior} end
end
local wait = gcra(KEYS[4], tonumber(ARGV[10]), tonumber(ARGV[11]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local id = append(KEYS[1], KEYS[5], KEYS[6], KEYS[7])
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', KEYS[2], ms, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (ms - tonumber(ARGV[12])))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if over > 0 then
  for _, room in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    local key = ARGV[13] .. room
    redis.call('DEL', key .. ':log', key .. ':ids', key .. ':state')
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return {1, id}
"#
);

/// `KEYS`: the name's hold, the client address's sign-in limit, [the hold of the
/// session's previous name]. `ARGV`: session id, hold TTL (ms), sign-in interval (µs, 0
/// for no limit), burst. Returns `{1, ""}` when the session holds the name now, `{0, ""}`
/// when another does, and `{-2, wait µs}` past the address's sign-in limit (every
/// attempt counts, refused ones too, so that names cannot be probed quickly).
const CLAIM_SCRIPT: &str = concat!(
    gcra_lua!(),
    r#"
local wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[3] and KEYS[3] ~= KEYS[1] and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return {1, ''}
"#
);

/// `KEYS`: a name's hold. `ARGV`: session id, hold TTL (ms), or none to release. Returns 1
/// when the session held the name (and extends or ends the hold), else 0.
const TOUCH_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
"#;

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

    /// Whether the session holds its name (extending the hold if so).
    async fn holds_name(&self, holder: &Holder) -> BrokerResult<bool> {
        let held: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .run(&self.connection, "checking a name's hold")
            .await?;
        Ok(held == 1)
    }

    /// Has a script check (and extend) the session's hold on its name: as its next key on
    /// one Redis; on a cluster, where the hold is in another slot, by checking it now.
    /// `false` when the cluster answered that the session no longer holds it.
    async fn hold_in_script(
        &self,
        invocation: &mut redis::ScriptInvocation<'_>,
        holder: &Holder,
    ) -> BrokerResult<bool> {
        if self.cluster.is_some() {
            return self.holds_name(holder).await;
        }
        invocation.key(self.keys.name(&holder.name));
        Ok(true)
    }

    /// Ends the session's hold on its name, if it has it.
    async fn release(&self, holder: &Holder) -> BrokerResult<()> {
        let _: i64 = self
            .touch
            .key(self.keys.name(&holder.name))
            .arg(&holder.session_id)
            .run(&self.connection, "releasing a name")
            .await?;
        Ok(())
    }
}

/// A script that publishes on a room's channel: as it is on one Redis, and with
/// `SPUBLISH` (sharded Pub/Sub, to the room's own slot) on a cluster.
///
/// # Panics
///
/// When a sharded script still publishes some other way (`pcall`, double quotes): on a
/// cluster such a publish reaches no listener, and nothing would say so. The scripts are
/// built when the broker starts, so every cluster test would fail first.
fn publishing_script(text: &str, sharded: bool) -> Script {
    if !sharded {
        return Script::new(text);
    }
    let text = text.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");
    assert!(
        !text.contains("'PUBLISH'") && !text.contains("\"PUBLISH\""),
        "a script publishes other than with redis.call('PUBLISH', ...):\n{text}"
    );
    Script::new(&text)
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
        if self.cluster.is_some() {
            return self.claim_on_cluster(holder, previous, client).await;
        }
        let mut invocation = self.claim.key(self.keys.name(&holder.name));
        invocation.key(self.keys.signin(client));
        if let Some(previous) = previous {
            invocation.key(self.keys.name(previous));
        }
        let (outcome, wait): (i64, String) = invocation
            .arg(&holder.session_id)
            .arg(self.name_idle_ms())
            .arg(interval_us(self.limits.signin_rate))
            .arg(self.limits.signin_burst)
            .run(&self.connection, "claiming a name")
            .await?;
        match outcome {
            1 => Ok(Claim::Granted),
            0 => Ok(Claim::Taken),
            _ => Err(rate_limited(&wait)),
        }
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

/// Deletes every key under `prefix` (tests and benchmarks clean up with it). Uses `SCAN`,
/// so a large Redis is never blocked.
pub fn delete_prefix(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let mut connection = Client::open(url)?.get_connection()?;
    delete_matching(&mut connection, prefix)
}

/// Deletes the keys under `prefix` on one Redis (or one master of a cluster).
fn delete_matching(connection: &mut redis::Connection, prefix: &str) -> anyhow::Result<usize> {
    let keys = Keys {
        prefix: prefix.to_owned(),
        tagged: false,
    };
    let pattern = format!("{}:*", keys.escaped_prefix());
    let keys: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(&pattern)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter::<String>(connection)?
        .collect::<Result<_, _>>()?;
    // A pipeline of one-key `DEL`s: on a cluster master, keys of different slots cannot
    // share one.
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.del(key).ignore();
        }
        pipe.exec(connection)?;
    }
    Ok(keys.len())
}

/// A rate in cells per second as the GCRA scripts' interval in µs; 0 for no limit.
fn interval_us(rate: f64) -> u64 {
    if rate > 0.0 {
        (1e6 / rate).round().max(1.0) as u64
    } else {
        0
    }
}

/// A script's "past the limit" answer, the wait in µs as text, as the error.
fn rate_limited(wait_us: &str) -> BrokerError {
    BrokerError::RateLimited(Duration::from_micros(wait_us.parse().unwrap_or(1_000_000)))
}

/// A script run on the broker's connection, where a failure counts as the broker being
/// unavailable ([`unavailable`]), with what it was doing as the error's context.
trait RunScript {
    async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T>;
}

impl RunScript for redis::ScriptInvocation<'_> {
    async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T> {
        self.invoke_async(&mut connection.clone())
            .await
            .context(doing)
            .map_err(unavailable)
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

#[cfg(test)]
mod tests {
    use super::publishing_script;

    #[test]
    #[should_panic(expected = "publishes other than")]
    fn a_publish_the_cluster_would_not_shard_is_refused() {
        publishing_script("redis.pcall('PUBLISH', KEYS[1], ARGV[1])", true);
    }

    #[test]
    fn a_publish_becomes_a_sharded_publish_on_a_cluster() {
        let text = "redis.call('PUBLISH', KEYS[1], ARGV[1])";
        let one_redis = publishing_script(text, false).get_hash().to_owned();
        let cluster = publishing_script(text, true).get_hash().to_owned();
        assert_ne!(one_redis, cluster);
        let expected = redis::Script::new("redis.call('SPUBLISH', KEYS[1], ARGV[1])");
        assert_eq!(cluster, expected.get_hash());
    }
}
