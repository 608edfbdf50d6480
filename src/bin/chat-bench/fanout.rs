//! The `fanout` scenario: S subscribers in one room, M messages posted at R per second,
//! every message to every subscriber exactly once and in order.
//!
//! With `--signed-in` (issue 8) every subscriber first signs in with a name of its own
//! and listens as a person, so its stream makes it present: the server sends `join`
//! while the room is small, and `leave` when people go. Anonymous and signed-in runs
//! alternate, each on a fresh server, and the figures that should not move (connect
//! time, CPU per delivery) are compared as ratios of their medians. Sign-in happens
//! before, and apart from, the timed connect.

use super::{
    Bench, Streams,
    http::{self, Event, Target},
    median,
    tally::{Awareness, AwarenessCounts, Connect, Deliveries, Seen, Tracker, parse_text},
};
use anyhow::bail;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tiny_chat::awareness::JOIN_LEAVE_LIMIT;

#[derive(clap::Args, Clone, Debug)]
pub struct FanoutOptions {
    #[arg(long, default_value_t = 10_000)]
    pub subscribers: usize,
    /// Messages to post: by default 100, or 50 with `--signed-in` (issue 8's run).
    #[arg(long)]
    pub messages: Option<usize>,
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Subscribers sign in first, each with a name of its own, and listen as people; an
    /// anonymous run of the same size goes before each signed-in one, for comparison.
    #[arg(long)]
    pub signed_in: bool,
    /// The poster says it is typing (`POST .../typing`) before every post, as a browser
    /// does while someone types; the server sends at most one `typing` per 2 s.
    #[arg(long)]
    pub typing: bool,
    /// With `--signed-in`: anonymous and signed-in runs, this many of each, alternated.
    #[arg(long, default_value_t = 1, requires = "signed_in")]
    pub runs: usize,
    /// Sign-ins in flight at once (each on its own keep-alive connection).
    #[arg(long, default_value_t = 32)]
    pub sign_in_parallel: usize,
}

impl FanoutOptions {
    /// The smoke test's size.
    pub fn small(signed_in: bool) -> Self {
        Self {
            subscribers: 50,
            messages: Some(20),
            rate: 200.0,
            signed_in,
            typing: signed_in,
            runs: 1,
            sign_in_parallel: 8,
        }
    }

    fn messages(&self) -> usize {
        self.messages
            .unwrap_or(if self.signed_in { 50 } else { 100 })
    }
}

/// One run of the scenario.
pub struct Run {
    pub subscribers: usize,
    pub messages: usize,
    pub rate: f64,
    /// Whether listeners sign in.
    pub signed_in: bool,
    pub typing: bool,
    pub sign_in_parallel: usize,
    pub room: String,
    /// What the printed lines call this run.
    pub label: String,
}

/// What one run measured.
pub struct Outcome {
    pub label: String,
    pub subscribers: usize,
    pub messages: usize,
    /// How long signing everyone in took, and how many at once.
    pub sign_in: Option<(Duration, usize)>,
    pub connect: Connect,
    pub deliveries: Deliveries,
    pub awareness: AwarenessCounts,
    /// Signed-in runs: how many of the subscribers stayed to hear the others leave.
    pub stayed: Option<usize>,
}

impl Outcome {
    pub fn print(&self) {
        let stayed = self.stayed.map_or(String::new(), |stayed| {
            format!(
                " (counted until {stayed} stayed {:.0} s after the other {} left)",
                DEPARTURE_EXTRA.as_secs_f64(),
                self.subscribers - stayed
            )
        });
        println!(
            "awareness ({}): {}: {:.2} per subscriber{stayed}",
            self.label,
            self.awareness,
            self.awareness.total() as f64 / self.subscribers.max(1) as f64,
        );
        let sign_in = self.sign_in.map_or(String::new(), |(took, parallel)| {
            format!(
                ", signed in in {:.2} s ({parallel} at a time)",
                took.as_secs_f64()
            )
        });
        println!(
            "fanout ({}): {} subscribers{sign_in}; streams {}; {} messages -> {}",
            self.label, self.subscribers, self.connect, self.messages, self.deliveries,
        );
    }

    fn awareness_per_subscriber(&self) -> f64 {
        self.awareness.total() as f64 / self.subscribers.max(1) as f64
    }
}

/// How long past the leave grace the streams that stay listen for `leave`.
const DEPARTURE_EXTRA: Duration = Duration::from_secs(2);

impl Bench {
    pub(super) async fn fanout(&self, options: &FanoutOptions) -> anyhow::Result<()> {
        let run = |signed_in: bool, n: usize| Run {
            subscribers: options.subscribers,
            messages: options.messages(),
            rate: options.rate,
            signed_in,
            typing: options.typing,
            sign_in_parallel: options.sign_in_parallel,
            room: format!("fanout-{}{n}", if signed_in { 's' } else { 'a' }),
            label: if signed_in { "signed-in" } else { "anonymous" }.into(),
        };
        if !options.signed_in {
            let outcome = self.fanout_run(&run(false, 0)).await?;
            outcome.print();
            return check(&[outcome]);
        }
        let (mut anonymous, mut signed_in) = (Vec::new(), Vec::new());
        for n in 0..options.runs.max(1) {
            let outcome = self.fanout_run(&run(false, n)).await?;
            outcome.print();
            anonymous.push(outcome);
            let outcome = self.fanout_run(&run(true, n)).await?;
            outcome.print();
            signed_in.push(outcome);
        }
        compare(&anonymous, &signed_in);
        check(&anonymous)?;
        check(&signed_in)
    }

    pub(super) async fn fanout_run(&self, run: &Run) -> anyhow::Result<Outcome> {
        let server = self.server().await?;
        let (subscribers, messages, room) = (run.subscribers, run.messages, run.room.as_str());
        let mut sign_in = None;
        let mut cookies = Vec::new();
        if run.signed_in {
            let names = (0..subscribers)
                .map(|i| self.name(&format!("{room}_"), i))
                .collect();
            let started = Instant::now();
            cookies = http::sign_in_all(server.addr, names, run.sign_in_parallel).await?;
            sign_in = Some((started.elapsed(), run.sign_in_parallel));
        }

        let tracker = Arc::new(Tracker::new(subscribers));
        let awareness = Arc::new(Awareness::default());
        let epoch = self.epoch;
        let (streams, connect) = self
            .connect(
                &server,
                subscribers,
                |i| Target {
                    cookie: cookies.get(i).cloned(),
                    ..Target::room(room)
                },
                |i| {
                    let (tracker, awareness) = (tracker.clone(), awareness.clone());
                    let mut seen = Some(Seen::default());
                    // A subscriber that has every message keeps listening (for awareness
                    // events, and for any duplicate), so that no stream closes while the
                    // server's CPU is being measured.
                    move |event: &Event<'_>| {
                        if !awareness.count(event) {
                            return true;
                        }
                        let Some((_, seq, sent_us)) = parse_text(event.data) else {
                            return true;
                        };
                        match &mut seen {
                            Some(so_far) => {
                                let now = epoch.elapsed().as_micros() as u64;
                                so_far.record(seq, now.saturating_sub(sent_us));
                                if so_far.count == messages {
                                    tracker.finish(i, seen.take().expect("just matched"));
                                }
                            }
                            None => tracker.surplus(),
                        }
                        true
                    }
                },
            )
            .await?;

        let second = self.poster_node(&server).await?;
        let post_to = second.as_ref().map_or(server.addr, |node| node.addr);
        let mut poster = http::Poster::sign_in(post_to, &self.name(room, 0)).await?;
        let cpu_before = server.cpu_times();
        let started = Instant::now();
        let interval = Duration::from_secs_f64(1.0 / run.rate);
        for seq in 0..messages {
            let due = started + interval * seq as u32;
            tokio::time::sleep_until(due.into()).await;
            if run.typing {
                let status = poster.typing(room).await?;
                if status != 204 {
                    bail!("POST .../typing answered {status}");
                }
            }
            let status = poster
                .post(room, &format!("b:{room}:{seq}:{}", self.now_us()))
                .await?;
            if status != 201 {
                bail!("POST answered {status}");
            }
        }
        let deliveries = tracker
            .settle(&server, cpu_before, started, subscribers * messages)
            .await;

        let stayed = if run.signed_in {
            Some(self.depart(&streams).await)
        } else {
            None
        };
        Ok(Outcome {
            label: run.label.clone(),
            subscribers,
            messages,
            sign_in,
            connect,
            deliveries,
            awareness: awareness.snapshot(),
            stayed,
        })
    }

    /// Most people leave at once; the first few (at most as many as the room may hold
    /// for `join`/`leave` to be sent) stay past the leave grace to hear what that makes.
    /// Returns how many stayed.
    async fn depart(&self, streams: &Streams) -> usize {
        let count = streams.tasks.len();
        let stay = (count / 10).clamp(1, JOIN_LEAVE_LIMIT).min(count);
        streams.close(stay..count);
        tokio::time::sleep(self.leave_grace() + DEPARTURE_EXTRA).await;
        stay
    }

    fn leave_grace(&self) -> Duration {
        Duration::from_secs_f64(self.launch.leave_grace_secs)
    }
}

/// Prints the signed-in runs against the anonymous ones.
fn compare(anonymous: &[Outcome], signed_in: &[Outcome]) {
    let med = |runs: &[Outcome], f: &dyn Fn(&Outcome) -> Option<f64>| {
        let values: Vec<f64> = runs.iter().filter_map(f).collect();
        (values.len() == runs.len()).then(|| median(&values))
    };
    let ratio = |what: &str, unit: &str, f: &dyn Fn(&Outcome) -> Option<f64>| match (
        med(anonymous, f),
        med(signed_in, f),
    ) {
        (Some(a), Some(s)) => format!("{what} {s:.2} / {a:.2}{unit} = {:.2}x", s / a),
        _ => format!("{what} n/a"),
    };
    println!(
        "signed-in / anonymous ({} run(s) each, medians): {}; {}; {}; {}; awareness per \
         subscriber {:.2} (anonymous {:.2})",
        signed_in.len(),
        ratio("streams open", " s", &|o| Some(
            o.connect.open.as_secs_f64()
        )),
        ratio("all greeted", " s", &|o| o
            .connect
            .greeted
            .map(|d| d.as_secs_f64())),
        ratio("CPU per delivery", " µs", &|o| o.deliveries.cpu_us()),
        ratio("CPU per stream", " µs", &|o| o.connect.cpu_per_stream_us),
        median(
            &signed_in
                .iter()
                .map(Outcome::awareness_per_subscriber)
                .collect::<Vec<_>>()
        ),
        median(
            &anonymous
                .iter()
                .map(Outcome::awareness_per_subscriber)
                .collect::<Vec<_>>()
        ),
    );
}

/// Fails unless every run delivered every message exactly once and in order.
pub fn check(outcomes: &[Outcome]) -> anyhow::Result<()> {
    for outcome in outcomes {
        if !outcome.deliveries.exact() {
            bail!(
                "fanout ({}): delivery was not exactly once and in order",
                outcome.label
            );
        }
        if outcome.awareness.other > 0 {
            bail!(
                "fanout ({}): {} events of an unexpected kind",
                outcome.label,
                outcome.awareness.other
            );
        }
    }
    Ok(())
}
