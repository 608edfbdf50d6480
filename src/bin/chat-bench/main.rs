//! chat-bench: a load generator for tiny-chat that speaks only the public HTTP API.
//!
//! It starts the server itself (either broker) or targets a running one (`--url`, with
//! `--pid` for CPU and memory figures), runs one scenario, and prints its figures. See
//! BENCHMARKS.md for the commands and results.
//!
//! # Layout
//!
//! - `main.rs`: runs the scenario the command line names.
//! - `args`: the command line.
//! - `bench`: what every scenario shares: the server under test and [`Bench::listen`],
//!   which opens thousands of streams.
//! - `figures`: percentiles, medians and units, and waiting for a condition.
//! - `http`: the bench's HTTP clients (raw-socket SSE streams, sign-in, posting).
//! - `server`: starting the server, and reading its CPU time and RSS from `/proc`.
//! - `tally`: what subscribers saw (exactly once, in order), awareness events by kind,
//!   and the reports.
//! - `fanout`: one room, anonymous or signed-in listeners (`fanout --signed-in`).
//! - `multi`: many rooms on one `/api/events` stream per browser; `rooms`: many rooms,
//!   one stream each.
//! - `requests`: POST throughput, page renders and cold starts; `soak`: held streams
//!   (`idle`, `soak`).

mod args;
mod bench;
mod fanout;
mod figures;
mod http;
mod multi;
mod requests;
mod rooms;
mod server;
mod soak;
mod tally;

use args::{Cli, Scenario};
use bench::{Bench, Streams};
use clap::Parser;
use fanout::FanoutOptions;
use figures::{median, mib, ms, percentile, wait_until};
use multi::MultiOptions;
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Thousands of streams need as many descriptors; the soft limit is often 1,024.
    if let Err(error) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the open-file limit: {error}");
    }
    let bench = Bench::new(&cli)?;
    match cli.scenario {
        Scenario::Fanout(options) => bench.fanout(&options).await?,
        Scenario::Multi(options) => bench.multi(&options).await?,
        Scenario::Rooms {
            rooms,
            per_room,
            messages_per_room,
        } => bench.rooms(rooms, per_room, messages_per_room).await?,
        Scenario::Idle { streams } => bench.idle(streams).await?,
        Scenario::Post {
            clients,
            messages,
            subscribers,
        } => bench.post(clients, messages, subscribers).await?,
        Scenario::Page {
            requests,
            concurrency,
            messages,
        } => bench.page(requests, concurrency, messages).await?,
        Scenario::Start { runs } => bench.start_up(runs).await?,
        Scenario::Soak {
            streams,
            seconds,
            rate,
            every,
        } => {
            let every = Duration::from_secs(every.max(1));
            bench
                .soak(streams, Duration::from_secs(seconds), rate, every)
                .await?
        }
        Scenario::Smoke => {
            bench.fanout(&FanoutOptions::small(false)).await?;
            bench.fanout(&FanoutOptions::small(true)).await?;
            bench.multi(&MultiOptions::small()).await?;
            bench.rooms(10, 3, 5).await?;
            bench.idle(50).await?;
            bench.post(4, 200, 5).await?;
            bench.page(100, 4, 60).await?;
            bench.start_up(2).await?;
            bench
                .soak(20, Duration::from_secs(2), 20.0, Duration::from_secs(1))
                .await?;
            println!("smoke: ok");
        }
    }
    Ok(())
}
