//! A resume replays each change once, in order, on a room's stream and on the many-room
//! stream, even from a deleted message's id.

use super::{QUIET, edit, entry_id, expect_no_content, expect_ok, next_events, remove};
use crate::helpers::{BrokerKind, Event, spawn_app};
use serde_json::json;
use std::time::Duration;
use tiny_chat::message::{ChatMessage, MessageId};

contract!(
    a_resume_replays_each_change_once_in_order_on_both_kinds_of_stream,
    a_resume_from_a_deleted_messages_id_continues_after_it,
);

async fn a_resume_replays_each_change_once_in_order_on_both_kinds_of_stream(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "replay";
    let ann = app.signed_in("ann").await;
    let mut live = app.events(room, None).await;
    let m1 = app.say(&ann, room, "m1").await;
    let m2 = app.say(&ann, room, "m2").await;
    let edited = expect_ok(edit(&app, &ann, room, m1.id, "m1 edited").await, "edit").await;
    expect_no_content(remove(&app, &ann, room, m2.id).await, "delete").await;
    let m3 = app.say(&ann, room, "m3").await;

    let log = next_events(&mut live, 5).await;
    let names: Vec<&str> = log.iter().map(Event::name).collect();
    assert_eq!(names, ["message", "message", "update", "delete", "message"]);
    let ids: Vec<MessageId> = log.iter().map(entry_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase: {log:?}");
    assert_eq!(log[0].message(), m1);
    assert_eq!(log[1].message(), m2);
    assert_eq!(log[2].json(), edited);
    assert_eq!(
        log[3].json(),
        json!({ "room": room, "id": m2.id.to_string() })
    );
    assert_eq!(log[4].message(), m3);
    live.assert_quiet(QUIET).await;

    let many = |event: &Event| Event {
        id: event.id.as_ref().map(|id| format!("{room}/{id}")),
        ..event.clone()
    };
    let mut resumed = Vec::new();
    // From a message, from the update's entry, from the delete's entry.
    for (from, after) in [(0, &log[1..]), (2, &log[3..]), (3, &log[4..])] {
        let id = ids[from].to_string();
        let many_after: Vec<Event> = after.iter().map(many).collect();
        let streams = [
            (
                "the room's stream by query",
                format!("/api/rooms/{room}/events?last_event_id={id}"),
                None,
                after.to_vec(),
            ),
            (
                "the room's stream by header",
                format!("/api/rooms/{room}/events"),
                Some(id.clone()),
                after.to_vec(),
            ),
            (
                "the many-room stream by query",
                format!("/api/events?rooms={room}:{id}"),
                None,
                many_after.clone(),
            ),
            (
                "the many-room stream by header",
                format!("/api/events?rooms={room}:{}", m1.id),
                Some(format!("{room}/{id}")),
                many_after,
            ),
        ];
        for (what, path, header, expected) in streams {
            let mut events = app.events_at(&path, header.as_deref()).await;
            let received = next_events(&mut events, expected.len()).await;
            assert_eq!(
                received,
                expected,
                "resuming {what} from {} {id}",
                log[from].name()
            );
            resumed.push((what, events));
        }
    }

    // Then each is live, with no gap and no duplicate.
    let m4 = app.say(&ann, room, "m4").await;
    for (what, events) in &mut resumed {
        let event = events.next().await;
        if what.contains("many-room") {
            assert_eq!(event.room_message(), m4, "{what}");
        } else {
            assert_eq!(event.message(), m4, "{what}");
        }
        events.assert_quiet(Duration::from_millis(100)).await;
    }
}

/// A client that saw a message, then lost its connection, resumes from that message's id
/// even if the message was deleted meanwhile. API.md does not say this outright, but a
/// deleted message's entry stays in the log (a resume from before it replays it, then its
/// `delete`), so its id is not unknown; a `resync` here would make every client that saw
/// the newest message reload history whenever it is deleted.
async fn a_resume_from_a_deleted_messages_id_continues_after_it(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "gone";
    let ann = app.signed_in("ann").await;
    let m1 = app.say(&ann, room, "m1").await;
    let m2 = app.say(&ann, room, "m2").await;
    let mut live = app.events(room, Some(&m1.id.to_string())).await;
    assert_eq!(live.next().await.message(), m2);
    expect_no_content(remove(&app, &ann, room, m2.id).await, "delete").await;
    let m3 = app.say(&ann, room, "m3").await;
    let log = next_events(&mut live, 2).await;

    for path in [
        format!("/api/rooms/{room}/events?last_event_id={}", m2.id),
        format!("/api/events?rooms={room}:{}", m2.id),
    ] {
        let mut events = app.events_at(&path, None).await;
        let received = next_events(&mut events, 2).await;
        let names: Vec<&str> = received.iter().map(Event::name).collect();
        assert_eq!(names, ["delete", "message"], "{path}: {received:?}");
        assert_eq!(received[0].json(), log[0].json(), "{path}");
        assert_eq!(received[1].data, log[1].data, "{path}");
        assert_eq!(
            serde_json::from_str::<ChatMessage>(&received[1].data).unwrap(),
            m3
        );
        events.assert_quiet(QUIET).await;
    }
}
