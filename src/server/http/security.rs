//! Cross-site protection and the headers every page carries (`docs/API.md`, "Cross-site
//! requests and page headers").
//!
//! - [`csrf_layer`]: tower-http's `CsrfLayer` (Go 1.25's scheme: `Sec-Fetch-Site`, then
//!   `Origin` against the request's host or `CHAT_PUBLIC_URL`), answering our JSON
//!   `403 cross_origin`. It wraps the whole router, so the JSON API, the server functions
//!   under `/sf/` and the no-JS forms are covered alike.
//! - [`content_security_policy`]: the page's CSP, with the per-response nonce that
//!   leptos_axum generates and puts on every inline script it emits.
//! - [`host_allowed`]: the `Host` names the server answers for, so that a page of
//!   another site whose name was made to point here (DNS rebinding) is not same-origin.

use super::{error::Error, net::PublicOrigin};
use axum::{
    body::Body,
    http::{HeaderName, HeaderValue, Response, header},
    response::IntoResponse,
};
use tower_http::csrf::{CsrfLayer, ProtectionError};

/// Refuses state-changing requests from other sites with `403 cross_origin`.
pub fn csrf_layer(
    public_origin: Option<&PublicOrigin>,
) -> anyhow::Result<CsrfLayer<impl FnMut(ProtectionError) -> Response<Body> + Clone + use<>>> {
    let mut layer = CsrfLayer::new();
    if let Some(origin) = public_origin {
        layer = layer
            .add_trusted_origin(origin.as_str())
            .map_err(|e| anyhow::anyhow!("CHAT_PUBLIC_URL {origin}: {e:?}"))?;
    }
    Ok(layer.with_rejection_response(|_: ProtectionError| Error::CrossOrigin.into_response()))
}

/// Whether the server answers a request for `host` (the `Host` header, port and all):
/// `CHAT_PUBLIC_URL`'s host name, `localhost`, or an address (a rebinding page reaches
/// the server under a name of its own, never an address). Without `CHAT_PUBLIC_URL`,
/// only `localhost` and addresses: a chat reached by any other name must say which.
pub fn host_allowed(host: &str, public: Option<&PublicOrigin>) -> bool {
    let Ok(authority) = host.parse::<axum::http::uri::Authority>() else {
        return false;
    };
    let name = authority.host();
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || public.is_some_and(|origin| origin.host().eq_ignore_ascii_case(name))
}

/// The Content-Security-Policy of a page whose inline scripts carry `nonce`.
///
/// Scripts: this origin and the nonce, never `'unsafe-inline'`; `'wasm-unsafe-eval'`
/// because Chromium refuses to compile WebAssembly under a `script-src` without it.
/// Workers: this origin only, which is where the service worker (`/sw.js`) comes from;
/// said outright, though `worker-src` would fall back to `script-src` and allow it too.
/// `img-src data:` is for the inline favicon. Under `cargo leptos watch`, the live-reload
/// socket is allowed too.
pub fn content_security_policy(nonce: &str) -> String {
    let reload = if std::env::var_os("LEPTOS_WATCH").is_some() {
        " ws: wss:"
    } else {
        ""
    };
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         worker-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's CSP on the response being rendered, from the nonce in context.
pub fn set_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) else {
        return;
    };
    if let Ok(value) = HeaderValue::from_str(&content_security_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
        response.insert_header(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_scripts_only_from_here_or_with_the_nonce() {
        let csp = content_security_policy("abc123");
        let script = csp
            .split("; ")
            .find(|d| d.starts_with("script-src"))
            .unwrap();
        assert_eq!(
            script,
            "script-src 'self' 'nonce-abc123' 'wasm-unsafe-eval'"
        );
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(csp.split("; ").any(|d| d == "worker-src 'self'"));
    }

    #[test]
    fn only_the_public_host_localhost_and_addresses_are_answered() {
        let public: PublicOrigin = "https://chat.example.com".parse().unwrap();
        for host in [
            "chat.example.com",
            "Chat.Example.com:443",
            "localhost:3000",
            "127.0.0.1:3000",
            "[::1]:3000",
            "192.0.2.2",
        ] {
            assert!(host_allowed(host, Some(&public)), "{host}");
        }
        for host in ["evil.example", "chat.example.com.evil.example", "", "a b"] {
            assert!(!host_allowed(host, Some(&public)), "{host}");
        }
        assert!(!host_allowed("chat.example.com", None));
        assert!(host_allowed("localhost", None));
    }
}
