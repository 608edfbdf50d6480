//! Settings, from flags or the environment. The variable names are part of the public
//! contract (`docs/API.md`, "Running").
//!
//! Every setting is validated here, at start, with a message that names it: a value that
//! parses but makes no sense (`CHAT_KEEPALIVE_SECS=nan`, `CHAT_POST_RATE=1e-20`) stops the
//! server before it listens, instead of panicking a handler later.

use super::{
    broker::Limits,
    http::net::{PublicOrigin, TrustedProxies},
};
use crate::awareness::TYPING_THROTTLE_MS;
use clap::Parser;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

mod database;

pub use database::{Command, DatabaseUrl};

#[derive(Clone, Debug, Parser)]
#[command(
    name = "tiny-chat",
    version,
    about = "A room-based chat for the browser"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LEPTOS_SITE_ADDR", default_value = "127.0.0.1:3000")]
    pub addr: SocketAddr,

    /// The one node's folder: the database (`tiny-chat.db`) and the secret it generates
    /// when `CHAT_SECRET` is unset. Made when missing.
    #[arg(long, env = "CHAT_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// What keeps the chat: `sqlite://PATH`, `postgres://...`, or `none` (nothing beyond
    /// the live tier: for tests and benchmarks). Unset: SQLite in `CHAT_DATA_DIR`.
    #[arg(long, env = "CHAT_DATABASE_URL")]
    pub database_url: Option<DatabaseUrl>,

    /// Days after which messages are removed (with their changes); unset keeps them for
    /// good. Fractions are allowed.
    #[arg(long, env = "CHAT_RETENTION_DAYS", value_parser = positive(36_500.0))]
    pub retention_days: Option<f64>,

    /// The live tier for many nodes: the Redis at this URL; unset means in process (one
    /// node). Needs a database that every node shares.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Use a Redis Cluster instead: a comma-separated list of seed node URLs
    /// (`redis://127.0.0.1:7000,redis://127.0.0.1:7001`). Not together with `REDIS_URL`.
    #[arg(
        long,
        env = "REDIS_CLUSTER_URLS",
        value_delimiter = ',',
        conflicts_with = "redis_url"
    )]
    pub redis_cluster_urls: Vec<String>,

    /// Prefix of every Redis key and channel.
    /// No braces: on a cluster, `{room}` is the hash tag that keeps a room's keys together.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat", value_parser = prefix)]
    pub redis_prefix: String,

    /// Key that signs session cookies; the same on every node. Unset: one node generates
    /// one once and keeps it in `CHAT_DATA_DIR` (random per process with no database).
    #[arg(long, env = "CHAT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Messages per room that the live tier keeps for history and resume with no
    /// database (or Redis's window), with the changes to them (at most 4 entries per
    /// message). A database keeps them all.
    #[arg(long, env = "CHAT_HISTORY_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub history_limit: u32,

    /// Live deliveries buffered per room before a slow subscriber has to catch up from
    /// history.
    #[arg(long, env = "CHAT_SUBSCRIBER_BUFFER", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscriber_buffer: u32,

    /// MiB that the live deliveries buffered for slow subscribers may take on this node,
    /// over all rooms (one room may take an eighth): past it, an entry travels as its id
    /// alone and each subscriber reads it from the log.
    #[arg(long, env = "CHAT_SUBSCRIBER_BUFFER_MB", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub subscriber_buffer_mb: u32,

    /// Posts per second each name may sustain, on all nodes together; 0 turns the limit
    /// off. Edits, deletes and reactions count as posts.
    #[arg(long, env = "CHAT_POST_RATE", default_value_t = 2.0, value_parser = rate(0.001, 1000.0))]
    pub post_rate: f64,

    /// Posts a name may make at once before the rate applies.
    #[arg(long, env = "CHAT_POST_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub post_burst: u32,

    /// Sign-ins per minute from one client address, on all nodes together; 0 turns the
    /// limit off.
    #[arg(long, env = "CHAT_SIGNIN_RATE", default_value_t = 10.0, value_parser = rate(0.01, 100_000.0))]
    pub signin_rate: f64,

    /// Open event streams per client address; a stream of many rooms counts one per
    /// room. 0 turns the limit off.
    #[arg(long, env = "CHAT_MAX_STREAMS_PER_CLIENT", default_value_t = 256)]
    pub max_streams_per_client: u32,

    /// Days a name stays held by a session that neither posts nor listens. Fractions are
    /// allowed (tests use seconds).
    #[arg(long, env = "CHAT_NAME_IDLE_DAYS", default_value_t = 30.0, value_parser = positive(3650.0))]
    pub name_idle_days: f64,

    /// The origin browsers use, e.g. `https://chat.example.com`: the origin that
    /// state-changing requests must come from, and `Secure` cookies when it is https.
    #[arg(long, env = "CHAT_PUBLIC_URL")]
    pub public_url: Option<PublicOrigin>,

    /// Peer addresses or CIDR ranges whose `X-Forwarded-For` is believed, comma-separated
    /// (`loopback` and `private` name those ranges); `none` for none, the default: a
    /// peer's header is believed only once it is named as a proxy here.
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", default_value = "none")]
    pub trusted_proxies: TrustedProxies,

    /// Rooms with messages at most; past it a post that would make a new room is refused
    /// (`429`), and no room is forgotten to make room.
    #[arg(long, env = "CHAT_MAX_ROOMS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub max_rooms: u32,

    /// New rooms per hour that one name, and one client address, may make (by posting
    /// the first message in them), on all nodes together; that many may come at once.
    /// 0 turns the limit off.
    #[arg(long, env = "CHAT_NEW_ROOMS_PER_HOUR", default_value_t = 20.0, value_parser = rate(0.01, 1_000_000.0))]
    pub new_rooms_per_hour: f64,

    /// Days without a message after which a room's history is forgotten.
    #[arg(long, env = "CHAT_ROOM_IDLE_DAYS", default_value_t = 90.0, value_parser = positive(36_500.0))]
    pub room_idle_days: f64,

    /// Memory broker only: MiB of message text kept over all rooms; past it, the least
    /// recently active rooms are forgotten.
    #[arg(long, env = "CHAT_MEMORY_MAX_MB", default_value_t = 256,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub memory_max_mb: u32,

    /// Seconds of silence after which an SSE stream gets a `: ping` comment.
    #[arg(long, env = "CHAT_KEEPALIVE_SECS", default_value_t = 15.0, value_parser = bounded(0.05, 3600.0))]
    pub keepalive_secs: f64,

    /// Seconds a person's last stream to a room may be gone before they `leave` it, so
    /// that a page reload makes neither a leave nor a join. Fractions are allowed.
    #[arg(long, env = "CHAT_LEAVE_GRACE_SECS", default_value_t = 3.0, value_parser = bounded(0.0, 3600.0))]
    pub leave_grace_secs: f64,

    /// Milliseconds within which a person's `typing` fans out at most once per room, on
    /// all nodes together. The browser sends at most one every 2 s anyway; tests shorten
    /// or lengthen it so that they do not depend on the machine's speed.
    #[arg(long, env = "CHAT_TYPING_THROTTLE_MS", default_value_t = TYPING_THROTTLE_MS,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub typing_throttle_ms: u64,

    /// Serve `/metrics` on this address only (and not on the main one).
    #[arg(long, env = "CHAT_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// A command to run instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Require `Authorization: Bearer <token>` for `/metrics`. Without this or
    /// `CHAT_METRICS_ADDR`, `/metrics` answers only clients on loopback.
    #[arg(long, env = "CHAT_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
}

impl Config {
    /// The database this node keeps to: `CHAT_DATABASE_URL`, else SQLite in
    /// `CHAT_DATA_DIR`.
    pub fn database(&self) -> DatabaseUrl {
        self.database_url.clone().unwrap_or_else(|| {
            DatabaseUrl::Sqlite(crate::server::broker::sqlite::database_path(&self.data_dir))
        })
    }

    /// Whether Redis carries the live tier.
    pub fn uses_redis(&self) -> bool {
        self.redis_url.is_some() || !self.redis_cluster_urls.is_empty()
    }

    /// The defaults, as if no flag or variable were set.
    pub fn defaults() -> Self {
        Self::parse_from(["tiny-chat"])
    }

    /// The keep-alive interval: a `: ping` goes out within this much silence.
    pub fn keepalive(&self) -> Duration {
        Duration::from_secs_f64(self.keepalive_secs)
    }

    /// How long a name stays held without use; also the cookie's `Max-Age`.
    pub fn name_idle(&self) -> Duration {
        days(self.name_idle_days)
    }

    /// How long messages are kept, if not for good.
    pub fn retention(&self) -> Option<Duration> {
        self.retention_days.map(days)
    }

    pub fn room_idle(&self) -> Duration {
        days(self.room_idle_days)
    }

    pub fn leave_grace(&self) -> Duration {
        Duration::from_secs_f64(self.leave_grace_secs)
    }

    /// The numbers the broker keeps to.
    pub fn limits(&self) -> Limits {
        Limits {
            history: self.history_limit as usize,
            name_idle: self.name_idle(),
            post_rate: self.post_rate,
            post_burst: self.post_burst,
            // `CHAT_SIGNIN_RATE` is per minute, and a minute's worth may come at once.
            signin_rate: self.signin_rate / 60.0,
            signin_burst: self.signin_rate.ceil().clamp(1.0, f64::from(u32::MAX)) as u32,
            max_rooms: self.max_rooms as usize,
            new_room_rate: self.new_rooms_per_hour / 3600.0,
            new_room_burst: self
                .new_rooms_per_hour
                .ceil()
                .clamp(1.0, f64::from(u32::MAX)) as u32,
            room_idle: self.room_idle(),
            memory_bytes: self.memory_max_mb as usize * 1024 * 1024,
            subscriber_buffer: self.subscriber_buffer as usize,
            subscriber_buffer_bytes: self.subscriber_buffer_mb as usize * 1024 * 1024,
            typing_throttle: Duration::from_millis(self.typing_throttle_ms),
        }
    }
}

fn days(days: f64) -> Duration {
    // At least a second: Redis TTLs and cookie lifetimes are whole seconds.
    Duration::from_secs_f64((days * 86_400.0).max(1.0))
}

/// A number that `accept` takes, else the message `expected`.
fn number_where(
    accept: impl Fn(f64) -> bool + Clone + Send + Sync + 'static,
    expected: String,
) -> impl Fn(&str) -> Result<f64, String> + Clone {
    move |raw| match raw.trim().parse::<f64>() {
        Ok(value) if accept(value) => Ok(value),
        Ok(_) => Err(expected.clone()),
        Err(_) => Err(format!("{raw:?} is not a number")),
    }
}

/// A finite number in `min..=max`.
fn bounded(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    number_where(
        move |v| v.is_finite() && (min..=max).contains(&v),
        format!("must be a number from {min} to {max}"),
    )
}

/// A finite number in `(0, max]`.
fn positive(max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    number_where(
        move |v| v.is_finite() && v > 0.0 && v <= max,
        format!("must be a number above 0 and at most {max}"),
    )
}

/// A key prefix: not empty, and without the braces of a Redis Cluster hash tag.
fn prefix(raw: &str) -> Result<String, String> {
    if raw.is_empty() || raw.contains(['{', '}']) {
        return Err("must be a non-empty prefix without braces".into());
    }
    Ok(raw.to_owned())
}

/// 0 (off), or a rate in `min..=max`.
fn rate(min: f64, max: f64) -> impl Fn(&str) -> Result<f64, String> + Clone {
    number_where(
        move |v| v == 0.0 || (v.is_finite() && (min..=max).contains(&v)),
        format!("must be 0 (off) or a rate from {min} to {max}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, clap::Error> {
        Config::try_parse_from(std::iter::once("tiny-chat").chain(args.iter().copied()))
    }

    /// `--flag=value`, so that a value like `-1` is not read as a flag.
    fn parse_one(flag: &str, value: &str) -> Result<Config, clap::Error> {
        parse(&[&format!("{flag}={value}")])
    }

    #[test]
    fn the_defaults_parse() {
        let config = Config::defaults();
        assert_eq!(config.keepalive(), Duration::from_secs(15));
        assert_eq!(config.name_idle(), Duration::from_secs(30 * 86_400));
    }

    #[test]
    fn nonsense_numbers_are_refused_at_start() {
        for args in [
            ["--keepalive-secs", "nan"],
            ["--keepalive-secs", "inf"],
            ["--keepalive-secs", "0"],
            ["--keepalive-secs", "-1"],
            ["--post-rate", "1e-20"],
            ["--post-rate", "-2"],
            ["--post-rate", "NaN"],
            ["--post-rate", "1e300"],
            ["--signin-rate", "1e-9"],
            ["--name-idle-days", "0"],
            ["--name-idle-days", "1e308"],
            ["--room-idle-days", "nan"],
            ["--history-limit", "0"],
            ["--post-burst", "0"],
            ["--public-url", "ftp://x"],
            ["--public-url", "https://chat.example.com/path"],
            ["--trusted-proxies", "10.0.0.0/33"],
            ["--trusted-proxies", "everyone"],
            ["--redis-prefix", "a{b}"],
            ["--redis-prefix", ""],
        ] {
            let error =
                parse_one(args[0], args[1]).expect_err(&format!("{args:?} should be refused"));
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
        }
    }

    #[test]
    fn sensible_values_are_accepted() {
        let config = parse(&[
            "--post-rate",
            "0",
            "--keepalive-secs",
            "0.3",
            "--name-idle-days",
            "0.00001",
            "--public-url",
            "https://chat.example.com",
            "--trusted-proxies",
            "none",
        ])
        .unwrap();
        assert_eq!(config.post_rate, 0.0);
        assert_eq!(config.name_idle(), Duration::from_secs(1));
        assert_eq!(
            config.public_url.unwrap().as_str(),
            "https://chat.example.com"
        );
    }

    #[test]
    fn a_cluster_is_a_list_of_seeds_and_not_with_one_redis() {
        let config = parse(&[
            "--redis-cluster-urls",
            "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
        ])
        .unwrap();
        assert_eq!(
            config.redis_cluster_urls,
            ["redis://127.0.0.1:7000", "redis://127.0.0.1:7001"]
        );
        let error = parse(&[
            "--redis-url",
            "redis://127.0.0.1:6379",
            "--redis-cluster-urls",
            "redis://127.0.0.1:7000",
        ])
        .expect_err("both at once is refused");
        assert_eq!(error.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
