//! The tiny-chat server: configuration, logging, and serving until a shutdown signal.

// jemalloc over glibc's malloc (`docs/ARCHITECTURE.md`, ledger 6): server-rendered pages 2,663 ->
// 3,439/s, idle RSS per SSE stream 13.1 -> 10.3 KiB. (mimalloc rendered faster still but
// took 20 KiB per stream.)
#[cfg(feature = "ssr")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::Parser;
    use tiny_chat::server::{self, config::Config, state::AppState};
    use tokio_util::sync::CancellationToken;

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tiny_chat=info".into()),
        )
        .init();
    let config = Config::parse();
    if let Some(command) = &config.command {
        return server::run_command(&config, command).await;
    }

    // Each SSE stream holds a socket: allow as many as the hard limit does.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "could not raise the open file limit"),
    }

    let shutdown = CancellationToken::new();
    let options = server::leptos_options(config.addr);
    let state = AppState::new(&config, options, shutdown.clone())?;
    let listener = server::bind(config.addr).with_context(|| format!("binding {}", config.addr))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        live = if config.redis_url.is_some() { "redis" } else if !config.redis_cluster_urls.is_empty() { "cluster" } else { "in process" },
        kept = %config.database(),
        "tiny-chat listening"
    );
    if let Some(addr) = config.metrics_addr {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics address {addr}"))?;
        tracing::info!(%addr, "serving /metrics");
        let stop = shutdown.clone();
        tokio::spawn(server::serve_metrics(metrics, state.clone(), async move {
            stop.cancelled().await
        }));
    }
    server::serve(listener, state, shutdown_signal()).await?;
    shutdown.cancel();
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
#[cfg(feature = "ssr")]
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

#[cfg(not(feature = "ssr"))]
fn main() {
    // The browser side is a library (`hydrate`); there is no binary without `ssr`.
}
