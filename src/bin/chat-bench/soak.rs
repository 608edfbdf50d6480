//! Streams held open, and what they cost in memory.
//!
//! - `idle`: N streams that receive nothing: server RSS per connection, and whether a
//!   POST still answers quickly meanwhile.
//! - `soak`: many streams held for a long time while posts flow, with the server's
//!   resident memory sampled as it goes. A server that leaks per message or per stream
//!   shows a slope; a sound one levels off once its buffers and history are warm.

use super::{
    Bench,
    http::{self, Event, Target},
    mib, ms, percentile,
};
use anyhow::bail;
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Samples before this much time has passed are warm-up, not slope.
const WARM_UP: Duration = Duration::from_secs(60);

impl Bench {
    pub(super) async fn idle(&self, streams: usize) -> anyhow::Result<()> {
        let server = self.server().await?;
        let mut poster = http::Poster::sign_in(server.addr, &self.name("idle", 0)).await?;
        // Warm up: one stream and one post, so that lazily built state is not counted.
        let warm = self
            .listen(
                &server,
                1,
                |_| Target::room("idle"),
                |_| |_: &Event<'_>| true,
            )
            .await?;
        poster.post("elsewhere", "warm-up").await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_before = server.rss_bytes();
        let open = self
            .listen(
                &server,
                streams,
                |_| Target::room("idle"),
                |_| |_: &Event<'_>| true,
            )
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
            open.open.as_secs_f64(),
            mib(rss_before),
            mib(rss_after),
            per_connection.map_or("n/a".into(), |k| format!("{k:.2} KiB")),
            ms(percentile(&latencies, 0.5)),
            ms(*latencies.last().unwrap()),
        );
        drop((open, warm));
        Ok(())
    }

    pub(super) async fn soak(
        &self,
        streams: usize,
        duration: Duration,
        rate: f64,
        every: Duration,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let room = "soak";
        let delivered = Arc::new(AtomicU64::new(0));
        let open = self
            .listen(
                &server,
                streams,
                |_| Target::room(room),
                |_| {
                    let delivered = delivered.clone();
                    move |event: &Event<'_>| {
                        if event.is_message() {
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                        true
                    }
                },
            )
            .await?;
        println!(
            "soak: {streams} streams open in {:.2} s, RSS {}; posting {rate}/s for {} s",
            open.open.as_secs_f64(),
            mib(server.rss_bytes()),
            duration.as_secs()
        );
        let mut poster = http::Poster::sign_in(server.addr, &self.name("soak", 0)).await?;
        let interval = Duration::from_secs_f64(1.0 / rate);
        let started = Instant::now();
        let mut next_sample = every;
        let mut samples: Vec<(Duration, u64)> = Vec::new();
        let mut posted = 0u64;
        while started.elapsed() < duration {
            let due = started + interval * posted as u32;
            tokio::time::sleep_until(due.into()).await;
            let status = poster
                .post(room, &format!("b:{room}:{posted}:{}", self.now_us()))
                .await?;
            if status != 201 {
                bail!("POST answered {status}");
            }
            posted += 1;
            if started.elapsed() >= next_sample {
                let rss = server.rss_bytes().unwrap_or(0);
                println!(
                    "soak: t={:>4} s  RSS {}  posted {posted}  delivered {}",
                    next_sample.as_secs(),
                    mib(Some(rss)),
                    delivered.load(Ordering::Relaxed)
                );
                samples.push((next_sample, rss));
                next_sample += every;
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let expected = posted * streams as u64;
        let got = delivered.load(Ordering::Relaxed);
        let steady: Vec<u64> = samples
            .iter()
            .filter(|(t, _)| *t >= WARM_UP.min(duration / 2))
            .map(|(_, rss)| *rss)
            .collect();
        let growth = match (steady.first(), steady.last()) {
            (Some(&first), Some(&last)) if first > 0 => {
                format!(
                    "{:+.2}%",
                    (last as f64 - first as f64) / first as f64 * 100.0
                )
            }
            _ => "n/a".into(),
        };
        println!(
            "soak: {streams} streams, {posted} posts over {} s: delivered {got} of {expected}; \
             RSS after warm-up {} -> at the end {} ({growth})",
            duration.as_secs(),
            mib(steady.first().copied()),
            mib(steady.last().copied()),
        );
        drop(open);
        if got != expected {
            bail!("soak: {got} deliveries, expected {expected}");
        }
        Ok(())
    }
}
