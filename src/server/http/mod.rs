//! The HTTP edge: the router of `docs/API.md`'s routes and the pages, the extractors,
//! SSE, and serving a listener until shutdown. Handlers parse, call the chat's use cases
//! (`server::chat`), and answer; the one error type ([`error`]) gives every failure the
//! documented JSON shape.
//!
//! - [`session`] and [`cookie`]: who is asking; [`api`]: messages and rooms; [`sse`]: the
//!   live streams; [`ops`]: health, readiness and metrics.
//! - [`extract`]: extractors whose rejections answer in the API's JSON; [`net`]: the
//!   client's address (behind trusted proxies), the public origin, and open streams per
//!   address; [`security`]: cross-site protection and page headers.
//! - [`assets`]: `/pkg/`, precompressed and cached by hashed name; the page's scripts.

pub mod api;
pub mod assets;
pub mod cookie;
pub mod error;
pub mod extract;
pub mod layers;
pub mod net;
pub mod ops;
pub mod security;
pub mod server_fns;
pub mod session;
pub mod sse;

use crate::app::{App, shell};
use crate::message::RoomName;
use crate::server::state::AppState;
use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit},
    http::{HeaderValue, header},
    response::Redirect,
    routing::{get, patch, post, put},
};
use error::Error;
use leptos_axum::{LeptosRoutes, generate_route_list};
use std::{future::Future, net::SocketAddr, time::Duration};
use tokio::net::TcpListener;
use tower_http::{
    limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer,
    timeout::RequestBodyDeadlineLayer,
};

/// The most a request body may carry, on every route.
pub const BODY_LIMIT: usize = 16 * 1024;
/// How long a client may take to send a whole request body (headers have their own
/// timeout in [`serve`]): a client that trickles a body holds a connection no longer.
const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The whole app: API, operations endpoints, and the Leptos pages and assets, behind
/// cross-site protection and the headers every response carries.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/session",
            post(session::sign_in)
                .get(session::current)
                .delete(session::sign_out),
        )
        .route("/rooms", get(api::rooms))
        .route(
            "/rooms/{room}/messages",
            post(api::post_message).get(api::history),
        )
        .route(
            "/rooms/{room}/messages/{id}",
            patch(api::edit_message).delete(api::delete_message),
        )
        .route(
            "/rooms/{room}/messages/{id}/reactions/{emoji}",
            put(api::reaction).delete(api::reaction),
        )
        // An empty `{emoji}`: not one emoji, so `422 invalid_reaction`, not `404`.
        .route(
            "/rooms/{room}/messages/{id}/reactions/",
            put(api::reaction).delete(api::reaction),
        )
        .route("/rooms/{room}/events", get(sse::room_events))
        .route("/rooms/{room}/presence", get(api::presence))
        .route("/rooms/{room}/typing", post(api::typing))
        .route("/events", get(sse::events))
        .fallback(|| async { Error::NotFound })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        // (`Cache-Control: no-store` comes from `layers::ResponseHeadersLayer`.)
        // The JSON extractor answers `413 payload_too_large` in the API's error shape.
        .layer(DefaultBodyLimit::max(BODY_LIMIT));

    let routes = generate_route_list(App);
    let options = state.leptos_options.clone();
    // Server functions and rendering reach the broker and the cookie key through context.
    let context = {
        let state = state.clone();
        move || leptos::prelude::provide_context(state.clone())
    };
    // The site root's files (`public/`, `pkg/`), else the 404 page.
    let files =
        leptos_axum::file_and_error_handler_with_context::<AppState, _>(context.clone(), shell);
    // Server functions read their bodies themselves, past axum's `DefaultBodyLimit`.
    let pages = Router::new()
        .route("/join", get(join))
        // The service worker (`public/sw.js`), revalidated on every fetch so that a new
        // one reaches browsers at their next visit. Browsers skip the HTTP cache for
        // worker scripts by default already; this covers any cache in between.
        .route(
            "/sw.js",
            get(files.clone()).layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            )),
        )
        .nest_service("/pkg", assets::pkg(&state.leptos_options));
    // This build's main JS, WASM and split loader, where the page asks for them.
    let root = assets::asset_root(&state.leptos_options);
    let pages = if root.is_empty() {
        pages
    } else {
        pages.nest_service(&format!("{root}/pkg"), assets::pkg(&state.leptos_options))
    };
    let pages = pages
        .leptos_routes_with_context(&state, routes, context, move || shell(options.clone()))
        .fallback(files)
        .layer(axum::middleware::from_fn(server_fns::errors_as_json))
        // Pages name this build's hashed files: never served from a cache unchecked.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static(assets::PAGE_CACHE),
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));

    let csrf = security::csrf_layer(state.public_origin.as_ref())
        .expect("CHAT_PUBLIC_URL is validated when the config is parsed");
    let hosts = layers::HostGuardLayer::new(state.public_origin.clone());
    Router::new()
        .nest("/api", api)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(pages)
        .layer(csrf)
        .layer(layers::ResponseHeadersLayer)
        .layer(hosts)
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct JoinQuery {
    room: Option<String>,
}

/// `GET /join?room=...`: the lobby's room form without JavaScript.
async fn join(axum::extract::Query(query): axum::extract::Query<JoinQuery>) -> Redirect {
    match query.room.as_deref().map(|r| RoomName::parse(r.trim())) {
        Some(Ok(room)) => Redirect::to(&format!("/r/{room}")),
        _ => Redirect::to("/"),
    }
}

/// Pending connections the kernel queues before `accept`. The standard library's 128
/// overflows when thousands of browsers reconnect at once (each dropped SYN costs its
/// client a one-second retransmit); the kernel caps this at `net.core.somaxconn`.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listening socket.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// How long graceful shutdown waits for requests in flight once every SSE stream has
/// been told to end.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves until `shutdown` resolves, then ends every SSE stream and finishes the
/// requests in flight.
///
/// A hand-written accept loop rather than `axum::serve` (`docs/ARCHITECTURE.md`, ledger
/// 1): the router is built once and each connection clones an `Arc`, plus the peer's
/// address for [`net::ClientAddr`]; a client has [`HEADER_TIMEOUT`] to send its headers,
/// which may not pass 16 KiB (`axum::serve` sets neither). Connections speak HTTP/1.1, which is what browsers use for
/// SSE over plain HTTP.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::{rt::TokioIo, rt::TokioTimer, server::graceful::GracefulShutdown};
    use tower::{Layer, ServiceExt};

    let (streams, chat) = (state.shutdown.clone(), state.chat.clone());
    let app = RequestBodyDeadlineLayer::new(BODY_DEADLINE).layer(router(state).into_service());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        // hyper's floor; headers past it answer 431, so a connection never buffers more.
        .max_buf_size(16 * 1024);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: wait instead of spinning.
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Each SSE event is a small write that must go out at once.
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<_>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            });
        let service = hyper_util::service::TowerToHyperService::new(service);
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    streams.cancel();
    chat.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections were still open after {SHUTDOWN_GRACE:?}");
    }
    Ok(())
}

/// Serves `/metrics` alone on its own listener (`CHAT_METRICS_ADDR`), until `shutdown`.
pub async fn serve_metrics(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(ops::render_metrics))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
