//! The broker on a Redis Cluster (`REDIS_CLUSTER_URLS`): what differs from one Redis.
//!
//! **Slots.** Every key and the channel of one room carry the room as a hash tag
//! (`P:room:{lobby}:log`), so a room lives on one master and each post, change and
//! presence step stays one atomic script there. A name's hold and post limit share a
//! tag of their own (`P:{name:ann}`, `P:{name:ann}:rate`), so they are checked and
//! counted by one script in the name's slot. The room index (`P:rooms`) and the sign-in
//! limits are single keys, each in its own slot.
//!
//! **Scripts that would cross slots are split**, in this order, for a post: the
//! idempotency record is read (a repeat is answered without counting against the
//! limit); then the room index says whether the post makes a new room, and refuses it
//! when the chat holds `CHAT_MAX_ROOMS` already (`lua/room_index.lua`), and the address's
//! new-room limit is counted; then the name's hold is checked and its limits counted
//! (`lua/admit.lua`); then the
//! room's script checks the idempotency record again, appends, trims, and publishes with
//! `SPUBLISH`, all in one step; then `WAIT 1` makes sure a replica has it before the post
//! is answered `201`, so a failover cannot lose an accepted message; last, the room
//! index is updated (no room ever taken out of it for the count). So a
//! session whose name is taken over between the second step and the third can still get
//! one post in: a window of one round trip, where one Redis has none.
//!
//! **Pub/Sub: one sharded channel per room, subscribed only where the room has
//! listeners** (see [`shards`](super::shards)). Each message crosses the cluster bus
//! once, to the master that owns the room's slot, and reaches only the nodes that
//! subscribed to that room: a node with listeners in 5 of 500 busy rooms receives 1% of
//! the traffic, where the pattern subscription on one Redis receives all of it. A fixed
//! set of partitions (Centrifuge's way) would bound the number of subscriptions, but a
//! room's script can only `SPUBLISH` to a channel in its own slot, so a partition would
//! have to be published to outside the script, and a node crash between the append and
//! the publish would leave listeners without a message until their next reconnect.
//! Subscriptions are cheap (one command per room opened on a node, on the connection
//! the cluster client already holds to that master), so per room it is.

use super::{
    COMMAND_TIMEOUT, Conn, RedisBroker, interval_us, rate_limited, shards::Shards,
    store::reply_fields, unavailable,
};
use crate::{
    message::RoomName,
    server::broker::{
        Backfill, BrokerError, BrokerResult, Claim, Holder, Limits, Names, NewMessage, Published,
    },
};
use anyhow::{Context, anyhow};
use redis::{
    AsyncCommands, Value,
    cluster::{ClusterClientBuilder, ClusterConfig},
    cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr},
};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;

/// How long a post waits for a replica to acknowledge it.
const REPLICATION_WAIT_MS: u64 = 1_000;

/// What only a cluster broker has.
pub(super) struct ClusterParts {
    pub(super) shards: Arc<Shards>,
}

impl RedisBroker {
    /// Connects lazily, as on one Redis: the node starts while the cluster is down.
    pub fn start_cluster(
        urls: &[String],
        prefix: &str,
        limits: Limits,
        shutdown: CancellationToken,
        backfill: Option<Arc<dyn Backfill>>,
    ) -> anyhow::Result<Self> {
        let (pushes, received) = tokio::sync::mpsc::unbounded_channel();
        let client = ClusterClientBuilder::new(urls.iter().map(String::as_str))
            .use_protocol(redis::ProtocolVersion::RESP3)
            .push_sender(pushes)
            // A post while a master fails over answers 503 within a few seconds, instead
            // of waiting out the client's default of 16 retries.
            .retries(3)
            .max_retry_wait(500)
            .overall_response_timeout(Some(COMMAND_TIMEOUT * 2))
            .build()
            .context("parsing REDIS_CLUSTER_URLS")?;
        let connection = client.get_pending_async_connection_with_config(
            ClusterConfig::new()
                .set_connection_timeout(COMMAND_TIMEOUT)
                .set_response_timeout(COMMAND_TIMEOUT),
        );
        let mut broker = Self::new(
            Conn::Cluster(connection.clone()),
            prefix,
            limits,
            true,
            backfill,
        );
        let shards = Shards::new(
            connection,
            broker.store(),
            Arc::clone(&broker.hub),
            Arc::clone(&broker.listener),
        );
        tokio::spawn(Arc::clone(&shards).run(received, shutdown));
        broker.cluster = Some(ClusterParts { shards });
        Ok(broker)
    }

    /// Checks that the author still holds their name and counts the post limit, and for
    /// a post that makes a `new_room`, the name's new-room limit.
    pub(super) async fn admit(&self, author: &Holder, new_room: bool) -> BrokerResult<()> {
        let mut call = self.scripts.admit.call();
        let name = self.keys.of_name(&author.name);
        call.key("hold", name.hold).key("rate", name.rate);
        if new_room {
            call.key("new_room", name.new_room);
        }
        let (outcome, reply): (i64, String) = call
            .arg("session", &author.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .arg("rate_interval", interval_us(self.limits.post_rate))
            .arg("rate_burst", self.limits.post_burst)
            .arg("new_room_interval", interval_us(self.limits.new_room_rate))
            .arg("new_room_burst", self.limits.new_room_burst)
            .run(&self.connection, "admitting a post")
            .await?;
        match outcome {
            1 => Ok(()),
            -1 => Err(BrokerError::Revoked),
            _ => Err(rate_limited(&reply)),
        }
    }

    /// Whether a post to `room` makes a new room, which the chat has room for
    /// ([`BrokerError::RoomsFull`] if not); if so, counts the address's new-room limit.
    /// (The room index's slot is another than the room's: a few posts racing to make
    /// new rooms at the very limit may pass it by as many.)
    pub(super) async fn is_new_room(
        &self,
        room: &RoomName,
        client: std::net::IpAddr,
    ) -> BrokerResult<bool> {
        let new: i64 = self
            .scripts
            .room_index
            .call()
            .key("rooms", self.keys.rooms())
            .arg("room", room.as_str())
            .arg("room_ttl", self.room_idle_ms())
            .arg("max_rooms", self.limits.max_rooms)
            .run(&self.connection, "checking the room index")
            .await?;
        match new {
            0 => return Ok(false),
            -3 => return Err(BrokerError::RoomsFull),
            _ => {}
        }
        self.limit(
            self.keys.new_room_by_client(client),
            self.limits.new_room_rate,
            self.limits.new_room_burst,
        )
        .await?;
        Ok(true)
    }

    /// Takes a cell of the limit at `key` (`rate` per second, `burst` at once), or says
    /// how long until one is free.
    async fn limit(&self, key: String, rate: f64, burst: u32) -> BrokerResult<()> {
        let wait: u64 = self
            .scripts
            .limit
            .call()
            .key("limit", key)
            .arg("interval", interval_us(rate))
            .arg("burst", burst)
            .run(&self.connection, "counting a limit")
            .await?;
        if wait > 0 {
            return Err(BrokerError::RateLimited(Duration::from_micros(wait)));
        }
        Ok(())
    }

    pub(super) async fn publish_on_cluster(&self, new: NewMessage) -> BrokerResult<Published> {
        let (room, author) = (&new.room, &new.author);
        let repeat_key = new
            .client_id
            .as_ref()
            .map(|id| self.keys.post(room, &author.session_id, id));
        if let Some(key) = &repeat_key {
            let prior: Option<String> = self
                .connection
                .clone()
                .get(key)
                .await
                .context("reading an idempotency record")
                .map_err(unavailable)?;
            if let Some(prior) = prior {
                if !self.holds(author).await? {
                    return Err(BrokerError::Revoked);
                }
                // A retry after a `503` for want of a replica: `201` only once one has it.
                self.replicated(room).await?;
                return self.published(0, prior, new).await;
            }
        }
        let new_room = self.is_new_room(room, new.client).await?;
        self.admit(author, new_room).await?;
        let mut call = self.scripts.cluster_post.call();
        self.append_args(&mut call, &new);
        self.idempotency_key(&mut call, &new);
        let (outcome, reply): (i64, String) = call
            .run(&self.connection, "running the post script")
            .await?;
        if outcome == 1 {
            // At once: the index is another slot, most likely another master.
            let (replicated, indexed) =
                tokio::join!(self.replicated(room), self.index(room, &reply));
            if let Err(error) = indexed {
                // The message is stored and sent: the room list catches up on its next post.
                tracing::warn!(%room, error = format!("{error:#}"), "cannot update the room index");
            }
            replicated?;
        }
        self.published(outcome, reply, new).await
    }

    /// Waits until a replica of the room's master has what it just stored, so that a
    /// failover cannot lose a message answered `201`. A master without replicas has
    /// nothing to wait for.
    async fn replicated(&self, room: &RoomName) -> BrokerResult<()> {
        let Conn::Cluster(connection) = &self.connection else {
            return Ok(());
        };
        let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(Route::with_key(
            self.keys.log(room),
            SlotAddr::Master,
        )));
        let mut wait = redis::cmd("WAIT");
        wait.arg(1).arg(REPLICATION_WAIT_MS);
        let acked = connection
            .clone()
            .route_command(wait, route.clone())
            .await
            .context("waiting for a replica")
            .map_err(unavailable)?;
        if redis::from_redis_value::<i64>(acked).is_ok_and(|n| n >= 1) {
            return Ok(());
        }
        // `ROLE` on a master: ["master", offset, [[host, port, offset], ...]].
        let role = connection
            .clone()
            .route_command(redis::cmd("ROLE"), route)
            .await
            .context("reading a master's role")
            .map_err(unavailable)?;
        let has_replicas = match role {
            Value::Array(parts) => parts
                .get(2)
                .is_some_and(|replicas| matches!(replicas, Value::Array(r) if !r.is_empty())),
            _ => true,
        };
        if has_replicas {
            return Err(unavailable(anyhow!(
                "no replica of {room}'s master acknowledged the post within {REPLICATION_WAIT_MS} ms"
            )));
        }
        Ok(())
    }

    /// Puts the room in the room index at its new message's time, and takes out the
    /// rooms gone idle.
    async fn index(&self, room: &RoomName, id: &str) -> anyhow::Result<()> {
        let ms: u64 = id
            .split_once('-')
            .and_then(|(ms, _)| ms.parse().ok())
            .with_context(|| format!("a malformed id {id:?}"))?;
        let _: i64 = self
            .scripts
            .index
            .call()
            .key("rooms", self.keys.rooms())
            .arg("ms", ms)
            .arg("room", room.as_str())
            .arg("room_ttl", self.room_idle_ms())
            .run(&self.connection, "updating the room index")
            .await?;
        Ok(())
    }

    /// Claims a name: the address's sign-in limit, the name's hold and the release of
    /// the session's previous name are three slots, so three steps.
    pub(super) async fn claim_on_cluster(
        &self,
        holder: &Holder,
        previous: Option<&crate::message::DisplayName>,
        client: std::net::IpAddr,
    ) -> BrokerResult<Claim> {
        self.limit(
            self.keys.signin(client),
            self.limits.signin_rate,
            self.limits.signin_burst,
        )
        .await?;
        let (granted, at): (i64, String) = self
            .scripts
            .cluster_claim
            .call()
            .key("hold", self.keys.name(&holder.name))
            .arg("session", &holder.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .run(&self.connection, "claiming a name")
            .await?;
        if granted != 1 {
            return Ok(Claim::Taken);
        }
        if let Some(previous) = previous.filter(|p| p.key() != holder.name.key()) {
            let previous = Holder {
                name: previous.clone(),
                ..holder.clone()
            };
            Names::release(self, &previous).await?;
        }
        Ok(Claim::Granted {
            at: super::names::granted_at(&at)?,
        })
    }
}

/// `command`'s answer from the first node of `urls` that gives one, on a connection of
/// its own: for questions about the cluster itself (its shards, a key's slot) asked
/// outside the broker, by [`delete_prefix_on_cluster`] and the tests.
pub fn ask_any_node<T: redis::FromRedisValue>(urls: &[String], command: &redis::Cmd) -> Option<T> {
    urls.iter().find_map(|url| {
        let mut connection = redis::Client::open(url.as_str())
            .ok()?
            .get_connection()
            .ok()?;
        command.query(&mut connection).ok()
    })
}

/// [`super::delete_prefix`] on a cluster: every master's keys under `prefix`.
pub fn delete_prefix_on_cluster(urls: &[String], prefix: &str) -> anyhow::Result<usize> {
    // `CLUSTER SHARDS` (Redis 7), from the first seed that answers: each shard's nodes,
    // with their role, health, address and port.
    let shards: Value = ask_any_node(urls, redis::cmd("CLUSTER").arg("SHARDS"))
        .context("no node of the cluster answers")?;
    let mut deleted = 0;
    for address in masters(&shards) {
        let mut master = redis::Client::open(format!("redis://{address}"))?.get_connection()?;
        deleted += super::keys::delete_matching(&mut master, prefix)?;
    }
    Ok(deleted)
}

/// `host:port` of each master in a `CLUSTER SHARDS` reply.
fn masters(shards: &Value) -> Vec<String> {
    let Value::Array(shards) = shards else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for shard in shards {
        let Some((_, Value::Array(nodes))) =
            reply_fields(shard).into_iter().find(|(k, _)| k == "nodes")
        else {
            continue;
        };
        for node in nodes {
            let node = reply_fields(node);
            let get = |name: &str| {
                node.iter()
                    .find(|(k, _)| k == name)
                    .and_then(|(_, v)| match v {
                        Value::Int(n) => Some(n.to_string()),
                        v => redis::from_redis_value_ref::<String>(v).ok(),
                    })
            };
            if get("role").as_deref() == Some("master")
                && get("health").as_deref() != Some("fail")
                && let (Some(ip), Some(port)) = (get("ip"), get("port"))
            {
                found.push(format!("{ip}:{port}"));
            }
        }
    }
    found
}
