//! The broker's Lua scripts (in `lua/`), with their keys and arguments named once, here.
//!
//! Each script is a [`Spec`]: its Lua, the names of its `KEYS` and of its `ARGV`, in the
//! order Redis passes them. A script reads them by name (`K_log`, `A_sender`), from a
//! prologue of locals that [`Script::new`] puts before the Lua (locals, not a table per
//! call: Redis runs the prologue on every call); a caller gives each by name, in the
//! spec's order ([`Call::key`], [`Call::arg`]), and a name out of its place panics. So a
//! key's or an argument's position is written nowhere but in its spec's list, and a call
//! that disagrees with it fails the first test that runs the script. (Checked as they
//! come rather than sorted at the end: a post's arguments go straight into the command,
//! with no copy in between.) A name ending in `?` may be left out, and then so must every
//! one after it (Lua sees `nil`); an argument list ending in `..` takes more arguments
//! after the named ones ([`Call::rest`]), which the Lua reads from `ARGV[REST + 1]` on.

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

    /// A call of the script, its keys and arguments given by name, in order.
    pub fn call(&self) -> Call<'_> {
        Call {
            spec: self.spec,
            invocation: self.script.prepare_invoke(),
            keys: 0,
            args: 0,
        }
    }

    #[cfg(test)]
    pub fn hash(&self) -> &str {
        self.script.get_hash()
    }
}

/// `local K_log = KEYS[1]` for each key, `local A_sender = ARGV[1]` for each argument,
/// and `local REST = n`, the number of named arguments.
fn prologue(spec: &Spec) -> String {
    let locals = |prefix: &str, from: &str, names: &[&str]| -> String {
        names
            .iter()
            .filter(|n| **n != REST)
            .enumerate()
            .map(|(i, n)| format!("local {prefix}_{} = {from}[{}]\n", bare(n), i + 1))
            .collect()
    };
    let named_args = spec.args.iter().filter(|a| **a != REST).count();
    format!(
        "{}{}local REST = {named_args}\n",
        locals("K", "KEYS", spec.keys),
        locals("A", "ARGV", spec.args)
    )
}

/// One call of a [`Script`], being filled in.
pub(super) struct Call<'a> {
    spec: &'static Spec,
    invocation: redis::ScriptInvocation<'a>,
    /// How many keys and named arguments were given.
    keys: usize,
    args: usize,
}

/// Checks that `name` is the next of `names` (the `given`th), and counts it.
///
/// # Panics
///
/// When it is not: a caller and its script disagree.
fn next(names: &[&str], given: &mut usize, name: &str, what: &str) {
    let expected = names.get(*given).copied().filter(|n| *n != REST);
    assert!(
        expected.is_some_and(|n| bare(n) == name),
        "the script's {what} {given} is {expected:?}, not {name:?}: {names:?}",
        given = *given + 1,
    );
    *given += 1;
}

/// Checks that every name of `names` past the `given` first may be left out.
///
/// # Panics
///
/// When one may not.
fn rest_optional(names: &[&str], given: usize, what: &str) {
    if let Some(missing) = names[given.min(names.len())..]
        .iter()
        .find(|n| **n != REST && !is_optional(n))
    {
        panic!("the script's {what} {missing:?} is not given: {names:?}");
    }
}

impl Call<'_> {
    pub fn key(&mut self, name: &str, value: impl ToRedisArgs) -> &mut Self {
        next(self.spec.keys, &mut self.keys, name, "key");
        self.invocation.key(value);
        self
    }

    pub fn arg(&mut self, name: &str, value: impl ToRedisArgs) -> &mut Self {
        next(self.spec.args, &mut self.args, name, "argument");
        self.invocation.arg(value);
        self
    }

    /// An argument after the named ones, which must all be given first.
    ///
    /// # Panics
    ///
    /// When the script's arguments do not end in `..`, or a named one is not given yet.
    pub fn rest(&mut self, value: impl ToRedisArgs) -> &mut Self {
        let named = self.spec.args.len() - 1;
        assert!(
            self.spec.args.last() == Some(&REST) && self.args == named,
            "the script takes no argument past its named ones, or not before they are given"
        );
        self.invocation.arg(value);
        self
    }

    /// Runs the call on the broker's connection; a failure counts as the broker being
    /// unavailable, with what it was `doing` as the error's context.
    ///
    /// # Panics
    ///
    /// When a name without `?` was not given.
    pub async fn run<T: FromRedisValue>(
        &self,
        connection: &Conn,
        doing: &'static str,
    ) -> BrokerResult<T> {
        rest_optional(self.spec.keys, self.keys, "key");
        rest_optional(self.spec.args, self.args, "argument");
        self.invocation
            .invoke_async(&mut connection.clone())
            .await
            .context(doing)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SPEC: Spec = Spec {
        lua: "redis.call('PUBLISH', K_channel, A_text)\n",
        keys: &["channel", "extra?"],
        args: &["text", ".."],
    };

    #[test]
    fn a_script_reads_its_keys_and_arguments_by_name() {
        assert_eq!(
            prologue(&SPEC),
            "local K_channel = KEYS[1]\nlocal K_extra = KEYS[2]\nlocal A_text = ARGV[1]\nlocal REST = 1\n"
        );
        let script = Script::new(&SPEC, false);
        let mut call = script.call();
        call.key("channel", "c").arg("text", "a").rest("b");
        rest_optional(SPEC.keys, call.keys, "key");
        rest_optional(SPEC.args, call.args, "argument");
    }

    #[test]
    #[should_panic(expected = "not \"texts\"")]
    fn a_name_the_script_does_not_have_is_refused() {
        Script::new(&SPEC, false).call().arg("texts", "a");
    }

    #[test]
    #[should_panic(expected = "not \"extra\"")]
    fn a_name_out_of_its_place_is_refused() {
        Script::new(&SPEC, false).call().key("extra", "e");
    }

    #[test]
    #[should_panic(expected = "is not given")]
    fn a_name_left_out_that_is_not_optional_is_refused() {
        let script = Script::new(&SPEC, false);
        let mut call = script.call();
        call.key("channel", "c");
        rest_optional(SPEC.args, call.args, "argument");
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
            "{}redis.call('SPUBLISH', K_channel, A_text)\n",
            prologue(&SPEC)
        ));
        assert_eq!(cluster, expected.get_hash());
    }
}
