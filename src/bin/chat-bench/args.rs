//! The command line: the options every scenario shares, the broker, and the scenarios
//! with their own options.

use super::{fanout::FanoutOptions, multi::MultiOptions};
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser)]
#[command(about = "Load generator for tiny-chat")]
pub struct Cli {
    /// Target a running server (http://IP:PORT) instead of starting one.
    #[arg(long)]
    pub url: Option<String>,
    /// PID of the server given by --url, for its CPU time and RSS.
    #[arg(long, requires = "url")]
    pub pid: Option<u32>,
    /// Broker of the server the bench starts.
    #[arg(long, value_enum, default_value_t = BrokerKind::Memory)]
    pub broker: BrokerKind,
    /// Redis for `--broker redis`.
    #[arg(long, env = "TEST_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub redis_url: String,
    /// Seed nodes for `--broker cluster` (comma-separated).
    #[arg(
        long,
        env = "TEST_REDIS_CLUSTER_URLS",
        default_value = "redis://127.0.0.1:7000"
    )]
    pub redis_cluster_urls: String,
    /// With `--broker redis` or `cluster`: the PostgreSQL database that keeps the chat
    /// (`CHAT_DATABASE_URL`), as many nodes run; without it, nothing is kept.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Start a second node of the same chat (same broker, same key prefix) and send the
    /// posts of `fanout` and `post` through it: what crosses the broker between nodes.
    /// CPU is still the first node's for `fanout` (the fan-out), the second's for `post`.
    #[arg(long)]
    pub two_nodes: bool,
    /// Server binary to start; by default `tiny-chat` beside this binary.
    #[arg(long)]
    pub server_bin: Option<PathBuf>,
    /// Spread client sockets over 127.0.0.1 .. 127.0.0.N (for more connections than one
    /// source address has ports).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub source_addrs: u8,
    /// `CHAT_LEAVE_GRACE_SECS` of the server the bench starts (and, against `--url`, what
    /// the bench assumes it is): how long signed-in runs wait for `leave` events.
    #[arg(long, default_value_t = 3.0)]
    pub leave_grace_secs: f64,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BrokerKind {
    /// One node keeping nothing (`CHAT_DATABASE_URL=none`).
    Memory,
    /// One node keeping everything in SQLite, the default of `scripts/run`.
    Sqlite,
    Redis,
    /// A Redis Cluster, at `--redis-cluster-urls`.
    Cluster,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// S subscribers in one room, M messages posted at R per second. With `--signed-in`,
    /// anonymous and signed-in runs alternate and are compared.
    Fanout(FanoutOptions),
    /// B browsers, each with one `/api/events` stream for K of R rooms; messages spread
    /// over the rooms. Compared with one room of B subscribers at the same delivery rate.
    Multi(MultiOptions),
    /// Many rooms with a few subscribers each: no leaks between rooms, nothing lost.
    Rooms {
        #[arg(long, default_value_t = 500)]
        rooms: usize,
        #[arg(long, default_value_t = 4)]
        per_room: usize,
        #[arg(long, default_value_t = 10)]
        messages_per_room: usize,
    },
    /// N open streams that receive nothing: RSS per connection, and a POST meanwhile.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        streams: usize,
    },
    /// POST throughput and latency with C concurrent clients.
    Post {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 50_000)]
        messages: usize,
        /// Subscribers listening in the room meanwhile.
        #[arg(long, default_value_t = 0)]
        subscribers: usize,
    },
    /// Server-rendered room pages per second.
    Page {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Messages in the room (the page renders the last 50).
        #[arg(long, default_value_t = 50)]
        messages: usize,
    },
    /// Cold start to a ready /readyz, and idle RSS (starts the server itself).
    Start {
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// S streams held for a long time while posts flow at R per second: resident memory
    /// every `every` seconds, which should stay flat after the first minute.
    Soak {
        #[arg(long, default_value_t = 10_000)]
        streams: usize,
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        #[arg(long, default_value_t = 30)]
        every: u64,
    },
    /// A short run of every scenario, failing on any loss or duplicate (used by the tests).
    Smoke,
}
