//! Hostile clients do not grow the server without bound: measured on a real server
//! process, by its resident memory, over repeated rounds of abuse.

use crate::helpers::{self, NodeProcess, sign_in};
use std::time::Duration;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// A client that sends a request's headers a few bytes at a time and never finishes.
async fn slow_headers(addr: &str) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        .await
        .ok()?;
    Some(stream)
}

/// A client that asks for a stream from far back and never reads a byte of it. Its
/// receive buffer is small (a slow phone's is), so what the server has not sent stays in
/// the server rather than in the kernel's socket buffers.
async fn stuck_reader(addr: &str, last_event_id: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let request = format!(
        "GET /api/rooms/everyone/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: {last_event_id}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

/// One round: slow-header clients dripping 64 KiB of header each, stuck readers resuming
/// from the oldest message, and a burst of 2 KB posts that they never read.
async fn round(node: &NodeProcess, poster: &reqwest::Client, oldest: &str) -> Vec<TcpStream> {
    let mut slow = Vec::new();
    for _ in 0..100 {
        slow.extend(slow_headers(node.addr()).await);
    }
    let mut stuck = Vec::new();
    for _ in 0..20 {
        stuck.push(stuck_reader(node.addr(), oldest).await);
    }
    let padding = "x".repeat(1900);
    let chunk = vec![b'a'; 1024];
    for i in 0..700 {
        helpers::say(&node.base, poster, "everyone", &format!("{i} {padding}")).await;
        if i % 10 == 0 {
            for stream in &mut slow {
                // The server answers 431 and closes once a connection's headers pass its
                // buffer; writing to a closed one just fails.
                let _ = stream.write_all(&chunk).await;
            }
        }
    }
    // The slow clients give up; whatever the server still holds for them is the leak.
    for mut stream in slow {
        let mut buffer = [0u8; 256];
        let _ = tokio::time::timeout(Duration::from_millis(5), stream.read(&mut buffer)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stuck
}

#[tokio::test]
async fn slow_and_stuck_clients_do_not_grow_the_server() {
    let node = NodeProcess::start_with(&[
        ("CHAT_SECRET", "hostile"),
        ("CHAT_POST_RATE", "0"),
        ("CHAT_HISTORY_LIMIT", "2000"),
        ("CHAT_SUBSCRIBER_BUFFER", "64"),
    ])
    .await;
    let poster = sign_in(&node.base, "poster").await;
    let oldest = helpers::say(&node.base, &poster, "everyone", "the first message")
        .await
        .id
        .to_string();

    // Round one warms up the allocator and fills the room's history to its limit.
    let mut held = round(&node, &poster, &oldest).await;
    let warm = node.rss_kib();
    // Rounds two and three do it all again, with round one's stuck readers still open.
    for _ in 0..2 {
        held.extend(round(&node, &poster, &oldest).await);
    }
    let after = node.rss_kib();

    let growth = after.saturating_sub(warm);
    eprintln!("resident memory: {warm} KiB after round one, {after} KiB after round three");
    // Each stuck stream may hold one page of its replay (100 messages of 2 KB): 40 more
    // of them are about 8 MiB, measured. Reading whole replays instead measured 68 MiB.
    assert!(
        growth < 20 * 1024,
        "two more rounds grew the server by {growth} KiB ({warm} -> {after} KiB)"
    );
    drop(held);
}

/// A message that carries all the reactions it may, by the longest names, then one of
/// them taken back and put again up to `toggles` times, with a listener that reads
/// nothing (until the message is gone, if `may_go`: the memory broker's bound trimmed
/// it):
/// the attack that, when a message held 1,000 reactions and each update a copy of it,
/// grew the memory broker from 11 to 423 MiB and Redis by 217 MB.
async fn reaction_flood(node: &NodeProcess, toggles: usize, may_go: bool) {
    let poster = sign_in(&node.base, "poster").await;
    let id = helpers::say(&node.base, &poster, "flood", "react to me")
        .await
        .id
        .to_string();
    let _stuck = stuck_reader(node.addr(), &id).await;
    let url = node.url(&format!(
        "/api/rooms/flood/messages/{id}/reactions/%F0%9F%91%8D"
    ));
    let mut first = None;
    for i in 0..tiny_chat::message::MAX_REACTIONS_PER_MESSAGE {
        // 24 characters of two bytes each: the longest names there are, as UTF-8.
        let name = format!("{i:04}{}", "é".repeat(20));
        let reactor = sign_in(&node.base, &name).await;
        let put = reactor.put(&url).send().await.unwrap();
        assert!(put.status().is_success(), "{}", put.status());
        first.get_or_insert(reactor);
    }
    let reactor = first.unwrap();
    for _ in 0..toggles / 2 {
        for toggle in [reactor.delete(&url), reactor.put(&url)] {
            let answer = toggle.send().await.unwrap();
            let status = answer.status();
            if may_go && status == reqwest::StatusCode::NOT_FOUND {
                return;
            }
            assert!(
                status.is_success(),
                "{status}: {}",
                answer.text().await.unwrap()
            );
        }
    }
}

#[tokio::test]
async fn a_flood_of_reactions_keeps_the_memory_broker_within_its_bounds() {
    let node = NodeProcess::start_with(&[
        ("CHAT_SECRET", "hostile-reactions"),
        ("CHAT_POST_RATE", "0"),
        ("CHAT_SIGNIN_RATE", "0"),
        ("CHAT_MEMORY_MAX_MB", "8"),
        ("CHAT_SUBSCRIBER_BUFFER_MB", "8"),
    ])
    .await;
    let before = node.rss_kib();
    reaction_flood(&node, 3000, true).await;
    let after = node.rss_kib();
    let growth = after.saturating_sub(before);
    eprintln!("resident memory: {before} KiB before the flood, {after} KiB after");
    // At most 8 MiB of messages and 8 of buffers. Measured: 3 MiB; 48 MiB when each
    // update in the log held a copy of the message.
    assert!(
        growth < 20 * 1024,
        "a reaction flood grew the server by {growth} KiB ({before} -> {after} KiB)"
    );
}

#[tokio::test]
async fn a_flood_of_reactions_keeps_one_copy_of_the_message_in_redis() {
    let redis = helpers::redis_url();
    let prefix = helpers::unique_prefix();
    let node = NodeProcess::start_with(&[
        ("CHAT_SECRET", "hostile-reactions"),
        ("CHAT_POST_RATE", "0"),
        ("CHAT_SIGNIN_RATE", "0"),
        ("REDIS_URL", &redis),
        ("CHAT_REDIS_PREFIX", &prefix),
    ])
    .await;
    reaction_flood(&node, 1000, false).await;
    let mut connection = ::redis::Client::open(redis.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut bytes = 0u64;
    for what in ["log", "ids", "state"] {
        let used: Option<u64> = ::redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(format!("{prefix}:room:flood:{what}"))
            .query(&mut connection)
            .unwrap();
        bytes += used.unwrap_or(0);
    }
    eprintln!("the room's keys take {bytes} bytes in Redis");
    helpers::delete_prefix(&redis, &prefix);
    // 1,000 updates that each held the whole message took 5.3 MB here; by reference, 60 KB.
    assert!(bytes < 1024 * 1024, "the room's keys take {bytes} bytes");
}
