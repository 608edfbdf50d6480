use super::*;
use crate::message::{Reaction, RoomName, SessionInfo};

fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).unwrap()
}

/// A session that has held `raw` since `since` (ms).
fn holding(raw: &str, since: u64) -> SessionInfo {
    SessionInfo {
        name: name(raw),
        since: crate::message::rfc3339_millis(since),
    }
}

/// The first row of `messages` as `viewer` (holding its name all along) sees it.
fn both_ways(viewer: Option<&str>, messages: Vec<ChatMessage>) -> (String, String) {
    both_ways_held(viewer.map(|viewer| holding(viewer, 0)), messages)
}

/// The first row of `messages` as `viewer` sees it: rendered through `MessageRow`
/// before hydration, without Leptos's `<!>` markers, and as `page_html` writes it.
fn both_ways_held(viewer: Option<SessionInfo>, messages: Vec<ChatMessage>) -> (String, String) {
    let owner = Owner::new();
    owner.with(|| {
        let feed = Feed::new(messages[0].room.clone());
        feed.add(messages);
        provide_context(feed);
        let all_rows = feed.messages.with_untracked(rows);
        let mut written = String::new();
        feed.messages.with_untracked(|all| {
            let first = all.values().next().unwrap();
            let first_of_group = all_rows[0].first_of_group;
            page_html::write_row(first, first_of_group, viewer.as_ref(), &mut written);
        });
        let row = all_rows[0].clone();
        let since = viewer.as_ref().map(|viewer| viewer.since.clone());
        let me = Memo::new(move |_| viewer.clone().map(|viewer| viewer.name));
        let since = Memo::new(move |_| since.clone());
        let hydrated = signal(false).0;
        let rendered = view! { <MessageRow row me since hydrated /> }
            .to_html()
            .replace("<!>", "");
        (rendered, written)
    })
}

/// `html` with each tag's attributes in a fixed order and its classes single-spaced:
/// Leptos writes `class` last, and a space for each class that is off.
fn normalized(html: &str) -> String {
    let mut out = String::new();
    for (i, piece) in html.split('<').enumerate() {
        if i == 0 {
            out.push_str(piece);
            continue;
        }
        let (tag, text) = piece.split_once('>').expect("a tag ends");
        let (name, mut rest) = tag.split_once(' ').unwrap_or((tag, ""));
        let mut attributes = Vec::new();
        while !rest.trim().is_empty() {
            rest = rest.trim_start();
            let end = rest.find([' ', '=']).unwrap_or(rest.len());
            let key = &rest[..end];
            if rest[end..].starts_with("=\"") {
                let value = &rest[end + 2..];
                let close = value.find('"').expect("a value ends");
                let mut value = value[..close].to_owned();
                if key == "class" {
                    value = value.split_whitespace().collect::<Vec<_>>().join(" ");
                }
                attributes.push(format!("{key}=\"{value}\""));
                rest = &rest[end + 2 + close + 1..];
            } else {
                attributes.push(key.to_owned());
                rest = &rest[end..];
            }
        }
        attributes.sort();
        out.push('<');
        out.push_str(&[vec![name.to_owned()], attributes].concat().join(" "));
        out.push('>');
        out.push_str(text);
    }
    out
}

fn message(ms: u64, sender: &str, text: &str) -> ChatMessage {
    ChatMessage::new(
        MessageId::new(ms, 0),
        RoomName::parse("dev").unwrap(),
        name(sender),
        text.into(),
    )
}

fn reaction(emoji: &str, names: &[&str]) -> Reaction {
    Reaction {
        emoji: emoji.into(),
        names: names.iter().map(|n| name(n)).collect(),
    }
}

#[test]
fn without_javascript_reactions_and_edits_show_and_nothing_offers_a_change() {
    let mut sent = message(1_732_400_000_000, "alice", "hi");
    sent.edited_at = Some("2026-11-23T22:01:00.000Z".into());
    sent.reactions = vec![reaction("👍", &["bob", "Alice"])];
    let (_, html) = both_ways(Some("alice"), vec![sent]);

    let button = &html[html.find("<button").expect("a reaction")..];
    let button = &button[..button.find("</button>").unwrap()];
    assert!(button.contains(r#"class="reaction mine""#), "{button}");
    assert!(button.contains(r#"aria-pressed="true""#), "{button}");
    assert!(button.contains(r#"title="bob, Alice""#), "{button}");
    assert!(button.contains(" disabled"), "{button}");
    assert!(button.contains("👍") && button.contains(">2<"), "{button}");
    let edited = &html[..html.find(">(edited)<").expect("marked edited")];
    let edited = &edited[edited.rfind("<span").unwrap()..];
    assert!(edited.contains(r#"class="edited""#), "{edited}");
    assert!(
        edited.contains(r#"title="2026-11-23T22:01:00.000Z""#),
        "{edited}"
    );
    for action in ["Edit message", "Delete message", "Add reaction"] {
        assert!(!html.contains(action), "{action} without JavaScript");
    }
}

/// A name's messages from before the viewer's holding of it began are an earlier
/// holder's: not shown as the viewer's, in either rendering.
#[test]
fn an_earlier_holders_messages_are_not_shown_as_mine() {
    let start = 1_732_400_000_000;
    let sent = || vec![message(start, "alice", "hi")];
    for (since, mine) in [(0, true), (start, true), (start + 1, false)] {
        let (rendered, written) = both_ways_held(Some(holding("Alice", since)), sent());
        for html in [&rendered, &written] {
            let row = &html[..html.find('>').unwrap()];
            assert_eq!(row.contains(" mine"), mine, "since {since}: {row}");
        }
    }
}

/// The rows the server writes are the rows the components render: the same elements,
/// text and attributes.
#[test]
fn the_written_rows_are_the_rendered_rows() {
    let start = 1_732_400_000_000;
    let mut edited = message(start, "alice", "**hi** <b>&amp;\"'</b> @bob");
    edited.edited_at = Some("2026-11-23T22:01:00.000Z\"<x>".into());
    edited.reactions = vec![
        reaction("👍", &["bob", "Alice"]),
        reaction("🎉", &["carol"]),
        reaction("<&\">", &["dave"]),
    ];
    let many: Vec<String> = (0..15).map(|i| format!("p{i}")).collect();
    let mut crowded = message(
        start,
        "Mary Ann",
        "> quote\n```\n<script>\n```\nsee https://a/\"x",
    );
    crowded.reactions = vec![reaction(
        "❤️",
        &many.iter().map(String::as_str).collect::<Vec<_>>(),
    )];
    let cases = [
        vec![edited.clone()],
        vec![crowded],
        vec![message(
            start,
            "bob",
            "hey @alice, [docs](https://x/?a=1&b=\"2\")",
        )],
        vec![message(start, "bob", "")],
        vec![message(start, "a.b-c_d", "`x < y` *it* _too_")],
    ];
    // Alice's later holding: the messages of `start` are an earlier holder's.
    for viewer in [
        None,
        Some(("alice", 0)),
        Some(("ALICE", 0)),
        Some(("bob", 0)),
        Some(("mary ann", 0)),
        Some(("p3", 0)),
        Some(("alice", start + 1)),
    ] {
        for messages in &cases {
            let held = viewer.map(|(viewer, since)| holding(viewer, since));
            let (rendered, written) = both_ways_held(held, messages.clone());
            assert_eq!(
                normalized(&written),
                normalized(&rendered),
                "viewer {viewer:?}, {:?}",
                messages[0].text
            );
        }
    }
    // A row that follows its sender's last one has no header.
    let follows = vec![
        message(start, "bob", "one"),
        message(start + 1, "bob", "two"),
    ];
    let owner = Owner::new();
    owner.with(|| {
        let feed = Feed::new(follows[0].room.clone());
        feed.add(follows);
        provide_context(feed);
        let all_rows = feed.messages.with_untracked(rows);
        assert!(!all_rows[1].first_of_group);
        let written = feed
            .messages
            .with_untracked(|all| page_html::rows_html(all, None));
        let written = &written[written.find("</li>").unwrap() + 5..];
        let row = all_rows[1].clone();
        let me = Memo::new(|_| None);
        let since = Memo::new(|_| None);
        let hydrated = signal(false).0;
        let rendered = view! { <MessageRow row me since hydrated /> }
            .to_html()
            .replace("<!>", "");
        assert_eq!(normalized(written), normalized(&rendered));
        assert!(!written.contains("class=\"meta\""), "{written}");
    });
}
