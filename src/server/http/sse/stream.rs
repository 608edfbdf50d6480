//! One subscriber's stream over one or many rooms.
//!
//! Each room is a [`Feed`]: its hub subscription, the newest id written for it, and
//! whether history holds more than it was sent (the rest of a long replay, or what it
//! missed when it lagged). A live message whose id is not newer than the last one
//! written for its room was already sent during the replay, and is skipped: so a message
//! published during a replay goes out exactly once.
//!
//! A replay is read from the broker in pages of [`REPLAY_PAGE`], one page per chunk the
//! client takes, so a resume from far back (or a subscriber that lagged) costs the server
//! one page of memory at a time, however much it has to catch up on.
//!
//! Frames come pre-encoded from the hub, once per message for every subscriber, and are
//! written as they are. On the many-room stream a message's `id: <id>` line becomes
//! `id: <room>/<id>`: the room's prefix (made once per stream) and the rest of the same
//! shared frame are copied into the chunk, with no encoding per subscriber.

use crate::{
    message::{MessageId, RoomName},
    server::{
        broker::{
            After, Delivery, Subscription,
            frames::{resync_frame, room_frame},
            presence::Here,
        },
        chat::{Chat, Watch},
        http::net::StreamSlot,
        metrics::Metrics,
        state::AppState,
    },
};
use bytes::{Bytes, BytesMut};
use futures::{FutureExt, StreamExt, stream::SelectAll};
use std::{pin::Pin, sync::OnceLock, time::Duration};
use tokio::{
    sync::broadcast::error::{RecvError, TryRecvError},
    time::{Interval, MissedTickBehavior},
};
use tokio_util::sync::WaitForCancellationFutureOwned;

const PING: &[u8] = b": ping\n\n";
/// The most frames written as one chunk when a subscriber has fallen behind.
const MAX_BATCH: usize = 64;
/// Log entries (messages and changes) read per chunk when replaying.
pub const REPLAY_PAGE: usize = 100;
/// The keep-alive timer ticks this many times per keep-alive interval; a ping goes out at
/// the tick that completes an interval's worth of silent ticks, so within one interval of
/// silence (after 2/3 to 3/3 of it). Ticking instead of re-arming a timer per message
/// keeps timer-wheel work off the hot path.
const TICKS_PER_KEEPALIVE: u32 = 3;

/// One room of a stream.
pub struct Feed {
    room: RoomName,
    subscription: Option<Subscription>,
    /// The newest log entry id written for this room.
    last_sent: Option<MessageId>,
    /// Set while history holds more than this room was sent. Read before the next
    /// receive.
    behind: bool,
    /// `id: <room>/` on the many-room stream.
    id_prefix: Option<Bytes>,
    /// Whether the stream is `here` in the room: only then does it carry the room's
    /// awareness (presence, join, leave, typing), not only its log.
    here: bool,
}

impl Feed {
    /// A room resuming after `after`, if given, starts behind: its replay is read page by
    /// page, like a lagging subscriber's. Without, it is live from now: from the newest
    /// entry stored when it subscribed (its `floor`), even one still on its way here.
    pub fn new(
        room: RoomName,
        subscription: Subscription,
        after: Option<MessageId>,
        many: bool,
        here: bool,
    ) -> Self {
        let id_prefix = many.then(|| Bytes::from(format!("id: {room}/")));
        Self {
            room,
            last_sent: after.or(subscription.floor),
            subscription: Some(subscription),
            behind: after.is_some(),
            id_prefix,
            here,
        }
    }

    /// Appends a message frame, with its `id:` line as `id: <room>/<id>` on the many-room
    /// stream: built once per message by the first such stream (`shared`), cloned by the
    /// others; built here only for a replay, which no other stream shares.
    fn push_message(&self, out: &mut Out, frame: &Bytes, shared: Option<&OnceLock<Bytes>>) {
        match (&self.id_prefix, shared) {
            (None, _) => out.push(frame),
            (Some(prefix), Some(shared)) => {
                out.push(shared.get_or_init(|| room_frame(prefix, frame)));
            }
            (Some(prefix), None) => out.push(&room_frame(prefix, frame)),
        }
    }
}

type Received = (usize, Result<Delivery, RecvError>);

/// The rooms' live deliveries: one receiver, or many polled as one stream (only the
/// rooms that were woken are polled).
enum Receivers {
    One(Subscription),
    Many(SelectAll<Pin<Box<dyn futures::Stream<Item = Received> + Send>>>),
}

impl Receivers {
    fn new(feeds: &mut [Feed]) -> Self {
        if feeds.len() == 1 {
            return Self::One(feeds[0].subscription.take().expect("a fresh feed"));
        }
        let streams = feeds.iter_mut().enumerate().map(|(index, feed)| {
            let subscription = feed.subscription.take().expect("a fresh feed");
            let stream = futures::stream::unfold(subscription, move |mut s| async move {
                match s.receiver.recv().await {
                    Err(RecvError::Closed) => None,
                    received => Some(((index, received), s)),
                }
            });
            Box::pin(stream) as Pin<Box<dyn futures::Stream<Item = Received> + Send>>
        });
        Self::Many(futures::stream::select_all(streams))
    }

    /// The next delivery; `None` once the hub closed (shutdown).
    async fn recv(&mut self) -> Option<Received> {
        match self {
            Self::One(subscription) => match subscription.receiver.recv().await {
                Err(RecvError::Closed) => None,
                received => Some((0, received)),
            },
            Self::Many(all) => all.next().await,
        }
    }

    /// A delivery that is already waiting, if any.
    fn try_recv(&mut self) -> Option<Received> {
        match self {
            Self::One(subscription) => match subscription.receiver.try_recv() {
                Ok(delivery) => Some((0, Ok(delivery))),
                Err(TryRecvError::Lagged(n)) => Some((0, Err(RecvError::Lagged(n)))),
                Err(TryRecvError::Empty | TryRecvError::Closed) => None,
            },
            Self::Many(all) => all.next().now_or_never().flatten(),
        }
    }
}

/// Collects a chunk, copying only once there is more than one frame.
#[derive(Default)]
struct Out {
    single: Option<Bytes>,
    many: Option<BytesMut>,
}

impl Out {
    fn push(&mut self, frame: &Bytes) {
        if let Some(buffer) = &mut self.many {
            buffer.extend_from_slice(frame);
        } else if let Some(first) = self.single.take() {
            let mut buffer = BytesMut::with_capacity((first.len() + frame.len()) * 4);
            buffer.extend_from_slice(&first);
            buffer.extend_from_slice(frame);
            self.many = Some(buffer);
        } else {
            self.single = Some(frame.clone());
        }
    }

    fn finish(self) -> Option<Bytes> {
        self.many.map(BytesMut::freeze).or(self.single)
    }
}

/// One subscriber's stream state.
pub struct EventStream {
    feeds: Vec<Feed>,
    receivers: Receivers,
    chat: Chat,
    /// `retry:` and the rooms' presence, written first.
    greeting: Option<Bytes>,
    keepalive: Interval,
    silent_ticks: u32,
    metrics: Metrics,
    /// This stream's place in the per-address count; freed when the stream ends.
    _slot: StreamSlot,
    /// The person's presence in the rooms where they are here; ends when the stream does.
    here: Vec<Here>,
    /// Ready when the person's session no longer holds its name (none, for a stream
    /// without presence): the stream ends, and their presence at once. Made once and
    /// kept, so that a wake-up does not make it anew and register it again.
    ended: Option<Pin<Box<WaitForCancellationFutureOwned>>>,
    _watch: Option<Watch>,
}

impl EventStream {
    pub fn new(
        mut feeds: Vec<Feed>,
        greeting: Bytes,
        state: &AppState,
        slot: StreamSlot,
        here: Vec<Here>,
        watch: Option<Watch>,
    ) -> Self {
        let tick = state.keepalive / TICKS_PER_KEEPALIVE;
        let mut keepalive = tokio::time::interval_at(
            tokio::time::Instant::now() + tick,
            tick.max(Duration::from_millis(1)),
        );
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        state.metrics().connections.increment(1.0);
        let receivers = Receivers::new(&mut feeds);
        Self {
            feeds,
            receivers,
            chat: state.chat.clone(),
            greeting: Some(greeting),
            keepalive,
            silent_ticks: 0,
            metrics: state.metrics().clone(),
            _slot: slot,
            here,
            ended: watch
                .as_ref()
                .map(|w| Box::pin(w.ended.clone().cancelled_owned())),
            _watch: watch,
        }
    }

    /// The next bytes to write, or `None` to end the stream.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(greeting) = self.greeting.take() {
            return Some(greeting);
        }
        loop {
            if let Some(index) = self.feeds.iter().position(|f| f.behind) {
                self.feeds[index].behind = false;
                match self.catch_up(index).await {
                    Some(chunk) if chunk.is_empty() => continue,
                    chunk => return chunk,
                }
            }
            let ended = self.ended.as_mut();
            // Shutdown closes the hub, which ends `recv`.
            tokio::select! {
                biased;
                received = self.receivers.recv() => {
                    let received = received?;
                    if let Some(chunk) = self.batch(received) {
                        self.silent_ticks = 0;
                        return Some(chunk);
                    }
                }
                _ = self.keepalive.tick() => {
                    self.silent_ticks += 1;
                    if self.silent_ticks >= TICKS_PER_KEEPALIVE {
                        self.silent_ticks = 0;
                        return Some(Bytes::from_static(PING));
                    }
                }
                () = async move {
                    match ended {
                        Some(ended) => ended.await,
                        None => std::future::pending().await,
                    }
                } => {
                    for here in self.here.drain(..) {
                        here.leave_now();
                    }
                    return None;
                }
            }
        }
    }

    /// Writes `received` and whatever else is already waiting, as one chunk; `None` when
    /// all of it was already sent.
    fn batch(&mut self, received: Received) -> Option<Bytes> {
        let mut out = Out::default();
        let (mut messages, mut others): (u64, u64) = (0, 0);
        let mut next = Some(received);
        while let Some((index, received)) = next.take() {
            let feed = &mut self.feeds[index];
            match received {
                Ok(Delivery::Entry {
                    id,
                    frame,
                    room_frame,
                }) => {
                    if feed.last_sent.is_none_or(|last| id > last) {
                        feed.last_sent = Some(id);
                        messages += 1;
                        feed.push_message(&mut out, &frame, Some(&room_frame));
                    }
                }
                // Awareness of a room the stream is not here in: not this stream's.
                Ok(Delivery::Person { .. }) if !feed.here => {}
                // An entry whose frame did not fit the buffers: read from the log, from
                // the last one written here (or the one before it, if none was).
                Ok(Delivery::Skipped { id, previous }) => {
                    if feed.last_sent.is_none_or(|last| id > last) {
                        feed.last_sent.get_or_insert(previous);
                        feed.behind = true;
                        break;
                    }
                }
                Ok(delivery) => {
                    others += 1;
                    out.push(delivery.frame());
                }
                Err(_lagged) => {
                    // The buffer overflowed: what it missed comes from history.
                    self.metrics.lagged.increment(1);
                    feed.behind = true;
                    break;
                }
            }
            if messages + others < MAX_BATCH as u64 {
                next = self.receivers.try_recv();
            }
        }
        self.metrics.delivered.increment(messages);
        if others > 0 {
            self.metrics.awareness_delivered.increment(others);
        }
        out.finish()
    }

    /// Writes the next page of a room's history after the last message sent, or tells
    /// the client to resync when history no longer holds it. `None` ends the stream (the
    /// broker is unreachable; the client reconnects with its ids).
    async fn catch_up(&mut self, index: usize) -> Option<Bytes> {
        let feed = &mut self.feeds[index];
        let from = feed.last_sent.unwrap_or_default();
        match self.chat.replay(&feed.room, from, REPLAY_PAGE).await {
            Ok(After::Entries(page)) => {
                let mut out = Out::default();
                for entry in &page.entries {
                    feed.push_message(&mut out, &entry.frame(), None);
                }
                if let Some(last) = page.last {
                    feed.last_sent = Some(last);
                }
                feed.behind = page.full;
                self.metrics.delivered.increment(page.entries.len() as u64);
                Some(out.finish().unwrap_or_default())
            }
            Ok(After::Resync { oldest }) => {
                // The client reloads history; from here on every live message is news
                // (an unknown id may even be from the future).
                feed.last_sent = None;
                Some(resync_frame(&feed.room, oldest))
            }
            Err(error) => {
                // The stream ends after `retry:`; the browser comes back in 3 s with its
                // Last-Event-ID (an error status would make it give up).
                tracing::warn!(room = %feed.room, error = format!("{error:#}"), "cannot replay; ending the stream for the client to retry");
                None
            }
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.metrics.connections.decrement(1.0);
    }
}
