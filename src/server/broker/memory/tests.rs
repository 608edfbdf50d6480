use super::*;
use crate::{
    message::MessageText,
    server::broker::{BrokerError, NewMessage, Published, RoomLog},
};
use std::time::Duration;

fn limits() -> Limits {
    Limits::for_tests()
}

async fn broker(limits: Limits) -> (MemoryBroker, Holder) {
    let broker = MemoryBroker::with_clock(limits, Clock::manual(1_700_000_000_000));
    let ann = Holder {
        name: DisplayName::parse("ann").unwrap(),
        session_id: "s".into(),
        since: 0,
    };
    let here = IpAddr::from([127, 0, 0, 1]);
    assert!(matches!(
        broker.claim(&ann, None, here).await.unwrap(),
        Claim::Granted { .. }
    ));
    (broker, ann)
}

fn new_message(author: &Holder, room: &str, text: &str) -> NewMessage {
    NewMessage {
        room: RoomName::parse(room).unwrap(),
        author: author.clone(),
        text: MessageText::parse(text).unwrap(),
        client_id: None,
        client: IpAddr::from([127, 0, 0, 1]),
    }
}

async fn post(broker: &MemoryBroker, author: &Holder, room: &str, text: &str) {
    broker
        .publish(new_message(author, room, text))
        .await
        .unwrap();
}

fn room_names(broker: &MemoryBroker) -> Vec<String> {
    let state = broker.lock();
    state.activity.values().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn past_the_room_limit_a_new_room_is_refused_and_no_room_is_forgotten() {
    let (broker, ann) = broker(Limits {
        room_idle: Duration::from_secs(60),
        ..limits()
    })
    .await;
    for room in ["a", "b", "c", "a"] {
        post(&broker, &ann, room, "hi").await;
    }
    let refused = broker.publish(new_message(&ann, "d", "hi")).await;
    assert!(
        matches!(refused, Err(BrokerError::RoomsFull)),
        "{refused:?}"
    );
    assert_eq!(room_names(&broker), ["b", "c", "a"]);
    post(&broker, &ann, "b", "still room for the old ones").await;

    // A room gone idle makes room.
    broker.clock.advance(Duration::from_secs(120));
    post(&broker, &ann, "a", "back").await;
    post(&broker, &ann, "d", "now there is room").await;
    assert_eq!(room_names(&broker), ["a", "d"]);
}

#[tokio::test]
async fn new_rooms_are_limited_per_name_and_per_address() {
    let (broker, ann) = broker(Limits {
        max_rooms: 100,
        new_room_rate: 1.0 / 3600.0,
        new_room_burst: 2,
        ..limits()
    })
    .await;
    post(&broker, &ann, "one", "hi").await;
    post(&broker, &ann, "two", "hi").await;
    let third = broker.publish(new_message(&ann, "three", "hi")).await;
    assert!(
        matches!(third, Err(BrokerError::RateLimited(_))),
        "{third:?}"
    );
    post(&broker, &ann, "one", "an old room is no new one").await;

    // Another name from the same address shares the address's limit; from another
    // address it has its own.
    let bob = Holder {
        name: DisplayName::parse("bob").unwrap(),
        session_id: "b".into(),
        since: 0,
    };
    broker
        .claim(&bob, None, IpAddr::from([127, 0, 0, 1]))
        .await
        .unwrap();
    let same_address = broker.publish(new_message(&bob, "four", "hi")).await;
    assert!(matches!(same_address, Err(BrokerError::RateLimited(_))));
    let elsewhere = NewMessage {
        client: IpAddr::from([192, 0, 2, 9]),
        ..new_message(&bob, "four", "hi")
    };
    assert!(broker.publish(elsewhere).await.is_ok());
}

#[tokio::test]
async fn past_the_byte_limit_the_room_written_to_gives_up_its_own_history_first() {
    let (broker, ann) = broker(Limits {
        max_rooms: 1000,
        memory_bytes: 64 * 1024,
        ..limits()
    })
    .await;
    post(&broker, &ann, "quiet", "a message of a quiet room").await;
    let text = "x".repeat(2000);
    for _ in 0..200 {
        post(&broker, &ann, "loud", &text).await;
    }
    let state = broker.lock();
    assert!(state.bytes <= 64 * 1024, "{} bytes kept", state.bytes);
    assert!(
        state.rooms.contains_key(&RoomName::parse("quiet").unwrap()),
        "the quiet room keeps its history"
    );
}

#[tokio::test]
async fn past_the_byte_limit_old_rooms_go_and_the_count_stays_exact() {
    let (broker, ann) = broker(Limits {
        max_rooms: 1000,
        memory_bytes: 64 * 1024,
        ..limits()
    })
    .await;
    let text = "x".repeat(2000);
    for i in 0..200 {
        post(&broker, &ann, &format!("r{i}"), &text).await;
    }
    let state = broker.lock();
    assert!(state.bytes <= 64 * 1024, "{} bytes kept", state.bytes);
    let counted: usize = state.rooms.values().map(|r| r.bytes).sum();
    assert_eq!(counted, state.bytes);
    assert_eq!(state.rooms.len(), state.activity.len());
    assert!(state.rooms.contains_key(&RoomName::parse("r199").unwrap()));
}

#[tokio::test]
async fn an_idle_room_is_forgotten_when_the_next_post_comes() {
    let (broker, ann) = broker(Limits {
        room_idle: Duration::from_millis(20),
        ..limits()
    })
    .await;
    post(&broker, &ann, "old", "hi").await;
    broker.clock.advance(Duration::from_millis(40));
    post(&broker, &ann, "new", "hi").await;
    assert_eq!(room_names(&broker), ["new"]);
}

#[tokio::test]
async fn a_session_that_does_not_hold_its_name_cannot_post() {
    let (broker, ann) = broker(limits()).await;
    broker.release(&ann).await.unwrap();
    let result = broker.publish(new_message(&ann, "everyone", "hi")).await;
    assert!(matches!(result, Err(BrokerError::Revoked)));
    assert!(broker.lock().rooms.is_empty());
}

#[tokio::test]
async fn a_repeat_answers_with_the_first_message_as_stored_and_none_once_it_is_gone() {
    let (broker, ann) = broker(limits()).await;
    let post = |text: &str, client_id: Option<&str>| NewMessage {
        client_id: client_id.map(str::to_owned),
        ..new_message(&ann, "everyone", text)
    };
    let Published::New(first) = broker.publish(post("once", Some("c-1"))).await.unwrap() else {
        panic!("the first post is new");
    };
    // Whatever the retry says, the answer is the first message as stored.
    let again = broker
        .publish(post("other text", Some("c-1")))
        .await
        .unwrap();
    assert_eq!(again, Published::Repeat(first.clone()));

    for i in 0..limits().history + 5 {
        broker.publish(post(&format!("m{i}"), None)).await.unwrap();
    }
    assert!(
        broker
            .lock()
            .find(&RoomName::everyone(), first.id)
            .is_none()
    );
    let gone = broker.publish(post("once", Some("c-1"))).await;
    assert!(matches!(gone, Err(BrokerError::NotFound)), "{gone:?}");
}

#[tokio::test]
async fn the_log_keeps_a_changed_message_once_and_a_replay_sends_it_as_it_stands() {
    use crate::server::broker::{After, Change, ChangeKind, log::Entry};
    let (broker, ann) = broker(limits()).await;
    let sent = match broker.publish(new_message(&ann, "a", "first")).await {
        Ok(Published::New(message)) => message,
        other => panic!("{other:?}"),
    };
    let edit = |text: &str| Change {
        room: sent.room.clone(),
        id: sent.id,
        author: ann.clone(),
        kind: ChangeKind::Edit(MessageText::parse(text).unwrap()),
    };
    let replay = || async {
        match broker.after(&sent.room, sent.id, 10).await.unwrap() {
            After::Entries(page) => page,
            other => panic!("{other:?}"),
        }
    };
    broker.change(edit("second")).await.unwrap();
    broker.change(edit("third")).await.unwrap();
    let page = replay().await;
    let texts: Vec<&str> = page
        .entries
        .iter()
        .map(|entry| match entry {
            Entry::Update { message, .. } => message.text.as_str(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        texts,
        ["third", "third"],
        "each update as the message stands"
    );
    assert_eq!(page.last, page.entries.last().map(Entry::id));

    let delete = Change {
        kind: ChangeKind::Delete,
        ..edit("unused")
    };
    broker.change(delete).await.unwrap();
    let page = replay().await;
    assert!(
        matches!(page.entries[..], [Entry::Delete { .. }]),
        "only the delete: {:?}",
        page.entries
    );
    assert!(page.last.is_some_and(|last| last > sent.id));
}
