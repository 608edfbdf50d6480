//! chat-bench: a load generator for tiny-chat that speaks only the public HTTP API.
//!
//! It starts the server itself (either broker) or targets a running one (`--url`, with
//! `--pid` for CPU and memory figures), runs one scenario, and prints its figures. See
//! BENCHMARKS.md for the commands and results.
//!
//! # Layout
//!
//! - `main.rs`: the command line, and what every scenario shares: the server under test
//!   and [`Bench::listen`], which opens thousands of streams.
//! - `http`: the bench's HTTP clients (raw-socket SSE streams, sign-in, posting).
//! - `server`: starting the server, and reading its CPU time and RSS from `/proc`.
//! - `tally`: what subscribers saw (exactly once, in order), awareness events by kind,
//!   and the reports.
//! - `fanout`: one room, anonymous or signed-in listeners (`fanout --signed-in`).
//! - `multi`: many rooms on one `/api/events` stream per browser; `rooms`: many rooms,
//!   one stream each.
//! - `requests`: POST throughput, page renders and cold starts; `soak`: held streams
//!   (`idle`, `soak`).

mod fanout;
mod http;
mod multi;
mod requests;
mod rooms;
mod server;
mod soak;
mod tally;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use fanout::FanoutOptions;
use http::{Event, Target};
use multi::MultiOptions;
use server::{Launch, RedisAt, Server};
use std::{
    net::{IpAddr, Ipv4Addr},
    ops::Range,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tally::Connect;
use tokio::{sync::Semaphore, task::JoinHandle};

#[derive(Parser)]
#[command(about = "Load generator for tiny-chat")]
struct Cli {
    /// Target a running server (http://IP:PORT) instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// PID of the server given by --url, for its CPU time and RSS.
    #[arg(long, requires = "url")]
    pid: Option<u32>,
    /// Broker of the server the bench starts.
    #[arg(long, value_enum, default_value_t = BrokerKind::Memory)]
    broker: BrokerKind,
    /// Redis for `--broker redis`.
    #[arg(long, env = "TEST_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// Seed nodes for `--broker cluster` (comma-separated).
    #[arg(
        long,
        env = "TEST_REDIS_CLUSTER_URLS",
        default_value = "redis://127.0.0.1:7000"
    )]
    redis_cluster_urls: String,
    /// Start a second node of the same chat (same broker, same key prefix) and send the
    /// posts of `fanout` and `post` through it: what crosses the broker between nodes.
    /// CPU is still the first node's for `fanout` (the fan-out), the second's for `post`.
    #[arg(long)]
    two_nodes: bool,
    /// Server binary to start; by default `tiny-chat` beside this binary.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Spread client sockets over 127.0.0.1 .. 127.0.0.N (for more connections than one
    /// source address has ports).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    source_addrs: u8,
    /// `CHAT_LEAVE_GRACE_SECS` of the server the bench starts (and, against `--url`, what
    /// the bench assumes it is): how long signed-in runs wait for `leave` events.
    #[arg(long, default_value_t = 3.0)]
    leave_grace_secs: f64,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BrokerKind {
    Memory,
    Redis,
    /// A Redis Cluster, at `--redis-cluster-urls`.
    Cluster,
}

#[derive(Subcommand)]
enum Scenario {
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Thousands of streams need as many descriptors; the soft limit is often 1,024.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-file limit: {error}");
    }
    let bench = Bench::new(&cli)?;
    match cli.scenario {
        Scenario::Fanout(options) => bench.fanout(&options).await?,
        Scenario::Multi(options) => bench.multi(&options).await?,
        Scenario::Rooms {
            rooms,
            per_room,
            messages_per_room,
        } => bench.rooms(rooms, per_room, messages_per_room).await?,
        Scenario::Idle { streams } => bench.idle(streams).await?,
        Scenario::Post {
            clients,
            messages,
            subscribers,
        } => bench.post(clients, messages, subscribers).await?,
        Scenario::Page {
            requests,
            concurrency,
            messages,
        } => bench.page(requests, concurrency, messages).await?,
        Scenario::Start { runs } => bench.start_up(runs).await?,
        Scenario::Soak {
            streams,
            seconds,
            rate,
            every,
        } => {
            let every = Duration::from_secs(every.max(1));
            bench
                .soak(streams, Duration::from_secs(seconds), rate, every)
                .await?
        }
        Scenario::Smoke => {
            bench.fanout(&FanoutOptions::small(false)).await?;
            bench.fanout(&FanoutOptions::small(true)).await?;
            bench.multi(&MultiOptions::small()).await?;
            bench.rooms(10, 3, 5).await?;
            bench.idle(50).await?;
            bench.post(4, 200, 5).await?;
            bench.page(100, 4, 60).await?;
            bench.start_up(2).await?;
            bench
                .soak(20, Duration::from_secs(2), 20.0, Duration::from_secs(1))
                .await?;
            println!("smoke: ok");
        }
    }
    Ok(())
}

struct Bench {
    url: Option<String>,
    pid: Option<u32>,
    launch: Launch,
    /// `--two-nodes`.
    two_nodes: bool,
    sources: Vec<IpAddr>,
    epoch: Instant,
    /// Makes this run's names (and the rooms of scenarios that care) its own, so that a
    /// second run against the same `--url` server does not meet the first one's.
    nonce: String,
}

impl Bench {
    fn new(cli: &Cli) -> anyhow::Result<Self> {
        let binary = match &cli.server_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("the bench binary has no directory")?
                .join("tiny-chat"),
        };
        let broker = match cli.broker {
            BrokerKind::Memory => "memory",
            BrokerKind::Redis => "redis",
            BrokerKind::Cluster => "cluster",
        };
        if cli.url.is_none() {
            println!(
                "server: {} (started by the bench), broker: {broker}",
                binary.display()
            );
        }
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        Ok(Self {
            url: cli.url.clone(),
            pid: cli.pid,
            launch: Launch {
                binary,
                redis: match cli.broker {
                    BrokerKind::Memory => None,
                    BrokerKind::Redis => Some(RedisAt::One(cli.redis_url.clone())),
                    BrokerKind::Cluster => Some(RedisAt::Cluster(
                        cli.redis_cluster_urls
                            .split(',')
                            .map(str::to_owned)
                            .collect(),
                    )),
                },
                history_limit: None,
                leave_grace_secs: cli.leave_grace_secs,
            },
            two_nodes: cli.two_nodes,
            sources: (1..=cli.source_addrs)
                .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
                .collect(),
            epoch: Instant::now(),
            nonce: format!(
                "{:06x}",
                (clock ^ u64::from(std::process::id())) & 0xff_ffff
            ),
        })
    }

    async fn server(&self) -> anyhow::Result<Server> {
        match &self.url {
            Some(url) => Server::existing(url, self.pid),
            None => Ok(Server::start(&self.launch).await?.0),
        }
    }

    /// With `--two-nodes`, the node that posts go through: a second one beside `first`.
    async fn poster_node(&self, first: &Server) -> anyhow::Result<Option<Server>> {
        if !self.two_nodes {
            return Ok(None);
        }
        Ok(Some(Server::start_beside(&self.launch, first).await?))
    }

    fn source(&self, n: usize) -> Option<IpAddr> {
        (self.sources.len() > 1).then(|| self.sources[n % self.sources.len()])
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// A display name of this run's own: `<prefix><nonce>-<n>`, at most 24 characters.
    fn name(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}{}-{n}", self.nonce)
    }

    /// Opens `count` streams, the `i`th to `target_of(i)`, each handing every event
    /// that carries data to `listener(i)`. Returns once all are open (their response
    /// heads arrived). A listener that returns false closes its stream.
    async fn listen<L>(
        &self,
        server: &Server,
        count: usize,
        target_of: impl Fn(usize) -> Target,
        listener: impl Fn(usize) -> L,
    ) -> anyhow::Result<Streams>
    where
        L: FnMut(&Event<'_>) -> bool + Send + 'static,
    {
        let started = Instant::now();
        // Connects in flight at once: enough to be quick, few enough for the listen backlog.
        let gate = Arc::new(Semaphore::new(512));
        let open = Arc::new(AtomicUsize::new(0));
        let greeted = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(None::<String>));
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            let (gate, open, greeted, failed) =
                (gate.clone(), open.clone(), greeted.clone(), failed.clone());
            let (addr, source, target, mut on_event) =
                (server.addr, self.source(i), target_of(i), listener(i));
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("never closed");
                let stream = http::EventStream::open(addr, source, &target).await;
                drop(permit);
                match stream {
                    Ok(mut stream) => {
                        open.fetch_add(1, Ordering::Release);
                        let mut first = true;
                        let _ = stream
                            .for_each_event(|event| {
                                if std::mem::take(&mut first) {
                                    greeted.fetch_add(1, Ordering::Release);
                                }
                                on_event(event)
                            })
                            .await;
                    }
                    Err(error) => *failed.lock().unwrap() = Some(format!("{error:#}")),
                }
            }));
        }
        let mut streams = Streams {
            tasks,
            open: Duration::ZERO,
            started,
            greeted,
        };
        while open.load(Ordering::Acquire) < count {
            if let Some(error) = failed.lock().unwrap().take() {
                bail!("a stream failed to open: {error}");
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "only {} of {count} streams opened in 60 s",
                    open.load(Ordering::Acquire)
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        streams.open = started.elapsed();
        Ok(streams)
    }

    /// [`Self::listen`], then waits for every stream's first event (its `presence`) and
    /// a second more, so that what opening a stream costs is counted here and not in
    /// what follows.
    async fn connect<L>(
        &self,
        server: &Server,
        count: usize,
        target_of: impl Fn(usize) -> Target,
        listener: impl Fn(usize) -> L,
    ) -> anyhow::Result<(Streams, Connect)>
    where
        L: FnMut(&Event<'_>) -> bool + Send + 'static,
    {
        const SETTLE: Duration = Duration::from_secs(1);
        let cpu_before = server.cpu_seconds();
        let streams = self.listen(server, count, target_of, listener).await?;
        let greeted = streams.all_greeted(Duration::from_secs(30)).await;
        if greeted.is_none() {
            eprintln!(
                "only {} of {count} streams had an event within 30 s",
                streams.greeted.load(Ordering::Acquire)
            );
        }
        tokio::time::sleep(SETTLE).await;
        let cpu = server.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
        let connect = Connect {
            open: streams.open,
            greeted,
            cpu_per_stream_us: cpu.map(|c| c * 1e6 / count.max(1) as f64),
            rss: server.rss_bytes(),
        };
        Ok((streams, connect))
    }
}

/// The streams [`Bench::listen`] opened; dropping this closes them all.
struct Streams {
    tasks: Vec<JoinHandle<()>>,
    /// How long opening them took.
    open: Duration,
    started: Instant,
    /// Streams that had at least one event.
    greeted: Arc<AtomicUsize>,
}

impl Streams {
    /// How long until every stream had its first event, waiting up to `within`.
    async fn all_greeted(&self, within: Duration) -> Option<Duration> {
        loop {
            if self.greeted.load(Ordering::Acquire) >= self.tasks.len() {
                return Some(self.started.elapsed());
            }
            if self.started.elapsed() > within {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Closes the streams in `range`.
    fn close(&self, range: Range<usize>) {
        for task in &self.tasks[range] {
            task.abort();
        }
    }
}

impl Drop for Streams {
    fn drop(&mut self) {
        self.close(0..self.tasks.len());
    }
}

/// Waits until `done()` or `limit` passed.
async fn wait_until(limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}
