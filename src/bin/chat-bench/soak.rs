//! The `soak` scenario: many streams held for a long time while posts flow, with the
//! server's resident memory sampled as it goes. A server that leaks per message or per
//! stream shows a slope; a sound one levels off once its buffers and history are warm.

use super::{Bench, http, mib};
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
        let (tasks, connect_time) = self
            .listen(
                &server,
                streams,
                |_| room.to_owned(),
                |_| {
                    let delivered = delivered.clone();
                    move |_: &[u8]| {
                        delivered.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                },
            )
            .await?;
        println!(
            "soak: {streams} streams open in {:.2} s, RSS {}; posting {rate}/s for {} s",
            connect_time.as_secs_f64(),
            mib(server.rss_bytes()),
            duration.as_secs()
        );
        let mut poster = http::Poster::sign_in(server.addr, "soak").await?;
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
        for task in &tasks {
            task.abort();
        }
        if got != expected {
            bail!("soak: {got} deliveries, expected {expected}");
        }
        Ok(())
    }
}
