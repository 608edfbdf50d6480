use super::*;

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn id(ms: u64) -> MessageId {
    MessageId { ms, seq: 0 }
}

fn interest(rooms: &[(&str, Option<u64>)], here: &[&str]) -> Interest {
    Interest {
        rooms: rooms
            .iter()
            .map(|(name, after)| (room(name), after.map(id)))
            .collect(),
        here: here.iter().map(|name| room(name)).collect(),
    }
}

fn afters(request: &StreamRequest) -> Vec<(String, Option<u64>)> {
    request
        .rooms
        .iter()
        .map(|r| (r.room.to_string(), r.after.map(|a| a.ms)))
        .collect()
}

#[test]
fn a_room_page_wants_its_room_after_what_it_shows_and_the_other_recent_rooms_after_what_is_held() {
    let held = |r: &RoomName| (r.as_str() == "blue").then(|| id(3));
    let recent = ["green", "red", "blue"].map(room);
    let wish = Interest::of_room(&room("red"), id(9), recent, held);
    assert_eq!(
        wish,
        interest(
            &[("red", Some(9)), ("green", None), ("blue", Some(3))],
            &["red"]
        )
    );
    // A room shown empty resumes from 0-0; at most the stream's limit of rooms.
    let many = (0..MAX_STREAM_ROOMS + 5).map(|i| room(&format!("r{i}")));
    let wish = Interest::of_room(&room("red"), MessageId::default(), many, |_| None);
    assert_eq!(wish.rooms.len(), MAX_STREAM_ROOMS);
    assert_eq!(wish.rooms[0], (room("red"), Some(MessageId::default())));
}

#[test]
fn the_stream_carries_every_tabs_rooms_and_is_here_where_a_tab_shows_one() {
    let mut plan = Plan::default();
    assert!(plan.want(
        "a",
        interest(&[("red", Some(5)), ("blue", None)], &["red"]),
        0.0
    ));
    assert!(plan.want("b", interest(&[("blue", Some(7))], &["blue"]), 0.0));
    let request = plan.request().unwrap();
    assert_eq!(
        afters(&request),
        [("blue".into(), Some(7)), ("red".into(), Some(5))]
    );
    assert_eq!(request.here, [0, 1]);
    // The same wish again changes nothing.
    assert!(!plan.want("b", interest(&[("blue", Some(7))], &["blue"]), 1.0));
}

#[test]
fn a_tab_holding_less_than_the_stream_passed_reopens_it_from_there() {
    let mut plan = Plan::default();
    assert!(plan.want("a", interest(&[("red", Some(5))], &["red"]), 0.0));
    plan.request().unwrap();
    plan.seen(&room("red"), id(9));
    // Holding 9 or more: nothing to replay.
    assert!(!plan.want("b", interest(&[("red", Some(9))], &["red"]), 0.0));
    // Holding 6: the stream passed 7 to 9 before this tab listened.
    assert!(plan.want("c", interest(&[("red", Some(6))], &["red"]), 0.0));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(6))]);
    // Holding nothing asks for nothing.
    assert!(!plan.want("d", interest(&[("red", None)], &[]), 0.0));
}

#[test]
fn after_a_resync_the_stream_goes_back_only_for_a_tab_that_holds_something() {
    let mut plan = Plan::default();
    assert!(plan.want("a", interest(&[("red", Some(0))], &["red"]), 0.0));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(0))]);
    plan.resynced(&room("red"));
    // A room still empty after the reload: no reconnect, no second resync now.
    assert!(!plan.want("a", interest(&[("red", Some(0))], &["red"]), 0.0));
    // A reload that found messages: from the newest of them.
    plan.resynced(&room("red"));
    assert!(plan.want("a", interest(&[("red", Some(8))], &["red"]), 0.0));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(8))]);
    // Live from "now" and nothing seen since: a later reconnect still resumes from
    // what the tab holds, not from a later "now".
    plan.resynced(&room("red"));
    assert!(plan.want("a", interest(&[("red", Some(9))], &["red"]), 0.0));
    plan.closed();
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(9))]);
}

#[test]
fn a_reconnect_resumes_after_what_the_stream_brought() {
    let mut plan = Plan::default();
    assert!(plan.want("a", interest(&[("red", None)], &["red"]), 0.0));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), None)]);
    plan.seen(&room("red"), id(3));
    plan.seen(&room("red"), id(2));
    plan.closed();
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(3))]);
}

#[test]
fn a_tab_that_leaves_takes_its_rooms_out_of_the_stream() {
    let mut plan = Plan::default();
    assert!(plan.want("a", interest(&[("red", Some(1))], &["red"]), 0.0));
    assert!(plan.want("b", interest(&[("blue", Some(1))], &["blue"]), 0.0));
    plan.request();
    assert!(plan.bye("b"));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(1))]);
    assert!(!plan.bye("b"), "twice is once");
    // A tab that stops pinging is forgotten; the leader never is.
    assert!(plan.want("c", interest(&[("blue", Some(1))], &[]), 10.0));
    plan.request();
    assert!(plan.heard("c", 50.0));
    assert!(!plan.heard("stranger", 50.0));
    assert!(!plan.expire(40.0, "a"));
    assert!(plan.expire(60.0, "a"));
    assert_eq!(afters(&plan.request().unwrap()), [("red".into(), Some(1))]);
    assert!(plan.bye("a"));
    assert_eq!(plan.request(), None);
}

#[test]
fn rooms_where_someone_is_come_first_and_the_stream_holds_at_most_fifty() {
    let mut plan = Plan::default();
    let many: Vec<String> = (0..60).map(|i| format!("r{i:02}")).collect();
    let rooms: Vec<(&str, Option<u64>)> = many.iter().map(|r| (r.as_str(), None)).collect();
    assert!(plan.want("a", interest(&rooms, &[]), 0.0));
    assert!(plan.want("b", interest(&[("zz", None)], &["zz"]), 0.0));
    let request = plan.request().unwrap();
    assert_eq!(request.rooms.len(), MAX_STREAM_ROOMS);
    let zz = request.rooms.iter().position(|r| r.room == room("zz"));
    assert_eq!(request.here, [zz.unwrap()]);
}

#[test]
fn a_tab_drops_what_it_already_holds() {
    let mut positions = Positions::default();
    assert!(positions.advance(&room("red"), id(2)));
    assert!(!positions.advance(&room("red"), id(2)));
    assert!(!positions.advance(&room("red"), id(1)));
    assert!(positions.advance(&room("red"), id(3)));
    assert!(positions.advance(&room("blue"), id(1)));
    assert_eq!(positions.get(&room("red")), Some(id(3)));
}

#[test]
fn notes_go_between_tabs_as_json_and_back() {
    let notes = [
        Note::Want {
            tab: "t1".into(),
            interest: interest(&[("red", Some(4))], &["red"]),
        },
        Note::Event {
            name: "message".into(),
            data: "{\"x\":\"<b>\"}".into(),
            id: "red/4-0".into(),
        },
        Note::Status {
            status: Connection::Live,
        },
    ];
    for note in notes {
        assert_eq!(Note::decode(&note.encode()), Some(note));
    }
    assert_eq!(Note::decode("{\"nonsense\":{}}"), None);
    assert_eq!(
        interest(&[("red", Some(4)), ("blue", None)], &["red"]).merge(interest(
            &[("red", Some(2)), ("green", Some(1))],
            &["green"]
        )),
        interest(
            &[("red", Some(2)), ("blue", None), ("green", Some(1))],
            &["red", "green"]
        )
    );
}
