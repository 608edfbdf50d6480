//! `GET /api/rooms/{room}/events`: the live stream, with gap-free resume.
//!
//! A stream subscribes to the room's hub channel *before* it reads what to replay, so a
//! message published during the replay is both replayed and received live; it skips every
//! live message whose id is not newer than the last one it sent, so such a message goes
//! out exactly once.
//!
//! A replay is read from the broker in pages of [`REPLAY_PAGE`], one page per chunk the
//! client takes, so a resume from far back (or a subscriber that lagged) costs the server
//! one page of memory at a time, however much it has to catch up on.
//!
//! Frames are pre-encoded (see [`super::hub`]) and written as they are: axum's `Sse`
//! would build each event again for each subscriber.

use super::{
    broker::{After, Broker},
    error::Result,
    extract::{ApiQuery, RoomPath},
    hub::{Delivery, Subscription, message_frame, resync_frame},
    net::{ClientAddr, StreamSlot},
    session::Token,
    state::{AppState, Metrics},
};
use crate::message::{MessageId, RoomName};
use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use std::{convert::Infallible, sync::Arc, time::Duration};
use tokio::{
    sync::broadcast::error::{RecvError, TryRecvError},
    time::{Interval, MissedTickBehavior},
};

const RETRY: &[u8] = b"retry: 3000\n\n";
const PING: &[u8] = b": ping\n\n";
/// The most frames written as one chunk when a subscriber has fallen behind.
const MAX_BATCH: usize = 64;
/// Messages read from history per chunk when replaying.
pub const REPLAY_PAGE: usize = 100;
/// The keep-alive timer ticks this many times per keep-alive interval; a ping goes out at
/// the tick that completes an interval's worth of silent ticks, so within one interval of
/// silence (after 2/3 to 3/3 of it). Ticking instead of re-arming a timer per message
/// keeps timer-wheel work off the hot path.
const TICKS_PER_KEEPALIVE: u32 = 3;

#[derive(Deserialize)]
pub struct EventsQuery {
    last_event_id: Option<String>,
}

pub async fn events(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<EventsQuery>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Result<Response> {
    let slot = state.streams.open(client)?;
    // The header wins: the browser sends it on reconnect, while the URL still carries the
    // id of the first connect.
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id);
    // Listening is use: it keeps a signed-in person's name held. Off the response's path.
    if let Some(token) = Token::from_headers(&headers, &state.cookie.key) {
        let broker = Arc::clone(&state.broker);
        tokio::spawn(async move {
            let _ = broker.holds(&token.holder()).await;
        });
    }

    // Subscribed before the replay is read (the stream's first `catch_up`), so nothing
    // published in between is missed. A malformed id is an unknown one: 0-0 is never
    // retained, so it resyncs.
    let subscription = state.broker.hub().subscribe(&room);
    let resume_from = resume.map(|raw| raw.trim().parse::<MessageId>().unwrap_or_default());
    let stream = EventStream::new(
        room,
        subscription,
        Arc::clone(&state.broker),
        resume_from,
        &state,
        slot,
    );
    let body = futures::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), stream))
    });
    Ok(sse_response(Body::from_stream(body)))
}

fn sse_response(body: Body) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One subscriber's stream state.
struct EventStream {
    room: RoomName,
    subscription: Subscription,
    broker: Arc<dyn Broker>,
    /// The newest message id written to this subscriber.
    last_sent: Option<MessageId>,
    /// Whether `retry:` is still to be written (it goes first).
    greet: bool,
    /// Set while history holds more than this subscriber has been sent: the rest of a
    /// long replay, or what it missed when it lagged. Read before the next receive.
    behind: bool,
    keepalive: Interval,
    silent_ticks: u32,
    metrics: Metrics,
    /// This stream's place in the per-address count; freed when the stream ends.
    _slot: StreamSlot,
}

impl EventStream {
    /// A stream resuming after `resume_from`, if given, starts behind: its replay is
    /// read page by page by [`Self::catch_up`], like a lagging subscriber's.
    fn new(
        room: RoomName,
        subscription: Subscription,
        broker: Arc<dyn Broker>,
        resume_from: Option<MessageId>,
        state: &AppState,
        slot: StreamSlot,
    ) -> Self {
        let tick = state.keepalive / TICKS_PER_KEEPALIVE;
        let mut keepalive = tokio::time::interval_at(
            tokio::time::Instant::now() + tick,
            tick.max(Duration::from_millis(1)),
        );
        keepalive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        state.metrics.connections.increment(1.0);
        Self {
            room,
            subscription,
            broker,
            last_sent: resume_from,
            greet: true,
            behind: resume_from.is_some(),
            keepalive,
            silent_ticks: 0,
            metrics: state.metrics.clone(),
            _slot: slot,
        }
    }

    /// The next bytes to write, or `None` to end the stream.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if std::mem::take(&mut self.greet) {
            return Some(Bytes::from_static(RETRY));
        }
        loop {
            if std::mem::take(&mut self.behind) {
                match self.catch_up().await {
                    Some(chunk) if chunk.is_empty() => {}
                    chunk => return chunk,
                }
            }
            // Shutdown closes the hub, which ends `recv` with `Closed`.
            tokio::select! {
                biased;
                received = self.subscription.receiver.recv() => match received {
                    Ok(delivery) => {
                        if let Some(chunk) = self.batch(delivery) {
                            self.silent_ticks = 0;
                            return Some(chunk);
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.lag(),
                    Err(RecvError::Closed) => return None,
                },
                _ = self.keepalive.tick() => {
                    self.silent_ticks += 1;
                    if self.silent_ticks >= TICKS_PER_KEEPALIVE {
                        self.silent_ticks = 0;
                        return Some(Bytes::from_static(PING));
                    }
                }
            }
        }
    }

    /// Writes `delivery` and whatever else is already waiting, as one chunk; `None` when
    /// all of it was already sent.
    fn batch(&mut self, delivery: Delivery) -> Option<Bytes> {
        let mut single: Option<Bytes> = None;
        let mut many: Option<BytesMut> = None;
        let mut count: u64 = 0;
        let mut next = Some(delivery);
        while let Some(delivery) = next.take() {
            if let Delivery::Message { id, .. } = delivery {
                if self.last_sent.is_some_and(|last| id <= last) {
                    // Already sent during the replay.
                } else {
                    self.last_sent = Some(id);
                    count += 1;
                    push(&mut single, &mut many, delivery.frame());
                }
            } else {
                push(&mut single, &mut many, delivery.frame());
            }
            if count < MAX_BATCH as u64 {
                next = match self.subscription.receiver.try_recv() {
                    Ok(delivery) => Some(delivery),
                    Err(TryRecvError::Lagged(_)) => {
                        self.lag();
                        None
                    }
                    Err(TryRecvError::Empty | TryRecvError::Closed) => None,
                };
            }
        }
        self.metrics.delivered.increment(count);
        many.map(BytesMut::freeze).or(single)
    }

    /// The subscriber's buffer overflowed: what it missed comes from history.
    fn lag(&mut self) {
        self.metrics.lagged.increment(1);
        self.behind = true;
    }

    /// Writes the next page of history after the last message sent, or tells the client
    /// to resync when history no longer holds it. `None` ends the stream (the broker is
    /// unreachable; the browser reconnects with its Last-Event-ID).
    async fn catch_up(&mut self) -> Option<Bytes> {
        let from = self.last_sent.unwrap_or_default();
        match self.broker.after(&self.room, from, REPLAY_PAGE).await {
            Ok(After::Messages(page)) => {
                let mut chunk = BytesMut::new();
                for message in &page {
                    chunk.extend_from_slice(&message_frame(message));
                }
                if let Some(last) = page.last() {
                    self.last_sent = Some(last.id);
                }
                self.behind = page.len() == REPLAY_PAGE;
                self.metrics.delivered.increment(page.len() as u64);
                Some(chunk.freeze())
            }
            Ok(After::Resync { oldest }) => {
                // The client reloads history; from here on every live message is news
                // (an unknown id may even be from the future).
                self.last_sent = None;
                Some(resync_frame(&self.room, oldest))
            }
            Err(error) => {
                // The stream ends after `retry:`; the browser comes back in 3 s with its
                // Last-Event-ID (an error status would make it give up).
                tracing::warn!(room = %self.room, error = format!("{error:#}"), "cannot replay; ending the stream for the client to retry");
                None
            }
        }
    }
}

/// Appends a frame, copying only once there is more than one.
fn push(single: &mut Option<Bytes>, many: &mut Option<BytesMut>, frame: &Bytes) {
    if let Some(buffer) = many {
        buffer.extend_from_slice(frame);
    } else if let Some(first) = single.take() {
        let mut buffer = BytesMut::with_capacity((first.len() + frame.len()) * 4);
        buffer.extend_from_slice(&first);
        buffer.extend_from_slice(frame);
        *many = Some(buffer);
    } else {
        *single = Some(frame.clone());
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.metrics.connections.decrement(1.0);
    }
}
