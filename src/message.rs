//! Wire types shared by the server and the browser.
//!
//! Every value that crosses the HTTP boundary has one type here, and every rule from
//! `docs/API.md` lives in the `parse` function of the type it constrains: once you hold a
//! [`RoomName`], a [`DisplayName`] or a [`MessageText`], it is valid. The browser runs the
//! same rules before it sends, so users see the server's verdict before the round trip.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

/// The one shape of a chat message, in the API, in SSE events and in the UI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: MessageId,
    pub room: RoomName,
    pub sender: DisplayName,
    pub text: String,
    /// RFC 3339 in UTC with milliseconds, derived from the id's timestamp.
    pub sent_at: String,
    /// When the text was last edited (RFC 3339); absent until it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// Each emoji with who reacted with it, in the order each was first used; absent
    /// while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
}

impl ChatMessage {
    /// A message as first posted: not edited, no reactions.
    pub fn new(id: MessageId, room: RoomName, sender: DisplayName, text: String) -> Self {
        Self {
            id,
            room,
            sender,
            text,
            sent_at: rfc3339_millis(id.ms),
            edited_at: None,
            reactions: Vec::new(),
        }
    }
}

/// One emoji on a message and the names that reacted with it, in the order they did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub names: Vec<DisplayName>,
}

/// The data of an `event: delete`: the message `id` of `room` is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub room: RoomName,
    pub id: MessageId,
}

/// The body of `PATCH /api/rooms/{room}/messages/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditBody {
    pub text: String,
}

/// The most distinct emoji one message holds.
pub const MAX_EMOJI_PER_MESSAGE: usize = 20;
/// The most reactions (names, over all its emoji) one message holds, so that a message's
/// size, and the `update` frame sent for each reaction, stay bounded in a large room.
pub const MAX_REACTIONS_PER_MESSAGE: usize = 200;
/// The reaction bar's emoji, offered under every message.
pub const QUICK_REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "😮", "🙏"];

/// An entry of `GET /api/rooms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSummary {
    pub name: RoomName,
    pub last_message_at: Option<String>,
}

/// The body of `GET/POST /api/session`: the name a session holds, and since when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub name: DisplayName,
    /// When this session's holding of the name began, as `sent_at` says a time (RFC 3339
    /// with milliseconds; empty when not known): the name's messages sent before it are an
    /// earlier holder's. Strings of this one shape compare as their times do, so the
    /// browser compares them as they come (parsing a number would cost its WASM 1.7 KB).
    #[serde(default)]
    pub since: String,
}

impl SessionInfo {
    /// Whether this session wrote `message`, and may change it.
    pub fn wrote(&self, message: &ChatMessage) -> bool {
        self.name.same_name(&message.sender) && message.sent_at >= self.since
    }
}

/// The data of an `event: resync`: the client must reload history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resync {
    pub room: RoomName,
    pub oldest: Option<MessageId>,
}

/// The body of every error answer: `{"error":{"code":"...","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
}

/// A message id: `<milliseconds>-<sequence>`, the shape of a Redis stream id.
///
/// Ids are ordered: within a room a later message has a greater id. Clients treat them as
/// opaque strings; the server compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId {
    pub ms: u64,
    pub seq: u64,
}

impl MessageId {
    pub const fn new(ms: u64, seq: u64) -> Self {
        Self { ms, seq }
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a message id")]
pub struct InvalidMessageId;

impl FromStr for MessageId {
    type Err = InvalidMessageId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (ms, seq) = s.split_once('-').ok_or(InvalidMessageId)?;
        let digits = |part: &str| {
            if part.is_empty() || part.len() > 20 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(InvalidMessageId);
            }
            part.parse::<u64>().map_err(|_| InvalidMessageId)
        };
        Ok(Self::new(digits(ms)?, digits(seq)?))
    }
}

impl Serialize for MessageId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MessageId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// Implements `Display`, `AsRef<str>`, serde and `parse` plumbing for a validated string.
macro_rules! validated_string {
    ($name:ident, $error:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::parse(&raw).map_err(serde::de::Error::custom)
            }
        }

        impl FromStr for $name {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
    };
}

/// A room name: `^[a-z0-9][a-z0-9_-]{0,31}$`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RoomName(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "a room name is 1 to 32 characters: lowercase letters, digits, '_' and '-', starting with a letter or digit"
)]
pub struct InvalidRoom;

impl RoomName {
    pub const MAX_LEN: usize = 32;
    pub const DEFAULT: &'static str = "everyone";

    pub fn parse(raw: &str) -> Result<Self, InvalidRoom> {
        let bytes = raw.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if first_ok && rest_ok && bytes.len() <= Self::MAX_LEN {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidRoom)
        }
    }

    /// The default room, `everyone`.
    pub fn everyone() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

validated_string!(RoomName, InvalidRoom);

/// A display name: 1 to 24 characters after trimming; letters (any script), digits,
/// spaces, `_`, `-` and `.`; nothing invisible.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DisplayName(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a name is 1 to 24 characters: letters, digits, spaces, '_', '-' and '.'")]
pub struct InvalidName;

impl DisplayName {
    pub const MAX_CHARS: usize = 24;

    pub fn parse(raw: &str) -> Result<Self, InvalidName> {
        let name = raw.trim();
        let count = name.chars().count();
        let allowed = |c: char| {
            (c.is_alphanumeric() && !INVISIBLE_LETTERS.contains(&c))
                || matches!(c, ' ' | '_' | '-' | '.')
        };
        if (1..=Self::MAX_CHARS).contains(&count) && name.chars().all(allowed) {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidName)
        }
    }
}

/// The Default_Ignorable_Code_Points that are letters: the Hangul fillers, which draw
/// nothing, so `Mas\u{3164}on` would pass for `Mason`. Every other default ignorable, and
/// every format (Cf) character, is neither a letter nor a digit, so the rule above refuses
/// it already (`every_default_ignorable_character_is_refused_in_a_name` checks them all
/// against unicode-security's table). Four characters, not that crate: this parse runs in
/// the browser too, whose WASM is budgeted to the byte.
const INVISIBLE_LETTERS: [char; 4] = ['\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}'];

impl DisplayName {
    /// The form names are compared in: trimmed (as every `DisplayName` is) and in Unicode
    /// lowercase, so that `Mason` and `mason` are one name.
    pub fn canonical(&self) -> String {
        self.0.to_lowercase()
    }

    /// Whether two names are the same name.
    pub fn same_name(&self, other: &DisplayName) -> bool {
        self.0 == other.0 || self.canonical() == other.canonical()
    }
}

#[cfg(feature = "ssr")]
mod key;

validated_string!(DisplayName, InvalidName);

/// The text of a message, kept exactly as typed: at most 2000 characters as sent (so
/// that whitespace cannot pad a message past the bound), and at least 1 after trimming.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageText(String);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("message text must be 1 to 2000 characters")]
pub struct InvalidMessage;

impl MessageText {
    pub const MAX_CHARS: usize = 2000;

    pub fn parse(raw: &str) -> Result<Self, InvalidMessage> {
        // `nth` stops counting at the bound: a huge input costs no more than a valid one.
        let within_bound = raw.chars().nth(Self::MAX_CHARS).is_none();
        if within_bound && !raw.trim().is_empty() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidMessage)
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

validated_string!(MessageText, InvalidMessage);

/// Formats milliseconds since the Unix epoch as RFC 3339 UTC with milliseconds,
/// `2026-11-23T22:00:00.000Z`.
pub fn rfc3339_millis(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let millis = epoch_ms % 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{millis:03}Z")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm), so
/// that the shared module needs no date crate in the WASM bundle.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests;
