//! What every scenario shares: the server under test, as the command line gives it
//! ([`Bench`]), and [`Bench::listen`], which opens thousands of streams.

use super::{
    args::{BrokerKind, Cli},
    http::{self, Event, Target},
    server::{Launch, RedisAt, Server},
    tally::Connect,
};
use anyhow::{Context, bail};
use std::{
    net::{IpAddr, Ipv4Addr},
    ops::Range,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::{sync::Semaphore, task::JoinHandle};

pub struct Bench {
    pub url: Option<String>,
    pub pid: Option<u32>,
    pub launch: Launch,
    /// `--two-nodes`.
    pub two_nodes: bool,
    pub sources: Vec<IpAddr>,
    pub epoch: Instant,
    /// Makes this run's names (and the rooms of scenarios that care) its own, so that a
    /// second run against the same `--url` server does not meet the first one's.
    pub nonce: String,
}

impl Bench {
    pub fn new(cli: &Cli) -> anyhow::Result<Self> {
        let binary = match &cli.server_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe()?
                .parent()
                .context("the bench binary has no directory")?
                .join("tiny-chat"),
        };
        let broker = match cli.broker {
            BrokerKind::Memory => "memory",
            BrokerKind::Sqlite => "sqlite",
            BrokerKind::Redis => "redis",
            BrokerKind::Cluster => "cluster",
        };
        if cli.url.is_none() {
            let kept = if cli.database_url.is_some() {
                " + postgres"
            } else {
                ""
            };
            println!(
                "server: {} (started by the bench), broker: {broker}{kept}",
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
                    BrokerKind::Memory | BrokerKind::Sqlite => None,
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
                sqlite: cli.broker == BrokerKind::Sqlite,
                database: cli.database_url.clone(),
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

    pub async fn server(&self) -> anyhow::Result<Server> {
        match &self.url {
            Some(url) => Server::existing(url, self.pid),
            None => Ok(Server::start(&self.launch).await?.0),
        }
    }

    /// With `--two-nodes`, the node that posts go through: a second one beside `first`.
    pub async fn poster_node(&self, first: &Server) -> anyhow::Result<Option<Server>> {
        if !self.two_nodes {
            return Ok(None);
        }
        Ok(Some(Server::start_beside(&self.launch, first).await?))
    }

    pub fn source(&self, n: usize) -> Option<IpAddr> {
        (self.sources.len() > 1).then(|| self.sources[n % self.sources.len()])
    }

    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// A display name of this run's own: `<prefix><nonce>-<n>`, at most 24 characters.
    pub fn name(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}{}-{n}", self.nonce)
    }

    /// Opens `count` streams, the `i`th to `target_of(i)`, each handing every event
    /// that carries data to `listener(i)`. Returns once all are open (their response
    /// heads arrived). A listener that returns false closes its stream.
    pub async fn listen<L>(
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
    pub async fn connect<L>(
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
pub struct Streams {
    pub tasks: Vec<JoinHandle<()>>,
    /// How long opening them took.
    pub open: Duration,
    pub started: Instant,
    /// Streams that had at least one event.
    pub greeted: Arc<AtomicUsize>,
}

impl Streams {
    /// How long until every stream had its first event, waiting up to `within`.
    pub async fn all_greeted(&self, within: Duration) -> Option<Duration> {
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
    pub fn close(&self, range: Range<usize>) {
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
