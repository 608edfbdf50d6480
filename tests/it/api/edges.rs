//! What an attack on the running server found at the edge (issue 23): answers about one
//! person are never cached, a name other than ours is not answered, paths that are not
//! UTF-8 and reactions that are not emoji are refused as what they should have been.

use crate::helpers::{BrokerKind, error_code, spawn_app, spawn_app_with};
use reqwest::StatusCode;

contract!(
    api_answers_are_never_stored_by_a_cache,
    a_host_name_the_server_does_not_answer_for_gets_421,
    a_path_that_is_not_utf8_is_refused_as_what_it_should_have_been,
    a_digit_or_hash_or_star_is_not_a_reaction,
    a_refusal_carried_in_the_url_is_said_in_our_words,
    a_room_of_mentions_and_links_makes_a_page_of_bounded_size,
    a_repeat_answers_with_the_first_message_as_stored_and_never_a_deleted_text,
    a_stream_live_from_now_carries_nothing_answered_before_it_opened,
    past_the_buffers_budget_every_message_still_arrives_once_in_order,
);

async fn api_answers_are_never_stored_by_a_cache(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.signed_in("alice").await;
    for path in [
        "/api/session",
        "/api/rooms",
        "/api/rooms/everyone/messages",
        "/api/nope",
    ] {
        let response = alice.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response.headers()["cache-control"],
            "no-store",
            "{path}: {}",
            response.status()
        );
    }
    let stream = alice
        .get(app.url("/api/rooms/everyone/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["cache-control"],
        "no-cache",
        "as docs/API.md says"
    );
}

async fn a_host_name_the_server_does_not_answer_for_gets_421(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let as_host = |host: &'static str, path: &'static str| {
        app.client().get(app.url(path)).header("host", host).send()
    };
    // A page of another site whose name was made to point here (DNS rebinding).
    for path in ["/", "/api/rooms", "/r/everyone"] {
        let rebound = as_host("evil.example", path).await.unwrap();
        assert_eq!(rebound.status(), StatusCode::MISDIRECTED_REQUEST, "{path}");
        assert_eq!(error_code(rebound).await, "bad_request");
    }
    for host in ["localhost", "localhost:3000", "127.0.0.1"] {
        let ours = as_host(host, "/api/rooms").await.unwrap();
        assert_eq!(ours.status(), StatusCode::OK, "{host}");
    }

    let public = spawn_app_with(kind, |c| {
        c.public_url = Some("https://chat.example.com".parse().unwrap());
    })
    .await;
    let named = public
        .client()
        .get(public.url("/api/rooms"))
        .header("host", "chat.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(named.status(), StatusCode::OK);
    let other = public
        .client()
        .get(public.url("/api/rooms"))
        .header("host", "chat.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::MISDIRECTED_REQUEST);
}

async fn a_path_that_is_not_utf8_is_refused_as_what_it_should_have_been(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.signed_in("alice").await;
    let message = app.say(&alice, "everyone", "react to me").await;
    let id = message.id;
    let reaction = alice
        .put(app.url(&format!("/api/rooms/everyone/messages/{id}/reactions/%FF")))
        .send()
        .await
        .unwrap();
    assert_eq!(reaction.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_code(reaction).await, "invalid_reaction");
    for request in [
        alice.patch(app.url(&format!("/api/rooms/%FF/messages/{id}"))),
        alice.get(app.url("/api/rooms/%FF/messages")),
        alice.put(app.url(&format!(
            "/api/rooms/%FF/messages/{id}/reactions/%F0%9F%91%8D"
        ))),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_code(response).await, "invalid_room");
    }
}

async fn a_digit_or_hash_or_star_is_not_a_reaction(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let alice = app.signed_in("alice").await;
    let id = app.say(&alice, "everyone", "react to me").await.id;
    for emoji in ["0", "7", "%23", "*"] {
        let response = alice
            .put(app.url(&format!(
                "/api/rooms/everyone/messages/{id}/reactions/{emoji}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{emoji}"
        );
        assert_eq!(error_code(response).await, "invalid_reaction");
    }
    assert!(app.history("everyone", "").await[0].reactions.is_empty());
}

async fn a_refusal_carried_in_the_url_is_said_in_our_words(kind: BrokerKind) {
    use base64::{Engine, engine::general_purpose::URL_SAFE};
    let app = spawn_app(kind).await;
    // A link anyone could write: a "refusal" of the no-JS sign-in, with words of its own.
    let forged = r#"ServerError|{"code":"name_taken","message":"Your account is locked: call +1 555 0100","value":"mason"}"#;
    let path = format!(
        "/?__path=/sf/sign_in&__err={}",
        URL_SAFE.encode(forged.as_bytes())
    );
    let (status, page) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !page.contains("call +1 555"),
        "the link's words are not shown"
    );
    assert!(
        page.contains("That name is taken by someone who is signed in; pick another"),
        "the refusal is said in the chat's own words"
    );
}

async fn a_room_of_mentions_and_links_makes_a_page_of_bounded_size(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.post_rate = 0.0).await;
    let alice = app.signed_in("alice").await;
    // The attack's page: 50 messages of `@a @a …` made it 1.18 MB.
    let mentions = "@a ".repeat(666);
    let links = "https://a.example ".repeat(111);
    for i in 0..50 {
        let text = if i % 2 == 0 { &mentions } else { &links };
        app.say(&alice, "flood", text.trim_end()).await;
    }
    let (status, page) = app.get("/r/flood").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.len() < 400_000,
        "a page of 50 such messages is {} bytes",
        page.len()
    );
    assert_eq!(page.matches("class=\"mention\"").count(), 25 * 20);
}

async fn a_repeat_answers_with_the_first_message_as_stored_and_never_a_deleted_text(
    kind: BrokerKind,
) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let url = app.url("/api/rooms/everyone/messages");
    let post = |text: &'static str| {
        ann.post(&url)
            .json(&serde_json::json!({ "text": text, "client_id": "c-1" }))
            .send()
    };
    let first = post("the first text").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: tiny_chat::message::ChatMessage = first.json().await.unwrap();

    // Another text under the same key: the answer is the first message, as stored.
    let again = post("different text, same id").await.unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: tiny_chat::message::ChatMessage = again.json().await.unwrap();
    assert_eq!(again, first);

    // Once deleted, a repeat neither posts again nor gives the text back.
    let deleted = ann
        .delete(app.url(&format!("/api/rooms/everyone/messages/{}", first.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after = post("the first text").await.unwrap();
    assert_eq!(after.status(), StatusCode::NOT_FOUND);
    let body = after.text().await.unwrap();
    assert!(!body.contains("the first text"), "{body}");
    assert!(app.history("everyone", "").await.is_empty());
}

async fn a_stream_live_from_now_carries_nothing_answered_before_it_opened(kind: BrokerKind) {
    let app = spawn_app_with(kind, |c| c.post_rate = 0.0).await;
    let (ann, bob) = (app.signed_in("ann").await, app.signed_in("bob").await);
    // Bob keeps the node's delivery busy elsewhere, so that a message answered `201`
    // may still be on its way to this node's listeners when the stream opens.
    let flood: Vec<_> = (0..30)
        .map(|n| {
            let (url, bob) = (app.url("/api/rooms/flood/messages"), bob.clone());
            tokio::spawn(async move {
                for i in 0..100 {
                    let text = format!("flood {n}.{i} {}", "x".repeat(1500));
                    let body = serde_json::json!({ "text": text });
                    let _ = bob.post(&url).json(&body).send().await;
                }
            })
        })
        .collect();
    let mut carried = Vec::new();
    // On today's main, Redis: one stream in about 40 carried the message before it.
    for i in 0..80 {
        let said = app
            .say(&ann, "quiet", &format!("before the stream {i}"))
            .await;
        let mut stream = app.events("quiet", None).await;
        if let Some(event) = stream
            .next_within(std::time::Duration::from_millis(150))
            .await
        {
            carried.push((said.id, event));
        }
    }
    flood.iter().for_each(|task| task.abort());
    assert!(
        carried.is_empty(),
        "live from now, yet it carried {carried:?}"
    );
}

async fn past_the_buffers_budget_every_message_still_arrives_once_in_order(kind: BrokerKind) {
    // 1 MiB over all rooms: an eighth of it, 128 KiB, for this room's buffer, which
    // the messages below pass about twice over before the stream reads any of them.
    let app = spawn_app_with(kind, |c| {
        c.subscriber_buffer_mb = 1;
        c.post_rate = 0.0;
    })
    .await;
    let ann = app.signed_in("ann").await;
    let first = app.say(&ann, "big", "the first").await;
    let mut stream = app.events("big", Some(&first.id.to_string())).await;
    let mut said = Vec::new();
    for i in 0..120 {
        let text = format!("{i:03} {}", "y".repeat(1990));
        said.push(app.say(&ann, "big", &text).await);
    }
    let got = stream.messages(said.len()).await;
    assert_eq!(got, said, "every message once, in order");
    stream
        .assert_quiet(std::time::Duration::from_millis(300))
        .await;
}
