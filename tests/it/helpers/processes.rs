//! Processes of their own: a private `redis-server`, and the real server binary.

use super::{PROMPTLY, wait_ready};
use std::time::Duration;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private `redis-server` on a free port, for tests that stop Redis or count its
/// clients. Killed when dropped.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, with nothing persisted, and waits for PING.
    pub fn restart(&mut self) {
        let binary = std::env::var("TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = std::process::Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                &std::env::temp_dir().display().to_string(),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {binary} (install redis-server): {e}"));
        self.child = Some(child);
        let deadline = std::time::Instant::now() + PROMPTLY;
        loop {
            let pong = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if pong.is_ok() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `CLIENT LIST`, one line per connection.
    pub fn clients(&self) -> Vec<String> {
        let client = redis::Client::open(self.url()).unwrap();
        let mut connection = client.get_connection().unwrap();
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut connection)
            .unwrap();
        list.lines().map(str::to_owned).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real server binary, as a separate process. Killed (as `kill -9` does) when dropped.
pub struct NodeProcess {
    pub base: String,
    child: std::process::Child,
}

impl NodeProcess {
    pub async fn start(redis_url: &str, prefix: &str, secret: &str) -> Self {
        Self::start_with(&[
            ("REDIS_URL", redis_url),
            ("CHAT_REDIS_PREFIX", prefix),
            ("CHAT_SECRET", secret),
        ])
        .await
    }

    /// A node with exactly these settings (no `REDIS_URL`: in process; no
    /// `CHAT_DATABASE_URL`: keeping nothing).
    pub async fn start_with(env: &[(&str, &str)]) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"));
        command
            .env_remove("REDIS_URL")
            .env("CHAT_DATABASE_URL", "none")
            .env("LEPTOS_SITE_ADDR", &addr)
            .env("RUST_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("starting the server binary");
        let base = format!("http://{addr}");
        wait_ready(&base).await;
        Self { base, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Kills the process with SIGKILL, as a crash would: nothing is closed cleanly.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Resident memory, in KiB, from `/proc`.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
