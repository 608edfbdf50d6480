use super::*;
use crate::message::{Reaction, RoomName};

fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).unwrap()
}

fn names(raw: &[&str]) -> Vec<DisplayName> {
    raw.iter().map(|n| name(n)).collect()
}

fn room() -> RoomName {
    RoomName::parse("dev").unwrap()
}

fn message(id: u64, sender: &str, text: &str) -> ChatMessage {
    ChatMessage {
        id: MessageId::new(id, 0),
        room: room(),
        sender: name(sender),
        text: text.into(),
        sent_at: crate::message::rfc3339_millis(id),
        edited_at: None,
        reactions: Vec::new(),
    }
}

fn held(all: impl IntoIterator<Item = ChatMessage>) -> Messages {
    all.into_iter().map(|m| (m.id, m)).collect()
}

#[test]
fn an_update_replaces_a_held_message_and_never_adds_one() {
    let mut all = held([message(1, "bob", "teh"), message(2, "carol", "hi")]);
    let mut fixed = message(1, "bob", "the");
    fixed.edited_at = Some(crate::message::rfc3339_millis(3));
    assert!(apply_update(&mut all, fixed.clone()));
    assert_eq!(all[&MessageId::new(1, 0)], fixed);
    // The same state again changes nothing (and notifies nobody).
    assert!(!apply_update(&mut all, fixed));
    // A message deleted since, or never loaded, stays out.
    assert!(!apply_update(&mut all, message(7, "bob", "gone")));
    assert_eq!(all.len(), 2);
}

#[test]
fn what_arrives_twice_is_held_once_as_the_stream_left_it() {
    let mut edited = message(1, "bob", "the");
    edited.edited_at = Some(crate::message::rfc3339_millis(3));
    let mut all = held([edited.clone()]);
    // A page fetched before the edit arrived, with one message more.
    assert!(apply_new(
        &mut all,
        [message(1, "bob", "teh"), message(2, "bob", "new")]
    ));
    assert_eq!(all[&MessageId::new(1, 0)], edited);
    assert_eq!(all.len(), 2);
    assert!(!apply_new(&mut all, [message(2, "bob", "new")]));
}

#[test]
fn an_answer_never_undoes_what_the_stream_brought_since() {
    let before = message(1, "alice", "hi");
    let mut mine = before.clone();
    mine.reactions = vec![Reaction {
        emoji: "👍".into(),
        names: names(&["alice"]),
    }];
    let mut both = mine.clone();
    both.reactions[0].names.push(name("bob"));

    // The answer comes first: taken.
    let mut all = held([before.clone()]);
    assert!(apply_answer(&mut all, &before, mine.clone()));
    assert_eq!(all[&before.id], mine);

    // The stream brought your reaction and then bob's: the late answer is left out.
    let mut all = held([both.clone()]);
    assert!(!apply_answer(&mut all, &before, mine.clone()));
    assert_eq!(all[&before.id], both);

    // Deleted meanwhile: it stays deleted.
    let mut all = Messages::new();
    assert!(!apply_answer(&mut all, &before, mine));
    assert!(all.is_empty());
}

#[test]
fn a_deleted_message_is_no_longer_unread() {
    let me = name("alice");
    let mut unread = Unread::default();
    unread.add(&message(11, "bob", "hey @alice"), None, Some(&me));
    unread.add(&message(12, "bob", "there"), None, Some(&me));
    unread.forget(MessageId::new(11, 0));
    assert_eq!(unread.count(), 1);
    assert!(!unread.mentioned());
}

#[test]
fn up_edits_your_newest_message() {
    let all = held([
        message(1, "alice", "first"),
        message(2, "Alice", "second"),
        message(3, "bob", "not yours"),
    ]);
    assert_eq!(newest_of(&all, &name("alice")), Some(MessageId::new(2, 0)));
    assert_eq!(newest_of(&all, &name("carol")), None);
}

#[test]
fn a_delete_removes_a_held_message_once() {
    let mut all = held([message(1, "bob", "oops"), message(2, "carol", "hi")]);
    assert!(apply_delete(&mut all, MessageId::new(1, 0)));
    assert!(!apply_delete(&mut all, MessageId::new(1, 0)));
    assert!(!apply_delete(&mut all, MessageId::new(9, 0)));
    assert_eq!(
        all.keys().copied().collect::<Vec<_>>(),
        [MessageId::new(2, 0)]
    );
}

#[test]
fn joins_and_leaves_are_idempotent_and_keep_the_list_sorted() {
    let mut here = Presence {
        room: room(),
        online: names(&["bob", "dave"]),
        count: 2,
    };
    join(&mut here, name("Carol"));
    join(&mut here, name("carol"));
    join(&mut here, name("alice"));
    assert_eq!(here.online, names(&["alice", "bob", "Carol", "dave"]));
    assert_eq!(here.count, 4);
    leave(&mut here, &name("BOB"));
    leave(&mut here, &name("bob"));
    leave(&mut here, &name("nobody"));
    assert_eq!(here.online, names(&["alice", "Carol", "dave"]));
    assert_eq!(here.count, 3);
}

#[test]
fn a_full_list_still_counts_a_join() {
    let online: Vec<_> = (0..ONLINE_LIST_LIMIT)
        .map(|i| name(&format!("p{i:03}")))
        .collect();
    let mut here = Presence {
        room: room(),
        online,
        count: 100,
    };
    join(&mut here, name("zed"));
    assert_eq!(here.online.len(), ONLINE_LIST_LIMIT);
    assert_eq!(here.count, 101);
}

#[test]
fn typing_reads_as_a_sentence() {
    assert_eq!(typing_label(&[]), None);
    assert_eq!(
        typing_label(&names(&["alice"])).unwrap(),
        "alice is typing…"
    );
    assert_eq!(
        typing_label(&names(&["alice", "bob"])).unwrap(),
        "alice and bob are typing…"
    );
    assert_eq!(
        typing_label(&names(&["alice", "bob", "carol"])).unwrap(),
        "several people are typing…"
    );
}

#[test]
fn unread_counts_each_newer_message_of_others_once() {
    let me = name("alice");
    let mut unread = Unread::default();
    let read = Some(MessageId::new(10, 0));
    unread.add(&message(9, "bob", "old"), read, Some(&me));
    unread.add(&message(11, "bob", "new"), read, Some(&me));
    unread.add(&message(11, "bob", "new"), read, Some(&me));
    unread.add(&message(12, "Alice", "mine"), read, Some(&me));
    unread.add(&message(13, "carol", "hey @alice"), read, Some(&me));
    assert_eq!(unread.count(), 2);
    assert!(unread.mentioned());
    unread.read_up_to(MessageId::new(13, 0));
    assert_eq!(unread, Unread::default());
}

#[test]
fn titles_count_what_is_unread_elsewhere() {
    assert_eq!(title(&room(), 0), "#dev · tiny-chat");
    assert_eq!(title(&room(), 3), "(3) #dev · tiny-chat");
}

#[test]
fn stream_events_parse_and_unknown_ones_are_ignored() {
    let typing = StreamEvent::parse("typing", r#"{"room":"dev","name":"bob"}"#).unwrap();
    assert_eq!(typing.room(), &room());
    assert!(matches!(
        typing,
        StreamEvent::Person(PersonEventKind::Typing, _)
    ));
    let resync = StreamEvent::parse("resync", r#"{"room":"dev","oldest":null}"#).unwrap();
    assert!(matches!(
        resync,
        StreamEvent::Resync(Resync { oldest: None, .. })
    ));
    assert_eq!(StreamEvent::parse("update", "{}"), None);
    assert_eq!(StreamEvent::parse("reaction", "{}"), None);
    let delete = StreamEvent::parse("delete", r#"{"room":"dev","id":"5-0"}"#).unwrap();
    assert_eq!(
        delete,
        StreamEvent::Delete(Deleted {
            room: room(),
            id: MessageId::new(5, 0)
        })
    );
    let update = StreamEvent::parse(
        "update",
        r#"{"id":"5-0","room":"dev","sender":"bob","text":"fixed","sent_at":"x","edited_at":"y","reactions":[{"emoji":"👍","names":["alice"]}]}"#,
    )
    .unwrap();
    let StreamEvent::Update(updated) = update else {
        panic!("an update: {update:?}");
    };
    assert_eq!(updated.edited_at.as_deref(), Some("y"));
    assert_eq!(updated.reactions[0].names, names(&["alice"]));
    assert_eq!(StreamEvent::parse("message", "not json"), None);
}
