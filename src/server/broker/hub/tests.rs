use super::*;
use crate::message::{ChatMessage, DisplayName};

fn message(room: &RoomName, ms: u64) -> Entry {
    Entry::Message(ChatMessage::new(
        MessageId::new(ms, 0),
        room.clone(),
        DisplayName::parse("ann").unwrap(),
        format!("m{ms}"),
    ))
}

#[test]
fn a_frame_is_an_sse_event_with_the_message_id() {
    let room = RoomName::everyone();
    let frame = message(&room, 7).frame();
    let text = std::str::from_utf8(&frame).unwrap();
    assert!(text.starts_with("id: 7-0\ndata: {\"id\":\"7-0\""), "{text}");
    assert!(text.ends_with("}\n\n"));
    assert_eq!(text.matches('\n').count(), 3, "data must be on one line");
}

#[test]
fn person_events_are_named_events_without_an_id() {
    let hub = Hub::new(
        8,
        Budget {
            total: 1 << 20,
            per_room: 1 << 20,
        },
    );
    let room = RoomName::everyone();
    let mut sub = hub.subscribe(&room);
    let ann = DisplayName::parse("Ann").unwrap();
    hub.person(PersonEventKind::Typing, &room, &ann);
    let Ok(Delivery::Person { frame }) = sub.receiver.try_recv() else {
        panic!("expected a person event");
    };
    assert_eq!(
        std::str::from_utf8(&frame).unwrap(),
        "event: typing\ndata: {\"room\":\"everyone\",\"name\":\"Ann\"}\n\n"
    );
}

#[test]
fn dispatch_drops_messages_not_newer_than_the_last_one() {
    let hub = Hub::new(
        8,
        Budget {
            total: 1 << 20,
            per_room: 1 << 20,
        },
    );
    let room = RoomName::everyone();
    let mut sub = hub.subscribe(&room);
    assert!(hub.dispatch(&message(&room, 2)));
    assert!(!hub.dispatch(&message(&room, 2)));
    assert!(!hub.dispatch(&message(&room, 1)));
    assert!(hub.dispatch(&message(&room, 3)));
    let ids: Vec<_> = std::iter::from_fn(|| sub.receiver.try_recv().ok())
        .map(|d| match d {
            Delivery::Entry { id, .. } => id.ms,
            Delivery::Resync { .. } | Delivery::Person { .. } | Delivery::Skipped { .. } => 0,
        })
        .collect();
    assert_eq!(ids, [2, 3]);
}

#[test]
fn past_the_byte_budget_an_entry_travels_as_its_id_and_the_buffers_stay_within_it() {
    let budget = Budget {
        total: 4_000,
        per_room: 2_500,
    };
    let capacity = 16;
    let hub = Hub::new(capacity, budget);
    // What an id alone weighs, at most one per place in a room's buffer.
    let markers = capacity * 96;
    let (one, two) = (
        RoomName::parse("one").unwrap(),
        RoomName::parse("two").unwrap(),
    );
    let (mut sub_one, _sub_two) = (hub.subscribe(&one), hub.subscribe(&two));
    let big = |room: &RoomName, ms: u64| {
        Entry::Message(ChatMessage::new(
            MessageId::new(ms, 0),
            room.clone(),
            DisplayName::parse("ann").unwrap(),
            "x".repeat(900),
        ))
    };
    for ms in 1..=10 {
        assert!(hub.dispatch(&big(&one, ms)));
        let held = hub.bytes_of(&one);
        assert!(held <= budget.per_room + markers, "{held}");
    }
    for ms in 11..=20 {
        assert!(hub.dispatch(&big(&two, ms)));
    }
    let held = hub.buffered_bytes();
    assert!(held <= budget.total + 2 * markers, "{held}");
    let kinds: Vec<&str> = std::iter::from_fn(|| sub_one.receiver.try_recv().ok())
        .map(|d| match d {
            Delivery::Entry { .. } => "frame",
            Delivery::Skipped { previous, id } => {
                assert_eq!(previous.ms + 1, id.ms, "it says which came before it");
                "id"
            }
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds.len(),
        10,
        "every entry goes out, one way or the other"
    );
    assert_eq!(kinds[0], "frame", "a room's first entry always goes whole");
    assert!(kinds.contains(&"id"), "{kinds:?}");
}

#[test]
fn closing_ends_every_subscription_after_what_it_already_holds() {
    let hub = Hub::new(
        8,
        Budget {
            total: 1 << 20,
            per_room: 1 << 20,
        },
    );
    let room = RoomName::everyone();
    let mut open = hub.subscribe(&room);
    assert!(hub.dispatch(&message(&room, 1)));
    hub.close();
    assert!(matches!(
        open.receiver.try_recv(),
        Ok(Delivery::Entry { .. })
    ));
    assert_eq!(
        open.receiver.try_recv().unwrap_err(),
        broadcast::error::TryRecvError::Closed
    );
    let mut late = hub.subscribe(&room);
    assert_eq!(
        late.receiver.try_recv().unwrap_err(),
        broadcast::error::TryRecvError::Closed
    );
    assert!(!hub.dispatch(&message(&room, 2)));
}

#[test]
fn a_room_is_freed_when_its_last_subscriber_leaves() {
    let hub = Hub::new(
        8,
        Budget {
            total: 1 << 20,
            per_room: 1 << 20,
        },
    );
    let room = RoomName::everyone();
    let first = hub.subscribe(&room);
    let second = hub.subscribe(&room);
    drop(first);
    assert_eq!(hub.active_rooms().len(), 1);
    drop(second);
    assert!(hub.active_rooms().is_empty());
    assert!(!hub.dispatch(&message(&room, 1)), "nobody to deliver to");
}
