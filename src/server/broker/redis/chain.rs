//! When PostgreSQL keeps the chat and Redis only carries it live (`postgres`): each log
//! entry is published after its commit, naming the entry before it in its room, and
//! this node delivers it only after that one. The commits of a room are ordered (every
//! writer locks the room's row first), but the publishes of two nodes are not: node A
//! may commit 5 and node B commit 6 after it, yet B's publish may reach Redis first, or
//! A may die between its commit and its publish. So an entry whose predecessor was not
//! delivered here is a gap, filled from the database (where the predecessor is already
//! committed, since it committed first) before the entry is sent: no listener ever
//! sees 6 and then misses 5. A gap with no later entry to reveal it (the last publish
//! lost) is found by [`Chain::sweep`], which compares every room open here with the
//! database every few seconds, and after each reconnect to Redis.
//!
//! Every fill runs under one lock, and a live entry is sent by itself only when it
//! extends the chain exactly ([`Hub::dispatch_chained`], under the hub's lock), so the
//! two never interleave out of order.

use crate::{
    message::{MessageId, RoomName},
    server::broker::{
        Backfill,
        hub::{Chained, Hub},
        log::Entry,
    },
};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How many entries one read of a fill takes.
const FILL_PAGE: usize = 256;
/// A room that missed more than this many entries is told to reload its history
/// instead (its streams read it from the database themselves).
const FILL_MAX: usize = 4096;

pub(in crate::server::broker) struct Chain {
    backfill: Arc<dyn Backfill>,
    hub: Arc<Hub>,
    filling: Mutex<()>,
}

impl Chain {
    pub(super) fn new(backfill: Arc<dyn Backfill>, hub: Arc<Hub>) -> Self {
        Self {
            backfill,
            hub,
            filling: Mutex::new(()),
        }
    }

    pub(super) fn backfill(&self) -> &dyn Backfill {
        &*self.backfill
    }

    /// A live entry, with the id of the entry before it in its room.
    pub(super) async fn deliver(&self, previous: Option<MessageId>, entry: Entry) {
        if self.hub.dispatch_chained(previous, &entry) != Chained::Gap {
            return;
        }
        metrics::counter!("chat_chain_gaps_total").increment(1);
        if !self.fill(entry.room()).await {
            // The database did not answer: the entry goes out all the same, and what
            // came before it reaches each stream when it reconnects.
            self.hub.dispatch(&entry);
        }
    }

    /// Delivers the room's kept entries after the last one delivered here, in order.
    /// Returns whether the database answered.
    pub(super) async fn fill(&self, room: &RoomName) -> bool {
        let _filling = self.filling.lock().await;
        let mut filled = 0;
        loop {
            let Some(last) = self.hub.last_of(room) else {
                return true;
            };
            let page = match self.backfill.entries_after(room, last, FILL_PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%room, error = format!("{error:#}"), "cannot read missed entries");
                    return false;
                }
            };
            for entry in &page.entries {
                self.hub.dispatch(entry);
            }
            if let Some(read) = page.last {
                self.hub.advance(room, read);
            }
            filled += page.entries.len();
            if !page.full {
                return true;
            }
            if filled >= FILL_MAX {
                tracing::warn!(%room, "too much missed to send live; resyncing the room");
                self.hub.resync(room, None);
                return true;
            }
        }
    }

    /// Fills every room open here that the database holds newer entries of: what a lost
    /// publish, or a reconnect to Redis, left behind.
    pub(super) async fn sweep(&self) {
        let rooms: Vec<(RoomName, Option<MessageId>)> = self.hub.active_rooms();
        if rooms.is_empty() {
            return;
        }
        let names: Vec<RoomName> = rooms.iter().map(|(room, _)| room.clone()).collect();
        let newest = match self.backfill.newest(&names).await {
            Ok(newest) => newest,
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot read the rooms' newest entries"
                );
                return;
            }
        };
        for ((room, last), newest) in rooms.into_iter().zip(newest) {
            if newest > last {
                self.fill(&room).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        message::{ChatMessage, DisplayName},
        server::broker::{
            Page,
            hub::{Budget, Delivery},
        },
    };
    use async_trait::async_trait;
    use std::sync::Mutex as StdMutex;

    /// What the database would hold: one room's entries, in commit order.
    struct Kept(StdMutex<Vec<Entry>>);

    #[async_trait]
    impl Backfill for Kept {
        async fn newest(&self, rooms: &[RoomName]) -> anyhow::Result<Vec<Option<MessageId>>> {
            let last = self.0.lock().unwrap().last().map(Entry::id);
            Ok(rooms.iter().map(|_| last).collect())
        }

        async fn entries_after(
            &self,
            _room: &RoomName,
            after: Option<MessageId>,
            limit: usize,
        ) -> anyhow::Result<Page> {
            let entries: Vec<Entry> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|entry| after.is_none_or(|after| entry.id() > after))
                .take(limit)
                .cloned()
                .collect();
            Ok(Page::of(entries, limit))
        }
    }

    fn entry(ms: u64) -> Entry {
        Entry::Message(ChatMessage::new(
            MessageId::new(ms, 0),
            RoomName::everyone(),
            DisplayName::parse("ann").unwrap(),
            format!("message {ms}"),
        ))
    }

    fn id(ms: u64) -> Option<MessageId> {
        Some(MessageId::new(ms, 0))
    }

    /// A chain over a room whose kept entries are `1..=kept`, with a subscriber whose
    /// chain starts at `start`.
    fn chain(kept: u64, start: u64) -> (Chain, Arc<Kept>, crate::server::broker::Subscription) {
        let hub = Hub::new(
            64,
            Budget {
                total: 1 << 20,
                per_room: 1 << 20,
            },
        );
        let subscription = hub.subscribe_from(&RoomName::everyone(), id(start));
        let store = Arc::new(Kept(StdMutex::new((1..=kept).map(entry).collect())));
        (
            Chain::new(Arc::clone(&store) as _, hub),
            store,
            subscription,
        )
    }

    fn delivered(subscription: &mut crate::server::broker::Subscription) -> Vec<u64> {
        let mut ids = Vec::new();
        while let Ok(delivery) = subscription.receiver.try_recv() {
            if let Delivery::Entry { id, .. } = delivery {
                ids.push(id.ms);
            }
        }
        ids
    }

    #[tokio::test]
    async fn an_entry_past_a_missing_one_waits_for_it_from_the_database() {
        // 5 and 6 are committed; 6's publish arrives before 5's.
        let (chain, _, mut subscription) = chain(6, 4);
        chain.deliver(id(5), entry(6)).await;
        assert_eq!(delivered(&mut subscription), [5, 6], "5 first, read back");
        chain.deliver(id(4), entry(5)).await;
        chain.deliver(id(5), entry(6)).await;
        assert_eq!(delivered(&mut subscription), Vec::<u64>::new(), "each once");
    }

    #[tokio::test]
    async fn entries_in_order_go_out_without_reading_the_database() {
        let (chain, store, mut subscription) = chain(4, 4);
        // Nothing kept past 4: had the chain read, it would have found nothing to send.
        store.0.lock().unwrap().clear();
        for ms in 5..=7 {
            chain.deliver(id(ms - 1), entry(ms)).await;
        }
        assert_eq!(delivered(&mut subscription), [5, 6, 7]);
    }

    #[tokio::test]
    async fn a_lost_last_publish_is_found_by_the_sweep() {
        // 5 was committed by a node that died before it published.
        let (chain, _, mut subscription) = chain(5, 4);
        chain.sweep().await;
        assert_eq!(delivered(&mut subscription), [5]);
        chain.sweep().await;
        assert_eq!(delivered(&mut subscription), Vec::<u64>::new());
    }
}
