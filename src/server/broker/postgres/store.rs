//! The pool every read and write takes its connection from, and the migrations, run
//! once at start before the node serves.

use super::pg_id;
use crate::{
    message::{MessageId, RoomName},
    server::broker::{Backfill, Page},
};
use anyhow::Context;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::{str::FromStr, time::Duration};
use tokio_postgres::NoTls;

refinery::embed_migrations!("migrations/postgres");

/// Connections each node holds at most: the writer's, and a few for reads.
const POOL_SIZE: usize = 8;
/// How long a request waits for a connection (or to make one) before it answers `503`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Taken while migrating, so that nodes starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x7469_6e79_6368_6174; // "tinychat"

/// The pool, and every read (`read.rs`).
pub struct Store {
    pool: Pool,
}

impl Store {
    /// The pool for the database at `url`; connects lazily.
    pub fn open(url: &str) -> anyhow::Result<Self> {
        Ok(Self { pool: pool(url)? })
    }

    pub(super) async fn client(&self) -> anyhow::Result<deadpool_postgres::Object> {
        self.pool.get().await.context("connecting to PostgreSQL")
    }

    /// Whether the database answers a query now.
    pub(super) async fn ready(&self) -> bool {
        let query = async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await?;
            anyhow::Ok(())
        };
        matches!(
            tokio::time::timeout(CONNECT_TIMEOUT, query).await,
            Ok(Ok(()))
        )
    }

    /// Whether the database takes a (small) write now.
    pub(super) async fn probe(&self) -> bool {
        let write = async {
            let client = self.client().await?;
            client
                .simple_query(
                    "INSERT INTO settings (key, value) VALUES ('probe', '')
                     ON CONFLICT (key) DO UPDATE SET value = ''",
                )
                .await?;
            anyhow::Ok(())
        };
        matches!(
            tokio::time::timeout(CONNECT_TIMEOUT, write).await,
            Ok(Ok(()))
        )
    }
}

#[async_trait]
impl Backfill for Store {
    async fn newest(&self, rooms: &[RoomName]) -> anyhow::Result<Vec<Option<MessageId>>> {
        Store::newest(self, rooms).await
    }

    async fn entries_after(
        &self,
        room: &RoomName,
        after: Option<MessageId>,
        limit: usize,
    ) -> anyhow::Result<Page> {
        self.page(room, after.map_or((-1, -1), pg_id), limit).await
    }
}

/// The pool for `url`. Connects lazily.
fn pool(url: &str) -> anyhow::Result<Pool> {
    let config = tokio_postgres::Config::from_str(url).context("parsing CHAT_DATABASE_URL")?;
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .context("making the PostgreSQL pool")
}

/// Migrates the database at `url` to this version's schema, from any earlier one;
/// refuses (changing nothing) a database of a newer version. Answers the secret every
/// node shares, made by the first (`fresh_secret` is what it would be). Runs on a
/// thread of its own, so that it can be called where the server is built, before it
/// serves.
pub fn migrate(url: &str, fresh_secret: String) -> anyhow::Result<String> {
    let url = url.to_owned();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(migrate_now(&url, fresh_secret))
    })
    .join()
    .map_err(|_| anyhow::anyhow!("migrating the database panicked"))?
}

async fn migrate_now(url: &str, fresh_secret: String) -> anyhow::Result<String> {
    let (mut client, connection) =
        tokio::time::timeout(Duration::from_secs(10), tokio_postgres::connect(url, NoTls))
            .await
            .context("connecting to PostgreSQL timed out")?
            .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    let report = migrations::runner()
        .set_grouped(true)
        .run_async(&mut client)
        .await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await?;
    match report {
        Ok(_) => {
            client
                .execute(
                    "INSERT INTO settings (key, value) VALUES ('secret', $1)
                     ON CONFLICT (key) DO NOTHING",
                    &[&fresh_secret],
                )
                .await?;
            let row = client
                .query_one("SELECT value FROM settings WHERE key = 'secret'", &[])
                .await?;
            Ok(row.get(0))
        }
        Err(error) if matches!(error.kind(), refinery::error::Kind::MissingVersion(_)) => {
            anyhow::bail!(
                "the database was written by a newer version of tiny-chat ({error}); \
                 run that version (this one leaves it untouched)"
            )
        }
        Err(error) => Err(anyhow::Error::new(error).context("migrating the database")),
    }
}
