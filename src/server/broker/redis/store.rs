//! Reads of a room's stream and presence, shared by the broker and its Pub/Sub task.

use super::{
    Chain, Conn, Keys, Scripts,
    parse::{self, Raw},
};
use crate::{
    message::{MessageId, RoomName},
    server::broker::log::Entry,
};
use anyhow::{Context, anyhow, bail};
use redis::{AsyncCommands, Value};
use std::sync::Arc;

/// Reads of a room's stream and presence, shared by the broker and its Pub/Sub task.
#[derive(Clone)]
pub(super) struct Store {
    pub(super) connection: Conn,
    pub(super) keys: Keys,
    pub(super) scripts: Arc<Scripts>,
    /// With PostgreSQL keeping the chat: what orders live entries, and fills gaps.
    pub(super) chain: Option<Arc<Chain>>,
}

impl Store {
    /// The retained log entries from `from` on, `from` included, as the Stream holds
    /// them: all of them, or the first `count`.
    pub(super) async fn range_from(
        &self,
        room: &RoomName,
        from: MessageId,
        count: Option<usize>,
    ) -> anyhow::Result<Vec<Raw>> {
        let mut command = redis::cmd("XRANGE");
        command
            .arg(self.keys.log(room))
            .arg(from.to_string())
            .arg("+");
        if let Some(count) = count {
            command.arg("COUNT").arg(count);
        }
        let reply: Value = command
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a room's stream")?;
        parse::entries(room, reply)
    }

    /// The entries to send of `raws`: an update takes its message as it stands now, from
    /// the room's `state` (one round trip for all of them); one whose message was
    /// deleted since is left out, as the delete that follows it says the rest.
    pub(super) async fn resolve(
        &self,
        room: &RoomName,
        raws: &[Raw],
    ) -> anyhow::Result<Vec<Entry>> {
        let updated: Vec<String> = raws
            .iter()
            .filter_map(|raw| match raw {
                Raw::Update { of, .. } => Some(of.to_string()),
                Raw::Entry(_) => None,
            })
            .collect();
        let mut states: Vec<Option<String>> = if updated.is_empty() {
            Vec::new()
        } else {
            redis::cmd("HMGET")
                .arg(self.keys.state(room))
                .arg(&updated)
                .query_async(&mut self.connection.clone())
                .await
                .context("reading updated messages")?
        };
        states.reverse();
        let mut entries = Vec::with_capacity(raws.len());
        for raw in raws {
            match raw {
                Raw::Entry(entry) => entries.push(entry.clone()),
                Raw::Update { id, of } => {
                    let Some(state) = states.pop().flatten() else {
                        continue;
                    };
                    let message = serde_json::from_str(&state)
                        .with_context(|| format!("message {of} has a malformed state"))?;
                    entries.push(Entry::Update { id: *id, message });
                }
            }
        }
        Ok(entries)
    }

    /// Each room's newest log entry's id, all at once on the multiplexed connection.
    pub(super) async fn newest(
        &self,
        rooms: &[RoomName],
    ) -> anyhow::Result<Vec<Option<MessageId>>> {
        let reads = rooms.iter().map(|room| async move {
            let reply: Value = redis::cmd("XREVRANGE")
                .arg(self.keys.log(room))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.connection.clone())
                .await
                .context("reading a room's newest entry")?;
            Ok(parse::entries(room, reply)?.first().map(Raw::id))
        });
        futures::future::join_all(reads).await.into_iter().collect()
    }

    /// The oldest retained log entry's id.
    pub(super) async fn oldest(&self, room: &RoomName) -> anyhow::Result<Option<MessageId>> {
        let reply: Value = redis::cmd("XRANGE")
            .arg(self.keys.log(room))
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut self.connection.clone())
            .await
            .context("reading a room's oldest message")?;
        Ok(parse::entries(room, reply)?.first().map(Raw::id))
    }

    /// The newest id trimmed from a room's stream (`max-deleted-entry-id`, Redis 7), or
    /// `None` when the stream does not exist.
    pub(super) async fn max_deleted(&self, room: &RoomName) -> anyhow::Result<Option<MessageId>> {
        let mut connection = self.connection.clone();
        let key = self.keys.log(room);
        let exists: bool = connection.exists(&key).await.context("checking a stream")?;
        if !exists {
            return Ok(None);
        }
        let info: Value = redis::cmd("XINFO")
            .arg("STREAM")
            .arg(&key)
            .query_async(&mut connection)
            .await
            .context("reading stream info")?;
        if !matches!(info, Value::Map(_) | Value::Array(_)) {
            bail!("unexpected XINFO reply {info:?}");
        }
        let fields = reply_fields(&info);
        let id = fields
            .into_iter()
            .find(|(k, _)| k == "max-deleted-entry-id")
            .context("XINFO has no max-deleted-entry-id (Redis 7 or later is required)")?
            .1
            .clone();
        let id: String = redis::from_redis_value(id).context("reading max-deleted-entry-id")?;
        Ok(Some(
            id.parse()
                .map_err(|_| anyhow!("bad max-deleted-entry-id {id:?}"))?,
        ))
    }
}

/// The fields of a reply that is a map in RESP3 and a flat list of pairs in RESP2
/// (`XINFO STREAM`, `CLUSTER SHARDS`); anything else has none.
pub(super) fn reply_fields(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((redis::from_redis_value_ref::<String>(k).ok()?, v)))
            .collect(),
        Value::Array(items) => items
            .chunks_exact(2)
            .filter_map(|kv| Some((redis::from_redis_value_ref::<String>(&kv[0]).ok()?, &kv[1])))
            .collect(),
        _ => Vec::new(),
    }
}
