//! What the subscribers saw: each subscriber's sequence check, the awareness events
//! counted by kind, and the delivery report every fan-out style scenario prints.

use super::{
    http::Event,
    mib, ms, percentile,
    server::{CpuTimes, Server},
    wait_until,
};
use std::{
    collections::HashSet,
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

/// Parses a bench message's text, `b:<room>:<seq>:<sent µs>`, out of an event's JSON.
pub fn parse_text(data: &[u8]) -> Option<(&str, u64, u64)> {
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

/// What one subscriber saw of one room's messages.
#[derive(Default)]
pub struct Seen {
    pub count: usize,
    next: u64,
    duplicated: usize,
    out_of_order: usize,
    latencies_us: Vec<u32>,
}

impl Seen {
    pub fn record(&mut self, seq: u64, latency_us: u64) {
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

    /// Adds what the same subscriber saw of another room.
    pub fn merge(&mut self, other: Seen) {
        self.count += other.count;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.latencies_us.extend(other.latencies_us);
    }
}

/// Awareness events delivered, by kind, over all subscribers.
#[derive(Default)]
pub struct Awareness {
    presence: AtomicUsize,
    join: AtomicUsize,
    leave: AtomicUsize,
    typing: AtomicUsize,
    /// Any other named event (`resync`, `update`, ...): none is expected.
    other: AtomicUsize,
    /// The distinct `(room, name)` data of `join` and of `leave` events: how many the
    /// server sent, as against how many copies were delivered.
    joined: Mutex<HashSet<Vec<u8>>>,
    left: Mutex<HashSet<Vec<u8>>>,
}

impl Awareness {
    /// Counts `event` if it is not a chat message; returns whether it was one.
    pub fn count(&self, event: &Event<'_>) -> bool {
        let counter = match event.name {
            _ if event.is_message() => return true,
            b"presence" => &self.presence,
            b"join" => &self.join,
            b"leave" => &self.leave,
            b"typing" => &self.typing,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        // Joins and leaves are few (at most 100 people per room make them), so a set is
        // cheap here.
        let distinct = match event.name {
            b"join" => &self.joined,
            b"leave" => &self.left,
            _ => return false,
        };
        let mut distinct = distinct.lock().unwrap();
        if !distinct.contains(event.data) {
            distinct.insert(event.data.to_vec());
        }
        false
    }

    pub fn snapshot(&self) -> AwarenessCounts {
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        AwarenessCounts {
            presence: get(&self.presence),
            join: get(&self.join),
            leave: get(&self.leave),
            typing: get(&self.typing),
            other: get(&self.other),
            joins_sent: self.joined.lock().unwrap().len(),
            leaves_sent: self.left.lock().unwrap().len(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct AwarenessCounts {
    pub presence: usize,
    pub join: usize,
    pub leave: usize,
    pub typing: usize,
    pub other: usize,
    /// Distinct joins and leaves among those delivered.
    pub joins_sent: usize,
    pub leaves_sent: usize,
}

impl AwarenessCounts {
    pub fn total(&self) -> usize {
        self.presence + self.join + self.leave + self.typing + self.other
    }
}

impl fmt::Display for AwarenessCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "presence {}, join {} (of {} people), leave {} (of {}), typing {}, other {}",
            self.presence,
            self.join,
            self.joins_sent,
            self.leave,
            self.leaves_sent,
            self.typing,
            self.other
        )
    }
}

/// Collects every subscriber's [`Seen`] once it has all it expects.
pub struct Tracker {
    pub finished: AtomicUsize,
    /// Messages that arrived after their subscriber had all it expected: duplicates.
    surplus: AtomicUsize,
    results: Mutex<Vec<Option<Seen>>>,
}

impl Tracker {
    pub fn new(subscribers: usize) -> Self {
        Self {
            finished: AtomicUsize::new(0),
            surplus: AtomicUsize::new(0),
            results: Mutex::new((0..subscribers).map(|_| None).collect()),
        }
    }

    pub fn finish(&self, subscriber: usize, seen: Seen) {
        self.results.lock().unwrap()[subscriber] = Some(seen);
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Counts a message that came after its subscriber finished.
    pub fn surplus(&self) {
        self.surplus.fetch_add(1, Ordering::Relaxed);
    }

    pub fn all_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire) == self.results.lock().unwrap().len()
    }

    /// The deliveries seen, against `expected` in all, while the server spent `cpu` over
    /// `elapsed`.
    /// Waits (up to 10 s past the posting) until every subscriber has all it expects,
    /// then reports: elapsed since `started`, and the server's CPU since `cpu_before`.
    pub async fn settle(
        &self,
        server: &Server,
        cpu_before: Option<CpuTimes>,
        started: Instant,
        expected: usize,
    ) -> Deliveries {
        let posting = started.elapsed();
        wait_until(posting + Duration::from_secs(10), || self.all_finished()).await;
        let elapsed = started.elapsed();
        let cpu = server
            .cpu_times()
            .zip(cpu_before)
            .map(|(after, before)| after - before);
        self.report(expected, elapsed, cpu)
    }

    pub fn report(&self, expected: usize, elapsed: Duration, cpu: Option<CpuTimes>) -> Deliveries {
        let results = self.results.lock().unwrap();
        let mut latencies: Vec<u32> = Vec::new();
        let (mut delivered, mut out_of_order) = (0, 0);
        let mut duplicated = self.surplus.load(Ordering::Relaxed);
        for seen in results.iter().flatten() {
            delivered += seen.count;
            duplicated += seen.duplicated;
            out_of_order += seen.out_of_order;
            latencies.extend(&seen.latencies_us);
        }
        latencies.sort_unstable();
        let at = |p: f64| Duration::from_micros(percentile(&latencies, p) as u64);
        Deliveries {
            delivered,
            lost: expected.saturating_sub(delivered),
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
        }
    }
}

/// Message deliveries of one run.
pub struct Deliveries {
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub out_of_order: usize,
    pub per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Server CPU per delivery in µs: total, user, system.
    pub cpu_per_delivery_us: Option<(f64, f64, f64)>,
}

impl Deliveries {
    pub fn exact(&self) -> bool {
        self.lost + self.duplicated + self.out_of_order == 0
    }

    pub fn cpu_us(&self) -> Option<f64> {
        self.cpu_per_delivery_us.map(|(total, _, _)| total)
    }
}

impl fmt::Display for Deliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} deliveries ({:.0}/s); lost {}, duplicated {}, out of order {}; latency p50 \
             {:.1} ms, p99 {:.1} ms, max {:.1} ms; server CPU {}",
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
        )
    }
}

/// How opening the streams went.
pub struct Connect {
    /// Until every stream had its response head.
    pub open: Duration,
    /// Until every stream had its first event (`presence`); `None` if some never did.
    pub greeted: Option<Duration>,
    /// Server CPU per stream opened, in µs, from the first connect to a second after
    /// the last greeting.
    pub cpu_per_stream_us: Option<f64>,
    pub rss: Option<u64>,
}

impl fmt::Display for Connect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "open in {:.2} s, all greeted in {} (server RSS {}, CPU {} per stream)",
            self.open.as_secs_f64(),
            self.greeted
                .map_or("never".into(), |d| format!("{:.2} s", d.as_secs_f64())),
            mib(self.rss),
            self.cpu_per_stream_us
                .map_or("n/a".into(), |us| format!("{us:.1} µs")),
        )
    }
}
