//! The `multi` scenario (issue 8): B browsers, each with one `GET /api/events` stream
//! for K of R rooms, and messages posted round-robin over the rooms. Every message must
//! reach every follower of its room exactly once, in order within the room, with the
//! `id:` `<room>/<id>` of that room; nothing may reach a browser that does not follow
//! the room.
//!
//! Browser `b` follows rooms `(b·K + k) mod R` for `k < K`: numbering every (browser,
//! slot) pair in turn spreads the pairs evenly, so each room has `B·K/R` followers
//! (±1), and a browser's K rooms are distinct while `K ≤ R`.
//!
//! The single-room comparison is a `fanout` run with the same connections and the same
//! deliveries per second: B subscribers in one room, posted to at `rate·K/R` per second.

use super::{
    Bench,
    fanout::{self, Run},
    http::{self, Event, Target},
    tally::{Awareness, Seen, Tracker, parse_text},
};
use anyhow::bail;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};
use tiny_chat::awareness::MAX_STREAM_ROOMS;

#[derive(clap::Args, Clone, Debug)]
pub struct MultiOptions {
    #[arg(long, default_value_t = 2_000)]
    pub browsers: usize,
    #[arg(long, default_value_t = 200)]
    pub rooms: usize,
    /// Rooms on each browser's stream.
    #[arg(long, default_value_t = 20)]
    pub per_browser: usize,
    #[arg(long, default_value_t = 600)]
    pub messages: usize,
    /// Messages per second, over all rooms.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Each browser signs in (a name of its own) and is present (`here`) in the first of
    /// its rooms; by default browsers listen anonymously.
    #[arg(long)]
    pub signed_in: bool,
    /// Sign-ins in flight at once.
    #[arg(long, default_value_t = 32)]
    pub sign_in_parallel: usize,
}

impl MultiOptions {
    /// The smoke test's size.
    pub fn small() -> Self {
        Self {
            browsers: 40,
            rooms: 10,
            per_browser: 5,
            messages: 30,
            rate: 100.0,
            signed_in: true,
            sign_in_parallel: 8,
        }
    }

    fn rooms_of(&self, browser: usize) -> Vec<usize> {
        (0..self.per_browser)
            .map(|k| (browser * self.per_browser + k) % self.rooms)
            .collect()
    }

    /// Messages posted to `room`: the posts go round-robin over the rooms.
    fn messages_in(&self, room: usize) -> usize {
        self.messages / self.rooms + usize::from(room < self.messages % self.rooms)
    }
}

fn room_name(room: usize) -> String {
    format!("m{room}")
}

/// Deliveries that broke the many-room stream's rules, apart from loss and duplicates.
#[derive(Default)]
struct Misrouted {
    /// Messages of a room the browser does not follow.
    foreign: AtomicUsize,
    /// Messages whose `id:` is not `<their room>/<id>`.
    bad_id: AtomicUsize,
}

impl Bench {
    pub(super) async fn multi(&self, options: &MultiOptions) -> anyhow::Result<()> {
        let MultiOptions {
            browsers,
            rooms,
            per_browser,
            messages,
            rate,
            ..
        } = *options;
        if per_browser == 0 || per_browser > rooms || per_browser > MAX_STREAM_ROOMS {
            bail!("--per-browser must be 1 to --rooms, and at most {MAX_STREAM_ROOMS}");
        }
        let server = self.server().await?;
        let mut sign_in = None;
        let mut cookies = Vec::new();
        if options.signed_in {
            let names = (0..browsers).map(|b| self.name("m", b)).collect();
            let started = Instant::now();
            cookies = http::sign_in_all(server.addr, names, options.sign_in_parallel).await?;
            sign_in = Some(started.elapsed());
        }

        let tracker = Arc::new(Tracker::new(browsers));
        let awareness = Arc::new(Awareness::default());
        let misrouted = Arc::new(Misrouted::default());
        let epoch = self.epoch;
        let target_of = |b: usize| {
            let names: Vec<String> = options.rooms_of(b).into_iter().map(room_name).collect();
            let mut path = format!("/api/events?rooms={}", names.join(","));
            if options.signed_in {
                path.push_str(&format!("&here={}", names[0]));
            }
            Target {
                path,
                cookie: cookies.get(b).cloned(),
            }
        };
        let listener = |b: usize| {
            let (tracker, awareness, misrouted) =
                (tracker.clone(), awareness.clone(), misrouted.clone());
            let mut followed: Vec<(usize, Seen)> = options
                .rooms_of(b)
                .into_iter()
                .map(|r| (r, Seen::default()))
                .collect();
            let expected: usize = followed.iter().map(|(r, _)| options.messages_in(*r)).sum();
            let mut done = expected == 0;
            if done {
                tracker.finish(b, Seen::default());
            }
            move |event: &Event<'_>| {
                if !awareness.count(event) {
                    return true;
                }
                let Some((room, seq, sent_us)) = parse_text(event.data) else {
                    return true;
                };
                let id_ok = event.id.is_some_and(|id| {
                    id.strip_prefix(room.as_bytes())
                        .is_some_and(|rest| rest.len() > 1 && rest[0] == b'/')
                });
                if !id_ok {
                    misrouted.bad_id.fetch_add(1, Ordering::Relaxed);
                }
                let number = room.strip_prefix('m').and_then(|n| n.parse::<usize>().ok());
                let Some((_, seen)) = followed.iter_mut().find(|(r, _)| Some(*r) == number) else {
                    misrouted.foreign.fetch_add(1, Ordering::Relaxed);
                    return true;
                };
                if done {
                    tracker.surplus();
                    return true;
                }
                let now = epoch.elapsed().as_micros() as u64;
                seen.record(seq, now.saturating_sub(sent_us));
                if followed.iter().map(|(_, s)| s.count).sum::<usize>() == expected {
                    let mut all = Seen::default();
                    for (_, seen) in followed.iter_mut() {
                        all.merge(std::mem::take(seen));
                    }
                    tracker.finish(b, all);
                    done = true;
                }
                true
            }
        };
        let (streams, connect) = self.connect(&server, browsers, target_of, listener).await?;

        let mut poster = http::Poster::sign_in(server.addr, &self.name("mpost", 0)).await?;
        let cpu_before = server.cpu_times();
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / rate);
        for n in 0..messages {
            let due = started + interval * n as u32;
            tokio::time::sleep_until(due.into()).await;
            let room = room_name(n % rooms);
            let text = format!("b:{room}:{}:{}", n / rooms, self.now_us());
            let status = poster.post(&room, &text).await?;
            if status != 201 {
                bail!("POST answered {status}");
            }
        }
        let expected: usize = (0..browsers)
            .flat_map(|b| options.rooms_of(b))
            .map(|r| options.messages_in(r))
            .sum();
        let deliveries = tracker.settle(&server, cpu_before, started, expected).await;
        let counts = awareness.snapshot();
        drop(streams);
        drop(server);

        let followers = browsers * per_browser / rooms;
        println!(
            "awareness (multi): {counts}: {:.2} per browser",
            counts.total() as f64 / browsers.max(1) as f64
        );
        let foreign = misrouted.foreign.load(Ordering::Relaxed);
        let bad_id = misrouted.bad_id.load(Ordering::Relaxed);
        println!(
            "multi: {browsers} browsers x {per_browser} rooms ({rooms} rooms, ~{followers} \
             followers each; {}){}; streams {connect}; {messages} messages at {rate}/s -> \
             {deliveries}; foreign {foreign}, bad ids {bad_id}",
            if options.signed_in {
                "signed in, here in one"
            } else {
                "anonymous"
            },
            sign_in.map_or(String::new(), |d| format!(
                ", signed in in {:.2} s",
                d.as_secs_f64()
            )),
        );

        // The same connections and deliveries per second, all in one room.
        let single_messages = ((messages * per_browser + rooms / 2) / rooms).max(1);
        let single = self
            .fanout_run(&Run {
                subscribers: browsers,
                messages: single_messages,
                rate: rate * per_browser as f64 / rooms as f64,
                signed_in: false,
                typing: false,
                sign_in_parallel: options.sign_in_parallel,
                room: "single".into(),
                label: "single room".into(),
            })
            .await?;
        single.print();
        let ratio = |multi: Option<f64>, single: Option<f64>, unit: &str| match (multi, single) {
            (Some(m), Some(s)) => format!("{m:.2} / {s:.2}{unit} = {:.2}x", m / s),
            _ => "n/a".into(),
        };
        println!(
            "multi / single room: CPU per delivery {}; CPU per stream {}; all greeted {}",
            ratio(deliveries.cpu_us(), single.deliveries.cpu_us(), " µs"),
            ratio(
                connect.cpu_per_stream_us,
                single.connect.cpu_per_stream_us,
                " µs"
            ),
            ratio(
                connect.greeted.map(|d| d.as_secs_f64()),
                single.connect.greeted.map(|d| d.as_secs_f64()),
                " s"
            ),
        );
        if !deliveries.exact() || foreign + bad_id + counts.other > 0 {
            bail!("multi: delivery was not exactly once, in order, and to followers only");
        }
        fanout::check(&[single])
    }
}
