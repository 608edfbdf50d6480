//! A PostgreSQL database of a test's own, on the machine's server (`TEST_DATABASE_URL`,
//! else `postgres://postgres@127.0.0.1:5432/postgres`): made when asked for, dropped
//! (its connections ended) when the last handle goes.

use std::time::Duration;

/// The server the tests make their databases on, as a URL to its `postgres` database.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    /// Makes an empty database with a name of its own. Fails the test when the server
    /// does not answer: a case that needs PostgreSQL never passes without it.
    pub fn create() -> Self {
        let name = format!("tinychat_test_{}", uuid::Uuid::new_v4().simple());
        admin(&format!("CREATE DATABASE {name}")).unwrap_or_else(|error| {
            panic!("this test needs PostgreSQL at {}: {error:#}", admin_url())
        });
        let admin = admin_url();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(error) = admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )) {
            eprintln!("could not drop the test database {}: {error:#}", self.name);
        }
    }
}

/// Runs one statement on the admin database, on a thread of its own (it runs in `Drop`,
/// inside the test's runtime).
pub fn admin(sql: &str) -> anyhow::Result<()> {
    let (url, sql) = (admin_url(), sql.to_owned());
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(async move {
                let (client, connection) = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio_postgres::connect(&url, tokio_postgres::NoTls),
                )
                .await??;
                tokio::spawn(connection);
                client.batch_execute(&sql).await?;
                anyhow::Ok(())
            })
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the admin statement panicked"))?
}
