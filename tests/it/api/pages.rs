//! The pages the server renders: a room's history escaped, its parts for whoever looks,
//! and 404 for the rest.

use crate::helpers::{BrokerKind, presence_until, spawn_app};
use reqwest::StatusCode;

contract!(
    pages_render_history_escaped_and_unknown_pages_are_404,
    a_room_page_renders_its_parts_for_whoever_looks,
);

async fn pages_render_history_escaped_and_unknown_pages_are_404(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    app.say(&ann, "lounge", "<script>alert(1)</script> & co")
        .await;

    let (status, html) = app.get("/r/lounge").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; co"),
        "{html}"
    );
    assert!(
        !html.contains("<script>alert(1)"),
        "the text must be escaped"
    );
    // The rows are in the page's log. (The browser makes the log a live region,
    // `role="log"`, once its own rows have replaced these.)
    let log = &html[html
        .find(r#"class="message-log""#)
        .expect("the message log")..];
    assert!(
        log.contains(r#"<li class="message first" data-id=""#),
        "{log}"
    );

    for path in ["/nowhere", "/r/Not%20A%20Room"] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

/// The parts the server renders after their data (who you are, who is here: on Redis
/// neither is ready at once), signed in and signed out. A part rendered where it cannot
/// find its context fails the whole page (an empty answer), as it once did on Redis only.
async fn a_room_page_renders_its_parts_for_whoever_looks(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let _here = app.listen(&ann, "lounge").await;
    presence_until(&app.base, "lounge", |p| p["count"] == 1).await;

    let response = ann.get(app.url("/r/lounge")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mine = response.text().await.unwrap();
    for (part, html) in [
        ("who you are", r#"aria-label="Signed in as ann. Account""#),
        (
            "the composer",
            r#"<form method="post" action="/sf/post" class="composer">"#,
        ),
        (
            "who is here, in the header",
            r#"<span class="members-count">1"#,
        ),
        (
            "who is here, in the list",
            r#"<span class="member-name">ann"#,
        ),
    ] {
        assert!(mine.contains(html), "signed in, {part}: {mine}");
    }
    assert!(!mine.contains(r#"class="composer signed-out""#), "{mine}");

    let (status, theirs) = app.get("/r/lounge").await;
    assert_eq!(status, StatusCode::OK);
    for (part, html) in [
        (
            "the form to pick a name",
            r#"<form method="post" action="/sf/sign_in" class="sign-in">"#,
        ),
        (
            "who is here, in the list",
            r#"<span class="member-name">ann"#,
        ),
    ] {
        assert!(theirs.contains(html), "signed out, {part}: {theirs}");
    }
    for html in ["Signed in as", r#"action="/sf/post""#] {
        assert!(!theirs.contains(html), "signed out, {html}: {theirs}");
    }
}
