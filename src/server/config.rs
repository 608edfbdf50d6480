//! Settings, from flags or the environment. The variable names are part of the public
//! contract (`docs/API.md`, "Running").

use clap::Parser;
use std::{net::SocketAddr, time::Duration};

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

    /// Use the Redis broker at this URL; unset means the in-memory broker (one node).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Prefix of every Redis key and channel.
    #[arg(long, env = "CHAT_REDIS_PREFIX", default_value = "chat")]
    pub redis_prefix: String,

    /// Key that signs session cookies; the same on every node. Random per process when
    /// unset, which is fine for a single node only.
    #[arg(long, env = "CHAT_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Messages retained per room for history and resume.
    #[arg(long, env = "CHAT_HISTORY_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub history_limit: u32,

    /// Live deliveries buffered per room before a slow subscriber has to catch up from
    /// history.
    #[arg(long, env = "CHAT_SUBSCRIBER_BUFFER", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub subscriber_buffer: u32,

    /// Posts per second each session may sustain (per node); 0 turns the limit off.
    #[arg(long, env = "CHAT_POST_RATE", default_value_t = 2.0)]
    pub post_rate: f64,

    /// Posts a session may make at once before the rate applies.
    #[arg(long, env = "CHAT_POST_BURST", default_value_t = 20)]
    pub post_burst: u32,

    /// Seconds of silence after which an SSE stream gets a `: ping` comment.
    #[arg(long, env = "CHAT_KEEPALIVE_SECS", default_value_t = 15.0)]
    pub keepalive_secs: f64,
}

impl Config {
    /// The defaults, as if no flag or variable were set.
    pub fn defaults() -> Self {
        Self::parse_from(["tiny-chat"])
    }

    pub fn keepalive(&self) -> Duration {
        Duration::from_secs_f64(self.keepalive_secs.clamp(0.05, 3600.0))
    }
}
