//! The broker's Lua scripts (in `lua/`), with their keys and arguments named once, here.
//!
//! Each script is a [`Spec`]: its Lua, the names of its `KEYS` and of its `ARGV`, in the
//! order Redis passes them. A script reads them by name (`K.log`, `A.sender`), from a
//! prologue that [`Script::new`] puts before the Lua; a caller gives them by name
//! ([`Call::key`], [`Call::arg`]), and [`Call::run`] puts them in the spec's order. So a
//! key's or an argument's position is written nowhere but in its spec's list: adding one
//! cannot shift another, and a name that is not in the list fails the first test that
//! runs the script. A name ending in `?` may be left out, and then so must every one after
//! it (Lua sees `nil`); an argument list ending in `..` takes more arguments after the
//! named ones ([`Call::rest`]), which the Lua reads from `ARGV[REST + 1]` on.

use super::{BrokerResult, Conn, unavailable};
use anyhow::Context;
use redis::{FromRedisValue, ToRedisArgs};

/// A script's Lua and the names of its keys and arguments.
pub(super) struct Spec {
    /// The script's Lua, the shared functions it uses first (`concat!` of `include_str!`s).
    pub lua: &'static str,
    pub keys: &'static [&'static str],
    pub args: &'static [&'static str],
}

/// A loaded script: its spec, and the Lua that Redis runs (the prologue, then the spec's
/// Lua, with `PUBLISH` made `SPUBLISH` on a cluster).
pub(super) struct Script {
    spec: &'static Spec,
    script: redis::Script,
}

/// A name without its `?` or `..` mark.
fn bare(name: &str) -> &str {
    name.trim_end_matches('?')
}

fn is_optional(name: &str) -> bool {
    name.ends_with('?')
}

const REST: &str = "..";

impl Script {
    /// The script of `spec`; on a cluster (`sharded`), each `redis.call('PUBLISH', ...)`
    /// becomes `SPUBLISH`, which reaches the listeners of the room's own shard channel.
    ///
    /// # Panics
    ///
    /// When a sharded script still publishes some other way (`pcall`, double quotes): on a
    /// cluster such a publish reaches no listener, and nothing would say so. The scripts
    /// are built when the broker starts, so every cluster test would fail first.
    pub fn new(spec: &'static Spec, sharded: bool) -> Self {
        let mut lua = prologue(spec);
        if sharded {
            let body = spec
                .lua
                .replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'");
            assert!(
                !body.contains("'PUBLISH'") && !body.contains("\"PUBLISH\""),
                "a script publishes other than with redis.call('PUBLISH', ...):\n{body}"
            );
            lua.push_str(&body);
        } else {
            lua.push_str(spec.lua);
        }
        Self {
            spec,
            script: redis::Script::new(&lua),
        }
    }

    /// A call of the script, its keys and arguments given by name.
    pub fn call(&self) -> Call<'_> {
        let named_args = self.spec.args.iter().filter(|a| **a != REST).count();
        Call {
            script: self,
            keys: vec![None; self.spec.keys.len()],
            args: vec![None; named_args],
            rest: Vec::new(),
        }
    }

    #[cfg(test)]
    pub fn hash(&self) -> &str {
        self.script.get_hash()
    }
}

/// `local K = {log = KEYS[1], ...}`, `local A = {...}` and `local REST = n`.
fn prologue(spec: &Spec) -> String {
    let table = |name: &str, from: &str, names: &[&str]| {
        let fields: Vec<String> = names
            .iter()
            .filter(|n| **n != REST)
            .enumerate()
            .map(|(i, n)| format!("{} = {from}[{}]", bare(n), i + 1))
            .collect();
        format!("local {name} = {{{}}}\n", fields.join(", "))
    };
    let named_args = spec.args.iter().filter(|a| **a != REST).count();
    format!(
        "{}{}local REST = {named_args}\n",
        table("K", "KEYS", spec.keys),
        table("A", "ARGV", spec.args)
    )
}

/// One call of a [`Script`], being filled in.
pub(super) struct Call<'a> {
    script: &'a Script,
    keys: Vec<Option<Vec<Vec<u8>>>>,
    args: Vec<Option<Vec<Vec<u8>>>>,
    rest: Vec<Vec<u8>>,
}

/// The position of `name` in `names` (without `..`).
///
/// # Panics
///
/// When `name` is not one of them: a caller and its script disagree.
fn position(names: &[&str], name: &str, what: &str) -> usize {
    names
        .iter()
        .filter(|n| **n != REST)
        .position(|n| bare(n) == name)
        .unwrap_or_else(|| panic!("the script has no {what} named {name:?}: {names:?}"))
}

impl Call<'_> {
    pub fn key(&mut self, name: &str, value: impl ToRedisArgs) -> &mut Self {
        let at = position(self.script.spec.keys, name, "key");
        self.keys[at] = Some(value.to_redis_args());
        self
    }

    pub fn arg(&mut self, name: &str, value: impl ToRedisArgs) -> &mut Self {
        let at = position(self.script.spec.args, name, "argument");
        self.args[at] = Some(value.to_redis_args());
        self
    }

    /// An argument after the named ones.
    ///
    /// # Panics
    ///
    /// When the script's arguments do not end in `..`.
    pub fn rest(&mut self, value: impl ToRedisArgs) -> &mut Self {
        assert!(
            self.script.spec.args.last() == Some(&REST),
            "the script takes no arguments past its named ones"
        );
        self.rest.extend(value.to_redis_args());
        self
    }

    /// Runs the call on the broker's connection; a failure counts as the broker being
    /// unavailable, with what it was `doing` as the error's context.
    pub async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T> {
        self.invocation()
            .invoke_async(&mut connection.clone())
            .await
            .context(doing)
            .map_err(unavailable)
    }

    /// The call as redis-rs invokes it: keys and arguments in the spec's order.
    ///
    /// # Panics
    ///
    /// When a name without `?` was not given, or one was given after a `?` one that was
    /// not (Lua would read it in the wrong place).
    fn invocation(&self) -> redis::ScriptInvocation<'_> {
        let mut invocation = self.script.script.prepare_invoke();
        let spec = self.script.spec;
        for (values, names, key) in [
            (&self.keys, spec.keys, true),
            (&self.args, spec.args, false),
        ] {
            let names: Vec<&str> = names.iter().copied().filter(|n| *n != REST).collect();
            let mut ended = None;
            for (value, name) in values.iter().zip(&names) {
                match (value, ended) {
                    (Some(_), Some(missing)) => {
                        panic!("{name:?} is given, but {missing:?} before it is not")
                    }
                    (Some(value), None) => {
                        for part in value {
                            if key {
                                invocation.key(part.as_slice());
                            } else {
                                invocation.arg(part.as_slice());
                            }
                        }
                    }
                    (None, _) if is_optional(name) => ended = ended.or(Some(*name)),
                    (None, _) => panic!("the script's {name:?} is not given"),
                }
            }
        }
        for part in &self.rest {
            invocation.arg(part.as_slice());
        }
        invocation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        lua: "redis.call('PUBLISH', K.channel, A.text)\n",
        keys: &["channel", "extra?"],
        args: &["text", ".."],
    };

    #[test]
    fn a_script_reads_its_keys_and_arguments_by_name() {
        let script = Script::new(&SPEC, false);
        assert_eq!(
            prologue(&SPEC),
            "local K = {channel = KEYS[1], extra = KEYS[2]}\nlocal A = {text = ARGV[1]}\nlocal REST = 1\n"
        );
        let mut call = script.call();
        call.rest("b").arg("text", "a").key("channel", "c");
        let invocation = call.invocation();
        let _ = invocation;
    }

    #[test]
    #[should_panic(expected = "no argument named")]
    fn a_name_the_script_does_not_have_is_refused() {
        Script::new(&SPEC, false).call().arg("texts", "a");
    }

    #[test]
    #[should_panic(expected = "is not given")]
    fn a_name_left_out_that_is_not_optional_is_refused() {
        let script = Script::new(&SPEC, false);
        let mut call = script.call();
        call.key("channel", "c");
        let _ = call.invocation();
    }

    #[test]
    #[should_panic(expected = "publishes other than")]
    fn a_publish_the_cluster_would_not_shard_is_refused() {
        static SPEC: Spec = Spec {
            lua: "redis.pcall('PUBLISH', KEYS[1], ARGV[1])",
            keys: &[],
            args: &[],
        };
        Script::new(&SPEC, true);
    }

    #[test]
    fn a_publish_becomes_a_sharded_publish_on_a_cluster() {
        let one_redis = Script::new(&SPEC, false).hash().to_owned();
        let cluster = Script::new(&SPEC, true).hash().to_owned();
        assert_ne!(one_redis, cluster);
        let expected = redis::Script::new(&format!(
            "{}redis.call('SPUBLISH', K.channel, A.text)\n",
            prologue(&SPEC)
        ));
        assert_eq!(cluster, expected.get_hash());
    }
}
