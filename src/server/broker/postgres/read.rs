//! Reading what is kept: history, the log after an id, the room list, each room's newest
//! entry, a name's hold, and the export.

use super::{pg_id, store::Store};
use crate::{
    message::{ChatMessage, MessageId, RoomName, RoomSummary, rfc3339_millis},
    server::broker::{After, Page, ROOM_LIST_LIMIT, log::replayed, with_default_room},
};
use anyhow::Context;
use tokio_postgres::Row;

pub fn parse_message(body: &str) -> anyhow::Result<ChatMessage> {
    serde_json::from_str(body).context("a kept message does not read back")
}

fn id_at(row: &Row, ms: usize, seq: usize) -> MessageId {
    MessageId::new(row.get::<_, i64>(ms) as u64, row.get::<_, i64>(seq) as u64)
}

impl Store {
    pub async fn history(
        &self,
        room: &RoomName,
        before: Option<MessageId>,
        limit: usize,
    ) -> anyhow::Result<Vec<ChatMessage>> {
        let client = self.client().await?;
        let (ms, seq) = before.map_or((i64::MAX, i64::MAX), pg_id);
        let query = client
            .prepare_cached(
                "SELECT body FROM messages
                 WHERE room = $1 AND (ms, seq) < ($2, $3) AND NOT deleted
                 ORDER BY ms DESC, seq DESC LIMIT $4",
            )
            .await?;
        let rows = client
            .query(&query, &[&room.as_str(), &ms, &seq, &(limit as i64)])
            .await?;
        rows.iter()
            .rev()
            .map(|row| parse_message(row.get(0)))
            .collect()
    }

    pub async fn after(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> anyhow::Result<After> {
        let client = self.client().await?;
        let (ms, seq) = pg_id(after);
        let known = client
            .prepare_cached("SELECT 1 FROM entries WHERE room = $1 AND ms = $2 AND seq = $3")
            .await?;
        if client
            .query_opt(&known, &[&room.as_str(), &ms, &seq])
            .await?
            .is_none()
        {
            let oldest = client
                .prepare_cached(
                    "SELECT ms, seq FROM entries WHERE room = $1 ORDER BY ms, seq LIMIT 1",
                )
                .await?;
            let oldest = client.query_opt(&oldest, &[&room.as_str()]).await?;
            return Ok(After::Resync {
                oldest: oldest.map(|row| id_at(&row, 0, 1)),
            });
        }
        drop(client);
        Ok(After::Entries(self.page(room, (ms, seq), limit).await?))
    }

    /// Up to `limit` entries after the id `(ms, seq)`, as a stream replays them.
    pub async fn page(
        &self,
        room: &RoomName,
        (ms, seq): (i64, i64),
        limit: usize,
    ) -> anyhow::Result<Page> {
        let client = self.client().await?;
        let query = client
            .prepare_cached(
                "SELECT e.ms, e.seq, e.kind, e.of_ms, e.of_seq, m.body, m.deleted
                 FROM entries e JOIN messages m
                   ON m.room = e.room AND m.ms = e.of_ms AND m.seq = e.of_seq
                 WHERE e.room = $1 AND (e.ms, e.seq) > ($2, $3)
                 ORDER BY e.ms, e.seq LIMIT $4",
            )
            .await?;
        let rows = client
            .query(&query, &[&room.as_str(), &ms, &seq, &(limit as i64)])
            .await?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let id = id_at(row, 0, 1);
            let of = id_at(row, 3, 4);
            let kind = i64::from(row.get::<_, i16>(2));
            let Some(entry) = replayed(
                room,
                (id, kind, of),
                (row.get(5), row.get(6)),
                parse_message,
            )?
            else {
                continue;
            };
            entries.push(entry);
        }
        Ok(Page {
            entries,
            last: rows.last().map(|row| id_at(row, 0, 1)),
            full: rows.len() >= limit,
        })
    }

    pub async fn rooms(&self) -> anyhow::Result<Vec<RoomSummary>> {
        let client = self.client().await?;
        let query = client
            .prepare_cached(
                "SELECT name, message_ms FROM rooms WHERE message_ms IS NOT NULL
                 ORDER BY message_ms DESC LIMIT $1",
            )
            .await?;
        let rows = client.query(&query, &[&(ROOM_LIST_LIMIT as i64)]).await?;
        let rooms = rows
            .iter()
            .filter_map(|row| {
                let name = RoomName::parse(row.get(0)).ok()?;
                Some(RoomSummary {
                    name,
                    last_message_at: Some(rfc3339_millis(row.get::<_, i64>(1) as u64)),
                })
            })
            .collect();
        Ok(with_default_room(rooms))
    }

    /// Each room's newest entry, in the order asked.
    pub async fn newest(&self, rooms: &[RoomName]) -> anyhow::Result<Vec<Option<MessageId>>> {
        let client = self.client().await?;
        let names: Vec<&str> = rooms.iter().map(RoomName::as_str).collect();
        let query = client
            .prepare_cached("SELECT name, entry_ms, entry_seq FROM rooms WHERE name = ANY($1)")
            .await?;
        let rows = client.query(&query, &[&names]).await?;
        let found: std::collections::HashMap<&str, MessageId> = rows
            .iter()
            .map(|row| (row.get::<_, &str>(0), id_at(row, 1, 2)))
            .collect();
        Ok(names
            .iter()
            .map(|name| {
                found
                    .get(name)
                    .copied()
                    .filter(|id| *id != MessageId::new(0, 0))
            })
            .collect())
    }

    /// The session that holds the name `key`, and until when (wall ms).
    pub async fn hold(&self, key: &str) -> anyhow::Result<Option<(String, u64)>> {
        let client = self.client().await?;
        let query = client
            .prepare_cached("SELECT session_id, expires_ms FROM holds WHERE key = $1")
            .await?;
        let row = client.query_opt(&query, &[&key]).await?;
        Ok(row.map(|row| (row.get(0), row.get::<_, i64>(1) as u64)))
    }

    /// Writes every message as it stands (deleted ones left out), one `ChatMessage` JSON
    /// per line, oldest first: of one room, or of every room. Answers how many.
    pub async fn export(
        &self,
        room: Option<&RoomName>,
        out: &mut (impl std::io::Write + Send),
    ) -> anyhow::Result<u64> {
        use futures::TryStreamExt;
        let client = self.client().await?;
        let room = room.map(RoomName::as_str);
        let rows = client
            .query_raw(
                "SELECT body FROM messages WHERE NOT deleted AND ($1::text IS NULL OR room = $1)
                 ORDER BY ms, seq, room",
                [room],
            )
            .await?;
        futures::pin_mut!(rows);
        let mut count = 0;
        while let Some(row) = rows.try_next().await? {
            out.write_all(row.get::<_, &str>(0).as_bytes())?;
            out.write_all(b"\n")?;
            count += 1;
        }
        out.flush()?;
        Ok(count)
    }
}
