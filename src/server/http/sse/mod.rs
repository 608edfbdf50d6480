//! The live streams: `GET /api/rooms/{room}/events` (one room) and `GET /api/events`
//! (up to 50 rooms, ids `<room>/<id>`), with gap-free resume per room and presence.
//!
//! A stream listens to its rooms ([`Chat::listen`](crate::server::chat::Chat::listen): subscribed before anything is read,
//! its person present where they are here, each room's presence read) and only then
//! answers: so the `presence` events come first (before any replay), and nothing
//! published meanwhile is missed. The replay itself is read page by page by
//! [`stream::EventStream`].

mod stream;

pub use stream::REPLAY_PAGE;

use super::{
    cookie::Token,
    error::{Error, Result},
    extract::{ApiQuery, RoomPath},
    net::ClientAddr,
};
use crate::{
    awareness::{StreamRequest, StreamRequestError, StreamRoom, parse_stream_event_id},
    message::{InvalidRoom, MessageId, RoomName},
    server::{broker::frames::presence_frame, state::AppState},
};
use axum::{
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use std::convert::Infallible;
use stream::{EventStream, Feed};

const RETRY: &[u8] = b"retry: 3000\n\n";

#[derive(Deserialize)]
pub struct RoomEventsQuery {
    last_event_id: Option<String>,
}

/// `GET /api/rooms/{room}/events`.
pub async fn room_events(
    State(state): State<AppState>,
    RoomPath(room): RoomPath,
    ApiQuery(query): ApiQuery<RoomEventsQuery>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response> {
    // The header wins: the browser sends it on reconnect, while the URL still carries the
    // id of the first connect. A malformed id is an unknown one: 0-0 is never retained,
    // so it resyncs.
    let after = last_event_id(&headers)
        .or(query.last_event_id)
        .map(|raw| raw.trim().parse::<MessageId>().unwrap_or_default());
    let request = StreamRequest {
        rooms: vec![StreamRoom { room, after }],
        here: vec![0],
    };
    open(state, request, false, client, headers).await
}

#[derive(Deserialize)]
pub struct EventsQuery {
    rooms: Option<String>,
    here: Option<String>,
}

/// `GET /api/events?rooms=<room>[:<id>],...&here=<room>,...`.
pub async fn events(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<EventsQuery>,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response> {
    let mut request =
        StreamRequest::parse(query.rooms.as_deref(), query.here.as_deref()).map_err(|error| {
            match error {
                StreamRequestError::Malformed(why) => Error::BadRequest(why),
                StreamRequestError::InvalidRoom(_) => Error::InvalidRoom(InvalidRoom),
            }
        })?;
    // `Last-Event-ID: <room>/<id>` replaces that room's id (a browser's own reconnect).
    if let Some((room, id)) = last_event_id(&headers).and_then(|raw| parse_stream_event_id(&raw))
        && let Some(entry) = request.rooms.iter_mut().find(|r| r.room == room)
    {
        entry.after = Some(id);
    }
    open(state, request, true, client, headers).await
}

fn last_event_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn open(
    state: AppState,
    request: StreamRequest,
    many: bool,
    client: ClientAddr,
    headers: HeaderMap,
) -> Result<Response> {
    let slot = state
        .streams
        .open(client.limit_key(), request.rooms.len())?;
    let rooms: Vec<RoomName> = request.rooms.iter().map(|r| r.room.clone()).collect();
    // A person is a session that holds its name. The signature is checked here; the
    // hold is checked (and extended: listening is use) by the chat as it listens.
    let person = Token::from_headers(&headers, &state.cookie).map(|token| token.holder());
    let listening = state.chat.listen(&rooms, &request.here, person).await;
    let feeds: Vec<Feed> = request
        .rooms
        .iter()
        .zip(listening.subscriptions)
        .enumerate()
        .map(|(index, (StreamRoom { room, after }, subscription))| {
            let here = request.here.contains(&index);
            Feed::new(room.clone(), subscription, *after, many, here)
        })
        .collect();
    let mut greeting = BytesMut::from(RETRY);
    for (presence, room) in listening.presences.into_iter().zip(&rooms) {
        let Some(presence) = presence else { continue };
        match presence {
            Ok(presence) => greeting.extend_from_slice(&presence_frame(&presence)),
            // The stream still opens (and ends, for the client to come back, if it must
            // replay); a stream without its `presence` keeps what the page has.
            Err(error) => {
                tracing::warn!(%room, error = format!("{error:#}"), "cannot read presence");
            }
        }
    }
    let stream = EventStream::new(
        feeds,
        greeting.freeze(),
        &state,
        slot,
        listening.here,
        listening.watch,
    );
    let body = futures::stream::unfold(stream, |mut stream| async move {
        let chunk: Bytes = stream.next_chunk().await?;
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
