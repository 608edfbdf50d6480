//! What each node removes at start and hourly: holds that expired, the text of messages
//! deleted a day ago, and messages past `CHAT_RETENTION_DAYS` with their log entries.
//! Every statement is idempotent, so nodes doing it at once do no harm.

use super::{now_ms, store::Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often a node purges.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long a deleted message's text stays: a stream resuming from before the delete
/// within this long replays the message, then its delete, as on every tier.
const ERASE_DELETED_AFTER: Duration = Duration::from_secs(24 * 3600);

pub async fn every_hour(
    store: std::sync::Arc<Store>,
    retention: Option<Duration>,
    shutdown: CancellationToken,
) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = purge(&store, retention).await {
            tracing::warn!(
                error = format!("{error:#}"),
                "cannot remove what retention and expiry let go; trying again in an hour"
            );
        }
    }
}

async fn purge(store: &Store, retention: Option<Duration>) -> anyhow::Result<()> {
    let now = now_ms();
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    tx.execute("DELETE FROM holds WHERE expires_ms < $1", &[&(now as i64)])
        .await?;
    let deleted_before = now.saturating_sub(ERASE_DELETED_AFTER.as_millis() as u64) as i64;
    tx.execute(
        "UPDATE messages SET body = '' WHERE deleted AND deleted_ms < $1 AND body != ''",
        &[&deleted_before],
    )
    .await?;
    if let Some(retention) = retention {
        let before = now.saturating_sub(retention.as_millis() as u64) as i64;
        let messages = tx
            .execute("DELETE FROM messages WHERE ms < $1", &[&before])
            .await?;
        let entries = tx
            .execute("DELETE FROM entries WHERE ms < $1", &[&before])
            .await?;
        if messages + entries > 0 {
            tracing::info!(
                messages,
                entries,
                "removed what is past CHAT_RETENTION_DAYS"
            );
        }
    }
    tx.commit().await?;
    Ok(())
}
