//! The operator's commands on a SQLite database: `tiny-chat backup FILE` and
//! `tiny-chat export [--room ROOM]`. Both read only, and both work while a node serves
//! from the same file (WAL lets a reader take a consistent snapshot beside the writer).

use crate::message::RoomName;
use anyhow::Context;
use rusqlite::{Connection, OpenFlags};
use std::{io::Write, path::Path};

fn open_read_only(database: &Path) -> anyhow::Result<Connection> {
    anyhow::ensure!(
        database.exists(),
        "no database at {}: set CHAT_DATA_DIR or CHAT_DATABASE_URL to the server's",
        database.display()
    );
    let conn = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", database.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

/// Writes a consistent copy of the database to `file` (which must not exist), as of one
/// moment, compacted: `VACUUM INTO`, one read transaction.
pub fn backup(database: &Path, file: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        !file.exists(),
        "{} exists: give the backup a new file",
        file.display()
    );
    let target = file
        .to_str()
        .with_context(|| format!("{} is not UTF-8", file.display()))?;
    open_read_only(database)?
        .execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// Writes every message as it stands (deleted ones left out), one `ChatMessage` JSON per
/// line, oldest first: of one room, or of every room. Answers how many.
pub fn export(
    database: &Path,
    room: Option<&RoomName>,
    out: &mut impl Write,
) -> anyhow::Result<u64> {
    let conn = open_read_only(database)?;
    let mut query = conn.prepare(
        "SELECT body FROM messages WHERE deleted = 0 AND (?1 IS NULL OR room = ?1)
         ORDER BY ms, seq, room",
    )?;
    let mut rows = query.query([room.map(RoomName::as_str)])?;
    let mut count = 0;
    while let Some(row) = rows.next()? {
        out.write_all(row.get_ref(0)?.as_str()?.as_bytes())?;
        out.write_all(b"\n")?;
        count += 1;
    }
    out.flush()?;
    Ok(count)
}
