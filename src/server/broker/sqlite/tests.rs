use super::*;
use crate::{
    message::MessageText,
    server::broker::{After, ChangeKind, Delivery, clock::Clock, log::Entry},
};
use proptest::prelude::*;

const START_MS: u64 = 1_700_000_000_000;

fn ann() -> Holder {
    Holder {
        name: DisplayName::parse("ann").unwrap(),
        session_id: "s".into(),
        since: 0,
    }
}

fn here() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

fn open(path: &Path, clock: &Clock) -> SqliteBroker {
    let limits = Limits {
        subscriber_buffer: 256,
        ..Limits::for_tests()
    };
    let live = MemoryBroker::with_clock(limits, clock.clone());
    SqliteBroker::open(path, live, None).unwrap()
}

fn new_message(room: &str, text: &str) -> NewMessage {
    NewMessage {
        room: RoomName::parse(room).unwrap(),
        author: ann(),
        text: MessageText::parse(text).unwrap(),
        client_id: None,
        client: here(),
    }
}

async fn say(broker: &SqliteBroker, room: &str, text: &str) -> ChatMessage {
    match broker.publish(new_message(room, text)).await.unwrap() {
        Published::New(message) => message,
        other => panic!("expected a new message, got {other:?}"),
    }
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

#[tokio::test]
async fn what_is_written_is_read_back_after_a_reopen_names_included() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    let clock = Clock::manual(START_MS);
    let broker = open(&path, &clock);
    assert!(matches!(
        broker.claim(&ann(), None, here()).await.unwrap(),
        Claim::Granted { .. }
    ));
    let first = say(&broker, "dev", "first").await;
    clock.advance(Duration::from_millis(5));
    let second = say(&broker, "dev", "second *bold*").await;
    let edited = broker
        .change(Change {
            room: room("dev"),
            id: second.id,
            author: ann(),
            kind: ChangeKind::Edit(MessageText::parse("second, edited").unwrap()),
        })
        .await
        .unwrap();
    let deleted = broker
        .change(Change {
            room: room("dev"),
            id: first.id,
            author: ann(),
            kind: ChangeKind::Delete,
        })
        .await
        .unwrap();
    assert_eq!(deleted, Changed::Deleted);
    drop(broker);

    let broker = open(&path, &clock);
    let Changed::Message(edited) = edited else {
        panic!("an edit answers the message")
    };
    assert_eq!(
        broker.history(&room("dev"), None, 50).await.unwrap(),
        vec![edited.clone()]
    );
    // The name is still held by its session, and refused to another.
    assert!(broker.holds(&ann()).await.unwrap());
    let other = Holder {
        session_id: "other".into(),
        ..ann()
    };
    assert_eq!(
        broker.claim(&other, None, here()).await.unwrap(),
        Claim::Taken
    );
    // The log replays from the first message: the second message and its edit (each as
    // it stands), then the delete.
    let After::Entries(page) = broker.after(&room("dev"), first.id, 50).await.unwrap() else {
        panic!("the first id is kept")
    };
    let kinds: Vec<&str> = page
        .entries
        .iter()
        .map(|entry| match entry {
            Entry::Message(_) => "message",
            Entry::Update { .. } => "update",
            Entry::Delete { .. } => "delete",
        })
        .collect();
    assert_eq!(kinds, ["message", "update", "delete"]);
    // Each replayed as the message stands now (as the update is), once.
    assert_eq!(page.entries[0], Entry::Message(edited.clone()));
    assert_eq!(second.id, edited.id);
    let rooms = broker.rooms().await.unwrap();
    assert_eq!(rooms[0].name, room("dev"));
}

#[tokio::test]
async fn a_repeated_client_id_answers_the_first_message_after_a_reopen_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    let clock = Clock::manual(START_MS);
    let broker = open(&path, &clock);
    broker.claim(&ann(), None, here()).await.unwrap();
    let with_id = |text: &str| NewMessage {
        client_id: Some("c1".into()),
        ..new_message("dev", text)
    };
    let Published::New(first) = broker.publish(with_id("once")).await.unwrap() else {
        panic!("the first post is new")
    };
    drop(broker);
    let broker = open(&path, &clock);
    assert_eq!(
        broker.publish(with_id("again")).await.unwrap(),
        Published::Repeat(first)
    );
    assert_eq!(
        broker.history(&room("dev"), None, 10).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn concurrent_posts_are_published_in_id_order_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let broker = Arc::new(open(&database_path(dir.path()), &Clock::system()));
    broker.claim(&ann(), None, here()).await.unwrap();
    let mut live = broker.subscribe(&[room("dev")]).await.remove(0);
    let posts = (0..64).map(|n| {
        let broker = Arc::clone(&broker);
        tokio::spawn(async move { say(&broker, "dev", &format!("m{n}")).await.id })
    });
    let mut answered: Vec<MessageId> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    answered.sort();
    let mut delivered = Vec::new();
    while delivered.len() < answered.len() {
        let next = tokio::time::timeout(Duration::from_secs(5), live.receiver.recv());
        let next = next.await.unwrap_or_else(|_| {
            panic!(
                "no gap: {} of {} delivered",
                delivered.len(),
                answered.len()
            )
        });
        match next.expect("the bus stays open") {
            Delivery::Entry { id, .. } => delivered.push(id),
            other => panic!("expected an entry, got {other:?}"),
        }
    }
    assert_eq!(delivered, answered, "each once, in id order");
    let history = broker.history(&room("dev"), None, 100).await.unwrap();
    assert_eq!(history.iter().map(|m| m.id).collect::<Vec<_>>(), answered);
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = database_path(dir.path());
    drop(open(&path, &Clock::system()));
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let error = open_database(&path).expect_err("a newer schema is refused");
    assert!(
        error.to_string().contains("newer version"),
        "the message says why: {error}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing changed");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Ids only go forward, across reopens and whatever the clock does (it may go back
    /// by up to a second between two steps, as a machine's clock can).
    #[test]
    fn ids_never_go_backwards_across_reopens(
        steps in prop::collection::vec((0u8..4, -1000i64..1000), 1..40)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = database_path(dir.path());
            let mut now = START_MS;
            let mut broker = open(&path, &Clock::manual(now));
            broker.claim(&ann(), None, here()).await.unwrap();
            let mut last = MessageId::new(0, 0);
            for (step, moved) in steps {
                now = now.saturating_add_signed(moved);
                if step == 0 {
                    drop(broker);
                    broker = open(&path, &Clock::manual(now));
                    continue;
                }
                // A fresh manual clock per step is how the clock "moves" here.
                let live = MemoryBroker::with_clock(Limits::for_tests(), Clock::manual(now));
                drop(broker);
                broker = SqliteBroker::open(&path, live, None).unwrap();
                let id = say(&broker, "dev", "tick").await.id;
                prop_assert!(id > last, "{id} after {last}");
                last = id;
            }
            Ok(())
        })?;
    }
}
