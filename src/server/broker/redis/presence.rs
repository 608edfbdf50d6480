//! Presence and typing on Redis, after Centrifugo's Redis engine: each node registers
//! its own people, refreshes them, and prunes what dead nodes left behind.
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:room:{room}:here` | sorted set | `node \n canonical \n name` → expiry (ms, Redis time): one entry per person per node |
//! | `P:room:{room}:people` | hash | canonical name → how many nodes have the person |
//! | `P:room:{room}:names` | sorted set, all scores 0 | `canonical \n name`: who is online, in case-insensitive order |
//! | `P:room:{room}:typing:{canonical}` | string, 2 s | the person's last `typing` |
//!
//! A node's entries live [`PRESENCE_TTL`] past its last refresh (every
//! [`REFRESH_EVERY`](crate::server::broker::presence::REFRESH_EVERY)). Entering, refreshing and
//! reading presence prune expired entries, and the script that removes a person's last
//! entry sends their `leave`: so when a node dies, a node still watching the room sends
//! the leave it could not, within `PRESENCE_TTL` plus one refresh. The three keys of a
//! room expire when no node refreshes them for [`ROOM_KEYS_TTL`].
//!
//! Join, leave and typing go out on the room's Pub/Sub channel as `j\nname`, `l\nname`
//! and `t\nname` (a message's payload starts with its id, a digit). A change that takes
//! the room across the 100-person limit, either way, sends the room's presence instead,
//! `p\ncount\nname...`: so a list that stopped getting joins and leaves is made right.

use super::{Keys, RedisBroker, Store, lua::Call};
use crate::{
    awareness::{JOIN_LEAVE_LIMIT, ONLINE_LIST_LIMIT, PersonEventKind, Presence},
    message::{DisplayName, RoomName},
    server::broker::{Awareness, BrokerError, BrokerResult, Holder},
};
use anyhow::Context;
use async_trait::async_trait;
use std::time::Duration;

/// How long a node's entry outlives its last refresh.
pub const PRESENCE_TTL: Duration = Duration::from_secs(20);
/// How long a room's presence keys outlive the last node that refreshed them.
const ROOM_KEYS_TTL: Duration = Duration::from_secs(120);
/// Names entered (or refreshed) per script call, so that no call blocks Redis for long.
const ENTER_BATCH: usize = 500;
/// Expired entries pruned per script call.
const PRUNE_BATCH: usize = 1000;

impl Keys {
    pub(super) fn here(&self, room: &RoomName) -> String {
        self.room_key(room, "here")
    }

    fn people(&self, room: &RoomName) -> String {
        self.room_key(room, "people")
    }

    fn names(&self, room: &RoomName) -> String {
        self.room_key(room, "names")
    }

    pub(super) fn typing(&self, room: &RoomName, person: &DisplayName) -> String {
        self.room_key(room, &format!("typing:{}", person.canonical()))
    }

    /// A room's three presence keys, as every presence script reads them.
    fn presence(&self, call: &mut Call<'_>, room: &RoomName) {
        call.key("here", self.here(room))
            .key("people", self.people(room))
            .key("names", self.names(room));
    }
}

/// A room's presence as it travels on Pub/Sub (`p\ncount\nname\nname...`, sent when a
/// change takes the room across the 100-person limit), if the payload is one.
pub fn parse_presence(room: &RoomName, payload: &[u8]) -> Option<anyhow::Result<Presence>> {
    let rest = payload.strip_prefix(b"p\n")?;
    Some((|| {
        let rest = std::str::from_utf8(rest).context("payload is not UTF-8")?;
        let mut lines = rest.split('\n');
        let count = lines
            .next()
            .and_then(|count| count.parse().ok())
            .context("no count")?;
        let online = lines
            .map(|name| DisplayName::parse(name).map_err(|_| anyhow::anyhow!("bad name {name:?}")))
            .collect::<anyhow::Result<_>>()?;
        Ok(Presence {
            room: room.clone(),
            online,
            count,
        })
    })())
}

/// A person's event as it travels on Pub/Sub, if the payload is one.
pub fn parse_person(payload: &[u8]) -> Option<anyhow::Result<(PersonEventKind, DisplayName)>> {
    let kind = match payload.get(..2)? {
        b"j\n" => PersonEventKind::Join,
        b"l\n" => PersonEventKind::Leave,
        b"t\n" => PersonEventKind::Typing,
        _ => return None,
    };
    Some(
        std::str::from_utf8(&payload[2..])
            .context("payload is not UTF-8")
            .and_then(|name| {
                DisplayName::parse(name).map_err(|_| anyhow::anyhow!("bad name {name:?}"))
            })
            .map(|name| (kind, name)),
    )
}

impl Store {
    /// Who is in `room`, pruning expired entries first (`lua/read_presence.lua`).
    pub(super) async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        let mut call = self.scripts.read_presence.call();
        self.keys.presence(&mut call, room);
        let (count, entries): (usize, Vec<String>) = call
            .arg("limit", JOIN_LEAVE_LIMIT)
            .arg("channel", self.keys.live(room))
            .arg("list", ONLINE_LIST_LIMIT)
            .arg("prune_batch", PRUNE_BATCH)
            .run(&self.connection, "reading presence")
            .await?;
        Ok(presence_of(room, count, &entries))
    }
}

/// A presence from a script's `count` and `canonical \n name` entries.
fn presence_of(room: &RoomName, count: usize, entries: &[String]) -> Presence {
    Presence {
        room: room.clone(),
        online: entries
            .iter()
            .filter_map(|entry| DisplayName::parse(entry.split_once('\n')?.1).ok())
            .collect(),
        count,
    }
}

#[async_trait]
impl Awareness for RedisBroker {
    /// Checks the person's hold and, if `register`, enters them; then reads the room's
    /// presence: one script.
    async fn enter(
        &self,
        room: &RoomName,
        person: &Holder,
        register: bool,
    ) -> BrokerResult<Option<Presence>> {
        let people = if register {
            std::slice::from_ref(&person.name)
        } else {
            &[]
        };
        self.run_enter(room, people, Some(person), ONLINE_LIST_LIMIT)
            .await
    }

    async fn leave(&self, room: &RoomName, person: &DisplayName) -> BrokerResult<()> {
        let mut call = self.scripts.leave.call();
        self.keys.presence(&mut call, room);
        let _: i64 = call
            .arg("node", &self.node_id)
            .arg("canonical", person.canonical())
            .arg("name", person.as_str())
            .arg("limit", JOIN_LEAVE_LIMIT)
            .arg("channel", self.keys.live(room))
            .run(&self.connection, "leaving presence")
            .await?;
        Ok(())
    }

    async fn presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        self.store().presence(room).await
    }

    async fn typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        let mut call = self.scripts.typing.call();
        call.key("typing", self.keys.typing(room, &person.name));
        if !self.hold_in_script(&mut call, person).await? {
            return Err(BrokerError::Revoked);
        }
        let outcome: i64 = call
            .arg("throttle", self.limits.typing_throttle.as_millis() as u64)
            .arg("channel", self.keys.live(room))
            .arg("name", person.name.as_str())
            .arg("session", &person.session_id)
            .arg("hold_ttl", self.name_idle_ms())
            .run(&self.connection, "sending typing")
            .await?;
        if outcome < 0 {
            return Err(BrokerError::Revoked);
        }
        Ok(())
    }

    /// Refreshes this node's people and prunes every room watched here, a few rooms at
    /// a time on the one multiplexed connection.
    async fn refresh(&self, present: &[(RoomName, Vec<DisplayName>)]) -> BrokerResult<()> {
        let mut rooms: Vec<(&RoomName, &[DisplayName])> = present
            .iter()
            .map(|(room, people)| (room, people.as_slice()))
            .collect();
        let with_people: std::collections::HashSet<&RoomName> =
            present.iter().map(|(room, _)| room).collect();
        let watched = self.hub.active_rooms();
        rooms.extend(
            watched
                .iter()
                .filter(|(room, _)| !with_people.contains(room))
                .map(|(room, _)| (room, &[][..])),
        );
        let mut first_error = None;
        for chunk in rooms.chunks(16) {
            let results = futures::future::join_all(
                chunk
                    .iter()
                    .map(|(room, people)| self.enter_many(room, people)),
            )
            .await;
            if let Some(error) = results.into_iter().find_map(Result::err) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl RedisBroker {
    /// Adds or refreshes this node's entries for `people` in `room` (none: only prunes).
    async fn enter_many(&self, room: &RoomName, people: &[DisplayName]) -> BrokerResult<()> {
        if people.is_empty() {
            return self.run_enter(room, people, None, 0).await.map(|_| ());
        }
        for batch in people.chunks(ENTER_BATCH) {
            self.run_enter(room, batch, None, 0).await?;
        }
        Ok(())
    }

    async fn run_enter(
        &self,
        room: &RoomName,
        people: &[DisplayName],
        holder: Option<&Holder>,
        list: usize,
    ) -> BrokerResult<Option<Presence>> {
        let mut call = self.scripts.enter.call();
        self.keys.presence(&mut call, room);
        if let Some(holder) = holder
            && !self.hold_in_script(&mut call, holder).await?
        {
            return Ok(None);
        }
        call.arg("node", &self.node_id)
            .arg("entry_ttl", PRESENCE_TTL.as_millis() as u64)
            .arg("limit", JOIN_LEAVE_LIMIT)
            .arg("channel", self.keys.live(room))
            .arg("keys_ttl", ROOM_KEYS_TTL.as_millis() as u64)
            .arg("prune_batch", PRUNE_BATCH)
            .arg("list", list);
        match holder {
            Some(holder) => call
                .arg("session", &holder.session_id)
                .arg("hold_ttl", self.name_idle_ms()),
            None => call.arg("session", "").arg("hold_ttl", ""),
        };
        for person in people {
            call.rest(person.canonical()).rest(person.as_str());
        }
        let (joined, count, entries): (i64, usize, Vec<String>) =
            call.run(&self.connection, "entering presence").await?;
        Ok((joined >= 0).then(|| presence_of(room, count, &entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_payloads_are_told_from_messages() {
        assert!(parse_person(b"17-0\nann\nhi").is_none());
        let (kind, name) = parse_person(b"j\nMary Ann").unwrap().unwrap();
        assert_eq!((kind, name.as_str()), (PersonEventKind::Join, "Mary Ann"));
        assert!(parse_person(b"t\n").unwrap().is_err());
        let room = RoomName::everyone();
        let presence = parse_presence(&room, b"p\n101\nann\nMary Ann")
            .unwrap()
            .unwrap();
        assert_eq!(presence.count, 101);
        assert_eq!(presence.online.len(), 2);
        assert!(parse_presence(&room, b"17-0\nann\nhi").is_none());
        assert!(parse_presence(&room, b"p\nmany").unwrap().is_err());
    }
}
