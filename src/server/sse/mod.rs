//! The live streams: `GET /api/rooms/{room}/events` (one room) and `GET /api/events`
//! (up to 50 rooms, ids `<room>/<id>`), with gap-free resume per room and presence.
//!
//! A stream subscribes to each room's hub channel, registers its person in the rooms
//! where they are present, reads each room's presence, and only then answers: so the
//! `presence` events come first (before any replay), and nothing published meanwhile is
//! missed. The replay itself is read page by page by [`stream::EventStream`].

mod stream;

pub use stream::REPLAY_PAGE;

use super::broker::BrokerResult;
use super::{
    error::{Error, Result},
    extract::{ApiQuery, RoomPath},
    hub::presence_frame,
    net::ClientAddr,
    session::{Session, Token},
    state::AppState,
};
use crate::{
    awareness::{Presence, StreamRequest, StreamRequestError, StreamRoom, parse_stream_event_id},
    message::{InvalidRoom, MessageId},
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
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
) -> Result<Response> {
    let slot = state.streams.open(client, request.rooms.len())?;
    let hub = state.broker.hub();
    // Subscribed before anything is read, so that nothing published meanwhile is missed.
    let feeds: Vec<Feed> = request
        .rooms
        .iter()
        .map(|StreamRoom { room, after }| {
            Feed::new(room.clone(), hub.subscribe(room), *after, many)
        })
        .collect();
    // A person is a session that holds its name; checking it is use, and keeps it held.
    // Anonymous listeners (and revoked cookies) listen without being present. The check
    // runs while the rooms where nobody is being made present are read.
    let verify = async {
        if request.here.is_empty() {
            // Listening is use even where one is not present: it keeps the name held.
            // Off the response's path.
            if let Some(token) = Token::from_headers(&headers, &state.cookie.key) {
                let broker = std::sync::Arc::clone(&state.broker);
                tokio::spawn(async move {
                    let _ = broker.holds(&token.holder()).await;
                });
            }
            return None;
        }
        // While the broker is down the stream still opens, as an anonymous one.
        match Session::verify(&state, &headers).await {
            Ok(session) => session.map(|s| s.0.name),
            Err(error) => {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "cannot check the session; listening anonymously"
                );
                None
            }
        }
    };
    let elsewhere = futures::future::join_all(
        (0..request.rooms.len())
            .filter(|index| !request.here.contains(index))
            .map(|index| {
                let broker = &state.broker;
                let room = &request.rooms[index].room;
                async move { (index, broker.presence(room).await) }
            }),
    );
    let (person, elsewhere) = futures::join!(verify, elsewhere);
    let mut presences: Vec<Option<BrokerResult<Presence>>> =
        (0..request.rooms.len()).map(|_| None).collect();
    for (index, presence) in elsewhere {
        presences[index] = Some(presence);
    }
    // Where the person is here: their first stream to a room enters them and reads the
    // presence in one step; otherwise (a second tab, or nobody) it is read.
    let mut present = Vec::new();
    for &index in &request.here {
        let room = &request.rooms[index].room;
        let mut entered = None;
        if let Some(name) = &person {
            let (here, presence) = state.presence.arrive(room, name).await;
            present.push(here);
            entered = presence;
        }
        presences[index] = Some(match entered {
            Some(presence) => Ok(presence),
            None => state.broker.presence(room).await,
        });
    }
    let mut greeting = BytesMut::from(RETRY);
    for (presence, room) in presences.iter().zip(&request.rooms) {
        match presence.as_ref().expect("every room's presence was read") {
            Ok(presence) => greeting.extend_from_slice(&presence_frame(presence)),
            // The stream still opens (and ends, for the client to come back, if it must
            // replay); a stream without its `presence` keeps what the page has.
            Err(error) => {
                tracing::warn!(room = %room.room, error = format!("{error:#}"), "cannot read presence");
            }
        }
    }
    let stream = EventStream::new(feeds, greeting.freeze(), &state, slot, present);
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
