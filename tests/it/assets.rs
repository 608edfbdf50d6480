//! What a browser is sent: `/pkg/` files precompressed by `Accept-Encoding` and cached by
//! hashed name; pages revalidated every time; event streams never compressed.

use crate::helpers::{BrokerKind, open_stream, spawn_app};
use axum::{
    body::{Body, to_bytes},
    http::{Request, StatusCode, header},
};
use leptos::prelude::LeptosOptions;
use std::path::PathBuf;
use tiny_chat::server::http::assets;
use tower::ServiceExt;

/// A site root of its own, with one file in `pkg/` and its brotli and gzip copies (their
/// content only says which is which: the server does not decode them).
fn site() -> PathBuf {
    let root = std::env::temp_dir().join(format!("tiny-chat-assets-{}", uuid::Uuid::new_v4()));
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    std::fs::write(pkg.join("tiny-chat.abc123.wasm"), b"identity").unwrap();
    std::fs::write(pkg.join("tiny-chat.abc123.wasm.br"), b"brotli").unwrap();
    std::fs::write(pkg.join("tiny-chat.abc123.wasm.gz"), b"gzip").unwrap();
    root
}

fn options(root: &std::path::Path, hashed: bool) -> LeptosOptions {
    let mut options = LeptosOptions::builder()
        .output_name("tiny-chat")
        .site_root(root.to_str().unwrap())
        .build();
    options.hash_files = hashed;
    options
}

/// `GET /{path}` from the `/pkg/` service, as a browser accepting `accept`.
async fn get(
    options: &LeptosOptions,
    path: &str,
    accept: Option<&str>,
) -> (StatusCode, Vec<(String, String)>, String) {
    let mut request = Request::get(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT_ENCODING, accept);
    }
    let response = assets::pkg(options)
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn a_file_is_sent_in_the_encoding_the_browser_accepts_and_as_it_is_otherwise() {
    let root = site();
    let options = options(&root, true);
    let file = "/tiny-chat.abc123.wasm";
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), "brotli"),
        (Some("gzip"), Some("gzip"), "gzip"),
        (Some("identity"), None, "identity"),
        (None, None, "identity"),
    ] {
        let (status, headers, text) = get(&options, file, accept).await;
        assert_eq!(status, StatusCode::OK, "{accept:?}");
        assert_eq!(header(&headers, "content-encoding"), encoding, "{accept:?}");
        assert_eq!(text, body, "{accept:?}");
        assert_eq!(
            header(&headers, "content-length"),
            Some(body.len().to_string().as_str()),
            "{accept:?}"
        );
        assert_eq!(
            header(&headers, "content-type"),
            Some("application/wasm"),
            "{accept:?}"
        );
    }
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn hashed_files_are_immutable_unhashed_ones_revalidated_and_misses_not_cached() {
    let root = site();
    let file = "/tiny-chat.abc123.wasm";
    let (_, headers, _) = get(&options(&root, true), file, Some("br")).await;
    assert_eq!(
        header(&headers, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        header(&headers, "vary")
            .is_some_and(|v| v.to_ascii_lowercase().contains("accept-encoding")),
        "a cache keeps one copy per encoding: {headers:?}"
    );
    let (_, headers, _) = get(&options(&root, false), file, Some("br")).await;
    assert_eq!(header(&headers, "cache-control"), Some("no-cache"));
    let (status, headers, _) = get(&options(&root, true), "/tiny-chat.old.wasm", Some("br")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(header(&headers, "cache-control"), None);
    std::fs::remove_dir_all(root).unwrap();
}

#[tokio::test]
async fn an_event_stream_is_never_compressed_and_pages_are_revalidated() {
    let app = spawn_app(BrokerKind::Memory).await;
    for path in ["/api/rooms/everyone/events", "/api/events?rooms=everyone"] {
        let client = reqwest::Client::new();
        let response = client
            .get(app.url(path))
            .header("accept", "text/event-stream")
            .header("accept-encoding", "gzip, deflate, br, zstd")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers().get("content-encoding"), None, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "{path}"
        );
    }
    let stream = open_stream(&app.base, &app.client(), "/api/rooms/everyone/events", None).await;
    assert_eq!(stream.headers().get("content-encoding"), None);

    let page = app
        .client()
        .get(app.url("/r/everyone"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "private, no-cache");
}
