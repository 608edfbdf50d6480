//! What is kept on many nodes (docs/API.md, "What is kept"): PostgreSQL keeps, Redis
//! carries live. Two nodes posting to one room at once are heard in one order on both;
//! `kill -9` of a node and a Redis that restarts empty lose nothing answered `201`; a
//! database that goes away answers `503` and comes back by itself.

use crate::{
    helpers::{
        BrokerKind, EventReader, NodeProcess, PgDatabase, RedisServer, browser, open_stream, say,
        sign_in, spawn_app, spawn_app_with, spawn_configured, unique_prefix, wait_ready,
    },
    kept::whole_history,
};
use reqwest::{Client, StatusCode};
use serde_json::json;
use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use tiny_chat::{
    message::{ChatMessage, MessageId},
    server::config::DatabaseUrl,
};
use tokio::net::{TcpListener, TcpStream};

/// Posts `count` messages as `client` on `base`, answering the messages answered `201`.
async fn post_many(base: String, client: Client, who: String, count: usize) -> Vec<ChatMessage> {
    let mut answered = Vec::with_capacity(count);
    for i in 0..count {
        answered.push(say(&base, &client, "dev", &format!("{who} #{i}")).await);
    }
    answered
}

fn assert_in_id_order(messages: &[ChatMessage], what: &str) {
    assert!(
        messages.windows(2).all(|w| w[0].id < w[1].id),
        "{what} is in id order, each once"
    );
}

#[tokio::test]
async fn two_nodes_posting_to_one_room_at_once_are_heard_in_one_order_on_both() {
    let a = spawn_app(BrokerKind::Postgres).await;
    let b = spawn_configured(a.config.clone(), false).await;
    wait_ready(&b.base).await;
    let mut on_a = a.events("dev", None).await;
    let mut on_b = b.events("dev", None).await;
    let mut posters = Vec::new();
    for (n, base) in [&a.base, &b.base, &a.base, &b.base].into_iter().enumerate() {
        let who = format!("poster{n}");
        let client = sign_in(base, &who).await;
        posters.push(tokio::spawn(post_many(base.clone(), client, who, 60)));
    }
    let mut answered = Vec::new();
    for poster in posters {
        answered.extend(poster.await.unwrap());
    }
    answered.sort_by_key(|m| m.id);
    let heard_a = on_a.messages(answered.len()).await;
    let heard_b = on_b.messages(answered.len()).await;
    assert_in_id_order(&heard_a, "what node A's listener heard");
    assert_eq!(heard_a, answered, "node A's listener heard every message");
    assert_eq!(heard_b, answered, "node B's listener heard every message");
    assert_eq!(whole_history(&b.base, "dev").await, answered);
}

/// The settings of a real node on `redis` and `database`.
fn node_env(redis: &str, database: &str, prefix: &str) -> Vec<(String, String)> {
    [
        ("REDIS_URL", redis),
        ("CHAT_DATABASE_URL", database),
        ("CHAT_REDIS_PREFIX", prefix),
        ("CHAT_SECRET", "a secret every node of the test shares"),
        ("CHAT_POST_RATE", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

async fn start_node(env: &[(String, String)]) -> NodeProcess {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    NodeProcess::start_with(&env).await
}

/// Posts on `base` until `stop`, each post with a `client_id`, keeping on through
/// refusals (a `503` while Redis restarts) until the node stops answering at all.
fn poster(
    base: String,
    client: Client,
    who: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<ChatMessage>> {
    tokio::spawn(async move {
        let mut answered = Vec::new();
        for i in 0.. {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let sent = client
                .post(format!("{base}/api/rooms/dev/messages"))
                .json(&json!({ "text": format!("{who} #{i}"), "client_id": format!("{who}-{i}") }))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match sent {
                Ok(response) if response.status() == StatusCode::CREATED => {
                    match response.json::<ChatMessage>().await {
                        Ok(message) => answered.push(message),
                        Err(_) => break,
                    }
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(_) => break,
            }
        }
        answered
    })
}

#[tokio::test]
async fn kill_9_of_a_node_and_an_empty_redis_mid_posting_lose_nothing_answered() {
    let database = PgDatabase::create();
    let mut redis = RedisServer::start();
    let env = node_env(&redis.url(), &database.url, &unique_prefix());
    let mut a = start_node(&env).await;
    let b = start_node(&env).await;
    let early = sign_in(&b.base, "early").await;
    let mut before = Vec::new();
    for n in 0..5 {
        before.push(say(&b.base, &early, "dev", &format!("before {n}")).await);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut posters = Vec::new();
    for (n, base) in [&a.base, &b.base, &a.base, &b.base].into_iter().enumerate() {
        let who = format!("poster{n}");
        let client = sign_in(base, &who).await;
        posters.push((
            client.clone(),
            poster(base.clone(), client, who, Arc::clone(&stop)),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Redis keeps nothing on disk: it comes back empty.
    redis.kill();
    tokio::time::sleep(Duration::from_millis(200)).await;
    redis.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut clients = vec![early];
    let mut answered = before.clone();
    for (client, poster) in posters {
        answered.extend(poster.await.unwrap());
        clients.push(client);
    }
    assert!(
        answered.len() >= 20,
        "the posters got going: {}",
        answered.len()
    );

    let a = start_node(&env).await;
    let kept = whole_history(&a.base, "dev").await;
    assert_in_id_order(&kept, "history");
    assert_eq!(
        kept,
        whole_history(&b.base, "dev").await,
        "both nodes agree"
    );
    let kept_ids: HashSet<MessageId> = kept.iter().map(|m| m.id).collect();
    for message in &answered {
        assert!(
            kept_ids.contains(&message.id),
            "{} answered 201 is kept",
            message.text
        );
    }
    // A stream resumes from an id given before both kills, with no gap and no duplicate.
    let from = before[2].id;
    let mut resumed = EventReader::new(
        open_stream(
            &a.base,
            &browser(),
            "/api/rooms/dev/events",
            Some(&from.to_string()),
        )
        .await,
    );
    let after_from: Vec<ChatMessage> = kept.iter().filter(|m| m.id > from).cloned().collect();
    assert_eq!(resumed.messages(after_from.len()).await, after_from);
    // Every session lived through the Redis restart, and new ids come after every old one.
    let newest = kept.last().unwrap().id;
    for (n, client) in clients.iter().enumerate() {
        let base = if n % 2 == 0 { &a.base } else { &b.base };
        let message = say(base, client, "dev", "after it all").await;
        assert!(message.id > newest, "ids go on after every old one");
        let next = resumed.messages(1).await;
        assert_eq!(next, vec![message], "live again, with nothing repeated");
    }
}

/// A TCP proxy to the machine's PostgreSQL that the test can cut (every connection
/// dropped, new ones refused) and mend.
struct Proxy {
    port: u16,
    cut: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let (cut_, open_) = (Arc::clone(&cut), Arc::clone(&open));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if cut_.load(Ordering::Acquire) {
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                open_.lock().unwrap().push(task.abort_handle());
            }
        });
        Self { port, cut, open }
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::Release);
        for task in self.open.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn mend(&self) {
        self.cut.store(false, Ordering::Release);
    }
}

// Two threads: the proxy serves the node's first connection (its migration, made on a
// thread of its own) while the test waits for the node to start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_answers_503_then_the_node_recovers_by_itself() {
    let proxy = Proxy::start("127.0.0.1:5432".into()).await;
    let port = proxy.port;
    let app = spawn_app_with(BrokerKind::Postgres, |config| {
        let Some(DatabaseUrl::Postgres(url)) = &config.database_url else {
            unreachable!("a PostgreSQL test")
        };
        let proxied = url.replacen(":5432/", &format!(":{port}/"), 1);
        config.database_url = Some(DatabaseUrl::Postgres(proxied));
    })
    .await;
    let alice = app.signed_in("alice").await;
    let first = app.say(&alice, "dev", "before").await;
    let mut stream = app.events("dev", None).await;

    proxy.cut();
    let refused = alice
        .post(app.url("/api/rooms/dev/messages"))
        .json(&json!({ "text": "while it is gone", "client_id": "gone-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable");
    let ready = browser().get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    proxy.mend();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let retried = loop {
        let response = alice
            .post(app.url("/api/rooms/dev/messages"))
            .json(&json!({ "text": "while it is gone", "client_id": "gone-1" }))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::CREATED {
            break response.json::<ChatMessage>().await.unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the node recovers by itself"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    wait_ready(&app.base).await;
    // The stream stayed open through it all, and the retry is there once.
    assert_eq!(stream.messages(1).await, vec![retried.clone()]);
    assert_eq!(whole_history(&app.base, "dev").await, vec![first, retried]);
}

#[tokio::test]
async fn a_database_of_a_newer_version_is_refused_untouched() {
    let app = spawn_app(BrokerKind::Postgres).await;
    let database = app.database.clone().unwrap();
    let config = app.config.clone();
    drop(app);
    let (client, connection) = tokio_postgres::connect(&database.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(
            "INSERT INTO refinery_schema_history (version, name, applied_on, checksum)
             VALUES (999, 'from_the_future', '2030-01-01T00:00:00Z', '0')",
        )
        .await
        .unwrap();
    let tables = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'";
    let before: i64 = client.query_one(tables, &[]).await.unwrap().get(0);
    let refused = tiny_chat::server::state::AppState::new(
        &config,
        tiny_chat::server::leptos_options("127.0.0.1:0".parse().unwrap()),
        tokio_util::sync::CancellationToken::new(),
    );
    let error = format!("{:#}", refused.err().expect("the node refuses to start"));
    assert!(error.contains("newer version"), "it says why: {error}");
    let after: i64 = client.query_one(tables, &[]).await.unwrap().get(0);
    assert_eq!(before, after, "nothing changed");
}

#[tokio::test]
async fn postgres_without_redis_is_refused_with_what_to_set() {
    let database = PgDatabase::create();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tiny-chat"))
        .env_remove("REDIS_URL")
        .env("CHAT_DATABASE_URL", &database.url)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("REDIS_URL"), "it says what to set: {said}");
}
