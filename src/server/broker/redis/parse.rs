//! Reading the room log's Redis replies and Pub/Sub payloads into log entries.

use crate::{
    message::{ChatMessage, Deleted, DisplayName, MessageId, RoomName},
    server::broker::log::Entry,
};
use anyhow::{Context, anyhow, bail};
use redis::Value;

/// A log entry as the Stream holds it: whole, or an update that names its message,
/// whose state (the message as it stands) is in the room's `state` hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Raw {
    Entry(Entry),
    Update { id: MessageId, of: MessageId },
}

impl Raw {
    pub fn id(&self) -> MessageId {
        match self {
            Raw::Entry(entry) => entry.id(),
            Raw::Update { id, .. } => *id,
        }
    }
}

/// Parses an `XRANGE` reply into log entries, as the Stream holds them.
pub(super) fn entries(room: &RoomName, reply: Value) -> anyhow::Result<Vec<Raw>> {
    let Value::Array(entries) = reply else {
        bail!("unexpected stream reply {reply:?}");
    };
    entries
        .into_iter()
        .map(|entry| {
            let (id, fields): (String, Vec<(String, String)>) =
                redis::from_redis_value(entry).context("reading a stream entry")?;
            let id: MessageId = id.parse().map_err(|_| anyhow!("bad stream id {id:?}"))?;
            entry_of(room, id, fields)
        })
        .collect()
}

fn entry_of(room: &RoomName, id: MessageId, fields: Vec<(String, String)>) -> anyhow::Result<Raw> {
    let mut fields = fields.into_iter();
    let Some((first, value)) = fields.next() else {
        bail!("stream entry {id} is empty");
    };
    match first.as_str() {
        "r" => Ok(Raw::Update {
            id,
            of: value
                .parse()
                .map_err(|_| anyhow!("stream entry {id} updates a bad id"))?,
        }),
        _ => whole_entry(room, id, first, value, fields).map(Raw::Entry),
    }
}

/// A log entry held whole: a message (`s`, `t`), an update from before updates named
/// their message (`u`: the message as it then stood), or a delete (`d`).
fn whole_entry(
    room: &RoomName,
    id: MessageId,
    first: String,
    value: String,
    mut fields: impl Iterator<Item = (String, String)>,
) -> anyhow::Result<Entry> {
    match first.as_str() {
        "s" => {
            let sender = DisplayName::parse(&value)
                .map_err(|_| anyhow!("stream entry {id} has an invalid sender"))?;
            let (_, text) = fields
                .find(|(k, _)| k == "t")
                .with_context(|| format!("stream entry {id} has no text"))?;
            Ok(Entry::Message(ChatMessage::new(
                id,
                room.clone(),
                sender,
                text,
            )))
        }
        "u" => Ok(Entry::Update {
            id,
            message: serde_json::from_str(&value)
                .with_context(|| format!("stream entry {id} has a malformed update"))?,
        }),
        "d" => Ok(Entry::Delete {
            id,
            deleted: Deleted {
                room: room.clone(),
                id: value
                    .parse()
                    .map_err(|_| anyhow!("stream entry {id} deletes a bad id"))?,
            },
        }),
        other => bail!("stream entry {id} has an unknown field {other:?}"),
    }
}

/// Parses the history script's reply: per message, its state or its log entry's fields.
pub(super) fn history(room: &RoomName, reply: Value) -> anyhow::Result<Vec<ChatMessage>> {
    let rows: Vec<(String, Value)> =
        redis::from_redis_value(reply).context("reading the history script's reply")?;
    rows.into_iter()
        .map(|(id, data)| {
            let id: MessageId = id.parse().map_err(|_| anyhow!("bad message id {id:?}"))?;
            if let Value::Array(_) = data {
                let fields: Vec<(String, String)> = redis::from_redis_value(data)?;
                match entry_of(room, id, fields)? {
                    Raw::Entry(Entry::Message(message)) => Ok(message),
                    _ => bail!("the index names {id}, which is not a message"),
                }
            } else {
                let state: String = redis::from_redis_value(data)?;
                serde_json::from_str(&state)
                    .with_context(|| format!("message {id} has a malformed state"))
            }
        })
        .collect()
}

/// Parses a Pub/Sub payload of the log: a message `id\nsender\ntext`, an update
/// `u\nentry id\nJSON`, or a delete `d\nentry id\nmessage id`.
pub(super) fn live(room: RoomName, payload: &[u8]) -> anyhow::Result<Entry> {
    let payload = std::str::from_utf8(payload).context("payload is not UTF-8")?;
    let mut parts = payload.splitn(3, '\n');
    let (Some(first), Some(second), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("malformed payload");
    };
    let entry_id = |raw: &str| -> anyhow::Result<MessageId> {
        raw.parse().map_err(|_| anyhow!("bad id {raw:?}"))
    };
    match first {
        "u" => Ok(Entry::Update {
            id: entry_id(second)?,
            message: serde_json::from_str(rest).context("a malformed update")?,
        }),
        "d" => Ok(Entry::Delete {
            id: entry_id(second)?,
            deleted: Deleted {
                room,
                id: entry_id(rest)?,
            },
        }),
        id => {
            let sender =
                DisplayName::parse(second).map_err(|_| anyhow!("bad sender {second:?}"))?;
            Ok(Entry::Message(ChatMessage::new(
                entry_id(id)?,
                room,
                sender,
                rest.to_owned(),
            )))
        }
    }
}

/// What starts a Pub/Sub payload of an entry kept in PostgreSQL: `c\n`, the id of the
/// room's entry before it (`-` for none), `\n`, then the entry as [`live`] reads it.
/// (`p\n` is a presence, `j`, `l` and `t` a person's event, `u` and `d` a change.)
pub(super) const CHAINED: &[u8] = b"c\n";

/// Reads a chained payload, after [`CHAINED`].
pub(super) fn chained(
    room: RoomName,
    payload: &[u8],
) -> anyhow::Result<(Option<MessageId>, Entry)> {
    let split = payload
        .iter()
        .position(|&b| b == b'\n')
        .context("malformed chained payload")?;
    let previous = std::str::from_utf8(&payload[..split]).context("payload is not UTF-8")?;
    let previous = match previous {
        "-" => None,
        id => Some(id.parse().map_err(|_| anyhow!("bad id {id:?}"))?),
    };
    Ok((previous, live(room, &payload[split + 1..])?))
}

/// The chained payload of `entry`, whose room's entry before it is `previous`.
pub(super) fn encode_chained(previous: Option<MessageId>, entry: &Entry) -> String {
    let previous = previous.map_or_else(|| "-".to_owned(), |id| id.to_string());
    let entry = match entry {
        Entry::Message(message) => {
            format!("{}\n{}\n{}", message.id, message.sender, message.text)
        }
        Entry::Update { id, message } => format!(
            "u\n{id}\n{}",
            serde_json::to_string(message).expect("a message always serializes")
        ),
        Entry::Delete { id, deleted } => format!("d\n{id}\n{}", deleted.id),
    };
    format!("c\n{previous}\n{entry}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chained_payloads_read_back_as_written() {
        let room = RoomName::everyone();
        let mut message = ChatMessage::new(
            MessageId::new(5, 1),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            "two\nlines".into(),
        );
        let delete = Entry::Delete {
            id: MessageId::new(9, 0),
            deleted: Deleted {
                room: room.clone(),
                id: MessageId::new(5, 1),
            },
        };
        for (previous, entry) in [
            (None, Entry::Message(message.clone())),
            (Some(MessageId::new(5, 1)), {
                message.text = "edited".into();
                Entry::Update {
                    id: MessageId::new(7, 0),
                    message: message.clone(),
                }
            }),
            (Some(MessageId::new(7, 0)), delete),
        ] {
            let payload = encode_chained(previous, &entry);
            let rest = payload.as_bytes().strip_prefix(CHAINED).unwrap();
            assert_eq!(chained(room.clone(), rest).unwrap(), (previous, entry));
        }
        assert!(chained(room, b"nonsense").is_err());
    }

    #[test]
    fn live_payloads_keep_newlines_in_the_text() {
        let Entry::Message(message) =
            live(RoomName::everyone(), b"5-1\nann\nline one\nline two").unwrap()
        else {
            panic!("a message");
        };
        assert_eq!(message.id, MessageId::new(5, 1));
        assert_eq!(message.text, "line one\nline two");
        assert!(live(RoomName::everyone(), b"5-1\nann").is_err());
    }

    #[test]
    fn change_payloads_are_updates_and_deletes() {
        let room = RoomName::everyone();
        let message = ChatMessage::new(
            MessageId::new(5, 0),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            "a\nb".into(),
        );
        let payload = format!("u\n7-0\n{}", serde_json::to_string(&message).unwrap());
        assert_eq!(
            live(room.clone(), payload.as_bytes()).unwrap(),
            Entry::Update {
                id: MessageId::new(7, 0),
                message
            }
        );
        assert_eq!(
            live(room.clone(), b"d\n8-0\n5-0").unwrap(),
            Entry::Delete {
                id: MessageId::new(8, 0),
                deleted: Deleted {
                    room,
                    id: MessageId::new(5, 0)
                }
            }
        );
    }

    fn stream_entry(id: &str, fields: &[(&str, &str)]) -> Value {
        let fields = fields
            .iter()
            .flat_map(|(k, v)| {
                [
                    Value::BulkString(k.as_bytes().to_vec()),
                    Value::BulkString(v.as_bytes().to_vec()),
                ]
            })
            .collect();
        Value::Array(vec![
            Value::BulkString(id.as_bytes().to_vec()),
            Value::Array(fields),
        ])
    }

    #[test]
    fn an_update_in_the_stream_names_its_message_and_old_ones_hold_it_whole() {
        let room = RoomName::everyone();
        let message = ChatMessage::new(
            MessageId::new(5, 0),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            "hi".into(),
        );
        let json = serde_json::to_string(&message).unwrap();
        let reply = Value::Array(vec![
            stream_entry("5-0", &[("s", "ann"), ("t", "hi")]),
            stream_entry("6-0", &[("r", "5-0")]),
            stream_entry("7-0", &[("u", &json)]),
        ]);
        let raws = entries(&room, reply).unwrap();
        assert_eq!(raws[0], Raw::Entry(Entry::Message(message.clone())));
        assert_eq!(
            raws[1],
            Raw::Update {
                id: MessageId::new(6, 0),
                of: MessageId::new(5, 0)
            }
        );
        assert_eq!(
            raws[2],
            Raw::Entry(Entry::Update {
                id: MessageId::new(7, 0),
                message
            })
        );
        let bad = Value::Array(vec![stream_entry("8-0", &[("r", "not an id")])]);
        assert!(entries(&room, bad).is_err());
    }
}
