//! Minimal HTTP/1.1 clients over hyper: one connection each, no pooling, so that 10,000
//! listeners cost the bench as little as possible.

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, client::conn::http1::SendRequest};
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
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

/// An open SSE stream, read from a plain socket.
///
/// The bench holds thousands of these on the same two cores as the server, so it skips
/// an HTTP client: it reads raw bytes and picks out `data:` lines. The server writes whole
/// events per chunk, so the chunked-encoding size lines fall between events and are
/// simply not `data:` lines.
pub struct EventStream {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl EventStream {
    pub async fn open(
        server: SocketAddr,
        source: Option<IpAddr>,
        room: &str,
    ) -> anyhow::Result<Self> {
        let socket = TcpSocket::new_v4()?;
        if let Some(ip) = source {
            socket.bind(SocketAddr::new(ip, 0))?;
        }
        let mut stream = socket.connect(server).await.context("connecting")?;
        let request = format!(
            "GET /api/rooms/{room}/events HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\n\r\n"
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
                "events answered {}",
                String::from_utf8_lossy(&buffer[..buffer.len().min(40)])
            );
        }
        buffer.drain(..head_end);
        Ok(Self { stream, buffer })
    }

    /// Calls `on_data` with the `data:` payload of each event that arrives, until it
    /// returns false or the stream ends.
    pub async fn for_each_data(
        &mut self,
        mut on_data: impl FnMut(&[u8]) -> bool,
    ) -> anyhow::Result<()> {
        loop {
            let mut consumed = 0;
            while let Some(end) = self.buffer[consumed..].iter().position(|&b| b == b'\n') {
                let line = &self.buffer[consumed..consumed + end];
                consumed += end + 1;
                if let Some(data) = line.strip_prefix(b"data: ")
                    && !on_data(data)
                {
                    return Ok(());
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
