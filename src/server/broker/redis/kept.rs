//! What Redis does for a chat that PostgreSQL keeps (`postgres`): the checks before a
//! write (the hold, the post limit, the new-room limits), the live publish of what was
//! committed, the room's chain for a new subscription, and putting back the hold of a
//! name that a Redis restart lost.

use super::{Chain, Conn, RedisBroker, parse, unavailable};
use crate::{
    message::{DisplayName, MessageId, RoomName},
    server::broker::{BrokerResult, Holder, Subscription, log::Entry},
};
use anyhow::Context;
use std::net::IpAddr;

impl RedisBroker {
    /// Checks a post before it is written: whether it makes a new room (one the chat
    /// has room for; the address's new-room limit counted), then the author's hold and
    /// limits. Answers whether the room is new.
    pub async fn admit_post(
        &self,
        author: &Holder,
        room: &RoomName,
        client: IpAddr,
    ) -> BrokerResult<bool> {
        let new_room = self.is_new_room(room, client).await?;
        self.admit(author, new_room).await?;
        Ok(new_room)
    }

    /// Checks a write to a room that has messages (a change, or a post to a room known
    /// to exist) before it is written: the author's hold and post limit.
    pub async fn admit_write(&self, author: &Holder) -> BrokerResult<()> {
        self.admit(author, false).await
    }

    /// Publishes committed entries, each with the room's entry before it, in order; and
    /// puts the rooms of new messages in the room index. Best effort: what does not
    /// reach Redis reaches each node's listeners from the database ([`Chain::sweep`]).
    pub async fn publish_kept(&self, entries: &[(Option<MessageId>, Entry)]) {
        if let Err(error) = self.try_publish_kept(entries).await {
            metrics::counter!("chat_broker_errors_total").increment(1);
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot publish committed entries; listeners catch up from the database"
            );
        }
    }

    async fn try_publish_kept(&self, entries: &[(Option<MessageId>, Entry)]) -> anyhow::Result<()> {
        let publish = if self.cluster.is_some() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        let commands = entries.iter().map(|(previous, entry)| {
            let mut command = redis::cmd(publish);
            command
                .arg(self.keys.live(entry.room()))
                .arg(parse::encode_chained(*previous, entry));
            command
        });
        let indexed = entries.iter().filter_map(|(_, entry)| match entry {
            Entry::Message(message) => {
                let mut command = redis::cmd("ZADD");
                command
                    .arg(self.keys.rooms())
                    .arg(message.id.ms)
                    .arg(message.room.as_str());
                Some(command)
            }
            _ => None,
        });
        match &self.connection {
            Conn::Single(_) => {
                let mut pipe = redis::pipe();
                for command in commands.chain(indexed) {
                    pipe.add_command(command).ignore();
                }
                let () = pipe
                    .query_async(&mut self.connection.clone())
                    .await
                    .context("publishing")?;
            }
            // One at a time, in order: a room's entries go to its own master.
            Conn::Cluster(_) => {
                for command in commands.chain(indexed) {
                    let _: redis::Value = command
                        .query_async(&mut self.connection.clone())
                        .await
                        .context("publishing")?;
                }
            }
        }
        Ok(())
    }

    /// Holds `name` for `session_id` again, for `ttl_ms`, unless Redis holds it for
    /// someone already: the database said it is this session's.
    pub async fn restore_hold(
        &self,
        name: &DisplayName,
        session_id: &str,
        ttl_ms: u64,
    ) -> BrokerResult<()> {
        let _: Option<String> = redis::cmd("SET")
            .arg(self.keys.of_name(name).hold)
            .arg(session_id)
            .arg("PX")
            .arg(ttl_ms.max(1))
            .arg("NX")
            .query_async(&mut self.connection.clone())
            .await
            .context("restoring a hold")
            .map_err(unavailable)?;
        Ok(())
    }

    /// [`Bus::subscribe`](crate::server::broker::Bus::subscribe) when the database keeps
    /// the log: each room new here starts its chain at its newest kept entry, read
    /// before it is subscribed (so the chain misses nothing after it); each
    /// subscription's floor is its room's newest entry once subscribed.
    pub(super) async fn subscribe_chained(
        &self,
        chain: &Chain,
        rooms: &[RoomName],
    ) -> Vec<Subscription> {
        let newest = |what: &'static str| async move {
            match chain.backfill().newest(rooms).await {
                Ok(newest) => newest,
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "cannot read {what}");
                    vec![None; rooms.len()]
                }
            }
        };
        let starts = newest("where the rooms' chains start").await;
        let mut subscriptions: Vec<Subscription> = rooms
            .iter()
            .zip(starts)
            .map(|(room, start)| self.hub.subscribe_from(room, start))
            .collect();
        if let Some(cluster) = &self.cluster {
            cluster.shards.watch(rooms).await;
        }
        for (subscription, floor) in subscriptions
            .iter_mut()
            .zip(newest("the rooms' newest entries").await)
        {
            subscription.floor = floor;
        }
        subscriptions
    }
}
