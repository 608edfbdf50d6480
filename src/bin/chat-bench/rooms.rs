//! The `rooms` scenario: many rooms with a few subscribers each, one stream per room;
//! nothing lost, nothing duplicated, nothing delivered to another room's subscribers.

use super::{
    Bench,
    http::{self, Event, Target},
    tally::{Seen, Tracker, parse_text},
    wait_until,
};
use anyhow::bail;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
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
                            && let Some((room, seq, _)) = parse_text(event.data)
                        {
                            if room != mine {
                                leaks.fetch_add(1, Ordering::Relaxed);
                            }
                            seen.record(seq, 0);
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
        let started = Instant::now();
        let posters = 8.min(rooms);
        let mut jobs = Vec::new();
        for p in 0..posters {
            let (addr, name) = (server.addr, self.name("poster", p));
            jobs.push(tokio::spawn(async move {
                let mut poster = http::Poster::sign_in(addr, &name).await?;
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
        wait_until(Duration::from_secs(10), || tracker.all_finished()).await;
        drop(streams);
        let report = tracker.report(count * messages_per_room, started.elapsed(), None);
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
}
