//! The Lua shared by the broker's scripts, the scripts of posting and of holding a name,
//! and how a script is built and run.

use super::{BrokerError, BrokerResult, Conn, log, unavailable};
use anyhow::Context;
use redis::{FromRedisValue, Script};
use std::time::Duration;

/// A GCRA rate limit in Lua, shared by the scripts below: `gcra(key, interval µs, burst)`
/// takes one cell and returns 0, or returns how many µs until one is free. The key holds
/// the "theoretical arrival time" and expires when the limit has fully recovered. Time
/// is Redis's own (`TIME`), so every node shares one clock.
macro_rules! gcra_lua {
    () => {
        r#"
local function gcra(key, interval, burst)
  if interval <= 0 then return 0 end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local next_tat = tat + interval
  local wait = next_tat - burst * interval - now
  if wait > 0 then return wait end
  redis.call('SET', key, string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
  return 0
end
"#
    };
}
pub(crate) use gcra_lua;

/// Appends a message to a room's log (`append(log, index, state, [idempotency key],
/// ARGV)`, `ARGV` as the publish script's), extends the room's keys, publishes it and
/// remembers its idempotency key; returns its id. Shared by the one-Redis and the cluster
/// post scripts.
macro_rules! append_lua {
    () => {
        r#"
local function append(log, ids, state, post)
  local id = redis.call('XADD', log, '*', 's', ARGV[2], 't', ARGV[3])
  redis.call('ZADD', ids, 0, pad(id))
  trim(log, ids, state, tonumber(ARGV[1]), tonumber(ARGV[14]))
  for _, key in ipairs({log, ids, state}) do redis.call('PEXPIRE', key, ARGV[12]) end
  redis.call('PUBLISH', ARGV[4], id .. '\n' .. ARGV[2] .. '\n' .. ARGV[3])
  if post then redis.call('SET', post, id .. '\n' .. ARGV[3], 'EX', ARGV[6]) end
  return id
end
"#
    };
}
pub(crate) use append_lua;

/// `KEYS`: log, room index, name hold, name rate, history index, state, [idempotency key].
/// `ARGV`: messages kept, sender, text, channel, room, idempotency TTL, room index
/// limit, session id, hold TTL (ms), rate interval (µs, 0 for no limit), burst, room TTL
/// (ms), the prefix of a room's keys (to delete the rooms trimmed from the index), and
/// the log's length limit.
///
/// Returns `{1, id}` for a new message, `{0, "id\ntext"}` for a repeat, `{-1, ""}` when
/// the session no longer holds its name, and `{-2, wait µs}` past the rate limit.
pub(super) const PUBLISH_SCRIPT: &str = concat!(
    gcra_lua!(),
    log::log_lua!(),
    append_lua!(),
    r#"
if redis.call('GET', KEYS[3]) ~= ARGV[8] then return {-1, ''} end
redis.call('PEXPIRE', KEYS[3], ARGV[9])
if KEYS[7] then
  local prior = redis.call('GET', KEYS[7])
  if prior then return {0, prior} end
end
local wait = gcra(KEYS[4], tonumber(ARGV[10]), tonumber(ARGV[11]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local id = append(KEYS[1], KEYS[5], KEYS[6], KEYS[7])
local ms = tonumber(string.match(id, '^(%d+)'))
redis.call('ZADD', KEYS[2], ms, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (ms - tonumber(ARGV[12])))
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[7])
if over > 0 then
  for _, room in ipairs(redis.call('ZRANGE', KEYS[2], 0, over - 1)) do
    local key = ARGV[13] .. room
    redis.call('DEL', key .. ':log', key .. ':ids', key .. ':state')
  end
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
end
return {1, id}
"#
);

/// `KEYS`: the name's hold, the client address's sign-in limit, [the hold of the
/// session's previous name]. `ARGV`: session id, hold TTL (ms), sign-in interval (µs, 0
/// for no limit), burst. Returns `{1, ""}` when the session holds the name now, `{0, ""}`
/// when another does, and `{-2, wait µs}` past the address's sign-in limit (every
/// attempt counts, refused ones too, so that names cannot be probed quickly).
pub(super) const CLAIM_SCRIPT: &str = concat!(
    gcra_lua!(),
    r#"
local wait = gcra(KEYS[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
if wait > 0 then return {-2, string.format('%d', wait)} end
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return {0, ''} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[3] and KEYS[3] ~= KEYS[1] and redis.call('GET', KEYS[3]) == ARGV[1] then
  redis.call('DEL', KEYS[3])
end
return {1, ''}
"#
);

/// `KEYS`: a name's hold. `ARGV`: session id, hold TTL (ms), or none to release. Returns 1
/// when the session held the name (and extends or ends the hold), else 0.
pub(super) const TOUCH_SCRIPT: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) else redis.call('DEL', KEYS[1]) end
return 1
"#;

/// A script that publishes on a room's channel: as it is on one Redis, and with
/// `SPUBLISH` (sharded Pub/Sub, to the room's own slot) on a cluster.
///
/// # Panics
///
/// When a sharded script still publishes some other way (`pcall`, double quotes): on a
/// cluster such a publish reaches no listener, and nothing would say so. The scripts are
/// built when the broker starts, so every cluster test would fail first.
pub(super) fn publishing_script(text: &str, sharded: bool) -> Script {
    if !sharded {
        return Script::new(text);
    }
    let text = text.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");
    assert!(
        !text.contains("'PUBLISH'") && !text.contains("\"PUBLISH\""),
        "a script publishes other than with redis.call('PUBLISH', ...):\n{text}"
    );
    Script::new(&text)
}

/// A rate in cells per second as the GCRA scripts' interval in µs; 0 for no limit.
pub(super) fn interval_us(rate: f64) -> u64 {
    if rate > 0.0 {
        (1e6 / rate).round().max(1.0) as u64
    } else {
        0
    }
}

/// A script's "past the limit" answer, the wait in µs as text, as the error.
pub(super) fn rate_limited(wait_us: &str) -> BrokerError {
    BrokerError::RateLimited(Duration::from_micros(wait_us.parse().unwrap_or(1_000_000)))
}

/// A script run on the broker's connection, where a failure counts as the broker being
/// unavailable ([`unavailable`]), with what it was doing as the error's context.
pub(super) trait RunScript {
    async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T>;
}

impl RunScript for redis::ScriptInvocation<'_> {
    async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T> {
        self.invoke_async(&mut connection.clone())
            .await
            .context(doing)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::publishing_script;

    #[test]
    #[should_panic(expected = "publishes other than")]
    fn a_publish_the_cluster_would_not_shard_is_refused() {
        publishing_script("redis.pcall('PUBLISH', KEYS[1], ARGV[1])", true);
    }

    #[test]
    fn a_publish_becomes_a_sharded_publish_on_a_cluster() {
        let text = "redis.call('PUBLISH', KEYS[1], ARGV[1])";
        let one_redis = publishing_script(text, false).get_hash().to_owned();
        let cluster = publishing_script(text, true).get_hash().to_owned();
        assert_ne!(one_redis, cluster);
        let expected = redis::Script::new("redis.call('SPUBLISH', KEYS[1], ARGV[1])");
        assert_eq!(cluster, expected.get_hash());
    }
}
