//! Key names under the prefix `P` (`CHAT_REDIS_PREFIX`), and deleting every key under one.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:log`, `:ids`, `:state` | Stream, sorted set, hash | the room's log: its last `CHAT_HISTORY_LIMIT` messages and the changes to them, history's index and the messages' states (see `log.rs`); they expire after `CHAT_ROOM_IDLE_DAYS` without a post |
//! | `P:room:{room}:live` | Pub/Sub channel | each log entry as it is stored, and join, leave, typing and presence |
//! | `P:rooms` | sorted set | room → time of its last message, at most `CHAT_MAX_ROOMS` (a post that would make one more is refused); a room idle past `CHAT_ROOM_IDLE_DAYS` leaves it as its keys expire |
//! | `P:room:{room}:post:{session}:{client_id}` | string, 24 h | the id of an idempotent post's first message (never its text) |
//! | `P:name:{name}`, `P:rate:{name}`, `P:signin:{address}` | strings with TTLs | a name's hold, its post limit, an address's sign-in limit (see `names.rs`) |
//! | `P:newroom:{name}`, `P:newroom-from:{address}` | strings with TTLs | a name's and an address's new-room limits |
//! | `P:room:{room}:here`, `:people`, `:names`, `:typing:{name}` | sorted sets, hash, string | who is in the room, per node (see `presence.rs`) |
//!
//! On a Redis Cluster (`REDIS_CLUSTER_URLS`), a room's name in its keys is a hash tag
//! (`P:room:{lobby}:log`, braces included) and a name's hold and limit share one
//! (`P:{name:ann}`, `P:{name:ann}:rate`); what else differs there is in `cluster.rs`.

use crate::message::{DisplayName, RoomName};
use std::net::IpAddr;

/// Key names under the prefix.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    pub(super) prefix: String,
    /// On a cluster, a room's name in its keys is a hash tag (`{room}`), so that every key
    /// and the channel of one room share a slot.
    pub(super) tagged: bool,
}

/// A name's hold, its post limit and its new-room limit (in the name's slot on a
/// cluster, beside its hold).
pub(super) struct NameKeys {
    pub hold: String,
    pub rate: String,
    pub new_room: String,
}

impl Keys {
    /// `P:room:<room>:<what>`, with the room as a hash tag on a cluster.
    pub(super) fn room_key(&self, room: &RoomName, what: &str) -> String {
        if self.tagged {
            format!("{}:room:{{{room}}}:{what}", self.prefix)
        } else {
            format!("{}:room:{room}:{what}", self.prefix)
        }
    }

    pub(super) fn log(&self, room: &RoomName) -> String {
        self.room_key(room, "log")
    }

    pub(super) fn ids(&self, room: &RoomName) -> String {
        self.room_key(room, "ids")
    }

    pub(super) fn state(&self, room: &RoomName) -> String {
        self.room_key(room, "state")
    }

    pub(super) fn live(&self, room: &RoomName) -> String {
        self.room_key(room, "live")
    }

    pub(super) fn rooms(&self) -> String {
        format!("{}:rooms", self.prefix)
    }

    pub(super) fn post(&self, room: &RoomName, session: &str, client_id: &str) -> String {
        self.room_key(room, &format!("post:{session}:{client_id}"))
    }

    pub(super) fn name(&self, name: &DisplayName) -> String {
        self.hold_of(&name.key())
    }

    /// The hold of the name whose key ([`DisplayName::key`]) is `key`.
    fn hold_of(&self, key: &str) -> String {
        if self.tagged {
            // One tag for the hold and the limit (see `cluster`).
            format!("{}:{{name:{key}}}", self.prefix)
        } else {
            format!("{}:name:{key}", self.prefix)
        }
    }

    /// A name's keys, its key taken once: a post names all three.
    pub(super) fn of_name(&self, name: &DisplayName) -> NameKeys {
        let key = name.key();
        let hold = self.hold_of(&key);
        let (rate, new_room) = if self.tagged {
            (format!("{hold}:rate"), format!("{hold}:newroom"))
        } else {
            (
                format!("{}:rate:{key}", self.prefix),
                format!("{}:newroom:{key}", self.prefix),
            )
        };
        NameKeys {
            hold,
            rate,
            new_room,
        }
    }

    pub(super) fn signin(&self, client: IpAddr) -> String {
        format!("{}:signin:{client}", self.prefix)
    }

    /// A client address's new-room limit.
    pub(super) fn new_room_by_client(&self, client: IpAddr) -> String {
        format!("{}:newroom-from:{client}", self.prefix)
    }

    /// The prefix with its glob characters escaped, for `PSUBSCRIBE` and `SCAN` patterns.
    pub(super) fn escaped_prefix(&self) -> String {
        let mut escaped = String::with_capacity(self.prefix.len() + 4);
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                escaped.push('\\');
            }
            escaped.push(c);
        }
        escaped
    }

    /// The pattern matching every room's channel.
    pub(super) fn live_pattern(&self) -> String {
        format!("{}:room:*:live", self.escaped_prefix())
    }

    /// The room of a channel name, if it is one of ours.
    pub(super) fn room_of_channel(&self, channel: &str) -> Option<RoomName> {
        let rest = channel.strip_prefix(&self.prefix)?.strip_prefix(":room:")?;
        let room = rest.strip_suffix(":live")?;
        let room = if self.tagged {
            room.strip_prefix('{')?.strip_suffix('}')?
        } else {
            room
        };
        RoomName::parse(room).ok()
    }
}

/// Deletes every key under `prefix` (tests and benchmarks clean up with it). Uses `SCAN`,
/// so a large Redis is never blocked.
pub fn delete_prefix(url: &str, prefix: &str) -> anyhow::Result<usize> {
    let mut connection = redis::Client::open(url)?.get_connection()?;
    delete_matching(&mut connection, prefix)
}

/// Deletes the keys under `prefix` on one Redis (or one master of a cluster).
pub(super) fn delete_matching(
    connection: &mut redis::Connection,
    prefix: &str,
) -> anyhow::Result<usize> {
    let keys = Keys {
        prefix: prefix.to_owned(),
        tagged: false,
    };
    let pattern = format!("{}:*", keys.escaped_prefix());
    let keys: Vec<String> = redis::cmd("SCAN")
        .cursor_arg(0)
        .arg("MATCH")
        .arg(&pattern)
        .arg("COUNT")
        .arg(1000)
        .clone()
        .iter::<String>(connection)?
        .collect::<Result<_, _>>()?;
    // A pipeline of one-key `DEL`s: on a cluster master, keys of different slots cannot
    // share one.
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.del(key).ignore();
        }
        pipe.exec(connection)?;
    }
    Ok(keys.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_map_back_to_rooms() {
        let keys = Keys {
            prefix: "chat".into(),
            tagged: false,
        };
        let room = RoomName::parse("dev-ops").unwrap();
        assert_eq!(keys.room_of_channel(&keys.live(&room)), Some(room.clone()));
        let tagged = Keys {
            tagged: true,
            ..keys.clone()
        };
        assert_eq!(tagged.live(&room), "chat:room:{dev-ops}:live");
        assert_eq!(tagged.room_of_channel(&tagged.live(&room)), Some(room));
        assert_eq!(tagged.room_of_channel("chat:room:dev-ops:live"), None);
        assert_eq!(keys.room_of_channel("chat:room:Bad:live"), None);
        assert_eq!(keys.room_of_channel("other:room:a:live"), None);
    }

    #[test]
    fn on_a_cluster_a_room_and_a_name_each_keep_to_one_slot() {
        use redis::cluster_routing::Slot;
        let keys = Keys {
            prefix: "chat".into(),
            tagged: true,
        };
        let slot = |key: String| Slot::for_key(key);
        let room = RoomName::parse("lobby").unwrap();
        let name = DisplayName::parse("Mary Ann").unwrap();
        let room_keys = [
            keys.log(&room),
            keys.ids(&room),
            keys.state(&room),
            keys.live(&room),
            keys.post(&room, "session", "client"),
            keys.here(&room),
            keys.typing(&room, &name),
        ];
        assert!(
            room_keys
                .iter()
                .all(|k| slot(k.clone()) == slot(keys.log(&room)))
        );
        assert_eq!(slot(keys.name(&name)), slot(keys.of_name(&name).rate));
    }

    #[test]
    fn glob_characters_in_the_prefix_are_escaped() {
        let keys = Keys {
            prefix: "t*[1]?".into(),
            tagged: false,
        };
        assert_eq!(keys.live_pattern(), r"t\*\[1\]\?:room:*:live");
    }
}
