//! A room's log: its messages and every change to them, each an entry with an id of its
//! own, later than every id before it. The log is what a stream replays on resume, so an
//! edit, a delete or a reaction reaches a reconnecting client exactly once, in order,
//! like a message. History is another view: each message as it stands now.
//!
//! Also the reaction emoji, checked against Unicode's list of emoji.

use crate::message::{ChatMessage, Deleted, MessageId, RoomName};
use bytes::Bytes;

/// One entry of a room's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A new message; its id is the entry's.
    Message(ChatMessage),
    /// The message as it stands after an edit or a reaction: `event: update`.
    Update { id: MessageId, message: ChatMessage },
    /// The message is gone: `event: delete`.
    Delete { id: MessageId, deleted: Deleted },
}

impl Entry {
    /// The entry's own id: the `id:` of its SSE event.
    pub fn id(&self) -> MessageId {
        match self {
            Entry::Message(message) => message.id,
            Entry::Update { id, .. } | Entry::Delete { id, .. } => *id,
        }
    }

    pub fn room(&self) -> &RoomName {
        match self {
            Entry::Message(message) | Entry::Update { message, .. } => &message.room,
            Entry::Delete { deleted, .. } => &deleted.room,
        }
    }

    /// The entry as one SSE event: `id:` first (so that the many-room stream can rewrite
    /// it in place), then `event:` for a change, then `data:` on one line.
    pub fn frame(&self) -> Bytes {
        let (event, json) = match self {
            Entry::Message(message) => (None, serde_json::to_string(message)),
            Entry::Update { message, .. } => (Some("update"), serde_json::to_string(message)),
            Entry::Delete { deleted, .. } => (Some("delete"), serde_json::to_string(deleted)),
        };
        let json = json.expect("log entries always serialize");
        let id = self.id().to_string();
        let mut frame = String::with_capacity(json.len() + id.len() + 32);
        frame.push_str("id: ");
        frame.push_str(&id);
        if let Some(event) = event {
            frame.push_str("\nevent: ");
            frame.push_str(event);
        }
        frame.push_str("\ndata: ");
        frame.push_str(&json);
        frame.push_str("\n\n");
        Bytes::from(frame)
    }
}

/// A log entry as a database keeps it, for a stream that replays it: `kind` 0 a
/// message, 1 an update, 2 a delete of message `of`, with the message's row (`body` as
/// it stands, `''` once erased; whether it is `deleted`). A message is replayed as it
/// stands (or stood when deleted), and its delete follows; an update of a message
/// deleted since is left out (`None`), as is a message whose text was erased: the
/// delete says the rest. Shared by the SQLite and PostgreSQL brokers.
pub fn replayed<E>(
    room: &RoomName,
    (id, kind, of): (MessageId, i64, MessageId),
    (body, deleted): (&str, bool),
    parse: impl FnOnce(&str) -> Result<ChatMessage, E>,
) -> Result<Option<Entry>, E> {
    Ok(Some(match (kind, deleted) {
        (2, _) => Entry::Delete {
            id,
            deleted: Deleted {
                room: room.clone(),
                id: of,
            },
        },
        (0, _) if !body.is_empty() => Entry::Message(parse(body)?),
        (1, false) => Entry::Update {
            id,
            message: parse(body)?,
        },
        _ => return Ok(None),
    }))
}

/// A reaction's emoji: exactly one emoji of Unicode's list, in its fully qualified form,
/// so that `❤` and `❤️` are one reaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emoji(&'static str);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a reaction is one emoji")]
pub struct InvalidReaction;

impl Emoji {
    pub fn parse(raw: &str) -> Result<Self, InvalidReaction> {
        const VS16: char = '\u{FE0F}';
        // Every emoji has a character past ASCII; without this, `0`, `#` and `*` would
        // pass as their keycap emoji through the fallback that appends U+FE0F below.
        if raw.is_empty() || raw.len() > 64 || raw.is_ascii() {
            return Err(InvalidReaction);
        }
        let found = emojis::get(raw)
            .or_else(|| emojis::get(&format!("{raw}{VS16}")))
            .or_else(|| emojis::get(&raw.replace(VS16, "")));
        // Unicode lists some emoji unqualified; answer their fully qualified form.
        let found = found.map(|emoji| {
            let qualified = format!("{}{VS16}", emoji.as_str());
            emojis::get(&qualified)
                .filter(|q| !emoji.as_str().contains(VS16) && q.as_str() == qualified)
                .unwrap_or(emoji)
        });
        found
            .map(|emoji| Self(emoji.as_str()))
            .ok_or(InvalidReaction)
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::DisplayName;

    #[test]
    fn changes_are_named_events_with_their_own_id_first() {
        let message = ChatMessage::new(
            MessageId::new(5, 0),
            RoomName::everyone(),
            DisplayName::parse("ann").unwrap(),
            "hi".into(),
        );
        let update = Entry::Update {
            id: MessageId::new(9, 1),
            message: message.clone(),
        };
        let text = String::from_utf8(update.frame().to_vec()).unwrap();
        assert!(
            text.starts_with("id: 9-1\nevent: update\ndata: {\"id\":\"5-0\""),
            "{text}"
        );
        let delete = Entry::Delete {
            id: MessageId::new(9, 2),
            deleted: Deleted {
                room: RoomName::everyone(),
                id: message.id,
            },
        };
        assert_eq!(
            String::from_utf8(delete.frame().to_vec()).unwrap(),
            "id: 9-2\nevent: delete\ndata: {\"room\":\"everyone\",\"id\":\"5-0\"}\n\n"
        );
        let plain = String::from_utf8(Entry::Message(message).frame().to_vec()).unwrap();
        assert!(plain.starts_with("id: 5-0\ndata: "), "{plain}");
    }

    #[test]
    fn one_emoji_is_a_reaction_and_its_forms_are_one() {
        assert_eq!(Emoji::parse("👍").unwrap().as_str(), "👍");
        assert_eq!(Emoji::parse("👍🏽").unwrap().as_str(), "👍🏽");
        assert_eq!(Emoji::parse("❤").unwrap(), Emoji::parse("❤️").unwrap());
        assert_eq!(Emoji::parse("🇫🇷").unwrap().as_str(), "🇫🇷");
        assert_eq!(
            Emoji::parse("0️⃣").unwrap().as_str(),
            "0️⃣",
            "a keycap typed whole"
        );
        for bad in [
            "", "x", "👍👍", "abc", "👍 ", ":+1:", "<b>", "\u{FE0F}", "0", "7", "#", "*",
        ] {
            assert_eq!(Emoji::parse(bad), Err(InvalidReaction), "{bad:?}");
        }
    }
}
