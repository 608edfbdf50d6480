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
    };
    let here = IpAddr::from([127, 0, 0, 1]);
    assert_eq!(
        broker.claim(&ann, None, here).await.unwrap(),
        Claim::Granted
    );
    (broker, ann)
}

async fn post(broker: &MemoryBroker, author: &Holder, room: &str, text: &str) {
    broker
        .publish(NewMessage {
            room: RoomName::parse(room).unwrap(),
            author: author.clone(),
            text: MessageText::parse(text).unwrap(),
            client_id: None,
        })
        .await
        .unwrap();
}

fn room_names(broker: &MemoryBroker) -> Vec<String> {
    let state = broker.lock();
    state.activity.values().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn past_the_room_limit_the_least_recently_active_room_is_forgotten() {
    let (broker, ann) = broker(limits()).await;
    for room in ["a", "b", "c", "a", "d"] {
        post(&broker, &ann, room, "hi").await;
    }
    assert_eq!(room_names(&broker), ["c", "a", "d"]);
    assert!(
        !broker
            .lock()
            .rooms
            .contains_key(&RoomName::parse("b").unwrap())
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
    let result = broker
        .publish(NewMessage {
            room: RoomName::everyone(),
            author: ann,
            text: MessageText::parse("hi").unwrap(),
            client_id: None,
        })
        .await;
    assert!(matches!(result, Err(BrokerError::Revoked)));
    assert!(broker.lock().rooms.is_empty());
}

#[tokio::test]
async fn a_repeat_after_the_first_message_left_history_answers_with_its_id() {
    let (broker, ann) = broker(limits()).await;
    let post = |text: &str, client_id: Option<&str>| NewMessage {
        room: RoomName::everyone(),
        author: ann.clone(),
        text: MessageText::parse(text).unwrap(),
        client_id: client_id.map(str::to_owned),
    };
    let Published::New(first) = broker.publish(post("once", Some("c-1"))).await.unwrap() else {
        panic!("the first post is new");
    };
    for i in 0..limits().history + 5 {
        broker.publish(post(&format!("m{i}"), None)).await.unwrap();
    }
    assert!(
        broker
            .lock()
            .find(&RoomName::everyone(), first.id)
            .is_none()
    );

    let again = broker.publish(post("once", Some("c-1"))).await.unwrap();
    assert_eq!(again, Published::Repeat(first));
}
