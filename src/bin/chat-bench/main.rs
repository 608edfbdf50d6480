//! chat-bench: a load generator for tiny-chat that speaks only the public HTTP API.
//!
//! It starts the server itself (either broker) or targets a running one (`--url`, with
//! `--pid` for CPU and memory figures), runs one scenario, and prints its figures. See
//! BENCHMARKS.md for the commands and results.

mod http;
mod server;
mod soak;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use server::{Launch, Server};
use std::{
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::Semaphore;

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
    /// Server binary to start; by default `tiny-chat` beside this binary.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Spread client sockets over 127.0.0.1 .. 127.0.0.N (for more connections than one
    /// source address has ports).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=8))]
    source_addrs: u8,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BrokerKind {
    Memory,
    Redis,
}

#[derive(Subcommand)]
enum Scenario {
    /// S subscribers in one room, M messages posted at R per second.
    Fanout {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        #[arg(long, default_value_t = 100)]
        messages: usize,
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
    },
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
    let bench = Bench::new(&cli)?;
    match cli.scenario {
        Scenario::Fanout {
            subscribers,
            messages,
            rate,
        } => bench.fanout(subscribers, messages, rate).await?.print(),
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
            bench.fanout(50, 20, 200.0).await?.print();
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
    sources: Vec<IpAddr>,
    epoch: Instant,
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
        };
        if cli.url.is_none() {
            println!(
                "server: {} (started by the bench), broker: {broker}",
                binary.display()
            );
        }
        Ok(Self {
            url: cli.url.clone(),
            pid: cli.pid,
            launch: Launch {
                binary,
                redis_url: (cli.broker == BrokerKind::Redis).then(|| cli.redis_url.clone()),
                history_limit: None,
            },
            sources: (1..=cli.source_addrs)
                .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
                .collect(),
            epoch: Instant::now(),
        })
    }

    async fn server(&self) -> anyhow::Result<Server> {
        match &self.url {
            Some(url) => Server::existing(url, self.pid),
            None => Ok(Server::start(&self.launch).await?.0),
        }
    }

    fn source(&self, n: usize) -> Option<IpAddr> {
        (self.sources.len() > 1).then(|| self.sources[n % self.sources.len()])
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Opens `count` streams on `room_of(i)`, each handing every event's data to
    /// `listener(i)`. Returns once all are open, with the time that took.
    async fn listen<L>(
        &self,
        server: &Server,
        count: usize,
        room_of: impl Fn(usize) -> String,
        listener: impl Fn(usize) -> L,
    ) -> anyhow::Result<(Vec<tokio::task::JoinHandle<()>>, Duration)>
    where
        L: FnMut(&[u8]) -> bool + Send + 'static,
    {
        let started = Instant::now();
        // Connects in flight at once: enough to be quick, few enough for the listen backlog.
        let gate = Arc::new(Semaphore::new(512));
        let open = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(Mutex::new(None::<String>));
        let mut tasks = Vec::with_capacity(count);
        for i in 0..count {
            let (gate, open, failed) = (gate.clone(), open.clone(), failed.clone());
            let (addr, source, room, mut on_data) =
                (server.addr, self.source(i), room_of(i), listener(i));
            tasks.push(tokio::spawn(async move {
                let permit = gate.acquire_owned().await.expect("never closed");
                let stream = http::EventStream::open(addr, source, &room).await;
                drop(permit);
                match stream {
                    Ok(mut stream) => {
                        open.fetch_add(1, Ordering::Release);
                        let _ = stream.for_each_data(&mut on_data).await;
                    }
                    Err(error) => *failed.lock().unwrap() = Some(format!("{error:#}")),
                }
            }));
        }
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
        Ok((tasks, started.elapsed()))
    }

    async fn fanout(
        &self,
        subscribers: usize,
        messages: usize,
        rate: f64,
    ) -> anyhow::Result<FanoutReport> {
        let server = self.server().await?;
        let room = "fanout";
        let tracker = Arc::new(Tracker::new(subscribers, messages));
        let epoch = self.epoch;
        let (tasks, connect_time) = self
            .listen(
                &server,
                subscribers,
                |_| room.to_owned(),
                |i| {
                    let tracker = tracker.clone();
                    let mut seen = Seen::default();
                    move |data: &[u8]| {
                        if let Some((_, seq, sent_us)) = parse_text(data) {
                            let latency =
                                (epoch.elapsed().as_micros() as u64).saturating_sub(sent_us);
                            seen.record(seq, latency);
                            if seen.count == tracker.messages {
                                tracker.finish(i, std::mem::take(&mut seen));
                                return false;
                            }
                        }
                        true
                    }
                },
            )
            .await?;
        let rss_open = server.rss_bytes();
        let mut poster = http::Poster::sign_in(server.addr, "bench").await?;
        let cpu_before = server.cpu_times();
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate);
        for seq in 0..messages {
            let due = started + interval * seq as u32;
            tokio::time::sleep_until(due.into()).await;
            let status = poster
                .post(room, &format!("b:{room}:{seq}:{}", self.now_us()))
                .await?;
            if status != 201 {
                bail!("POST answered {status}");
            }
        }
        let posting = started.elapsed();
        let deadline = Instant::now() + Duration::from_secs(10) + posting;
        while tracker.finished.load(Ordering::Acquire) < subscribers && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let elapsed = started.elapsed();
        let cpu = server
            .cpu_times()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        for task in &tasks {
            task.abort();
        }
        Ok(tracker.report(subscribers, messages, connect_time, elapsed, cpu, rss_open))
    }

    async fn rooms(
        &self,
        rooms: usize,
        per_room: usize,
        messages_per_room: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let count = rooms * per_room;
        let tracker = Arc::new(Tracker::new(count, messages_per_room));
        let leaks = Arc::new(AtomicUsize::new(0));
        let (tasks, connect_time) = self
            .listen(
                &server,
                count,
                |i| format!("r{}", i / per_room),
                |i| {
                    let (tracker, leaks) = (tracker.clone(), leaks.clone());
                    let mine = format!("r{}", i / per_room);
                    let mut seen = Seen::default();
                    move |data: &[u8]| {
                        if let Some((room, seq, _)) = parse_text(data) {
                            if room != mine {
                                leaks.fetch_add(1, Ordering::Relaxed);
                            }
                            seen.record(seq, 0);
                            if seen.count == tracker.messages {
                                tracker.finish(i, std::mem::take(&mut seen));
                                return false;
                            }
                        }
                        true
                    }
                },
            )
            .await?;
        let started = Instant::now();
        let posters = 8.min(rooms);
        let mut jobs = Vec::new();
        for p in 0..posters {
            let addr = server.addr;
            jobs.push(tokio::spawn(async move {
                let mut poster = http::Poster::sign_in(addr, &format!("poster{p}")).await?;
                for seq in 0..messages_per_room {
                    for room in (p..rooms).step_by(posters) {
                        let room = format!("r{room}");
                        let status = poster.post(&room, &format!("b:{room}:{seq}:0")).await?;
                        if status != 201 {
                            bail!("POST answered {status}");
                        }
                    }
                }
                anyhow::Ok(())
            }));
        }
        for job in jobs {
            job.await??;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while tracker.finished.load(Ordering::Acquire) < count && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for task in &tasks {
            task.abort();
        }
        let report = tracker.report(
            count,
            messages_per_room,
            connect_time,
            started.elapsed(),
            None,
            None,
        );
        let leaked = leaks.load(Ordering::Relaxed);
        println!(
            "rooms: {rooms} rooms x {per_room} subscribers, {messages_per_room} messages each: \
             {} deliveries, lost {}, duplicated {}, out of order {}, cross-room {leaked}",
            report.delivered, report.lost, report.duplicated, report.out_of_order
        );
        if report.lost + report.duplicated + report.out_of_order + leaked > 0 {
            bail!("rooms: delivery was not exactly once and isolated");
        }
        Ok(())
    }

    async fn idle(&self, streams: usize) -> anyhow::Result<()> {
        let server = self.server().await?;
        let mut poster = http::Poster::sign_in(server.addr, "bench").await?;
        // Warm up: one stream and one post, so that lazily built state is not counted.
        let (warm, _) = self
            .listen(&server, 1, |_| "idle".into(), |_| |_: &[u8]| true)
            .await?;
        poster.post("elsewhere", "warm-up").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_before = server.rss_bytes();
        let (tasks, connect_time) = self
            .listen(&server, streams, |_| "idle".into(), |_| |_: &[u8]| true)
            .await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_after = server.rss_bytes();
        let mut latencies = Vec::new();
        for i in 0..20 {
            let started = Instant::now();
            let status = poster
                .post("elsewhere", &format!("b:elsewhere:{i}:0"))
                .await?;
            latencies.push(started.elapsed());
            if status != 201 {
                bail!("POST answered {status}");
            }
        }
        latencies.sort();
        let per_connection = rss_before
            .zip(rss_after)
            .map(|(before, after)| after.saturating_sub(before) as f64 / streams as f64 / 1024.0);
        println!(
            "idle: {streams} streams open in {:.2} s; server RSS {} -> {} ({} per connection); \
             POST meanwhile: median {:.2} ms, max {:.2} ms",
            connect_time.as_secs_f64(),
            mib(rss_before),
            mib(rss_after),
            per_connection.map_or("n/a".into(), |k| format!("{k:.2} KiB")),
            ms(latencies[latencies.len() / 2]),
            ms(*latencies.last().unwrap()),
        );
        for task in tasks.iter().chain(&warm) {
            task.abort();
        }
        Ok(())
    }

    async fn post(
        &self,
        clients: usize,
        messages: usize,
        subscribers: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let room = "posts";
        let received = Arc::new(AtomicUsize::new(0));
        let (tasks, _) = self
            .listen(
                &server,
                subscribers,
                |_| room.into(),
                |_| {
                    let received = received.clone();
                    move |_: &[u8]| {
                        received.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                },
            )
            .await?;
        let mut posters = Vec::new();
        for c in 0..clients {
            posters.push(http::Poster::sign_in(server.addr, &format!("poster{c}")).await?);
        }
        let cpu_before = server.cpu_seconds();
        let started = Instant::now();
        let mut jobs = Vec::new();
        for (c, mut poster) in posters.into_iter().enumerate() {
            let share = messages / clients + usize::from(c < messages % clients);
            jobs.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for seq in 0..share {
                    let sent = Instant::now();
                    let status = poster.post(room, &format!("b:{room}:{c}-{seq}:0")).await?;
                    latencies.push(sent.elapsed());
                    if status != 201 {
                        bail!("POST answered {status}");
                    }
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::with_capacity(messages);
        for job in jobs {
            latencies.extend(job.await??);
        }
        let elapsed = started.elapsed();
        let cpu = server.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
        latencies.sort();
        let expected = messages * subscribers;
        let deadline = Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        println!(
            "post: {clients} clients, {messages} messages, {subscribers} subscribers: {:.0} messages/s; \
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server CPU {}; deliveries {}/{expected}",
            messages as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            cpu.map_or("n/a".into(), |c| format!(
                "{:.1} µs per post",
                c * 1e6 / messages as f64
            )),
            received.load(Ordering::Relaxed),
        );
        for task in &tasks {
            task.abort();
        }
        Ok(())
    }

    async fn page(
        &self,
        requests: usize,
        concurrency: usize,
        messages: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let mut poster = http::Poster::sign_in(server.addr, "bench").await?;
        for seq in 0..messages {
            poster
                .post(
                    "page",
                    &format!("b:page:{seq}:0 a message of ordinary length"),
                )
                .await?;
        }
        let host = server.addr.to_string();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut jobs = Vec::new();
        for _ in 0..concurrency {
            let (next, host, addr) = (next.clone(), host.clone(), server.addr);
            jobs.push(tokio::spawn(async move {
                let mut sender = http::connect(addr, None).await?;
                let mut bytes = 0;
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    let (status, length) = http::get(&mut sender, &host, "/r/page").await?;
                    if status != 200 {
                        bail!("GET /r/page answered {status}");
                    }
                    bytes = length;
                }
                anyhow::Ok(bytes)
            }));
        }
        let mut page_bytes = 0;
        for job in jobs {
            page_bytes = job.await??;
        }
        let elapsed = started.elapsed();
        println!(
            "page: {requests} renders of a room with {} messages ({page_bytes} bytes), {concurrency} connections: {:.0} pages/s",
            messages.min(50),
            requests as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    }

    async fn start_up(&self, runs: usize) -> anyhow::Result<()> {
        if self.url.is_some() {
            bail!("start measures a server the bench starts; drop --url");
        }
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs {
            let (server, ready) = Server::start(&self.launch).await?;
            times.push(ready);
            tokio::time::sleep(Duration::from_millis(200)).await;
            rss.extend(server.rss_bytes());
        }
        times.sort();
        rss.sort();
        println!(
            "start: {runs} cold starts to a ready /readyz: median {:.1} ms, max {:.1} ms; idle RSS median {}",
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap()),
            mib(rss.get(rss.len() / 2).copied()),
        );
        Ok(())
    }
}

/// Parses a bench message's text, `b:<room>:<seq>:<sent µs>`, out of an event's JSON.
fn parse_text(data: &[u8]) -> Option<(&str, u64, u64)> {
    let data = std::str::from_utf8(data).ok()?;
    let start = data.find("\"text\":\"b:")? + 10;
    let rest = &data[start..];
    let text = &rest[..rest.find('"')?];
    let mut parts = text.splitn(3, ':');
    let room = parts.next()?;
    let seq = parts.next()?;
    let sent = parts.next()?;
    let seq = seq.rsplit('-').next()?.parse().ok()?;
    let sent = sent.split(' ').next()?.parse().ok()?;
    Some((room, seq, sent))
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    count: usize,
    next: u64,
    duplicated: usize,
    out_of_order: usize,
    latencies_us: Vec<u32>,
}

impl Seen {
    fn record(&mut self, seq: u64, latency_us: u64) {
        if seq < self.next {
            self.duplicated += 1;
        } else {
            if seq > self.next {
                self.out_of_order += 1;
            }
            self.next = seq + 1;
            self.count += 1;
        }
        self.latencies_us
            .push(latency_us.min(u32::MAX as u64) as u32);
    }
}

struct Tracker {
    messages: usize,
    finished: AtomicUsize,
    results: Mutex<Vec<Option<Seen>>>,
}

impl Tracker {
    fn new(subscribers: usize, messages: usize) -> Self {
        Self {
            messages,
            finished: AtomicUsize::new(0),
            results: Mutex::new((0..subscribers).map(|_| None).collect()),
        }
    }

    fn finish(&self, subscriber: usize, seen: Seen) {
        self.results.lock().unwrap()[subscriber] = Some(seen);
        self.finished.fetch_add(1, Ordering::Release);
    }

    fn report(
        &self,
        subscribers: usize,
        messages: usize,
        connect_time: Duration,
        elapsed: Duration,
        cpu: Option<server::CpuTimes>,
        rss_open: Option<u64>,
    ) -> FanoutReport {
        let results = self.results.lock().unwrap();
        let mut latencies: Vec<u32> = Vec::new();
        let (mut delivered, mut duplicated, mut out_of_order) = (0, 0, 0);
        for seen in results.iter().flatten() {
            delivered += seen.count;
            duplicated += seen.duplicated;
            out_of_order += seen.out_of_order;
            latencies.extend(&seen.latencies_us);
        }
        latencies.sort_unstable();
        let at = |p: f64| Duration::from_micros(percentile(&latencies, p) as u64);
        FanoutReport {
            subscribers,
            messages,
            connect_time,
            delivered,
            lost: subscribers * messages - delivered,
            duplicated,
            out_of_order,
            per_second: delivered as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
            max: at(1.0),
            cpu_per_delivery_us: cpu.map(|c| {
                let per = |seconds: f64| seconds * 1e6 / delivered.max(1) as f64;
                (per(c.user + c.system), per(c.user), per(c.system))
            }),
            rss_open,
        }
    }
}

struct FanoutReport {
    subscribers: usize,
    messages: usize,
    connect_time: Duration,
    delivered: usize,
    lost: usize,
    duplicated: usize,
    out_of_order: usize,
    per_second: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    /// Server CPU per delivery in µs: total, user, system.
    cpu_per_delivery_us: Option<(f64, f64, f64)>,
    rss_open: Option<u64>,
}

impl FanoutReport {
    fn print(self) {
        println!(
            "fanout: {} subscribers connected in {:.2} s (server RSS {}); {} messages -> {} deliveries \
             ({:.0}/s); lost {}, duplicated {}, out of order {}; latency p50 {:.1} ms, p99 {:.1} ms, \
             max {:.1} ms; server CPU {}",
            self.subscribers,
            self.connect_time.as_secs_f64(),
            mib(self.rss_open),
            self.messages,
            self.delivered,
            self.per_second,
            self.lost,
            self.duplicated,
            self.out_of_order,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.cpu_per_delivery_us
                .map_or("n/a".into(), |(total, user, system)| format!(
                    "{total:.2} µs per delivery (user {user:.2}, system {system:.2})"
                )),
        );
        if self.lost + self.duplicated + self.out_of_order > 0 {
            eprintln!("fanout: delivery was not exactly once and in order");
            std::process::exit(1);
        }
    }
}

fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
}
