//! Wire types of room awareness (`docs/API.md`, "Presence and typing" and "One stream for
//! many rooms"), shared by the server and the browser, and the `@name` mention rules of
//! "Rendering".

use crate::message::{DisplayName, MessageId, RoomName};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The most names an `online` list carries; `count` says how many there are in all.
pub const ONLINE_LIST_LIMIT: usize = 100;
/// While a room has more people online than this, `join` and `leave` are not sent.
pub const JOIN_LEAVE_LIMIT: usize = 100;
/// The most rooms one `GET /api/events` stream carries.
pub const MAX_STREAM_ROOMS: usize = 50;
/// `POST .../typing` fans out at most once per person per room in this window.
pub const TYPING_THROTTLE_MS: u64 = 2_000;

/// `event: presence` and `GET /api/rooms/{room}/presence`: who is in a room now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub room: RoomName,
    /// At most [`ONLINE_LIST_LIMIT`] names, sorted case-insensitively.
    pub online: Vec<DisplayName>,
    /// Everyone online.
    pub count: usize,
}

/// The data of `event: join`, `event: leave` and `event: typing`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonEvent {
    pub room: RoomName,
    pub name: DisplayName,
}

/// The three events about a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersonEventKind {
    Join,
    Leave,
    Typing,
}

impl PersonEventKind {
    /// The SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Join => "join",
            Self::Leave => "leave",
            Self::Typing => "typing",
        }
    }
}

/// Reads a `<room>/<id>` event id of `GET /api/events` (the server writes them as
/// `id: <room>/` before a message's own id; see `server::http::sse`).
pub fn parse_stream_event_id(raw: &str) -> Option<(RoomName, MessageId)> {
    let (room, id) = raw.trim().split_once('/')?;
    Some((RoomName::parse(room).ok()?, id.parse().ok()?))
}

/// One entry of `rooms=`: a room, and the id to resume after, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRoom {
    pub room: RoomName,
    pub after: Option<MessageId>,
}

/// What a `GET /api/events` query asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRequest {
    pub rooms: Vec<StreamRoom>,
    /// Indexes into `rooms` of the rooms where the person is present.
    pub here: Vec<usize>,
}

/// Why a `GET /api/events` query was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamRequestError {
    /// `400 bad_request`.
    #[error("{0}")]
    Malformed(String),
    /// `400 invalid_room`.
    #[error("{0:?} is not a room name")]
    InvalidRoom(String),
}

impl StreamRequest {
    /// Parses `rooms=<room>[:<id>],...` and `here=<room>,...` (already percent-decoded).
    /// Every room appears once; `here` must be among `rooms`; at most
    /// [`MAX_STREAM_ROOMS`].
    pub fn parse(rooms: Option<&str>, here: Option<&str>) -> Result<Self, StreamRequestError> {
        let malformed = |why: &str| StreamRequestError::Malformed(why.to_owned());
        let rooms_raw = rooms.ok_or_else(|| malformed("rooms is required"))?;
        if rooms_raw.is_empty() {
            return Err(malformed("rooms must list at least one room"));
        }
        let mut rooms: Vec<StreamRoom> = Vec::new();
        for (index, entry) in rooms_raw.split(',').enumerate() {
            if index >= MAX_STREAM_ROOMS {
                return Err(StreamRequestError::Malformed(format!(
                    "rooms lists more than {MAX_STREAM_ROOMS} rooms"
                )));
            }
            let (name, after) = match entry.split_once(':') {
                Some((name, id)) => {
                    let id = id.parse::<MessageId>().map_err(|_| {
                        StreamRequestError::Malformed(format!(
                            "{entry:?} is not <room>[:<message id>]"
                        ))
                    })?;
                    (name, Some(id))
                }
                None => (entry, None),
            };
            let room = room_of(name)?;
            if rooms.iter().any(|r| r.room == room) {
                return Err(StreamRequestError::Malformed(format!(
                    "rooms lists {room} twice"
                )));
            }
            rooms.push(StreamRoom { room, after });
        }
        let mut here_indexes = Vec::new();
        for name in here
            .filter(|h| !h.is_empty())
            .into_iter()
            .flat_map(|h| h.split(','))
        {
            let room = room_of(name)?;
            let index = rooms.iter().position(|r| r.room == room).ok_or_else(|| {
                StreamRequestError::Malformed(format!("here lists {room}, which is not in rooms"))
            })?;
            if !here_indexes.contains(&index) {
                here_indexes.push(index);
            }
        }
        Ok(Self {
            rooms,
            here: here_indexes,
        })
    }

    /// The query string for this request, as the browser sends it.
    pub fn to_query(&self) -> String {
        let rooms: Vec<String> = self
            .rooms
            .iter()
            .map(|r| match r.after {
                Some(id) => format!("{}:{id}", r.room),
                None => r.room.to_string(),
            })
            .collect();
        let mut query = format!("rooms={}", rooms.join(","));
        if !self.here.is_empty() {
            let here: Vec<&str> = self
                .here
                .iter()
                .map(|&i| self.rooms[i].room.as_str())
                .collect();
            query.push_str("&here=");
            query.push_str(&here.join(","));
        }
        query
    }
}

fn room_of(raw: &str) -> Result<RoomName, StreamRequestError> {
    if raw.is_empty() {
        return Err(StreamRequestError::Malformed(
            "an empty room in a list".into(),
        ));
    }
    RoomName::parse(raw).map_err(|_| StreamRequestError::InvalidRoom(raw.to_owned()))
}

/// A piece of a message's text: plain, or an `@name` mention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment<'a> {
    Text(&'a str),
    /// The mention as written, `@` included.
    Mention(&'a str),
}

impl fmt::Display for Segment<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Segment::Text(text) | Segment::Mention(text) => f.write_str(text),
        }
    }
}

/// Characters a mention runs over: a name's characters but the space (a mention ends at
/// the first space; see [`mentions_name`] for names that have one).
pub fn mention_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// Whether an `@` after `previous` (`None`: at the start) starts a mention: not after a
/// name's character (so `a@b.c` is an address) nor after another `@`.
pub fn mention_can_start(previous: Option<char>) -> bool {
    previous.is_none_or(|p| !mention_char(p) && p != '@')
}

/// Splits text into plain runs and `@name` mentions. An `@` starts a mention when it is
/// at the start or after a character that cannot be in a name (so `a@b.c` is an
/// address, not a mention); the mention runs over name characters, without a trailing
/// `.` (the end of a sentence). The segments, joined, are the text.
pub fn segments(text: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut plain_from = 0;
    let mut previous: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '@' && mention_can_start(previous) {
            let start = at + 1;
            let mut end = start;
            while let Some(&(i, n)) = chars.peek() {
                if !mention_char(n) {
                    break;
                }
                end = i + n.len_utf8();
                chars.next();
            }
            let name = text[start..end].trim_end_matches('.');
            if !name.is_empty() && name.chars().count() <= DisplayName::MAX_CHARS {
                if plain_from < at {
                    out.push(Segment::Text(&text[plain_from..at]));
                }
                let mention_end = start + name.len();
                out.push(Segment::Mention(&text[at..mention_end]));
                plain_from = mention_end;
            }
            previous = text[..end].chars().next_back();
            continue;
        }
        previous = Some(c);
    }
    if plain_from < text.len() {
        out.push(Segment::Text(&text[plain_from..]));
    }
    out
}

/// Whether `text` mentions `name`: `@` and the name (case-insensitively, spaces and all),
/// not followed by more of a name.
pub fn mentions_name(text: &str, name: &DisplayName) -> bool {
    let wanted = name.canonical();
    let lower = text.to_lowercase();
    // Lowercasing can change byte lengths, so search the lowercased text throughout.
    let mut from = 0;
    while let Some(found) = lower[from..].find('@') {
        let at = from + found;
        let before_ok = mention_can_start(lower[..at].chars().next_back());
        let rest = &lower[at + 1..];
        if before_ok && let Some(after) = rest.strip_prefix(wanted.as_str()) {
            let mut tail = after.chars();
            let ends = match tail.next() {
                None => true,
                Some('.') => tail.next().is_none_or(|n| !mention_char(n)),
                Some(n) => !mention_char(n),
            };
            if ends {
                return true;
            }
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn stream_requests_parse_rooms_ids_and_here() {
        let request = StreamRequest::parse(Some("a:5-1,b"), Some("b")).unwrap();
        assert_eq!(
            request.rooms,
            [
                StreamRoom {
                    room: room("a"),
                    after: Some(MessageId::new(5, 1))
                },
                StreamRoom {
                    room: room("b"),
                    after: None
                },
            ]
        );
        assert_eq!(request.here, [1]);
        assert_eq!(request.to_query(), "rooms=a:5-1,b&here=b");
    }

    #[test]
    fn bad_stream_requests_get_their_codes() {
        let bad = |rooms: Option<&str>, here: Option<&str>| {
            StreamRequest::parse(rooms, here).unwrap_err()
        };
        assert!(matches!(bad(None, None), StreamRequestError::Malformed(_)));
        assert!(matches!(
            bad(Some(""), None),
            StreamRequestError::Malformed(_)
        ));
        assert!(matches!(
            bad(Some("a,,b"), None),
            StreamRequestError::Malformed(_)
        ));
        assert!(matches!(
            bad(Some("a:nope"), None),
            StreamRequestError::Malformed(_)
        ));
        assert!(matches!(
            bad(Some("a,a"), None),
            StreamRequestError::Malformed(_)
        ));
        assert!(matches!(
            bad(Some("a"), Some("b")),
            StreamRequestError::Malformed(_)
        ));
        assert!(matches!(
            bad(Some("Caps"), None),
            StreamRequestError::InvalidRoom(_)
        ));
        assert!(matches!(
            bad(Some("a"), Some("B!")),
            StreamRequestError::InvalidRoom(_)
        ));
        let fifty: Vec<String> = (0..MAX_STREAM_ROOMS).map(|i| format!("r{i}")).collect();
        assert!(StreamRequest::parse(Some(&fifty.join(",")), None).is_ok());
        let fifty_one = format!("{},x", fifty.join(","));
        assert!(matches!(
            bad(Some(&fifty_one), None),
            StreamRequestError::Malformed(_)
        ));
    }

    #[test]
    fn stream_event_ids_parse() {
        let id = "dev/9-2";
        assert_eq!(
            parse_stream_event_id(id),
            Some((room("dev"), MessageId::new(9, 2)))
        );
        assert_eq!(parse_stream_event_id("dev"), None);
        assert_eq!(parse_stream_event_id("Dev/1-0"), None);
    }

    #[test]
    fn mentions_are_found_where_a_reader_sees_them() {
        use Segment::{Mention, Text};
        assert_eq!(
            segments("hi @alice."),
            [Text("hi "), Mention("@alice"), Text(".")]
        );
        assert_eq!(
            segments("@bob, @carol-2"),
            [Mention("@bob"), Text(", "), Mention("@carol-2")]
        );
        assert_eq!(segments("mail a@b.com"), [Text("mail a@b.com")]);
        assert_eq!(segments("@ alone @"), [Text("@ alone @")]);
        assert_eq!(segments("@@x"), [Text("@@x")]);
        assert_eq!(
            segments("<b>@Zoë</b>"),
            [Text("<b>"), Mention("@Zoë"), Text("</b>")]
        );
    }

    #[test]
    fn a_message_mentions_a_name_spaces_and_case_aside() {
        let alice = DisplayName::parse("Alice").unwrap();
        let mary_ann = DisplayName::parse("Mary Ann").unwrap();
        assert!(mentions_name("hey @alice!", &alice));
        assert!(mentions_name("@ALICE.", &alice));
        assert!(!mentions_name("hey @alicent", &alice));
        assert!(!mentions_name("mail bob@alice", &alice));
        assert!(!mentions_name("alice", &alice));
        assert!(mentions_name("ask @mary ann about it", &mary_ann));
        assert!(!mentions_name("ask @mary about it", &mary_ann));
    }

    proptest! {
        #[test]
        fn segments_join_back_into_the_text(text in "\\PC{0,80}|[@a-z .,]{0,40}") {
            let joined: String = segments(&text).iter().map(ToString::to_string).collect();
            prop_assert_eq!(joined, text.clone());
            for segment in segments(&text) {
                if let Segment::Mention(m) = segment {
                    prop_assert!(m.starts_with('@') && m.len() > 1);
                }
            }
        }

        #[test]
        fn a_written_mention_of_any_name_is_found(raw in "[a-zA-Z0-9_.-]{1,24}", before in "[ ,(]?", after in "[ ,!?)]?") {
            if let Ok(name) = DisplayName::parse(&raw) {
                let text = format!("{before}@{name}{after}");
                prop_assert!(mentions_name(&text, &name));
            }
        }
    }
}
