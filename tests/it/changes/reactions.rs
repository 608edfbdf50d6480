//! Reactions: seen live and in history, counted once per person, one emoji each, at
//! most twenty distinct emoji on a message.

use super::{
    PLAIN_KEYS, QUIET, expect_change, expect_error, expect_ok, expect_update, keys, raw,
    raw_history, react, unreact,
};
use crate::helpers::{BrokerKind, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

contract!(
    reactions_are_seen_live_and_in_history_and_count_once,
    a_reaction_is_one_emoji_with_or_without_its_variation_selector,
    a_message_holds_at_most_twenty_distinct_emoji,
);

async fn reactions_are_seen_live_and_in_history_and_count_once(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "reactions";
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let mut events = app.events(room, None).await;
    let sent = app.say(&alice, room, "react to me").await;
    assert_eq!(events.next().await.message(), sent);
    let mut last = sent.id;
    let with = |reactions: Value| {
        let mut message = raw(&sent);
        message["reactions"] = reactions;
        message
    };

    // Alice reacts to her own message, twice: it counts once, and is sent once.
    let first = expect_ok(react(&app, &alice, room, sent.id, "👍").await, "alice 👍").await;
    assert_eq!(first, with(json!([{ "emoji": "👍", "names": ["alice"] }])));
    let twice = expect_ok(
        react(&app, &alice, room, sent.id, "👍").await,
        "alice 👍 again",
    )
    .await;
    assert_eq!(twice, first, "reacting twice counts once");
    expect_update(&mut events, &mut last, &first).await;
    events.assert_quiet(QUIET).await;

    // Anyone signed in reacts to anyone's message; names in the order they reacted.
    let both = expect_ok(react(&app, &bob, room, sent.id, "👍").await, "bob 👍").await;
    assert_eq!(
        both,
        with(json!([{ "emoji": "👍", "names": ["alice", "bob"] }]))
    );
    // One update per change, and no second one for the repeat.
    expect_update(&mut events, &mut last, &both).await;
    assert_eq!(raw_history(&app, room, "").await, json!([both]));

    // Emoji in the order first used.
    let party = expect_ok(react(&app, &alice, room, sent.id, "🎉").await, "alice 🎉").await;
    assert_eq!(
        party,
        with(json!([
            { "emoji": "👍", "names": ["alice", "bob"] },
            { "emoji": "🎉", "names": ["alice"] },
        ]))
    );
    expect_update(&mut events, &mut last, &party).await;

    let without_alice = expect_ok(
        unreact(&app, &alice, room, sent.id, "👍").await,
        "alice -👍",
    )
    .await;
    assert_eq!(
        without_alice,
        with(json!([
            { "emoji": "👍", "names": ["bob"] },
            { "emoji": "🎉", "names": ["alice"] },
        ]))
    );
    expect_update(&mut events, &mut last, &without_alice).await;

    // Removing a reaction you don't have changes nothing and sends nothing.
    let again = expect_ok(
        unreact(&app, &alice, room, sent.id, "👍").await,
        "alice -👍 again",
    )
    .await;
    assert_eq!(again, without_alice);
    let never = expect_ok(unreact(&app, &bob, room, sent.id, "😮").await, "bob -😮").await;
    assert_eq!(never, without_alice);
    events.assert_quiet(QUIET).await;
    assert_eq!(raw_history(&app, room, "").await, json!([without_alice]));

    // An emoji with nobody left is gone; with none left, so is the key.
    let only_party = expect_ok(unreact(&app, &bob, room, sent.id, "👍").await, "bob -👍").await;
    assert_eq!(
        only_party,
        with(json!([{ "emoji": "🎉", "names": ["alice"] }]))
    );
    expect_update(&mut events, &mut last, &only_party).await;
    let plain = expect_ok(
        unreact(&app, &alice, room, sent.id, "🎉").await,
        "alice -🎉",
    )
    .await;
    assert_eq!(plain, raw(&sent), "no reactions: the plain message again");
    assert_eq!(keys(&plain), PLAIN_KEYS);
    expect_update(&mut events, &mut last, &plain).await;
    assert_eq!(raw_history(&app, room, "").await, json!([plain]));
    events.assert_quiet(QUIET).await;
}

async fn a_reaction_is_one_emoji_with_or_without_its_variation_selector(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "hearts";
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let sent = app.say(&alice, room, "love it").await;

    // One emoji may be several code points: a skin tone, a ZWJ sequence, a flag.
    for emoji in ["👍🏽", "👨‍👩‍👧", "🇫🇷"] {
        let message = expect_ok(react(&app, &bob, room, sent.id, emoji).await, emoji).await;
        assert!(
            message["reactions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["emoji"] == emoji),
            "{emoji}: {message}"
        );
        expect_ok(unreact(&app, &bob, room, sent.id, emoji).await, emoji).await;
    }

    // `❤` and `❤️` are one reaction, whichever way each person sends it.
    expect_ok(
        react(&app, &alice, room, sent.id, "\u{2764}").await,
        "alice ❤",
    )
    .await;
    // Opened before bob's ❤️, the stream may still hear the changes before it; once it has
    // heard bob's, it has heard them all (one node hears its publishes in order).
    let mut events = app.events(room, None).await;
    let both = expect_ok(
        react(&app, &bob, room, sent.id, "\u{2764}\u{fe0f}").await,
        "bob ❤️",
    )
    .await;
    while events.next_named("update").await.json() != both {}
    let reactions = both["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 1, "one reaction: {both}");
    assert_eq!(
        reactions[0]["emoji"]
            .as_str()
            .unwrap()
            .trim_end_matches('\u{fe0f}'),
        "\u{2764}",
        "{both}"
    );
    assert_eq!(reactions[0]["names"], json!(["alice", "bob"]));
    let same = expect_ok(
        react(&app, &alice, room, sent.id, "\u{2764}\u{fe0f}").await,
        "alice ❤️",
    )
    .await;
    assert_eq!(same, both, "alice already reacted with ❤");
    events.assert_quiet(QUIET).await;

    let only_alice = expect_ok(
        unreact(&app, &bob, room, sent.id, "\u{2764}").await,
        "bob -❤",
    )
    .await;
    assert_eq!(
        only_alice["reactions"][0]["names"],
        json!(["alice"]),
        "{only_alice}"
    );
    let (_, live) = expect_change(&mut events, "update", sent.id).await;
    assert_eq!(live, only_alice);
}

async fn a_message_holds_at_most_twenty_distinct_emoji(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let room = "many-emoji";
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let sent = app.say(&alice, room, "pick one").await;
    let twenty = [
        "😀", "😃", "😄", "😁", "😆", "😅", "😂", "🤣", "😊", "😇", "🙂", "🙃", "😉", "😌", "😍",
        "🥰", "😘", "😗", "😙", "😚",
    ];
    let mut full = Value::Null;
    for emoji in twenty {
        full = expect_ok(react(&app, &alice, room, sent.id, emoji).await, emoji).await;
    }
    let emoji_of = |message: &Value| -> Vec<String> {
        message["reactions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["emoji"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(emoji_of(&full), twenty);

    for client in [&alice, &bob] {
        expect_error(
            react(&app, client, room, sent.id, "😋").await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_reaction",
            "the 21st distinct emoji",
        )
        .await;
    }
    assert_eq!(
        raw_history(&app, room, "").await,
        json!([full]),
        "nothing changed"
    );
    // One of the twenty is still fine, by anyone.
    let more = expect_ok(react(&app, &bob, room, sent.id, "😀").await, "bob 😀").await;
    assert_eq!(more["reactions"][0]["names"], json!(["alice", "bob"]));
    // With one emoji gone entirely, there is room again.
    expect_ok(
        unreact(&app, &alice, room, sent.id, "😚").await,
        "alice -😚",
    )
    .await;
    let room_again = expect_ok(react(&app, &bob, room, sent.id, "😋").await, "bob 😋").await;
    assert_eq!(emoji_of(&room_again).len(), 20);
    assert_eq!(emoji_of(&room_again).last().map(String::as_str), Some("😋"));
}
