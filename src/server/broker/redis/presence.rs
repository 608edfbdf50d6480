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
//! [`REFRESH_EVERY`](crate::server::presence::REFRESH_EVERY)). Entering, refreshing and
//! reading presence prune expired entries, and the script that removes a person's last
//! entry sends their `leave`: so when a node dies, a node still watching the room sends
//! the leave it could not, within `PRESENCE_TTL` plus one refresh. The three keys of a
//! room expire when no node refreshes them for [`ROOM_KEYS_TTL`].
//!
//! Join, leave and typing go out on the room's Pub/Sub channel as `j\nname`, `l\nname`
//! and `t\nname` (a message's payload starts with its id, a digit). A change that takes
//! the room across the 100-person limit, either way, sends the room's presence instead,
//! `p\ncount\nname...`: so a list that stopped getting joins and leaves is made right.

use super::{Keys, RedisBroker, RunScript, Store, publishing_script, unavailable};
use crate::{
    awareness::{
        JOIN_LEAVE_LIMIT, ONLINE_LIST_LIMIT, PersonEventKind, Presence, TYPING_THROTTLE_MS,
    },
    message::{DisplayName, RoomName},
    server::broker::Holder,
    server::broker::{BrokerError, BrokerResult},
};
use anyhow::Context;
use std::time::Duration;

/// How long a node's entry outlives its last refresh.
pub const PRESENCE_TTL: Duration = Duration::from_secs(20);
/// How long a room's presence keys outlive the last node that refreshed them.
const ROOM_KEYS_TTL: Duration = Duration::from_secs(120);
/// Names entered (or refreshed) per script call, so that no call blocks Redis for long.
const ENTER_BATCH: usize = 500;
/// Expired entries pruned per script call.
const PRUNE_BATCH: usize = 1000;

/// Functions shared by the presence scripts. `KEYS`: here, people, names.
macro_rules! presence_lua {
    () => {
        r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function drop_entry(member)
  if redis.call('ZREM', KEYS[1], member) == 0 then return nil end
  local canonical, display = string.match(member, '^[^\n]*\n([^\n]*)\n(.*)$')
  if not canonical then return nil end
  if redis.call('HINCRBY', KEYS[2], canonical, -1) > 0 then return nil end
  redis.call('HDEL', KEYS[2], canonical)
  redis.call('ZREMRANGEBYLEX', KEYS[3], '[' .. canonical .. '\n', '(' .. canonical .. '\11')
  return display
end
local function announce(kind, names, limit, channel)
  if #names == 0 then return end
  local after = redis.call('ZCARD', KEYS[3])
  local before = after - #names
  if kind == 'l' then before = after + #names end
  if before <= limit and after <= limit then
    for _, name in ipairs(names) do redis.call('PUBLISH', channel, kind .. '\n' .. name) end
  elseif (before <= limit) ~= (after <= limit) then
    local parts = {'p', tostring(after)}
    for _, entry in ipairs(redis.call('ZRANGE', KEYS[3], 0, limit - 1)) do
      parts[#parts + 1] = string.match(entry, '^[^\n]*\n(.*)$')
    end
    redis.call('PUBLISH', channel, table.concat(parts, '\n'))
  end
end
local function prune(now, limit, channel, batch)
  local left = {}
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, batch)) do
    local display = drop_entry(member)
    if display then left[#left + 1] = display end
  end
  announce('l', left, limit, channel)
end
"#
    };
}

/// `KEYS`: here, people, names, [a name's hold]. `ARGV`: node, entry TTL (ms), join/leave
/// limit, channel, keys TTL (ms), prune batch, list limit (0: do not read), session id and
/// hold TTL (ms) (both empty without a hold key), then pairs of canonical name and name.
/// With a hold key, first checks that the session still holds the name (and extends the
/// hold), else returns `{-1, 0, {}}` having changed nothing. Adds (or refreshes) this
/// node's entry for each person, sends `join` for those online on no node before, prunes
/// expired entries (sending their `leave`), and extends the keys. Returns
/// `{joined, count, {canonical \n name, ...}}`, the presence as it stands after (count 0
/// and no names when the list limit is 0).
const ENTER_SCRIPT: &str = concat!(
    presence_lua!(),
    r#"
if KEYS[4] then
  if redis.call('GET', KEYS[4]) ~= ARGV[8] then return {-1, 0, {}} end
  redis.call('PEXPIRE', KEYS[4], ARGV[9])
end
local now = now_ms()
local limit = tonumber(ARGV[3])
local joined = {}
for i = 10, #ARGV, 2 do
  local member = ARGV[1] .. '\n' .. ARGV[i] .. '\n' .. ARGV[i + 1]
  if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), member) == 1
    and redis.call('HINCRBY', KEYS[2], ARGV[i], 1) == 1 then
    redis.call('ZADD', KEYS[3], 0, ARGV[i] .. '\n' .. ARGV[i + 1])
    joined[#joined + 1] = ARGV[i + 1]
  end
end
announce('j', joined, limit, ARGV[4])
prune(now, limit, ARGV[4], tonumber(ARGV[6]))
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[5]) end
local list = tonumber(ARGV[7])
if list == 0 then return {#joined, 0, {}} end
return {#joined, redis.call('ZCARD', KEYS[3]), redis.call('ZRANGE', KEYS[3], 0, list - 1)}
"#
);

/// `ARGV`: node, canonical name, name, join/leave limit, channel. Removes this node's
/// entry for the person, and sends `leave` if it was their last.
const LEAVE_SCRIPT: &str = concat!(
    presence_lua!(),
    r#"
local display = drop_entry(ARGV[1] .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
if display then announce('l', {display}, tonumber(ARGV[4]), ARGV[5]) return 1 end
return 0
"#
);

/// `ARGV`: join/leave limit, channel, list limit, prune batch. Prunes, then returns
/// `{count, {canonical \n name, ...}}`.
const PRESENCE_SCRIPT: &str = concat!(
    presence_lua!(),
    r#"
prune(now_ms(), tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[4]))
return {redis.call('ZCARD', KEYS[3]), redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[3]) - 1)}
"#
);

/// `KEYS`: the person's typing key, [their name's hold]. `ARGV`: throttle (ms), channel,
/// name, session id, hold TTL (ms). Returns -1 when the session no longer holds the name;
/// else extends the hold and sends `typing` unless the typing key is still there. On a
/// cluster the hold is in another slot, so it is checked before, by itself.
const TYPING_SCRIPT: &str = r#"
if KEYS[2] then
  if redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
if redis.call('SET', KEYS[1], '1', 'PX', ARGV[1], 'NX') then
  redis.call('PUBLISH', ARGV[2], 't\n' .. ARGV[3])
  return 1
end
return 0
"#;

/// The scripts, loaded once per broker.
pub struct PresenceScripts {
    enter: redis::Script,
    leave: redis::Script,
    pub read: redis::Script,
    typing: redis::Script,
}

impl PresenceScripts {
    pub fn new(sharded: bool) -> Self {
        Self {
            enter: publishing_script(ENTER_SCRIPT, sharded),
            leave: publishing_script(LEAVE_SCRIPT, sharded),
            read: publishing_script(PRESENCE_SCRIPT, sharded),
            typing: publishing_script(TYPING_SCRIPT, sharded),
        }
    }
}

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

    /// `script` with a room's three presence keys, in the order the scripts read them.
    fn presence<'a>(
        &self,
        script: &'a redis::Script,
        room: &RoomName,
    ) -> redis::ScriptInvocation<'a> {
        let mut invocation = script.key(self.here(room));
        invocation.key(self.people(room)).key(self.names(room));
        invocation
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
    /// Who is in `room`, pruning expired entries first (`script`: [`PRESENCE_SCRIPT`]).
    pub(super) async fn presence(
        &self,
        script: &redis::Script,
        room: &RoomName,
    ) -> anyhow::Result<Presence> {
        let (count, entries): (usize, Vec<String>) = self
            .keys
            .presence(script, room)
            .arg(JOIN_LEAVE_LIMIT)
            .arg(self.keys.live(room))
            .arg(ONLINE_LIST_LIMIT)
            .arg(PRUNE_BATCH)
            .invoke_async(&mut self.connection.clone())
            .await
            .context("reading presence")?;
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

impl RedisBroker {
    /// Adds or refreshes this node's entries for `people` in `room` (none: only prunes).
    async fn enter_many(&self, room: &RoomName, people: &[DisplayName]) -> BrokerResult<()> {
        if people.is_empty() {
            return self.enter_batch(room, people).await;
        }
        for batch in people.chunks(ENTER_BATCH) {
            self.enter_batch(room, batch).await?;
        }
        Ok(())
    }

    async fn enter_batch(&self, room: &RoomName, people: &[DisplayName]) -> BrokerResult<()> {
        self.run_enter(room, people, None, 0).await.map(|_| ())
    }

    /// Checks the person's hold and, if `register`, enters them; then reads the room's
    /// presence: one script.
    pub(super) async fn enter_and_read(
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

    async fn run_enter(
        &self,
        room: &RoomName,
        people: &[DisplayName],
        holder: Option<&Holder>,
        list: usize,
    ) -> BrokerResult<Option<Presence>> {
        let mut invocation = self.keys.presence(&self.presence_scripts.enter, room);
        if let Some(holder) = holder
            && !self.hold_in_script(&mut invocation, holder).await?
        {
            return Ok(None);
        }
        invocation
            .arg(&self.node_id)
            .arg(PRESENCE_TTL.as_millis() as u64)
            .arg(JOIN_LEAVE_LIMIT)
            .arg(self.keys.live(room))
            .arg(ROOM_KEYS_TTL.as_millis() as u64)
            .arg(PRUNE_BATCH)
            .arg(list);
        match holder {
            Some(holder) => invocation.arg(&holder.session_id).arg(self.name_idle_ms()),
            None => invocation.arg("").arg(""),
        };
        for person in people {
            invocation.arg(person.canonical()).arg(person.as_str());
        }
        let (joined, count, entries): (i64, usize, Vec<String>) = invocation
            .run(&self.connection, "entering presence")
            .await?;
        Ok((joined >= 0).then(|| presence_of(room, count, &entries)))
    }

    pub(super) async fn leave_one(
        &self,
        room: &RoomName,
        person: &DisplayName,
    ) -> BrokerResult<()> {
        let mut invocation = self.keys.presence(&self.presence_scripts.leave, room);
        let _: i64 = invocation
            .arg(&self.node_id)
            .arg(person.canonical())
            .arg(person.as_str())
            .arg(JOIN_LEAVE_LIMIT)
            .arg(self.keys.live(room))
            .run(&self.connection, "leaving presence")
            .await?;
        Ok(())
    }

    pub(super) async fn read_presence(&self, room: &RoomName) -> BrokerResult<Presence> {
        self.store()
            .presence(&self.presence_scripts.read, room)
            .await
            .map_err(unavailable)
    }

    pub(super) async fn send_typing(&self, room: &RoomName, person: &Holder) -> BrokerResult<()> {
        let mut invocation = self
            .presence_scripts
            .typing
            .key(self.keys.typing(room, &person.name));
        if !self.hold_in_script(&mut invocation, person).await? {
            return Err(BrokerError::Revoked);
        }
        let outcome: i64 = invocation
            .arg(TYPING_THROTTLE_MS)
            .arg(self.keys.live(room))
            .arg(person.name.as_str())
            .arg(&person.session_id)
            .arg(self.name_idle_ms())
            .run(&self.connection, "sending typing")
            .await?;
        if outcome < 0 {
            return Err(BrokerError::Revoked);
        }
        Ok(())
    }

    /// Refreshes this node's people and prunes every room watched here, a few rooms at
    /// a time on the one multiplexed connection.
    pub(super) async fn refresh_all(
        &self,
        present: &[(RoomName, Vec<DisplayName>)],
    ) -> BrokerResult<()> {
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
