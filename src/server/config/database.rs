//! What keeps the chat (`CHAT_DATABASE_URL`) and the operator's commands on it.

use std::{fmt, path::PathBuf, str::FromStr};

/// The operator's commands, on the database the settings name (SQLite).
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Writes a consistent copy of the database to FILE (which must not exist), while
    /// the server runs.
    Backup { file: PathBuf },
    /// Writes every message as it stands to standard output, one JSON per line, oldest
    /// first.
    Export {
        /// Only this room's.
        #[arg(long)]
        room: Option<String>,
    },
}

/// Where what is kept goes (`CHAT_DATABASE_URL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// Nothing is kept beyond the live tier.
    None,
    Sqlite(PathBuf),
    Postgres(String),
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        if raw == "none" {
            return Ok(Self::None);
        }
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite:// needs the database file's path".into());
            }
            return Ok(Self::Sqlite(path.into()));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err("expected sqlite://PATH, postgres://... or none".into())
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("none"),
            Self::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            // The password stays out of logs.
            Self::Postgres(_) => f.write_str("postgres://..."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_url_is_sqlite_postgres_or_none() {
        assert_eq!("none".parse(), Ok(DatabaseUrl::None));
        assert_eq!(
            "sqlite:///var/chat/tiny-chat.db".parse(),
            Ok(DatabaseUrl::Sqlite("/var/chat/tiny-chat.db".into()))
        );
        assert_eq!(
            "sqlite:chat.db".parse(),
            Ok(DatabaseUrl::Sqlite("chat.db".into()))
        );
        assert!(matches!(
            "postgres://u:secret@db/chat".parse(),
            Ok(DatabaseUrl::Postgres(_))
        ));
        for bad in ["", "sqlite://", "mysql://db", "data/tiny-chat.db"] {
            assert!(bad.parse::<DatabaseUrl>().is_err(), "{bad:?} is refused");
        }
        // The password never reaches a log line.
        let url: DatabaseUrl = "postgres://u:secret@db/chat".parse().unwrap();
        assert!(!url.to_string().contains("secret"));
    }
}
