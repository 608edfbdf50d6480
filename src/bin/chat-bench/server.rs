//! The server under test: started by the bench, or already running (`--url`, `--pid`).

use anyhow::{Context, bail};
use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub struct Server {
    pub addr: SocketAddr,
    pub pid: Option<u32>,
    child: Option<Child>,
    /// Redis and key prefix to delete when done, for servers the bench started.
    cleanup: Option<(RedisAt, String)>,
    /// The data folder of a server on SQLite, removed when done.
    data_dir: Option<PathBuf>,
}

/// The Redis a started server uses.
#[derive(Clone, Debug)]
pub enum RedisAt {
    One(String),
    Cluster(Vec<String>),
}

/// How to start a server.
#[derive(Clone, Debug)]
pub struct Launch {
    pub binary: PathBuf,
    pub redis: Option<RedisAt>,
    pub history_limit: Option<u32>,
    /// `CHAT_LEAVE_GRACE_SECS`.
    pub leave_grace_secs: f64,
    /// Keep what is posted in SQLite (in a folder of the bench's own), as one node does
    /// by default; otherwise `CHAT_DATABASE_URL=none`.
    pub sqlite: bool,
    /// `CHAT_DATABASE_URL` for a node on Redis: a PostgreSQL database.
    pub database: Option<String>,
}

impl Server {
    pub fn existing(url: &str, pid: Option<u32>) -> anyhow::Result<Self> {
        let authority = url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .replace("localhost", "127.0.0.1");
        Ok(Self {
            addr: authority
                .parse()
                .with_context(|| format!("--url {url} is not http://IP:PORT"))?,
            pid,
            child: None,
            cleanup: None,
            data_dir: None,
        })
    }

    /// Starts the binary on a free port and returns once `/readyz` answers 200, with the
    /// time that took.
    pub async fn start(launch: &Launch) -> anyhow::Result<(Self, Duration)> {
        Self::start_under(launch, None).await
    }

    /// A second node of `first`'s chat: the same broker and key prefix (`first` deletes
    /// the keys when it is dropped).
    pub async fn start_beside(launch: &Launch, first: &Server) -> anyhow::Result<Self> {
        let prefix = first
            .cleanup
            .as_ref()
            .map(|(_, prefix)| prefix.clone())
            .context("a second node needs a first one on Redis that the bench started")?;
        Ok(Self::start_under(launch, Some(prefix)).await?.0)
    }

    async fn start_under(
        launch: &Launch,
        shared_prefix: Option<String>,
    ) -> anyhow::Result<(Self, Duration)> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let owns_prefix = shared_prefix.is_none();
        let prefix =
            shared_prefix.unwrap_or_else(|| format!("bench-{}-{port}", std::process::id()));
        let mut command = Command::new(&launch.binary);
        command
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .env("CHAT_SECRET", "chat-bench")
            .env("CHAT_REDIS_PREFIX", &prefix)
            .env("RUST_LOG", "warn")
            // The bench posts far faster than any person may, and every one of its
            // thousands of clients comes from 127.0.0.1.
            .env("CHAT_POST_RATE", "0")
            .env("CHAT_SIGNIN_RATE", "0")
            .env("CHAT_NEW_ROOMS_PER_HOUR", "0")
            .env("CHAT_MAX_STREAMS_PER_CLIENT", "0")
            .env("CHAT_LEAVE_GRACE_SECS", launch.leave_grace_secs.to_string())
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER_URLS")
            .stdin(Stdio::null());
        match &launch.redis {
            Some(RedisAt::One(url)) => command.env("REDIS_URL", url),
            Some(RedisAt::Cluster(urls)) => command.env("REDIS_CLUSTER_URLS", urls.join(",")),
            None => &mut command,
        };
        if let Some(limit) = launch.history_limit {
            command.env("CHAT_HISTORY_LIMIT", limit.to_string());
        }
        let data_dir = launch.sqlite.then(|| {
            std::env::temp_dir().join(format!("chat-bench-{}-{port}", std::process::id()))
        });
        match &data_dir {
            Some(dir) => command
                .env("CHAT_DATA_DIR", dir)
                .env_remove("CHAT_DATABASE_URL"),
            None => command.env(
                "CHAT_DATABASE_URL",
                launch.database.as_deref().unwrap_or("none"),
            ),
        };
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let server = Self {
            addr,
            pid: Some(child.id()),
            child: Some(child),
            cleanup: launch
                .redis
                .clone()
                .filter(|_| owns_prefix)
                .map(|redis| (redis, prefix)),
            data_dir,
        };
        let ready = server.wait_ready(started).await?;
        Ok((server, ready))
    }

    async fn wait_ready(&self, since: Instant) -> anyhow::Result<Duration> {
        let deadline = since + Duration::from_secs(10);
        loop {
            if let Ok(mut sender) = super::http::connect(self.addr, None).await
                && let Ok((status, _)) =
                    super::http::get(&mut sender, &self.addr.to_string(), "/readyz").await
                && status == 200
            {
                return Ok(since.elapsed());
            }
            if Instant::now() > deadline {
                bail!("the server was not ready within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }

    /// The server's user + system CPU time so far, from `/proc/<pid>/stat`.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.cpu_times().map(|t| t.user + t.system)
    }

    /// The server's user and system CPU time so far (fields 14 and 15 of
    /// `/proc/<pid>/stat`, after the parenthesised command name).
    pub fn cpu_times(&self) -> Option<CpuTimes> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid?)).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let ticks = |i: usize| Some(fields.get(i)?.parse::<f64>().ok()? / clock_ticks_per_second());
        Some(CpuTimes {
            user: ticks(11)?,
            system: ticks(12)?,
        })
    }

    /// The server's resident set size, from `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

impl std::ops::Sub for CpuTimes {
    type Output = CpuTimes;

    fn sub(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
fn clock_ticks_per_second() -> f64 {
    100.0
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        let Some((redis, prefix)) = self.cleanup.take() else {
            return;
        };
        let deleted = match &redis {
            RedisAt::One(url) => tiny_chat::server::broker::redis::delete_prefix(url, &prefix),
            RedisAt::Cluster(urls) => {
                tiny_chat::server::broker::redis::delete_prefix_on_cluster(urls, &prefix)
            }
        };
        if let Err(error) = deleted {
            eprintln!("could not delete the bench's Redis keys under {prefix}: {error:#}");
        }
    }
}
