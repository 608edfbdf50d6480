//! The node's one Pub/Sub connection, and how it catches up after a reconnect.

use super::{
    CLOCK_SKEW_MS, COMMAND_TIMEOUT, LISTENER_PING_EVERY, ListenerState, RECONNECT_MAX,
    RECONNECT_MIN, Store, now_ms, parse, parse::Raw, presence,
};
use crate::{
    message::{MessageId, RoomName},
    server::broker::hub::Hub,
};
use anyhow::Context;
use futures::StreamExt;
use redis::{Client, Value};
use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};
use tokio_util::sync::CancellationToken;

/// The node's one Pub/Sub connection: subscribes to every room's channel, feeds the hub,
/// and after each (re)connect catches up the rooms open here from their streams.
pub(super) struct Listener {
    pub(super) client: Client,
    pub(super) store: Store,
    pub(super) hub: Arc<Hub>,
    pub(super) state: Arc<ListenerState>,
}

impl Listener {
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let mut delay = RECONNECT_MIN;
        loop {
            let session = self.subscribe_and_listen(&shutdown, &mut delay);
            let outcome = tokio::select! {
                outcome = session => outcome,
                () = shutdown.cancelled() => return,
            };
            self.state.healthy.store(false, Ordering::Release);
            if let Err(error) = outcome {
                metrics::counter!("chat_broker_errors_total").increment(1);
                tracing::warn!(error = format!("{error:#}"), retry_in = ?delay, "Redis Pub/Sub connection lost");
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
    }

    /// One connection's life. Returns only with the error that ended it.
    async fn subscribe_and_listen(
        &self,
        shutdown: &CancellationToken,
        delay: &mut Duration,
    ) -> anyhow::Result<()> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .context("connecting for Pub/Sub timed out")?
            .context("connecting for Pub/Sub")?;
        let (mut sink, mut stream) = pubsub.split();
        let pattern = self.store.keys.live_pattern();
        tokio::time::timeout(COMMAND_TIMEOUT, sink.psubscribe(&pattern))
            .await
            .context("PSUBSCRIBE timed out")?
            .context("PSUBSCRIBE")?;
        // Messages arriving from now on queue up in `stream` while we catch up, and the
        // hub drops those that the catch-up already delivered.
        self.catch_up().await?;
        self.state.healthy.store(true, Ordering::Release);
        self.state.last_ok_ms.store(now_ms(), Ordering::Release);
        *delay = RECONNECT_MIN;
        tracing::info!(%pattern, "subscribed to Redis Pub/Sub");

        let mut ping = tokio::time::interval(LISTENER_PING_EVERY);
        ping.reset();
        loop {
            tokio::select! {
                message = stream.next() => {
                    let message = message.context("the Pub/Sub connection closed")?;
                    if let Some(room) = self.store.keys.room_of_channel(message.get_channel_name()) {
                        deliver(&self.store, &self.hub, room, message.get_payload_bytes()).await;
                    }
                }
                _ = ping.tick() => {
                    // In subscribed mode (RESP2) the answer is `["pong", ""]`, not
                    // `PONG`: any answer will do.
                    let _: Value = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping())
                        .await
                        .context("Pub/Sub ping timed out")?
                        .context("Pub/Sub ping")?;
                    self.state.last_ok_ms.store(now_ms(), Ordering::Release);
                    if let Some(chain) = &self.store.chain {
                        chain.sweep().await;
                    }
                }
                () = shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// Delivers what each room open on this node missed while the subscription was down,
    /// or tells its subscribers to resync when the stream no longer holds all of it.
    async fn catch_up(&self) -> anyhow::Result<()> {
        let floor = self.state.last_ok_ms.load(Ordering::Acquire);
        catch_up(&self.store, &self.hub, &self.hub.active_rooms(), floor).await
    }
}

/// Hands a room's Pub/Sub payload to the hub: a log entry, a person's event or a
/// presence; an entry that names the one before it (PostgreSQL keeps the log) in order,
/// through the chain. A malformed one is logged and dropped.
pub(super) async fn deliver(store: &Store, hub: &Hub, room: RoomName, payload: &[u8]) {
    if let Some(chained) = payload.strip_prefix(parse::CHAINED)
        && let Some(chain) = &store.chain
    {
        match parse::chained(room, chained) {
            Ok((previous, entry)) => chain.deliver(previous, entry).await,
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "ignoring a malformed Pub/Sub message"
            ),
        }
        return;
    }
    let parsed = if let Some(presence) = presence::parse_presence(&room, payload) {
        presence.map(|presence| hub.presence(&presence))
    } else if let Some(person) = presence::parse_person(payload) {
        person.map(|(kind, name)| hub.person(kind, &room, &name))
    } else {
        parse::live(room, payload).map(|entry| {
            hub.dispatch(&entry);
        })
    };
    if let Err(error) = parsed {
        tracing::warn!(
            error = format!("{error:#}"),
            "ignoring a malformed Pub/Sub message"
        );
    }
}

/// Delivers what each of `rooms` (with the newest id delivered there) missed while its
/// subscription was down, from `floor_ms` for a room that has had no message since it
/// opened; or tells its subscribers to resync when the stream no longer holds all of it.
/// Then sends each room's presence as it stands.
pub(super) async fn catch_up(
    store: &Store,
    hub: &Hub,
    rooms: &[(RoomName, Option<MessageId>)],
    floor_ms: u64,
) -> anyhow::Result<()> {
    let floor = floor_ms.saturating_sub(CLOCK_SKEW_MS);
    for (room, last) in rooms.iter().cloned() {
        if let Some(chain) = &store.chain {
            // The database holds every entry: what was missed is after the last one
            // delivered here, whatever Redis lost.
            chain.fill(&room).await;
            continue;
        }
        let from = last.unwrap_or(MessageId::new(floor, 0));
        // Bounded by the stream's MAXLEN: this runs per room open on this node after a
        // reconnect, not on a client's request.
        let raws = store.range_from(&room, from, None).await?;
        let retained = raws.first().is_some_and(|e| e.id() == from);
        if let Some(last) = last
            && !retained
            && !raws.is_empty()
            && store.max_deleted(&room).await?.is_some_and(|d| d > last)
        {
            tracing::warn!(%room, "missed messages are no longer retained; resyncing the room");
            hub.resync(&room, raws.first().map(Raw::id));
            continue;
        }
        let entries = store.resolve(&room, &raws).await?;
        let missed = entries.iter().filter(|m| hub.dispatch(m)).count();
        if missed > 0 {
            metrics::counter!("chat_broker_caught_up_total").increment(missed as u64);
            tracing::info!(%room, missed, "caught up after reconnecting to Redis");
        }
    }
    // Joins, leaves and typing are not logged: what went out while the subscription
    // was down is lost, so each room's listeners get its presence as it stands now.
    // After the messages, and best effort: the nodes' refreshes repair it too.
    for (room, _) in rooms {
        match store.presence(room).await {
            Ok(presence) => hub.presence(&presence),
            Err(error) => {
                tracing::warn!(%room, error = format!("{error:#}"), "cannot resend presence");
            }
        }
    }
    Ok(())
}
