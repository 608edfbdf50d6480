//! The server (feature `ssr`), in layers that point one way (`docs/ARCHITECTURE.md`):
//!
//! - [`broker`], at the bottom: the chat's domain and its live tier, four role traits
//!   (the room log, names, presence and typing, the live bus) with a memory, a SQLite
//!   (one node that keeps everything) and a Redis implementation, the in-process fan-out behind the bus, this node's presence
//!   tracker and rate limits. It knows nothing of HTTP or the config.
//! - [`chat`]: the use cases (post, edit, delete, react, sign in and out, typing,
//!   listen), which the JSON API and the no-JS forms both call.
//! - [`http`]: the edge: the router, extractors, the API's handlers, SSE, operations
//!   and assets.
//! - [`config`] (settings from flags and the environment) and [`state`] (built from
//!   them: the one place that knows every layer) sit on top; [`metrics`] beside.
//!
//! `main.rs` parses the config, builds the [`state::AppState`], binds and [`serve`]s.

pub mod broker;
pub mod chat;
pub mod config;
pub mod http;
pub mod metrics;
pub mod state;

pub use http::{BODY_LIMIT, bind, router, serve, serve_metrics};

use leptos::prelude::LeptosOptions;
use std::net::SocketAddr;

/// Runs an operator's command (`tiny-chat backup FILE`, `tiny-chat export`) on the
/// database the config names: export on either database, backup on SQLite (PostgreSQL
/// has `pg_dump`).
pub async fn run_command(config: &config::Config, command: &config::Command) -> anyhow::Result<()> {
    use broker::sqlite::ops;
    let database = config.database();
    match (command, &database) {
        (config::Command::Backup { file }, config::DatabaseUrl::Sqlite(database)) => {
            ops::backup(database, file)?;
            eprintln!("backed up {} to {}", database.display(), file.display());
        }
        (config::Command::Backup { .. }, config::DatabaseUrl::Postgres(_)) => anyhow::bail!(
            "backup copies a SQLite database; back PostgreSQL up with pg_dump (README)"
        ),
        (
            config::Command::Export { room },
            config::DatabaseUrl::Sqlite(_) | config::DatabaseUrl::Postgres(_),
        ) => {
            let room = room
                .as_deref()
                .map(crate::message::RoomName::parse)
                .transpose()
                .map_err(|_| anyhow::anyhow!("--room: not a room name"))?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let count = match &database {
                config::DatabaseUrl::Postgres(url) => {
                    broker::postgres::PgBroker::export(url, room.as_ref(), &mut out).await?
                }
                config::DatabaseUrl::Sqlite(path) => ops::export(path, room.as_ref(), &mut out)?,
                config::DatabaseUrl::None => unreachable!("matched above"),
            };
            eprintln!("exported {count} messages");
        }
        (_, config::DatabaseUrl::None) => {
            anyhow::bail!("backup and export read a database: CHAT_DATABASE_URL names none")
        }
    }
    Ok(())
}

/// Leptos settings: cargo-leptos's when it runs the server, else the project defaults
/// (so tests and a plain `cargo run` work too).
pub fn leptos_options(addr: SocketAddr) -> LeptosOptions {
    let from_cargo_leptos = std::env::var_os("LEPTOS_OUTPUT_NAME").is_some()
        || option_env!("LEPTOS_OUTPUT_NAME").is_some();
    let mut options = if from_cargo_leptos {
        leptos::config::get_configuration(None)
            .map(|conf| conf.leptos_options)
            .unwrap_or_else(|_| default_leptos_options())
    } else {
        default_leptos_options()
    };
    options.site_addr = addr;
    // Hashed names are a property of the build, not of how the binary is started.
    options.hash_files |= http::assets::built_with_hashes();
    options
}

fn default_leptos_options() -> LeptosOptions {
    let site_root = std::env::var("LEPTOS_SITE_ROOT").unwrap_or_else(|_| "target/site".into());
    LeptosOptions::builder()
        .output_name("tiny-chat")
        .site_root(site_root)
        .build()
}
