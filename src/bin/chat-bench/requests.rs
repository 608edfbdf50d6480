//! Request scenarios: POST throughput and latency (`post`), server-rendered pages per
//! second (`page`), and cold starts (`start`).

use super::{
    Bench,
    http::{self, Event, Target},
    mib, ms, percentile,
    server::Server,
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

/// How long `page` waits for one page.
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

impl Bench {
    pub(super) async fn post(
        &self,
        clients: usize,
        messages: usize,
        subscribers: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let room = "posts";
        let received = Arc::new(AtomicUsize::new(0));
        let streams = self
            .listen(
                &server,
                subscribers,
                |_| Target::room(room),
                |_| {
                    let received = received.clone();
                    move |event: &Event<'_>| {
                        if event.is_message() {
                            received.fetch_add(1, Ordering::Relaxed);
                        }
                        true
                    }
                },
            )
            .await?;
        let second = self.poster_node(&server).await?;
        let post_node = second.as_ref().unwrap_or(&server);
        let mut posters = Vec::new();
        for c in 0..clients {
            posters.push(http::Poster::sign_in(post_node.addr, &self.name("poster", c)).await?);
        }
        let cpu_before = post_node.cpu_seconds();
        let started = Instant::now();
        let mut jobs = Vec::new();
        for (c, mut poster) in posters.into_iter().enumerate() {
            let share = messages / clients + usize::from(c < messages % clients);
            jobs.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for seq in 0..share {
                    let sent = Instant::now();
                    let status = poster.post(room, &format!("b:{room}:{c}-{seq}:0")).await?;
                    latencies.push(sent.elapsed());
                    if status != 201 {
                        bail!("POST answered {status}");
                    }
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::with_capacity(messages);
        for job in jobs {
            latencies.extend(job.await??);
        }
        let elapsed = started.elapsed();
        let cpu = post_node.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
        latencies.sort();
        let expected = messages * subscribers;
        wait_until(Duration::from_secs(10), || {
            received.load(Ordering::Relaxed) >= expected
        })
        .await;
        println!(
            "post: {clients} clients, {messages} messages, {subscribers} subscribers: {:.0} messages/s; \
             latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; server CPU {}; deliveries {}/{expected}",
            messages as f64 / elapsed.as_secs_f64(),
            ms(percentile(&latencies, 0.50)),
            ms(percentile(&latencies, 0.99)),
            ms(*latencies.last().unwrap()),
            cpu.map_or("n/a".into(), |c| format!(
                "{:.1} µs per post",
                c * 1e6 / messages as f64
            )),
            received.load(Ordering::Relaxed),
        );
        drop(streams);
        Ok(())
    }

    pub(super) async fn page(
        &self,
        requests: usize,
        concurrency: usize,
        messages: usize,
    ) -> anyhow::Result<()> {
        let server = self.server().await?;
        let mut poster = http::Poster::sign_in(server.addr, &self.name("page", 0)).await?;
        for seq in 0..messages {
            poster
                .post(
                    "page",
                    &format!("b:page:{seq}:0 a message of ordinary length"),
                )
                .await?;
        }
        let host = server.addr.to_string();
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut jobs = Vec::new();
        for _ in 0..concurrency {
            let (next, host, addr) = (next.clone(), host.clone(), server.addr);
            jobs.push(tokio::spawn(async move {
                let mut sender = http::connect(addr, None).await?;
                let mut bytes = 0;
                while next.fetch_add(1, Ordering::Relaxed) < requests {
                    // A page that never comes fails the run rather than hanging it (once, a
                    // render panicked on the server and its connection was left open).
                    let (status, length) = tokio::time::timeout(
                        PAGE_TIMEOUT,
                        http::get(&mut sender, &host, "/r/page"),
                    )
                    .await
                    .map_err(|_| anyhow::anyhow!("GET /r/page: no answer in {PAGE_TIMEOUT:?}"))??;
                    if status != 200 {
                        bail!("GET /r/page answered {status}");
                    }
                    bytes = length;
                }
                anyhow::Ok(bytes)
            }));
        }
        let mut page_bytes = 0;
        for job in jobs {
            page_bytes = job.await??;
        }
        let elapsed = started.elapsed();
        println!(
            "page: {requests} renders of a room with {} messages ({page_bytes} bytes), {concurrency} connections: {:.0} pages/s",
            messages.min(50),
            requests as f64 / elapsed.as_secs_f64()
        );
        Ok(())
    }

    pub(super) async fn start_up(&self, runs: usize) -> anyhow::Result<()> {
        if self.url.is_some() {
            bail!("start measures a server the bench starts; drop --url");
        }
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..runs {
            let (server, ready) = Server::start(&self.launch).await?;
            times.push(ready);
            tokio::time::sleep(Duration::from_millis(200)).await;
            rss.extend(server.rss_bytes());
        }
        times.sort();
        rss.sort();
        println!(
            "start: {runs} cold starts to a ready /readyz: median {:.1} ms, max {:.1} ms; idle RSS median {}",
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap()),
            mib(rss.get(rss.len() / 2).copied()),
        );
        Ok(())
    }
}
