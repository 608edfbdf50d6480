//! The SSE frames of the live events, each encoded once, where it is made, and shared by
//! every stream that writes it.

use crate::{
    awareness::{PersonEvent, PersonEventKind, Presence},
    message::{DisplayName, MessageId, Resync, RoomName},
};
use bytes::Bytes;

/// A message frame with its `id:` line as `id: <room>/<id>`: the room's `id: <room>/`
/// prefix, then the frame after its `id: `.
pub fn room_frame(prefix: &[u8], frame: &[u8]) -> Bytes {
    let rest = &frame[b"id: ".len()..];
    let mut out = Vec::with_capacity(prefix.len() + rest.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(rest);
    Bytes::from(out)
}

/// Encodes `event: resync`.
pub fn resync_frame(room: &RoomName, oldest: Option<MessageId>) -> Bytes {
    let data = Resync {
        room: room.clone(),
        oldest,
    };
    let json = serde_json::to_string(&data).expect("a Resync always serializes");
    Bytes::from(format!("event: resync\ndata: {json}\n\n"))
}

/// Encodes `event: join`, `leave` or `typing`.
pub fn person_frame(kind: PersonEventKind, room: &RoomName, name: &DisplayName) -> Bytes {
    let data = PersonEvent {
        room: room.clone(),
        name: name.clone(),
    };
    let json = serde_json::to_string(&data).expect("a PersonEvent always serializes");
    Bytes::from(format!("event: {}\ndata: {json}\n\n", kind.as_str()))
}

/// Encodes `event: presence`.
pub fn presence_frame(presence: &Presence) -> Bytes {
    let json = serde_json::to_string(presence).expect("a Presence always serializes");
    Bytes::from(format!("event: presence\ndata: {json}\n\n"))
}
