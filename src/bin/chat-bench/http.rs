//! Minimal HTTP/1.1 clients over hyper: one connection each, no pooling, so that 10,000
//! listeners cost the bench as little as possible.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use std::{
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// Opens a connection to `server`, from `source` if given (to spread many client
/// sockets over several loopback addresses).
pub async fn connect(
    server: SocketAddr,
    source: Option<IpAddr>,
) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(server).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Signs `name` in on a keep-alive connection and returns its `chat_session=<token>`
/// cookie pair.
pub async fn sign_in(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    name: &str,
) -> anyhow::Result<String> {
    let request = Request::post("/api/session")
        .header("host", host)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(format!(r#"{{"name":"{name}"}}"#))))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    if response.status() != StatusCode::OK {
        bail!("sign-in as {name} answered {}", response.status());
    }
    let cookie = response
        .headers()
        .get("set-cookie")
        .context("no session cookie")?
        .to_str()?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    response.into_body().collect().await?;
    Ok(cookie)
}

/// Signs every one of `names` in, `parallel` at a time (each on its own keep-alive
/// connection), and returns their cookies in the same order.
pub async fn sign_in_all(
    server: SocketAddr,
    names: Vec<String>,
    parallel: usize,
) -> anyhow::Result<Vec<String>> {
    let names = Arc::new(names);
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..parallel.clamp(1, names.len().max(1)) {
        let (names, next) = (names.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut sender = connect(server, None).await?;
            let host = server.to_string();
            let mut cookies = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(name) = names.get(i) else { break };
                cookies.push((i, sign_in(&mut sender, &host, name).await?));
            }
            anyhow::Ok(cookies)
        }));
    }
    let mut cookies = vec![String::new(); names.len()];
    for worker in workers {
        for (i, cookie) in worker.await?? {
            cookies[i] = cookie;
        }
    }
    Ok(cookies)
}

/// A keep-alive client with a session cookie, for posting.
pub struct Poster {
    sender: SendRequest<Full<Bytes>>,
    host: String,
    cookie: String,
}

impl Poster {
    pub async fn sign_in(server: SocketAddr, name: &str) -> anyhow::Result<Self> {
        let mut sender = connect(server, None).await?;
        let host = server.to_string();
        let cookie = sign_in(&mut sender, &host, name).await?;
        Ok(Self {
            sender,
            host,
            cookie,
        })
    }

    /// Posts `text` (which must need no JSON escaping) and returns the status.
    pub async fn post(&mut self, room: &str, text: &str) -> anyhow::Result<StatusCode> {
        let body = Bytes::from(format!(r#"{{"text":"{text}"}}"#));
        self.send(format!("/api/rooms/{room}/messages"), body).await
    }

    /// Says this poster is typing in `room` (`204`, whether or not it fans out).
    pub async fn typing(&mut self, room: &str) -> anyhow::Result<StatusCode> {
        self.send(format!("/api/rooms/{room}/typing"), Bytes::new())
            .await
    }

    async fn send(&mut self, path: String, body: Bytes) -> anyhow::Result<StatusCode> {
        let mut request = Request::post(path)
            .header("host", &self.host)
            .header("cookie", &self.cookie);
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(body))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        Ok(status)
    }
}

/// `GET` a path on a keep-alive connection; returns the status and the body length.
pub async fn get(
    sender: &mut SendRequest<Full<Bytes>>,
    host: &str,
    path: &str,
) -> anyhow::Result<(StatusCode, usize)> {
    let request = Request::get(path)
        .header("host", host)
        .body(Full::new(Bytes::new()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body.len()))
}

/// What a stream asks for: a path (`/api/rooms/{room}/events` or `/api/events?...`),
/// and the session cookie of a signed-in listener.
#[derive(Clone, Debug)]
pub struct Target {
    pub path: String,
    pub cookie: Option<String>,
}

impl Target {
    /// An anonymous listener to one room's stream.
    pub fn room(room: &str) -> Self {
        Self {
            path: format!("/api/rooms/{room}/events"),
            cookie: None,
        }
    }
}

/// One server-sent event, borrowed from the stream's buffer.
#[derive(Debug)]
pub struct Event<'a> {
    /// The `event:` name; empty for the default `message` type.
    pub name: &'a [u8],
    pub id: Option<&'a [u8]>,
    /// The `data:` line. The server writes every event's data on one line (docs/API.md),
    /// so the bench does not join several.
    pub data: &'a [u8],
}

impl Event<'_> {
    /// A chat message (no `event:` line, or `event: message`).
    pub fn is_message(&self) -> bool {
        self.name.is_empty() || self.name == b"message"
    }
}

/// An open SSE stream, read from a plain socket.
///
/// The bench holds thousands of these on the same two cores as the server, so it skips
/// an HTTP client: it reads raw bytes and parses the event lines itself. The server writes
/// whole events per chunk, so the chunked-encoding lines fall between events: the `\r\n`
/// closing a chunk reads as an empty line (an empty event, not dispatched), and the next
/// chunk's size line as a field without a colon, which SSE ignores.
pub struct EventStream {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl EventStream {
    pub async fn open(
        server: SocketAddr,
        source: Option<IpAddr>,
        target: &Target,
    ) -> anyhow::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let mut stream = socket.connect(server).await.context("connecting")?;
        let cookie = target
            .cookie
            .as_ref()
            .map_or(String::new(), |c| format!("Cookie: {c}\r\n"));
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\n{cookie}\r\n",
            target.path
        );
        stream.write_all(request.as_bytes()).await?;
        let mut buffer = Vec::with_capacity(4096);
        let head_end = loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                break end + 4;
            }
            if stream.read_buf(&mut buffer).await? == 0 {
                bail!("the server closed the connection before answering");
            }
        };
        if !buffer.starts_with(b"HTTP/1.1 200") {
            bail!(
                "{} answered {}",
                target.path,
                String::from_utf8_lossy(&buffer[..buffer.len().min(40)])
            );
        }
        buffer.drain(..head_end);
        Ok(Self { stream, buffer })
    }

    /// Calls `on_event` with each event that carries data, until it returns false or the
    /// stream ends.
    pub async fn for_each_event(
        &mut self,
        mut on_event: impl FnMut(&Event<'_>) -> bool,
    ) -> anyhow::Result<()> {
        loop {
            // Only whole events are taken out of the buffer; a partial one waits for more.
            let mut consumed = 0;
            let mut at = 0;
            let mut event = Event {
                name: b"",
                id: None,
                data: b"",
            };
            let mut has_data = false;
            while let Some(end) = self.buffer[at..].iter().position(|&b| b == b'\n') {
                let raw = &self.buffer[at..at + end];
                at += end + 1;
                let line = raw.strip_suffix(b"\r").unwrap_or(raw);
                if line.is_empty() {
                    if has_data && !on_event(&event) {
                        return Ok(());
                    }
                    consumed = at;
                    event = Event {
                        name: b"",
                        id: None,
                        data: b"",
                    };
                    has_data = false;
                    continue;
                }
                let Some(colon) = line.iter().position(|&b| b == b':') else {
                    continue;
                };
                let value = &line[colon + 1..];
                let value = value.strip_prefix(b" ").unwrap_or(value);
                match &line[..colon] {
                    b"event" => event.name = value,
                    b"id" => event.id = Some(value),
                    b"data" => {
                        event.data = value;
                        has_data = true;
                    }
                    _ => {}
                }
            }
            self.buffer.drain(..consumed);
            if self.stream.read_buf(&mut self.buffer).await? == 0 {
                bail!("the stream ended");
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
