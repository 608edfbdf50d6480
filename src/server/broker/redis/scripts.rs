//! The broker's scripts: each one's Lua (in `lua/`, after the shared functions it uses)
//! and the names of its keys and arguments ([`lua`](super::lua) says how they are used).
//! What each script does is said at the top of its `.lua` file.

use super::{
    BrokerError,
    lua::{Script, Spec},
};
use std::time::Duration;

macro_rules! lua {
    ($($file:literal),+) => {
        concat!($(include_str!(concat!("lua/", $file))),+)
    };
}

/// The arguments every post's script reads (`append.lua`).
const APPEND_ARGS: [&str; 7] = [
    "sender",
    "text",
    "history",
    "log_limit",
    "room_ttl",
    "channel",
    "post_ttl",
];

static PUBLISH: Spec = Spec {
    lua: lua!("gcra.lua", "log.lua", "append.lua", "publish.lua"),
    keys: &[
        "log",
        "ids",
        "state",
        "rooms",
        "hold",
        "rate",
        "new_room_by_name",
        "new_room_by_client",
        "post?",
    ],
    args: &[
        APPEND_ARGS[0],
        APPEND_ARGS[1],
        APPEND_ARGS[2],
        APPEND_ARGS[3],
        APPEND_ARGS[4],
        APPEND_ARGS[5],
        APPEND_ARGS[6],
        "session",
        "hold_ttl",
        "rate_interval",
        "rate_burst",
        "room",
        "max_rooms",
        "new_room_interval",
        "new_room_burst",
    ],
};

static CLUSTER_POST: Spec = Spec {
    lua: lua!("log.lua", "append.lua", "cluster_post.lua"),
    keys: &["log", "ids", "state", "post?"],
    args: &APPEND_ARGS,
};

static ADMIT: Spec = Spec {
    lua: lua!("gcra.lua", "admit.lua"),
    keys: &["hold", "rate", "new_room?"],
    args: &[
        "session",
        "hold_ttl",
        "rate_interval",
        "rate_burst",
        "new_room_interval",
        "new_room_burst",
    ],
};

static ROOM_INDEX: Spec = Spec {
    lua: lua!("room_index.lua"),
    keys: &["rooms"],
    args: &["room", "room_ttl", "max_rooms"],
};

static INDEX: Spec = Spec {
    lua: lua!("index.lua"),
    keys: &["rooms"],
    args: &["ms", "room", "room_ttl"],
};

static CHANGE: Spec = Spec {
    lua: lua!("gcra.lua", "log.lua", "change.lua"),
    keys: &["log", "ids", "state", "hold?", "rate?"],
    args: &[
        "id",
        "expected",
        "new_state",
        "channel",
        "history",
        "log_limit",
        "session",
        "hold_ttl",
        "rate_interval",
        "rate_burst",
    ],
};

static HISTORY: Spec = Spec {
    lua: lua!("log.lua", "history.lua"),
    keys: &["ids", "state", "log"],
    args: &["bound", "count"],
};

static CLAIM: Spec = Spec {
    lua: lua!("gcra.lua", "claim.lua"),
    keys: &["hold", "signin", "previous?"],
    args: &["session", "hold_ttl", "signin_interval", "signin_burst"],
};

static CLUSTER_CLAIM: Spec = Spec {
    lua: lua!("cluster_claim.lua"),
    keys: &["hold"],
    args: &["session", "hold_ttl"],
};

static LIMIT: Spec = Spec {
    lua: lua!("gcra.lua", "limit.lua"),
    keys: &["limit"],
    args: &["interval", "burst"],
};

static TOUCH: Spec = Spec {
    lua: lua!("touch.lua"),
    keys: &["hold"],
    args: &["session", "hold_ttl?"],
};

/// A room's three presence keys, in every presence script.
const PRESENCE_KEYS: [&str; 3] = ["here", "people", "names"];

static ENTER: Spec = Spec {
    lua: lua!("presence.lua", "enter.lua"),
    keys: &[
        PRESENCE_KEYS[0],
        PRESENCE_KEYS[1],
        PRESENCE_KEYS[2],
        "hold?",
    ],
    args: &[
        "node",
        "entry_ttl",
        "limit",
        "channel",
        "keys_ttl",
        "prune_batch",
        "list",
        "session",
        "hold_ttl",
        "..",
    ],
};

static LEAVE: Spec = Spec {
    lua: lua!("presence.lua", "leave.lua"),
    keys: &PRESENCE_KEYS,
    args: &["node", "canonical", "name", "limit", "channel"],
};

static READ_PRESENCE: Spec = Spec {
    lua: lua!("presence.lua", "read_presence.lua"),
    keys: &PRESENCE_KEYS,
    args: &["limit", "channel", "list", "prune_batch"],
};

static TYPING: Spec = Spec {
    lua: lua!("typing.lua"),
    keys: &["typing", "hold?"],
    args: &["throttle", "channel", "name", "session", "hold_ttl"],
};

/// Every script, loaded once per broker; `PUBLISH` is `SPUBLISH` in them on a cluster.
pub(super) struct Scripts {
    pub publish: Script,
    pub cluster_post: Script,
    pub admit: Script,
    pub room_index: Script,
    pub index: Script,
    pub change: Script,
    pub history: Script,
    pub claim: Script,
    pub cluster_claim: Script,
    pub limit: Script,
    pub touch: Script,
    pub enter: Script,
    pub leave: Script,
    pub read_presence: Script,
    pub typing: Script,
}

impl Scripts {
    pub fn new(sharded: bool) -> Self {
        let load = |spec| Script::new(spec, sharded);
        Self {
            publish: load(&PUBLISH),
            cluster_post: load(&CLUSTER_POST),
            admit: load(&ADMIT),
            room_index: load(&ROOM_INDEX),
            index: load(&INDEX),
            change: load(&CHANGE),
            history: load(&HISTORY),
            claim: load(&CLAIM),
            cluster_claim: load(&CLUSTER_CLAIM),
            limit: load(&LIMIT),
            touch: load(&TOUCH),
            enter: load(&ENTER),
            leave: load(&LEAVE),
            read_presence: load(&READ_PRESENCE),
            typing: load(&TYPING),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script's Lua names only the keys and arguments its spec has (`K_x`, `A_x`),
    /// and reads no position (`KEYS[1]`, `ARGV[2]`) but the arguments past the named ones.
    #[test]
    fn every_script_reads_its_keys_and_arguments_by_the_names_of_its_spec() {
        for spec in [
            &PUBLISH,
            &CLUSTER_POST,
            &ADMIT,
            &ROOM_INDEX,
            &INDEX,
            &CHANGE,
            &HISTORY,
            &CLAIM,
            &CLUSTER_CLAIM,
            &LIMIT,
            &TOUCH,
            &ENTER,
            &LEAVE,
            &READ_PRESENCE,
            &TYPING,
        ] {
            assert!(!spec.lua.contains("KEYS["), "{}", spec.lua);
            let positional = spec.lua.matches("ARGV[").count();
            let rest = spec.args.last() == Some(&"..");
            assert!(positional == 0 || rest, "{}", spec.lua);
            for (table, names) in [("K_", spec.keys), ("A_", spec.args)] {
                let named: Vec<&str> = names.iter().map(|n| n.trim_end_matches('?')).collect();
                for used in spec.lua.split(table).skip(1) {
                    let name: String = used
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        named.contains(&name.as_str()),
                        "{table}{name} is not in {names:?}:\n{}",
                        spec.lua
                    );
                }
            }
        }
    }
}
