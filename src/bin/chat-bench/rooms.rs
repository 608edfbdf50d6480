//! The `rooms` scenario: many rooms with a few subscribers each, one stream per room;
//! nothing lost, nothing duplicated, nothing delivered to another room's subscribers;
//! post-to-receipt latency and the (listeners') server's CPU per delivery. With
//! `--two-nodes`, the posts go through a second node.

use super::{
    Bench,
    http::{self, Event, Target},
    tally::{Seen, Tracker, parse_text},
};
use anyhow::bail;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

impl Bench {
    pub(super) async fn rooms(
        &self,
        rooms: usize,
        per_room: usize,
        messages_per_room: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let count = rooms * per_room;
        let tracker = Arc::new(Tracker::new(count));
        let leaks = Arc::new(AtomicUsize::new(0));
        let epoch = self.epoch;
        let streams = self
            .listen(
                &server,
                count,
                |i| Target::room(&format!("r{}", i / per_room)),
                |i| {
                    let (tracker, leaks) = (tracker.clone(), leaks.clone());
                    let mine = format!("r{}", i / per_room);
                    let mut seen = Seen::default();
                    move |event: &Event<'_>| {
                        if event.is_message()
                            && let Some((room, seq, sent_us)) = parse_text(event.data)
                        {
                            if room != mine {
                                leaks.fetch_add(1, Ordering::Relaxed);
                            }
                            let now = epoch.elapsed().as_micros() as u64;
                            seen.record(seq, now.saturating_sub(sent_us));
                            if seen.count == messages_per_room {
                                tracker.finish(i, std::mem::take(&mut seen));
                                return false;
                            }
                        }
                        true
                    }
                },
            )
            .await?;
        let second = self.poster_node(&server).await?;
        let post_to = second.as_ref().map_or(server.addr, |node| node.addr);
        let cpu_before = server.cpu_times();
        let started = Instant::now();
        let posters = 8.min(rooms);
        let mut jobs = Vec::new();
        for p in 0..posters {
            let (addr, name) = (post_to, self.name("poster", p));
            jobs.push(tokio::spawn(async move {
                let mut poster = http::Poster::sign_in(addr, &name).await?;
                for seq in 0..messages_per_room {
                    for room in (p..rooms).step_by(posters) {
                        let room = format!("r{room}");
                        let sent_us = epoch.elapsed().as_micros();
                        let text = format!("b:{room}:{seq}:{sent_us}");
                        let status = poster.post(&room, &text).await?;
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
        let report = tracker
            .settle(&server, cpu_before, started, count * messages_per_room)
            .await;
        drop(streams);
        let leaked = leaks.load(Ordering::Relaxed);
        println!(
            "rooms: {rooms} rooms x {per_room} subscribers, {messages_per_room} messages each: \
             {report}; cross-room {leaked}"
        );
        if report.lost + report.duplicated + report.out_of_order + leaked > 0 {
            bail!("rooms: delivery was not exactly once and isolated");
        }
        Ok(())
    }
}
