//! Every bad input gets the error `docs/API.md` documents for it, and stores nothing.

use crate::helpers::{BrokerKind, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

contract!(every_bad_input_gets_its_documented_error_and_stores_nothing);

async fn every_bad_input_gets_its_documented_error_and_stores_nothing(kind: BrokerKind) {
    let app = spawn_app(kind).await;
    let ann = app.signed_in("ann").await;
    let anonymous = app.client();
    let messages = app.url("/api/rooms/everyone/messages");
    let json_body = |v: Value| v.to_string();
    let big = "x".repeat(17 * 1024);

    struct Case<'a> {
        what: &'a str,
        client: &'a reqwest::Client,
        method: reqwest::Method,
        url: String,
        content_type: Option<&'a str>,
        body: Option<String>,
        status: StatusCode,
        code: &'a str,
    }
    let post = |what, client, url: &str, body: Option<String>, status, code| Case {
        what,
        client,
        method: reqwest::Method::POST,
        url: url.to_owned(),
        content_type: Some("application/json"),
        body,
        status,
        code,
    };
    let get = |what, url: String, status, code| Case {
        what,
        client: &anonymous,
        method: reqwest::Method::GET,
        url,
        content_type: None,
        body: None,
        status,
        code,
    };
    let session = app.url("/api/session");
    let cases = [
        post(
            "empty name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "   "}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "long name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "x".repeat(25)}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "markup in name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "<script>"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "control char in name",
            &anonymous,
            &session,
            Some(json_body(json!({"name": "a\u{7}b"}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_name",
        ),
        post(
            "name not a string",
            &anonymous,
            &session,
            Some(json_body(json!({"name": 5}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "no session",
            &anonymous,
            &messages,
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        ),
        post(
            "empty text",
            &ann,
            &messages,
            Some(json_body(json!({"text": " \n "}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "long text",
            &ann,
            &messages,
            Some(json_body(json!({"text": "é".repeat(2001)}))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "text padded past 2000 characters as sent",
            &ann,
            &messages,
            Some(json_body(
                json!({"text": format!("hi{}", " ".repeat(1999))}),
            )),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message",
        ),
        post(
            "missing text",
            &ann,
            &messages,
            Some(json_body(json!({}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "not json",
            &ann,
            &messages,
            Some("{text".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "json array",
            &ann,
            &messages,
            Some("[]".into()),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "over 16 KiB",
            &ann,
            &messages,
            Some(json_body(json!({"text": big}))),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        post(
            "long client_id",
            &ann,
            &messages,
            Some(json_body(
                json!({"text": "hi", "client_id": "c".repeat(65)}),
            )),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "empty client_id",
            &ann,
            &messages,
            Some(json_body(json!({"text": "hi", "client_id": ""}))),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        post(
            "bad room",
            &ann,
            &app.url("/api/rooms/No%20Way/messages"),
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        post(
            "long room",
            &ann,
            &app.url(&format!("/api/rooms/{}/messages", "r".repeat(33))),
            Some(json_body(json!({"text": "hi"}))),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        Case {
            content_type: Some("text/plain"),
            ..post(
                "wrong content type",
                &ann,
                &messages,
                Some(json_body(json!({"text": "hi"}))),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
        },
        Case {
            content_type: None,
            ..post(
                "no content type",
                &ann,
                &messages,
                Some(json_body(json!({"text": "hi"}))),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
            )
        },
        get(
            "limit 0",
            app.url("/api/rooms/everyone/messages?limit=0"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "limit 201",
            app.url("/api/rooms/everyone/messages?limit=201"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "limit text",
            app.url("/api/rooms/everyone/messages?limit=ten"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "bad before",
            app.url("/api/rooms/everyone/messages?before=yesterday"),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        get(
            "bad room history",
            app.url("/api/rooms/UPPER/messages"),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        get(
            "bad room events",
            app.url("/api/rooms/-x/events"),
            StatusCode::BAD_REQUEST,
            "invalid_room",
        ),
        Case {
            method: reqwest::Method::PUT,
            ..get(
                "wrong method",
                app.url("/api/rooms"),
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
            )
        },
        get(
            "unknown route",
            app.url("/api/nothing"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];

    for case in cases {
        let mut request = case.client.request(case.method.clone(), &case.url);
        if let Some(content_type) = case.content_type {
            request = request.header("content-type", content_type);
        }
        if let Some(body) = case.body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), case.status, "{}", case.what);
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", case.what));
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.what);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}",
            case.what
        );
    }

    let tampered = app.client();
    let response = tampered
        .post(&messages)
        .header("cookie", "chat_session=forged")
        .json(&json!({"text": "hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    assert!(
        app.history("everyone", "").await.is_empty(),
        "nothing was stored"
    );
}
