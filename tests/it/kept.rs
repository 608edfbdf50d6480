//! What is kept (docs/API.md, "What is kept"): one node on SQLite, the default, keeps
//! every message, every change, every name and every session across a restart and a
//! `kill -9`.

use crate::helpers::{
    BrokerKind, NodeProcess, browser, say, sign_in, spawn_app_with, spawn_configured,
};
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tiny_chat::message::{ChatMessage, MessageId};

/// Every message of a room, paged back to its first with `before=`, oldest first.
pub async fn whole_history(base: &str, room: &str) -> Vec<ChatMessage> {
    let client = browser();
    let mut all: Vec<ChatMessage> = Vec::new();
    let mut before = String::new();
    loop {
        let url = format!("{base}/api/rooms/{room}/messages?limit=200{before}");
        let page: Vec<ChatMessage> = client.get(url).send().await.unwrap().json().await.unwrap();
        let Some(first) = page.first() else {
            break;
        };
        before = format!("&before={}", first.id);
        let mut older = page;
        older.append(&mut all);
        all = older;
    }
    all
}

#[tokio::test]
async fn a_restart_keeps_history_past_the_live_window_and_every_session() {
    let mut app = spawn_app_with(BrokerKind::Sqlite, |config| {
        // The secret is the one the node generates and keeps.
        config.secret = None;
        config.history_limit = 5;
    })
    .await;
    let data = app.data.clone().expect("a data folder");
    assert!(data.path().join("secret").exists());
    let alice = app.signed_in("alice").await;
    let mut sent = Vec::new();
    for n in 0..12 {
        sent.push(app.say(&alice, "dev", &format!("message {n}")).await);
    }
    let config = app.config.clone();
    app.shutdown().await;
    drop(app);

    let mut app = spawn_configured(config, true).await;
    app.data = Some(data);
    // History has no cap: all twelve, though the live window is five.
    assert_eq!(whole_history(&app.base, "dev").await, sent);
    // Alice's cookie still holds her name, and Bob cannot take it.
    let after = app.say(&alice, "dev", "still me").await;
    assert!(
        after.id > sent.last().unwrap().id,
        "ids go on from the last"
    );
    let bob = browser();
    let taken = bob
        .post(app.url("/api/session"))
        .json(&json!({ "name": "alice" }))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::CONFLICT);
    // A stream resumes from an id given before the restart, with no gap.
    let mut events = app.events("dev", Some(&sent[2].id.to_string())).await;
    let replayed = events.messages(sent.len() - 2).await;
    let expected: Vec<&ChatMessage> = sent[3..].iter().chain([&after]).collect();
    assert_eq!(replayed.iter().collect::<Vec<_>>(), expected);
}

/// A node of the real binary on SQLite in `dir`, generating its secret there.
async fn node_in(dir: &std::path::Path) -> NodeProcess {
    let database = format!("sqlite://{}", dir.join("tiny-chat.db").display());
    NodeProcess::start_with(&[
        ("CHAT_DATA_DIR", dir.to_str().unwrap()),
        ("CHAT_DATABASE_URL", &database),
        ("CHAT_POST_RATE", "0"),
    ])
    .await
}

#[tokio::test]
async fn kill_9_mid_posting_loses_nothing_that_was_answered() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = node_in(dir.path()).await;
    let mut posters = Vec::new();
    let stop = Arc::new(AtomicBool::new(false));
    for n in 0..8 {
        let client = sign_in(&node.base, &format!("poster{n}")).await;
        let (base, stop) = (node.base.clone(), Arc::clone(&stop));
        posters.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            for i in 0.. {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let sent = client
                    .post(format!("{base}/api/rooms/dev/messages"))
                    .json(&json!({ "text": format!("poster{n} #{i}"), "client_id": format!("{n}-{i}") }))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        match response.json::<ChatMessage>().await {
                            Ok(message) => answered.push(message),
                            Err(_) => break,
                        }
                    }
                    _ => break,
                }
            }
            (client, answered)
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    node.kill();
    stop.store(true, Ordering::Relaxed);
    let mut clients: Vec<Client> = Vec::new();
    let mut answered: Vec<ChatMessage> = Vec::new();
    for poster in posters {
        let (client, mut theirs) = poster.await.unwrap();
        clients.push(client);
        answered.append(&mut theirs);
    }
    assert!(
        answered.len() >= 16,
        "the posters got going: {}",
        answered.len()
    );

    let node = node_in(dir.path()).await;
    let kept = whole_history(&node.base, "dev").await;
    let ids: Vec<MessageId> = kept.iter().map(|m| m.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in id order");
    let kept_by_id: std::collections::HashMap<_, _> = kept.iter().map(|m| (m.id, m)).collect();
    for message in &answered {
        assert_eq!(
            kept_by_id.get(&message.id).map(|m| &m.text),
            Some(&message.text),
            "a message answered 201 is kept"
        );
    }
    // Every session survived too, and new ids come after every old one.
    let newest = ids.last().copied().unwrap();
    for client in &clients {
        let message = say(&node.base, client, "dev", "after the crash").await;
        assert!(message.id > newest);
    }
}

#[tokio::test]
async fn a_database_of_a_newer_version_stops_the_node_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = node_in(dir.path()).await;
    node.kill();
    let path = dir.path().join("tiny-chat.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    // Past this build's schema, as a newer release would leave it.
    conn.pragma_update(None, "user_version", 99).unwrap();
    conn.pragma_update(None, "wal_checkpoint", "TRUNCATE")
        .unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"))
        .env("CHAT_DATA_DIR", dir.path())
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success(), "the node refuses to start");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("newer version"), "it says why: {said}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing changed");
}

#[tokio::test]
async fn redis_without_a_database_is_refused_at_start_with_what_to_set() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"))
        .env("REDIS_URL", crate::helpers::redis_url())
        .env_remove("CHAT_DATABASE_URL")
        .env("CHAT_DATA_DIR", "/nonexistent/never-made")
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("CHAT_DATABASE_URL"),
        "it says what to set: {said}"
    );
    assert!(!std::path::Path::new("/nonexistent/never-made").exists());
}

#[tokio::test]
async fn backup_and_export_read_a_database_while_it_serves() {
    let dir = tempfile::tempdir().unwrap();
    let node = node_in(dir.path()).await;
    let ann = sign_in(&node.base, "ann").await;
    let mut sent = Vec::new();
    for (room, text) in [("dev", "one"), ("ops", "two"), ("dev", "three")] {
        sent.push(say(&node.base, &ann, room, text).await);
    }
    let command = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"))
            .env("CHAT_DATA_DIR", dir.path())
            .env_remove("CHAT_DATABASE_URL")
            .args(args)
            .output()
            .unwrap()
    };
    let exported = command(&["export"]);
    assert!(exported.status.success(), "{exported:?}");
    let lines: Vec<ChatMessage> = String::from_utf8(exported.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines, sent, "every message, oldest first");
    let dev = command(&["export", "--room", "dev"]);
    assert_eq!(String::from_utf8(dev.stdout).unwrap().lines().count(), 2);

    let copy = dir.path().join("copy.db");
    let backed_up = command(&["backup", copy.to_str().unwrap()]);
    assert!(backed_up.status.success(), "{backed_up:?}");
    // The copy serves the same history.
    let copy_dir = tempfile::tempdir().unwrap();
    std::fs::rename(&copy, copy_dir.path().join("tiny-chat.db")).unwrap();
    let restored = node_in(copy_dir.path()).await;
    assert_eq!(
        whole_history(&restored.base, "dev").await,
        vec![sent[0].clone(), sent[2].clone()]
    );
}

/// A tmpfs of `size` mounted on a folder of its own, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|error| format!("cannot run mount: {error}"))?;
        if !status.status.success() {
            return Err(String::from_utf8_lossy(&status.stderr).into_owned());
        }
        Ok(Self { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test]
#[ignore = "mounts a tmpfs, so it needs root: scripts/test runs it (--include-ignored)"]
async fn a_full_disk_answers_503_keeps_what_was_answered_and_recovers_by_itself() {
    let disk = SmallDisk::mount("3m").unwrap_or_else(|why| {
        panic!("this test needs to mount a small tmpfs (as root); mount said: {why}")
    });
    let node = node_in(disk.dir.path()).await;
    let ann = sign_in(&node.base, "ann").await;
    let text = "x".repeat(1500);
    // Fill the disk but for a little, then post until the database cannot write.
    let filler = disk.dir.path().join("filler");
    {
        use std::io::Write;
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file
            .write_all(&chunk)
            .and_then(|()| file.sync_all())
            .is_ok()
        {}
    }
    let mut answered = Vec::new();
    let mut refused = false;
    for _ in 0..5000 {
        let response = crate::helpers::post(&node.base, &ann, "dev", &text).await;
        match response.status() {
            StatusCode::CREATED => answered.push(response.json::<ChatMessage>().await.unwrap()),
            StatusCode::SERVICE_UNAVAILABLE => {
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(body["error"]["code"], "unavailable");
                refused = true;
                break;
            }
            other => panic!("a post answered {other}"),
        }
    }
    assert!(refused, "a full disk refuses posts");
    let readyz = browser().get(node.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), StatusCode::SERVICE_UNAVAILABLE);

    std::fs::remove_file(&filler).unwrap();
    let deadline = tokio::time::Instant::now() + crate::helpers::PROMPTLY;
    while browser()
        .get(node.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        != StatusCode::OK
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "ready again once there is room"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = say(&node.base, &ann, "dev", "room again").await;
    let kept = whole_history(&node.base, "dev").await;
    assert_eq!(kept.last(), Some(&again));
    assert_eq!(
        &kept[..kept.len() - 1],
        &answered[..],
        "nothing answered is lost, nothing refused is kept"
    );
}

#[tokio::test]
async fn retention_removes_old_messages_and_a_resume_from_one_resyncs() {
    let mut app = spawn_app_with(BrokerKind::Sqlite, |config| {
        config.retention_days = Some(3.0 / 86_400.0);
    })
    .await;
    let data = app.data.clone();
    let ann = app.signed_in("ann").await;
    let old = app.say(&ann, "dev", "old").await;
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let new = app.say(&ann, "dev", "new").await;
    // Retention runs as the node starts (and hourly after).
    let config = app.config.clone();
    app.shutdown().await;
    drop(app);
    let mut app = spawn_configured(config, true).await;
    app.data = data;
    assert_eq!(whole_history(&app.base, "dev").await, vec![new.clone()]);
    let mut events = app.events("dev", Some(&old.id.to_string())).await;
    let resync = events.next().await;
    assert_eq!(resync.name(), "resync");
    assert_eq!(resync.json()["oldest"], new.id.to_string());
}
