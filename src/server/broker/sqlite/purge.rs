//! What the writer removes at start and hourly: messages past `CHAT_RETENTION_DAYS`
//! (with their log entries), holds that expired, and the text of messages deleted a day
//! ago.

use super::rows::run;
use crate::message::RoomName;
use rusqlite::{Connection, TransactionBehavior, params};
use std::{collections::HashSet, time::Duration};

/// How long a deleted message's text stays on disk: a stream resuming from before the
/// delete within this long replays the message, then its delete, as on every tier.
const ERASE_DELETED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Removes the messages older than the retention (with their log entries), the holds
/// that expired, and the text of messages deleted a day ago, room by room (each by its
/// key, so no table is scanned whole), in one transaction.
pub fn purge(
    conn: &mut Connection,
    rooms: &HashSet<RoomName>,
    retention: Option<Duration>,
    now: u64,
) -> rusqlite::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    run(&tx, "DELETE FROM holds WHERE expires_ms < ?1", [now as i64])?;
    let deleted_before = now.saturating_sub(ERASE_DELETED_AFTER.as_millis() as u64) as i64;
    for room in rooms {
        run(
            &tx,
            "UPDATE messages SET body = ''
             WHERE room = ?1 AND deleted = 1 AND deleted_ms < ?2 AND body != ''",
            params![room.as_str(), deleted_before],
        )?;
    }
    if let Some(retention) = retention {
        let before = now.saturating_sub(retention.as_millis() as u64) as i64;
        let (mut messages, mut entries) = (0, 0);
        for room in rooms {
            messages += run(
                &tx,
                "DELETE FROM messages WHERE room = ?1 AND ms < ?2",
                params![room.as_str(), before],
            )?;
            entries += run(
                &tx,
                "DELETE FROM entries WHERE room = ?1 AND ms < ?2",
                params![room.as_str(), before],
            )?;
        }
        if messages + entries > 0 {
            tracing::info!(
                messages,
                entries,
                "removed what is past CHAT_RETENTION_DAYS"
            );
        }
    }
    tx.commit()
}
