//! Reading a server-sent event stream as a browser's `EventSource` does.

use super::PROMPTLY;
use futures::StreamExt;
use reqwest::Response;
use serde_json::Value;
use std::time::Duration;
use tiny_chat::message::ChatMessage;

/// One parsed SSE event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub event: Option<String>,
    pub id: Option<String>,
    pub data: String,
}

impl Event {
    pub fn message(&self) -> ChatMessage {
        assert_eq!(self.event, None, "expected a message event, got {self:?}");
        let message: ChatMessage = serde_json::from_str(&self.data).unwrap();
        assert_eq!(self.id.as_deref(), Some(message.id.to_string().as_str()));
        message
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }

    /// The event's name; `message` when it has no `event:` line.
    pub fn name(&self) -> &str {
        self.event.as_deref().unwrap_or("message")
    }

    /// Whether this is one of the events about who is in a room.
    pub fn is_awareness(&self) -> bool {
        AWARENESS_EVENTS.contains(&self.name())
    }

    /// A message of `GET /api/events`: its id is `<room>/<message id>`.
    pub fn room_message(&self) -> ChatMessage {
        assert_eq!(self.event, None, "expected a message event, got {self:?}");
        let message: ChatMessage = serde_json::from_str(&self.data).unwrap();
        assert_eq!(
            self.id.as_deref(),
            Some(format!("{}/{}", message.room, message.id).as_str()),
            "the id of {self:?}"
        );
        message
    }
}

/// The events about presence and typing, which streams carry besides the room's log.
pub const AWARENESS_EVENTS: [&str; 4] = ["presence", "join", "leave", "typing"];

/// Reads an SSE response event by event; also records comments and `retry:` lines.
///
/// Made with [`EventReader::new`], it sets the awareness events (`presence`, `join`,
/// `leave`, `typing`) aside in `awareness` and yields the rest, so that suites about
/// messages read messages; [`EventReader::with_awareness`] yields every event.
pub struct EventReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
    pub headers: reqwest::header::HeaderMap,
    pub comments: Vec<String>,
    pub retry: Option<String>,
    /// The awareness events set aside, when they are not yielded.
    pub awareness: Vec<Event>,
    keep_awareness: bool,
}

impl EventReader {
    /// A reader that sets awareness events aside.
    pub fn new(response: Response) -> Self {
        Self {
            headers: response.headers().clone(),
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
            comments: Vec::new(),
            retry: None,
            awareness: Vec::new(),
            keep_awareness: false,
        }
    }

    /// A reader that yields every event, awareness events included.
    pub fn with_awareness(response: Response) -> Self {
        Self {
            keep_awareness: true,
            ..Self::new(response)
        }
    }

    /// The next event named `name`; fails the test if another event or none comes
    /// promptly.
    pub async fn next_named(&mut self, name: &str) -> Event {
        let event = self
            .next_within(PROMPTLY)
            .await
            .unwrap_or_else(|| panic!("expected event: {name} within {PROMPTLY:?}, got none"));
        assert_eq!(event.name(), name, "expected event: {name}, got {event:?}");
        event
    }

    /// Reads events for `wait` and returns them all (the stream may end sooner).
    pub async fn drain(&mut self, wait: Duration) -> Vec<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = Vec::new();
        while let Some(event) = self
            .next_within(deadline.saturating_duration_since(tokio::time::Instant::now()))
            .await
        {
            events.push(event);
        }
        events
    }

    /// The next event, or `None` if the stream ends or nothing comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match self.parse_block(&block) {
                    Some(event) if !self.keep_awareness && event.is_awareness() => {
                        self.awareness.push(event);
                    }
                    Some(event) => return Some(event),
                    None => {}
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            // A connection cut mid-chunk (a killed node) ends the stream, as in a browser.
            self.buffer
                .push_str(std::str::from_utf8(&chunk.ok()?).unwrap());
        }
    }

    /// The next event; fails the test if none comes promptly.
    pub async fn next(&mut self) -> Event {
        self.next_within(PROMPTLY)
            .await
            .expect("an event arrives promptly")
    }

    /// The next `n` message events.
    pub async fn messages(&mut self, n: usize) -> Vec<ChatMessage> {
        let mut messages = Vec::with_capacity(n);
        while messages.len() < n {
            let Some(event) = self.next_within(PROMPTLY).await else {
                let texts: Vec<&str> = messages
                    .iter()
                    .map(|m: &ChatMessage| m.text.as_str())
                    .collect();
                panic!(
                    "{} of {n} messages came, then none (or the stream ended): {texts:?}",
                    messages.len()
                );
            };
            messages.push(event.message());
        }
        messages
    }

    /// Asserts that the server ends the stream within `wait`; what it sends until then is
    /// dropped.
    pub async fn expect_end(&mut self, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => panic!("the stream did not end within {wait:?}"),
                Ok(None | Some(Err(_))) => return,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    /// Asserts that no event comes within `wait`.
    pub async fn assert_quiet(&mut self, wait: Duration) {
        if let Some(event) = self.next_within(wait).await {
            panic!("expected no event, got {event:?}");
        }
    }

    fn parse_block(&mut self, block: &str) -> Option<Event> {
        let (mut event, mut id, mut data) = (None, None, Vec::new());
        for line in block.lines() {
            if let Some(comment) = line.strip_prefix(':') {
                self.comments.push(comment.trim().to_owned());
            } else if let Some(value) = line.strip_prefix("retry: ") {
                self.retry = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("event: ") {
                event = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("id: ") {
                id = Some(value.to_owned());
            } else if let Some(value) = line.strip_prefix("data: ") {
                data.push(value);
            }
        }
        (!data.is_empty()).then(|| Event {
            event,
            id,
            data: data.join("\n"),
        })
    }
}
