//! Two tower layers of our own around every route, in place of `axum::middleware::from_fn`
//! and a stack of tower-http's `SetResponseHeaderLayer`s: axum clones a route's whole
//! stack of services for every request, so each layer costs every request its clone, and
//! `from_fn` clones the service it wraps once more. These clone nothing but their
//! inner service (BENCHMARKS.md, issue 23: a post cost 1.06× with the stack).
//!
//! - [`HostGuardLayer`]: answers `421` to a request for a host the server does not
//!   answer for ([`host_allowed`]), before anything else sees it.
//! - [`ResponseHeadersLayer`]: `X-Content-Type-Options: nosniff` and
//!   `Referrer-Policy: same-origin` on every response, and `Cache-Control: no-store` on
//!   the API's (what it answers is about one person at one moment; the event streams say
//!   `no-cache` themselves, which it leaves), each unless the response has its own.

use super::{error::Error, net::PublicOrigin, security::host_allowed};
use axum::{
    body::Body,
    http::{HeaderValue, Request, Response, header},
    response::IntoResponse,
};
use futures::future::Either;
use pin_project_lite::pin_project;
use std::{
    future::{Future, Ready},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};
use tower::{Layer, Service};

#[derive(Clone)]
pub struct HostGuardLayer(Arc<Option<PublicOrigin>>);

impl HostGuardLayer {
    pub fn new(public: Option<PublicOrigin>) -> Self {
        Self(Arc::new(public))
    }
}

impl<S> Layer<S> for HostGuardLayer {
    type Service = HostGuard<S>;

    fn layer(&self, inner: S) -> HostGuard<S> {
        HostGuard {
            inner,
            public: Arc::clone(&self.0),
        }
    }
}

/// The service of [`HostGuardLayer`].
#[derive(Clone)]
pub struct HostGuard<S> {
    inner: S,
    public: Arc<Option<PublicOrigin>>,
}

impl<S, B> Service<Request<B>> for HostGuard<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response<Body>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(|a| a.as_str()));
        if host.is_some_and(|host| host_allowed(host, self.public.as_ref().as_ref())) {
            Either::Left(self.inner.call(request))
        } else {
            let refused = Error::MisdirectedRequest.into_response();
            Either::Right(std::future::ready(Ok(refused)))
        }
    }
}

#[derive(Clone, Copy)]
pub struct ResponseHeadersLayer;

impl<S> Layer<S> for ResponseHeadersLayer {
    type Service = ResponseHeaders<S>;

    fn layer(&self, inner: S) -> ResponseHeaders<S> {
        ResponseHeaders { inner }
    }
}

/// The service of [`ResponseHeadersLayer`].
#[derive(Clone)]
pub struct ResponseHeaders<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for ResponseHeaders<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = WithHeaders<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        let api = path == "/api" || path.starts_with("/api/");
        WithHeaders {
            inner: self.inner.call(request),
            api,
        }
    }
}

pin_project! {
    /// The response of [`ResponseHeaders`], with its headers.
    pub struct WithHeaders<F> {
        #[pin]
        inner: F,
        api: bool,
    }
}

impl<F, E> Future for WithHeaders<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        let headers = response.headers_mut();
        headers
            .entry(header::X_CONTENT_TYPE_OPTIONS)
            .or_insert(HeaderValue::from_static("nosniff"));
        headers
            .entry(header::REFERRER_POLICY)
            .or_insert(HeaderValue::from_static("same-origin"));
        if *this.api {
            headers
                .entry(header::CACHE_CONTROL)
                .or_insert(HeaderValue::from_static("no-store"));
        }
        Poll::Ready(Ok(response))
    }
}
