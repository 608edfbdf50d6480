//! Minimal HTTP/1.1 clients over hyper: one connection each, no pooling, so that 10,000
//! listeners cost the bench as little as possible.

use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, body::Incoming, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use tokio::net::TcpSocket;

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
        let request = Request::post("/api/session")
            .header("host", &host)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(r#"{{"name":"{name}"}}"#))))?;
        let response = sender.send_request(request).await?;
        if response.status() != StatusCode::OK {
            bail!("sign-in answered {}", response.status());
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
        Ok(Self {
            sender,
            host,
            cookie,
        })
    }

    /// Posts `text` (which must need no JSON escaping) and returns the status.
    pub async fn post(&mut self, room: &str, text: &str) -> anyhow::Result<StatusCode> {
        let request = Request::post(format!("/api/rooms/{room}/messages"))
            .header("host", &self.host)
            .header("cookie", &self.cookie)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(format!(r#"{{"text":"{text}"}}"#))))?;
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

/// An open SSE stream, read event by event.
pub struct EventStream {
    body: Incoming,
    buffer: BytesMut,
}

impl EventStream {
    pub async fn open(
        server: SocketAddr,
        source: Option<IpAddr>,
        room: &str,
    ) -> anyhow::Result<Self> {
        let mut sender = connect(server, source).await?;
        let request = Request::get(format!("/api/rooms/{room}/events"))
            .header("host", server.to_string())
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))?;
        let response = sender.send_request(request).await?;
        if response.status() != StatusCode::OK {
            bail!("events answered {}", response.status());
        }
        Ok(Self {
            body: response.into_body(),
            buffer: BytesMut::new(),
        })
    }

    /// Calls `on_data` with the `data:` payload of each event that arrives, until it
    /// returns false or the stream ends.
    pub async fn for_each_data(
        &mut self,
        mut on_data: impl FnMut(&[u8]) -> bool,
    ) -> anyhow::Result<()> {
        loop {
            while let Some(end) = find(&self.buffer, b"\n\n") {
                let event = self.buffer.split_to(end + 2);
                for line in event[..].split(|&b| b == b'\n') {
                    if let Some(data) = line.strip_prefix(b"data: ")
                        && !on_data(data)
                    {
                        return Ok(());
                    }
                }
            }
            match self.body.frame().await {
                Some(frame) => {
                    if let Ok(data) = frame?.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                None => bail!("the stream ended"),
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
